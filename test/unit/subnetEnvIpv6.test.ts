import { formatSubnetEnv, previousIpv6SubnetFromEnv, previousSubnetFromEnv } from '../../src/agent/subnetEnv.js';
import { formatIpv6Subnet } from '../../src/net/ipv6.js';
import { ipv4Cidr as v4, ipv6Cidr as v6 } from '../helpers/cidr.js';


describe('subnet.env with IPv6 (Flannel WriteSubnetFile)', () => {
  const ipv6 = { network: v6('fc00::/48'), subnet: v6('fc00:0:0:22::/64') };

  it('writes the IPv6 lines after the IPv4 ones in a dual-stack network', () => {
    const text = formatSubnetEnv({ network: v4('10.244.0.0/16'), subnet: v4('10.244.3.0/24'), mtu: 1450, ipMasq: true, ipv6 });
    expect(text).toBe(
      'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.3.1/24\n' +
        'FLANNEL_IPV6_NETWORK=fc00::/48\nFLANNEL_IPV6_SUBNET=fc00:0:0:22::1/64\n' +
        'FLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n',
    );
    expect(formatIpv6Subnet(previousIpv6SubnetFromEnv(text)!)).toBe('fc00:0:0:22::/64');
  });

  it('omits the IPv4 lines in an IPv6-only network', () => {
    const text = formatSubnetEnv({ network: v4('0.0.0.0/0'), subnet: v4('0.0.0.0/0'), ipv4: false, mtu: 1430, ipMasq: false, ipv6 });
    expect(text).toBe('FLANNEL_IPV6_NETWORK=fc00::/48\nFLANNEL_IPV6_SUBNET=fc00:0:0:22::1/64\nFLANNEL_MTU=1430\nFLANNEL_IPMASQ=false\n');
    expect(previousSubnetFromEnv(text)).toBeUndefined();
  });

  it.each(['FLANNEL_IPV6_SUBNET=fc00::1\n', 'FLANNEL_IPV6_SUBNET=fe80::1%eth0/64\n', 'FLANNEL_IPV6_SUBNET=fc00::1/200\n', ''])('ignores %j', (text) => {
    expect(previousIpv6SubnetFromEnv(text)).toBeUndefined();
  });
});
