import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

describe('shell scripts', () => {
  it('pass shellcheck', () => {
    const scripts = [...readdirSync('hack').filter((f) => f.endsWith('.sh')).map((f) => `hack/${f}`), '.ci/run'];
    // Throws with shellcheck's findings when any script has one.
    expect(() => execFileSync('shellcheck', scripts, { encoding: 'utf8', stdio: 'pipe' })).not.toThrow();
  });

  it('stop first, saying why, when Node.js is older than package.json asks', () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-old-node-'));
    try {
      writeFileSync(join(dir, 'node'), '#!/bin/sh\necho 18.19.0\n');
      chmodSync(join(dir, 'node'), 0o755);
      const old = spawnSync('bash', ['hack/ensure-deps.sh'], { env: { ...process.env, PATH: `${dir}:${process.env['PATH']}` }, encoding: 'utf8' });
      expect(old.status).toBe(1);
      expect(old.stderr).toBe("weft: Node.js 18.19.0 is too old; install Node.js 20.5 or newer from https://nodejs.org (Debian's own nodejs package is older)\n");
      expect(spawnSync('bash', ['hack/require-node.sh']).status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
