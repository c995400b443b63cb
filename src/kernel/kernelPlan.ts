/**
 * Batch lines in the order they must run: the device first (everything else hangs off it), then
 * FDB (so a route never points at a MAC the tunnel cannot reach), then neighbours and routes.
 * The kernel layer owns this shape; the backend layer's diff fills it.
 */
export interface KernelPlan {
  readonly device: readonly string[];
  readonly fdb: readonly string[];
  readonly ip: readonly string[];
}

export function planIsEmpty(plan: KernelPlan): boolean {
  return plan.device.length === 0 && plan.fdb.length === 0 && plan.ip.length === 0;
}
