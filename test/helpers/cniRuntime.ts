import { existsSync, statSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, extname, join, posix } from 'node:path';

/**
 * The container runtime's side of CNI, as libcni (which containerd, CRI-O and Multus all use)
 * does it: pick the network config, find each plugin in CNI_PATH, run a conflist's plugins in
 * order with prevResult on ADD and in reverse with the cached result on DEL, and keep that
 * result cache. Plugins run on a node through `CniNode`, so every path they touch is the node's.
 */

/** A node's file system and a way to run a program there, as the runtime on that node would. */
export interface CniNode {
  /** Where a path of the node's file system lives on this machine. */
  nodePath(path: string): string;
  /** Runs argv on the node with exactly this environment; never throws for a non-zero exit. */
  exec(argv: readonly string[], env: Readonly<Record<string, string>>, stdin: string): Promise<{ code: number; stdout: string; stderr: string }>;
}

export interface NetworkConfigList {
  readonly name: string;
  readonly cniVersion: string;
  readonly plugins: ReadonlyArray<Record<string, unknown>>;
  /** The file it came from, or what defined it (a NetworkAttachmentDefinition). */
  readonly source: string;
  /** The bytes the runtime caches with the result. */
  readonly bytes: string;
}

export interface RuntimeConf {
  readonly containerId: string;
  /** The network namespace's path as the node sees it. */
  readonly netns: string;
  readonly ifName: string;
  readonly args: ReadonlyArray<readonly [string, string]>;
  /** Values for the capabilities plugins declare (e.g. portMappings), injected as runtimeConfig. */
  readonly capabilityArgs: Readonly<Record<string, unknown>>;
}

/** A plugin's CNI error, with libcni's wording: `plugin type="x" failed (add): msg`. */
export class CniPluginError extends Error {
  constructor(
    readonly type: string,
    readonly command: string,
    readonly code: number | undefined,
    message: string,
  ) {
    super(`plugin type="${type}" failed (${command.toLowerCase()}): ${message}`);
  }
}

/** One CNI result (any 1.0.0-shaped result: the fields tests read). */
export interface CniResult {
  readonly cniVersion?: string;
  readonly interfaces?: ReadonlyArray<{ name: string; sandbox?: string; mac?: string }>;
  readonly ips?: ReadonlyArray<{ address: string; gateway?: string; interface?: number }>;
  readonly [field: string]: unknown;
}

function parseObject(text: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`${what}: not JSON (${(err as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${what}: not a JSON object`);
  return value as Record<string, unknown>;
}

/** libcni's ConfListFromBytes / ConfFromBytes + ConfListFromConf, with their checks. */
export function parseNetworkConfig(text: string, source: string, asList: boolean): NetworkConfigList {
  const raw = parseObject(text, source);
  const name = raw['name'];
  if (typeof name !== 'string' || name === '') throw new Error(`${source}: error parsing configuration: missing 'name'`);
  const cniVersion = typeof raw['cniVersion'] === 'string' ? raw['cniVersion'] : '0.1.0';
  if (asList) {
    const plugins = raw['plugins'];
    if (!Array.isArray(plugins) || plugins.length === 0) throw new Error(`${source}: error parsing configuration list: no 'plugins' key`);
    for (const [i, plugin] of plugins.entries()) {
      if (typeof plugin !== 'object' || plugin === null || typeof (plugin as Record<string, unknown>)['type'] !== 'string') throw new Error(`${source}: plugins[${i}] has no type`);
    }
    return { name, cniVersion, plugins: plugins as Array<Record<string, unknown>>, source, bytes: text };
  }
  if (typeof raw['type'] !== 'string' || raw['type'] === '') throw new Error(`${source}: network type not found`);
  return { name, cniVersion, plugins: [raw], source, bytes: text };
}

/**
 * The network a runtime uses for a pod: the lexicographically first .conf, .conflist or .json
 * in the node's config directory, loaded strictly (a broken first file is an error, not skipped).
 */
export async function defaultNetwork(node: CniNode, confDir = '/etc/cni/net.d'): Promise<NetworkConfigList> {
  const dir = node.nodePath(confDir);
  const files = existsSync(dir) ? (await readdir(dir)).filter((f) => ['.conf', '.conflist', '.json'].includes(extname(f))).sort() : [];
  const first = files[0];
  if (first === undefined) throw new Error(`no network config found in ${confDir}`);
  return parseNetworkConfig(await readFile(join(dir, first), 'utf8'), posix.join(confDir, first), first.endsWith('.conflist'));
}

