import { WEFT_ROUTE_PROTOCOL, withPrefixLength } from './kernelState.js';

/**
 * One line of `ip monitor` / `bridge monitor fdb`, read as far as the reconciler needs to tell
 * its own writes echoed back from someone else's change. Anything not read as one of these is
 * `other`, and counts as a change nobody announced.
 */
export type KernelEvent =
  | {
      readonly kind: 'route';
      readonly deleted: boolean;
      readonly dst: string;
      readonly nhid?: number;
      readonly gateway?: string;
      readonly dev: string;
    }
  | { readonly kind: 'nexthop'; readonly deleted: boolean; readonly id: number; readonly gateway?: string; readonly dev?: string }
  | { readonly kind: 'neigh'; readonly deleted: boolean; readonly dst: string; readonly dev: string; readonly lladdr?: string; readonly permanent: boolean }
  | { readonly kind: 'fdb'; readonly deleted: boolean; readonly mac: string; readonly dev: string; readonly dst?: string; readonly permanent: boolean }
  | { readonly kind: 'other'; readonly line: string };

const DELETED = /^Deleted /;
const NEXTHOP = /^id (\d+) (?:via (\S+) )?dev (\S+)/;
const ROUTE = /^([0-9a-fA-F.:]+(?:\/\d+)?) (?:nhid (\d+) )?(?:via (?:inet6? )?(\S+) )?dev (\S+)/;
const NEIGH = /^([0-9a-fA-F.:]+) dev (\S+)(?: lladdr (\S+))?/;
const FDB = /^((?:[0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}) dev (\S+)(?: dst (\S+))?/;
const OWN_PROTOCOL = new RegExp(`\\bproto ${WEFT_ROUTE_PROTOCOL}\\b`);

export function parseKernelEvent(line: string): KernelEvent {
  const deleted = DELETED.test(line);
  const text = deleted ? line.slice('Deleted '.length) : line;
  const fdb = FDB.exec(text);
  if (fdb) {
    return { kind: 'fdb', deleted, mac: fdb[1]!.toLowerCase(), dev: fdb[2]!, ...(fdb[3] ? { dst: fdb[3] } : {}), permanent: /\bpermanent\b/.test(text) };
  }
  const nexthop = NEXTHOP.exec(text);
  if (nexthop) {
    if (!OWN_PROTOCOL.test(text)) return { kind: 'other', line };
    return { kind: 'nexthop', deleted, id: Number(nexthop[1]), dev: nexthop[3]!, ...(nexthop[2] ? { gateway: nexthop[2] } : {}) };
  }
  // Route lines name a protocol (iproute2 leaves out only `boot`); neighbour lines never do.
  if (/\bproto \S+/.test(text)) {
    const route = ROUTE.exec(text);
    if (!route || !OWN_PROTOCOL.test(text)) return { kind: 'other', line };
    return {
      kind: 'route',
      deleted,
      dst: withPrefixLength(route[1]!),
      dev: route[4]!,
      ...(route[2] ? { nhid: Number(route[2]) } : {}),
      ...(route[3] ? { gateway: route[3] } : {}),
    };
  }
  const neigh = NEIGH.exec(text);
  if (neigh) {
    const lladdr = neigh[3]?.toLowerCase();
    const permanent = /\bPERMANENT\b/.test(text);
    // A VXLAN device's FDB entries also reach `ip monitor neigh`, as NOARP entries keyed by the
    // remote address: the same change `bridge monitor fdb` reports.
    if (/\bNOARP\b/.test(text) && lladdr) return { kind: 'fdb', deleted, mac: lladdr, dev: neigh[2]!, dst: neigh[1]!, permanent };
    return { kind: 'neigh', deleted, dst: neigh[1]!, dev: neigh[2]!, ...(lladdr ? { lladdr } : {}), permanent };
  }
  return { kind: 'other', line };
}
