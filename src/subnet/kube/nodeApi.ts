import type { IncomingMessage } from 'node:http';
import type { V1Node, V1NodeCondition } from '@kubernetes/client-node';
import { ApiException, CoreV1Api, type KubeConfig, PatchStrategy, setHeaderOptions } from './kubernetesClient.js';
import { apiGet, bodyText, readLines } from './apiStream.js';
import { type NodeListPage, NodeJsonError, type NodeWatchEvent, nodeListFromJson, nodeListHead, nodeWatchEventFromJson, slimNode } from './nodeJson.js';
import { DatastoreError, errorMessage } from '../../util/errors.js';

/** A failed API call, with the HTTP status when the server answered. */
export class KubeApiError extends DatastoreError {
  constructor(
    operation: string,
    readonly status: number | undefined,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${operation}: ${status !== undefined ? `HTTP ${status}: ` : ''}${detail}`, options);
  }
}

export function isConflict(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 409;
}

export interface NodeListing {
  readonly items: V1Node[];
  readonly resourceVersion: string;
}

export interface WatchHandle {
  abort(): void;
}

/** client-go's page size: at about 15 KB a node, a page is some 7 MB of JSON. */
const LIST_PAGE_SIZE = 500;

const CALL_TIMEOUT_MS = 15_000;

/**
 * The Node calls weft makes. Reads and patches of single nodes go through @kubernetes/client-node;
 * the list and the watch, which carry every node of the cluster, are read by nodeJson.ts straight
 * from the response text (see apiStream.ts). The client has no per-call deadline, and a request
 * to an API server behind a dead path would hang until TCP gives up, so every call here fails
 * after CALL_TIMEOUT_MS and the caller's retry loop goes on.
 */
export class NodeApi {
  private readonly core: CoreV1Api;

  constructor(private readonly config: KubeConfig) {
    this.core = config.makeApiClient(CoreV1Api);
  }

  async get(name: string): Promise<V1Node | undefined> {
    try {
      return slimNode(await this.call(`reading node ${name}`, () => this.core.readNode({ name })));
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  /**
   * All nodes, slimmed, in pages so a large cluster never needs one huge response. Each page's
   * continue token is read from its first bytes, so the next page is requested while this one
   * is still arriving and being read: the server's work and ours overlap, and at most two pages'
   * text are alive at a time.
   */
  async list(): Promise<NodeListing> {
    const items: V1Node[] = [];
    let resourceVersion = '';
    const cancel = new AbortController();
    try {
      let current = this.listPage(undefined, cancel.signal);
      for (;;) {
        const token = await current.next;
        const following = token !== undefined ? this.listPage(token, cancel.signal) : undefined;
        const page = await current.page;
        for (const node of page.items) items.push(node);
        resourceVersion = page.resourceVersion;
        if (!following) return { items, resourceVersion };
        current = following;
      }
    } finally {
      // A page requested ahead is not wanted once an earlier one failed.
      cancel.abort();
    }
  }

  /** One page; `next` settles with its continue token as soon as that is known. */
  private listPage(continueToken: string | undefined, cancel: AbortSignal): { next: Promise<string | undefined>; page: Promise<NodeListPage> } {
    let announce: (token: string | undefined) => void = () => undefined;
    const next = new Promise<string | undefined>((resolve) => (announce = resolve));
    let early: { continueToken: string | undefined } | undefined;
    const query = { limit: String(LIST_PAGE_SIZE), ...(continueToken ? { continue: continueToken } : {}) };
    const page = this.call('listing nodes', async (signal) => {
      const response = await this.ok('listing nodes', await apiGet(this.config, '/api/v1/nodes', query, AbortSignal.any([signal, cancel])));
      const text = await bodyText(response, (head) => {
        early = nodeListHead(head);
        if (early) announce(early.continueToken);
        return early !== undefined;
      });
      const listed = nodeListFromJson(text);
      if (early && early.continueToken !== listed.continueToken) throw new NodeJsonError('node list from the API server names two different continue tokens');
      return listed;
    });
    page.then(
      (listed) => announce(listed.continueToken),
      () => announce(undefined),
    );
    return { next, page };
  }

  /**
   * A JSON merge patch of annotations (null removes one). With `resourceVersion` the write only
   * succeeds against that exact version of the node, else 409: the optimistic concurrency the
   * subnet claim relies on. Sent to nodes/status, as Flannel does: that subresource accepts
   * metadata changes, so the agent needs no permission to patch nodes themselves.
   */
  async patchAnnotations(name: string, annotations: Record<string, string | null>, resourceVersion?: string): Promise<V1Node> {
    const body = { metadata: { annotations, ...(resourceVersion ? { resourceVersion } : {}) } };
    return this.call(`patching annotations of node ${name}`, () =>
      this.core.patchNodeStatus({ name, body }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch)),
    );
  }

  /** A strategic merge patch of one status condition: conditions merge by type, the others stay. */
  async patchCondition(name: string, condition: V1NodeCondition): Promise<V1Node> {
    const body = { status: { conditions: [condition] } };
    return this.call(`patching status of node ${name}`, () =>
      this.core.patchNodeStatus({ name, body }, setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch)),
    );
  }

  /**
   * Streams node events from `resourceVersion`. `done` runs exactly once, when the stream ends
   * for any reason (null: the server closed it, as it does after timeoutSeconds; a KubeApiError
   * with the status when the server refused the watch, 410 when the version is too old).
   */
  async watch(
    resourceVersion: string,
    timeoutSeconds: number,
    onEvent: (event: NodeWatchEvent) => void,
    done: (err: unknown) => void,
  ): Promise<WatchHandle> {
    const abort = new AbortController();
    const query = { watch: 'true', resourceVersion, allowWatchBookmarks: 'true', timeoutSeconds: String(timeoutSeconds) };
    let doneCalled = false;
    const finish = (err: unknown): void => {
      if (doneCalled) return;
      doneCalled = true;
      abort.abort();
      done(err);
    };
    try {
      const response = await this.call('watching nodes', async (signal) =>
        this.ok('watching nodes', await apiGet(this.config, '/api/v1/nodes', query, AbortSignal.any([signal, abort.signal]))),
      );
      // The idle check in NodeInformer covers a silent stream; keepalive lets the kernel notice a dead peer sooner.
      response.socket.setKeepAlive(true, 30_000);
      readLines(response, (line) => onEvent(nodeWatchEventFromJson(line)), finish);
    } catch (err) {
      finish(err);
    }
    return { abort: () => abort.abort() };
  }

  /** The response, when it is a 200; otherwise its Status body as a KubeApiError. */
  private async ok(operation: string, response: IncomingMessage): Promise<IncomingMessage> {
    if (response.statusCode === 200) return response;
    const body = safeJson(await bodyText(response).catch(() => ''));
    throw new KubeApiError(operation, response.statusCode, statusDetail(body));
  }

  private async call<T>(operation: string, request: (signal: AbortSignal) => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const abort = new AbortController();
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        abort.abort();
        reject(new KubeApiError(operation, undefined, `no answer within ${CALL_TIMEOUT_MS / 1000} s`));
      }, CALL_TIMEOUT_MS);
    });
    try {
      return await Promise.race([request(abort.signal), deadline]);
    } catch (err) {
      throw toKubeApiError(operation, err);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The Status body's reason and message are what an operator needs; the raw exception text repeats headers. */
function toKubeApiError(operation: string, err: unknown): KubeApiError {
  if (err instanceof KubeApiError) return err;
  if (err instanceof ApiException) {
    const body: unknown = typeof err.body === 'string' ? safeJson(err.body) : err.body;
    return new KubeApiError(operation, err.code, statusDetail(body), { cause: err });
  }
  const status = (err as { statusCode?: unknown }).statusCode;
  return new KubeApiError(operation, typeof status === 'number' ? status : undefined, errorMessage(err), { cause: err });
}

function statusDetail(body: unknown): string {
  const status = (body ?? {}) as { reason?: unknown; message?: unknown };
  return [status.reason, status.message].filter((x) => typeof x === 'string' && x !== '').join(': ') || 'no details';
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { message: text };
  }
}
