import type { KernelPlan } from '../backend/diff.js';
import { type BatchFailure, runBatch } from './iprouteBatch.js';
import { readActualState } from './kernelReader.js';
import type { ActualState } from './kernelState.js';

export interface ApplyResult {
  readonly applied: number;
  readonly failures: readonly BatchFailure[];
}

/** The reconciler's view of the kernel: read what is there, apply a plan. */
export interface KernelPort {
  read(vxlanDevice: string | undefined, withNexthops: boolean): Promise<ActualState>;
  apply(plan: KernelPlan): Promise<ApplyResult>;
}

/** The real kernel, through iproute2: at most three processes per reconcile, whatever the peer count. */
export const iprouteKernel: KernelPort = {
  read: readActualState,
  async apply(plan) {
    const results = [];
    // In order: the device must exist before FDB entries hang off it, FDB before routes use it.
    results.push(await runBatch('ip', plan.device));
    results.push(await runBatch('bridge', plan.fdb));
    results.push(await runBatch('ip', plan.ip));
    return {
      applied: results.reduce((n, r) => n + r.applied, 0),
      failures: results.flatMap((r) => r.failures),
    };
  },
};
