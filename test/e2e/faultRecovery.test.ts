import { jest, expect, it, afterAll, beforeAll } from '@jest/globals';
import { describeAsRoot } from '../helpers/rootOnly.js';
import { type Host, NetnsCluster, type Pod } from '../helpers/netnsCluster.js';
import { waitFor } from '../helpers/waitFor.js';

jest.setTimeout(120_000);

const HEALTH_PORT = 9475;
const PREFIX = '/weft/primary';
const CONFIG = { Network: '10.150.0.0/16', Backend: { Type: 'vxlan' } };

/** Faults of issue #18 the network must heal from without an agent restart. */
describeAsRoot('healing without a restart (issue #18)', () => {
  let cluster: NetnsCluster;
  const pods: Pod[] = [];

  async function readyz(host: Host): Promise<number> {
    return (await fetch(`http://${host.ip}:${HEALTH_PORT}/readyz`).catch(() => ({ status: 0 }))).status;
  }

  function start(host: Host): void {
    cluster.startAgent(host, 'primary', ['--etcd-prefix', PREFIX, '--healthz-ip', host.ip, '--healthz-port', String(HEALTH_PORT)]);
  }

  function brokenPairs(): string[] {
    const broken: string[] = [];
    for (const from of pods) for (const to of pods) if (from !== to && !cluster.ping(from, to.ip, 1, 1)) broken.push(`${from.name}->${to.name}`);
    return broken;
  }

  async function subnetKeys(): Promise<string[]> {
    const admin = cluster.etcd.client();
    try {
      return (await admin.getAll().prefix(`${PREFIX}/subnets/`).keys()).sort();
    } finally {
      admin.close();
    }
  }

  beforeAll(async () => {
    cluster = await NetnsCluster.create([3]);
    await cluster.writeNetworkConfig(PREFIX, CONFIG);
    for (const host of cluster.hosts.slice(0, 2)) {
      start(host);
      pods.push(await cluster.addPod(host));
    }
    await waitFor(() => brokenPairs().length === 0, 15_000, () => `broken: ${brokenPairs().join(' ')}`, 200);
  });
  afterAll(async () => {
    await cluster?.destroy();
  });

  it('re-creates the leases after etcd restarts on an empty data dir, reports not ready until then, and sees a host that joins after', async () => {
    const [h1, h2, h3] = cluster.hosts as [Host, Host, Host];
    const keysBefore = await subnetKeys();
    expect(keysBefore).toHaveLength(2);
    await cluster.etcd.restartEmpty();
    // The probe (every 5 s) notices; with no config to join yet, the agents wait and say so.
    await waitFor(async () => (await readyz(h1)) === 503 && (await readyz(h2)) === 503, 15_000, () => 'readiness never turned false');
    expect(await subnetKeys()).toEqual([]);
    const restored = Date.now();
    await cluster.writeNetworkConfig(PREFIX, CONFIG);
    await waitFor(async () => (await subnetKeys()).length === 2 && brokenPairs().length === 0, 30_000, () => `broken: ${brokenPairs().join(' ')}`, 200);
    process.stderr.write(`pod pairs ping again ${Date.now() - restored} ms after the config was restored\n`);
    expect(await subnetKeys()).toEqual(keysBefore);
    await waitFor(async () => (await readyz(h1)) === 200 && (await readyz(h2)) === 200, 10_000, () => 'not ready again');
    const log = await cluster.agentLog(h1);
    expect(log).toContain('etcd lost its history; re-creating our lease with the same subnet');
    expect(log).toContain('waiting for the network config to be restored');

    start(h3);
    pods.push(await cluster.addPod(h3));
    await waitFor(() => brokenPairs().length === 0, 15_000, () => `broken: ${brokenPairs().join(' ')}`, 200);
  });
});
