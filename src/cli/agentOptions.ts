import type { AgentOptions } from '../agent/options.js';
import { FlagError } from '../util/errors.js';



/** What commander hands back: camel-cased flag names, already parsed per flag. */
export type RawAgentFlags = Record<string, unknown>;

function str(raw: RawAgentFlags, key: string): string | undefined {
  const value = raw[key];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function bool(raw: RawAgentFlags, key: string): boolean {
  // commander stores `true` for a bare `--flag`; an explicit value went through parseBool.
  return raw[key] === true;
}

/** Cross-flag rules that no single flag's parser can check. */
export function buildAgentOptions(raw: RawAgentFlags, env: NodeJS.ProcessEnv = {}): AgentOptions {
  const keyFile = str(raw, 'etcdKeyfile');
  const certFile = str(raw, 'etcdCertfile');
  if ((keyFile === undefined) !== (certFile === undefined)) {
    throw new FlagError(
      `--etcd-keyfile and --etcd-certfile go together (got keyfile ${keyFile ?? 'unset'}, certfile ${certFile ?? 'unset'})`,
    );
  }
  const username = str(raw, 'etcdUsername');
  const password = str(raw, 'etcdPassword');
  if (password !== undefined && username === undefined) {
    throw new FlagError('--etcd-password needs --etcd-username');
  }
  const endpoints = String(raw['etcdEndpoints']).split(',');
  const caFile = str(raw, 'etcdCafile');
  if ((caFile || certFile) && !endpoints.every((e) => e.startsWith('https://'))) {
    throw new FlagError(
      `--etcd-cafile/--etcd-certfile need https:// endpoints (got --etcd-endpoints ${endpoints.join(',')})`,
    );
  }
  const kubeSubnetMgr = bool(raw, 'kubeSubnetMgr');
  const kubeconfigFile = str(raw, 'kubeconfigFile');
  const kubeApiUrl = str(raw, 'kubeApiUrl');
  const ifaceCanReach = str(raw, 'ifaceCanReach');
  const publicIp = str(raw, 'publicIp');
  const publicIpv6 = str(raw, 'publicIpv6');
  const nodeName = env['NODE_NAME'] || undefined;
  const podName = env['POD_NAME'] || undefined;
  const podNamespace = env['POD_NAMESPACE'] || undefined;
  const wireguardKeyFile = env['WIREGUARD_KEY_FILE'] || undefined;
  return {
    etcd: {
      endpoints,
      prefix: String(raw['etcdPrefix']),
      ...(keyFile ? { keyFile } : {}),
      ...(certFile ? { certFile } : {}),
      ...(caFile ? { caFile } : {}),
      ...(username ? { username } : {}),
      ...(password ? { password } : {}),
    },
    iface: (raw['iface'] as string[] | undefined) ?? [],
    ifaceRegex: (raw['ifaceRegex'] as string[] | undefined) ?? [],
    ...(ifaceCanReach ? { ifaceCanReach } : {}),
    ...(publicIp ? { publicIp } : {}),
    ...(publicIpv6 ? { publicIpv6 } : {}),
    subnetFile: String(raw['subnetFile']),
    subnetLeaseRenewMarginMinutes: Number(raw['subnetLeaseRenewMargin']),
    ipMasq: bool(raw, 'ipMasq'),
    ipMasqFullyRandomDisable: bool(raw, 'ipMasqFullyRandomDisable'),
    ipBlackholeRoute: bool(raw, 'ipBlackholeRoute'),
    iptablesForwardRules: bool(raw, 'iptablesForwardRules'),
    iptablesResyncSeconds: Number(raw['iptablesResync']),
    healthzIp: String(raw['healthzIp']),
    healthzPort: Number(raw['healthzPort']),
    kubeSubnetMgr,
    ...(nodeName ? { nodeName } : {}),
    ...(podName ? { podName } : {}),
    ...(podNamespace ? { podNamespace } : {}),
    ...(kubeconfigFile ? { kubeconfigFile } : {}),
    ...(kubeApiUrl ? { kubeApiUrl } : {}),
    kubeAnnotationPrefix: String(raw['kubeAnnotationPrefix']),
    setNodeNetworkUnavailable: bool(raw, 'setNodeNetworkUnavailable'),
    netConfigPath: String(raw['netConfigPath']),
    ...(wireguardKeyFile ? { wireguardKeyFile } : {}),
    verbosity: Number(raw['verbosity']),
  };
}
