import type { Logger } from 'winston';
import type { HostInterface } from '../net/hostInterface.js';
import { Backoff } from '../util/backoff.js';
import { errorMessage } from '../util/errors.js';

export interface ExternalLinkGuardOptions {
  /** The external interface and the IPv4 address the lease and the backend's device were built on. */
  readonly iface: string;
  readonly address?: string;
  readonly interfaces: () => Promise<HostInterface[]>;
  readonly logger: Logger;
  /** The interface is usable again: everything on it must be rebuilt. */
  readonly onBack: () => void;
  readonly minRecheckMs?: number;
  readonly maxRecheckMs?: number;
}

/**
 * Whether the external interface still exists and holds its address. Without it no pass can
 * succeed (the vxlan device goes with it, routes via it are refused), so passes stop rather than
 * fail every second. While it is gone it is re-checked with backoff, and at once whenever the
 * kernel monitor reports a change; the first check that finds it back ends the wait.
 */
export class ExternalLinkGuard {
  private gone = false;
  private checking: Promise<void> | undefined;
  private again = false;
  private recheckTimer: NodeJS.Timeout | undefined;
  private readonly backoff: Backoff;
  private stopped = false;

  constructor(private readonly options: ExternalLinkGuardOptions) {
    this.backoff = new Backoff(options.minRecheckMs ?? 1_000, options.maxRecheckMs ?? 30_000);
  }

  /** False while the interface is gone: no pass should run, and the agent is not ready. */
  get usable(): boolean {
    return !this.gone;
  }

  /** Looks again (coalesced): after a failed pass, or on a kernel change while it is gone. */
  check(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.checking) {
      // The running look may have read the interfaces before the change that asked for this one.
      this.again = true;
      return this.checking;
    }
    this.checking = (async () => {
      do {
        this.again = false;
        await this.look();
      } while (this.again && !this.stopped);
    })().finally(() => (this.checking = undefined));
    return this.checking;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.recheckTimer);
  }

  private async look(): Promise<void> {
    const { iface, address, logger } = this.options;
    let problem: string | undefined;
    try {
      const found = (await this.options.interfaces()).find((i) => i.name === iface);
      if (!found) problem = 'is gone';
      else if (address !== undefined && !found.ipv4.some((a) => a.address === address)) problem = `no longer holds ${address}`;
    } catch (err) {
      // A failed read proves nothing either way; the next pass or check decides.
      logger.debug('reading interfaces failed', { error: errorMessage(err) });
      return;
    }
    if (this.stopped) return;
    if (problem !== undefined) {
      if (!this.gone) {
        this.gone = true;
        logger.error(`external interface ${iface} ${problem}; pausing reconciliation until it is back`, { iface, address });
      }
      this.scheduleRecheck();
      return;
    }
    if (!this.gone) return;
    this.gone = false;
    clearTimeout(this.recheckTimer);
    this.backoff.reset();
    logger.info(`external interface ${iface} is back; rebuilding`, { iface, address });
    this.options.onBack();
  }

  private scheduleRecheck(): void {
    clearTimeout(this.recheckTimer);
    this.recheckTimer = setTimeout(() => void this.check(), this.backoff.next());
    this.recheckTimer.unref();
  }
}
