import { existsSync } from 'node:fs';
import { KubeConfig } from './kubernetesClient.js';
import { ConfigError, errorMessage } from '../../util/errors.js';

export interface KubeConnectionOptions {
  readonly kubeconfigFile?: string;
  readonly kubeApiUrl?: string;
}

const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * client-go's BuildConfigFromFlags, as Flannel uses it: a kubeconfig file when given, with its
 * server replaced by --kube-api-url when both are set; otherwise the pod's service account. With
 * only --kube-api-url the service account still authenticates when there is one (Flannel sends
 * anonymous requests there, which RBAC then refuses).
 */
export function loadKubeConfig(options: KubeConnectionOptions, serviceAccountRoot = ''): KubeConfig {
  const config = new KubeConfig();
  if (options.kubeconfigFile) {
    try {
      config.loadFromFile(options.kubeconfigFile);
    } catch (err) {
      throw new ConfigError('--kubeconfig-file', options.kubeconfigFile, `cannot be loaded: ${errorMessage(err)}`);
    }
    if (!config.getCurrentCluster()) throw new ConfigError('--kubeconfig-file', options.kubeconfigFile, 'has no current context with a cluster');
  } else if (process.env['KUBERNETES_SERVICE_HOST'] && existsSync(`${serviceAccountRoot}${SERVICE_ACCOUNT_TOKEN}`)) {
    config.loadFromCluster(serviceAccountRoot);
  } else if (!options.kubeApiUrl) {
    throw new ConfigError(
      '--kubeconfig-file',
      undefined,
      'is required outside a pod: KUBERNETES_SERVICE_HOST or the service account token is missing (give --kubeconfig-file or --kube-api-url)',
    );
  }
  return options.kubeApiUrl ? withServer(config, options.kubeApiUrl) : config;
}

function withServer(config: KubeConfig, server: string): KubeConfig {
  const current = config.getCurrentCluster();
  const overridden = new KubeConfig();
  if (!current) {
    overridden.loadFromClusterAndUser({ name: 'kube-api-url', server, skipTLSVerify: false }, { name: 'anonymous' });
    return overridden;
  }
  overridden.loadFromOptions({
    clusters: config.clusters.map((c) => (c.name === current.name ? { ...c, server } : c)),
    users: config.users,
    contexts: config.contexts,
    currentContext: config.getCurrentContext(),
  });
  return overridden;
}

/** The API server a config points at, for logs: never the credentials. */
export function apiServerOf(config: KubeConfig): string {
  return config.getCurrentCluster()?.server ?? 'unknown';
}
