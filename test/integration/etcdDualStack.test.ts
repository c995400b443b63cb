import { jest } from '@jest/globals';
import type { Etcd3 } from 'etcd3';
import { type AgentNetworkConfig as NetworkConfig, type PeerData, parseNetworkConfig, peerDataDecoder } from '../../src/backend/registry.js';
import { silentLogger } from '../../src/util/log.js';
import { formatSubnet } from '../../src/net/ipv4.js';
import { formatIpv6Subnet, parseIpv6Cidr } from '../../src/net/ipv6.js';
import { EtcdDatastore } from '../../src/subnet/etcd/etcdSubnetManager.js';
import type { AcquireRequest, SubnetLease } from '../../src/subnet/subnetManager.js';
import type { LeaseAttrs } from '../../src/subnet/lease.js';
import { createEtcdClient } from '../../src/subnet/etcd/client.js';
import { EtcdServer } from '../helpers/etcdServer.js';
import { waitFor } from '../helpers/waitFor.js';

jest.setTimeout(60_000);

function attrs(i: number, withIpv6 = true, withIpv4 = true): LeaseAttrs {
  const mac = (n: number) => `02:42:00:00:${n.toString(16).padStart(2, '0')}:${i.toString(16).padStart(2, '0')}`;
  return {
    publicIP: withIpv4 ? `192.168.0.${i + 1}` : '0.0.0.0',
    backendType: 'vxlan',
    backendData: withIpv4 ? { VNI: 1, VtepMAC: mac(4) } : null,
    ...(withIpv6 ? { publicIPv6: `fd64::${(i + 1).toString(16)}`, backendV6Data: { VNI: 1, VtepMAC: mac(6) } } : {}),
  };
}

