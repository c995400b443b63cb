import { jest } from '@jest/globals';
import type { Etcd3 } from 'etcd3';
import { setTimeout as sleep } from 'node:timers/promises';
import { type AgentNetworkConfig as NetworkConfig, type PeerData, parseNetworkConfig, peerDataDecoder } from '../../src/backend/registry.js';
import { SubnetExhaustedError } from '../../src/util/errors.js';
import { silentLogger } from '../../src/util/log.js';
import { formatSubnet, parseIpv4Cidr, type Ipv4Subnet } from '../../src/net/ipv4.js';
import { EtcdDatastore, type EtcdDatastoreOptions } from '../../src/subnet/etcd/etcdSubnetManager.js';
import type { SubnetLease } from '../../src/subnet/subnetManager.js';
import { serializeLeaseAttrs, type LeaseAttrs } from '../../src/subnet/lease.js';
import { createEtcdClient } from '../../src/subnet/etcd/client.js';
import { EtcdServer } from '../helpers/etcdServer.js';
import { waitFor } from '../helpers/waitFor.js';
import { TcpProxy } from '../helpers/tcpProxy.js';
import { Writable } from 'node:stream';
import winston from 'winston';

jest.setTimeout(120_000);

const PREFIX = '/coreos.com/network';

function cidr(text: string): Ipv4Subnet {
  const r = parseIpv4Cidr(text);
  if (!r.ok) throw new Error(r.reason);
  return r.subnet;
}

function vxlanAttrs(publicIP: string, macTail = 1): LeaseAttrs {
  const tail = macTail.toString(16).padStart(4, '0');
  return { publicIP, backendType: 'vxlan', backendData: { VNI: 1, VtepMAC: `02:42:00:00:${tail.slice(0, 2)}:${tail.slice(2)}` } };
}

type Manager = EtcdDatastore<NetworkConfig>;

function acquire(m: Manager, request: { config: NetworkConfig; attrs: LeaseAttrs; previousSubnet?: Ipv4Subnet }): Promise<SubnetLease<PeerData>> {
  return m.acquire({ ...request, decodePeerData: peerDataDecoder(request.config.backend) });
}

function hostIp(i: number): string {
  return `192.168.${Math.floor(i / 250)}.${(i % 250) + 1}`;
}

