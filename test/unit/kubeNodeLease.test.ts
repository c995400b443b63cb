import type { V1Node } from '@kubernetes/client-node';
import { parseNetworkConfig, peerDataDecoder } from '../../src/backend/registry.js';
import { ConfigError } from '../../src/util/errors.js';
import { formatSubnet, parseIpv4Cidr, type Ipv4Subnet } from '../../src/net/ipv4.js';
import { nodeAnnotationKeys, normalizeAnnotationPrefix } from '../../src/subnet/kube/annotations.js';
import {
  annotationChanges,
  chooseSubnetClaim,
  claimedSubnetText,
  desiredAnnotations,
  nodeLease,
  otherClaims,
  ownPodCidr,
  validateNodeLease,
} from '../../src/subnet/kube/nodeLease.js';

const keys = nodeAnnotationKeys('flannel.alpha.coreos.com');
const config = parseNetworkConfig(JSON.stringify({ Network: '10.244.0.0/16', Backend: { Type: 'vxlan' } }));

function cidr(text: string): Ipv4Subnet {
  const r = parseIpv4Cidr(text);
  if (!r.ok) throw new Error(r.reason);
  return r.subnet;
}

function node(name: string, spec: V1Node['spec'] = {}, annotations: Record<string, string> = {}): V1Node {
  return { metadata: { name, annotations }, spec };
}

const published = {
  'flannel.alpha.coreos.com/kube-subnet-manager': 'true',
  'flannel.alpha.coreos.com/backend-type': 'vxlan',
  'flannel.alpha.coreos.com/backend-data': '{"VNI":1,"VtepMAC":"0a:58:0a:f4:01:01"}',
  'flannel.alpha.coreos.com/public-ip': '192.168.1.11',
};

describe('annotation prefix normalisation (Flannel rules)', () => {
  test.each([
    ['flannel.alpha.coreos.com', 'flannel.alpha.coreos.com/'],
    ['flannel.alpha.coreos.com/', 'flannel.alpha.coreos.com/'],
    ['weft.example.com/net2', 'weft.example.com/net2-'],
    ['weft.example.com/net2-', 'weft.example.com/net2-'],
  ])('%s → %s', (prefix, normalized) => {
    expect(normalizeAnnotationPrefix(prefix)).toBe(normalized);
  });

  test('keys follow the normalised prefix', () => {
    expect(nodeAnnotationKeys('weft.example.com/net2')).toMatchObject({
      backendType: 'weft.example.com/net2-backend-type',
      publicIPOverwrite: 'weft.example.com/net2-public-ip-overwrite',
      subnet: 'weft.example.com/net2-subnet',
    });
  });

  test.each(['a/b/c', 'localhost', 'Flannel.Example.com', 'example.com/Net', ''])('rejects %j naming the flag', (prefix) => {
    expect(() => normalizeAnnotationPrefix(prefix)).toThrow(ConfigError);
    expect(() => normalizeAnnotationPrefix(prefix)).toThrow(/--kube-annotation-prefix/);
  });
});

describe('node leases', () => {
  test('a node without kube-subnet-manager=true is not a peer at all', () => {
    expect(nodeLease(node('n', { podCIDR: '10.244.1.0/24' }), keys, 'podCIDR')).toBeUndefined();
  });

  test('a published node validates into a peer', () => {
    const lease = nodeLease(node('n1', { podCIDR: '10.244.1.0/24' }, published), keys, 'podCIDR')!;
    const result = validateNodeLease(lease, { config, decodePeerData: peerDataDecoder(config.backend), anySubnetLength: true });
    expect(result).toEqual({
      ok: true,
      lease: { key: 'n1', subnet: cidr('10.244.1.0/24'), publicIP: '192.168.1.11', backendType: 'vxlan', data: { backend: 'vxlan', vni: 1, vtepMac: '0a:58:0a:f4:01:01' } },
    });
  });

  test.each([
    ['no podCIDR', {}, published, /no subnet/],
    ['podCIDR with host bits', { podCIDR: '10.244.1.1/24' }, published, /host bits/],
    ['podCIDR outside Network', { podCIDR: '10.1.0.0/24' }, published, /outside Network/],
    ['backend-data not JSON', { podCIDR: '10.244.1.0/24' }, { ...published, [keys.backendData]: '{oops' }, /BackendData/],
    ['wrong backend', { podCIDR: '10.244.1.0/24' }, { ...published, [keys.backendType]: 'host-gw' }, /BackendType/],
    ['missing public-ip', { podCIDR: '10.244.1.0/24' }, { ...published, [keys.publicIP]: '' }, /PublicIP/],
  ])('%s is rejected with a reason', (_name, spec, annotations, reason) => {
    const lease = nodeLease(node('n1', spec, annotations), keys, 'podCIDR')!;
    const result = validateNodeLease(lease, { config, decodePeerData: peerDataDecoder(config.backend), anySubnetLength: true });
    expect(result.ok).toBe(false);
    expect(result.ok ? '' : result.reason).toMatch(reason);
  });

  test('podCIDR sizes come from the controller manager, so any length inside Network is fine in podCIDR mode only', () => {
    const lease = nodeLease(node('n1', { podCIDR: '10.244.1.0/25' }, published), keys, 'podCIDR')!;
    expect(validateNodeLease(lease, { config, decodePeerData: peerDataDecoder(config.backend), anySubnetLength: true }).ok).toBe(true);
    expect(validateNodeLease(lease, { config, decodePeerData: peerDataDecoder(config.backend) }).ok).toBe(false);
  });

  test('a dual-stack node contributes its IPv4 podCIDR', () => {
    expect(claimedSubnetText(node('n', { podCIDR: 'fd00:10::/64', podCIDRs: ['fd00:10::/64', '10.244.3.0/24'] }), keys, 'podCIDR')).toBe('10.244.3.0/24');
  });
});

