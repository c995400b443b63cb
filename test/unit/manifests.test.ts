import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { Namespace, ServiceAccount, ConfigMap } from 'kubernetes-models/v1';
import { ClusterRole, ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { DaemonSet } from 'kubernetes-models/apps/v1';
import { parseNetworkConfig } from '../../src/backend/registry.js';
import { parseAgentArgs } from '../../src/cli/program.js';
import { DEFAULT_NET_CONFIG_PATH } from '../../src/cli/agentFlags.js';
import { NODE_IMAGE_PLUGINS } from '../helpers/kubeNode.js';

interface Doc {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  [key: string]: unknown;
}

function manifestFiles(dir = 'manifests'): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? manifestFiles(join(dir, e.name)) : e.name.endsWith('.yml') || e.name.endsWith('.yaml') ? [join(dir, e.name)] : []));
}

const docs: Array<{ file: string; doc: Doc }> = manifestFiles().flatMap((file) =>
  parseAllDocuments(readFileSync(file, 'utf8')).map((d) => {
    if (d.errors.length) throw new Error(`${file}: ${d.errors[0]!.message}`);
    return { file, doc: d.toJS() as Doc };
  }),
);

/** One schema-checked model class per kind weft ships; an unknown kind fails the test. */
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/ServiceAccount': ServiceAccount,
  'v1/ConfigMap': ConfigMap,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
  'apps/v1/DaemonSet': DaemonSet,
};

function find(kind: string, name: string): Doc {
  const hit = docs.find(({ doc }) => doc.kind === kind && doc.metadata.name === name);
  if (!hit) throw new Error(`no ${kind} ${name} in manifests/`);
  return hit.doc;
}

type Container = { name: string; image: string; args?: string[]; command?: string[]; volumeMounts?: Array<{ name: string; mountPath: string }> };
function podSpec(ds: Doc): { initContainers?: Container[]; containers: Container[]; volumes: Array<{ name: string; hostPath?: { path: string }; configMap?: { name: string } }> } {
  return (ds['spec'] as { template: { spec: ReturnType<typeof podSpec> } }).template.spec;
}

