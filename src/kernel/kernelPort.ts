import type { KernelPlan } from './kernelPlan.js';
import { type BatchFailure, runBatch } from './iprouteBatch.js';
import { readActualState } from './kernelReader.js';
import { applyWireguard } from './wireguard.js';
import type { ActualState } from './kernelState.js';

export interface ApplyResult {
  readonly applied: number;
  readonly failures: readonly BatchFailure[];
  /** Things to tell the operator once, such as the userspace WireGuard fallback. */
  readonly notices?: readonly string[];
}

/** The reconciler's view of the kernel: read what is there, apply a plan. */
export interface KernelPort {
  read(vxlanDevice: string | undefined, withNexthops: boolean, wireguardDevices?: readonly string[]): Promise<ActualState>;
  apply(plan: KernelPlan): Promise<ApplyResult>;
}

/** The real kernel, through iproute2: at most three processes per reconcile, whatever the peer count. */
export const iprouteKernel: KernelPort = iprouteKernelFor(4);

/**
 * The kernel as one address family's plane sees it: reads are of that family's tables only
 * (`ip -4` / `ip -6`), so each plane diffs against exactly the state it may own.
 */
export function iprouteKernelFor(family: 4 | 6): KernelPort {
  return { read: (device, withNexthops, wireguardDevices) => readActualState(device, withNexthops, wireguardDevices, family), apply: applyPlan };
}

async function applyPlan(plan: KernelPlan): Promise<ApplyResult> {
  // The device must exist before anything hangs off it. FDB entries and the ip batch
  // (neighbours, nexthops, routes) do not depend on each other, so the two run at once: the
  // kernel work of 10000 peers is then spread over two cores.
  const wireguard = plan.wireguard ? await applyWireguard(plan.wireguard) : undefined;
  const results = [...(wireguard ? [wireguard] : []), await runBatch('ip', plan.device)];
  results.push(...(await Promise.all([runBatch('bridge', plan.fdb), runBatch('ip', plan.ip)])));
  return {
    applied: results.reduce((n, r) => n + r.applied, 0),
    failures: results.flatMap((r) => r.failures),
    ...(wireguard && wireguard.notices.length > 0 ? { notices: wireguard.notices } : {}),
  };
}
