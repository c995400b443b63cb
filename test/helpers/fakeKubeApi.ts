import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TlsFiles, generateTls } from './etcdServer.js';
import { type Json, type JsonObject, PatchError, isJsonObject, jsonPatch, mergePatch, strategicMergePatch } from './jsonPatches.js';
import { serviceAccountUser, weftServiceAccountRules } from './kubeManifests.js';
import { DISCOVERY_RULES, type PolicyRule, allows, forbiddenMessage, requestAttributes } from './rbac.js';

export interface FakeKubeApiOptions {
  /** Address to listen on; host namespaces reach the root namespace's bridge address. */
  readonly host?: string;
  /** When set, every request must carry `Authorization: Bearer <token>` (or a token from addServiceAccountToken). */
  readonly token?: string;
  /** How many past events a watch can resume from before the server answers 410 Gone. */
  readonly historyLimit?: number;
  /** How often a watch that asked for bookmarks gets one (a real server: about a minute). */
  readonly bookmarkIntervalMs?: number;
  /**
   * What `token` (or, without one, every request) may do. Default: the rules manifests/weft.yml
   * binds to weft's service account. Tests change state in-process, unrestricted.
   */
  readonly rules?: readonly PolicyRule[];
}

/** Who a bearer token authenticates, and the RBAC rules bound to them. */
interface Identity {
  readonly user: string;
  readonly rules: readonly PolicyRule[];
}

const WEFT_USER = serviceAccountUser('weft-system', 'weft');

interface WatchEvent {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly object: JsonObject;
  readonly rv: number;
  /** The event as one line of a watch stream. */
  readonly line: string;
}

interface OpenWatch {
  readonly res: ServerResponse;
  readonly fieldName?: string;
  readonly timers: NodeJS.Timeout[];
}

type Verb = 'list' | 'watch' | 'get' | 'create' | 'update' | 'patch' | 'delete';

/**
 * An in-process stand-in for kube-apiserver's Node resource, faithful where weft depends on it:
 * list with resourceVersion and limit/continue, watch streams that resume from a resourceVersion,
 * send BOOKMARKs, honour timeoutSeconds and answer "410 Gone" once the history they need is
 * compacted; merge, strategic merge and JSON patches with resourceVersion preconditions (409);
 * the nodes/status subresource; Status bodies for every error. Tests reach it through the real
 * @kubernetes/client-node, and can inject faults: dropped watches, compaction, patch conflicts,
 * an outage.
 */
export class FakeKubeApi {
  private readonly nodes = new Map<string, JsonObject>();
  /**
   * Each stored node's JSON, made once when it is stored: stored objects are never changed in
   * place. kube-apiserver's watch cache likewise serializes an object once for every reader; without
   * this the fake spent more time encoding a 5000-node list than the agent spent reading it, and
   * the bench measured the fake (docs/benchmarks.md, "Cost at scale").
   */
  private readonly nodeJson = new Map<string, string>();
  /** Pods by "namespace/name": only what Flannel's node-name lookup reads (spec.nodeName). */
  private readonly pods = new Map<string, JsonObject>();
  private rv = 1;
  private history: WatchEvent[] = [];
  /** Oldest resourceVersion a watch may resume from. */
  private oldestResumable = 1;
  private readonly watches = new Set<OpenWatch>();
  private readonly sockets = new Set<Socket>();
  private server: Server | undefined;
  private pendingPatchFailures = 0;
  private port = 0;
  readonly requests: Record<Verb, number> = { list: 0, watch: 0, get: 0, create: 0, update: 0, patch: 0, delete: 0 };
  /** Every PATCH body received, with its content type and target, for assertions. */
  readonly patches: Array<{ name: string; subresource: string; contentType: string; body: Json }> = [];
  /** The message of every request RBAC refused (403), in order. */
  readonly forbidden: string[] = [];
  private readonly credentials = new Map<string, Identity>();
  private readonly defaultIdentity: Identity;

