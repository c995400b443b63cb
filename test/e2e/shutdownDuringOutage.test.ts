import { jest, expect, it, afterAll, beforeAll, afterEach } from '@jest/globals';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeAsRoot } from '../helpers/rootOnly.js';
import { type Host, NetnsCluster } from '../helpers/netnsCluster.js';
import { waitFor } from '../helpers/waitFor.js';

jest.setTimeout(120_000);

/** How long a stop may take whatever the datastore does (issue #18): the kubelet waits it out per node. */
const STOP_BOUND_MS = 2_000;

/** SIGTERM while etcd is down or wedged: the agent must still be gone within the bound. */
describeAsRoot('stopping during a datastore outage', () => {
  let cluster: NetnsCluster;
  let host: Host;

  beforeAll(async () => {
    cluster = await NetnsCluster.create([1]);
    host = cluster.hosts[0]!;
    await cluster.writeNetworkConfig('/weft/primary', { Network: '10.140.0.0/16', Backend: { Type: 'vxlan' } });
  });
  afterEach(async () => {
    await cluster.etcd.resume();
  });
  afterAll(async () => {
    await cluster?.destroy();
  });

  const outages = {
    stopped: () => cluster.etcd.pause(),
    // SIGSTOP: connections stay open and every call hangs until its deadline, the watch forever.
    frozen: async () => cluster.etcd.freeze(),
  };

  async function stopWithin(network: string): Promise<void> {
    const agent = host.agents.get(network)!;
    const started = Date.now();
    const stopped = cluster.stopAgent(host, network, 'SIGTERM');
    // A hung agent is killed after the bound has clearly passed, so the test reports it and goes on.
    const killer = setTimeout(() => agent.child.kill('SIGKILL'), STOP_BOUND_MS + 3_000);
    const code = await stopped;
    clearTimeout(killer);
    const ms = Date.now() - started;
    const log = await cluster.agentLog(host, network);
    if (ms >= STOP_BOUND_MS) process.stderr.write(`agent log:\n${log}\n`);
    expect({ code, withinBound: ms < STOP_BOUND_MS, ms }).toEqual({ code: 0, withinBound: true, ms });
    expect(log).toContain('stopping; kernel state is left in place');
    expect(log).not.toMatch(/write after end|a log line was lost/);
  }

  for (const [outage, begin] of Object.entries(outages)) {
    it(`exits 0 within 2 s of SIGTERM with etcd ${outage} while running`, async () => {
      const network = `running-${outage}`;
      cluster.startAgent(host, network, ['--etcd-prefix', '/weft/primary', '--ip-masq']);
      await cluster.waitForSubnetEnv(host, network);
      await begin();
      // etcd3 is then reconnecting the watch (stopped) or waiting on it (frozen).
      await sleep(2_000);
      await stopWithin(network);
    });
  }

  it('exits 0 within 2 s of SIGTERM with etcd frozen from the start', async () => {
    cluster.etcd.freeze();
    cluster.startAgent(host, 'starting', ['--etcd-prefix', '/weft/primary']);
    await waitFor(async () => /using external interface/.test(await cluster.agentLog(host, 'starting')), 10_000);
    // The config read is now waiting on etcd, with a deadline far beyond the bound.
    await sleep(1_000);
    await stopWithin('starting');
  });

  it('says why when a second signal makes it exit at once', async () => {
    cluster.startAgent(host, 'twice', ['--etcd-prefix', '/weft/primary']);
    await cluster.waitForSubnetEnv(host, 'twice');
    // Frozen, etcd never confirms the watch's cancel: the first stop waits out its bound.
    cluster.etcd.freeze();
    const agent = host.agents.get('twice')!;
    const exited = new Promise<number | null>((resolve) => agent.child.once('exit', (code) => resolve(code)));
    agent.child.kill('SIGTERM');
    await waitFor(async () => /stopping; kernel state/.test(await cluster.agentLog(host, 'twice')), 1_000);
    agent.child.kill('SIGTERM');
    expect(await exited).toBe(1);
    host.agents.delete('twice');
    await sleep(50);
    expect(await cluster.agentLog(host, 'twice')).toContain('second signal; exiting immediately');
  });
});
