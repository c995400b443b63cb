import { jest } from '@jest/globals';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { type AgentNetworkConfig as NetworkConfig, type PeerData, parseNetworkConfig, peerDataDecoder } from '../../src/backend/registry.js';
import { formatSubnet } from '../../src/net/ipv4.js';
import { formatIpv6Subnet } from '../../src/net/ipv6.js';
import type { LeaseAttrs } from '../../src/subnet/lease.js';
import { nodeAnnotationKeys } from '../../src/subnet/kube/annotations.js';
import { KubeDatastore } from '../../src/subnet/kube/kubeSubnetManager.js';
import { NodeApi } from '../../src/subnet/kube/nodeApi.js';
import type { SubnetLease } from '../../src/subnet/subnetManager.js';
import { ConfigError } from '../../src/util/errors.js';
import { silentLogger } from '../../src/util/log.js';
import { FakeKubeApi } from '../helpers/fakeKubeApi.js';
import { waitFor } from '../helpers/waitFor.js';

jest.setTimeout(60_000);

const keys = nodeAnnotationKeys('flannel.alpha.coreos.com');
const DUAL = { Network: '10.244.0.0/16', EnableIPv6: true, IPv6Network: 'fd44::/48', Backend: { Type: 'vxlan' } };
const V6ONLY = { EnableIPv4: false, EnableIPv6: true, IPv6Network: 'fd44::/48', Backend: { Type: 'vxlan' } };

function attrs(i: number, ipv4 = true, ipv6 = true): LeaseAttrs {
  return {
    publicIP: ipv4 ? `192.168.50.${10 + i}` : '0.0.0.0',
    backendType: 'vxlan',
    backendData: ipv4 ? { VNI: 1, VtepMAC: `0a:00:00:00:04:0${i}` } : null,
    ...(ipv6 ? { publicIPv6: `fd50::${i}`, backendV6Data: { VNI: 1, VtepMAC: `0a:00:00:00:06:0${i}` } } : {}),
  };
}