  private constructor(
    private readonly options: FakeKubeApiOptions,
    private readonly tls: { readonly key: string; readonly cert: string; readonly ca: string },
  ) {
    this.defaultIdentity = { user: WEFT_USER, rules: options.rules ?? weftServiceAccountRules() };
    if (options.token) this.credentials.set(options.token, this.defaultIdentity);
  }

  /** Serves HTTPS, as every real API server does (the client refuses plain HTTP without skip-tls-verify). */
  static async start(options: FakeKubeApiOptions = {}): Promise<FakeKubeApi> {
    const files = await certificatesFor(options.host ?? '127.0.0.1');
    const [key, cert, ca] = await Promise.all([files.serverKey, files.serverCert, files.ca].map((f) => readFile(f, 'utf8')));
    const api = new FakeKubeApi(options, { key: key!, cert: cert!, ca: ca! });
    await api.listen();
    return api;
  }

  get url(): string {
    return `https://${this.options.host ?? '127.0.0.1'}:${this.port}`;
  }

  /** A kubeconfig that points the real client at this server, trusting its CA; `token` overrides the user's. */
  kubeconfig(token = this.options.token): string {
    const user = token ? { token } : {};
    return JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'fake', cluster: { server: this.url, 'certificate-authority-data': Buffer.from(this.tls.ca).toString('base64') } }],
      users: [{ name: 'weft', user }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'weft' } }],
      'current-context': 'fake',
    });
  }

  /** The CA certificate (PEM) the server's certificate chains to: a pod's service account ca.crt. */
  get caCertificate(): string {
    return this.tls.ca;
  }

  /**
   * Issues a bearer token for a service account holding `rules`, as the token controller and
   * RBAC would. From then on every request must carry a known token.
   */
  addServiceAccountToken(namespace: string, name: string, rules: readonly PolicyRule[]): string {
    const token = randomBytes(24).toString('base64url');
    this.credentials.set(token, { user: serviceAccountUser(namespace, name), rules });
    return token;
  }

  // ---- state, as a controller or kubectl would change it ----

  /** `shape` fills in what a kubelet would (labels, status, managedFields) before the node is stored. */
  createNode(name: string, spec: JsonObject = {}, annotations: Record<string, string> = {}, shape?: (node: JsonObject) => void): JsonObject {
    const node: JsonObject = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name, uid: `uid-${name}-${this.rv}`, annotations, creationTimestamp: new Date().toISOString() },
      spec,
      status: { conditions: [{ type: 'NetworkUnavailable', status: 'True', reason: 'NoRouteCreated' }] },
    };
    shape?.(node);
    return this.store('ADDED', node);
  }

  /** A pod scheduled on `nodeName`, as a DaemonSet's pod is: what POD_NAME/POD_NAMESPACE name. */
  createPod(namespace: string, name: string, nodeName: string): void {
    this.pods.set(`${namespace}/${name}`, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace, uid: `uid-${namespace}-${name}`, resourceVersion: String(this.rv) },
      spec: { nodeName, containers: [{ name: 'agent', image: 'weft' }] },
    });
  }

  node(name: string): JsonObject | undefined {
    const node = this.nodes.get(name);
    return node ? structuredClone(node) : undefined;
  }

  nodeNames(): string[] {
    return [...this.nodes.keys()];
  }

  annotations(name: string): Record<string, string> {
    const metadata = this.nodes.get(name)?.['metadata'];
    const annotations = isJsonObject(metadata) ? metadata['annotations'] : undefined;
    return isJsonObject(annotations) ? (annotations as Record<string, string>) : {};
  }

  /** Applies a change the way an update from another client would (new resourceVersion, MODIFIED event). */
  updateNode(name: string, change: (node: JsonObject) => void): JsonObject {
    const current = this.nodes.get(name);
    if (!current) throw new Error(`no node ${name}`);
    const next = structuredClone(current);
    change(next);
    return this.store('MODIFIED', next);
  }

  deleteNode(name: string): void {
    const current = this.nodes.get(name);
    if (!current) throw new Error(`no node ${name}`);
    this.remove(current);
  }

  // ---- faults ----

  /** Cuts every open watch stream mid-flight, as a load balancer or API server restart would. */
  dropWatches(): void {
    for (const watch of this.watches) watch.res.socket?.destroy();
  }

  /** Forgets the event history: every watch resuming from an older resourceVersion gets 410 Gone. */
  compact(): void {
    this.history = [];
    this.oldestResumable = this.rv;
  }

  /** The next `count` PATCH requests fail with 409 Conflict, as if someone else wrote first. */
  failNextPatches(count: number): void {
    this.pendingPatchFailures = count;
  }

  /** Stops answering, keeping all state (an outage, not a reset). */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    for (const watch of this.watches) watch.timers.forEach(clearTimeout);
    this.watches.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Answers again on the same address after stop(). */
  async resume(): Promise<void> {
    await this.listen();
  }

  get openWatches(): number {
    return this.watches.size;
  }

  // ---- HTTP ----

  private async listen(): Promise<void> {
    const server = createServer({ key: this.tls.key, cert: this.tls.cert }, (req, res) => {
      this.handle(req, res).catch((err: unknown) => this.sendStatus(res, 500, 'InternalError', String(err)));
    });
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, this.options.host ?? '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (typeof address !== 'object' || !address) throw new Error('fake API server has no address');
    this.port = address.port;
    this.server = server;
  }

  /**
   * The caller's identity; undefined once 401 has been sent. Until a token exists every caller
   * is weft's service account, so tests that do not care about credentials need none.
   */
  private authenticate(req: IncomingMessage, res: ServerResponse): Identity | undefined {
    if (this.credentials.size === 0) return this.defaultIdentity;
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const identity = bearer !== undefined ? this.credentials.get(bearer) : undefined;
    if (!identity) this.sendStatus(res, 401, 'Unauthorized', 'Unauthorized');
    return identity;
  }

  /** As kube-apiserver: authenticate, authorize against RBAC, and only then route. */
  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const identity = this.authenticate(req, res);
    if (!identity) return;
    const url = new URL(req.url ?? '/', 'http://fake');
    const method = req.method ?? 'GET';
    const attributes = requestAttributes(method, url);
    if (!allows([...DISCOVERY_RULES, ...identity.rules], attributes)) {
      const message = forbiddenMessage(identity.user, attributes);
      this.forbidden.push(message);
      this.sendStatus(res, 403, 'Forbidden', message);
      return;
    }
    const podPath = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)$/.exec(url.pathname);
    if (podPath) {
      this.getPod(req.method ?? 'GET', podPath[1]!, podPath[2]!, res);
      return;
    }
    const match = /^\/api\/v1\/nodes(?:\/([^/]+))?(?:\/(status))?$/.exec(url.pathname);
    if (!match) {
      this.sendStatus(res, 404, 'NotFound', `the server could not find the requested resource (${url.pathname})`);
      return;
    }
    const [, name, subresource] = match;
    const body = method === 'GET' || method === 'DELETE' ? '' : await readBody(req);
    if (name === undefined) {
      if (method === 'GET') {
        const watching = url.searchParams.get('watch');
        if (watching === 'true' || watching === '1') this.watch(url.searchParams, res);
        else this.list(url.searchParams, res);
      } else if (method === 'POST') this.create(body, res);
      else this.sendStatus(res, 405, 'MethodNotAllowed', `${method} is not allowed on nodes`);
      return;
    }
    const current = this.nodes.get(name);
    switch (method) {
      case 'GET':
        this.requests.get++;
        if (!current) this.notFound(res, name);
        else this.sendJson(res, 200, current);
        return;
      case 'PUT':
        this.replace(name, subresource ?? '', body, res);
        return;
      case 'PATCH':
        this.patch(name, subresource ?? '', req.headers['content-type'] ?? '', body, res);
        return;
      case 'DELETE':
        this.requests.delete++;
        if (!current) this.notFound(res, name);
        else this.sendJson(res, 200, this.remove(current));
        return;
      default:
        this.sendStatus(res, 405, 'MethodNotAllowed', `${method} is not allowed on nodes/${name}`);
    }
  }

  private getPod(method: string, namespace: string, name: string, res: ServerResponse): void {
    if (method !== 'GET') return this.sendStatus(res, 405, 'MethodNotAllowed', `${method} is not allowed on pods`);
    this.requests.get++;
    const pod = this.pods.get(`${namespace}/${name}`);
    if (pod) this.sendJson(res, 200, pod);
    else this.sendStatus(res, 404, 'NotFound', `pods "${name}" not found`);
  }

  private list(params: URLSearchParams, res: ServerResponse): void {
    this.requests.list++;
    const fieldName = this.fieldSelectorName(params, res);
    if (fieldName === null) return;
    const limit = Number(params.get('limit') ?? 0);
    const token = params.get('continue');
    let start = '';
    if (token) {
      const parsed = JSON.parse(Buffer.from(token, 'base64').toString()) as { rv: number; after: string };
      if (parsed.rv < this.oldestResumable) {
        this.sendStatus(res, 410, 'Expired', 'The provided continue parameter is too old to display a consistent list result.');
        return;
      }
      start = parsed.after;
    }
    const names = [...this.nodes.keys()].filter((n) => (fieldName === undefined || n === fieldName) && n > start).sort();
    const page = limit > 0 ? names.slice(0, limit) : names;
    const more = limit > 0 && names.length > limit;
    const metadata: JsonObject = { resourceVersion: String(this.rv) };
    if (more) metadata['continue'] = Buffer.from(JSON.stringify({ rv: this.rv, after: page[page.length - 1] })).toString('base64');
    // As kube-apiserver writes it: metadata ahead of items.
    const text = `{"apiVersion":"v1","kind":"NodeList","metadata":${JSON.stringify(metadata)},"items":[${page.map((n) => this.nodeJson.get(n)!).join(',')}]}`;
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  private watch(params: URLSearchParams, res: ServerResponse): void {
    this.requests.watch++;
    const fieldName = this.fieldSelectorName(params, res);
    if (fieldName === null) return;
    const from = params.get('resourceVersion') ?? '';
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    const send = (type: string, object: Json): void => {
      res.write(`${JSON.stringify({ type, object })}\n`);
    };
    const fromRv = Number(from);
    if (from !== '' && from !== '0' && (!Number.isInteger(fromRv) || fromRv < this.oldestResumable)) {
      send('ERROR', {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: `too old resource version: ${from} (${this.oldestResumable})`,
        reason: 'Expired',
        code: 410,
      });
      res.end();
      return;
    }
    const matches = (object: JsonObject): boolean => fieldName === undefined || nameOf(object) === fieldName;
    if (from === '' || from === '0') {
      for (const [name, node] of this.nodes) if (matches(node)) res.write(`{"type":"ADDED","object":${this.nodeJson.get(name)!}}\n`);
    } else {
      for (const event of this.history) if (event.rv > fromRv && matches(event.object)) res.write(event.line);
    }
    const watch: OpenWatch = { res, ...(fieldName !== undefined ? { fieldName } : {}), timers: [] };
    this.watches.add(watch);
    const close = (): void => {
      watch.timers.forEach(clearTimeout);
      this.watches.delete(watch);
    };
    res.on('close', close);
    const timeoutSeconds = Number(params.get('timeoutSeconds') ?? 0);
    if (timeoutSeconds > 0) watch.timers.push(setTimeout(() => res.end(), timeoutSeconds * 1000));
    if (params.get('allowWatchBookmarks') === 'true') {
      const interval = setInterval(() => send('BOOKMARK', { kind: 'Node', apiVersion: 'v1', metadata: { resourceVersion: String(this.rv) } }), this.options.bookmarkIntervalMs ?? 60_000);
      watch.timers.push(interval);
    }
  }

  private create(body: string, res: ServerResponse): void {
    this.requests.create++;
    const object = parseJson(body);
    const name = isJsonObject(object) ? nameOf(object) : undefined;
    if (!isJsonObject(object) || !name) {
      this.sendStatus(res, 422, 'Invalid', 'Node is invalid: metadata.name: Required value');
      return;
    }
    if (this.nodes.has(name)) {
      this.sendStatus(res, 409, 'AlreadyExists', `nodes "${name}" already exists`);
      return;
    }
    const metadata = isJsonObject(object['metadata']) ? object['metadata'] : {};
    const created = this.createNode(name, isJsonObject(object['spec']) ? object['spec'] : {}, (metadata['annotations'] ?? {}) as Record<string, string>);
    this.sendJson(res, 201, created);
  }

  private replace(name: string, subresource: string, body: string, res: ServerResponse): void {
    this.requests.update++;
    const current = this.nodes.get(name);
    if (!current) return this.notFound(res, name);
    const object = parseJson(body);
    if (!isJsonObject(object)) {
      this.sendStatus(res, 400, 'BadRequest', 'body is not a Node object');
      return;
    }
    this.commit(name, subresource, current, object, res);
  }

  private patch(name: string, subresource: string, contentType: string, body: string, res: ServerResponse): void {
    this.requests.patch++;
    const current = this.nodes.get(name);
    if (!current) return this.notFound(res, name);
    const patch = parseJson(body);
    this.patches.push({ name, subresource, contentType, body: patch ?? null });
    if (patch === undefined) {
      this.sendStatus(res, 400, 'BadRequest', 'the patch body is not JSON');
      return;
    }
    if (this.pendingPatchFailures > 0) {
      this.pendingPatchFailures--;
      this.conflict(res, name);
      return;
    }
    let patched: Json;
    try {
      const type = contentType.split(';')[0]!.trim();
      if (type === 'application/merge-patch+json') patched = mergePatch(current, patch);
      else if (type === 'application/strategic-merge-patch+json') patched = strategicMergePatch(current, patch);
      else if (type === 'application/json-patch+json') patched = jsonPatch(current, patch);
      else {
        this.sendStatus(res, 415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got ${contentType})`);
        return;
      }
    } catch (err) {
      if (err instanceof PatchError) {
        this.sendStatus(res, 422, 'Invalid', err.message);
        return;
      }
      throw err;
    }
    if (!isJsonObject(patched)) {
      this.sendStatus(res, 422, 'Invalid', 'the patched object is not a Node');
      return;
    }
    this.commit(name, subresource, current, patched, res);
  }

  /**
   * The server's update path: a resourceVersion in the new object is a precondition; the main
   * resource ignores status changes and the status subresource ignores spec changes, as
   * kube-apiserver's node strategies do.
   */
  private commit(name: string, subresource: string, current: JsonObject, proposed: JsonObject, res: ServerResponse): void {
    const proposedMeta = isJsonObject(proposed['metadata']) ? proposed['metadata'] : {};
    const currentMeta = current['metadata'] as JsonObject;
    const precondition = proposedMeta['resourceVersion'];
    if (precondition !== undefined && precondition !== currentMeta['resourceVersion']) return this.conflict(res, name);
    if (proposedMeta['name'] !== undefined && proposedMeta['name'] !== name) {
      this.sendStatus(res, 400, 'BadRequest', `the name of the object (${String(proposedMeta['name'])}) does not match the name on the URL (${name})`);
      return;
    }
    // nodes/status keeps spec (and only spec) from the stored node, so annotations can be
    // written there: Flannel's least-privilege RBAC relies on it. The main resource keeps status.
    const next = structuredClone(proposed);
    const meta = { ...currentMeta };
    for (const field of ['annotations', 'labels']) {
      if (proposedMeta[field] === undefined || proposedMeta[field] === null) delete meta[field];
      else meta[field] = proposedMeta[field]!;
    }
    next['metadata'] = meta;
    if (subresource === 'status') next['spec'] = current['spec'] ?? {};
    else next['status'] = current['status'] ?? {};
    if (JSON.stringify(next) === JSON.stringify(current)) {
      this.sendJson(res, 200, current);
      return;
    }
    this.sendJson(res, 200, this.store('MODIFIED', next));
  }

  private store(type: 'ADDED' | 'MODIFIED', object: JsonObject): JsonObject {
    const rv = ++this.rv;
    (object['metadata'] as JsonObject)['resourceVersion'] = String(rv);
    const name = nameOf(object)!;
    const json = JSON.stringify(object);
    this.nodes.set(name, object);
    this.nodeJson.set(name, json);
    this.publish({ type, object, rv, line: `{"type":"${type}","object":${json}}\n` });
    return structuredClone(object);
  }

  private remove(object: JsonObject): JsonObject {
    const name = nameOf(object)!;
    this.nodes.delete(name);
    this.nodeJson.delete(name);
    const rv = ++this.rv;
    const tombstone = structuredClone(object);
    (tombstone['metadata'] as JsonObject)['resourceVersion'] = String(rv);
    this.publish({ type: 'DELETED', object: tombstone, rv, line: `${JSON.stringify({ type: 'DELETED', object: tombstone })}\n` });
    return tombstone;
  }

  private publish(event: WatchEvent): void {
    this.history.push(event);
    const limit = this.options.historyLimit ?? 10_000;
    if (this.history.length > limit) {
      this.history.splice(0, this.history.length - limit);
      this.oldestResumable = this.history[0]!.rv - 1;
    }
    for (const watch of this.watches) {
      if (watch.fieldName === undefined || watch.fieldName === nameOf(event.object)) watch.res.write(event.line);
    }
  }

  /** undefined: no selector; null: an unsupported one (answered 400 already). */
  private fieldSelectorName(params: URLSearchParams, res: ServerResponse): string | undefined | null {
    const selector = params.get('fieldSelector');
    if (!selector) return undefined;
    const match = /^metadata\.name=([^,]+)$/.exec(selector);
    if (!match) {
      this.sendStatus(res, 400, 'BadRequest', `field selector ${selector} is not supported by this fake`);
      return null;
    }
    return match[1]!;
  }

  private notFound(res: ServerResponse, name: string): void {
    this.sendStatus(res, 404, 'NotFound', `nodes "${name}" not found`);
  }

  private conflict(res: ServerResponse, name: string): void {
    this.sendStatus(res, 409, 'Conflict', `Operation cannot be fulfilled on nodes "${name}": the object has been modified; please apply your changes to the latest version and try again`);
  }

  private sendStatus(res: ServerResponse, code: number, reason: string, message: string): void {
    this.sendJson(res, code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
  }

  private sendJson(res: ServerResponse, code: number, body: Json): void {
    if (res.headersSent) {
      res.end();
      return;
    }
    const text = JSON.stringify(body);
    res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }
}

const certificates = new Map<string, Promise<TlsFiles>>();

/** One CA and server certificate per address and test process: openssl key generation is slow. */
function certificatesFor(host: string): Promise<TlsFiles> {
  let files = certificates.get(host);
  if (!files) {
    files = mkdtemp(join(tmpdir(), 'weft-kube-tls-')).then((dir) => {
      process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
      return generateTls(dir, host);
    });
    certificates.set(host, files);
  }
  return files;
}

function nameOf(object: JsonObject): string | undefined {
  const metadata = object['metadata'];
  const name = isJsonObject(metadata) ? metadata['name'] : undefined;
  return typeof name === 'string' ? name : undefined;
}

function parseJson(text: string): Json | undefined {
  try {
    return JSON.parse(text) as Json;
  } catch {
    return undefined;
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
