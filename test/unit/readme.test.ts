import { readFileSync } from 'node:fs';
import { AGENT_FLAGS } from '../../src/cli/agentFlags.js';

describe('README', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  it.each(AGENT_FLAGS.map((f) => f.name))('documents --%s', (name) => {
    expect(readme).toContain(`\`--${name}\``);
  });
  it("names the Node.js package.json's engines ask for as the quick start's prerequisite", () => {
    const engines = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { engines: { node: string } }).engines.node;
    expect(engines).toBe('>=20.5');
    expect(/## Quick start\n\n(.*)/.exec(readme)?.[1]).toContain('**Node.js ≥ 20.5**');
  });

  it('has a two-command quick start', () => {
    const quickStart = /## Quick start[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    expect(quickStart.trim().split('\n')).toHaveLength(2);
  });
});
