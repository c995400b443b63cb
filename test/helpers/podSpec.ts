import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { IConfigMapVolumeSource } from 'kubernetes-models/v1/ConfigMapVolumeSource';

/**
 * The pure part of running a pod spec the way kubelet and the container runtime do: which
 * fields the harness models, each container's argv, environment and capabilities, and the files
 * a ConfigMap volume holds. A field the harness does not model is refused by name rather than
 * silently ignored, so a manifest change the harness cannot reproduce is noticed.
 */

/** The pod spec fields the harness reproduces or knowingly leaves to the real cluster (see the note on issue #16). */
const POD_FIELDS = new Set(['hostNetwork', 'priorityClassName', 'serviceAccountName', 'tolerations', 'initContainers', 'containers', 'volumes', 'automountServiceAccountToken', 'terminationGracePeriodSeconds']);
const CONTAINER_FIELDS = new Set(['name', 'image', 'command', 'args', 'env', 'volumeMounts', 'securityContext', 'livenessProbe', 'readinessProbe', 'resources', 'ports']);
const SECURITY_CONTEXT_FIELDS = new Set(['privileged', 'capabilities']);
const VOLUME_MOUNT_FIELDS = new Set(['name', 'mountPath', 'readOnly']);

/** containerd's (and Docker's) default set for a container whose securityContext asks for nothing else. */
export const RUNTIME_DEFAULT_CAPABILITIES: readonly string[] = [
  'CHOWN', 'DAC_OVERRIDE', 'FSETID', 'FOWNER', 'MKNOD', 'NET_RAW', 'SETGID', 'SETUID', 'SETFCAP', 'SETPCAP', 'NET_BIND_SERVICE', 'SYS_CHROOT', 'KILL', 'AUDIT_WRITE',
];

/** What the downward API and the runtime know about a pod when its containers start. */
export interface PodFacts {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly nodeName: string;
  readonly serviceAccountName: string;
  /** With hostNetwork, the node's address. */
  readonly podIP: string;
  readonly hostIP: string;
  /** The API server as the kubernetes Service presents it to every pod. */
  readonly apiServer: { readonly host: string; readonly port: number };
}

/** The image facts a container starts from (parseDockerfile's ENTRYPOINT and CMD). */
export interface ImageStart {
  readonly entrypoint: readonly string[];
  readonly cmd: readonly string[];
  readonly path: string;
}

function refuseUnknown(fields: Set<string>, object: object, where: string): void {
  const unknown = Object.keys(object).filter((k) => !fields.has(k));
  if (unknown.length) throw new Error(`${where}: ${unknown.join(', ')} not modelled by the manifest harness`);
}

export function checkPodSpec(spec: IPodSpec, where: string): void {
  refuseUnknown(POD_FIELDS, spec, where);
  if (spec.hostNetwork !== true) throw new Error(`${where}: only hostNetwork pods are modelled (the agent's own pods)`);
  for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
    const at = `${where} container ${c.name}`;
    refuseUnknown(CONTAINER_FIELDS, c, at);
    if (c.securityContext) refuseUnknown(SECURITY_CONTEXT_FIELDS, c.securityContext, `${at} securityContext`);
    if (c.securityContext?.privileged === true) throw new Error(`${at}: privileged containers are not modelled`);
    for (const m of c.volumeMounts ?? []) refuseUnknown(VOLUME_MOUNT_FIELDS, m, `${at} volumeMount ${m.name}`);
  }
}

const FIELD_REFS: Record<string, (pod: PodFacts) => string> = {
  'metadata.name': (p) => p.name,
  'metadata.namespace': (p) => p.namespace,
  'metadata.uid': (p) => p.uid,
  'spec.nodeName': (p) => p.nodeName,
  'spec.serviceAccountName': (p) => p.serviceAccountName,
  'status.podIP': (p) => p.podIP,
  'status.hostIP': (p) => p.hostIP,
};

