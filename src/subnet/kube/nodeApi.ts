import type { V1Node, V1NodeCondition } from '@kubernetes/client-node';
import { ApiException, CoreV1Api, type KubeConfig, Observable, type ObservableMiddleware, PatchStrategy, ResponseContext, Watch, setHeaderOptions } from './kubernetesClient.js';
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

export type NodeWatchEvent =
  | { readonly type: 'ADDED' | 'MODIFIED' | 'DELETED'; readonly node: V1Node }
  | { readonly type: 'BOOKMARK'; readonly resourceVersion: string }
  | { readonly type: 'ERROR'; readonly code: number | undefined; readonly message: string };

export interface WatchHandle {
  abort(): void;
}

const LIST_PAGE_SIZE = 500;

/**
 * Cuts each listed Node down (slimNode) in the raw JSON, before the client turns the page into
 * model objects: that conversion walks every field of every node, and at 500 kubelet-sized nodes
 * a page it cost more CPU and memory than anything else in a start-up against 5000 nodes.
 */
const slimListBody: ObservableMiddleware = {
  pre: (request) => new Observable(Promise.resolve(request)),
  post: (response) => new Observable(slimListResponse(response)),
};
const SLIM_LIST = { middleware: [slimListBody], middlewareMergeStrategy: 'append' as const };

async function slimListResponse(response: ResponseContext): Promise<ResponseContext> {
  if (response.httpStatusCode !== 200) return response;
  const list = JSON.parse(await response.body.text()) as { items?: unknown };
  if (Array.isArray(list.items)) list.items = list.items.map((node) => slimNode(node as V1Node));
  const text = JSON.stringify(list);
  return new ResponseContext(response.httpStatusCode, response.headers, { text: () => Promise.resolve(text), binary: () => Promise.resolve(Buffer.from(text)) });
}

const CALL_TIMEOUT_MS = 15_000;

/**
 * The Node calls weft makes, over @kubernetes/client-node. The client has no per-call deadline,
 * and a request to an API server behind a dead path would hang until TCP gives up, so every call
 * here fails after CALL_TIMEOUT_MS and the caller's retry loop goes on.
 */
export class NodeApi {
  private readonly core: CoreV1Api;
  private readonly watcher: Watch;

  constructor(config: KubeConfig) {
    this.core = config.makeApiClient(CoreV1Api);
    this.watcher = new Watch(config);
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
   * All nodes, slimmed (see slimNode), in pages so a large cluster never needs one huge
   * response: only one page of full Node objects is alive at a time, as raw JSON.
   */
  async list(): Promise<NodeListing> {
    const items: V1Node[] = [];
    let resourceVersion = '';
    let continueToken: string | undefined;
    do {
      const page = await this.call('listing nodes', () =>
        this.core.listNode({ limit: LIST_PAGE_SIZE, ...(continueToken ? { _continue: continueToken } : {}) }, SLIM_LIST),
      );
      items.push(...page.items);
      resourceVersion = page.metadata?.resourceVersion ?? '';
      continueToken = page.metadata?._continue || undefined;
    } while (continueToken);
    return { items, resourceVersion };
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
   * for any reason (null: the server closed it, as it does after timeoutSeconds).
   */
  async watch(
    resourceVersion: string,
    timeoutSeconds: number,
    onEvent: (event: NodeWatchEvent) => void,
    done: (err: unknown) => void,
  ): Promise<WatchHandle> {
    const params = { resourceVersion, allowWatchBookmarks: true, timeoutSeconds };
    return this.watcher.watch(
      '/api/v1/nodes',
      params,
      (type: string, object: unknown) => onEvent(toWatchEvent(type, object)),
      done,
    );
  }

  private async call<T>(operation: string, request: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new KubeApiError(operation, undefined, `no answer within ${CALL_TIMEOUT_MS / 1000} s`)), CALL_TIMEOUT_MS);
    });
    try {
      return await Promise.race([request(), deadline]);
    } catch (err) {
      throw toKubeApiError(operation, err);
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * The part of a Node weft reads: name, resourceVersion, creation time, annotations and pod CIDRs.
 * A kubelet's Node is about 15 KB (images, conditions, managedFields, nodeInfo), and weft reads
 * well under 1 KB of it; cutting each node down where it arrives keeps none of the rest alive,
 * whether 5000 nodes are listed or a status update streams past.
 */
export function slimNode(node: V1Node): V1Node {
  const metadata = node.metadata ?? {};
  const spec = node.spec ?? {};
  return {
    metadata: {
      ...(metadata.name !== undefined ? { name: metadata.name } : {}),
      ...(metadata.resourceVersion !== undefined ? { resourceVersion: metadata.resourceVersion } : {}),
      ...(metadata.creationTimestamp !== undefined ? { creationTimestamp: metadata.creationTimestamp } : {}),
      ...(metadata.annotations !== undefined ? { annotations: metadata.annotations } : {}),
    },
    spec: {
      ...(spec.podCIDR !== undefined ? { podCIDR: spec.podCIDR } : {}),
      ...(spec.podCIDRs !== undefined ? { podCIDRs: spec.podCIDRs } : {}),
    },
  };
}

function toWatchEvent(type: string, object: unknown): NodeWatchEvent {
  const fields = (object ?? {}) as { code?: unknown; message?: unknown; metadata?: { resourceVersion?: unknown } };
  switch (type) {
    case 'ADDED':
    case 'MODIFIED':
    case 'DELETED':
      return { type, node: slimNode(object as V1Node) };
    case 'BOOKMARK':
      return { type, resourceVersion: String(fields.metadata?.resourceVersion ?? '') };
    default:
      return {
        type: 'ERROR',
        code: typeof fields.code === 'number' ? fields.code : undefined,
        message: typeof fields.message === 'string' ? fields.message : `unexpected watch event ${type}`,
      };
  }
}

/** The Status body's reason and message are what an operator needs; the raw exception text repeats headers. */
function toKubeApiError(operation: string, err: unknown): KubeApiError {
  if (err instanceof KubeApiError) return err;
  if (err instanceof ApiException) {
    const body: unknown = typeof err.body === 'string' ? safeJson(err.body) : err.body;
    const status = (body ?? {}) as { reason?: unknown; message?: unknown };
    const detail = [status.reason, status.message].filter((x) => typeof x === 'string' && x !== '').join(': ');
    return new KubeApiError(operation, err.code, detail || 'no details', { cause: err });
  }
  const status = (err as { statusCode?: unknown }).statusCode;
  return new KubeApiError(operation, typeof status === 'number' ? status : undefined, errorMessage(err), { cause: err });
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { message: text };
  }
}