describe('dual-stack and IPv6-only leases in a real etcd', () => {
  let server: EtcdServer;
  let admin: Etcd3;
  const managers: EtcdDatastore<NetworkConfig>[] = [];
  let prefix: string;
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
    prefix = `/coreos.com/network-v6-${++counter}`;
  });
  afterEach(async () => {
    await Promise.all(managers.splice(0).map((m) => m.close()));
  });

  async function writeConfig(config: object): Promise<NetworkConfig> {
    const json = JSON.stringify(config);
    await admin.put(`${prefix}/config`).value(json);
    return parseNetworkConfig(json);
  }

  async function acquire(config: NetworkConfig, leaseAttrs: LeaseAttrs, extra: Partial<AcquireRequest<NetworkConfig, PeerData>> = {}): Promise<SubnetLease<PeerData>> {
    const client = await createEtcdClient({ endpoints: [server.endpoint], prefix });
    const m = new EtcdDatastore({ client, prefix, parseConfig: parseNetworkConfig, logger: silentLogger(), renewMarginMinutes: 60 });
    managers.push(m);
    return m.acquire({ config, attrs: leaseAttrs, decodePeerData: peerDataDecoder(config.backend), ...extra });
  }

  async function leases(): Promise<Record<string, Record<string, unknown>>> {
    const all = await admin.getAll().prefix(`${prefix}/subnets/`).strings();
    return Object.fromEntries(Object.entries(all).map(([k, v]) => [k.slice(`${prefix}/subnets/`.length), JSON.parse(v) as Record<string, unknown>]));
  }

  it("writes Flannel's dual-stack key and value, and peers see both families", async () => {
    const config = await writeConfig({ Network: '10.20.0.0/16', EnableIPv6: true, IPv6Network: 'fc00:20::/48' });
    const a = await acquire(config, attrs(1));
    const b = await acquire(config, attrs(2));
    const own = a.ownLease();
    const key = `${formatSubnet(own.subnet).replace('/', '-')}&${formatIpv6Subnet(own.ipv6Subnet!).replace('/', '-')}`;
    const stored = await leases();
    expect(stored[key]).toEqual({
      PublicIP: '192.168.0.2',
      PublicIPv6: 'fd64::2',
      BackendType: 'vxlan',
      BackendData: { VNI: 1, VtepMAC: '02:42:00:00:04:01' },
      BackendV6Data: { VNI: 1, VtepMAC: '02:42:00:00:06:01' },
    });
    await b.start();
    await waitFor(() => b.peers().length === 1, 5_000);
    expect(b.peers()[0]!.ipv6).toMatchObject({ publicIP: 'fd64::2', data: { vtepMac: '02:42:00:00:06:01' } });
    expect(formatIpv6Subnet(b.peers()[0]!.ipv6!.subnet)).toBe(formatIpv6Subnet(own.ipv6Subnet!));
  });

  it('gives agents racing for a small IPv6 range distinct IPv6 subnets in one transaction each', async () => {
    // 15 leasable /64s and a roomy IPv4 range: only the IPv6 halves can collide.
    const config = await writeConfig({ Network: '10.21.0.0/16', EnableIPv6: true, IPv6Network: 'fc00:21::/60', IPv6SubnetLen: 64 });
    const owns = await Promise.all(Array.from({ length: 12 }, async (_, i) => (await acquire(config, attrs(i))).ownLease()));
    expect(new Set(owns.map((o) => formatIpv6Subnet(o.ipv6Subnet!))).size).toBe(12);
    expect(new Set(owns.map((o) => formatSubnet(o.subnet))).size).toBe(12);
    expect(Object.keys(await leases())).toHaveLength(12);
  });

  it('keeps both subnets across a restart, and prefers subnet.env ones when free', async () => {
    const config = await writeConfig({ Network: '10.22.0.0/16', EnableIPv6: true, IPv6Network: 'fc00:22::/48' });
    const first = (await acquire(config, attrs(3))).ownLease();
    await managers[0]!.close();
    const second = (await acquire(config, attrs(3))).ownLease();
    expect(second).toMatchObject({ subnet: first.subnet, ipv6Subnet: first.ipv6Subnet });
    const wanted = parseIpv6Cidr('fc00:22:0:77::/64');
    if (!wanted.ok) throw new Error(wanted.reason);
    const third = (await acquire(config, attrs(4), { previousIpv6Subnet: wanted.subnet })).ownLease();
    expect(formatIpv6Subnet(third.ipv6Subnet!)).toBe('fc00:22:0:77::/64');
  });

  it('leases IPv4 only for a host without an IPv6 address, and its peers treat it as IPv4-only', async () => {
    const config = await writeConfig({ Network: '10.23.0.0/16', EnableIPv6: true, IPv6Network: 'fc00:23::/48' });
    const v4only = (await acquire(config, attrs(5, false))).ownLease();
    expect(v4only.ipv6Subnet).toBeUndefined();
    expect(Object.keys(await leases())).toEqual([formatSubnet(v4only.subnet).replace('/', '-')]);
    const dual = await acquire(config, attrs(6));
    await dual.start();
    await waitFor(() => dual.peers().length === 1, 5_000);
    expect(dual.peers()[0]!.ipv6).toBeUndefined();
  });

  it('writes 0.0.0.0-0& keys in an IPv6-only network and finds them again by PublicIPv6', async () => {
    const config = await writeConfig({ EnableIPv4: false, EnableIPv6: true, IPv6Network: 'fc00:24::/48' });
    const first = (await acquire(config, attrs(7, true, false))).ownLease();
    const [key] = Object.keys(await leases());
    expect(key).toBe(`0.0.0.0-0&${formatIpv6Subnet(first.ipv6Subnet!).replace('/', '-')}`);
    await managers[0]!.close();
    const again = (await acquire(config, attrs(7, true, false))).ownLease();
    expect(formatIpv6Subnet(again.ipv6Subnet!)).toBe(formatIpv6Subnet(first.ipv6Subnet!));
    const other = await acquire(config, attrs(8, true, false));
    await other.start();
    await waitFor(() => other.peers().length === 1, 5_000);
    expect(other.peers()[0]!.ipv6?.publicIP).toBe('fd64::8');
  });
});
