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

const goTest = spawnSync('go', ['test', '-json', '-count=1', './...'], {
  cwd: 'cni',
  encoding: 'utf8',
  env: { ...process.env, CGO_ENABLED: '0', GOTOOLCHAIN: 'local', ...(process.env['HOME'] ? {} : { GOCACHE: '/tmp/weft-go-build' }) },
});

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
    if (goTest.error) throw new Error(`go test could not run (is golang-go installed? hack/ensure-deps.sh installs it): ${goTest.error.message}`);
    expect({ status: goTest.status, output: goTest.status === 0 ? '' : `${packageOutput}${goTest.stderr}` }).toEqual({ status: 0, output: '' });
    expect(tests.size).toBeGreaterThan(0);
  });

  for (const [name, result] of tests) {
    it(name, () => {
      if (result.action !== 'pass') throw new Error(`${name}: ${result.action}\n${result.output}`);
    });
  }
});