describe('EtcdDatastore against a real etcd', () => {
  let server: EtcdServer;
  let admin: Etcd3;
  const managers: Manager[] = [];
  const clients: Etcd3[] = [];
  let testPrefix: string;
  let counter = 0;

  beforeAll(async () => {
    server = await EtcdServer.start();
    admin = server.client();
  });
  afterAll(async () => {
    admin.close();
    await server.stop();
  });
  beforeEach(() => {
    testPrefix = `${PREFIX}-${++counter}`;
  });
  afterEach(async () => {
    await Promise.all(managers.splice(0).map((m) => m.close()));
    clients.splice(0).forEach((c) => c.close());
  });

  async function writeConfig(config: object): Promise<NetworkConfig> {
    const json = JSON.stringify(config);
    await admin.put(`${testPrefix}/config`).value(json);
    return parseNetworkConfig(json);
  }

  async function manager(overrides: Partial<EtcdDatastoreOptions<NetworkConfig>> = {}): Promise<Manager> {
    const client = await createEtcdClient({ endpoints: [server.endpoint], prefix: testPrefix });
    clients.push(client);
    const m = new EtcdDatastore({ client, prefix: testPrefix, parseConfig: parseNetworkConfig, logger: silentLogger(), renewMarginMinutes: 60, ...overrides });
    managers.push(m);
    return m;
  }

  async function leaseKeys(): Promise<string[]> {
    return (await admin.getAll().prefix(`${testPrefix}/subnets/`).keys()).map((k) => k.slice(`${testPrefix}/subnets/`.length));
  }

  it('waits for the network config to appear', async () => {
    const m = await manager();
    const pending = m.readNetworkConfig();
    await sleep(300);
    await writeConfig({ Network: '10.9.0.0/16' });
    expect(formatSubnet((await pending).network)).toBe('10.9.0.0/16');
  });

  it('waits out an invalid config until it is fixed', async () => {
    await admin.put(`${testPrefix}/config`).value('{"Network":"10.9.1.0/16"}');
    const m = await manager();
    const pending = m.readNetworkConfig();
    await sleep(300);
    await writeConfig({ Network: '10.9.0.0/16' });
    expect(formatSubnet((await pending).network)).toBe('10.9.0.0/16');
  });

  it('gives 50 agents acquiring at once 50 distinct subnets', async () => {
    const config = await writeConfig({ Network: '10.10.0.0/16', SubnetMin: '10.10.1.0', SubnetMax: '10.10.80.0' });
    const ms = await Promise.all(Array.from({ length: 50 }, () => manager()));
    const leases = await Promise.all(ms.map(async (m, i) => (await acquire(m, { config, attrs: vxlanAttrs(hostIp(i), i) })).ownLease()));
    const subnets = leases.map((l) => formatSubnet(l.subnet));
    expect(new Set(subnets).size).toBe(50);
    expect((await leaseKeys()).length).toBe(50);
    for (const lease of leases) expect(lease.expiration!.getTime()).toBeGreaterThan(Date.now() + 23 * 3600_000);
  });

  it('binds each lease to a 24 h etcd lease', async () => {
    const config = await writeConfig({ Network: '10.11.0.0/16' });
    const lease = await (await acquire(await manager(), { config, attrs: vxlanAttrs('192.168.0.1') })).ownLease();
    const kv = (await admin.getAll().prefix(`${testPrefix}/subnets/`).exec()).kvs[0]!;
    expect(kv.key.toString()).toBe(`${testPrefix}/subnets/${formatSubnet(lease.subnet).replace('/', '-')}`);
    expect(JSON.parse(kv.value.toString())).toEqual({
      PublicIP: '192.168.0.1',
      PublicIPv6: null,
      BackendType: 'vxlan',
      BackendData: { VNI: 1, VtepMAC: '02:42:00:00:00:01' },
    });
    const ttl = await admin.leaseClient.leaseTimeToLive({ ID: kv.lease });
    expect(Number(ttl.TTL)).toBeGreaterThan(86_000);
  });

  it('keeps the subnet across a restart with the same PublicIP', async () => {
    const config = await writeConfig({ Network: '10.12.0.0/16' });
    const first = await (await acquire(await manager(), { config, attrs: vxlanAttrs('192.168.0.7') })).ownLease();
    await managers[0]!.close();
    const second = await (await acquire(await manager(), { config, attrs: vxlanAttrs('192.168.0.7', 99) })).ownLease();
    expect(formatSubnet(second.subnet)).toBe(formatSubnet(first.subnet));
    expect(await leaseKeys()).toHaveLength(1);
    const value = await admin.get(`${testPrefix}/subnets/${formatSubnet(first.subnet).replace('/', '-')}`).json();
    expect((value as { BackendData: { VtepMAC: string } }).BackendData.VtepMAC).toBe('02:42:00:00:00:63');
  });

  it('prefers the subnet from the previous subnet.env when it is free', async () => {
    const config = await writeConfig({ Network: '10.13.0.0/16' });
    const lease = await (await acquire(await manager(), { config, attrs: vxlanAttrs('192.168.0.8'), previousSubnet: cidr('10.13.77.0/24') })).ownLease();
    expect(formatSubnet(lease.subnet)).toBe('10.13.77.0/24');
  });

  it('does not take the previous subnet when another host holds it', async () => {
    const config = await writeConfig({ Network: '10.13.0.0/16' });
    await admin.put(`${testPrefix}/subnets/10.13.77.0-24`).value(serializeLeaseAttrs(vxlanAttrs('192.168.0.99')));
    const lease = await (await acquire(await manager(), { config, attrs: vxlanAttrs('192.168.0.8'), previousSubnet: cidr('10.13.77.0/24') })).ownLease();
    expect(formatSubnet(lease.subnet)).not.toBe('10.13.77.0/24');
  });

  it('honours a reservation naming our PublicIP, even outside SubnetMin..SubnetMax, and keeps it lease-free', async () => {
    const config = await writeConfig({ Network: '10.14.0.0/16', SubnetMin: '10.14.10.0', SubnetMax: '10.14.20.0' });
    await admin.put(`${testPrefix}/subnets/10.14.200.0-24`).value(serializeLeaseAttrs(vxlanAttrs('192.168.3.3')));
    const lease = await (await acquire(await manager(), { config, attrs: vxlanAttrs('192.168.3.3') })).ownLease();
    expect(formatSubnet(lease.subnet)).toBe('10.14.200.0/24');
    expect(lease.expiration).toBeUndefined();
    const kv = (await admin.getAll().prefix(`${testPrefix}/subnets/`).exec()).kvs[0]!;
    expect(String(kv.lease)).toBe('0');
  });

  it('never hands out a subnet reserved for another host', async () => {
    const config = await writeConfig({ Network: '10.15.0.0/24', SubnetLen: 26, SubnetMin: '10.15.0.64', SubnetMax: '10.15.0.192' });
    await admin.put(`${testPrefix}/subnets/10.15.0.64-26`).value(serializeLeaseAttrs(vxlanAttrs('192.168.9.9')));
    await admin.put(`${testPrefix}/subnets/10.15.0.128-26`).value(serializeLeaseAttrs(vxlanAttrs('192.168.9.10')));
    const lease = await (await acquire(await manager(), { config, attrs: vxlanAttrs('192.168.0.1') })).ownLease();
    expect(formatSubnet(lease.subnet)).toBe('10.15.0.192/26');
  });

  describe('with an underlay inside Network (forbidden subnets)', () => {
    // The lower half of Network is the underlay: no peer accepts a lease there.
    const underlay = cidr('10.20.0.0/17');
    const lowestFree = () => 0;

    it('never picks a random subnet there', async () => {
      const config = await writeConfig({ Network: '10.20.0.0/16' });
      const m = await manager({ forbiddenSubnets: [underlay], random: lowestFree });
      expect(formatSubnet((await acquire(m, { config, attrs: vxlanAttrs('192.168.0.20') })).ownLease().subnet)).toBe('10.20.128.0/24');
    });

    it("reuses neither subnet.env's subnet nor our own existing lease there", async () => {
      const config = await writeConfig({ Network: '10.20.0.0/16' });
      await admin.put(`${testPrefix}/subnets/10.20.6.0-24`).value(serializeLeaseAttrs(vxlanAttrs('192.168.0.21')));
      const m = await manager({ forbiddenSubnets: [underlay], random: lowestFree });
      const lease = await acquire(m, { config, attrs: vxlanAttrs('192.168.0.21'), previousSubnet: cidr('10.20.5.0/24') });
      expect(formatSubnet(lease.ownLease().subnet)).toBe('10.20.128.0/24');
      expect((await leaseKeys()).sort()).toEqual(['10.20.128.0-24', '10.20.6.0-24']);
    });

    it('fails naming both ranges when nothing outside it is left', async () => {
      const config = await writeConfig({ Network: '10.21.0.0/24', SubnetLen: 26 });
      const m = await manager({ forbiddenSubnets: [cidr('10.21.0.0/23')] });
      await expect(acquire(m, { config, attrs: vxlanAttrs('192.168.0.22') })).rejects.toThrow(
        /no free \/26 left in 10\.21\.0\.0\/24 .*10\.21\.0\.0\/23 \(the underlay\) cannot be used/,
      );
      expect(await leaseKeys()).toHaveLength(0);
    });
  });

  it('fails with SubnetExhaustedError when the range is full', async () => {
    const config = await writeConfig({ Network: '10.16.0.0/24', SubnetLen: 26 });
    const ms = await Promise.all([1, 2, 3].map(() => manager()));
    await Promise.all(ms.map(async (m, i) => (await acquire(m, { config, attrs: vxlanAttrs(hostIp(i)) })).ownLease()));
    const late = await manager();
    await expect(acquire(late, { config, attrs: vxlanAttrs('192.168.7.7') })).rejects.toThrow(SubnetExhaustedError);
    await expect(acquire(late, { config, attrs: vxlanAttrs('192.168.7.7') })).rejects.toThrow(/no free \/26 left in 10\.16\.0\.0\/24/);
    expect(await leaseKeys()).toHaveLength(3);
  });

  it('sees every lease written in 5 transactions and 500 one by one, and every delete', async () => {
    // Our own lease comes from SubnetMin..SubnetMax, away from the keys written below: a random
    // pick among them would overwrite our own key and leave one peer short.
    const config = await writeConfig({ Network: '10.0.0.0/8', SubnetMin: '10.200.0.0', SubnetMax: '10.250.0.0' });
    const m = await manager();
    const lease = await acquire(m, { config, attrs: vxlanAttrs('192.168.200.1') });
    const own = lease.ownLease();
    await lease.start();
    let changes = 0;
    lease.on('change', () => changes++);

    const keyFor = (i: number) => `${testPrefix}/subnets/10.${100 + Math.floor(i / 256)}.${i % 256}.0-24`;
    for (let batch = 0; batch < 5; batch++) {
      const ops = [];
      for (let i = batch * 100; i < batch * 100 + 100; i++) ops.push(admin.put(keyFor(i)).value(serializeLeaseAttrs(vxlanAttrs(hostIp(i), i + 2))));
      await admin.if(keyFor(batch * 100), 'Create', '==', 0).then(...ops).commit();
    }
    for (let i = 500; i < 1000; i++) await admin.put(keyFor(i)).value(serializeLeaseAttrs(vxlanAttrs(hostIp(i), i + 2)));
    await waitFor(() => lease.peers().length === 1000, 10_000, () => `saw ${lease.peers().length} of 1000 peers`);
    expect(lease.peers().some((p) => formatSubnet(p.subnet) === formatSubnet(own.subnet))).toBe(false);
    expect(changes).toBeGreaterThan(0);

    const deletes = Array.from({ length: 100 }, (_, i) => admin.delete().key(keyFor(i)));
    await admin.if(keyFor(0), 'Version', '>', 0).then(...deletes).commit();
    for (let i = 500; i < 600; i++) await admin.delete().key(keyFor(i));
    await waitFor(() => lease.peers().length === 800, 10_000, () => `saw ${lease.peers().length} of 800 peers after deletes`);
  });

  it('ignores garbage under /subnets/ and keeps serving valid peers', async () => {
    const config = await writeConfig({ Network: '10.17.0.0/16', SubnetMin: '10.17.200.0', SubnetMax: '10.17.250.0' });
    const invalid: string[] = [];
    const m = await manager({ onInvalidLease: (key) => invalid.push(key) });
    const lease = await acquire(m, { config, attrs: vxlanAttrs('192.168.0.1') });
    await lease.start();
    const sub = `${testPrefix}/subnets/`;
    await admin.put(`${sub}10.17.50.0-24`).value('{not json');
    await admin.put(`${sub}10.99.0.0-24`).value(serializeLeaseAttrs(vxlanAttrs('192.168.0.2')));
    await admin.put(`${sub}10.17.51.0-24`).value(JSON.stringify({ PublicIP: '192.168.0.3', BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: 'zz:zz' } }));
    await admin.put(`${sub}banana`).value('{}');
    await admin.put(`${sub}10.17.52.0-24`).value(serializeLeaseAttrs(vxlanAttrs('192.168.0.4', 4)));
    await waitFor(() => lease.peers().length === 1, 5_000);
    await sleep(200);
    expect(lease.peers().map((p) => p.key)).toEqual(['10.17.52.0-24']);
    expect(invalid.sort()).toEqual(['10.17.50.0-24', '10.17.51.0-24', '10.99.0.0-24', 'banana']);
  });

  it('recovers from a compacted watch by relisting, losing nothing', async () => {
    // As above: our own lease stays clear of the 21 keys this test writes. A random pick among
    // them (8% of runs) overwrote our own key, and the test saw 19 peers instead of 20.
    const config = await writeConfig({ Network: '10.18.0.0/16', SubnetMin: '10.18.200.0', SubnetMax: '10.18.250.0' });
    const proxy = await TcpProxy.start('127.0.0.1', Number(new URL(server.endpoint).port));
    const client = await createEtcdClient({ endpoints: [`http://127.0.0.1:${proxy.port}`], prefix: testPrefix });
    clients.push(client);
    const restarts: string[] = [];
    const m = new EtcdDatastore({
      client,
      prefix: testPrefix,
      parseConfig: parseNetworkConfig,
      logger: silentLogger(),
      renewMarginMinutes: 60,
      onWatchRestart: (reason) => restarts.push(reason),
    });
    managers.push(m);
    const lease = await acquire(m, { config, attrs: vxlanAttrs('192.168.0.1') });
    await lease.start();
    const sub = `${testPrefix}/subnets/`;
    await admin.put(`${sub}10.18.99.0-24`).value(serializeLeaseAttrs(vxlanAttrs(hostIp(9), 9)));
    await waitFor(() => lease.peers().length === 1, 5_000);

    // Cut the agent off; meanwhile leases change and etcd compacts that history away.
    proxy.disconnect();
    await admin.delete().key(`${sub}10.18.99.0-24`);
    for (let i = 0; i < 20; i++) await admin.put(`${sub}10.18.${100 + i}.0-24`).value(serializeLeaseAttrs(vxlanAttrs(hostIp(i + 10), i + 10)));
    const { header } = await admin.get('anything').exec();
    await admin.kv.compact({ revision: header.revision, physical: true });
    proxy.restore();

    await waitFor(() => lease.peers().length === 20 && !lease.peers().some((p) => p.key === '10.18.99.0-24'), 20_000, () => `saw ${lease.peers().length} peers`);
    expect(restarts).toContain('disconnected');
    // The relist after reconnecting may already have caught up; etcd's cancel still follows.
    await waitFor(() => restarts.includes('cancelled'), 10_000, () => restarts.join());
    await proxy.close();
  });

  it('renews before expiry and moves the key to a fresh etcd lease', async () => {
    const config = await writeConfig({ Network: '10.19.0.0/16' });
    // TTL 62 s with a 1 minute margin: renewal is due 2 s after acquisition.
    const m = await manager({ leaseTtlSeconds: 62, renewMarginMinutes: 1 });
    const lease = await acquire(m, { config, attrs: vxlanAttrs('192.168.0.1') });
    const first = lease.ownLease();
    await lease.start();
    const key = `${testPrefix}/subnets/${formatSubnet(first.subnet).replace('/', '-')}`;
    const leaseBefore = String((await admin.get(key).exec()).kvs[0]!.lease);
    await waitFor(async () => String((await admin.get(key).exec()).kvs[0]?.lease) !== leaseBefore, 10_000);
    await waitFor(() => lease.ownLease().expiration!.getTime() > first.expiration!.getTime(), 2_000, () => 'ownLease() not renewed');
    const revoked = await admin.leaseClient.leaseTimeToLive({ ID: leaseBefore });
    expect(Number(revoked.TTL)).toBe(-1);
  });

  it('re-acquires its subnet when its key is deleted', async () => {
    const config = await writeConfig({ Network: '10.20.0.0/16' });
    const m = await manager();
    const lease = await acquire(m, { config, attrs: vxlanAttrs('192.168.0.1') });
    const own = lease.ownLease();
    await lease.start();
    const key = `${testPrefix}/subnets/${formatSubnet(own.subnet).replace('/', '-')}`;
    await admin.delete().key(key);
    await waitFor(async () => (await admin.get(key).string()) !== null, 5_000);
    expect(formatSubnet(lease.ownLease().subnet)).toBe(formatSubnet(own.subnet));
  });
  it('says once per value that a changed or deleted network config is not applied until a restart', async () => {
    const lines: string[] = [];
    const logger = winston.createLogger({
      transports: [new winston.transports.Stream({ stream: new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(chunk.toString()), done()) }) })],
    });
    const config = await writeConfig({ Network: '10.22.0.0/16' });
    const lease = await acquire(await manager({ logger, probeIntervalMs: 50 }), { config, attrs: vxlanAttrs('192.168.0.1') });
    await lease.start();
    const said = (what: string) => lines.filter((l) => l.includes(`the network config in etcd ${what}`)).length;
    // The same config written differently is no change.
    await admin.put(`${testPrefix}/config`).value('{ "Network": "10.22.0.0/16" }');
    await writeConfig({ Network: '10.23.0.0/16' });
    await waitFor(() => said('changed;') === 1, 5_000, () => lines.join(''));
    await admin.delete().key(`${testPrefix}/config`);
    await waitFor(() => said('was deleted') === 1, 5_000, () => lines.join(''));
    await sleep(300);
    expect([said('changed;'), said('was deleted')]).toEqual([1, 1]);
    expect(lease.ownLeaseHeld()).toBe(true);
  });

  it('says so and reports not ready when another writer overwrites our lease, without fighting over it', async () => {
    const config = await writeConfig({ Network: '10.21.0.0/16' });
    const lease = await acquire(await manager(), { config, attrs: vxlanAttrs('192.168.0.1') });
    await lease.start();
    const key = `${testPrefix}/subnets/${formatSubnet(lease.ownLease().subnet).replace('/', '-')}`;
    const ours = (await admin.get(key).string())!;
    await admin.put(key).value(serializeLeaseAttrs(vxlanAttrs('192.168.0.1', 77)));
    await waitFor(() => !lease.ownLeaseHeld(), 5_000, () => 'the takeover went unnoticed');
    await sleep(300);
    expect(await admin.get(key).string()).toBe(serializeLeaseAttrs(vxlanAttrs('192.168.0.1', 77)));
    await admin.put(key).value(ours);
    await waitFor(() => lease.ownLeaseHeld(), 5_000, () => 'still reported as overwritten');
  });
});

