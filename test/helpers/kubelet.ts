import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { IVolume } from 'kubernetes-models/v1/Volume';
import type { ImageSpec } from './dockerImage.js';
import type { FakeKubeApi } from './fakeKubeApi.js';
import { type Bind, isolatedCommand } from './isolatedProcess.js';
import type { KubeNode } from './kubeNode.js';
import { type ManifestDoc, findDoc, podTemplate, rulesForServiceAccount } from './kubeManifests.js';
import { type PodFacts, checkPodSpec, configMapFiles, containerArgv, containerCapabilities, containerEnv } from './podSpec.js';
import { Prober, type ProbeRecord, probeUrl } from './probes.js';

/**
 * kubelet and the container runtime for the agent's own pods: volumes (hostPath from the node's
 * directories, ConfigMaps laid out as kubelet's atomic writer does, the service account token),
 * init containers one after another, then the containers, each an isolated process with the
 * pod's env and exactly its granted capabilities; probes as declared.
 */

/** The image every container must name, as built from the Dockerfile and laid out on this machine. */
export interface ContainerImage extends ImageSpec {
  readonly ref: string;
  /** Where layOutImage put the image's files. */
  readonly dir: string;
  /** The base image's PATH (node:20-bookworm-slim's, Debian's default). */
  readonly path: string;
}

/** What the pods of one cluster share: the API server, the applied manifests and the image. */
export interface ClusterContext {
  readonly api: FakeKubeApi;
  readonly apiServer: { readonly host: string; readonly port: number };
  readonly docs: readonly ManifestDoc[];
  readonly image: ContainerImage;
}

const SERVICE_ACCOUNT_MOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface RunningContainer {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logPath: string;
  readonly probes: readonly Prober[];
}

interface VolumeSource {
  readonly source: string;
  readonly readOnly: boolean;
}

/** One pod of a DaemonSet on one node. */
export class DaemonPod {
  readonly containers: RunningContainer[] = [];
  private readonly unexpectedExits: string[] = [];
  private stopping = false;

  private constructor(
    readonly daemonSet: string,
    readonly facts: PodFacts,
    readonly node: KubeNode,
    readonly spec: IPodSpec,
    readonly dir: string,
  ) {}

  /** Creates the pod on the node and starts it: volumes, init containers to completion, then the containers and their probes. */
  static async start(ctx: ClusterContext, node: KubeNode, daemonSet: ManifestDoc): Promise<DaemonPod> {
    const { spec } = podTemplate(daemonSet);
    const namespace = daemonSet.metadata.namespace ?? 'default';
    const where = `DaemonSet ${namespace}/${daemonSet.metadata.name}`;
    checkPodSpec(spec, where);
    const name = `${daemonSet.metadata.name}-${randomUUID().slice(0, 5)}`;
    const serviceAccountName = spec.serviceAccountName ?? 'default';
    const facts: PodFacts = { name, namespace, uid: randomUUID(), nodeName: node.name, serviceAccountName, podIP: node.host.ip, hostIP: node.host.ip, apiServer: ctx.apiServer };
    const pod = new DaemonPod(daemonSet.metadata.name, facts, node, spec, join(node.host.dir, 'pods', name));
    await mkdir(pod.dir, { recursive: true });
    const volumes = await pod.prepareVolumes(ctx, where);
    for (const container of spec.initContainers ?? []) {
      const running = await pod.run(ctx, container, volumes);
      const code = await new Promise<number | null>((resolve) => running.child.once('exit', (c) => resolve(c)));
      if (code !== 0) throw new Error(`${where} on ${node.name}: init container ${container.name} exited ${code}:\n${await readFile(running.logPath, 'utf8')}`);
    }
    for (const container of spec.containers) {
      const running = await pod.run(ctx, container, volumes);
      pod.containers.push(running);
      running.child.once('exit', (code, signal) => {
        if (!pod.stopping) pod.unexpectedExits.push(`${node.name} ${name}/${container.name} exited (${code ?? signal}); kubelet would restart it`);
      });
      for (const prober of running.probes) prober.start();
    }
    return pod;
  }

  /** Ready as kubelet reports it: every container running, and those with a readiness probe passing it. */
  get ready(): boolean {
    return this.containers.every((c) => c.child.exitCode === null && c.child.signalCode === null && c.probes.every((p) => p.record.kind !== 'readiness' || p.record.ready));
  }

