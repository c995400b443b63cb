import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { ConfigError, DatastoreError, PreflightError } from '../../src/util/errors.js';
import { checkBrNetfilter } from '../../src/net/brNetfilter.js';
import { etcdFailure } from '../../src/subnet/etcd/view.js';
import { nodeAnnotationKeys } from '../../src/subnet/kube/annotations.js';
import { nodePublicIps, resolveNodeName } from '../../src/subnet/kube/nodeIdentity.js';

describe('br_netfilter preflight', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'weft-brnf-'));
    await writeFile(join(dir, 'bridge-nf-call-iptables'), '1\n');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('passes when bridge-nf-call-iptables exists', async () => {
    await expect(checkBrNetfilter(join(dir, 'bridge-nf-call-iptables'))).resolves.toBeUndefined();
  });

  it('refuses, naming the file and the fix, when it does not', async () => {
    const missing = join(dir, 'net', 'bridge', 'bridge-nf-call-iptables');
    await expect(checkBrNetfilter(missing)).rejects.toThrow(PreflightError);
    await expect(checkBrNetfilter(missing)).rejects.toThrow(`br_netfilter is not loaded: ${missing} does not exist. Load it (modprobe br_netfilter)`);
  });
});

describe("the node's name, as Flannel finds it", () => {
  const pod = (nodeName?: string): V1Pod => ({ metadata: { name: 'kube-flannel-ds-x' }, spec: { containers: [], ...(nodeName ? { nodeName } : {}) } });
  const reads: string[] = [];
  const reader = (answer: V1Pod | undefined | Error) => async (namespace: string, name: string) => {
    reads.push(`${namespace}/${name}`);
    if (answer instanceof Error) throw answer;
    return answer;
  };
  beforeEach(() => (reads.length = 0));

  it('takes NODE_NAME without asking the API server', async () => {
    expect(await resolveNodeName({ NODE_NAME: 'n1', POD_NAME: 'p', POD_NAMESPACE: 'ns' }, reader(pod('other')))).toBe('n1');
    expect(reads).toEqual([]);
  });

  it("else reads POD_NAMESPACE/POD_NAME and takes the pod's spec.nodeName", async () => {
    expect(await resolveNodeName({ POD_NAME: 'kube-flannel-ds-x', POD_NAMESPACE: 'kube-flannel' }, reader(pod('worker-3')))).toBe('worker-3');
    expect(reads).toEqual(['kube-flannel/kube-flannel-ds-x']);
  });

  it('names what is missing', async () => {
    await expect(resolveNodeName({ POD_NAME: 'p' }, reader(pod('n')))).rejects.toThrow(ConfigError);
    await expect(resolveNodeName({}, reader(pod('n')))).rejects.toThrow(/NODE_NAME.*POD_NAME and POD_NAMESPACE/);
    await expect(resolveNodeName({ POD_NAME: 'p', POD_NAMESPACE: 'ns' }, reader(undefined))).rejects.toThrow('POD_NAME: names no pod in the API server (got "ns/p")');
    await expect(resolveNodeName({ POD_NAME: 'p', POD_NAMESPACE: 'ns' }, reader(pod()))).rejects.toThrow(/no spec.nodeName/);
    const failure = resolveNodeName({ POD_NAME: 'p', POD_NAMESPACE: 'ns' }, reader(new Error('HTTP 403')));
    await expect(failure).rejects.toBeInstanceOf(DatastoreError);
    await expect(failure).rejects.toThrow("error retrieving pod spec for 'ns/p': HTTP 403");
  });
});

describe('<prefix>/node-public-ip', () => {
  const keys = nodeAnnotationKeys('flannel.alpha.coreos.com');
  const node = (annotations: Record<string, string>): V1Node => ({ metadata: { name: 'n1', annotations } });

  it('is read, with node-public-ipv6, from this node', () => {
    expect(nodePublicIps(node({ 'flannel.alpha.coreos.com/node-public-ip': '203.0.113.7', 'flannel.alpha.coreos.com/node-public-ipv6': '2001:db8::7' }), keys)).toEqual({
      ipv4: '203.0.113.7',
      ipv6: '2001:db8::7',
    });
    expect(nodePublicIps(node({}), keys)).toEqual({});
    expect(nodePublicIps(undefined, keys)).toEqual({});
  });

  it('follows the annotation prefix', () => {
    expect(nodePublicIps(node({ 'example.com/net2-node-public-ip': '203.0.113.8' }), nodeAnnotationKeys('example.com/net2'))).toEqual({ ipv4: '203.0.113.8' });
  });

  it('takes node-public-ipv6 only as a unicast IPv6 address', () => {
    expect(() => nodePublicIps(node({ 'flannel.alpha.coreos.com/node-public-ipv6': 'ff02::1' }), keys)).toThrow(
      'node n1 annotation flannel.alpha.coreos.com/node-public-ipv6: must be a unicast IPv6 address (got "ff02::1")',
    );
  });

  it('must be a unicast IPv4 address', () => {
    expect(() => nodePublicIps(node({ 'flannel.alpha.coreos.com/node-public-ip': '224.0.0.1' }), keys)).toThrow(
      'node n1 annotation flannel.alpha.coreos.com/node-public-ip: must be a unicast IPv4 address (got "224.0.0.1")',
    );
  });
});

describe('weft status with etcd down', () => {
  it("says in one line which etcd it could not reach and why, not gRPC's dump", () => {
    const grpc = new Error('14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1. Resolution note: ');
    expect((etcdFailure(['http://127.0.0.1:1'], grpc) as Error).message).toBe('cannot reach etcd at http://127.0.0.1:1: connect ECONNREFUSED 127.0.0.1:1');
  });

  it('leaves every other error as it is', () => {
    const config = new ConfigError('Network', 'x', 'is required');
    expect(etcdFailure(['http://127.0.0.1:1'], config)).toBe(config);
  });
});
