import { parseNetworkConfig, peerDataDecoder } from '../../src/backend/registry.js';
import { formatIpv6Subnet } from '../../src/net/ipv6.js';
import { parseLeaseAttrs, serializeLeaseAttrs, validatePeerLease } from '../../src/subnet/lease.js';
import { ipv4Cidr as v4, ipv6Cidr as v6 } from '../helpers/cidr.js';

const dual = parseNetworkConfig('{"Network":"10.5.0.0/16","EnableIPv6":true,"IPv6Network":"fc00::/48","Backend":{"Type":"vxlan"}}');
const v6only = parseNetworkConfig('{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fc00::/48","Backend":{"Type":"vxlan"}}');


const MAC4 = 'c6:d2:32:6f:8f:44';
const MAC6 = '6a:11:22:33:44:55';

function value(overrides: Record<string, unknown> = {}): string {
  return JSON.stringify({
    PublicIP: '192.168.64.3',
    PublicIPv6: 'fd64::3',
    BackendType: 'vxlan',
    BackendData: { VNI: 1, VtepMAC: MAC4 },
    BackendV6Data: { VNI: 1, VtepMAC: MAC6 },
    ...overrides,
  });
}

const ctx = {
  config: dual,
  decodePeerData: peerDataDecoder(dual.backend),
  ownSubnet: v4('10.5.1.0/24'),
  ownIpv6Subnet: v6('fc00:0:0:1::/64'),
  forbidden: [v4('192.168.64.0/24')],
  forbiddenIpv6: [v6('fd64::/64')],
};

describe('lease attributes with IPv6', () => {
  it('serialises PublicIPv6 and BackendV6Data as Flannel does', () => {
    const text = serializeLeaseAttrs({
      publicIP: '192.168.64.3',
      publicIPv6: 'fd64::3',
      backendType: 'vxlan',
      backendData: { VNI: 1, VtepMAC: MAC4 },
      backendV6Data: { VNI: 1, VtepMAC: MAC6 },
    });
    expect(text).toBe(
      `{"PublicIP":"192.168.64.3","PublicIPv6":"fd64::3","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"${MAC4}"},"BackendV6Data":{"VNI":1,"VtepMAC":"${MAC6}"}}`,
    );
    expect(parseLeaseAttrs(text)).toMatchObject({ publicIPv6: 'fd64::3', backendV6Data: { VNI: 1, VtepMAC: MAC6 } });
  });

  it('leaves BackendV6Data out without an IPv6 address', () => {
    expect(serializeLeaseAttrs({ publicIP: '10.0.0.1', backendType: 'host-gw', backendData: null })).toBe(
      '{"PublicIP":"10.0.0.1","PublicIPv6":null,"BackendType":"host-gw","BackendData":null}',
    );
  });
});

describe('validatePeerLease in a dual-stack network', () => {
  it('accepts both halves', () => {
    const result = validatePeerLease({ key: '10.5.52.0-24&fc00:0:0:34::-64', value: value() }, ctx);
    if (!result.ok) throw new Error(result.reason);
    expect(formatIpv6Subnet(result.lease.ipv6!.subnet)).toBe('fc00:0:0:34::/64');
    expect(result.lease.ipv6!.publicIP).toBe('fd64::3');
    expect(result.lease.ipv6!.data).toEqual({ backend: 'vxlan', vni: 1, vtepMac: MAC6 });
  });

  it('accepts an IPv4-only peer as an IPv4 peer', () => {
    const result = validatePeerLease({ key: '10.5.52.0-24', value: value({ PublicIPv6: null, BackendV6Data: undefined }) }, ctx);
    expect(result.ok && result.lease.ipv6).toBeUndefined();
    expect(result.ok).toBe(true);
  });

  it.each([
    ['10.5.52.0-24&fc01:0:0:34::-64', {}, 'outside IPv6Network'],
    ['10.5.52.0-24&fc00:0:0:34::-80', {}, 'IPv6SubnetLen'],
    ['10.5.52.0-24&fc00:0:0:1::-64', {}, "this host's own"],
    ['10.5.52.0-24&fc00::-47', {}, 'outside'],
    ['10.5.52.0-24&fc00:0:0:34::-64', { PublicIPv6: 'fe80::1' }, 'PublicIPv6 "fe80::1"'],
    ['10.5.52.0-24&fc00:0:0:34::-64', { PublicIPv6: 'ff02::1' }, 'PublicIPv6'],
    ['10.5.52.0-24&fc00:0:0:34::-64', { PublicIPv6: '::ffff:10.0.0.1' }, 'PublicIPv6'],
    ['10.5.52.0-24&fc00:0:0:34::-64', { PublicIPv6: null }, 'PublicIPv6 null'],
    ['10.5.52.0-24&fc00:0:0:34::-64', { BackendV6Data: { VtepMAC: 'ff:ff:ff:ff:ff:ff' } }, 'BackendV6Data'],
    ['10.5.52.0-24&fc00:0:0:34::-64', { BackendV6Data: null }, 'BackendV6Data'],
  ])('rejects %s with %j (%s)', (key, overrides, reason) => {
    const result = validatePeerLease({ key, value: value(overrides) }, ctx);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toContain(reason);
  });

  it('rejects an IPv6 subnet overlapping the IPv6 underlay', () => {
    const underlay = { ...ctx, forbiddenIpv6: [v6('fc00:0:0:34::/64')] };
    const result = validatePeerLease({ key: '10.5.52.0-24&fc00:0:0:34::-64', value: value() }, underlay);
    expect(result.ok).toBe(false);
  });
});

describe('validatePeerLease in an IPv6-only network', () => {
  const only = { config: v6only, decodePeerData: peerDataDecoder(v6only.backend), ownSubnet: { address: 0, prefixLength: 0 }, ownIpv6Subnet: v6('fc00:0:0:1::/64') };
  const flannelValue = value({ PublicIP: '0.0.0.0', BackendData: undefined });

  it("accepts Flannel's 0.0.0.0-0& keys", () => {
    const result = validatePeerLease({ key: '0.0.0.0-0&fc00:0:0:34::-64', value: flannelValue }, only);
    if (!result.ok) throw new Error(result.reason);
    expect(result.lease.ipv6!.data).toEqual({ backend: 'vxlan', vni: 1, vtepMac: MAC6 });
  });

  it.each([
    ['10.5.52.0-24&fc00:0:0:34::-64', 'EnableIPv4 false'],
    ['0.0.0.0-0', 'no IPv6 subnet'],
  ])('rejects %s', (key, reason) => {
    const result = validatePeerLease({ key, value: flannelValue }, only);
    expect(!result.ok && result.reason).toContain(reason);
  });
});
