import { jest, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describeAsRoot } from '../helpers/rootOnly.js';

jest.setTimeout(240_000);

/** The benchmark in miniature (N = 100, one run each), so the bench code cannot rot unnoticed. */
describeAsRoot('benchmark smoke run', () => {
  it('measures every scenario and writes a report', async () => {
    const out = join(await mkdtemp(join(tmpdir(), 'weft-bench-')), 'smoke.md');
    await promisify(execFile)('npx', ['--no-install', 'tsx', 'hack/bench.ts', '--smoke', '--out', out], { timeout: 200_000 });
    const report = await readFile(out, 'utf8');
    for (const scenario of [
      'convergence vxlan N=100',
      'convergence host-gw N=100',
      'Kubernetes API, 100 realistic Nodes',
      'new Node → routed',
      'burst 100 leases one by one, 100 existing peers',
      'burst 100 leases in 5 transactions, 100 existing peers',
      'one lease added, 100 existing peers',
      'idle, 100 peers',
      'pod-to-pod vxlan',
      'pod-to-pod host-gw',
      'pod-to-pod wireguard',
      'host-to-host underlay',
    ]) {
      expect(report).toContain(scenario);
    }
    const lost = [...report.matchAll(/\| lost events \| (\d+) \| (\d+) \| (\d+) \|/g)];
    expect(lost).toHaveLength(2);
    for (const row of lost) expect(row.slice(1).map(Number)).toEqual([0, 0, 0]);
    expect(report).not.toMatch(/\| NaN \|/);
  });
});