  get probeRecords(): ProbeRecord[] {
    return this.containers.flatMap((c) => c.probes.map((p) => p.record));
  }

  /** What kubelet would have acted on: containers that died, liveness probes that ran out of failures. */
  problems(): string[] {
    const liveness = this.probeRecords.filter((r) => r.wouldRestart).map((r) => `${this.node.name} ${this.facts.name}: liveness probe ${r.url} failed ${r.consecutiveFailures} times (${r.lastError})`);
    return [...this.unexpectedExits, ...liveness];
  }

  /** Why the pod is not ready, for a failed wait: each probe's last error, exits, and the end of each container's log. */
  describe(): string {
    const probes = this.probeRecords.filter((r) => !r.ready || r.failures).map((r) => `  ${r.kind} ${r.url}: ${r.successes} ok, ${r.failures} failed, last: ${r.lastError ?? '-'}`);
    const logs = this.containers.map((c) => `  ${c.name} log (last lines):\n${readFileSync(c.logPath, 'utf8').trimEnd().split('\n').slice(-3).map((l) => `    ${l.slice(0, 400)}`).join('\n')}`);
    return [`${this.node.name} ${this.facts.name}: ${this.ready ? 'ready' : 'not ready'}`, ...this.problems().map((p) => `  ${p}`), ...probes, ...logs].join('\n');
  }

  /** Deletes the pod: SIGTERM, then SIGKILL after terminationGracePeriodSeconds (or `graceMs`). */
  async stop(graceMs = (this.spec.terminationGracePeriodSeconds ?? 30) * 1000): Promise<void> {
    this.stopping = true;
    for (const c of this.containers) c.probes.forEach((p) => p.stop());
    const grace = graceMs;
    await Promise.all(
      this.containers.map(async ({ child }) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), grace);
        await exited;
        clearTimeout(timer);
      }),
    );
  }

  private async prepareVolumes(ctx: ClusterContext, where: string): Promise<Map<string, VolumeSource>> {
    const volumes = new Map<string, VolumeSource>();
    for (const volume of this.spec.volumes ?? []) volumes.set(volume.name, await this.prepareVolume(ctx, volume, `${where} volume ${volume.name}`));
    if (this.spec.automountServiceAccountToken !== false) {
      findDoc(ctx.docs, 'ServiceAccount', this.facts.serviceAccountName, this.facts.namespace);
      const token = ctx.api.addServiceAccountToken(this.facts.namespace, this.facts.serviceAccountName, rulesForServiceAccount(ctx.docs, this.facts.namespace, this.facts.serviceAccountName));
      const files = [
        { path: 'token', content: token, mode: 0o644 },
        { path: 'ca.crt', content: ctx.api.caCertificate, mode: 0o644 },
        { path: 'namespace', content: this.facts.namespace, mode: 0o644 },
      ];
      volumes.set('kube-api-access', { source: await writeAtomically(join(this.dir, 'volumes', 'kube-api-access'), files), readOnly: true });
    }
    return volumes;
  }

  private async prepareVolume(ctx: ClusterContext, volume: IVolume, where: string): Promise<VolumeSource> {
    if (volume.hostPath) return { source: await hostPathSource(this.node, volume.hostPath.path, volume.hostPath.type ?? '', where), readOnly: false };
    if (volume.configMap) {
      const configMap = ctx.docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === volume.configMap!.name && (d.metadata.namespace ?? 'default') === this.facts.namespace);
      const files = configMapFiles(volume.configMap, configMap?.['data'] as Record<string, string> | undefined, where);
      // ConfigMap volumes are always mounted read-only.
      return { source: await writeAtomically(join(this.dir, 'volumes', volume.name), files), readOnly: true };
    }
    const kinds = Object.keys(volume).filter((k) => k !== 'name');
    throw new Error(`${where}: volume type ${kinds.join(', ')} is not modelled`);
  }

  /** Starts one container: an isolated process on the node with the pod's mounts, env and the container's capabilities. */
  private async run(ctx: ClusterContext, container: IContainer, volumes: ReadonlyMap<string, VolumeSource>): Promise<RunningContainer> {
    const where = `${this.facts.namespace}/${this.facts.name} container ${container.name}`;
    if (container.image !== ctx.image.ref) throw new Error(`${where}: image ${container.image} is not ${ctx.image.ref}, the image built from the Dockerfile`);
    const env = containerEnv(container, this.facts, ctx.image);
    const argv = containerArgv(container, ctx.image, env);
    const capabilities = containerCapabilities(container);
    const mounts = [...(container.volumeMounts ?? [])].sort((a, b) => depth(a.mountPath) - depth(b.mountPath));
    const binds: Bind[] = [
      ...ctx.image.copies.map((c) => ({ source: join(ctx.image.dir, c.target), target: c.target, readOnly: true })),
      ...(volumes.has('kube-api-access') ? [{ source: volumes.get('kube-api-access')!.source, target: SERVICE_ACCOUNT_MOUNT, readOnly: true }] : []),
      ...mounts.map((m) => {
        const volume = volumes.get(m.name);
        if (!volume) throw new Error(`${where}: volumeMount ${m.name} names no volume of the pod`);
        return { source: volume.source, target: m.mountPath, readOnly: volume.readOnly || m.readOnly === true };
      }),
    ];
    const { file, args } = isolatedCommand({ netns: this.node.host.ns, scratch: await this.node.scratchDir(), binds, argv, env, cwd: ctx.image.workdir, capabilities, containerKernelView: true });
    const logPath = join(this.dir, `${container.name}.log`);
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const log = createWriteStream(logPath, { flags: 'a' });
    child.stdout.pipe(log);
    child.stderr.pipe(log);
    const probes = (['readiness', 'liveness'] as const).flatMap((kind) => {
      const probe = kind === 'readiness' ? container.readinessProbe : container.livenessProbe;
      return probe ? [new Prober(kind, probe, probeUrl(probe, container, this.facts.podIP))] : [];
    });
    return { name: container.name, child, logPath, probes };
  }
}

