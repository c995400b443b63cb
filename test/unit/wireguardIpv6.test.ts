import { describe, expect, it } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diffKernelState } from '../../src/backend/diff.js';
import { type PeerData, activateBackend, parseNetworkConfig, peerDataDecoder } from '../../src/backend/registry.js';
import { publicKeyOf } from '../../src/backend/wireguard/keys.js';
import { wireguardLeaseData } from '../../src/backend/wireguard/leaseData.js';
import { planWireguard } from '../../src/backend/wireguard/plan.js';
import { planWireguardIpv6 } from '../../src/backend/wireguard/planIpv6.js';
import type { ActualState } from '../../src/kernel/kernelState.js';
import { parseWgDump } from '../../src/kernel/wireguardState.js';
import type { ExternalLink } from '../../src/net/externalInterface.js';
import { type PeerLease, serializeLeaseAttrs, validatePeerLease } from '../../src/subnet/lease.js';
import { Secret } from '../../src/util/secret.js';
import { ipv4Cidr as v4, ipv6Cidr as v6 } from '../helpers/cidr.js';

const dual = parseNetworkConfig('{"Network":"10.5.0.0/16","EnableIPv6":true,"IPv6Network":"fc00::/48","Backend":{"Type":"wireguard"}}');
const config = dual.backend.type === 'wireguard' ? dual.backend : undefined!;
const decode = peerDataDecoder(dual.backend);
const ext: ExternalLink = { name: 'eth0', address: '192.168.1.10', mtu: 1500, subnet: v4('192.168.1.0/24'), ipv6: { address: 'fd00::a', subnet: v6('fd00::/64') } };

const privateKey = new Secret('eHv4MYg2QRXtAt1qJd3BC2v7yTMJcoL6JSsDl7rQcGU=');
const publicKey = publicKeyOf(privateKey);
const KEY_B = 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=';
const KEY_C = 'TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=';
const KEY_D = 'yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=';

function decoded(data: unknown): PeerData {
  const result = decode(data);
  if (!result.ok) throw new Error(result.reason);
  return result.data;
}

function peer(n: number, publicIPv6: string | undefined, data6: unknown): PeerLease<PeerData> {
  return {
    key: `10.5.${n}.0-24&fc00:0:0:${n}::-64`,
    subnet: v4(`10.5.${n}.0/24`),
    publicIP: `192.168.1.${10 + n}`,
    backendType: 'wireguard',
    data: decoded({ PublicKey: KEY_B }),
    ...(publicIPv6 ? { ipv6: { subnet: v6(`fc00:0:0:${n}::/64`), publicIP: publicIPv6, data: decoded(data6) } } : {}),
  };
}

const input = { config, extLink: ext, network: v6('fc00::/48'), privateKey, publicKey, ownSubnet: v6('fc00:0:0:1::/64') };

