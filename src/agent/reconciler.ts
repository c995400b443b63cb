import { EventEmitter } from 'node:events';
import type { Logger } from 'winston';
import type { ChangePlan } from '../backend/desiredIndex.js';
import type { DesiredState } from '../backend/desiredState.js';
import { type OwnershipScope, diffKernelState } from '../backend/diff.js';
import type { KernelEvent } from '../kernel/kernelEvents.js';
import { type KernelPlan, planIsEmpty } from '../kernel/kernelPlan.js';
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
  /** Planned from the changed leases alone, against the state the last pass left (no kernel read). */
  readonly incremental: boolean;
}

/** The trigger for a lease change: the one reason a pass may take the fast path for. */
export const LEASES_CHANGED = 'leases changed';

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
  /**
   * Full kernel diff at about this interval even when nothing announced a change; each wait is
   * drawn from ±RESYNC_JITTER of it. Drift is repaired as it happens through the kernel monitor,
   * so this pass only covers what the monitor could miss (see DEFAULT_RESYNC_MS).
   */
  readonly resyncMs?: number;
  /** For tests: a number in [0, 1) that places each resync wait inside its jitter band. */
  readonly random?: () => number;
  /**
   * The fast path: plans only the leases that changed since the last plan, as operations against
   * the state that plan left. Undefined when it cannot (the peer set was reset, nothing to plan):
   * a full pass runs instead.
   */
  readonly planChanges?: () => ChangePlan | undefined;
  /** Is this kernel event accounted for by the last plan (our own write echoed back, or not this plane's)? */
  readonly expects?: (event: KernelEvent) => boolean;
}

/**
 * The safety-net resync: every 10 minutes. At 10000 peers one full read and diff costs about a
 * CPU-second, which every 30 s was most of an idle agent's CPU (docs/benchmarks.md). Drift is
 * repaired through `ip monitor` / `bridge monitor` within milliseconds, and a monitor that exits
 * triggers a pass when it is back, so the timer is left with what nothing announces: events the
 * kernel dropped, or a bug. Flannel has no periodic full resync at all.
 */
export const DEFAULT_RESYNC_MS = 10 * 60_000;
/** ±10%: agents started together (a rollout) do not resync in lockstep. */
export const RESYNC_JITTER = 0.1;

/**
 * Level-triggered reconciliation: a full pass plans from the full current inputs and diffs against
 * what the kernel really holds, so a lost event, a restart or someone else's edit all converge
 * the same way. At most one pass runs at a time; triggers during a pass cause exactly one more.
 *
 * A pass asked for by lease changes alone takes the fast path (planChanges): the operations the
 * change implies, without reading the kernel, as long as the last pass left the kernel exactly as
 * planned. Anything else (start, resync, a failed operation, a kernel change the last plan does
 * not account for, a monitor restart) makes the next pass a full one.
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
  /** The kernel holds what the last plan says, as far as we know: the fast path may build on it. */
  private asPlanned = false;

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
    this.scheduleResync();
    this.trigger('start');
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.resyncTimer);
    clearTimeout(this.retryTimer);
    this.backoff.stop();
  }

  private scheduleResync(): void {
    if (this.stopped) return;
    const base = this.options.resyncMs ?? DEFAULT_RESYNC_MS;
    const wait = base * (1 - RESYNC_JITTER + 2 * RESYNC_JITTER * (this.options.random ?? Math.random)());
    this.resyncTimer = setTimeout(() => {
      this.trigger('resync');
      this.scheduleResync();
    }, wait);
    this.resyncTimer.unref();
  }

  /** Number of completed passes. */
  get completedPasses(): number {
    return this.passes;
  }

  /** Completed passes that programmed the kernel (see programmedKernel), for readiness. */
  get programmingPasses(): number {
    return this.programming;
  }

  /**
   * Kernel changes seen by the monitor: a pass is due only for one the last plan does not account
   * for. Our own writes come back this way too, and re-reading 10000 peers' tables to find them
   * in place is what made every change cost a second full pass.
   */
  kernelChanged(events: readonly KernelEvent[]): void {
    const expects = this.options.expects;
    if (this.asPlanned && expects && events.every(expects)) return;
    this.trigger('kernel changed');
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
        this.asPlanned = false;
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
    const planChanges = this.options.planChanges;
    const change = planChanges && this.fastPathAllowed(reasons) ? planChanges() : undefined;
    if (change) {
      this.reportSkipped(change.skipped);
      const planned = performance.now();
      const applied = await this.apply(change.plan, change.peers, 'fast', { plan: planned - started });
      if (applied.failures.length > 0) this.asPlanned = false;
      this.passes++;
      return this.result(applied, started, change.peers, change.skipped.length, reasons, true);
    }
    const planned = this.options.plan();
    if (!planned) {
      this.asPlanned = false;
      return undefined;
    }
    const { desired, peers } = planned;
    this.asPlanned = true;
    this.reportSkipped(desired.skipped);
    const plannedAt = performance.now();
    const actual = await this.options.kernel.read(desired.device?.name, this.options.scope.useNexthops, desired.wireguard?.map((w) => w.name));
    const read = performance.now();
    const plan = diffKernelState(desired, actual, this.options.scope);
    const diffed = performance.now();
    const applied = await this.apply(plan, peers, 'full', { plan: plannedAt - started, read: read - plannedAt, diff: diffed - read });
    if (applied.failures.length > 0) this.asPlanned = false;
    this.backoff.afterPass(applied.failures);
    this.passes++;
    return this.result(applied, started, peers, desired.skipped.length, reasons, false);
  }

  /**
   * Only lease changes, onto a kernel known to hold the last plan, with no peer under backoff
   * (whose failures a full pass must count against it).
   */
  private fastPathAllowed(reasons: readonly string[]): boolean {
    return this.asPlanned && reasons.every((r) => r === LEASES_CHANGED) && this.backoff.idle();
  }

  private async apply(plan: KernelPlan, peers: number, kind: 'fast' | 'full', ms: Record<string, number>): Promise<ApplyResult> {
    if (planIsEmpty(plan)) return { applied: 0, failures: [] };
    const started = performance.now();
    const result = await this.options.kernel.apply(plan);
    const failures = result.failures;
    for (const notice of result.notices ?? []) this.options.logger.warn(notice);
    for (const failure of failures.slice(0, 10)) {
      this.options.logger.warn('kernel operation failed', { command: failure.command, error: failure.error });
    }
    const timings: Record<string, number> = {};
    for (const [phase, value] of Object.entries({ ...ms, apply: performance.now() - started })) timings[phase] = Math.round(value);
    this.options.logger.info('kernel state reconciled', {
      kind,
      device: plan.device.length,
      fdb: plan.fdb.length,
      ...(plan.wireguard ? { wireguard: plan.wireguard.filter((w) => w.create || w.config || w.link.length > 0).length } : {}),
      ip: plan.ip.length,
      failed: failures.length,
      peers,
      ms: timings,
    });
    return result;
  }

  private result(
    { applied, failures }: ApplyResult,
    started: number,
    peers: number,
    skipped: number,
    reasons: readonly string[],
    incremental: boolean,
  ): ReconcileResult {
    return {
      applied,
      failed: failures.length,
      durationMs: performance.now() - started,
      peers,
      heldBack: this.backoff.heldCount(),
      skipped,
      reasons,
      incremental,
    };
  }

  /** Says once per peer and reason why a valid lease is not routed, not on every pass. */
  private reportSkipped(skipped: readonly KeyedReason[]): void {
    this.skipReports.update(skipped, ({ key, reason }) => this.options.logger.warn('peer not routed', { key, reason }));
  }
}
