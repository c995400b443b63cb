import { parseNetworkConfig, peerDataDecoder } from '../../src/backend/registry.js';
import { parseSubnetKey, subnetToKey } from '../../src/subnet/subnetKey.js';
import { ownedSubnet, serializeLeaseAttrs, validatePeerLease, leaseNamesPublicIP } from '../../src/subnet/lease.js';
import { parseUnicastMac } from '../../src/backend/vxlan/leaseData.js';
import { formatSubnet, parseIpv4Cidr, type Ipv4Subnet } from '../../src/net/ipv4.js';

const vxlanConfig = parseNetworkConfig('{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan","VNI":1}}');
const hostGwConfig = parseNetworkConfig('{"Network":"10.5.0.0/16","Backend":{"Type":"host-gw"}}');

function cidr(text: string): Ipv4Subnet {
  const r = parseIpv4Cidr(text);
  if (!r.ok) throw new Error(r.reason);
  return r.subnet;
}

function vxlanValue(overrides: Record<string, unknown> = {}, data: Record<string, unknown> = {}): string {
  return JSON.stringify({
    PublicIP: '192.168.64.3',
    PublicIPv6: null,
    BackendType: 'vxlan',
    BackendData: { VNI: 1, VtepMAC: 'c6:d2:32:6f:8f:44', ...data },
    ...overrides,
  });
}

describe('subnet keys', () => {
  it('round-trips Flannel key names', () => {
    const subnet = parseSubnetKey('10.5.52.0-24')!;
    expect(formatSubnet(subnet)).toBe('10.5.52.0/24');
    expect(subnetToKey(subnet)).toBe('10.5.52.0-24');
  });
  it('accepts the dual-stack form', () => {
    expect(formatSubnet(parseSubnetKey('10.5.52.0-24&fc00::-64')!)).toBe('10.5.52.0/24');
  });
  it.each(['10.5.52.1-24', '10.5.52.0', '10.5.52.0-33', '300.1.1.0-24', '10.5.52.0-24/x', '', 'a-b'])('rejects %j', (key) => {
    expect(parseSubnetKey(key)).toBeUndefined();
  });
});

