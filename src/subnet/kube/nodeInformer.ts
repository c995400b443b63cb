import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Node } from '@kubernetes/client-node';
import type { Logger } from 'winston';
import { Backoff } from '../../util/backoff.js';
import { KubeApiError, type NodeApi, type WatchHandle } from './nodeApi.js';
import type { NodeWatchEvent } from './nodeJson.js';

/** Bounded: it becomes a metric label. */
export type NodeWatchRestartReason = 'disconnected' | 'expired';

export interface NodeInformerOptions {
  readonly api: NodeApi;
  readonly logger: Logger;
  /** A full listing: the complete current set of nodes. */
  readonly onList: (nodes: readonly V1Node[]) => void;
  readonly onEvent: (type: 'ADDED' | 'MODIFIED' | 'DELETED', node: V1Node) => void;
  /** Anything the API server said, bookmarks included: proof it is reachable. */
  readonly onContact: () => void;
  readonly onError: (what: string, err: unknown) => void;
  readonly onRestart?: (reason: NodeWatchRestartReason) => void;
  /** The server ends each watch after this long; a new one resumes where it stopped. */
  readonly watchTimeoutSeconds?: number;
  /** Full relist period, whatever the watch said (level-triggered safety net). */
  readonly relistIntervalMs?: number;
}

type WatchEnd = { readonly kind: 'closed' | 'relist' } | { readonly kind: 'expired' } | { readonly kind: 'failed'; readonly error: unknown };

/**
 * List, then watch from the list's resourceVersion, for ever: resumes after a stream ends, relists
 * on 410 Gone and periodically, retries with backoff while the server is away, and treats a
 * stream that goes quiet past its deadline (no event, no bookmark) as dead. client-node's own
 * ListWatch stops for good after a failed list and cannot be told to relist, hence this loop
 * over its Watch and list calls.
 */
export class NodeInformer {
  private closed = false;
  private current: WatchHandle | undefined;
  private endCurrent: ((end: WatchEnd) => void) | undefined;
  private loop: Promise<void> | undefined;
  private relistTimer: NodeJS.Timeout | undefined;
  private readonly abort = new AbortController();

  constructor(private readonly options: NodeInformerOptions) {}

  /** Resolves after the first successful listing has been delivered. */
  async start(): Promise<void> {
    let firstListed: () => void = () => undefined;
    const listed = new Promise<void>((resolve) => (firstListed = resolve));
    this.loop = this.run(firstListed);
    const interval = this.options.relistIntervalMs ?? 5 * 60_000;
    this.relistTimer = setInterval(() => this.endCurrent?.({ kind: 'relist' }), interval);
    this.relistTimer.unref();
    await listed;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.abort.abort();
    clearInterval(this.relistTimer);
    this.endCurrent?.({ kind: 'closed' });
    await this.loop;
  }

  private async run(firstListed: () => void): Promise<void> {
    const backoff = new Backoff(500, 10_000);
    let resourceVersion = '';
    while (!this.closed) {
      try {
        if (resourceVersion === '') {
          resourceVersion = await this.listOnce();
          firstListed();
        }
        const { end, lastVersion } = await this.watchOnce(resourceVersion);
        resourceVersion = lastVersion;
        if (end.kind === 'expired' || end.kind === 'relist') resourceVersion = '';
        if (end.kind === 'expired') {
          this.options.logger.info('node watch history expired (410 Gone); relisting');
          this.options.onRestart?.('expired');
        } else if (end.kind === 'failed') {
          this.options.onError('node watch', end.error);
          this.options.onRestart?.('disconnected');
          await this.pause(backoff.next());
        } else {
          backoff.reset();
        }
      } catch (err) {
        this.options.onError('listing nodes', err);
        await this.pause(backoff.next());
      }
    }
  }

  /**
   * Lists and delivers every node; the listing's resourceVersion. A method of its own so the
   * listing is not kept alive by the loop's frame for as long as the watch that follows runs.
   */
  private async listOnce(): Promise<string> {
    const listing = await this.options.api.list();
    this.options.onContact();
    this.options.onList(listing.items);
    return listing.resourceVersion;
  }

  private async pause(ms: number): Promise<void> {
    await sleep(ms, undefined, { signal: this.abort.signal }).catch(() => undefined);
  }

  private async watchOnce(fromVersion: string): Promise<{ end: WatchEnd; lastVersion: string }> {
    const timeoutSeconds = this.options.watchTimeoutSeconds ?? 300;
    let lastVersion = fromVersion;
    let idleTimer: NodeJS.Timeout | undefined;
    let finish: (end: WatchEnd) => void = () => undefined;
    const ended = new Promise<WatchEnd>((resolve) => (finish = resolve));
    let settled = false;
    const endOnce = (end: WatchEnd): void => {
      if (settled) return;
      settled = true;
      clearTimeout(idleTimer);
      this.current?.abort();
      this.current = undefined;
      this.endCurrent = undefined;
      finish(end);
    };
    // The server closes the stream at timeoutSeconds; silence well past that means a dead path.
    const armIdle = (): void => {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(() => endOnce({ kind: 'failed', error: new Error('watch went silent') }), (timeoutSeconds + 30) * 1000);
    };
    this.endCurrent = endOnce;
    armIdle();
    const onEvent = (event: NodeWatchEvent): void => {
      if (settled) return;
      armIdle();
      this.options.onContact();
      switch (event.type) {
        case 'ERROR':
          endOnce(event.code === 410 ? { kind: 'expired' } : { kind: 'failed', error: new Error(event.message) });
          return;
        case 'BOOKMARK':
          if (event.resourceVersion) lastVersion = event.resourceVersion;
          return;
        default:
          this.options.onEvent(event.type, event.node);
          lastVersion = event.node.metadata?.resourceVersion ?? lastVersion;
      }
    };
    const done = (err: unknown): void => {
      if (!err) endOnce({ kind: 'closed' });
      else if (err instanceof KubeApiError && err.status === 410) endOnce({ kind: 'expired' });
      else endOnce({ kind: 'failed', error: err });
    };
    try {
      const handle = await this.options.api.watch(fromVersion, timeoutSeconds, onEvent, done);
      if (settled) handle.abort();
      else this.current = handle;
    } catch (err) {
      endOnce({ kind: 'failed', error: err });
    }
    if (this.closed) endOnce({ kind: 'closed' });
    return { end: await ended, lastVersion };
  }
}
