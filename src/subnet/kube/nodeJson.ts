import type { V1Node, V1NodeSpec, V1ObjectMeta } from '@kubernetes/client-node';
import { DatastoreError } from '../../util/errors.js';
import { JsonScanError, JsonScanner } from '../../util/jsonScanner.js';

/**
 * The one place where Node JSON from the API server becomes the nodes weft keeps: a list page, a
 * watch event, or a node client-node has already decoded. Each keeps only what weft reads (see
 * slimNode), type-checks it, and never builds the rest: a kubelet's Node is about 15 KB, and at
 * 5000 nodes building them all cost more start-up time and memory than anything else (docs/
 * benchmarks.md, "Cost at scale"). Leases made from these nodes are validated as before.
 */

/** A Node, list or event from the API server with the wrong JSON shape where weft reads it. */
export class NodeJsonError extends DatastoreError {}

export type NodeWatchEvent =
  | { readonly type: 'ADDED' | 'MODIFIED' | 'DELETED'; readonly node: V1Node }
  | { readonly type: 'BOOKMARK'; readonly resourceVersion: string }
  | { readonly type: 'ERROR'; readonly code: number | undefined; readonly message: string };

export interface NodeListPage {
  readonly items: V1Node[];
  readonly resourceVersion: string;
  /** The token for the next page; undefined on the last. */
  readonly continueToken: string | undefined;
}

/**
 * The part of a Node weft reads: name, resourceVersion, creation time, annotations and pod CIDRs.
 * Cutting each node down where it arrives keeps none of the rest alive, whether 5000 nodes are
 * listed or a status update streams past.
 */
export function slimNode(node: V1Node): V1Node {
  const metadata = node.metadata ?? {};
  const spec = node.spec ?? {};
  return {
    metadata: {
      ...(metadata.name !== undefined ? { name: metadata.name } : {}),
      ...(metadata.resourceVersion !== undefined ? { resourceVersion: metadata.resourceVersion } : {}),
      ...(metadata.creationTimestamp !== undefined ? { creationTimestamp: metadata.creationTimestamp } : {}),
      ...(metadata.annotations !== undefined ? { annotations: metadata.annotations } : {}),
    },
    spec: {
      ...(spec.podCIDR !== undefined ? { podCIDR: spec.podCIDR } : {}),
      ...(spec.podCIDRs !== undefined ? { podCIDRs: spec.podCIDRs } : {}),
    },
  };
}

/** A NodeList response body (one page of a paged list). */
export function nodeListFromJson(text: string): NodeListPage {
  return scanning('node list', text, (scan) => {
    const items: V1Node[] = [];
    let resourceVersion: unknown;
    let continueToken: unknown;
    scan.object((key) => {
      if (key === 'metadata') {
        scan.object((field) => {
          if (field === 'resourceVersion') resourceVersion = scan.value();
          else if (field === 'continue') continueToken = scan.value();
          else scan.skip();
        });
      } else if (key === 'items') {
        // Go encodes an empty list as null.
        if (scan.kind() === 'array') scan.array(() => items.push(nodeFrom(scanNodeFields(scan))));
        else if (scan.value() !== null) throw new NodeJsonError('node list from the API server: items is not a list');
      } else {
        scan.skip();
      }
    });
    return {
      items,
      resourceVersion: optionalString(resourceVersion, 'node list', 'metadata.resourceVersion') ?? '',
      continueToken: optionalString(continueToken, 'node list', 'metadata.continue') || undefined,
    };
  });
}

/**
 * The continue token at the start of a list page, read before the rest of the page has arrived:
 * kube-apiserver writes metadata ahead of items, so the next page can be asked for while this one
 * streams in. Undefined when the text so far does not tell (metadata not complete yet, items
 * first, or anything malformed: the whole page is read strictly all the same).
 */
export function nodeListHead(prefix: string): { readonly continueToken: string | undefined } | undefined {
  let head: { continueToken: string | undefined } | undefined;
  const stop = new Error('stop');
  try {
    const scan = new JsonScanner(prefix);
    scan.object((key) => {
      if (key === 'items') throw stop;
      if (key !== 'metadata') return scan.skip();
      let token: unknown;
      scan.object((field) => (field === 'continue' ? (token = scan.value()) : scan.skip()));
      head = { continueToken: typeof token === 'string' && token !== '' ? token : undefined };
      throw stop;
    });
  } catch {
    // Not enough text yet, or not in the order that allows reading ahead.
  }
  return head;
}

