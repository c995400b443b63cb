/**
 * The three patch formats the Kubernetes API server accepts, as it applies them to a Node:
 * JSON merge patch (RFC 7386), strategic merge patch (merge patch plus merge-by-key for the list
 * fields the Node schema marks with patchMergeKey) and JSON patch (RFC 6902). Test-side only: the
 * fake API server uses them so weft's patches are judged the way a real server would judge them.
 */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export class PatchError extends Error {}

export function mergePatch(target: Json, patch: Json): Json {
  if (!isJsonObject(patch)) return patch;
  const result: JsonObject = isJsonObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key] ?? null, value);
  }
  return result;
}

/** Node list fields merged by key under a strategic merge patch (from the Node's OpenAPI schema). */
const MERGE_KEYS: Record<string, string> = {
  'status.conditions': 'type',
  'status.addresses': 'type',
  'spec.taints': 'key',
};

export function strategicMergePatch(target: Json, patch: Json, path = ''): Json {
  if (!isJsonObject(patch)) return patch;
  const result: JsonObject = isJsonObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    const fieldPath = path ? `${path}.${key}` : key;
    const mergeKey = MERGE_KEYS[fieldPath];
    if (value === null) delete result[key];
    else if (mergeKey && Array.isArray(value)) result[key] = mergeListByKey(result[key] ?? [], value, mergeKey, fieldPath);
    else result[key] = strategicMergePatch(result[key] ?? null, value, fieldPath);
  }
  return result;
}

function mergeListByKey(target: Json, patch: Json[], mergeKey: string, path: string): Json[] {
  const merged = Array.isArray(target) ? [...target] : [];
  for (const item of patch) {
    if (!isJsonObject(item) || typeof item[mergeKey] !== 'string') {
      throw new PatchError(`${path}: every element needs a string "${mergeKey}"`);
    }
    const { $patch: directive, ...fields } = item;
    const index = merged.findIndex((m) => isJsonObject(m) && m[mergeKey] === item[mergeKey]);
    if (directive === 'delete') {
      if (index >= 0) merged.splice(index, 1);
    } else if (index >= 0) {
      merged[index] = strategicMergePatch(merged[index]!, fields, path);
    } else {
      merged.push(fields);
    }
  }
  return merged;
}

interface JsonPatchOp {
  op: string;
  path: string;
  value?: Json;
}

export function jsonPatch(target: Json, ops: Json): Json {
  if (!Array.isArray(ops)) throw new PatchError('a JSON patch is an array of operations');
  let doc: Json = structuredClone(target);
  for (const raw of ops) {
    if (!isJsonObject(raw) || typeof raw['op'] !== 'string' || typeof raw['path'] !== 'string') {
      throw new PatchError(`invalid JSON patch operation ${JSON.stringify(raw)}`);
    }
    doc = applyOp(doc, raw as unknown as JsonPatchOp);
  }
  return doc;
}

function pointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw new PatchError(`JSON pointer ${path} must start with /`);
  return path.slice(1).split('/').map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function applyOp(doc: Json, op: JsonPatchOp): Json {
  const tokens = pointer(op.path);
  const last = tokens.pop();
  if (last === undefined) {
    if (op.op === 'test') return doc;
    throw new PatchError('operations on the whole document are not supported');
  }
  let parent: Json = doc;
  for (const token of tokens) {
    const next: Json | undefined = Array.isArray(parent) ? parent[Number(token)] : isJsonObject(parent) ? parent[token] : undefined;
    if (next === undefined) throw new PatchError(`path ${op.path} does not exist`);
    parent = next;
  }
  if (Array.isArray(parent)) {
    const index = last === '-' ? parent.length : Number(last);
    switch (op.op) {
      case 'add': parent.splice(index, 0, op.value ?? null); return doc;
      case 'remove': parent.splice(index, 1); return doc;
      case 'replace': parent[index] = op.value ?? null; return doc;
      case 'test':
        if (JSON.stringify(parent[index]) !== JSON.stringify(op.value)) throw new PatchError(`test failed at ${op.path}`);
        return doc;
    }
  } else if (isJsonObject(parent)) {
    switch (op.op) {
      case 'add': parent[last] = op.value ?? null; return doc;
      case 'remove':
        if (!(last in parent)) throw new PatchError(`path ${op.path} does not exist`);
        delete parent[last];
        return doc;
      case 'replace':
        if (!(last in parent)) throw new PatchError(`path ${op.path} does not exist`);
        parent[last] = op.value ?? null;
        return doc;
      case 'test':
        if (JSON.stringify(parent[last]) !== JSON.stringify(op.value)) throw new PatchError(`test failed at ${op.path}`);
        return doc;
    }
  }
  throw new PatchError(`unsupported operation ${op.op} at ${op.path}`);
}
