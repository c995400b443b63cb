/** The Kubernetes datastore, as one module the agent imports on demand. */
export { nodeAnnotationKeys } from './annotations.js';
export { apiServerOf, loadKubeConfig } from './kubeConfig.js';
export { KubeDatastore } from './kubeSubnetManager.js';
export { NodeApi } from './nodeApi.js';
export { readKubeView } from './kubeView.js';
export { kubeNodeIdentity, podReader, resolveNodeName } from './nodeIdentity.js';
