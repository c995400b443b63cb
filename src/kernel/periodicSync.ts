import type { Logger } from 'winston';
import { errorMessage } from '../util/errors.js';

/**
 * A keeper of kernel state someone else may change: it syncs once at start, then every
 * `resyncSeconds`, never two syncs at a time, and logs a failed sync and tries again at the next
 * tick. Subclasses say what one sync does.
 */
export abstract class PeriodicSync {
  private timer: NodeJS.Timeout | undefined;
  private syncing: Promise<void> | undefined;

  protected constructor(
    private readonly what: string,
    private readonly resyncSeconds: number,
    protected readonly logger: Logger,
    /** Runs after every sync that left the state in place. */
    private readonly onSynced: () => Promise<void> = async () => undefined,
  ) {}

  start(): Promise<void> {
    this.timer = setInterval(() => void this.sync(), this.resyncSeconds * 1000);
    this.timer.unref();
    return this.sync();
  }

  /** Stops the periodic sync and waits for one in flight, which may still log. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.syncing;
  }

  /** Syncs now, or joins the sync already running. */
  sync(): Promise<void> {
    this.syncing ??= this.syncOnce()
      .then(() => this.onSynced())
      .catch((err: unknown) => {
        this.logger.warn(`${this.what} sync failed; will retry`, { error: errorMessage(err) });
      })
      .finally(() => {
        this.syncing = undefined;
      });
    return this.syncing;
  }

  protected abstract syncOnce(): Promise<void>;
}
