import { readFileSync } from 'node:fs';
import { AGENT_FLAGS } from '../../src/cli/agentFlags.js';

describe('README', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  it.each(AGENT_FLAGS.map((f) => f.name))('documents --%s', (name) => {
    expect(readme).toContain(`\`--${name}\``);
  });
  it('has a two-command quick start', () => {
    const quickStart = /## Quick start[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    expect(quickStart.trim().split('\n')).toHaveLength(2);
  });
});