/** One line of a watch stream: {"type": ..., "object": ...}, in either order. */
export function nodeWatchEventFromJson(line: string): NodeWatchEvent {
  return scanning('node watch event', line, (scan) => {
    let type: unknown;
    let fields: ScannedFields = {};
    scan.object((key) => {
      if (key === 'type') type = scan.value();
      else if (key === 'object') fields = scanNodeFields(scan);
      else scan.skip();
    });
    switch (type) {
      case 'ADDED':
      case 'MODIFIED':
      case 'DELETED':
        return { type, node: nodeFrom(fields) };
      case 'BOOKMARK':
        return { type, resourceVersion: optionalString(fields.resourceVersion, 'bookmark', 'metadata.resourceVersion') ?? '' };
      default: {
        // ERROR carries a Status; anything else is a server weft does not understand.
        const code = typeof fields.code === 'number' ? fields.code : undefined;
        const message = typeof fields.message === 'string' ? fields.message : `unexpected watch event ${JSON.stringify(type)}`;
        return { type: 'ERROR', code, message };
      }
    }
  });
}

/** The fields of a Node (or, in a watch, of a Status) weft reads, as raw JSON values. */
interface ScannedFields {
  name?: unknown;
  resourceVersion?: unknown;
  creationTimestamp?: unknown;
  annotations?: unknown;
  podCIDR?: unknown;
  podCIDRs?: unknown;
  code?: unknown;
  message?: unknown;
}

function scanNodeFields(scan: JsonScanner): ScannedFields {
  const fields: ScannedFields = {};
  scan.object((key) => {
    switch (key) {
      case 'metadata':
        scan.object((field) => {
          if (field === 'name' || field === 'resourceVersion' || field === 'creationTimestamp' || field === 'annotations') fields[field] = scan.value();
          else scan.skip();
        });
        return;
      case 'spec':
        scan.object((field) => {
          if (field === 'podCIDR' || field === 'podCIDRs') fields[field] = scan.value();
          else scan.skip();
        });
        return;
      case 'code':
      case 'message':
        fields[key] = scan.value();
        return;
      default:
        scan.skip();
    }
  });
  return fields;
}

/** The slim node, once every field it keeps has the type the Node schema gives it. */
function nodeFrom(fields: ScannedFields): V1Node {
  const name = optionalString(fields.name, 'node', 'metadata.name');
  if (!name) throw new NodeJsonError(`node without a name: metadata.name is ${JSON.stringify(fields.name ?? null)}`);
  const where = `node ${JSON.stringify(name)}`;
  const resourceVersion = optionalString(fields.resourceVersion, where, 'metadata.resourceVersion');
  const creationTimestamp = optionalTime(fields.creationTimestamp, where);
  const annotations = optionalStringMap(fields.annotations, where, 'metadata.annotations');
  const podCIDR = optionalString(fields.podCIDR, where, 'spec.podCIDR');
  const podCIDRs = optionalStringList(fields.podCIDRs, where, 'spec.podCIDRs');
  const metadata: V1ObjectMeta = {
    name,
    ...(resourceVersion !== undefined ? { resourceVersion } : {}),
    ...(creationTimestamp !== undefined ? { creationTimestamp } : {}),
    ...(annotations !== undefined ? { annotations } : {}),
  };
  const spec: V1NodeSpec = { ...(podCIDR !== undefined ? { podCIDR } : {}), ...(podCIDRs !== undefined ? { podCIDRs } : {}) };
  return { metadata, spec };
}

function scanning<T>(what: string, text: string, read: (scan: JsonScanner) => T): T {
  try {
    const scan = new JsonScanner(text);
    const result = read(scan);
    scan.end();
    return result;
  } catch (err) {
    if (err instanceof JsonScanError) throw new NodeJsonError(`${what} from the API server is not valid JSON: ${err.message}`, { cause: err });
    throw err;
  }
}

function wrongType(where: string, field: string, value: unknown, expected: string): NodeJsonError {
  return new NodeJsonError(`${where} from the API server: ${field} must be ${expected}, got ${JSON.stringify(value)}`);
}

/** Absent and null are the same to the API server's omitempty fields. */
function optionalString(value: unknown, where: string, field: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw wrongType(where, field, value, 'a string');
  return value;
}

function optionalTime(value: unknown, where: string): Date | undefined {
  const text = optionalString(value, where, 'metadata.creationTimestamp');
  if (text === undefined) return undefined;
  const time = new Date(text);
  if (Number.isNaN(time.getTime())) throw wrongType(where, 'metadata.creationTimestamp', value, 'an RFC 3339 time');
  return time;
}

function optionalStringMap(value: unknown, where: string, field: string): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value) || Object.values(value).some((v) => typeof v !== 'string')) {
    throw wrongType(where, field, value, 'an object of strings');
  }
  return value as Record<string, string>;
}

function optionalStringList(value: unknown, where: string, field: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) throw wrongType(where, field, value, 'a list of strings');
  return value as string[];
}
