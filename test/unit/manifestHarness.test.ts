import { readFileSync } from 'node:fs';
import { parseDockerfile } from '../helpers/dockerImage.js';
import { REPO, findDoc, loadManifests, podTemplate } from '../helpers/kubeManifests.js';
import { RUNTIME_DEFAULT_CAPABILITIES, checkPodSpec, configMapFiles, containerArgv, containerCapabilities, containerEnv, expandVariables, type PodFacts } from '../helpers/podSpec.js';
import { allows, forbiddenMessage, requestAttributes } from '../helpers/rbac.js';
import { weftServiceAccountRules } from '../helpers/kubeManifests.js';
import { readmeInstall } from '../helpers/readmeInstall.js';

/** The pure parts of the manifest harness (test/helpers/manifestRunner.ts): what they read and refuse. */
describe('manifest harness', () => {
  const docs = loadManifests(['manifests/weft.yml', 'manifests/secondary/weft2.yml']);
  const weft = podTemplate(findDoc(docs, 'DaemonSet', 'weft')).spec;
  const image = { ...parseDockerfile(readFileSync(`${REPO}/Dockerfile`, 'utf8')), path: '/usr/bin:/bin' };
  const pod: PodFacts = {
    name: 'weft-abcde',
    namespace: 'weft-system',
    uid: 'u-1',
    nodeName: 'node-1',
    serviceAccountName: 'weft',
    podIP: '192.168.1.11',
    hostIP: '192.168.1.11',
    apiServer: { host: '192.168.1.254', port: 6443 },
  };

  describe('Dockerfile', () => {
    it("lays out exactly the final stage's COPY lines, mapped into the local build", () => {
      expect(image.copies).toEqual([
        { source: 'package.json', target: '/weft/package.json' },
        { source: 'dist/bundle', target: '/weft/dist/bundle' },
        { source: 'dist/proto', target: '/weft/dist/proto' },
        { source: 'dist/cni/flannel', target: '/weft/cni/flannel' },
      ]);
      expect(image).toMatchObject({ workdir: '/weft', entrypoint: ['/weft/dist/bundle/weft.mjs'], cmd: ['agent'] });
    });

    it('refuses what it cannot model instead of guessing', () => {
      expect(() => parseDockerfile('FROM a\nENTRYPOINT /bin/x')).toThrow(/exec \(JSON array\) form/);
      expect(() => parseDockerfile('FROM a AS b\nWORKDIR /src\nFROM c\nCOPY --from=b /etc/x /x')).toThrow(/outside stage b's WORKDIR/);
      expect(() => parseDockerfile('FROM a\nCOPY x y /dst/')).toThrow(/one source and a full destination/);
      expect(() => parseDockerfile('FROM a\nUSER nobody')).toThrow(/USER nobody: not modelled/);
    });
  });

  describe('RBAC', () => {
    const rules = weftServiceAccountRules();
    const asks = (method: string, path: string): boolean => allows(rules, requestAttributes(method, new URL(path, 'https://api')));

    it("grants what weft's ClusterRole lists and nothing else", () => {
      expect(asks('GET', '/api/v1/nodes')).toBe(true);
      expect(asks('GET', '/api/v1/nodes?watch=true')).toBe(true);
      expect(asks('GET', '/api/v1/nodes/n1')).toBe(true);
      expect(asks('PATCH', '/api/v1/nodes/n1/status')).toBe(true);
      expect(asks('PATCH', '/api/v1/nodes/n1')).toBe(false);
      expect(asks('PUT', '/api/v1/nodes/n1/status')).toBe(false);
      expect(asks('DELETE', '/api/v1/nodes/n1')).toBe(false);
      expect(asks('GET', '/api/v1/namespaces/default/pods')).toBe(false);
      expect(asks('GET', '/apis/apps/v1/namespaces/weft-system/daemonsets')).toBe(false);
    });

    it("refuses in kube-apiserver's words", () => {
      const user = 'system:serviceaccount:weft-system:weft';
      expect(forbiddenMessage(user, requestAttributes('PATCH', new URL('https://api/api/v1/nodes/n1')))).toBe(
        `nodes "n1" is forbidden: User "${user}" cannot patch resource "nodes" in API group "" at the cluster scope`,
      );
      expect(forbiddenMessage(user, requestAttributes('GET', new URL('https://api/apis/apps/v1/namespaces/x/daemonsets')))).toBe(
        `daemonsets.apps is forbidden: User "${user}" cannot list resource "daemonsets" in API group "apps" in the namespace "x"`,
      );
    });
  });

  describe('pod spec', () => {
    const [installPlugin] = weft.initContainers!;
    const agent = weft.containers[0]!;

    it('grants the runtime default capabilities to a container that asks for nothing, exactly add to one that drops ALL', () => {
      expect(containerCapabilities(installPlugin!)).toEqual(RUNTIME_DEFAULT_CAPABILITIES);
      expect(containerCapabilities(agent)).toEqual(['NET_ADMIN', 'NET_RAW']);
      expect(containerCapabilities({ name: 'x', securityContext: { capabilities: { drop: ['NET_RAW', 'CAP_KILL'] } } })).toEqual(RUNTIME_DEFAULT_CAPABILITIES.filter((c) => c !== 'NET_RAW' && c !== 'KILL'));
    });

    it("runs command and args over the image's ENTRYPOINT and CMD as Kubernetes does", () => {
      expect(containerArgv(installPlugin!, image, {})).toEqual(['cp', '-f', '/weft/cni/flannel', '/opt/cni/bin/flannel']);
      expect(containerArgv(agent, image, {})).toEqual(['/weft/dist/bundle/weft.mjs', ...agent.args!]);
      expect(containerArgv({ name: 'x' }, image, {})).toEqual(['/weft/dist/bundle/weft.mjs', 'agent']);
      expect(containerArgv({ name: 'x', command: ['echo'], args: ['$(NODE_NAME)', '$$(NODE_NAME)', '$(MISSING)'] }, image, { NODE_NAME: 'n1' })).toEqual(['echo', 'n1', '$(NODE_NAME)', '$(MISSING)']);
      expect(expandVariables('a$$b', {})).toBe('a$b');
    });

    it('resolves the downward API and injects the kubernetes Service, and refuses what it does not model', () => {
      expect(containerEnv(agent, pod, image)).toMatchObject({ NODE_NAME: 'node-1', POD_NAME: 'weft-abcde', POD_NAMESPACE: 'weft-system', KUBERNETES_SERVICE_HOST: '192.168.1.254', KUBERNETES_SERVICE_PORT: '6443', PATH: '/usr/bin:/bin' });
      expect(() => containerEnv({ name: 'x', env: [{ name: 'A', valueFrom: { fieldRef: { fieldPath: 'metadata.labels' } } }] }, pod, image)).toThrow(/env A: fieldRef metadata.labels is not modelled/);
      expect(() => containerEnv({ name: 'x', env: [{ name: 'A', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }] }, pod, image)).toThrow(/env A: this valueFrom is not modelled/);
    });

    it('refuses pod and container fields it does not reproduce, by name', () => {
      expect(() => checkPodSpec(weft, 'weft')).not.toThrow();
      expect(() => checkPodSpec({ ...weft, hostPID: true }, 'weft')).toThrow(/weft: hostPID not modelled/);
      expect(() => checkPodSpec({ ...weft, containers: [{ ...agent, securityContext: { runAsUser: 1000 } }] }, 'weft')).toThrow(/container weft securityContext: runAsUser not modelled/);
      expect(() => checkPodSpec({ ...weft, hostNetwork: false }, 'weft')).toThrow(/only hostNetwork pods/);
    });

    it("writes a ConfigMap volume's keys, or only its items, with their modes", () => {
      const data = { 'a.json': 'A', 'b.json': 'B' };
      expect(configMapFiles({ name: 'cm' }, data, 'v')).toEqual([
        { path: 'a.json', content: 'A', mode: 0o644 },
        { path: 'b.json', content: 'B', mode: 0o644 },
      ]);
      expect(configMapFiles({ name: 'cm', defaultMode: 0o600, items: [{ key: 'b.json', path: 'sub/b' }] }, data, 'v')).toEqual([{ path: 'sub/b', content: 'B', mode: 0o600 }]);
      expect(() => configMapFiles({ name: 'cm', items: [{ key: 'c', path: 'c' }] }, data, 'v')).toThrow(/has no key c/);
      expect(() => configMapFiles({ name: 'gone' }, undefined, 'v')).toThrow(/configmap "gone" not found/);
    });
  });

  it("README's install commands build the image the manifests run, and apply every manifest", () => {
    const install = readmeInstall(readFileSync(`${REPO}/README.md`, 'utf8'));
    const version = (JSON.parse(readFileSync(`${REPO}/package.json`, 'utf8')) as { version: string }).version;
    expect(install.image).toBe(`weft:${version}`);
    expect(install.kindLoaded).toBe(install.image);
    expect(install.applied).toEqual(['manifests/weft.yml', 'manifests/secondary/weft2.yml']);
    for (const ds of ['weft', 'weft2']) {
      const spec = podTemplate(findDoc(docs, 'DaemonSet', ds)).spec;
      for (const c of [...(spec.initContainers ?? []), ...spec.containers]) expect(c.image).toBe(install.image);
    }
  });
});
