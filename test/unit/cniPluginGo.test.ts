import { spawnSync } from 'node:child_process';

/**
 * The CNI plugin is Go (cni/), and so are its unit tests (cni/*_test.go). They run here, one jest
 * test per Go test, so that the one test command, and CI's pass/fail count, include them.
 */
interface GoTestEvent {
  Action: string;
  Test?: string;
  Output?: string;
}

// hack/go.sh: the same Go settings the build uses.
const goTest = spawnSync('bash', ['hack/go.sh', 'test', '-json', '-count=1', './...'], { encoding: 'utf8' });

const tests = new Map<string, { action: string; output: string }>();
let packageOutput = '';
for (const line of (goTest.stdout ?? '').split('\n')) {
  if (!line.startsWith('{')) continue;
  const event = JSON.parse(line) as GoTestEvent;
  if (!event.Test) {
    packageOutput += event.Output ?? '';
    continue;
  }
  const entry = tests.get(event.Test) ?? { action: 'run', output: '' };
  if (event.Action === 'output') entry.output += event.Output ?? '';
  else if (['pass', 'fail', 'skip'].includes(event.Action)) entry.action = event.Action;
  tests.set(event.Test, entry);
}

describe('CNI plugin, Go unit tests (go test ./... in cni/)', () => {
  it('builds, vets and runs its tests', () => {
    if (goTest.error) throw new Error(`hack/go.sh could not run: ${goTest.error.message}`);
    if (goTest.status === 127) throw new Error(`go is not installed (hack/ensure-deps.sh installs golang-go): ${goTest.stderr}`);
    expect({ status: goTest.status, output: goTest.status === 0 ? '' : `${packageOutput}${goTest.stderr}` }).toEqual({ status: 0, output: '' });
    expect(tests.size).toBeGreaterThan(0);
  });

  for (const [name, result] of tests) {
    it(name, () => {
      if (result.action !== 'pass') throw new Error(`${name}: ${result.action}\n${result.output}`);
    });
  }
});