describe('wireguard BackendV6Data', () => {
  // A dual-stack lease as Flannel's separate mode writes it: one key (the key file's) in both halves,
  // ListenPort in BackendData and ListenPortV6 in BackendV6Data.
  const flannelLease = `{"PublicIP":"192.168.64.3","PublicIPv6":"fd64::3","BackendType":"wireguard","BackendData":{"PublicKey":"${KEY_B}","Port":51820},"BackendV6Data":{"PublicKey":"${KEY_B}","Port":51821}}`;
  const ctx = {
    config: dual,
    decodePeerData: decode,
    ownSubnet: v4('10.5.1.0/24'),
    ownIpv6Subnet: v6('fc00:0:0:1::/64'),
    forbidden: [v4('192.168.64.0/24')],
    forbiddenIpv6: [v6('fd64::/64')],
  };
  const key = '10.5.52.0-24&fc00:0:0:34::-64';

  it("round-trips Flannel's dual-stack lease", () => {
    const result = validatePeerLease({ key, value: flannelLease }, { ...ctx, forbidden: [], forbiddenIpv6: [] });
    if (!result.ok) throw new Error(result.reason);
    expect(result.lease.ipv6?.data).toEqual({ backend: 'wireguard', publicKey: KEY_B, port: 51821 });
    const written = serializeLeaseAttrs({
      publicIP: '192.168.64.3',
      publicIPv6: 'fd64::3',
      backendType: 'wireguard',
      backendData: wireguardLeaseData(KEY_B, 51820),
      backendV6Data: wireguardLeaseData(KEY_B, 51821),
    });
    expect(written).toBe(flannelLease);
  });

  it.each([
    [{ PublicKey: 'abc', Port: 51821 }, /BackendV6Data: PublicKey/],
    [{ PublicKey: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=', Port: 51821 }, /BackendV6Data: PublicKey/],
    [{ PublicKey: KEY_B, Port: 65536 }, /BackendV6Data: Port/],
    [{ PublicKey: KEY_B, Port: -1 }, /BackendV6Data: Port/],
    [{ PublicKey: KEY_B, Port: '51821' }, /BackendV6Data: Port/],
    [null, /BackendV6Data: BackendData is missing/],
  ])('rejects the lease for BackendV6Data %j', (data6, reason) => {
    const value = JSON.stringify({ ...JSON.parse(flannelLease), BackendV6Data: data6 });
    const result = validatePeerLease({ key, value }, { ...ctx, forbidden: [], forbiddenIpv6: [] });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(reason);
  });
});

describe('wireguard activation on an IPv6 network', () => {
  async function activate(mode: string) {
    const dir = await mkdtemp(join(tmpdir(), 'weft-wg6-'));
    try {
      const network = parseNetworkConfig(JSON.stringify({ Network: '10.5.0.0/16', EnableIPv6: true, IPv6Network: 'fc00::/48', Backend: { Type: 'wireguard', Mode: mode, ListenPortV6: 4001 } }));
      const kernel = { read: () => Promise.reject(new Error('wireguard reads no kernel state at activation')) };
      return await activateBackend(network.backend, { extLink: ext, network: network.network, ipv6: true, ipv6Network: v6('fc00::/48'), kernel, wireguardKeyFile: join(dir, 'wgkey') });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  it('separate mode: flannel-wg-v6 on ListenPortV6 with the same key, published as BackendV6Data', async () => {
    const backend = await activate('separate');
    const v4 = backend.leaseData as { PublicKey: string; Port: number };
    expect(v4.Port).toBe(51820);
    expect(backend.ipv6?.deviceName).toBe('flannel-wg-v6');
    expect(backend.ipv6?.leaseData).toEqual({ PublicKey: v4.PublicKey, Port: 4001 });
    expect(JSON.stringify(backend.ipv6?.leaseData)).toBe(`{"PublicKey":"${v4.PublicKey}","Port":4001}`);
  });

  it('auto mode: no IPv6 plane (one shared device is not supported), and the log says so', async () => {
    const backend = await activate('auto');
    expect(backend.ipv6).toBeUndefined();
    expect(backend.summary['ipv6']).toMatch(/Mode "auto".*not support/);
  });
});

describe('wireguard IPv6 plane', () => {
  it('plans flannel-wg-v6: a peer per IPv6 lease at [PublicIPv6]:Port and an onlink route; IPv4-only peers are not part of it', () => {
    const desired = planWireguardIpv6({ ...input, peers: [peer(2, 'fd00::b', { PublicKey: KEY_C, Port: 4002 }), peer(3, undefined, undefined)] });
    expect(desired.wireguard).toHaveLength(1);
    expect(desired.wireguard![0]).toMatchObject({ name: 'flannel-wg-v6', mtu: 1420, address: 'fc00:0:0:1::/128', listenPort: 51821, publicKey });
    expect(desired.wireguard![0]!.peers).toEqual([{ publicKey: KEY_C, endpoint: '[fd00::b]:4002', allowedIps: ['fc00:0:0:2::/64'] }]);
    expect(desired.routes).toEqual([{ dst: 'fc00:0:0:2::/64', gateway: 'fc00:0:0:2::', dev: 'flannel-wg-v6', onlink: true, nexthopId: 0 }]);
  });

  it("reads a lease without Port as listening on the family's configured port", () => {
    const lease = peer(2, 'fd00::b', { PublicKey: KEY_C });
    expect(planWireguardIpv6({ ...input, peers: [lease] }).wireguard![0]!.peers[0]!.endpoint).toBe('[fd00::b]:51821');
    const ipv4 = planWireguard({ ...input, network: v4('10.5.0.0/16'), ownSubnet: v4('10.5.1.0/24'), peers: [lease] });
    expect(ipv4.wireguard![0]!.peers[0]!.endpoint).toBe('192.168.1.12:51820');
  });

  it('skips a duplicate IPv6 key, our own key and an endpoint inside the IPv6 pod network, saying why', () => {
    const desired = planWireguardIpv6({
      ...input,
      peers: [
        peer(2, 'fd00::b', { PublicKey: KEY_C, Port: 51821 }),
        peer(3, 'fd00::c', { PublicKey: KEY_C, Port: 51821 }),
        peer(4, 'fd00::d', { PublicKey: publicKey, Port: 51821 }),
        peer(5, 'fc00:0:0:9::1', { PublicKey: KEY_D, Port: 51821 }),
      ],
    });
    expect(desired.wireguard![0]!.peers.map((p) => p.publicKey)).toEqual([KEY_C]);
    expect(desired.skipped.map((s) => [s.key, s.reason])).toEqual([
      ['10.5.3.0-24&fc00:0:0:3::-64', `IPv6 PublicKey ${KEY_C} is already used by 10.5.2.0-24&fc00:0:0:2::-64`],
      ['10.5.4.0-24&fc00:0:0:4::-64', `IPv6 PublicKey ${publicKey} is this host's own`],
      ['10.5.5.0-24&fc00:0:0:5::-64', 'endpoint fc00:0:0:9::1 lies inside the IPv6 pod network fc00::/48'],
    ]);
  });

  it('creates the device with a nodad address and plain routes, and costs nothing once converged', () => {
    const desired = planWireguardIpv6({ ...input, peers: [peer(2, 'fd00::b', { PublicKey: KEY_C, Port: 51821 })] });
    const scope = { network: v6('fc00::/48'), extLink: 'eth0', useNexthops: false };
    const empty: ActualState = { routes: [], nexthops: [], neighs: [], fdb: [], wireguard: [] };
    const plan = diffKernelState(desired, empty, scope);
    expect(plan.wireguard![0]).toMatchObject({ name: 'flannel-wg-v6', create: true, link: ['link set flannel-wg-v6 mtu 1420 up', 'addr replace fc00:0:0:1::/128 dev flannel-wg-v6 nodad'] });
    expect(plan.wireguard![0]!.config!.reveal()).toContain('Endpoint = [fd00::b]:51821');
    expect(plan.ip).toEqual(['route replace fc00:0:0:2::/64 via fc00:0:0:2:: dev flannel-wg-v6 onlink proto 87']);

    // What `wg show flannel-wg-v6 dump` prints for that configuration.
    const dump = `${privateKey.reveal()}\t${publicKey}\t51821\toff\n${KEY_C}\t(none)\t[fd00::b]:51821\tfc00:0:0:2::/64\t0\t0\t0\toff\n`;
    const converged: ActualState = {
      routes: [{ dst: 'fc00:0:0:2::/64', gateway: 'fc00:0:0:2::', dev: 'flannel-wg-v6', onlink: true }],
      nexthops: [],
      neighs: [],
      fdb: [],
      wireguard: [{ name: 'flannel-wg-v6', kind: 'tun', mtu: 1420, up: true, addresses: ['fc00:0:0:1::/128'], config: parseWgDump(dump)! }],
    };
    const again = diffKernelState(desired, converged, scope);
    expect(again.ip).toEqual([]);
    expect(again.wireguard![0]).toEqual({ name: 'flannel-wg-v6', recreate: false, create: false, link: [] });
  });
});