describe('own podCIDR', () => {
  test('empty means wait', () => {
    expect(ownPodCidr(node('me'), keys, config)).toEqual({ kind: 'waiting' });
  });
  test('inside Network is the lease', () => {
    expect(ownPodCidr(node('me', { podCIDR: '10.244.9.0/24' }), keys, config)).toEqual({ kind: 'ok', subnet: cidr('10.244.9.0/24') });
  });
  test('outside Network or malformed is an error naming the node and the field', () => {
    expect(() => ownPodCidr(node('me', { podCIDR: '10.96.0.0/24' }), keys, config)).toThrow(/node me spec\.podCIDR: is outside Network 10\.244\.0\.0\/16/);
    expect(() => ownPodCidr(node('me', { podCIDR: 'ten/24' }), keys, config)).toThrow(/node me spec\.podCIDR/);
  });
  test('overlapping the underlay is an error naming both ranges', () => {
    expect(() => ownPodCidr(node('me', { podCIDR: '10.244.9.0/24' }), keys, config, [cidr('10.244.0.0/20')])).toThrow(
      /node me spec\.podCIDR: overlaps the underlay 10\.244\.0\.0\/20.*\(got "10\.244\.9\.0\/24"\)/,
    );
  });
});

describe('published annotations', () => {
  const attrs = { publicIP: '192.168.1.11', backendType: 'vxlan', backendData: { VNI: 1, VtepMAC: '0a:58:0a:f4:01:01' } };

  test('exactly what Flannel writes; nothing to patch when they are already there', () => {
    expect(desiredAnnotations(node('n'), keys, attrs)).toEqual(published);
    expect(annotationChanges(node('n', {}, published), desiredAnnotations(node('n'), keys, attrs))).toBeUndefined();
    expect(annotationChanges(node('n', {}, { ...published, [keys.publicIP]: '1.2.3.4' }), published)).toEqual({ [keys.publicIP]: '192.168.1.11' });
  });

  test('host-gw publishes null backend data', () => {
    expect(desiredAnnotations(node('n'), keys, { ...attrs, backendType: 'host-gw', backendData: null })[keys.backendData]).toBe('null');
  });

  test('public-ip-overwrite replaces the detected address; a malformed one is an error naming the annotation', () => {
    const overwritten = node('n', {}, { [keys.publicIPOverwrite]: '203.0.113.9' });
    expect(desiredAnnotations(overwritten, keys, attrs)[keys.publicIP]).toBe('203.0.113.9');
    const bad = node('n', {}, { [keys.publicIPOverwrite]: '224.0.0.1' });
    expect(() => desiredAnnotations(bad, keys, attrs)).toThrow(/flannel\.alpha\.coreos\.com\/public-ip-overwrite.*unicast/);
  });
});

describe('subnet claims (annotations mode)', () => {
  const secondary = parseNetworkConfig(JSON.stringify({ Network: '10.50.0.0/24', SubnetLen: 26, SubnetSource: 'annotations', Backend: { Type: 'vxlan', VNI: 2 } }));
  const k2 = nodeAnnotationKeys('weft2.weft.io');
  const nodes = [node('a', {}, { [k2.subnet]: '10.50.0.64/26' }), node('b', {}, { [k2.subnet]: 'garbage' }), node('me', {}, { [k2.subnet]: '10.50.0.128/26' })];

  test('other nodes\' well-formed claims are collected, ours excluded', () => {
    expect(otherClaims(nodes, 'me', k2).map((c) => `${c.node} ${formatSubnet(c.subnet)}`)).toEqual(['a 10.50.0.64/26']);
  });

  test('keeps a free current claim, skips a taken one, falls back to a free subnet, and reports exhaustion', () => {
    const others = otherClaims(nodes, 'me', k2);
    expect(chooseSubnetClaim(secondary, others, [cidr('10.50.0.128/26')])).toEqual(cidr('10.50.0.128/26'));
    expect(chooseSubnetClaim(secondary, others, [cidr('10.50.0.64/26')], () => 0)).toEqual(cidr('10.50.0.128/26'));
    const full = [...others, { node: 'c', subnet: cidr('10.50.0.128/26') }, { node: 'd', subnet: cidr('10.50.0.192/26') }];
    expect(chooseSubnetClaim(secondary, full, [])).toBeUndefined();
  });

  test('never claims inside the underlay, whether kept, from subnet.env or picked at random', () => {
    const underlay = [cidr('10.50.0.0/25')];
    expect(chooseSubnetClaim(secondary, [], [cidr('10.50.0.64/26')], () => 0, underlay)).toEqual(cidr('10.50.0.128/26'));
    const rest = [{ node: 'c', subnet: cidr('10.50.0.128/26') }, { node: 'd', subnet: cidr('10.50.0.192/26') }];
    expect(chooseSubnetClaim(secondary, rest, [], () => 0, underlay)).toBeUndefined();
  });
});
