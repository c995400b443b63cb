import { readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { PolicyRule } from './rbac.js';

/** The repository root: manifests, the Dockerfile and the local build live under it. */
export const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/** One document of a manifest file, as `kubectl apply` would send it. */
export interface ManifestDoc {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labels?: Record<string, string>; readonly annotations?: Record<string, string> };
  readonly [field: string]: unknown;
}

/** Every document of the given YAML files, in file order; paths are relative to the repository. */
export function loadManifests(files: readonly string[]): ManifestDoc[] {
  return files.flatMap((file) => parseManifests(readFileSync(isAbsolute(file) ? file : join(REPO, file), 'utf8'), file));
}

export function parseManifests(text: string, file = 'manifest'): ManifestDoc[] {
  return parseAllDocuments(text).flatMap((doc) => {
    if (doc.errors.length) throw new Error(`${file}: ${doc.errors[0]!.message}`);
    const value = doc.toJS() as ManifestDoc | null;
    return value === null ? [] : [value];
  });
}

export function findDoc(docs: readonly ManifestDoc[], kind: string, name: string, namespace?: string): ManifestDoc {
  const hit = docs.find((d) => d.kind === kind && d.metadata.name === name && (namespace === undefined || d.metadata.namespace === namespace));
  if (!hit) throw new Error(`no ${kind} ${namespace ? `${namespace}/` : ''}${name} in the manifests`);
  return hit;
}

export function docsOfKind(docs: readonly ManifestDoc[], kind: string): ManifestDoc[] {
  return docs.filter((d) => d.kind === kind);
}

/** The pod template's spec of a DaemonSet (or any workload with spec.template). */
export function podTemplate(workload: ManifestDoc): { metadata: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec: IPodSpec } {
  const template = (workload['spec'] as { template?: { metadata?: { labels?: Record<string, string> }; spec?: IPodSpec } } | undefined)?.template;
  if (!template?.spec) throw new Error(`${workload.kind}/${workload.metadata.name}: spec.template.spec is missing`);
  return { metadata: template.metadata ?? {}, spec: template.spec };
}

export function serviceAccountUser(namespace: string, name: string): string {
  return `system:serviceaccount:${namespace}:${name}`;
}

/**
 * The rules a service account holds through the manifests' ClusterRoleBindings (and
 * RoleBindings, scoped to their namespace: not used by weft, so refused here rather than
 * approximated).
 */
export function rulesForServiceAccount(docs: readonly ManifestDoc[], namespace: string, name: string): PolicyRule[] {
  if (docsOfKind(docs, 'RoleBinding').length) throw new Error('RoleBindings are not modelled: weft grants cluster-scoped access only');
  const rules: PolicyRule[] = [];
  for (const binding of docsOfKind(docs, 'ClusterRoleBinding')) {
    const subjects = (binding['subjects'] ?? []) as Array<{ kind: string; name: string; namespace?: string }>;
    if (!subjects.some((s) => s.kind === 'ServiceAccount' && s.name === name && s.namespace === namespace)) continue;
    const roleRef = binding['roleRef'] as { kind: string; name: string };
    if (roleRef.kind !== 'ClusterRole') throw new Error(`ClusterRoleBinding/${binding.metadata.name}: roleRef.kind ${roleRef.kind} is not a ClusterRole`);
    rules.push(...((findDoc(docs, 'ClusterRole', roleRef.name)['rules'] ?? []) as PolicyRule[]));
  }
  return rules;
}

/** The rules manifests/weft.yml grants weft's service account. */
export function weftServiceAccountRules(): PolicyRule[] {
  return rulesForServiceAccount(loadManifests(['manifests/weft.yml']), 'weft-system', 'weft');
}

/**
 * What kube-flannel.yml's ClusterRole grants beyond weft's: reading pods, which Flannel needs to
 * find its node from POD_NAME and POD_NAMESPACE when NODE_NAME is not set.
 */
export function flannelServiceAccountRules(): PolicyRule[] {
  return [...weftServiceAccountRules(), { apiGroups: [''], resources: ['pods'], verbs: ['get'] }];
}
