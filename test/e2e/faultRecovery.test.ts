import { jest, expect, it, afterAll, beforeAll } from '@jest/globals';
import { describeAsRoot } from '../helpers/rootOnly.js';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { AGENT_BIN, type Host, NetnsCluster, type Pod, inNs, run, tryRun } from '../helpers/netnsCluster.js';
import { waitFor } from '../helpers/waitFor.js';

jest.setTimeout(120_000);

const HEALTH_PORT = 9475;
const PREFIX = '/weft/primary';
const CONFIG = { Network: '10.150.0.0/16', Backend: { Type: 'vxlan' } };

/** Faults of issue #18 the network must heal from without an agent restart. */
describeAsRoot('healing without a restart (issue #18)', () => {
  let cluster: NetnsCluster;
  const pods: Pod[] = [];

  /** Asked on the host's loopback, as a kubelet probe would be: the underlay may be gone. */
  async function readyz(host: Host): Promise<number> {
    const { output } = tryRun('ip', ['netns', 'exec', host.ns, 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '-m', '2', `http://127.0.0.1:${HEALTH_PORT}/readyz`]);
    return Number(output.trim()) || 0;
  }

  function start(host: Host): void {
    cluster.startAgent(host, 'primary', ['--etcd-prefix', PREFIX, '--healthz-ip', '0.0.0.0', '--healthz-port', String(HEALTH_PORT)]);
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
    // The relist after the watch reconnects, or else the probe (every 10 s), notices; with no
    // config to join yet, the agents wait and say so.
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

  /** CPU seconds a process has used (utime + stime, at the usual 100 ticks a second). */
  function cpuSeconds(pid: number): number {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  }

  it('pauses, says so once and reports not ready while the external interface is gone, and rebuilds when it is back', async () => {
    const h2 = cluster.hosts[1]!;
    const agent = h2.agents.get('primary')!;
    const outer = `${cluster.tag}h${h2.index}`;
    const logBefore = (await cluster.agentLog(h2)).length;
    const reattach = (): void => {
      run('ip', ['link', 'add', outer, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h2.ns]);
      run('ip', ['link', 'set', outer, 'netns', h2.segment.ns]);
      inNs(h2.segment.ns, 'ip', ['link', 'set', outer, 'master', 'br0', 'up']);
      inNs(h2.ns, 'ip', ['link', 'set', 'eth0', 'up']);
      inNs(h2.ns, 'ip', ['addr', 'add', `${h2.ip}/24`, 'dev', 'eth0']);
    };
    // The veth's other end goes with it, as a NIC unplugged.
    inNs(h2.ns, 'ip', ['link', 'del', 'eth0']);
    try {
      await waitFor(async () => (await readyz(h2)) === 503, 10_000, () => 'still ready');
      await waitFor(async () => /external interface eth0 is gone/.test(await cluster.agentLog(h2)), 10_000, () => 'not reported');
      // A pass already planned when the guard saw the interface gone still ends (and fails).
      await sleep(2_000);
      // A hot loop shows as log lines and CPU time while nothing changes.
      const settledLog = (await cluster.agentLog(h2)).length;
      const cpuBefore = cpuSeconds(agent.child.pid!);
      await sleep(5_000);
      const cpu = cpuSeconds(agent.child.pid!) - cpuBefore;
      const written = (await cluster.agentLog(h2)).slice(settledLog);
      process.stderr.write(`interface gone for 5 s: ${cpu.toFixed(2)} CPU-s, ${written.split('\n').filter(Boolean).length} log lines\n`);
      expect(written.split('\n').filter(Boolean)).toEqual([]);
      const outage = (await cluster.agentLog(h2)).slice(logBefore);
      expect(outage.match(/external interface eth0 is gone/g)).toHaveLength(1);
    } finally {
      reattach();
    }
    const back = Date.now();
    await waitFor(() => brokenPairs().length === 0, 15_000, () => `broken: ${brokenPairs().join(' ')}`, 200).catch(async (err: unknown) => {
      process.stderr.write(`h2 log:\n${(await cluster.agentLog(h2)).slice(logBefore)}\n`);
      throw err;
    });
    process.stderr.write(`pod pairs ping again ${Date.now() - back} ms after the interface was back\n`);
    await waitFor(async () => (await readyz(h2)) === 200, 10_000, () => 'not ready again');
    expect(await cluster.agentLog(h2)).toContain('external interface eth0 is back; rebuilding');
  });

  it('gives a VtepMAC to the newest lease: a restored backup holding a host\'s lease from its old address does not cut it off', async () => {
    const [h1, h2] = cluster.hosts as [Host, Host];
    const admin = cluster.etcd.client();
    try {
      const values = Object.values(await admin.getAll().prefix(`${PREFIX}/subnets/`).strings());
      const h2Lease = values.map((v) => JSON.parse(v) as { PublicIP: string; BackendData: { VtepMAC: string } }).find((l) => l.PublicIP === h2.ip)!;
      await cluster.etcd.restartEmpty();
      // The backup's lease sorts before every live one; before the fix, the lower subnet won.
      const stale = `${PREFIX}/subnets/10.150.0.0-24`;
      const oldAddress = `192.168.${h2.segment.octet}.99`;
      await admin.put(stale).value(JSON.stringify({ PublicIP: oldAddress, BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: h2Lease.BackendData.VtepMAC } }));
      const logBefore = (await cluster.agentLog(h1)).length;
      await cluster.writeNetworkConfig(PREFIX, CONFIG);
      await waitFor(async () => (await subnetKeys()).length === 4 && brokenPairs().length === 0, 30_000, () => `broken: ${brokenPairs().join(' ')}`, 200);
      const log = (await cluster.agentLog(h1)).slice(logBefore);
      expect(log.match(/VtepMAC \S+ is also claimed by the newer lease \S+ at \S+; the newest lease wins/g)).toHaveLength(1);
      const status = tryRun('ip', ['netns', 'exec', h1.ns, AGENT_BIN, 'status', '--etcd-endpoints', cluster.etcdEndpoint, '--etcd-prefix', PREFIX, '--iface', 'eth0']).output;
      expect(status).toContain(`not routed: 10.150.0.0-24: VtepMAC ${h2Lease.BackendData.VtepMAC} is also claimed by the newer lease`);
    } finally {
      admin.close();
    }
  });
});
