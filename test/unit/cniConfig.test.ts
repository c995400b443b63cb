import { CniError } from '../../src/cni/cniError.js';
import { buildDelegateConfig, parseSubnetEnvValues } from '../../src/cni/delegateConfig.js';
import { parseNetConf } from '../../src/cni/netconf.js';

const env = parseSubnetEnvValues('FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.3.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n', '/run/flannel/subnet.env');

describe('CNI network config', () => {
  it('applies the defaults', () => {
    const conf = parseNetConf('{"cniVersion":"1.0.0","name":"cbr0","type":"flannel"}');
    expect(conf).toMatchObject({ subnetFile: '/run/flannel/subnet.env', dataDir: '/var/lib/cni/flannel', delegate: {}, ipam: {} });
  });

  it.each([
    ['not json', 6],
    ['[1]', 6],
    ['{"cniVersion":"9.9.9"}', 1],
    ['{"cniVersion":"1.0.0","dataDir":"relative"}', 7],
    ['{"cniVersion":"1.0.0","delegate":"bridge"}', 7],
    ['{"cniVersion":"1.0.0","subnetFile":""}', 7],
  ])('rejects %s with code %i', (text, code) => {
    expect(() => parseNetConf(text)).toThrow(CniError);
    try {
      parseNetConf(text);
    } catch (err) {
      expect((err as CniError).code).toBe(code);
    }
  });
});

describe('subnet.env for the plugin', () => {
  it('reads the host subnet as a network address', () => {
    expect(env).toEqual({ network: '10.244.0.0/16', subnet: '10.244.3.0/24', mtu: 1450, ipMasq: true });
  });
  it('names the file and the variable when one is bad', () => {
    expect(() => parseSubnetEnvValues('FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.3.1/24\nFLANNEL_MTU=big\nFLANNEL_IPMASQ=true\n', '/x/subnet.env')).toThrow(
      /\/x\/subnet\.env: FLANNEL_MTU is missing or invalid \(got "big"\)/,
    );
  });
});

describe('buildDelegateConfig', () => {
  it("generates Flannel's bridge + host-local delegate", () => {
    const conf = parseNetConf('{"cniVersion":"0.3.1","name":"cbr0","type":"flannel"}');
    expect(buildDelegateConfig(conf, env)).toEqual({
      cniVersion: '0.3.1',
      name: 'cbr0',
      type: 'bridge',
      isGateway: true,
      mtu: 1450,
      ipMasq: false,
      ipam: { type: 'host-local', ranges: [[{ subnet: '10.244.3.0/24' }]], routes: [{ dst: '10.244.0.0/16', gw: '10.244.3.1' }] },
    });
  });

  it('lets delegate and ipam keys win, except name, cniVersion, ranges; keeps user routes', () => {
    const conf = parseNetConf(
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'weft2',
        type: 'weft',
        delegate: { bridge: 'cni1', mtu: 1400, isGateway: false, hairpinMode: true, name: 'ignored', cniVersion: '0.1.0' },
        ipam: { dataDir: '/var/lib/weft2', ranges: [[{ subnet: '1.2.3.0/24' }]], routes: [{ dst: '0.0.0.0/0' }] },
      }),
    );
    expect(buildDelegateConfig(conf, env)).toEqual({
      cniVersion: '1.0.0',
      name: 'weft2',
      type: 'bridge',
      isGateway: false,
      mtu: 1400,
      ipMasq: false,
      bridge: 'cni1',
      hairpinMode: true,
      ipam: { type: 'host-local', dataDir: '/var/lib/weft2', ranges: [[{ subnet: '10.244.3.0/24' }]], routes: [{ dst: '0.0.0.0/0' }, { dst: '10.244.0.0/16', gw: '10.244.3.1' }] },
    });
  });

  it('adds IPv6 ranges and routes when subnet.env has them', () => {
    const v6 = { ...env, ipv6Network: 'fd00::/48', ipv6Subnet: 'fd00:0:0:3::/64' };
    const ipam = buildDelegateConfig(parseNetConf('{"cniVersion":"1.0.0"}'), v6)['ipam'] as { ranges: unknown[]; routes: unknown[] };
    expect(ipam.ranges).toEqual([[{ subnet: '10.244.3.0/24' }], [{ subnet: 'fd00:0:0:3::/64' }]]);
    expect(ipam.routes).toEqual([{ dst: '10.244.0.0/16', gw: '10.244.3.1' }, { dst: 'fd00::/48' }]);
  });

  it('passes ipMasq through only when the agent does not masquerade', () => {
    expect(buildDelegateConfig(parseNetConf('{"cniVersion":"1.0.0"}'), { ...env, ipMasq: false })['ipMasq']).toBe(true);
  });
});
