/**
 * What one line of `nft monitor` says about the ruleset. The kernel announces every change to an
 * nftables table, whoever makes it: `nft`, iptables-nft (whose tables are nftables tables named
 * after the iptables ones), kube-proxy, firewalld. iptables-legacy changes are never announced.
 */
export type NftRulesetEvent =
  | { readonly kind: 'table'; readonly family: string; readonly table: string }
  | { readonly kind: 'chain' | 'rule'; readonly family: string; readonly table: string; readonly chain: string }
  /** The monitor's socket overflowed: some changes went unannounced. */
  | { readonly kind: 'lost' };

const VERBS = new Set(['add', 'insert', 'replace', 'create', 'delete', 'destroy', 'flush', 'update']);

/**
 * Parses a line of `nft monitor` (text output): `<verb> table|chain|rule <family> <table>
 * [<chain>] …`. Sets, maps, elements, objects and the `# new generation` trailers say nothing
 * about chains and give undefined, as do lines of any other shape.
 */
export function parseNftMonitorLine(line: string): NftRulesetEvent | undefined {
  // nftables prints this when the kernel dropped events for a full socket buffer (ENOBUFS).
  if (line.startsWith('# ERROR')) return { kind: 'lost' };
  // Only the first five words matter; kube-proxy's rule lines can be long.
  const [verb, object, family, table, chain] = line.trimStart().split(/\s+/, 5);
  if (!verb || !VERBS.has(verb) || !family || !table) return undefined;
  if (object === 'table') return { kind: 'table', family, table };
  if ((object === 'chain' || object === 'rule') && chain) return { kind: object, family, table, chain };
  return undefined;
}

/** Part of the ruleset a keeper keeps: chains of one table (every chain of it when `chains` is absent). */
export interface NftScope {
  /** nftables' family name: `ip` for iptables and IPv4 tables, `ip6` for ip6tables. */
  readonly family: 'ip' | 'ip6';
  readonly table: string;
  readonly chains?: readonly string[];
}

/** Whether an event may have changed something in `scopes`; lost events may have changed anything. */
export function eventConcerns(event: NftRulesetEvent, scopes: readonly NftScope[]): boolean {
  if (event.kind === 'lost') return true;
  return scopes.some(
    (scope) =>
      scope.family === event.family &&
      scope.table === event.table &&
      (event.kind === 'table' || scope.chains === undefined || scope.chains.includes(event.chain)),
  );
}