describe('EtcdDatastore over TLS with client certificates', () => {
  let server: EtcdServer;
  beforeAll(async () => {
    server = await EtcdServer.start({ tls: true });
  });
  afterAll(async () => {
    await server.stop();
  });

  it('works with --etcd-cafile/--etcd-certfile/--etcd-keyfile', async () => {
    const admin = server.client();
    await admin.put(`${PREFIX}/config`).value('{"Network":"10.30.0.0/16"}');
    admin.close();
    const tls = server.tls!;
    const client = await createEtcdClient({ endpoints: [server.endpoint], prefix: PREFIX, caFile: tls.ca, certFile: tls.clientCert, keyFile: tls.clientKey });
    const m = new EtcdDatastore({ client, prefix: PREFIX, parseConfig: parseNetworkConfig, logger: silentLogger(), renewMarginMinutes: 60 });
    try {
      const config = await m.readNetworkConfig();
      const lease = (await acquire(m, { config, attrs: vxlanAttrs('192.168.0.1') })).ownLease();
      expect(formatSubnet(lease.subnet)).toMatch(/^10\.30\./);
    } finally {
      await m.close();
      client.close();
    }
  });

  it('fails clearly without a client certificate', async () => {
    const client = await createEtcdClient({ endpoints: [server.endpoint], prefix: PREFIX, caFile: server.tls!.ca });
    const errors: Error[] = [];
    const m = new EtcdDatastore({ client, prefix: PREFIX, parseConfig: parseNetworkConfig, logger: silentLogger(), renewMarginMinutes: 60, onDatastoreError: (err) => errors.push(err) });
    const abort = new AbortController();
    const pending = m.readNetworkConfig(abort.signal).catch((err: unknown) => err);
    await waitFor(() => errors.length > 0, 15_000);
    abort.abort();
    await pending;
    await m.close();
    client.close();
    expect(errors[0]!.message).toMatch(/certificate|handshake|SSL|TLS|UNAVAILABLE|No connection/i);
  });

  it('names the flag and file when a certificate file is missing', async () => {
    await expect(
      createEtcdClient({ endpoints: [server.endpoint], prefix: PREFIX, caFile: '/nonexistent/ca.pem' }),
    ).rejects.toThrow(/--etcd-cafile \/nonexistent\/ca\.pem: cannot read file: ENOENT/);
  });
});

