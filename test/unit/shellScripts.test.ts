import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';

describe('shell scripts', () => {
  it('pass shellcheck', () => {
    const scripts = [...readdirSync('hack').filter((f) => f.endsWith('.sh')).map((f) => `hack/${f}`), '.ci/run'];
    // Throws with shellcheck's findings when any script has one.
    expect(() => execFileSync('shellcheck', scripts, { encoding: 'utf8', stdio: 'pipe' })).not.toThrow();
  });
});