describe('KubeDatastore with IPv6 (spec.podCIDRs, Flannel v6 annotations)', () => {
  let api: FakeKubeApi;
  let dir: string;
  const stores: KubeDatastore<NetworkConfig>[] = [];
  const invalid: string[] = [];

  beforeEach(async () => {
    api = await FakeKubeApi.start({ bookmarkIntervalMs: 500 });
    dir = await mkdtemp(join(tmpdir(), 'weft-kube6-'));
    invalid.length = 0;
  });
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((m) => m.close()));
    await api.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function start(node: string, conf: object, leaseAttrs: LeaseAttrs): Promise<SubnetLease<PeerData>> {
    const path = join(dir, `${node}.json`);
    await writeFile(path, JSON.stringify(conf));
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromString(api.kubeconfig());
    const store = new KubeDatastore({
      parseConfig: parseNetworkConfig,
      api: new NodeApi(kubeConfig),
      nodeName: node,
      keys,
      netConfigPath: path,
      logger: silentLogger(),
      onInvalidLease: (key, reason) => invalid.push(`${key}: ${reason}`),
      watchTimeoutSeconds: 5,
    });
    stores.push(store);
    const config = await store.readNetworkConfig();
    const lease = await store.acquire({ config, attrs: leaseAttrs, decodePeerData: peerDataDecoder(config.backend) });
    await lease.start();
    return lease;
  }

  test('dual-stack nodes lease both podCIDRs, publish the v6 annotations byte for byte, and see each other over both families', async () => {
    for (let i = 1; i <= 2; i++) api.createNode(`node${i}`, { podCIDR: `10.244.${i}.0/24`, podCIDRs: [`10.244.${i}.0/24`, `fd44:0:0:${i}::/64`] });
    const [a, b] = [await start('node1', DUAL, attrs(1)), await start('node2', DUAL, attrs(2))];
    expect(formatIpv6Subnet(a.ownLease().ipv6Subnet!)).toBe('fd44:0:0:1::/64');
    expect(api.annotations('node2')).toEqual({
      'flannel.alpha.coreos.com/kube-subnet-manager': 'true',
      'flannel.alpha.coreos.com/backend-type': 'vxlan',
      'flannel.alpha.coreos.com/backend-data': '{"VNI":1,"VtepMAC":"0a:00:00:00:04:02"}',
      'flannel.alpha.coreos.com/public-ip': '192.168.50.12',
      'flannel.alpha.coreos.com/backend-v6-data': '{"VNI":1,"VtepMAC":"0a:00:00:00:06:02"}',
      'flannel.alpha.coreos.com/public-ipv6': 'fd50::2',
    });
    await waitFor(() => a.peers().length === 1 && b.peers().length === 1, 5_000);
    const peer = a.peers()[0]!;
    expect([formatSubnet(peer.subnet), formatIpv6Subnet(peer.ipv6!.subnet), peer.ipv6!.publicIP, peer.ipv6!.data]).toEqual([
      '10.244.2.0/24',
      'fd44:0:0:2::/64',
      'fd50::2',
      { backend: 'vxlan', vni: 1, vtepMac: '0a:00:00:00:06:02' },
    ]);
    expect(invalid).toEqual([]);
  });

  test('public-ipv6-overwrite wins; a node without public-ipv6 is an IPv4-only peer; a bad v6 annotation is rejected and counted', async () => {
    api.createNode('node1', { podCIDRs: ['10.244.1.0/24', 'fd44:0:0:1::/64'] }, { [keys.publicIPv6Overwrite]: 'fd99::1' });
    api.createNode('v4only', { podCIDRs: ['10.244.5.0/24', 'fd44:0:0:5::/64'] }, {
      [keys.kubeSubnetManager]: 'true',
      [keys.backendType]: 'vxlan',
      [keys.backendData]: '{"VNI":1,"VtepMAC":"0a:00:00:00:04:05"}',
      [keys.publicIP]: '192.168.50.15',
    });
    api.createNode('hostile', { podCIDRs: ['10.244.6.0/24', 'fd44:0:0:6::/64'] }, {
      [keys.kubeSubnetManager]: 'true',
      [keys.backendType]: 'vxlan',
      [keys.backendData]: '{"VNI":1,"VtepMAC":"0a:00:00:00:04:06"}',
      [keys.publicIP]: '192.168.50.16',
      [keys.publicIPv6]: 'fe80::6',
      [keys.backendV6Data]: '{"VNI":1,"VtepMAC":"0a:00:00:00:06:06"}',
    });
    const a = await start('node1', DUAL, attrs(1));
    expect(api.annotations('node1')[keys.publicIPv6]).toBe('fd99::1');
    await waitFor(() => a.peers().length === 1 && invalid.length === 1, 5_000, () => JSON.stringify(invalid));
    expect(a.peers()[0]!.key).toBe('v4only');
    expect(a.peers()[0]!.ipv6).toBeUndefined();
    expect(invalid[0]).toContain('PublicIPv6 "fe80::6"');
  });

  test('an IPv6-only network leases the IPv6 podCIDR alone', async () => {
    api.createNode('node1', { podCIDR: 'fd44:0:0:1::/64', podCIDRs: ['fd44:0:0:1::/64'] });
    api.createNode('node2', { podCIDR: 'fd44:0:0:2::/64', podCIDRs: ['fd44:0:0:2::/64'] });
    const a = await start('node1', V6ONLY, attrs(1, false));
    await start('node2', V6ONLY, attrs(2, false));
    expect(a.ownLease().subnet).toEqual({ address: 0, prefixLength: 0 });
    await waitFor(() => a.peers().length === 1, 5_000, () => JSON.stringify(invalid));
    expect(formatIpv6Subnet(a.peers()[0]!.ipv6!.subnet)).toBe('fd44:0:0:2::/64');
  });

  test('SubnetSource "annotations" with EnableIPv6 is refused with a clear error', async () => {
    api.createNode('node1', {});
    await expect(start('node1', { ...DUAL, SubnetSource: 'annotations' }, attrs(1))).rejects.toThrow(ConfigError);
  });
});
