// The part of @kubernetes/client-node weft uses. The build bundles this module on its own
// (dist/bundle/kubernetes-client.cjs, see hack/build.mjs), so naming the imports here lets it
// leave the rest of the client out.
export { ApiException, CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
