import type { JsonObject } from './jsonPatches.js';

/**
 * A Node as a kubelet registers and keeps it on a real cluster (about 15 KB of JSON): 40 images,
 * the five kubelet conditions, addresses, nodeInfo, capacity, allocatable and managedFields. weft
 * needs a handful of these fields; the rest is what it must not pay for in memory or CPU.
 */
export function realisticNodeFields(name: string, index: number, internalIP: string): { labels: Record<string, string>; status: JsonObject; managedFields: JsonObject[] } {
  const now = new Date().toISOString();
  const images: JsonObject[] = [];
  for (let i = 0; i < 40; i++) {
    const digest = (index * 40 + i).toString(16).padStart(64, 'a');
    images.push({
      names: [`registry.example.com/platform/team-${i % 7}/service-${i}@sha256:${digest}`, `registry.example.com/platform/team-${i % 7}/service-${i}:v1.${i}.${index % 10}`],
      sizeBytes: 10_000_000 + i * 1_234_567,
    });
  }
  const status: JsonObject = {
    addresses: [
      { type: 'InternalIP', address: internalIP },
      { type: 'Hostname', address: name },
    ],
    allocatable: { cpu: '7910m', 'ephemeral-storage': '95551679124', 'hugepages-1Gi': '0', 'hugepages-2Mi': '0', memory: '31426584Ki', pods: '110' },
    capacity: { cpu: '8', 'ephemeral-storage': '103677100Ki', 'hugepages-1Gi': '0', 'hugepages-2Mi': '0', memory: '32577560Ki', pods: '110' },
    conditions: [
      { type: 'NetworkUnavailable', status: 'False', reason: 'FlannelIsUp', message: 'Flannel is running on this node', lastHeartbeatTime: now, lastTransitionTime: now },
      condition('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available', now),
      condition('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure', now),
      condition('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available', now),
      condition('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status. AppArmor enabled', now),
    ],
    daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
    images,
    nodeInfo: {
      architecture: 'amd64',
      bootID: `b00d${index.toString(16).padStart(8, '0')}-1f2e-4c3d-9a8b-7c6d5e4f3a2b`,
      containerRuntimeVersion: 'containerd://1.7.22',
      kernelVersion: '6.1.0-26-cloud-amd64',
      kubeProxyVersion: 'v1.31.2',
      kubeletVersion: 'v1.31.2',
      machineID: index.toString(16).padStart(32, 'e'),
      operatingSystem: 'linux',
      osImage: 'Debian GNU/Linux 12 (bookworm)',
      systemUUID: `ec2${index.toString(16).padStart(5, '0')}-aaaa-bbbb-cccc-0123456789ab`,
    },
  };
  const labels = {
    'beta.kubernetes.io/arch': 'amd64',
    'beta.kubernetes.io/instance-type': 'm5.2xlarge',
    'beta.kubernetes.io/os': 'linux',
    'kubernetes.io/arch': 'amd64',
    'kubernetes.io/hostname': name,
    'kubernetes.io/os': 'linux',
    'node.kubernetes.io/instance-type': 'm5.2xlarge',
    'topology.kubernetes.io/region': 'eu-west-1',
    'topology.kubernetes.io/zone': `eu-west-1${'abc'[index % 3]}`,
  };
  const managedFields: JsonObject[] = [
    managed('kubelet', 'Update', '', { 'f:metadata': { 'f:annotations': { '.': {}, 'f:node.alpha.kubernetes.io/ttl': {}, 'f:volumes.kubernetes.io/controller-managed-attach-detach': {} }, 'f:labels': Object.fromEntries(Object.keys(labels).map((l) => [`f:${l}`, {}])) } }, now),
    managed('kube-controller-manager', 'Update', '', { 'f:spec': { 'f:podCIDR': {}, 'f:podCIDRs': { '.': {}, 'v:"10.0.0.0/24"': {} } } }, now),
    managed('flanneld', 'Update', 'status', { 'f:metadata': { 'f:annotations': { 'f:flannel.alpha.coreos.com/backend-data': {}, 'f:flannel.alpha.coreos.com/backend-type': {}, 'f:flannel.alpha.coreos.com/kube-subnet-manager': {}, 'f:flannel.alpha.coreos.com/public-ip': {} } }, 'f:status': { 'f:conditions': { 'k:{"type":"NetworkUnavailable"}': { '.': {}, 'f:lastHeartbeatTime': {}, 'f:lastTransitionTime': {}, 'f:message': {}, 'f:reason': {}, 'f:status': {}, 'f:type': {} } } } }, now),
    managed('kubelet', 'Update', 'status', { 'f:status': { 'f:allocatable': { 'f:ephemeral-storage': {} }, 'f:capacity': { 'f:ephemeral-storage': {} }, 'f:conditions': Object.fromEntries(['DiskPressure', 'MemoryPressure', 'PIDPressure', 'Ready'].map((t) => [`k:{"type":"${t}"}`, { 'f:lastHeartbeatTime': {}, 'f:lastTransitionTime': {}, 'f:message': {}, 'f:reason': {}, 'f:status': {} }])), 'f:images': {}, 'f:nodeInfo': { 'f:bootID': {}, 'f:containerRuntimeVersion': {}, 'f:kernelVersion': {} } } }, now),
  ];
  return { labels, status, managedFields };
}

function condition(type: string, status: string, reason: string, message: string, now: string): JsonObject {
  return { type, status, reason, message, lastHeartbeatTime: now, lastTransitionTime: now };
}

function managed(manager: string, operation: string, subresource: string, fieldsV1: JsonObject, time: string): JsonObject {
  return { apiVersion: 'v1', fieldsType: 'FieldsV1', fieldsV1, manager, operation, time, ...(subresource ? { subresource } : {}) };
}

/** A kubelet status update: new heartbeat times on every condition, nothing weft reads. */
export function heartbeat(node: JsonObject): void {
  const now = new Date().toISOString();
  const status = node['status'] as JsonObject | undefined;
  const conditions = status?.['conditions'];
  if (!Array.isArray(conditions)) return;
  for (const c of conditions) if (c && typeof c === 'object' && !Array.isArray(c)) (c as JsonObject)['lastHeartbeatTime'] = now;
}
