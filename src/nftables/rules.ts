import { formatSubnet } from '../net/ipv4.js';
import type { IptablesInput } from '../iptables/rules.js';

/** Flannel's nftables table for IPv4 (its IPv6 one is flannel-ipv6). */
export const NFT_TABLE = 'flannel-ipv4';

/** One base chain of the table, with the hook Flannel gives it. */
export interface NftChainPlan {
  readonly name: 'postrtg' | 'forward';
  readonly declaration: string;
  /** Rule statements (what follows `add rule ip <table> <chain>`), in order. */
  readonly rules: readonly string[];
}

/** kube-proxy's masquerade mark bit, matched as iptables' `--mark 0x4000/0x4000` matches it. */
const KUBE_PROXY_MASQ_MARK = 'meta mark & 0x4000 == 0x4000';
const MULTICAST = '224.0.0.0/4';

/**
 * The same rules as planIptables, in native nftables, in Flannel's table and chain names
 * (EnableNFTables: true): never masquerade inside the pod network, masquerade pods going
 * elsewhere (not multicast) and the host reaching into the pod network; accept forwarding to and
 * from the pod network.
 */
export function planNftables(input: IptablesInput): NftChainPlan[] {
  const network = formatSubnet(input.network);
  const own = formatSubnet(input.ownSubnet);
  const plans: NftChainPlan[] = [];
  if (input.ipMasq) {
    const masquerade = input.fullyRandom ? 'masquerade fully-random' : 'masquerade';
    plans.push({
      name: 'postrtg',
      declaration: 'type nat hook postrouting priority srcnat;',
      rules: [
        `${KUBE_PROXY_MASQ_MARK} return`,
        `ip saddr ${own} ip daddr ${network} return`,
        `ip saddr ${network} ip daddr ${own} return`,
        `ip saddr != ${network} ip daddr ${own} return`,
        `ip saddr ${network} ip daddr != ${MULTICAST} ${masquerade}`,
        `ip saddr != ${network} ip daddr ${network} ${masquerade}`,
      ],
    });
  }
  if (input.forwardRules) {
    plans.push({
      name: 'forward',
      declaration: 'type filter hook forward priority filter;',
      rules: [`ip saddr ${network} accept`, `ip daddr ${network} accept`],
    });
  }
  return plans;
}

/**
 * `nft -f` input that rewrites the planned chains in one transaction: the table and chains are
 * created if missing, each chain is flushed and filled again. Nothing else in the table changes.
 */
export function nftScript(plans: readonly NftChainPlan[]): string {
  const out = [`add table ip ${NFT_TABLE}`];
  for (const plan of plans) {
    out.push(`add chain ip ${NFT_TABLE} ${plan.name} { ${plan.declaration} }`);
    out.push(`flush chain ip ${NFT_TABLE} ${plan.name}`);
    for (const rule of plan.rules) out.push(`add rule ip ${NFT_TABLE} ${plan.name} ${rule}`);
  }
  return `${out.join('\n')}\n`;
}

/**
 * The body lines of every chain in `nft list table` output, keyed by chain name: nftables' own
 * rendering of the rules, which a keeper compares with what it rendered right after writing.
 */
export function listedChains(listing: string): Map<string, string[]> {
  const chains = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const raw of listing.split('\n')) {
    const line = raw.trim();
    const start = /^chain (\S+) \{$/.exec(line);
    if (start) {
      current = [];
      chains.set(start[1]!, current);
    } else if (line === '}') {
      current = undefined;
    } else if (current && line !== '') {
      current.push(line);
    }
  }
  return chains;
}