describe('EtcdDatastore when etcd loses its history (issue #18)', () => {
  let server: EtcdServer;
  const managers: Manager[] = [];
  beforeAll(async () => {
    server = await EtcdServer.start();
  });
  afterAll(async () => {
    await Promise.all(managers.map((m) => m.close()));
    await server.stop();
  });

  async function manager(): Promise<Manager> {
    const client = await createEtcdClient({ endpoints: [server.endpoint], prefix: PREFIX });
    const m = new EtcdDatastore({ client, prefix: PREFIX, parseConfig: parseNetworkConfig, logger: silentLogger(), renewMarginMinutes: 60, probeIntervalMs: 200 });
    managers.push(m);
    return m;
  }

  async function leaseKeys(admin: Etcd3): Promise<string[]> {
    return (await admin.getAll().prefix(`${PREFIX}/subnets/`).keys()).map((k) => k.slice(`${PREFIX}/subnets/`.length)).sort();
  }

  it('re-creates our lease with the same subnet once the config is restored, and watches the new history', async () => {
    const configJson = '{"Network":"10.40.0.0/16"}';
    const config = parseNetworkConfig(configJson);
    let admin = server.client();
    await admin.put(`${PREFIX}/config`).value(configJson);
    // Enough history that the rebuilt etcd's revisions stay below it for the whole test.
    for (let i = 0; i < 20; i++) await admin.put(`${PREFIX}/filler`).value(String(i));
    const [a, b] = [await acquire(await manager(), { config, attrs: vxlanAttrs('192.168.0.1', 1) }), await acquire(await manager(), { config, attrs: vxlanAttrs('192.168.0.2', 2) })];
    await Promise.all([a.start(), b.start()]);
    await waitFor(() => a.peers().length === 1 && b.peers().length === 1, 5_000);
    const before = await leaseKeys(admin);
    admin.close();

    await server.restartEmpty();
    admin = server.client();
    try {
      await waitFor(() => !a.ownLeaseHeld() && !b.ownLeaseHeld(), 5_000, () => 'the reset was not noticed');
      // Nothing to join until the operator restores the config.
      await sleep(500);
      expect(await leaseKeys(admin)).toEqual([]);
      expect(a.peers().length).toBe(1);
      await admin.put(`${PREFIX}/config`).value(configJson);
      await waitFor(async () => a.ownLeaseHeld() && b.ownLeaseHeld() && (await leaseKeys(admin)).length === 2, 10_000, () => 'leases not re-created');
      expect(await leaseKeys(admin)).toEqual(before);
      // The watch follows the new history: a host that joins now is seen.
      const c = await acquire(await manager(), { config, attrs: vxlanAttrs('192.168.0.3', 3) });
      await waitFor(() => a.peers().length === 2 && b.peers().length === 2, 5_000, () => `peers: ${a.peers().length}, ${b.peers().length}`);
      // A full relist (as the periodic one) keeps every peer: no revision from the old history survives.
      await c.start();
      expect(c.peers().length).toBe(2);
    } finally {
      admin.close();
    }
  });
});