function depth(path: string): number {
  return path.split('/').filter((p) => p !== '').length;
}

/** kubelet's hostPath type checks, on the node's file system; an unset type lets the runtime create a directory. */
async function hostPathSource(node: KubeNode, path: string, type: string, where: string): Promise<string> {
  const source = node.hostPath(path);
  const info = existsSync(source) ? statSync(source) : undefined;
  switch (type) {
    case '':
    case 'DirectoryOrCreate':
      if (!info) await mkdir(source, { recursive: true, mode: 0o755 });
      else if (type === 'DirectoryOrCreate' && !info.isDirectory()) throw new Error(`${where}: hostPath ${path} exists and is not a directory`);
      return source;
    case 'Directory':
      if (!info?.isDirectory()) throw new Error(`${where}: hostPath type check failed: ${path} is not a directory`);
      return source;
    case 'FileOrCreate':
      if (!info) {
        await mkdir(dirname(source), { recursive: true });
        await writeFile(source, '', { mode: 0o644 });
      } else if (!info.isFile()) throw new Error(`${where}: hostPath ${path} exists and is not a file`);
      return source;
    case 'File':
      if (!info?.isFile()) throw new Error(`${where}: hostPath type check failed: ${path} is not a file`);
      return source;
    case 'CharDevice':
      if (!info?.isCharacterDevice()) throw new Error(`${where}: hostPath type check failed: ${path} is not a character device`);
      return source;
    default:
      throw new Error(`${where}: hostPath type ${type} is not modelled`);
  }
}

/**
 * kubelet's atomic writer: the files in a timestamped directory, `..data` pointing at it, and
 * each top-level name a symlink through `..data`, so an update swaps one symlink.
 */
async function writeAtomically(dir: string, files: ReadonlyArray<{ path: string; content: string; mode: number }>): Promise<string> {
  const stamp = `..${new Date().toISOString().replace(/[-:T.Z]/g, '_')}${randomUUID().slice(0, 6)}`;
  await mkdir(join(dir, stamp), { recursive: true, mode: 0o755 });
  for (const file of files) {
    await mkdir(dirname(join(dir, stamp, file.path)), { recursive: true });
    await writeFile(join(dir, stamp, file.path), file.content, { mode: file.mode });
  }
  await symlink(stamp, join(dir, '..data'));
  for (const top of new Set(files.map((f) => f.path.split('/')[0]!))) await symlink(join('..data', top), join(dir, top));
  return dir;
}
