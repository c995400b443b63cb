import type { Secret } from '../util/secret.js';

/**
 * Batch lines in the order they must run: the device first (everything else hangs off it), then
 * FDB (so a route never points at a MAC the tunnel cannot reach), then neighbours and routes.
 * The kernel layer owns this shape; the backend layer's diff fills it.
 */
export interface KernelPlan {
  readonly device: readonly string[];
  readonly fdb: readonly string[];
  readonly ip: readonly string[];
  /** WireGuard devices, brought in line before the other steps (routes hang off them). */
  readonly wireguard?: readonly WireguardDevicePlan[];
}

/** One WireGuard device's step: the link, then its configuration through `wg syncconf`. */
export interface WireguardDevicePlan {
  readonly name: string;
  /** Delete the existing link first: wrong kind, or a device no `wg` can reach. */
  readonly recreate: boolean;
  /** Create the link (kernel module if present, else wireguard-go). */
  readonly create: boolean;
  /** `ip -batch` lines for the link itself: MTU, up, addresses. */
  readonly link: readonly string[];
  /** The full `wg syncconf` input (it carries the private key), when the device's config differs. */
  readonly config?: Secret;
}

function wireguardPlanIsEmpty(plan: WireguardDevicePlan): boolean {
  return !plan.recreate && !plan.create && plan.link.length === 0 && plan.config === undefined;
}

export function planIsEmpty(plan: KernelPlan): boolean {
  return (
    plan.device.length === 0 &&
    plan.fdb.length === 0 &&
    plan.ip.length === 0 &&
    (plan.wireguard ?? []).every(wireguardPlanIsEmpty)
  );
}
