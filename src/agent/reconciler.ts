import { EventEmitter } from 'node:events';
import type { Logger } from 'winston';
import type { DesiredState } from '../backend/desiredState.js';
import { type OwnershipScope, diffKernelState } from '../backend/diff.js';
import { planIsEmpty } from '../kernel/kernelPlan.js';
import { errorMessage } from '../util/errors.js';
import type { ApplyResult, KernelPort } from '../kernel/kernelPort.js';
import { type KeyedReason, ReportOncePerKey } from '../util/reportOncePerKey.js';
import { PeerBackoff, type PeerIdentity } from './peerBackoff.js';

/**
 * False for a pass in which every kernel operation failed: it programmed nothing to route over
 * (without CAP_NET_ADMIN not even the device can be created). A pass with some failures still
 * programmed the rest, and its failures are retried.
 */
export function programmedKernel(result: ReconcileResult): boolean {
  return result.failed === 0 || result.applied > 0;
}

export interface ReconcileResult {
  readonly applied: number;
  readonly failed: number;
  readonly durationMs: number;
  readonly peers: number;
  /** Peers left out of the plan because the kernel keeps refusing their entries. */
  readonly heldBack: number;
  /** Valid leases the backend could not route (a duplicate WireGuard key, say). */
  readonly skipped: number;
  /** What asked for this pass ('leases changed', 'kernel changed', 'resync', …). */
  readonly reasons: readonly string[];
}

/** What the backend wants now, and for how many peers (for logs and metrics). */
export interface PlannedState {
  readonly desired: DesiredState;
  readonly peers: number;
}

export interface ReconcilerOptions {
  readonly kernel: KernelPort;
  /** Plans from the current leases, fresh at every pass; undefined while there is nothing to plan. */
  readonly plan: () => PlannedState | undefined;
  readonly scope: OwnershipScope;
  readonly logger: Logger;
  /** Coalesces bursts of triggers (a relist, a watch response, monitor lines) into one pass. */
  readonly debounceMs?: number;
  /** Full kernel diff at this interval even when nothing announced a change. */
  readonly resyncMs?: number;
}

/**
 * Level-triggered reconciliation: every pass plans from the full current inputs and diffs against
 * what the kernel really holds, so a lost event, a restart or someone else's edit all converge
 * the same way. At most one pass runs at a time; triggers during a pass cause exactly one more.
 *
 * Events: `reconciled` (ReconcileResult), `failed` (Error).
 */
export class Reconciler extends EventEmitter {
  private timer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private pendingReasons = new Set<string>();
  private stopped = false;
  private readonly skipReports = new ReportOncePerKey();
  private passes = 0;
  private readonly backoff: PeerBackoff;
  private programming = 0;

  constructor(private readonly options: ReconcilerOptions) {
    super();
    this.backoff = new PeerBackoff({ logger: options.logger, onRelease: () => this.trigger('peer backoff over') });
  }

  /**
   * For plan(): the peers to plan in this pass, leaving out those whose kernel operations keep
   * failing (see PeerBackoff). The pass's failures are charged to the peers admitted here.
   */
  admitPeers<P extends PeerIdentity>(peers: readonly P[]): P[] {
    return this.backoff.admit(peers);
  }

  start(): void {
    const resyncMs = this.options.resyncMs ?? 30_000;
    this.resyncTimer = setInterval(() => this.trigger('resync'), resyncMs);
    this.resyncTimer.unref();
    this.trigger('start');
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.resyncTimer);
    clearTimeout(this.retryTimer);
    this.backoff.stop();
  }

  /** Number of completed passes. */
  get completedPasses(): number {
    return this.passes;
  }

  /** Completed passes that programmed the kernel (see programmedKernel), for readiness. */
  get programmingPasses(): number {
    return this.programming;
  }

  trigger(reason: string): void {
    if (this.stopped) return;
    this.pendingReasons.add(reason);
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer) return;
    this.options.logger.debug('reconcile scheduled', { reason });
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.loop().finally(() => (this.running = undefined));
    }, this.options.debounceMs ?? 10);
  }

  /** Runs passes until no trigger arrived during the last one. */
  private async loop(): Promise<void> {
    do {
      this.again = false;
      try {
        const result = await this.reconcileOnce();
        if (result && programmedKernel(result)) this.programming++;
        if (result) this.emit('reconciled', result);
        if (result && result.failed > 0) this.retrySoon();
      } catch (err) {
        this.options.logger.error('reconcile failed; will retry', { error: errorMessage(err) });
        this.emit('failed', err instanceof Error ? err : new Error(String(err)));
        this.retrySoon();
      }
    } while (this.again && !this.stopped);
  }

  private retrySoon(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.trigger('retry after failure'), 1_000);
    this.retryTimer.unref();
  }

  private async reconcileOnce(): Promise<ReconcileResult | undefined> {
    const reasons = [...this.pendingReasons];
    this.pendingReasons.clear();
    const started = performance.now();
    const planned = this.options.plan();
    if (!planned) return undefined;
    const { desired, peers } = planned;
    this.reportSkipped(desired.skipped);
    const plannedAt = performance.now();
    const actual = await this.options.kernel.read(desired.device?.name, this.options.scope.useNexthops, desired.wireguard?.map((w) => w.name));
    const read = performance.now();
    const plan = diffKernelState(desired, actual, this.options.scope);
    const diffed = performance.now();
    let applied = 0;
    let failures: ApplyResult['failures'] = [];
    if (!planIsEmpty(plan)) {
      const result = await this.options.kernel.apply(plan);
      const done = performance.now();
      applied = result.applied;
      failures = result.failures;
      const failed = failures.length;
      for (const notice of result.notices ?? []) this.options.logger.warn(notice);
      for (const failure of result.failures.slice(0, 10)) {
        this.options.logger.warn('kernel operation failed', { command: failure.command, error: failure.error });
      }
      this.options.logger.info('kernel state reconciled', {
        device: plan.device.length,
        fdb: plan.fdb.length,
        ...(plan.wireguard ? { wireguard: plan.wireguard.filter((w) => w.create || w.config || w.link.length > 0).length } : {}),
        ip: plan.ip.length,
        failed,
        peers,
        ms: {
          plan: Math.round(plannedAt - started),
          read: Math.round(read - plannedAt),
          diff: Math.round(diffed - read),
          apply: Math.round(done - diffed),
        },
      });
    }
    this.backoff.afterPass(failures);
    this.passes++;
    return {
      applied,
      failed: failures.length,
      durationMs: performance.now() - started,
      peers,
      heldBack: this.backoff.heldCount(),
      skipped: desired.skipped.length,
      reasons,
    };
  }

  /** Says once per peer and reason why a valid lease is not routed, not on every pass. */
  private reportSkipped(skipped: readonly KeyedReason[]): void {
    this.skipReports.update(skipped, ({ key, reason }) => this.options.logger.warn('peer not routed', { key, reason }));
  }
}
