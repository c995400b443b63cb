import { formatIpv4, formatSubnet, parseIpv4Cidr } from '../net/ipv4.js';
import { parseEnvFile, previousSubnetFromEnv } from '../subnetEnv.js';
import { CniCode, CniError } from './cniError.js';
import type { FlannelNetConf } from './netconf.js';

/** What the agent published in subnet.env, validated. */
export interface SubnetEnvValues {
  readonly network: string;
  /** The host's subnet as a network address, e.g. 10.244.3.0/24. */
  readonly subnet: string;
  readonly mtu: number;
  readonly ipMasq: boolean;
  readonly ipv6Network?: string;
  readonly ipv6Subnet?: string;
}

function firstHost(cidr: string): string {
  const parsed = parseIpv4Cidr(cidr);
  if (!parsed.ok) throw new CniError(CniCode.InvalidNetworkConfig, `subnet ${cidr}: ${parsed.reason}`);
  return formatIpv4(parsed.subnet.address + 1);
}

export function parseSubnetEnvValues(text: string, path: string): SubnetEnvValues {
  const vars = parseEnvFile(text);
  const bad = (name: string): CniError =>
    new CniError(CniCode.InvalidNetworkConfig, `${path}: ${name} is missing or invalid (got ${JSON.stringify(vars.get(name) ?? null)})`);
  const networkText = vars.get('FLANNEL_NETWORK') ?? '';
  const network = parseIpv4Cidr(networkText);
  if (!network.ok) throw bad('FLANNEL_NETWORK');
  const subnet = previousSubnetFromEnv(text);
  if (!subnet) throw bad('FLANNEL_SUBNET');
  const mtu = Number(vars.get('FLANNEL_MTU'));
  if (!Number.isInteger(mtu) || mtu < 576 || mtu > 65_535) throw bad('FLANNEL_MTU');
  const ipMasqText = vars.get('FLANNEL_IPMASQ');
  if (ipMasqText !== 'true' && ipMasqText !== 'false') throw bad('FLANNEL_IPMASQ');
  const ipv6Network = vars.get('FLANNEL_IPV6_NETWORK');
  const ipv6Subnet = vars.get('FLANNEL_IPV6_SUBNET');
  return {
    network: formatSubnet(network.subnet),
    subnet: formatSubnet(subnet),
    mtu,
    ipMasq: ipMasqText === 'true',
    ...(ipv6Network ? { ipv6Network } : {}),
    ...(ipv6Subnet ? { ipv6Subnet } : {}),
  };
}

/**
 * The delegate (bridge by default) config Flannel's plugin generates, per DESIGN.md "CNI plugin":
 * host-local IPAM over this host's subnet with a route to the whole network, MTU from subnet.env,
 * ipMasq only when the agent does not masquerade, bridge as gateway. Keys present in `delegate`
 * win, except name, cniVersion and ipam; keys present in `ipam` win, except ranges (always this
 * host's subnet), and its routes are kept with the network's appended. That is Flannel's merge.
 */
export function buildDelegateConfig(conf: FlannelNetConf, env: SubnetEnvValues): Record<string, unknown> {
  const ranges: unknown[] = [[{ subnet: env.subnet }]];
  // The gateway host-local gives the bridge (the subnet's first address), named explicitly: the
  // kernel route is the same as Flannel's gateway-less one, but the bridge plugin's CHECK compares
  // prevResult routes with the routing table and fails on a route without its gateway.
  const routes: unknown[] = [{ dst: env.network, gw: firstHost(env.subnet) }];
  if (env.ipv6Subnet) ranges.push([{ subnet: env.ipv6Subnet }]);
  if (env.ipv6Network) routes.push({ dst: env.ipv6Network });
  const userRoutes = Array.isArray(conf.ipam['routes']) ? (conf.ipam['routes'] as unknown[]) : [];
  const ipam = { type: 'host-local', ...conf.ipam, ranges, routes: [...userRoutes, ...routes] };
  const type = typeof conf.delegate['type'] === 'string' ? (conf.delegate['type'] as string) : 'bridge';
  return {
    type,
    ...(type === 'bridge' ? { isGateway: true } : {}),
    mtu: env.mtu,
    ipMasq: !env.ipMasq,
    ...conf.delegate,
    name: conf.name,
    cniVersion: conf.cniVersion,
    ipam,
  };
}
