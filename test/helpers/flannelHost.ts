import { writeFile } from 'node:fs/promises';
import type { FakeKubeApi } from './fakeKubeApi.js';
import { type Host, type NetnsCluster, inNs, tryRun } from './netnsCluster.js';

/** One host's part of a Flannel network: what its lease says. */
export interface FlannelLease {
  /** e.g. 10.90.1.0/24 */
  readonly subnet: string;
  readonly publicIP: string;
  readonly vtepMac: string;
}

export interface FlannelNetwork {
  readonly network: string;
  readonly vni: number;
  readonly ipMasq: boolean;
}

const ANNOTATION = 'flannel.alpha.coreos.com';

function gatewayOf(subnet: string): string {
  return subnet.split('/')[0]!;
}

/** Flannel's lease value, as its etcd registry writes it. */
export function flannelLeaseValue(lease: FlannelLease, vni: number): string {
  return JSON.stringify({ PublicIP: lease.publicIP, PublicIPv6: null, BackendType: 'vxlan', BackendData: { VNI: vni, VtepMAC: lease.vtepMac } });
}

/**
 * What flanneld v0.28 (vxlan backend, iptables mode) does to a host when it starts, in its order,
 * built from its source since no Flannel binary runs here:
 * - the device: flannel.<VNI> created through netlink with no port (the kernel's 8472), no
 *   learning, MTU = external MTU - 50 and its VtepMAC; an existing compatible device is kept as
 *   it is, MAC and all;
 * - the lease's network address as /32 on the device, device up;
 * - FLANNEL-POSTRTG (nat) with --ip-masq and FLANNEL-FWD (filter), jumped to from POSTROUTING
 *   and FORWARD;
 * - subnet.env;
 * - per peer, in this order: a PERMANENT neighbour, a `self permanent` FDB entry, and a plain
 *   route `via <peer>.0 dev flannel.<VNI> onlink` (no protocol), each replacing what is there.
 * Returns the MAC the device has.
 */
export async function flannelStart(
  host: Host,
  net: FlannelNetwork,
  own: FlannelLease,
  peers: readonly FlannelLease[],
  subnetFile: string,
): Promise<string> {
  const dev = `flannel.${net.vni}`;
  const ip = (args: string[]): string => inNs(host.ns, 'ip', args);
  if (!tryRun('ip', ['netns', 'exec', host.ns, 'ip', 'link', 'show', dev]).ok) {
    ip(['link', 'add', dev, 'type', 'vxlan', 'id', String(net.vni), 'local', host.ip, 'dev', 'eth0', 'nolearning']);
    ip(['link', 'set', dev, 'address', own.vtepMac, 'mtu', '1450']);
  }
  ip(['addr', 'replace', `${gatewayOf(own.subnet)}/32`, 'dev', dev]);
  ip(['link', 'set', dev, 'up']);
  const mac = (JSON.parse(ip(['-j', 'link', 'show', dev])) as Array<{ address: string }>)[0]!.address;
  flannelIptables(host, net, own.subnet);
  const [address, length] = own.subnet.split('/');
  const first = address!.replace(/\.0$/, '.1');
  await writeFile(subnetFile, `FLANNEL_NETWORK=${net.network}\nFLANNEL_SUBNET=${first}/${length}\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=${net.ipMasq}\n`);
  for (const peer of peers) {
    ip(['neigh', 'replace', gatewayOf(peer.subnet), 'lladdr', peer.vtepMac, 'dev', dev, 'nud', 'permanent']);
    inNs(host.ns, 'bridge', ['fdb', 'replace', peer.vtepMac, 'dev', dev, 'dst', peer.publicIP, 'self', 'permanent']);
    ip(['route', 'replace', peer.subnet, 'via', gatewayOf(peer.subnet), 'dev', dev, 'onlink']);
  }
  return mac;
}

/** Flannel's iptables rules (trafficmngr/iptables), added only where missing, as its resync does. */
function flannelIptables(host: Host, net: FlannelNetwork, podCidr: string): void {
  const save = inNs(host.ns, 'iptables-save', []);
  const masq = '-m comment --comment "flanneld masq"';
  const fwd = '-m comment --comment "flanneld forward"';
  const cluster = net.network;
  const lines: string[] = [];
  if (net.ipMasq && !save.includes(':FLANNEL-POSTRTG')) {
    lines.push(
      '*nat',
      ':FLANNEL-POSTRTG - [0:0]',
      `-A POSTROUTING ${masq} -j FLANNEL-POSTRTG`,
      `-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 ${masq} -j RETURN`,
      `-A FLANNEL-POSTRTG -s ${podCidr} -d ${cluster} ${masq} -j RETURN`,
      `-A FLANNEL-POSTRTG -s ${cluster} -d ${podCidr} ${masq} -j RETURN`,
      `-A FLANNEL-POSTRTG ! -s ${cluster} -d ${podCidr} ${masq} -j RETURN`,
      `-A FLANNEL-POSTRTG -s ${cluster} ! -d 224.0.0.0/4 ${masq} -j MASQUERADE --random-fully`,
      `-A FLANNEL-POSTRTG ! -s ${cluster} -d ${cluster} ${masq} -j MASQUERADE --random-fully`,
      'COMMIT',
    );
  }
  if (!save.includes(':FLANNEL-FWD')) {
    lines.push('*filter', ':FLANNEL-FWD - [0:0]', `-A FORWARD ${fwd} -j FLANNEL-FWD`, `-A FLANNEL-FWD -s ${cluster} ${fwd} -j ACCEPT`, `-A FLANNEL-FWD -d ${cluster} ${fwd} -j ACCEPT`, 'COMMIT');
  }
  if (lines.length > 0) inNs(host.ns, 'iptables-restore', ['--noflush', '-w', '5'], `${lines.join('\n')}\n`);
}

/** Flannel's etcd registration: the lease key, bound to a 24 h etcd lease. */
export async function flannelEtcdLease(cluster: NetnsCluster, prefix: string, lease: FlannelLease, vni: number): Promise<void> {
  const client = cluster.etcd.client();
  try {
    const etcdLease = client.lease(86_400, { autoKeepAlive: false });
    await etcdLease.put(`${prefix}/subnets/${lease.subnet.replace('/', '-')}`).value(flannelLeaseValue(lease, vni));
  } finally {
    client.close();
  }
}

/** Flannel's kube subnet manager on a node: its annotations and the condition it clears. */
export function flannelNodeAnnotations(api: FakeKubeApi, node: string, lease: FlannelLease, vni: number): void {
  api.updateNode(node, (n) => {
    const metadata = n['metadata'] as { annotations?: Record<string, string> };
    metadata.annotations = {
      ...(metadata.annotations ?? {}),
      [`${ANNOTATION}/kube-subnet-manager`]: 'true',
      [`${ANNOTATION}/backend-type`]: 'vxlan',
      [`${ANNOTATION}/backend-data`]: JSON.stringify({ VNI: vni, VtepMAC: lease.vtepMac }),
      [`${ANNOTATION}/public-ip`]: lease.publicIP,
    };
    n['status'] = { conditions: [{ type: 'NetworkUnavailable', status: 'False', reason: 'FlannelIsUp', message: 'Flannel is running on this node' }] };
  });
}
