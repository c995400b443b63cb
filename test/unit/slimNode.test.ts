import type { V1Node } from '@kubernetes/client-node';
import { slimNode } from '../../src/subnet/kube/nodeApi.js';
import { realisticNodeFields } from '../helpers/realisticNode.js';

describe('slimNode', () => {
  it('keeps what weft reads of a kubelet-sized Node and drops the rest', () => {
    const fields = realisticNodeFields('node7', 7, '172.30.0.9');
    const node = {
      metadata: {
        name: 'node7',
        resourceVersion: '42',
        creationTimestamp: '2026-11-29T08:00:00Z',
        annotations: { 'flannel.alpha.coreos.com/public-ip': '172.30.0.9' },
        labels: fields.labels,
        managedFields: fields.managedFields,
        uid: 'u-7',
      },
      spec: { podCIDR: '10.244.7.0/24', podCIDRs: ['10.244.7.0/24', 'fd00:7::/64'], providerID: 'aws:///i-7' },
      status: fields.status,
    } as unknown as V1Node;
    const slim = slimNode(node);
    expect(slim).toEqual({
      metadata: { name: 'node7', resourceVersion: '42', creationTimestamp: '2026-11-29T08:00:00Z', annotations: { 'flannel.alpha.coreos.com/public-ip': '172.30.0.9' } },
      spec: { podCIDR: '10.244.7.0/24', podCIDRs: ['10.244.7.0/24', 'fd00:7::/64'] },
    });
    expect(JSON.stringify(slim).length).toBeLessThan(JSON.stringify(node).length / 20);
  });

  it('leaves absent fields absent', () => {
    expect(slimNode({})).toEqual({ metadata: {}, spec: {} });
  });
});
