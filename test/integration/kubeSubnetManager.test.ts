import { jest } from '@jest/globals';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { type AgentNetworkConfig as NetworkConfig, type PeerData, parseNetworkConfig, peerDataDecoder } from '../../src/backend/registry.js';
import type { SubnetLease } from '../../src/subnet/subnetManager.js';
import { ConfigError } from '../../src/util/errors.js';
import { silentLogger } from '../../src/util/log.js';
import { formatSubnet, subnetsOverlap } from '../../src/net/ipv4.js';
import type { LeaseAttrs } from '../../src/subnet/lease.js';
import { nodeAnnotationKeys } from '../../src/subnet/kube/annotations.js';
import { loadKubeConfig } from '../../src/subnet/kube/kubeConfig.js';
import { KubeDatastore, type KubeDatastoreOptions } from '../../src/subnet/kube/kubeSubnetManager.js';
import { KubeApiError, NodeApi } from '../../src/subnet/kube/nodeApi.js';
import { FakeKubeApi } from '../helpers/fakeKubeApi.js';
import { type JsonObject, isJsonObject } from '../helpers/jsonPatches.js';
import { heartbeat, realisticNodeFields } from '../helpers/realisticNode.js';
import { waitFor } from '../helpers/waitFor.js';

jest.setTimeout(120_000);

const PRIMARY = 'flannel.alpha.coreos.com';
const keys = nodeAnnotationKeys(PRIMARY);
const VXLAN_CONF = { Network: '10.244.0.0/16', Backend: { Type: 'vxlan' } };

function vxlanAttrs(i: number, vni = 1): LeaseAttrs {
  return { publicIP: `192.168.50.${10 + i}`, backendType: 'vxlan', backendData: { VNI: vni, VtepMAC: `0a:00:00:00:00:${(10 + i).toString(16).padStart(2, '0')}` } };
}

type Manager = KubeDatastore<NetworkConfig>;
type Options = Partial<KubeDatastoreOptions<NetworkConfig>>;

function acquire(m: Manager, request: { attrs: LeaseAttrs; config: NetworkConfig }): Promise<SubnetLease<PeerData>> {
  return m.acquire({ ...request, decodePeerData: peerDataDecoder(request.config.backend) });
}

function condition(api: FakeKubeApi, node: string, type: string): Record<string, unknown> | undefined {
  const status = api.node(node)?.['status'];
  const conditions = isJsonObject(status) && Array.isArray(status['conditions']) ? status['conditions'] : [];
  return conditions.find((c) => isJsonObject(c) && c['type'] === type) as Record<string, unknown> | undefined;
}

