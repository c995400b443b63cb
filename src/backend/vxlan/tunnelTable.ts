import type { DesiredRoute, DesiredState, DesiredVxlanDevice, SkippedPeer } from '../desiredState.js';
import { type VxlanBackendConfig, effectiveVxlanPort } from './config.js';

/** Who holds a VTEP MAC: the lease key and the address its FDB entry points at. */
interface MacOwner {
  readonly key: string;
  readonly publicIP: string;
}

/**
 * The per-peer entries of one vxlan device, shared by the IPv4 (flannel.<VNI>) and IPv6
 * (flannel-v6.<VNI>) plans: a peer is tunnelled with an FDB entry (its VTEP MAC at its public
 * address), a permanent neighbour (its gateway at that MAC) and a route, or routed directly, or
 * skipped with a reason. A MAC names one endpoint: our own, or another endpoint's, is refused.
 */
export class TunnelTable {
  readonly routes: DesiredRoute[] = [];
  readonly neighs: Array<{ dst: string; lladdr: string }> = [];
  readonly fdb: Array<{ mac: string; dst: string }> = [];
  readonly skipped: SkippedPeer[] = [];
  private readonly macOwner = new Map<string, MacOwner>();

  /**
   * `label` names the family in reasons ("" or "IPv6 "). `winners`, when given, says which lease
   * owns each MAC claimed at several addresses (see macConflicts.ts); without it the first wins.
   */
  constructor(
    private readonly ownMac: string,
    private readonly label: string,
    private readonly winners?: ReadonlyMap<string, MacOwner>,
  ) {}

  skip(key: string, reason: string): void {
    this.skipped.push({ key, reason });
  }

  direct(route: DesiredRoute): void {
    this.routes.push(route);
  }

  /** Tunnels the peer `owner` (its key and public address) through `mac`, via `gateway` on `route`. */
  tunnel(owner: MacOwner, mac: string, gateway: string, route: DesiredRoute): void {
    if (mac === this.ownMac) {
      this.skip(owner.key, `${this.label}VtepMAC ${mac} is this host's own`);
      return;
    }
    const winner = this.winners?.get(mac);
    if (winner && winner.publicIP !== owner.publicIP) {
      this.skip(owner.key, `${this.label}VtepMAC ${mac} is also claimed by the newer lease ${winner.key} at ${winner.publicIP}; the newest lease wins`);
      return;
    }
    const current = this.macOwner.get(mac);
    if (current && current.publicIP !== owner.publicIP) {
      this.skip(owner.key, `${this.label}VtepMAC ${mac} is already used by ${current.key} at ${current.publicIP}`);
      return;
    }
    if (!current) {
      this.macOwner.set(mac, owner);
      this.fdb.push({ mac, dst: owner.publicIP });
    }
    this.neighs.push({ dst: gateway, lladdr: mac });
    this.routes.push(route);
  }

  /** The desired state of `device` with these entries. */
  state(device: DesiredVxlanDevice): DesiredState {
    return { device, routes: this.routes, neighs: this.neighs, fdb: this.fdb, skipped: this.skipped };
  }
}

/** What differs between the IPv4 and the IPv6 device; the rest comes from the Backend config. */
export interface VxlanDeviceSide {
  readonly name: string;
  readonly local: string;
  readonly link: string;
  readonly mtu: number;
  readonly mac: string;
  readonly address: string;
}

export function vxlanDevice(config: VxlanBackendConfig, side: VxlanDeviceSide): DesiredVxlanDevice {
  return { ...side, vni: config.vni, port: effectiveVxlanPort(config), learning: config.learning, gbp: config.gbp };
}
