import { ConfigError } from '../../src/util/errors.js';
import { parseNetworkConfig, podMtu } from '../../src/backend/registry.js';
import { formatIpv4, formatSubnet } from '../../src/net/ipv4.js';

function parse(obj: unknown) {
  return parseNetworkConfig(JSON.stringify(obj));
}

describe('parseNetworkConfig', () => {
  it('applies Flannel defaults to a minimal config', () => {
    const config = parse({ Network: '10.244.0.0/16' });
    expect(formatSubnet(config.network)).toBe('10.244.0.0/16');
    expect(config.subnetLen).toBe(24);
    expect(formatIpv4(config.subnetMin)).toBe('10.244.1.0');
    expect(formatIpv4(config.subnetMax)).toBe('10.244.255.0');
    expect(config.backend).toEqual({ type: 'vxlan', vni: 1, port: 0, gbp: false, learning: false, directRouting: false, mtu: 0 });
    expect(config.enableIPv4).toBe(true);
  });

  it.each([
    ['10.0.0.0/8', 24],
    ['10.0.0.0/21', 24],
    ['10.0.0.0/22', 24],
    ['10.0.0.0/23', 25],
    ['10.0.0.0/26', 28],
    ['10.0.0.0/28', 30],
  ])('SubnetLen default for %s is /%i', (network, expected) => {
    expect(parse({ Network: network }).subnetLen).toBe(expected);
  });

  it('reads keys case-insensitively like Go encoding/json', () => {
    const config = parse({ network: '10.1.0.0/16', subnetlen: 26, backend: { type: 'host-gw' } });
    expect(config.subnetLen).toBe(26);
    expect(config.backend.type).toBe('host-gw');
  });

  it.each(['VXLAN', 'VxLan', 'Host-GW'])('takes Backend.Type %s case-insensitively, as Flannel does', (type) => {
    expect(parse({ Network: '10.1.0.0/16', Backend: { Type: type } }).backend.type).toBe(type.toLowerCase());
  });

  it("rejects a Network smaller than /28 with Flannel's message, unless SubnetLen is given", () => {
    expect(() => parse({ Network: '10.0.0.0/29' })).toThrow('Network: network is too small. Minimum useful network prefix is /28 (got "10.0.0.0/29")');
    expect(() => parse({ Network: '10.0.0.0/29', SubnetLen: 30 })).toThrow(/SubnetLen/);
  });

  it('reads EnableNFTables, off by default', () => {
    expect(parse({ Network: '10.1.0.0/16' }).enableNFTables).toBe(false);
    expect(parse({ Network: '10.1.0.0/16', EnableNFTables: true }).enableNFTables).toBe(true);
    expect(() => parse({ Network: '10.1.0.0/16', EnableNFTables: 'yes' })).toThrow(/EnableNFTables/);
  });

  it('accepts explicit SubnetMin/SubnetMax and vxlan options', () => {
    const config = parse({
      Network: '10.5.0.0/16',
      SubnetMin: '10.5.10.0',
      SubnetMax: '10.5.20.0',
      Backend: { Type: 'vxlan', VNI: 42, Port: 4789, DirectRouting: true, MTU: 1400, GBP: true, Learning: true },
    });
    expect(formatIpv4(config.subnetMin)).toBe('10.5.10.0');
    expect(formatIpv4(config.subnetMax)).toBe('10.5.20.0');
    expect(config.backend).toEqual({ type: 'vxlan', vni: 42, port: 4789, gbp: true, learning: true, directRouting: true, mtu: 1400 });
  });

  it.each([
    [{}, 'Network', 'nothing'],
    [{ Network: 'banana' }, 'Network', '"banana"'],
    [{ Network: '10.244.1.0/16' }, 'Network', 'host bits'],
    [{ Network: '10.244.0.0/33' }, 'Network', 'prefix length'],
    [{ Network: '10.244.0.0/16', SubnetLen: 31 }, 'SubnetLen', '31'],
    [{ Network: '10.244.0.0/16', SubnetLen: 17 }, 'SubnetLen', '17'],
    [{ Network: '10.244.0.0/16', SubnetLen: 'x' }, 'SubnetLen', '"x"'],
    [{ Network: '10.244.0.0/16', SubnetMin: '10.245.0.0' }, 'SubnetMin', 'outside Network'],
    [{ Network: '10.244.0.0/16', SubnetMax: '10.244.3.7' }, 'SubnetMax', 'boundary'],
    [{ Network: '10.244.0.0/16', SubnetMin: '10.244.9.0', SubnetMax: '10.244.3.0' }, 'SubnetMin', 'above SubnetMax'],
    [{ Network: '10.244.0.0/16', Backend: { Type: 'udp' } }, 'Backend.Type', '"udp"'],
    [{ Network: '10.244.0.0/16', Backend: { VNI: 0 } }, 'Backend.VNI', '0'],
    [{ Network: '10.244.0.0/16', Backend: { VNI: 16777216 } }, 'Backend.VNI', '16777216'],
    [{ Network: '10.244.0.0/16', Backend: { Port: 70000 } }, 'Backend.Port', '70000'],
    [{ Network: '10.244.0.0/16', Backend: { MTU: 100 } }, 'Backend.MTU', '100'],
    [{ Network: '10.244.0.0/16', Backend: { MTU: 600 } }, 'Backend.MTU', 'outer MTU'],
    [{ Network: '10.244.0.0/16', Backend: { DirectRouting: 'yes' } }, 'Backend.DirectRouting', '"yes"'],
    [{ Network: '10.244.0.0/16', Backend: 'vxlan' }, 'Backend', '"vxlan"'],
    [{ Network: '10.244.0.0/16', EnableIPv6: true }, 'IPv6Network', 'got nothing'],
    [{ EnableIPv4: false }, 'EnableIPv4', 'false'],
    [{ EnableIPv6: true, EnableIPv4: false, IPv6Network: 'fc00::1/64' }, 'IPv6Network', 'host bits'],
    [{ EnableIPv6: true, EnableIPv4: false, IPv6Network: '10.0.0.0/8' }, 'IPv6Network', '10.0.0.0/8'],
    [{ EnableIPv6: true, EnableIPv4: false, IPv6Network: 'fc00::/125' }, 'IPv6Network', '/124'],
    [{ EnableIPv6: true, EnableIPv4: false, IPv6Network: 'fc00::/48', IPv6SubnetLen: 127 }, 'IPv6SubnetLen', '127'],
    [{ EnableIPv6: true, EnableIPv4: false, IPv6Network: 'fc00::/48', IPv6SubnetLen: 49 }, 'IPv6SubnetLen', '49'],
    [{ EnableIPv6: true, EnableIPv4: false, IPv6Network: 'fc00::/48', IPv6SubnetMin: 'fc01::' }, 'IPv6SubnetMin', 'outside IPv6Network'],
    [{ EnableIPv6: true, EnableIPv4: false, IPv6Network: 'fc00::/48', IPv6SubnetMax: 'fc00:0:0:5::1' }, 'IPv6SubnetMax', 'boundary'],
    [{ EnableIPv6: true, EnableIPv4: false, IPv6Network: 'fc00::/48', IPv6SubnetMin: 'fc00:0:0:9::', IPv6SubnetMax: 'fc00:0:0:3::' }, 'IPv6SubnetMin', 'above'],
    [[1, 2], 'network config', '[1,2]'],
  ])('rejects %j naming %s', (input, field, valueText) => {
    let error: unknown;
    try {
      parse(input);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).field).toBe(field);
    expect((error as ConfigError).message).toContain(valueText);
  });

  it('rejects text that is not JSON', () => {
    expect(() => parseNetworkConfig('{"Network":')).toThrow(/not valid JSON/);
  });

  it('computes pod MTU per backend; Backend.MTU is the outer MTU, as in Flannel', () => {
    expect(podMtu(parse({ Network: '10.0.0.0/8' }).backend, 1500)).toBe(1450);
    expect(podMtu(parse({ Network: '10.0.0.0/8', Backend: { MTU: 1300 } }).backend, 1500)).toBe(1250);
    expect(podMtu(parse({ Network: '10.0.0.0/8', Backend: { MTU: 9000 } }).backend, 1500)).toBe(8950);
    expect(podMtu(parse({ Network: '10.0.0.0/8', Backend: { Type: 'host-gw' } }).backend, 9000)).toBe(9000);
  });
});