/** Kubernetes' $(VAR) expansion: a known variable is replaced, an unknown one left as written, $$ is a literal $. */
export function expandVariables(text: string, env: Readonly<Record<string, string>>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (whole, name: string | undefined) => (name === undefined ? '$' : (env[name] ?? whole)));
}

/**
 * The environment a container starts with: the image's PATH, what every runtime sets (HOSTNAME,
 * HOME), the kubernetes Service variables kubelet injects into every pod, then the container's own
 * env in order, downward API fields resolved and $(VAR) references expanded.
 */
export function containerEnv(container: IContainer, pod: PodFacts, image: ImageStart): Record<string, string> {
  const { host, port } = pod.apiServer;
  const env: Record<string, string> = {
    PATH: image.path,
    HOSTNAME: pod.nodeName,
    HOME: '/root',
    KUBERNETES_SERVICE_HOST: host,
    KUBERNETES_SERVICE_PORT: String(port),
    KUBERNETES_SERVICE_PORT_HTTPS: String(port),
    KUBERNETES_PORT: `tcp://${host}:${port}`,
  };
  if (container.envFrom?.length) throw new Error(`container ${container.name}: envFrom is not modelled`);
  for (const variable of container.env ?? []) {
    if (variable.value !== undefined) {
      env[variable.name] = expandVariables(variable.value, env);
      continue;
    }
    const fieldPath = variable.valueFrom?.fieldRef?.fieldPath;
    const field = fieldPath !== undefined ? FIELD_REFS[fieldPath] : undefined;
    if (!field) throw new Error(`container ${container.name} env ${variable.name}: ${fieldPath ? `fieldRef ${fieldPath}` : 'this valueFrom'} is not modelled`);
    env[variable.name] = field(pod);
  }
  return env;
}

/** command replaces the image's ENTRYPOINT (and drops its CMD); args replaces CMD. */
export function containerArgv(container: IContainer, image: ImageStart, env: Readonly<Record<string, string>>): string[] {
  const argv = container.command ? [...container.command, ...(container.args ?? [])] : [...image.entrypoint, ...(container.args ?? image.cmd)];
  if (argv.length === 0) throw new Error(`container ${container.name}: neither the manifest nor the image says what to run`);
  return argv.map((a) => expandVariables(a, env));
}

/** The runtime's default set, minus securityContext.capabilities.drop, plus add ("ALL" as the runtime reads it). */
export function containerCapabilities(container: IContainer): string[] {
  const { add = [], drop = [] } = container.securityContext?.capabilities ?? {};
  const normalise = (c: string): string => c.toUpperCase().replace(/^CAP_/, '');
  if (add.map(normalise).includes('ALL')) throw new Error(`container ${container.name}: capabilities.add ALL is not modelled`);
  const dropped = drop.map(normalise);
  const kept = dropped.includes('ALL') ? [] : RUNTIME_DEFAULT_CAPABILITIES.filter((c) => !dropped.includes(c));
  return [...new Set([...kept, ...add.map(normalise)])];
}

/** The files kubelet puts in a ConfigMap volume: every key, or only `items` (key → path), with their modes. */
export function configMapFiles(source: IConfigMapVolumeSource, data: Readonly<Record<string, string>> | undefined, where: string): Array<{ path: string; content: string; mode: number }> {
  if (data === undefined) {
    if (source.optional) return [];
    throw new Error(`${where}: configmap "${source.name}" not found`);
  }
  const mode = source.defaultMode ?? 0o644;
  if (!source.items) return Object.entries(data).map(([key, content]) => ({ path: key, content, mode }));
  return source.items.map((item) => {
    const content = data[item.key];
    if (content === undefined) throw new Error(`${where}: configmap "${source.name}" has no key ${item.key}`);
    if (item.path.split('/').includes('..') || item.path.startsWith('/')) throw new Error(`${where}: item path ${item.path} must be relative and stay inside the volume`);
    return { path: item.path, content, mode: item.mode ?? mode };
  });
}
