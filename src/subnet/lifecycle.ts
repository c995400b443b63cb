import { setTimeout as sleep } from 'node:timers/promises';
import { DatastoreError } from '../util/errors.js';

/**
 * How long close() waits, in all, for its steps: etcd3 and the Kubernetes client may wait on a
 * datastore that no longer answers, and a stop must finish within the kubelet's patience.
 */
export const CLOSE_BOUND_MS = 1_000;

/**
 * The life of a datastore connection, shared by both subnet managers and by both phases of each
 * (reading config and acquiring, then keeping the lease): one close for everything, abortable
 * pauses for every retry loop, timers that die with it, and the time of the last answer.
 */
export class ManagerLifecycle {
  private readonly abort = new AbortController();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly shutDownSteps: Array<() => Promise<void> | void> = [];
  private closing: Promise<void> | undefined;
  private contactAt = 0;

  constructor(private readonly closeBoundMs = CLOSE_BOUND_MS) {}

  get closed(): boolean {
    return this.abort.signal.aborted;
  }

  /** Aborted on close: hand it to anything that waits. */
  get signal(): AbortSignal {
    return this.abort.signal;
  }

  /** A datastore call just succeeded. */
  touch(): void {
    this.contactAt = Date.now();
  }

  /** When a datastore call last succeeded (ms since epoch, 0 for never), for readiness. */
  lastContact(): number {
    return this.contactAt;
  }

  /** Waits, but returns at once on close or when `signal` aborts; never rejects. */
  async pause(ms: number, signal?: AbortSignal): Promise<void> {
    const both = signal ? AbortSignal.any([signal, this.abort.signal]) : this.abort.signal;
    await sleep(ms, undefined, { signal: both }).catch(() => undefined);
  }

  throwIfClosed(signal?: AbortSignal): void {
    if (this.closed) throw new DatastoreError('subnet manager closed');
    signal?.throwIfAborted();
  }

  /** A repeating timer that does not hold the process open and stops on close. */
  every(ms: number, task: () => void): void {
    if (this.closed) return;
    const timer = setInterval(task, ms);
    timer.unref();
    this.timers.add(timer);
  }

  /** A one-shot timer, cancelled on close; the returned function cancels it earlier. */
  after(ms: number, task: () => void): () => void {
    if (this.closed) return () => undefined;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      task();
    }, ms);
    timer.unref();
    this.timers.add(timer);
    return () => {
      clearTimeout(timer);
      this.timers.delete(timer);
    };
  }

  /**
   * Registers work for close(), run in reverse order of registration. A step still waiting when
   * the close bound is spent is left behind (its result ignored) and the next one runs.
   */
  onClose(step: () => Promise<void> | void): void {
    this.shutDownSteps.push(step);
  }

  /** Idempotent: a stop during start-up and the start-up's own failure path may both close. */
  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    this.abort.abort();
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const deadline = Date.now() + this.closeBoundMs;
    for (const step of this.shutDownSteps.reverse()) {
      const done = Promise.resolve()
        .then(step)
        .catch(() => undefined);
      const remaining = Math.max(0, deadline - Date.now());
      await Promise.race([done, sleep(remaining, undefined, { ref: false })]);
    }
  }
}