/** libcni's FindInPath: the first directory of CNI_PATH holding a file named after the type. */
export function findPlugin(node: CniNode, type: string, binDirs: readonly string[]): string {
  for (const dir of binDirs) {
    const path = posix.join(dir, type);
    const onNode = node.nodePath(path);
    if (existsSync(onNode) && statSync(onNode).isFile()) return path;
  }
  throw new Error(`failed to find plugin "${type}" in path [${binDirs.join(' ')}]`);
}

/** libcni's buildOneConfig: the list's name and version, prevResult, and runtimeConfig for declared capabilities. */
function pluginConfig(list: NetworkConfigList, plugin: Record<string, unknown>, prevResult: CniResult | undefined, rt: RuntimeConf): Record<string, unknown> {
  const config: Record<string, unknown> = { ...plugin, name: list.name, cniVersion: list.cniVersion };
  if (prevResult !== undefined) config['prevResult'] = prevResult;
  const capabilities = (plugin['capabilities'] ?? {}) as Record<string, unknown>;
  const runtimeConfig: Record<string, unknown> = {};
  for (const [capability, enabled] of Object.entries(capabilities)) {
    if (enabled === true && capability in rt.capabilityArgs) runtimeConfig[capability] = rt.capabilityArgs[capability];
  }
  if (Object.keys(runtimeConfig).length) config['runtimeConfig'] = runtimeConfig;
  return config;
}

export class CniRuntime {
  constructor(
    private readonly node: CniNode,
    /** CNI_PATH as the node sees it. */
    readonly binDirs: readonly string[],
    /** Where results are cached: libcni's default for the runtime, /var/lib/cni/multus for Multus. */
    readonly cacheDir = '/var/lib/cni',
  ) {}

  private async invoke(command: 'ADD' | 'DEL', plugin: Record<string, unknown>, config: Record<string, unknown>, rt: RuntimeConf): Promise<CniResult | undefined> {
    const type = String(plugin['type']);
    const path = findPlugin(this.node, type, this.binDirs);
    const env = {
      PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      CNI_COMMAND: command,
      CNI_CONTAINERID: rt.containerId,
      CNI_NETNS: rt.netns,
      CNI_IFNAME: rt.ifName,
      CNI_ARGS: rt.args.map(([k, v]) => `${k}=${v}`).join(';'),
      CNI_PATH: this.binDirs.join(':'),
    };
    const { code, stdout, stderr } = await this.node.exec([path], env, JSON.stringify(config));
    if (code !== 0) {
      let message = `exit status ${code}${stderr ? `: ${stderr.trim()}` : ''}`;
      let errorCode: number | undefined;
      try {
        const error = JSON.parse(stdout) as { code?: number; msg?: string; details?: string };
        errorCode = error.code;
        message = `${error.msg ?? message}${error.details ? `; ${error.details}` : ''}`;
      } catch {
        // Not a CNI error object: the exit status and stderr say what happened.
      }
      throw new CniPluginError(type, command, errorCode, message);
    }
    return command === 'ADD' ? (parseObject(stdout, `plugin type="${type}" result`) as CniResult) : undefined;
  }

  private resultCachePath(list: NetworkConfigList, rt: RuntimeConf): string {
    return posix.join(this.cacheDir, 'results', `${list.name}-${rt.containerId}-${rt.ifName}`);
  }

  /** ADD: each plugin in order, each given the previous one's result; the final result is cached. */
  async add(list: NetworkConfigList, rt: RuntimeConf): Promise<CniResult> {
    let result: CniResult | undefined;
    for (const plugin of list.plugins) result = await this.invoke('ADD', plugin, pluginConfig(list, plugin, result, rt), rt);
    const cache = this.node.nodePath(this.resultCachePath(list, rt));
    await mkdir(dirname(cache), { recursive: true, mode: 0o700 });
    const entry = {
      kind: 'cniCacheV1',
      containerId: rt.containerId,
      config: Buffer.from(list.bytes).toString('base64'),
      ifName: rt.ifName,
      networkName: list.name,
      cniArgs: rt.args,
      capabilityArgs: rt.capabilityArgs,
      result,
    };
    await writeFile(cache, JSON.stringify(entry), { mode: 0o600 });
    return result!;
  }

  /** DEL: the plugins in reverse, each given the cached ADD result as prevResult; then the cache entry goes. */
  async del(list: NetworkConfigList, rt: RuntimeConf): Promise<void> {
    const cache = this.node.nodePath(this.resultCachePath(list, rt));
    const cached = existsSync(cache) ? ((JSON.parse(await readFile(cache, 'utf8')) as { result?: CniResult }).result ?? undefined) : undefined;
    for (const plugin of [...list.plugins].reverse()) await this.invoke('DEL', plugin, pluginConfig(list, plugin, cached, rt), rt);
    await rm(cache, { force: true });
  }
}
