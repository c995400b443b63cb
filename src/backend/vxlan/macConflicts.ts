import type { PeerLease } from '../../subnet/lease.js';
import { type PeerGrouping, ownGroup } from '../backend.js';
import type { PeerData } from '../registry.js';

/** What the rule needs of a peer: its lease identity, where it is, and when its lease was created. */
export interface MacClaim {
  readonly key: string;
  readonly subnet: { readonly address: number };
  readonly publicIP: string;
  readonly created?: number;
}

/**
 * Which lease owns each VtepMAC when several leases at different PublicIPs claim it. A MAC can
 * have one FDB destination only, so one of them must lose. The newest lease wins (latest
 * creation in the datastore; without creation order, the lower subnet), because that is the one
 * a live host wrote: the honest way to get two leases with one MAC is a host that was re-addressed
 * or moved and kept its MAC, and its old lease is never renewed and expires within 24 h. A writer
 * who copies a MAC on purpose can overwrite any lease anyway; no rule here can stop that, so the
 * conflict is made visible instead (the loser is skipped with a reason: logged once, counted in
 * weft_peers_not_routed, listed by `weft status`).
 */
export function vtepMacOwners<P extends MacClaim>(claims: ReadonlyArray<{ readonly mac: string; readonly peer: P }>): Map<string, P> {
  const owners = new Map<string, P>();
  for (const { mac, peer } of claims) {
    const owner = owners.get(mac);
    if (!owner || newer(peer, owner)) owners.set(mac, peer);
  }
  return owners;
}

function newer(a: MacClaim, b: MacClaim): boolean {
  const [ca, cb] = [a.created ?? 0, b.created ?? 0];
  if (ca !== cb) return ca > cb;
  return a.subnet.address < b.subnet.address;
}

/**
 * Peers claiming one VtepMAC depend on each other (the rule above picks one of them), so they are
 * planned together; a peer without vxlan data depends on no other.
 */
export const groupByVtepMac: PeerGrouping = (peer) => (peer.data.backend === 'vxlan' ? peer.data.vtepMac : ownGroup(peer));

/** The same over the IPv6 VtepMAC, for flannel-v6.<VNI>. */
export const groupByIpv6VtepMac: PeerGrouping = (peer: PeerLease<PeerData>) =>
  peer.ipv6?.data.backend === 'vxlan' ? peer.ipv6.data.vtepMac : ownGroup(peer);
