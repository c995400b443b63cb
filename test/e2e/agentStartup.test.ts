import { jest, expect, it, afterAll, beforeAll } from '@jest/globals';
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeAsRoot } from '../helpers/rootOnly.js';
import { AGENT_BIN, NetnsCluster } from '../helpers/netnsCluster.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/waitFor.js';

jest.setTimeout(120_000);

describeAsRoot('compiled weft agent in a network namespace', () => {
  let cluster: NetnsCluster;
  beforeAll(async () => {
    cluster = await NetnsCluster.create([2]);
  });
  afterAll(async () => {
    await cluster?.destroy();
  });

  it('writes subnet.env soon after start and keeps running', async () => {
    await cluster.writeNetworkConfig('/weft/primary', { Network: '10.60.0.0/16' });
    const host = cluster.hosts[0]!;
    const started = Date.now();
    const agent = cluster.startAgent(host);
    const env = await cluster.waitForSubnetEnv(host);
    const elapsed = Date.now() - started;
    process.stderr.write(`agent wrote subnet.env ${elapsed} ms after spawn (target 1000 ms; see docs/benchmarks.md)\n`);
    expect(env.get('FLANNEL_NETWORK')).toBe('10.60.0.0/16');
    expect(env.get('FLANNEL_SUBNET')).toMatch(/^10\.60\.\d+\.1\/24$/);
    expect(env.get('FLANNEL_MTU')).toBe('1450');
    expect(env.get('FLANNEL_IPMASQ')).toBe('false');
    await sleep(1500);
    expect(agent.child.exitCode).toBeNull();
    expect(await cluster.stopAgent(host)).toBe(0);
  });

  it('exits 0 on SIGTERM right after the first pass, while the monitor and iptables keeper start', async () => {
    // The window a real bug lived in: the keeper, started after the first pass, logged after
    // the stop had closed the logger, and the agent died with an uncaught 'write after end'.
    const host = cluster.hosts[0]!;
    for (const delayMs of [0, 40, 80, 120, 160]) {
      const network = `sigterm${delayMs}`;
      cluster.startAgent(host, network, ['--etcd-prefix', '/weft/primary', '--ip-masq']);
      await cluster.waitForSubnetEnv(host, network);
      await sleep(delayMs);
      expect({ delayMs, code: await cluster.stopAgent(host, network) }).toEqual({ delayMs, code: 0 });
      expect(await cluster.agentLog(host, network)).not.toMatch(/write after end|a log line was lost|uncaught/i);
    }
  });

  it('exits non-zero with a clear message and writes nothing when the range is exhausted', async () => {
    // A /24 split into /26s leaves three leasable subnets (the first is never handed out).
    await cluster.writeNetworkConfig('/weft/tiny', { Network: '10.61.0.0/24', SubnetLen: 26 });
    const client = cluster.etcd.client();
    for (const [i, s] of ['64', '128', '192'].entries()) {
      await client.put(`/weft/tiny/subnets/10.61.0.${s}-26`).value(JSON.stringify({ PublicIP: `192.168.250.${i + 1}`, BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: '02:00:00:00:00:0' + i } }));
    }
    client.close();
    const host = cluster.hosts[1]!;
    const agent = cluster.startAgent(host, 'tiny', ['--etcd-prefix', '/weft/tiny']);
    const code = await new Promise<number | null>((resolve) => agent.child.once('exit', resolve));
    expect(code).toBe(1);
    expect(await cluster.agentLog(host, 'tiny')).toMatch(/no free \/26 left in 10\.61\.0\.0\/24/);
    expect(await cluster.readSubnetEnv(host, 'tiny')).toBeUndefined();
  });

  it('waits for the network config, saying so, then proceeds', async () => {
    const host = cluster.hosts[1]!;
    cluster.startAgent(host, 'late', ['--etcd-prefix', '/weft/late']);
    await waitFor(async () => /waiting for network config/.test(await cluster.agentLog(host, 'late')), 10_000);
    expect(await cluster.readSubnetEnv(host, 'late')).toBeUndefined();
    await cluster.writeNetworkConfig('/weft/late', { Network: '10.62.0.0/16', Backend: { Type: 'host-gw' } });
    const env = await cluster.waitForSubnetEnv(host, 'late');
    expect(env.get('FLANNEL_MTU')).toBe('1500');
    await cluster.stopAgent(host, 'late');
  });

  it('is not ready, and says why, while it cannot program the kernel (no CAP_NET_ADMIN)', async () => {
    await cluster.writeNetworkConfig('/weft/nocap', { Network: '10.63.0.0/16', Backend: { Type: 'vxlan', VNI: 7 } });
    const host = cluster.hosts[1]!;
    const port = await freePort();
    const subnetFile = cluster.subnetFile(host, 'nocap');
    const args = ['netns', 'exec', host.ns, 'setpriv', '--inh-caps=-all', '--bounding-set=-net_admin', '--', AGENT_BIN, 'agent', '--etcd-endpoints', cluster.etcdEndpoint, '--etcd-prefix', '/weft/nocap', '--iface', 'eth0', '--subnet-file', subnetFile, '--healthz-ip', host.ip, '--healthz-port', String(port)];
    const agent = spawn('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    agent.stderr.on('data', (d: Buffer) => (log += d.toString()));
    try {
      await waitFor(() => /flannel\.7.*Operation not permitted/.test(log), 10_000, () => log);
      await sleep(1500);
      const response = await fetch(`http://${host.ip}:${port}/readyz`);
      expect(response.status).toBe(503);
      expect(((await response.json()) as { checks: { reconciled: { ok: boolean } } }).checks.reconciled.ok).toBe(false);
    } finally {
      agent.kill();
    }
  });

  it('rejects a bad flag with exit code 2 and touches nothing', async () => {
    const host = cluster.hosts[1]!;
    const agent = cluster.startAgent(host, 'bad', ['--subnet-lease-renew-margin', '5000']);
    const code = await new Promise<number | null>((resolve) => agent.child.once('exit', resolve));
    expect(code).toBe(2);
    expect(await cluster.agentLog(host, 'bad')).toMatch(/subnet-lease-renew-margin.*5000/);
    expect(await cluster.readSubnetEnv(host, 'bad')).toBeUndefined();
  });
});
