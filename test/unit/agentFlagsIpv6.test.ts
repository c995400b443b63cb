import { parseAgentArgs } from '../../src/cli/program.js';

describe('weft agent IPv6 flags', () => {
  afterEach(() => {
    delete process.env['FLANNELD_PUBLIC_IPV6'];
  });

  it('takes --public-ipv6 (normalised) and --iface-can-reach with an IPv6 address', () => {
    const options = parseAgentArgs(['--public-ipv6', 'FD00:0:0::1', '--iface-can-reach', 'fd00::99']);
    expect(options.publicIpv6).toBe('fd00::1');
    expect(options.ifaceCanReach).toBe('fd00::99');
    process.env['FLANNELD_PUBLIC_IPV6'] = '2001:db8::7';
    expect(parseAgentArgs([]).publicIpv6).toBe('2001:db8::7');
  });

  it.each([['--public-ipv6', '10.0.0.1'], ['--public-ipv6', 'fe80::1%eth0'], ['--public-ip', 'fd00::1'], ['--iface-can-reach', 'nope']])('rejects %s %s', (flag, value) => {
    expect(() => parseAgentArgs([flag, value])).toThrow(new RegExp(flag));
  });
});
