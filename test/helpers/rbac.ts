/**
 * Kubernetes RBAC as kube-apiserver evaluates it, for the fake API server: a request is turned
 * into its attributes (verb, API group, resource, subresource, name, namespace) the way the
 * server's RequestInfoFactory does, then allowed when any rule the user holds covers it. Rules
 * only grant, never deny, so a request no rule covers is refused with 403.
 */

/** An RBAC PolicyRule as a ClusterRole lists it. */
export interface PolicyRule {
  readonly apiGroups?: readonly string[];
  readonly resources?: readonly string[];
  readonly verbs: readonly string[];
  readonly resourceNames?: readonly string[];
  readonly nonResourceURLs?: readonly string[];
}

export interface ResourceRequest {
  readonly resourceRequest: true;
  readonly verb: string;
  readonly apiGroup: string;
  readonly resource: string;
  readonly subresource?: string;
  readonly name?: string;
  readonly namespace?: string;
}

export interface NonResourceRequest {
  readonly resourceRequest: false;
  readonly verb: string;
  readonly path: string;
}

export type RequestAttributes = ResourceRequest | NonResourceRequest;

/**
 * What kube-apiserver's system:discovery and system:public-info-viewer roles give every
 * authenticated user: discovery, version and health paths.
 */
export const DISCOVERY_RULES: readonly PolicyRule[] = [
  { nonResourceURLs: ['/api', '/api/*', '/apis', '/apis/*', '/version', '/healthz', '/livez', '/readyz', '/openapi', '/openapi/*'], verbs: ['get'] },
];

const WRITE_VERBS: Record<string, string> = { POST: 'create', PUT: 'update', PATCH: 'patch' };

/** The attributes kube-apiserver derives from a request's method, path and query. */
export function requestAttributes(method: string, url: URL): RequestAttributes {
  const parts = url.pathname.split('/').filter((p) => p !== '');
  let rest: string[];
  let apiGroup: string;
  if (parts[0] === 'api' && parts.length > 2) {
    apiGroup = '';
    rest = parts.slice(2);
  } else if (parts[0] === 'apis' && parts.length > 3) {
    apiGroup = parts[1]!;
    rest = parts.slice(3);
  } else {
    return { resourceRequest: false, verb: method.toLowerCase(), path: url.pathname };
  }
  let namespace: string | undefined;
  // /namespaces/<ns>/<resource>... is namespaced; /namespaces and /namespaces/<ns> are the Namespace resource itself.
  if (rest[0] === 'namespaces' && rest.length > 2) {
    namespace = rest[1]!;
    rest = rest.slice(2);
  }
  const [resource, name, subresource] = rest as [string, string | undefined, string | undefined];
  let verb: string;
  if (method === 'GET') {
    const watch = url.searchParams.get('watch');
    verb = name !== undefined ? 'get' : watch === 'true' || watch === '1' ? 'watch' : 'list';
  } else if (method === 'DELETE') {
    verb = name !== undefined ? 'delete' : 'deletecollection';
  } else {
    verb = WRITE_VERBS[method] ?? method.toLowerCase();
  }
  return {
    resourceRequest: true,
    verb,
    apiGroup,
    resource,
    ...(subresource !== undefined ? { subresource } : {}),
    ...(name !== undefined ? { name } : {}),
    ...(namespace !== undefined ? { namespace } : {}),
  };
}

function covers(values: readonly string[] | undefined, value: string): boolean {
  return values?.some((v) => v === '*' || v === value) ?? false;
}

function coversResource(resources: readonly string[] | undefined, request: ResourceRequest): boolean {
  const combined = request.subresource !== undefined ? `${request.resource}/${request.subresource}` : request.resource;
  return resources?.some((r) => r === '*' || r === combined || (request.subresource !== undefined && r === `*/${request.subresource}`)) ?? false;
}

function coversPath(urls: readonly string[] | undefined, path: string): boolean {
  return urls?.some((u) => u === '*' || u === path || (u.endsWith('*') && path.startsWith(u.slice(0, -1)))) ?? false;
}

export function allows(rules: readonly PolicyRule[], request: RequestAttributes): boolean {
  return rules.some((rule) => {
    if (!covers(rule.verbs, request.verb)) return false;
    if (!request.resourceRequest) return coversPath(rule.nonResourceURLs, request.path);
    if (!covers(rule.apiGroups, request.apiGroup) || !coversResource(rule.resources, request)) return false;
    return !rule.resourceNames?.length || (request.name !== undefined && rule.resourceNames.includes(request.name));
  });
}

/** kube-apiserver's 403 message for a request the user's rules do not cover. */
export function forbiddenMessage(user: string, request: RequestAttributes): string {
  if (!request.resourceRequest) return `forbidden: User "${user}" cannot ${request.verb} path "${request.path}"`;
  const resource = request.subresource !== undefined ? `${request.resource}/${request.subresource}` : request.resource;
  const qualified = request.apiGroup ? `${request.resource}.${request.apiGroup}` : request.resource;
  const scope = request.namespace !== undefined ? `in the namespace "${request.namespace}"` : 'at the cluster scope';
  const subject = request.name !== undefined ? `${qualified} "${request.name}"` : qualified;
  return `${subject} is forbidden: User "${user}" cannot ${request.verb} resource "${resource}" in API group "${request.apiGroup}" ${scope}`;
}