describe('manifests', () => {
  it('parses into the expected documents', () => {
    expect(docs.map(({ doc }) => `${doc.kind}/${doc.metadata.name}`).sort()).toEqual(
      ['ClusterRole/weft', 'ClusterRoleBinding/weft', 'ConfigMap/weft-cfg', 'ConfigMap/weft2-cfg', 'DaemonSet/weft', 'DaemonSet/weft2', 'Namespace/weft-system', 'NetworkAttachmentDefinition/weft2', 'ServiceAccount/weft'].sort(),
    );
  });

  it.each(docs.filter(({ doc }) => doc.kind !== 'NetworkAttachmentDefinition').map(({ file, doc }) => [`${file} ${doc.kind}/${doc.metadata.name}`, doc]))(
    '%s validates against the Kubernetes schema',
    (_name, doc) => {
      const Model = MODELS[`${doc.apiVersion}/${doc.kind}`];
      expect(Model).toBeDefined();
      expect(() => new Model!(doc as never).validate()).not.toThrow();
    },
  );

  it('has a validator that really rejects a broken DaemonSet', () => {
    const broken = JSON.parse(JSON.stringify(find('DaemonSet', 'weft'))) as { spec: { template: { spec: { containers: unknown } } } };
    broken.spec.template.spec.containers = 'weft';
    expect(() => new DaemonSet(broken as never).validate()).toThrow();
    expect(() => new DaemonSet({ metadata: { name: 'x' }, spec: { selector: {} } } as never).validate()).toThrow();
  });

  it('grants exactly the least RBAC: nodes get/list/watch and nodes/status patch', () => {
    expect(find('ClusterRole', 'weft')['rules']).toEqual([
      { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: [''], resources: ['nodes/status'], verbs: ['patch'] },
    ]);
    expect(find('ClusterRoleBinding', 'weft')['subjects']).toEqual([{ kind: 'ServiceAccount', name: 'weft', namespace: 'weft-system' }]);
  });

  /**
   * What the built plugin (`npm run build`) would hand its delegate on ADD for this network
   * config, with subnet.env replaced by a sample: the plugin's own parsing and validation.
   */
  function delegateConfig(conf: Record<string, unknown>): Record<string, unknown> {
    const dir = mkdtempSync(join(tmpdir(), 'weft-manifests-'));
    try {
      const subnetFile = join(dir, 'subnet.env');
      writeFileSync(subnetFile, 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.3.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n');
      const result = spawnSync('dist/cni/flannel', ['delegate-config'], { input: JSON.stringify({ ...conf, subnetFile }), encoding: 'utf8' });
      if (result.status !== 0) throw new Error(`dist/cni/flannel delegate-config (run npm run build first): ${result.error?.message ?? result.stdout}`);
      return JSON.parse(result.stdout) as Record<string, unknown>;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it("embeds a CNI conflist and net-conf.json that weft's own code accepts", () => {
    const data = find('ConfigMap', 'weft-cfg')['data'] as Record<string, string>;
    const conflist = JSON.parse(data['cni-conf.json']!) as { cniVersion: string; name: string; plugins: Array<Record<string, unknown>> };
    expect(conflist.plugins.map((p) => p['type'])).toEqual(['flannel', 'portmap']);
    // No subnetFile: the plugin's default is the path the agent writes.
    expect(conflist.plugins[0]!['subnetFile']).toBeUndefined();
    expect(podSpec(find('DaemonSet', 'weft')).containers[0]!.args).toContain('--subnet-file=/run/flannel/subnet.env');
    expect(delegateConfig({ cniVersion: conflist.cniVersion, name: conflist.name, ...conflist.plugins[0] })).toMatchObject({
      cniVersion: conflist.cniVersion,
      name: conflist.name,
      type: 'bridge',
      isGateway: true,
      ipMasq: false,
      mtu: 1450,
      ipam: { type: 'host-local', ranges: [[{ subnet: '10.244.3.0/24' }]] },
    });
    expect(parseNetworkConfig(data['net-conf.json']!).backend.type).toBe('vxlan');
    const secondary = parseNetworkConfig((find('ConfigMap', 'weft2-cfg')['data'] as Record<string, string>)['net-conf.json']!);
    expect(secondary).toMatchObject({ subnetSource: 'annotations', backend: { type: 'vxlan', vni: 2 } });
    const nadConfig = JSON.parse((find('NetworkAttachmentDefinition', 'weft2')['spec'] as { config: string }).config) as Record<string, unknown>;
    expect(nadConfig).toMatchObject({ type: 'flannel', subnetFile: '/run/flannel/weft2.env', dataDir: '/var/lib/cni/weft2' });
    expect(delegateConfig(nadConfig)).toMatchObject({ name: nadConfig['name'], type: 'bridge', bridge: 'cni1', ipam: { ranges: [[{ subnet: '10.244.3.0/24' }]] } });
  });

  it('offers a commented WireGuard net-conf.json that weft accepts, and the tun device its userspace fallback needs', () => {
    const text = readFileSync('manifests/weft.yml', 'utf8');
    const start = text.indexOf('  # net-conf.json: |\n');
    expect(start).toBeGreaterThan(0);
    const lines = text.slice(start).split('\n').slice(1);
    const json = lines.slice(0, lines.findIndex((l) => !l.startsWith('  #   '))).map((l) => l.slice('  #   '.length)).join('\n');
    const variant = parseNetworkConfig(json);
    expect(variant.backend).toMatchObject({ type: 'wireguard', listenPort: 51820, mode: 'separate' });
    const spec = podSpec(find('DaemonSet', 'weft'));
    expect(spec.containers[0]!.volumeMounts).toEqual(expect.arrayContaining([{ name: 'dev-net-tun', mountPath: '/dev/net/tun' }]));
    expect(spec.volumes.find((v) => v.name === 'dev-net-tun')!.hostPath).toEqual({ path: '/dev/net/tun', type: 'CharDevice' });
  });

  it('installs a plugin for every CNI type the conflist and the NetworkAttachmentDefinition name', () => {
    const installed = podSpec(find('DaemonSet', 'weft'))
      .initContainers!.map((c) => c.command!.at(-1)!)
      .filter((target) => target.startsWith('/opt/cni/bin/'))
      .map((target) => target.slice('/opt/cni/bin/'.length));
    const conflist = JSON.parse((find('ConfigMap', 'weft-cfg')['data'] as Record<string, string>)['cni-conf.json']!) as { plugins: Array<{ type: string }> };
    const nad = JSON.parse((find('NetworkAttachmentDefinition', 'weft2')['spec'] as { config: string }).config) as { type: string };
    for (const type of [...conflist.plugins.map((p) => p.type), nad.type]) expect([...installed, ...NODE_IMAGE_PLUGINS]).toContain(type);
  });

  it('runs the agent with flags weft accepts, as an unprivileged container with NET_ADMIN and NET_RAW', () => {
    for (const name of ['weft', 'weft2']) {
      const spec = podSpec(find('DaemonSet', name));
      const agent = spec.containers[0]!;
      expect(agent.args![0]).toBe('agent');
      expect(() => parseAgentArgs(agent.args!.slice(1))).not.toThrow();
      const ds = find('DaemonSet', name)['spec'] as { template: { spec: Record<string, unknown> } };
      expect(ds.template.spec).toMatchObject({ hostNetwork: true, priorityClassName: 'system-node-critical', tolerations: [{ operator: 'Exists' }] });
      expect((agent as unknown as { securityContext: unknown }).securityContext).toEqual({ privileged: false, capabilities: { drop: ['ALL'], add: ['NET_ADMIN', 'NET_RAW'] } });
      expect((agent as unknown as { resources: unknown }).resources).toEqual({ requests: { cpu: '100m', memory: '100Mi' } });
    }
  });

  it('agrees with the Dockerfile and with itself on images, paths and file names', () => {
    const dockerfile = readFileSync('Dockerfile', 'utf8');
    const version = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;
    const spec = podSpec(find('DaemonSet', 'weft'));
    const all = [...spec.initContainers!, ...spec.containers, ...podSpec(find('DaemonSet', 'weft2')).containers];
    for (const c of all) expect(c.image).toBe(`weft:${version}`);
    // The CNI binary the init container copies is where the image puts it.
    const [install, installConf] = spec.initContainers!;
    expect(dockerfile).toContain(`COPY --from=cni /src/dist/cni/flannel ${install!.command![2]}`);
    expect(install!.command![3]).toBe('/opt/cni/bin/flannel');
    expect(install!.volumeMounts).toEqual([{ name: 'cni-plugin', mountPath: '/opt/cni/bin' }]);
    // The conflist is copied from the ConfigMap mount, and the agent reads net-conf.json there too.
    expect(installConf!.command![2]).toBe('/etc/kube-flannel/cni-conf.json');
    const agent = spec.containers[0]!;
    expect(agent.args).toContain(`--net-config-path=${DEFAULT_NET_CONFIG_PATH}`);
    expect(agent.volumeMounts).toEqual(expect.arrayContaining([{ name: 'weft-cfg', mountPath: '/etc/kube-flannel/' }, { name: 'run', mountPath: '/run/flannel' }, { name: 'xtables-lock', mountPath: '/run/xtables.lock' }]));
    expect(spec.volumes.find((v) => v.name === 'weft-cfg')!.configMap!.name).toBe('weft-cfg');
    expect(dockerfile).toMatch(/ENTRYPOINT \["\/weft\/dist\/bundle\/weft\.mjs"\]/);
    // ...so the built bundle must keep the shebang that carries the memory settings.
    expect(readFileSync('dist/bundle/weft.mjs', 'utf8').split('\n', 1)[0]).toMatch(/^#!\/usr\/bin\/env -S MALLOC_ARENA_MAX=\d+ MALLOC_MMAP_THRESHOLD_=\d+ MALLOC_TRIM_THRESHOLD_=\d+ node --max-semi-space-size=\d+$/);
    // ...and V8 must take the code cache the build made under those settings.
    const started = spawnSync('dist/bundle/weft.mjs', ['--version'], { env: { ...process.env, WEFT_CODE_CACHE: 'report' }, encoding: 'utf8' });
    expect(started.stderr).toBe('code cache accepted\n');
    expect(started.stdout.trim()).toBe(version);
    // Probes hit the port the agent serves health on.
    expect(agent.args).toContain('--healthz-port=9474');
    expect(JSON.stringify(agent)).toContain('"port":9474');
    // The secondary agent reads its own net-conf.json from its own ConfigMap, and names its node.
    const secondarySpec = podSpec(find('DaemonSet', 'weft2'));
    const secondary = secondarySpec.containers[0]!;
    expect(secondary.args).toEqual(expect.arrayContaining(['--kube-subnet-mgr', '--net-config-path=/etc/weft2/net-conf.json', '--subnet-file=/run/flannel/weft2.env']));
    expect(secondary.volumeMounts).toEqual(expect.arrayContaining([{ name: 'weft2-cfg', mountPath: '/etc/weft2/' }]));
    expect(secondarySpec.volumes.find((v) => v.name === 'weft2-cfg')!.configMap!.name).toBe('weft2-cfg');
    for (const c of [agent, secondary]) expect(JSON.stringify(c)).toContain('{"name":"NODE_NAME","valueFrom":{"fieldRef":{"fieldPath":"spec.nodeName"}}}');
  });
});
