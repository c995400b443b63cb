import type { Logger } from 'winston';
import { type NftRulesetEvent, parseNftMonitorLine } from '../nftables/monitorEvents.js';
import { Backoff } from '../util/backoff.js';
import { type LineStream, streamLines } from './exec.js';

/** A keeper that hears about ruleset changes. */
export interface NftChangeListener {
  /** Whether an event may have changed what this listener keeps. */
  concerns(event: NftRulesetEvent): boolean;
  /** Something it keeps changed, changes went unannounced, or the monitor stopped or came back: check now. */
  recheck(): void;
}

/**
 * One `nft monitor` for every firewall keeper: the kernel announces each change to an nftables
 * table (iptables-nft's included) as it happens, so a keeper repairs drift within a moment and
 * only needs a rare check of its own as a safety net. While the monitor is not running (it died,
 * or there is no nft tool) `live` is false and the keepers go back to checking every
 * --iptables-resync seconds; each transition asks them to check at once, covering the gap.
 */
export class NftMonitor {
  private child: LineStream | undefined;
  private readonly listeners = new Set<NftChangeListener>();
  private stopped = false;
  private restartTimer: NodeJS.Timeout | undefined;
  /** Quick deaths (no nft tool, no permission) back off to a restart a minute. */
  private readonly backoff = new Backoff(1_000, 60_000);
  private warned = false;

  constructor(private readonly logger: Logger) {}

  /** Whether changes are being announced now. */
  get live(): boolean {
    return this.child !== undefined;
  }

  add(listener: NftChangeListener): void {
    this.listeners.add(listener);
  }

  remove(listener: NftChangeListener): void {
    this.listeners.delete(listener);
  }

  start(): void {
    if (this.stopped || this.child) return;
    const startedAt = Date.now();
    const child = streamLines(['nft', 'monitor'], (lines) => this.heard(lines));
    this.child = child;
    void child.exited.then(() => {
      if (this.child !== child) return;
      this.child = undefined;
      if (this.stopped) return;
      if (Date.now() - startedAt > 60_000) {
        this.backoff.reset();
        this.warned = false;
      }
      const delay = this.backoff.next();
      // Said once per run of quick deaths, not once a minute on a host without the nft tool.
      if (!this.warned) {
        this.warned = true;
        this.logger.warn('nft monitor exited; checking firewall rules every --iptables-resync seconds until it runs again', { restartInMs: delay });
      }
      this.recheckAll();
      this.restartTimer = setTimeout(() => {
        this.start();
        if (this.child) this.recheckAll();
      }, delay);
      this.restartTimer.unref();
    });
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    this.child?.kill();
    this.child = undefined;
  }

  private heard(lines: readonly string[]): void {
    // One recheck per listener per chunk: a flushed chain arrives as one line per rule.
    const waiting = new Set(this.listeners);
    for (const line of lines) {
      const event = parseNftMonitorLine(line);
      if (!event) continue;
      for (const listener of waiting) {
        if (!listener.concerns(event)) continue;
        waiting.delete(listener);
        listener.recheck();
      }
      if (waiting.size === 0) return;
    }
  }

  private recheckAll(): void {
    for (const listener of this.listeners) listener.recheck();
  }
}

/**
 * While changes are announced, a keeper's own check is only a safety net (against a change the
 * monitor missed without saying so): every 10 minutes, or every --iptables-resync seconds when
 * that is longer.
 */
export const SAFETY_CHECK_MS = 10 * 60_000;

/** How long a firewall keeper waits between its own checks: `resyncSeconds`, unless changes are announced. */
export function firewallCheckPeriodMs(monitor: NftMonitor | undefined, resyncSeconds: number): number {
  const resyncMs = resyncSeconds * 1000;
  return monitor?.live ? Math.max(resyncMs, SAFETY_CHECK_MS) : resyncMs;
}