describe('KubeDatastore against the fake API server, through @kubernetes/client-node', () => {
  let api: FakeKubeApi;
  let dir: string;
  const managers: Manager[] = [];
  const restarts: string[] = [];
  const invalid: string[] = [];

  beforeEach(async () => {
    api = await FakeKubeApi.start({ bookmarkIntervalMs: 500 });
    dir = await mkdtemp(join(tmpdir(), 'weft-kube-'));
    restarts.length = 0;
    invalid.length = 0;
  });
  afterEach(async () => {
    await Promise.all(managers.splice(0).map((m) => m.close()));
    await api.stop();
    await rm(dir, { recursive: true, force: true });
  });

  function client(): NodeApi {
    const config = new KubeConfig();
    config.loadFromString(api.kubeconfig());
    return new NodeApi(config);
  }

  async function netConf(conf: object, name = 'net-conf.json'): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, JSON.stringify(conf));
    return path;
  }

  function manager(node: string, netConfigPath: string, extra: Options = {}): Manager {
    const m = new KubeDatastore({
      parseConfig: parseNetworkConfig,
      api: client(),
      nodeName: node,
      keys,
      netConfigPath,
      logger: silentLogger(),
      onWatchRestart: (reason) => restarts.push(reason),
      onInvalidLease: (key, reason) => invalid.push(`${key}: ${reason}`),
      watchTimeoutSeconds: 5,
      ...extra,
    });
    managers.push(m);
    return m;
  }

  async function startNode(node: string, i: number, netConfigPath: string, extra: Options = {}): Promise<{ m: SubnetLease<PeerData>; config: NetworkConfig }> {
    const datastore = manager(node, netConfigPath, extra);
    const config = await datastore.readNetworkConfig();
    const m = await acquire(datastore, { attrs: vxlanAttrs(i), config });
    await m.start();
    return { m, config };
  }

  function peerSummary(m: SubnetLease<PeerData>): string[] {
    return m.peers().map((p) => `${p.key} ${formatSubnet(p.subnet)} ${p.publicIP} ${p.data.backend === 'vxlan' ? p.data.vtepMac : ''}`);
  }

  test('three nodes: podCIDR leases, Flannel annotations, peers, NetworkUnavailable cleared', async () => {
    const path = await netConf(VXLAN_CONF);
    for (let i = 1; i <= 3; i++) api.createNode(`node${i}`, { podCIDR: `10.244.${i}.0/24` });
    api.updateNode('node1', (n) => {
      (n['status'] as { conditions: unknown[] }).conditions.push({ type: 'Ready', status: 'True' });
    });
    const started: Array<{ m: SubnetLease<PeerData>; config: NetworkConfig }> = [];
    for (let i = 1; i <= 3; i++) started.push(await startNode(`node${i}`, i, path));
    started.forEach(({ m }, i) => expect(formatSubnet(m.ownLease().subnet)).toBe(`10.244.${i + 1}.0/24`));
    expect(api.annotations('node2')).toEqual({
      'flannel.alpha.coreos.com/kube-subnet-manager': 'true',
      'flannel.alpha.coreos.com/backend-type': 'vxlan',
      'flannel.alpha.coreos.com/backend-data': '{"VNI":1,"VtepMAC":"0a:00:00:00:00:0c"}',
      'flannel.alpha.coreos.com/public-ip': '192.168.50.12',
    });
    await waitFor(() => started.every(({ m }) => m.peers().length === 2), 5_000, () => JSON.stringify(started.map(({ m }) => peerSummary(m))));
    expect(peerSummary(started[0]!.m)).toEqual(['node2 10.244.2.0/24 192.168.50.12 0a:00:00:00:00:0c', 'node3 10.244.3.0/24 192.168.50.13 0a:00:00:00:00:0d']);

    await started[0]!.m.dataPlaneReady();
    expect(condition(api, 'node1', 'NetworkUnavailable')).toMatchObject({ status: 'False', reason: 'WeftIsUp' });
    expect(condition(api, 'node1', 'Ready')).toMatchObject({ status: 'True' });
    expect(api.patches.at(-1)).toMatchObject({ subresource: 'status', contentType: 'application/strategic-merge-patch+json' });
  });

  test('a restart with unchanged attributes writes nothing; changes, overwrites and deletions propagate', async () => {
    const path = await netConf(VXLAN_CONF);
    for (let i = 1; i <= 2; i++) api.createNode(`node${i}`, { podCIDR: `10.244.${i}.0/24` });
    // node3 runs no agent here (a Flannel node, say): its annotations are whatever was written.
    const flannelNode = {
      [keys.kubeSubnetManager]: 'true',
      [keys.backendType]: 'vxlan',
      [keys.backendData]: '{"VNI":1,"VtepMAC":"0a:00:00:00:00:33"}',
      [keys.publicIP]: '192.168.50.33',
    };
    api.createNode('node3', { podCIDR: '10.244.3.0/24' }, flannelNode);
    const a = (await startNode('node1', 1, path)).m;
    const second = await startNode('node2', 2, path);
    await waitFor(() => a.peers().length === 2, 5_000);

    const patchesBefore = api.requests.patch;
    await second.m.close();
    const b = (await startNode('node2', 2, path)).m;
    expect(api.requests.patch).toBe(patchesBefore);

    api.updateNode('node3', (n) => {
      (n['metadata'] as { annotations: Record<string, string> }).annotations[keys.backendData] = '{"VNI":1,"VtepMAC":"0a:00:00:00:00:99"}';
    });
    await waitFor(() => peerSummary(a).includes('node3 10.244.3.0/24 192.168.50.33 0a:00:00:00:00:99'), 5_000, () => peerSummary(a).join());

    // An operator's public-ip-overwrite on node2 is published by node2's agent and reaches node1.
    api.updateNode('node2', (n) => {
      (n['metadata'] as { annotations: Record<string, string> }).annotations[keys.publicIPOverwrite] = '203.0.113.7';
    });
    await waitFor(() => api.annotations('node2')[keys.publicIP] === '203.0.113.7', 5_000);
    await waitFor(() => peerSummary(a).some((p) => p.startsWith('node2 10.244.2.0/24 203.0.113.7')), 5_000, () => peerSummary(a).join());
    expect(b.peers()).toHaveLength(2);

    api.deleteNode('node3');
    await waitFor(() => a.peers().length === 1, 5_000, () => peerSummary(a).join());
  });

  test('kubelet status updates change no lease: no change event, and the next real change is the only one', async () => {
    const path = await netConf(VXLAN_CONF);
    api.createNode('node1', { podCIDR: '10.244.1.0/24' });
    const peer = (name: string, i: number): void => {
      const fields = realisticNodeFields(name, i, `192.168.50.${30 + i}`);
      api.createNode(name, { podCIDR: `10.244.${i}.0/24` }, {
        [keys.kubeSubnetManager]: 'true',
        [keys.backendType]: 'vxlan',
        [keys.backendData]: `{"VNI":1,"VtepMAC":"0a:00:00:00:00:${30 + i}"}`,
        [keys.publicIP]: `192.168.50.${30 + i}`,
      }, (n) => {
        n['status'] = fields.status;
        (n['metadata'] as Record<string, unknown>)['managedFields'] = fields.managedFields;
      });
    };
    peer('node2', 2);
    const { m } = await startNode('node1', 1, path);
    await waitFor(() => m.peers().length === 1, 5_000);
    let changes = 0;
    m.on('change', () => changes++);
    for (let k = 0; k < 20; k++) {
      api.updateNode('node2', heartbeat);
      api.updateNode('node1', heartbeat);
    }
    peer('node3', 3);
    await waitFor(() => m.peers().length === 2, 5_000, () => peerSummary(m).join());
    expect(changes).toBe(1);
  });

  test('annotations removed by hand are written back', async () => {
    const path = await netConf(VXLAN_CONF);
    api.createNode('node1', { podCIDR: '10.244.1.0/24' });
    await startNode('node1', 1, path);
    api.updateNode('node1', (n) => {
      (n['metadata'] as { annotations: Record<string, string> }).annotations = {};
    });
    await waitFor(() => api.annotations('node1')[keys.kubeSubnetManager] === 'true', 5_000);
  });

  test('a watch dropped mid-stream resumes without losing the change made while it was down', async () => {
    const path = await netConf(VXLAN_CONF);
    for (let i = 1; i <= 2; i++) api.createNode(`node${i}`, { podCIDR: `10.244.${i}.0/24` });
    const a = (await startNode('node1', 1, path)).m;
    await startNode('node2', 2, path);
    await waitFor(() => a.peers().length === 1, 5_000);
    api.dropWatches();
    api.createNode('node3', { podCIDR: '10.244.3.0/24' }, {
      [keys.kubeSubnetManager]: 'true',
      [keys.backendType]: 'vxlan',
      [keys.backendData]: '{"VNI":1,"VtepMAC":"0a:00:00:00:00:33"}',
      [keys.publicIP]: '192.168.50.33',
    });
    await waitFor(() => a.peers().length === 2, 10_000, () => peerSummary(a).join());
    expect(restarts).toContain('disconnected');
    expect(api.requests.list).toBeGreaterThan(0);
  });

  test('410 Gone after an outage relists, so a deletion during the outage is not missed', async () => {
    const path = await netConf(VXLAN_CONF);
    for (let i = 1; i <= 3; i++) api.createNode(`node${i}`, { podCIDR: `10.244.${i}.0/24` });
    const a = (await startNode('node1', 1, path)).m;
    await startNode('node2', 2, path);
    await startNode('node3', 3, path);
    await waitFor(() => a.peers().length === 2, 5_000);
    const lists = api.requests.list;
    await api.stop();
    api.deleteNode('node3');
    api.compact();
    await api.resume();
    await waitFor(() => a.peers().length === 1, 15_000, () => peerSummary(a).join());
    expect(restarts).toContain('expired');
    expect(api.requests.list).toBeGreaterThan(lists);
  });

  test('409 conflicts on the annotation patch are retried on a fresh read', async () => {
    const path = await netConf(VXLAN_CONF);
    api.createNode('node1', { podCIDR: '10.244.1.0/24' });
    api.failNextPatches(2);
    await startNode('node1', 1, path);
    expect(api.annotations('node1')[keys.kubeSubnetManager]).toBe('true');
    expect(api.patches.filter((p) => p.name === 'node1')).toHaveLength(3);
  });

  test('waits for podCIDR, then takes it; a podCIDR outside Network is a clear error', async () => {
    const path = await netConf(VXLAN_CONF);
    api.createNode('node1', {});
    const m = manager('node1', path);
    const config = await m.readNetworkConfig();
    const acquired = acquire(m, { attrs: vxlanAttrs(1), config });
    await new Promise((r) => setTimeout(r, 1_500));
    api.updateNode('node1', (n) => {
      n['spec'] = { podCIDR: '10.244.7.0/24' };
    });
    expect(formatSubnet((await acquired).ownLease().subnet)).toBe('10.244.7.0/24');

    api.createNode('node9', { podCIDR: '10.99.0.0/24' });
    const bad = manager('node9', path);
    await expect(acquire(bad, { attrs: vxlanAttrs(9), config })).rejects.toThrow(/node node9 spec\.podCIDR.*outside Network 10\.244\.0\.0\/16/);
    await expect(acquire(bad, { attrs: vxlanAttrs(9), config })).rejects.toBeInstanceOf(ConfigError);
  });

  test('hostile annotations are never peers: our subnet, a bad MAC, a foreign network, a broadcast IP', async () => {
    const path = await netConf(VXLAN_CONF);
    api.createNode('node1', { podCIDR: '10.244.1.0/24' });
    const good = { [keys.kubeSubnetManager]: 'true', [keys.backendType]: 'vxlan', [keys.publicIP]: '192.168.50.40' };
    const mac = (m: string): Record<string, string> => ({ [keys.backendData]: `{"VNI":1,"VtepMAC":"${m}"}` });
    api.createNode('hijack', { podCIDR: '10.244.1.0/24' }, { ...good, ...mac('0a:00:00:00:00:41') });
    api.createNode('badmac', { podCIDR: '10.244.42.0/24' }, { ...good, ...mac('ff:ff:ff:ff:ff:ff') });
    api.createNode('outside', { podCIDR: '10.1.0.0/24' }, { ...good, ...mac('0a:00:00:00:00:43') });
    api.createNode('bcast', { podCIDR: '10.244.44.0/24' }, { ...good, ...mac('0a:00:00:00:00:44'), [keys.publicIP]: '255.255.255.255' });
    api.createNode('fine', { podCIDR: '10.244.45.0/24' }, { ...good, ...mac('0a:00:00:00:00:45') });
    api.createNode('not-weft', { podCIDR: '10.244.46.0/24' });
    const { m } = await startNode('node1', 1, path);
    await waitFor(() => m.peers().length === 1 && invalid.length === 4, 5_000, () => `${peerSummary(m).join()} | ${invalid.join(' | ')}`);
    expect(peerSummary(m)).toEqual(['fine 10.244.45.0/24 192.168.50.40 0a:00:00:00:00:45']);
    expect(invalid.join('\n')).toMatch(/hijack: .*own subnet/);
    expect(invalid.join('\n')).toMatch(/badmac: VtepMAC/);
    expect(invalid.join('\n')).toMatch(/outside: .*outside Network/);
    expect(invalid.join('\n')).toMatch(/bcast: PublicIP/);
  });

  describe('secondary network (SubnetSource: annotations)', () => {
    const SECONDARY = nodeAnnotationKeys('weft2.weft.io');
    const conf = { Network: '10.50.0.0/21', SubnetLen: 26, SubnetSource: 'annotations', Backend: { Type: 'vxlan', VNI: 2 } };

    function secondary(node: string, path: string, random?: () => number): Manager {
      return manager(node, path, { keys: SECONDARY, ...(random ? { random } : {}) });
    }

    /** Every racer's first pick is the lowest free subnet, so all 20 collide at least once. */
    function collideFirst(): () => number {
      let calls = 0;
      return () => (calls++ === 0 ? 0 : Math.random());
    }

    test('20 agents racing on 20 nodes get 20 distinct subnets; a restart keeps its subnet', async () => {
      const path = await netConf(conf);
      const names = Array.from({ length: 20 }, (_, i) => `node${i + 1}`);
      for (const name of names) api.createNode(name, { podCIDR: '10.244.0.0/24' });
      const ms = names.map((n) => secondary(n, path, collideFirst()));
      const config = await ms[0]!.readNetworkConfig();
      const leases = await Promise.all(ms.map(async (m, i) => (await acquire(m, { attrs: vxlanAttrs(i + 1, 2), config })).ownLease()));
      const subnets = leases.map((l) => formatSubnet(l.subnet));
      expect(new Set(subnets).size).toBe(20);
      for (const l of leases) expect(subnetsOverlap(l.subnet, config.network)).toBe(true);
      names.forEach((n, i) => expect(api.annotations(n)[SECONDARY.subnet]).toBe(subnets[i]));

      await ms[4]!.close();
      const again = secondary('node5', path);
      expect(formatSubnet((await acquire(again, { attrs: vxlanAttrs(5, 2), config })).ownLease().subnet)).toBe(subnets[4]);
      // The primary network's annotations are untouched by the secondary's.
      expect(Object.keys(api.annotations('node5')).every((k) => k.startsWith('weft2.weft.io/'))).toBe(true);
    });

    test('peers come from subnet annotations, and a deleted node frees its subnet', async () => {
      // Exactly two subnets in range: 10.50.0.64/26 and 10.50.0.128/26.
      const path = await netConf({ ...conf, Network: '10.50.0.0/24', SubnetMin: '10.50.0.64', SubnetMax: '10.50.0.128' });
      for (const n of ['a', 'b', 'c']) api.createNode(n);
      const aStore = secondary('a', path);
      const config = await aStore.readNetworkConfig();
      const a = await acquire(aStore, { attrs: vxlanAttrs(1, 2), config });
      await a.start();
      const b = await acquire(secondary('b', path), { attrs: vxlanAttrs(2, 2), config });
      await waitFor(() => a.peers().length === 1, 5_000);
      expect(a.peers()[0]).toMatchObject({ key: 'b', subnet: b.ownLease().subnet });
      const c = secondary('c', path);
      await expect(acquire(c, { attrs: vxlanAttrs(3, 2), config })).rejects.toThrow(/no free subnet/);
      const freed = b.ownLease().subnet;
      await b.close();
      api.deleteNode('b');
      await waitFor(() => a.peers().length === 0, 5_000);
      const c2 = secondary('c', path);
      expect((await acquire(c2, { attrs: vxlanAttrs(3, 2), config })).ownLease().subnet).toEqual(freed);
    });

    test('does not clear NetworkUnavailable: that belongs to the primary network', async () => {
      const path = await netConf(conf);
      api.createNode('node1');
      const datastore = secondary('node1', path);
      const config = await datastore.readNetworkConfig();
      await (await acquire(datastore, { attrs: vxlanAttrs(1), config })).dataPlaneReady();
      expect(condition(api, 'node1', 'NetworkUnavailable')).toMatchObject({ status: 'True' });
    });
  });

  describe('NodeApi reads node lists and watch events itself (nodeJson.ts)', () => {
    function kubeletNode(name: string, i: number, spec: JsonObject = { podCIDR: `10.244.${i % 256}.0/24` }): void {
      const fields = realisticNodeFields(name, i, `192.168.50.${i % 250}`);
      api.createNode(name, spec, { [keys.publicIP]: `192.168.50.${i % 250}` }, (node) => {
        (node['metadata'] as Record<string, unknown>)['managedFields'] = fields.managedFields;
        node['status'] = fields.status;
      });
    }

    test('1203 kubelet-sized nodes come back slim, in three pages', async () => {
      for (let i = 0; i < 1203; i++) kubeletNode(`n${String(i).padStart(4, '0')}`, i);
      const listing = await client().list();
      expect(api.requests.list).toBe(3);
      expect(listing.items.map((n) => n.metadata?.name)).toEqual(api.nodeNames().sort());
      expect(listing.resourceVersion).toBe((api.node('n1202')!['metadata'] as Record<string, unknown>)['resourceVersion']);
      expect(listing.items[7]).toEqual({
        metadata: { name: 'n0007', resourceVersion: expect.any(String), creationTimestamp: expect.any(Date), annotations: { [keys.publicIP]: '192.168.50.7' } },
        spec: { podCIDR: '10.244.7.0/24' },
      });
    });

    test('a node of the wrong shape fails the list, naming the node and the field', async () => {
      kubeletNode('good', 1);
      kubeletNode('bad', 2, { podCIDR: 5 });
      await expect(client().list()).rejects.toThrow(/node "bad" from the API server: spec\.podCIDR must be a string, got 5/);
    });

    test('watch events are slim; a status update arrives as MODIFIED; a node of the wrong shape ends the stream with the reason', async () => {
      kubeletNode('w1', 1);
      const { resourceVersion } = await client().list();
      const events: string[] = [];
      let ended: unknown = 'running';
      const handle = await client().watch(resourceVersion, 30, (event) => {
        if (event.type === 'ADDED' || event.type === 'MODIFIED') events.push(`${event.type} ${event.node.metadata?.name} ${Object.keys(event.node).join(',')}`);
      }, (err) => (ended = err));
      try {
        api.updateNode('w1', heartbeat);
        kubeletNode('w2', 2);
        await waitFor(() => events.length === 2, 5_000);
        expect(events).toEqual(['MODIFIED w1 metadata,spec', 'ADDED w2 metadata,spec']);
        kubeletNode('w3', 3, { podCIDRs: 'not a list' });
        await waitFor(() => ended !== 'running', 5_000);
        expect(String(ended)).toMatch(/node "w3" from the API server: spec\.podCIDRs must be a list of strings/);
      } finally {
        handle.abort();
      }
    });
  });

  describe('connection settings', () => {
    test('TLS and a bearer token from a kubeconfig file, --kube-api-url overriding its server, 401 reported as such', async () => {
      const secured = await FakeKubeApi.start({ token: 's3cret' });
      try {
        secured.createNode('node1', { podCIDR: '10.244.1.0/24' });
        const file = join(dir, 'kubeconfig');
        await writeFile(file, secured.kubeconfig());
        expect(await new NodeApi(loadKubeConfig({ kubeconfigFile: file })).get('node1')).toBeDefined();
        // The file's server is wrong; the flag wins, the file's credentials stay.
        await writeFile(file, secured.kubeconfig().replace(secured.url, 'https://127.0.0.1:1'));
        expect(await new NodeApi(loadKubeConfig({ kubeconfigFile: file, kubeApiUrl: secured.url })).get('node1')).toBeDefined();
        await writeFile(file, secured.kubeconfig('wrong'));
        const err = await new NodeApi(loadKubeConfig({ kubeconfigFile: file })).get('node1').catch((e: unknown) => e);
        expect(err).toBeInstanceOf(KubeApiError);
        expect((err as KubeApiError).status).toBe(401);
        // The list and the watch, which weft reads without the client's decoder, too.
        const listed = await new NodeApi(loadKubeConfig({ kubeconfigFile: file })).list().catch((e: unknown) => e);
        expect(listed).toBeInstanceOf(KubeApiError);
        expect(String(listed)).toMatch(/listing nodes: HTTP 401: Unauthorized/);
        const watched = await new Promise<unknown>((resolve) => void new NodeApi(loadKubeConfig({ kubeconfigFile: file })).watch('1', 5, () => undefined, resolve));
        expect((watched as KubeApiError).status).toBe(401);
      } finally {
        await secured.stop();
      }
    });

    test('no kubeconfig, no API URL and no service account: a clear error', () => {
      const saved = process.env['KUBERNETES_SERVICE_HOST'];
      delete process.env['KUBERNETES_SERVICE_HOST'];
      try {
        expect(() => loadKubeConfig({})).toThrow(/--kubeconfig-file: is required outside a pod/);
      } finally {
        if (saved !== undefined) process.env['KUBERNETES_SERVICE_HOST'] = saved;
      }
    });

    test('a missing or invalid net-conf.json names the file', async () => {
      const missing = manager('node1', join(dir, 'absent.json'));
      await expect(missing.readNetworkConfig()).rejects.toThrow(/--net-config-path: cannot be read/);
      const invalidConf = manager('node1', await netConf({ Network: '10.244.0.0/33' }));
      await expect(invalidConf.readNetworkConfig()).rejects.toThrow(/Network/);
      expect(() => parseNetworkConfig(JSON.stringify({ ...VXLAN_CONF, SubnetSource: 'podcidr' }))).not.toThrow();
      expect(() => parseNetworkConfig(JSON.stringify({ ...VXLAN_CONF, SubnetSource: 'etcd' }))).toThrow(/SubnetSource: must be one of/);
    });
  });
});