describe('validatePeerLease', () => {
  const ctx = { config: vxlanConfig, decodePeerData: peerDataDecoder(vxlanConfig.backend), ownSubnet: cidr('10.5.1.0/24'), forbidden: [cidr('192.168.64.0/24')] };

  it('accepts a well-formed vxlan lease, normalising the MAC', () => {
    const result = validatePeerLease({ key: '10.5.52.0-24', value: vxlanValue({}, { VtepMAC: 'C6:D2:32:6F:8F:44' }) }, ctx);
    expect(result).toEqual({
      ok: true,
      lease: {
        key: '10.5.52.0-24',
        subnet: cidr('10.5.52.0/24'),
        publicIP: '192.168.64.3',
        backendType: 'vxlan',
        data: { backend: 'vxlan', vni: 1, vtepMac: 'c6:d2:32:6f:8f:44' },
      },
    });
  });

  it('accepts a host-gw lease with null BackendData', () => {
    const value = JSON.stringify({ PublicIP: '192.168.64.9', BackendType: 'host-gw', BackendData: null });
    expect(validatePeerLease({ key: '10.5.9.0-24', value }, { config: hostGwConfig, decodePeerData: peerDataDecoder(hostGwConfig.backend) }).ok).toBe(true);
  });

  it('rejects a subnet at 0.0.0.0, whose nexthop would need ID 0', () => {
    const zeroNetwork = parseNetworkConfig('{"Network":"0.0.0.0/16","Backend":{"Type":"vxlan"}}');
    const result = validatePeerLease({ key: '0.0.0.0-24', value: vxlanValue() }, { config: zeroNetwork, decodePeerData: peerDataDecoder(zeroNetwork.backend) });
    expect(result).toEqual({ ok: false, reason: 'subnet 0.0.0.0/24 starts at 0.0.0.0 and cannot be routed' });
  });

  it.each([
    ['bad key', '10.5.52.7-24', vxlanValue(), /not a subnet key/],
    ['outside Network', '10.6.52.0-24', vxlanValue(), /outside Network/],
    ['0.0.0.0/0', '0.0.0.0-0', vxlanValue(), /outside Network/],
    ['wrong length', '10.5.52.0-25', vxlanValue(), /not a \/24/],
    ['our own subnet', '10.5.1.0-24', vxlanValue(), /own subnet/],
    ['not JSON', '10.5.52.0-24', '{nope', /not a lease JSON/],
    ['JSON array', '10.5.52.0-24', '[]', /not a lease JSON/],
    ['broadcast PublicIP', '10.5.52.0-24', vxlanValue({ PublicIP: '255.255.255.255' }), /not a unicast/],
    ['loopback PublicIP', '10.5.52.0-24', vxlanValue({ PublicIP: '127.0.0.1' }), /not a unicast/],
    ['multicast PublicIP', '10.5.52.0-24', vxlanValue({ PublicIP: '239.1.1.1' }), /not a unicast/],
    ['garbage PublicIP', '10.5.52.0-24', vxlanValue({ PublicIP: '1.2.3.4; rm -rf /' }), /not a unicast/],
    ['other backend', '10.5.52.0-24', vxlanValue({ BackendType: 'host-gw' }), /does not match/],
    ['multicast MAC', '10.5.52.0-24', vxlanValue({}, { VtepMAC: '01:00:5e:00:00:01' }), /not a unicast MAC/],
    ['zero MAC', '10.5.52.0-24', vxlanValue({}, { VtepMAC: '00:00:00:00:00:00' }), /not a unicast MAC/],
    ['short MAC', '10.5.52.0-24', vxlanValue({}, { VtepMAC: 'c6:d2:32:6f:8f' }), /not a unicast MAC/],
    ['other VNI', '10.5.52.0-24', vxlanValue({}, { VNI: 2 }), /VNI 2/],
    ['missing BackendData', '10.5.52.0-24', vxlanValue({ BackendData: null }), /BackendData/],
  ])('rejects %s', (_name, key, value, reason) => {
    const result = validatePeerLease({ key, value }, ctx);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(reason);
  });

  describe('a PublicIP that is no host on the underlay', () => {
    const underlay = { subnet: cidr('192.168.64.0/24'), ownAddresses: ['192.168.64.2'] };
    const check = (publicIP: string, config = hostGwConfig, segment = underlay) => {
      const value = JSON.stringify({ PublicIP: publicIP, BackendType: config.backend.type, BackendData: config.backend.type === 'vxlan' ? { VNI: 1, VtepMAC: 'c6:d2:32:6f:8f:44' } : null });
      return validatePeerLease({ key: '10.5.9.0-24', value }, { config, decodePeerData: peerDataDecoder(config.backend), underlay: segment });
    };

    it.each([
      ['the underlay broadcast address', '192.168.64.255', 'PublicIP 192.168.64.255 is the broadcast address of the underlay 192.168.64.0/24'],
      ['the underlay network address', '192.168.64.0', 'PublicIP 192.168.64.0 is the network address of the underlay 192.168.64.0/24'],
      ["this host's own address", '192.168.64.2', "PublicIP 192.168.64.2 is this host's own address"],
      ['inside the pod network', '10.5.200.7', 'PublicIP 10.5.200.7 is inside the pod network 10.5.0.0/16'],
    ])('rejects %s as a host-gw gateway', (_name, publicIP, reason) => {
      expect(check(publicIP)).toEqual({ ok: false, reason });
    });

    it('rejects the same for a vxlan endpoint', () => {
      expect(check('192.168.64.255', vxlanConfig)).toMatchObject({ ok: false, reason: expect.stringMatching(/broadcast address of the underlay/) });
      expect(check('10.5.200.7', vxlanConfig)).toMatchObject({ ok: false, reason: expect.stringMatching(/inside the pod network/) });
    });

    it('accepts any other host, on the segment or beyond it', () => {
      expect(check('192.168.64.9').ok).toBe(true);
      expect(check('192.168.65.255', vxlanConfig).ok).toBe(true);
    });

    it('knows a /31 link has no network or broadcast address', () => {
      expect(check('192.168.64.1', hostGwConfig, { subnet: cidr('192.168.64.0/31'), ownAddresses: ['192.168.64.0'] }).ok).toBe(true);
    });
  });

  it('rejects a subnet overlapping a protected range', () => {
    const config = parseNetworkConfig('{"Network":"192.168.0.0/16"}');
    const value = vxlanValue({ PublicIP: '192.168.64.3' });
    const result = validatePeerLease({ key: '192.168.64.0-24', value }, { config, decodePeerData: peerDataDecoder(config.backend), forbidden: [cidr('192.168.64.0/24')] });
    expect(result.ok).toBe(false);
  });
});

describe('lease attributes', () => {
  it('serialises exactly the Flannel shape', () => {
    expect(serializeLeaseAttrs({ publicIP: '192.168.64.3', backendType: 'vxlan', backendData: { VNI: 1, VtepMAC: 'c6:d2:32:6f:8f:44' } })).toBe(
      '{"PublicIP":"192.168.64.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}',
    );
  });
  it('matches a lease to a public IP', () => {
    expect(leaseNamesPublicIP(vxlanValue(), '192.168.64.3')).toBe(true);
    expect(leaseNamesPublicIP(vxlanValue(), '192.168.64.4')).toBe(false);
    expect(leaseNamesPublicIP('garbage', '192.168.64.3')).toBe(false);
  });
  it('parses unicast MACs only', () => {
    expect(parseUnicastMac('02:42:AC:11:00:02')).toBe('02:42:ac:11:00:02');
    expect(parseUnicastMac('ff:ff:ff:ff:ff:ff')).toBeUndefined();
    expect(parseUnicastMac(42)).toBeUndefined();
  });
});

describe('ownedSubnet', () => {
  it('recognises our lease only when it names our PublicIP and fits the Network and SubnetLen', () => {
    expect(formatSubnet(ownedSubnet('10.5.52.0-24', vxlanValue(), vxlanConfig, '192.168.64.3')!)).toBe('10.5.52.0/24');
    expect(ownedSubnet('10.5.52.0-24', vxlanValue(), vxlanConfig, '192.168.64.30')).toBeUndefined();
    expect(ownedSubnet('10.5.52.0-25', vxlanValue(), vxlanConfig, '192.168.64.3')).toBeUndefined();
    expect(ownedSubnet('10.6.52.0-24', vxlanValue(), vxlanConfig, '192.168.64.3')).toBeUndefined();
  });
});
