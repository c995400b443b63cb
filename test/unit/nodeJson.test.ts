import type { V1Node } from '@kubernetes/client-node';
import { NodeJsonError, nodeListFromJson, nodeListHead, nodeWatchEventFromJson, slimNode } from '../../src/subnet/kube/nodeJson.js';
import { realisticNodeFields } from '../helpers/realisticNode.js';

/** A Node as a kubelet keeps it, about 13 KB of JSON; `spec` and `annotations` as given. */
function kubeletNode(name: string, i: number, extra: { spec?: object; annotations?: object; metadata?: object } = {}): Record<string, unknown> {
  const fields = realisticNodeFields(name, i, `172.30.0.${i + 2}`);
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      uid: `u-${i}`,
      resourceVersion: String(40 + i),
      creationTimestamp: '2026-11-29T08:00:00Z',
      annotations: extra.annotations ?? { 'flannel.alpha.coreos.com/public-ip': `172.30.0.${i + 2}`, 'flannel.alpha.coreos.com/backend-data': '{"VtepMAC":"02:00:00:00:00:01"}' },
      labels: fields.labels,
      managedFields: fields.managedFields,
      ...extra.metadata,
    },
    spec: extra.spec ?? { podCIDR: `10.244.${i}.0/24`, podCIDRs: [`10.244.${i}.0/24`, `fd00:${i}::/64`], providerID: `aws:///i-${i}` },
    status: fields.status,
  };
}

const slimOf = (node: Record<string, unknown>): V1Node => {
  const metadata = node['metadata'] as Record<string, unknown>;
  const spec = node['spec'] as Record<string, unknown>;
  return {
    metadata: { name: metadata['name'] as string, resourceVersion: metadata['resourceVersion'] as string, creationTimestamp: new Date(metadata['creationTimestamp'] as string), annotations: metadata['annotations'] as Record<string, string> },
    spec: { podCIDR: spec['podCIDR'] as string, podCIDRs: spec['podCIDRs'] as string[] },
  };
};

describe('slimNode', () => {
  it('keeps what weft reads of a client-node Node and drops the rest', () => {
    const node = kubeletNode('node7', 7) as unknown as V1Node;
    const slim = slimNode(node);
    expect(slim).toEqual({
      metadata: { name: 'node7', resourceVersion: '47', creationTimestamp: '2026-11-29T08:00:00Z', annotations: node.metadata!.annotations },
      spec: { podCIDR: '10.244.7.0/24', podCIDRs: ['10.244.7.0/24', 'fd00:7::/64'] },
    });
    expect(JSON.stringify(slim).length).toBeLessThan(JSON.stringify(node).length / 20);
  });

  it('leaves absent fields absent', () => {
    expect(slimNode({})).toEqual({ metadata: {}, spec: {} });
  });
});

