import type { Logger } from 'winston';
import { errorMessage } from '../util/errors.js';

export interface PeriodicSyncOptions {
  readonly what: string;
  /** Quiet time before the next sync; read after each sync, so it can follow whether the kernel announces changes. */
  readonly periodMs: () => number;
  /** Time before trying again after a failed sync, whatever the period. */
  readonly retryMs: number;
  readonly logger: Logger;
  /** Runs after every sync that left the state in place. */
  readonly onSynced?: () => Promise<void>;
}

/**
 * A keeper of kernel state someone else may change: it syncs once at start, then again after
 * every period of quiet and whenever `sync()` is called. Never two syncs at a time: a call during
 * a sync runs one more after it, which sees whatever the call was about. A failed sync is logged
 * and tried again after `retryMs`. Subclasses say what one sync does.
 */
export abstract class PeriodicSync {
  private timer: NodeJS.Timeout | undefined;
  private syncing: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private failed = false;
  protected readonly logger: Logger;

  protected constructor(private readonly syncOptions: PeriodicSyncOptions) {
    this.logger = syncOptions.logger;
  }

  /** Whether the kernel announces changes to what this keeps, so it need not poll for them. */
  get hearsChanges(): boolean {
    return false;
  }

  start(): Promise<void> {
    return this.sync();
  }

  /** Stops syncing and waits for one in flight, which may still log. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.syncing;
  }

  /** Syncs now; during a sync, once more right after it; after stop(), never. Settles when a sync that began after the call has ended. */
  sync(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.syncing) {
      this.again = true;
      return this.syncing;
    }
    this.syncing = this.syncUntilQuiet().finally(() => {
      this.syncing = undefined;
      this.arm();
    });
    return this.syncing;
  }

  protected abstract syncOnce(): Promise<void>;

  private async syncUntilQuiet(): Promise<void> {
    do {
      this.again = false;
      try {
        await this.syncOnce();
        await this.syncOptions.onSynced?.();
        this.failed = false;
      } catch (err) {
        this.failed = true;
        this.logger.warn(`${this.syncOptions.what} sync failed; will retry`, { error: errorMessage(err) });
      }
    } while (this.again && !this.stopped);
  }

  private arm(): void {
    clearTimeout(this.timer);
    if (this.stopped) return;
    const { periodMs, retryMs } = this.syncOptions;
    this.timer = setTimeout(() => void this.sync(), this.failed ? Math.min(retryMs, periodMs()) : periodMs());
    this.timer.unref();
  }
}