describe('nodeListFromJson', () => {
  const page = { apiVersion: 'v1', kind: 'NodeList', metadata: { resourceVersion: '900', continue: 'next-page' }, items: [kubeletNode('a', 1), kubeletNode('b', 2)] };

  it('reads each node as slimNode would keep it, and the page metadata', () => {
    expect(nodeListFromJson(JSON.stringify(page, null, 1))).toEqual({ items: page.items.map(slimOf), resourceVersion: '900', continueToken: 'next-page' });
  });

  it('the last page has no continue token; an empty list has no items', () => {
    expect(nodeListFromJson('{"kind":"NodeList","metadata":{"resourceVersion":"5","continue":""},"items":[]}')).toEqual({ items: [], resourceVersion: '5', continueToken: undefined });
    expect(nodeListFromJson('{"metadata":{},"items":null}').items).toEqual([]);
    expect(() => nodeListFromJson('{"items":{}}')).toThrow(/items is not a list/);
  });

  it('treats null as absent and keeps nodes that lack optional fields', () => {
    const bare = { metadata: { name: 'bare', annotations: null }, spec: { podCIDR: null } };
    expect(nodeListFromJson(JSON.stringify({ items: [bare] })).items).toEqual([{ metadata: { name: 'bare' }, spec: {} }]);
  });

  it.each([
    ['a number as podCIDR', { spec: { podCIDR: 10 } }, /node "x" from the API server: spec\.podCIDR must be a string, got 10/],
    ['a podCIDRs entry that is not a string', { spec: { podCIDRs: ['10.0.0.0/24', {}] } }, /spec\.podCIDRs must be a list of strings/],
    ['an annotation value that is not a string', { annotations: { 'flannel.alpha.coreos.com/public-ip': 7 } }, /metadata\.annotations must be an object of strings, got \{"flannel.alpha.coreos.com\/public-ip":7\}/],
    ['a creation time that is not a time', { metadata: { creationTimestamp: 'yesterday' } }, /metadata\.creationTimestamp must be an RFC 3339 time, got "yesterday"/],
  ])('rejects %s, naming the node, the field and the value', (_, extra, message) => {
    const text = JSON.stringify({ items: [kubeletNode('x', 3, extra)] });
    expect(() => nodeListFromJson(text)).toThrow(NodeJsonError);
    expect(() => nodeListFromJson(text)).toThrow(message);
  });

  it('rejects a node without a name and a page that is not JSON', () => {
    expect(() => nodeListFromJson('{"items":[{"metadata":{}}]}')).toThrow(/node without a name/);
    expect(() => nodeListFromJson(JSON.stringify(page).slice(0, -2))).toThrow(/node list from the API server is not valid JSON: malformed JSON at offset/);
  });
});

describe('nodeListHead', () => {
  const text = JSON.stringify({ kind: 'NodeList', apiVersion: 'v1', metadata: { resourceVersion: '9', continue: 'tok' }, items: [kubeletNode('a', 1)] });

  it('reads the continue token from the first bytes of a page', () => {
    expect(nodeListHead(text.slice(0, 120))).toEqual({ continueToken: 'tok' });
    expect(nodeListHead(text.replace('"tok"', '""').slice(0, 120))).toEqual({ continueToken: undefined });
  });

  it('cannot tell before metadata is complete, or when items come first', () => {
    expect(nodeListHead(text.slice(0, text.indexOf('tok')))).toBeUndefined();
    expect(nodeListHead(JSON.stringify({ items: [], metadata: { continue: 'tok' } }))).toBeUndefined();
  });
});

describe('nodeWatchEventFromJson', () => {
  it('reads added, modified and deleted nodes as slim nodes, whatever the order of type and object', () => {
    const node = kubeletNode('w', 4);
    for (const type of ['ADDED', 'MODIFIED', 'DELETED'] as const) {
      expect(nodeWatchEventFromJson(JSON.stringify({ type, object: node }))).toEqual({ type, node: slimOf(node) });
    }
    expect(nodeWatchEventFromJson(JSON.stringify({ object: node, type: 'MODIFIED' }))).toEqual({ type: 'MODIFIED', node: slimOf(node) });
  });

  it('reads bookmarks and error statuses', () => {
    expect(nodeWatchEventFromJson('{"type":"BOOKMARK","object":{"kind":"Node","metadata":{"resourceVersion":"77"}}}')).toEqual({ type: 'BOOKMARK', resourceVersion: '77' });
    const gone = { type: 'ERROR', object: { kind: 'Status', status: 'Failure', message: 'too old resource version: 1 (5)', reason: 'Expired', code: 410 } };
    expect(nodeWatchEventFromJson(JSON.stringify(gone))).toEqual({ type: 'ERROR', code: 410, message: 'too old resource version: 1 (5)' });
    expect(nodeWatchEventFromJson('{"type":"SURPRISE","object":{}}')).toEqual({ type: 'ERROR', code: undefined, message: 'unexpected watch event "SURPRISE"' });
  });

  it('rejects an event that is not JSON or a node of the wrong shape', () => {
    expect(() => nodeWatchEventFromJson('{"type":"ADDED","object":{"metadata":{"name":"n"}')).toThrow(/node watch event from the API server is not valid JSON/);
    expect(() => nodeWatchEventFromJson('{"type":"ADDED","object":{"metadata":{"name":"n","annotations":[]}}}')).toThrow(/node "n" from the API server: metadata\.annotations must be an object of strings/);
  });
});
