import { type Ipv4Subnet, formatSubnet } from '../net/ipv4.js';

/** One weft chain and the built-in chain that jumps to it. */
export interface ChainPlan {
  readonly table: 'nat' | 'filter';
  readonly parent: 'POSTROUTING' | 'FORWARD';
  readonly chain: string;
  /** Rule specs (what follows `-A <chain>`), in order. */
  readonly rules: readonly string[];
  readonly jump: string;
}

export interface IptablesInput {
  readonly network: Ipv4Subnet;
  readonly ownSubnet: Ipv4Subnet;
  readonly ipMasq: boolean;
  /** Masquerade with --random-fully (off with --ip-masq-fully-random-disable). */
  readonly fullyRandom: boolean;
  readonly forwardRules: boolean;
}

/** kube-proxy marks packets it will masquerade itself; NATing them twice breaks some kernels. */
const KUBE_PROXY_MASQ_MARK = '0x4000/0x4000';
const MULTICAST = '224.0.0.0/4';

/**
 * Chain names carry the Network, so two weft instances (a primary and a Multus secondary) keep
 * separate chains; at most 28 characters, as iptables requires.
 */
export function chainNames(network: Ipv4Subnet): { masq: string; forward: string } {
  const id = `${network.address.toString(16).toUpperCase().padStart(8, '0')}-${network.prefixLength}`;
  return { masq: `WEFT-MASQ-${id}`, forward: `WEFT-FWD-${id}` };
}

/**
 * Flannel's rule set: never masquerade inside the pod network, masquerade pods going elsewhere
 * (not multicast), masquerade the host reaching into the pod network; and accept forwarding to
 * and from the pod network.
 */
export function planIptables(input: IptablesInput): ChainPlan[] {
  return flannelChainPlans({
    network: formatSubnet(input.network),
    own: formatSubnet(input.ownSubnet),
    multicast: MULTICAST,
    names: chainNames(input.network),
    ipMasq: input.ipMasq,
    fullyRandom: input.fullyRandom,
    forwardRules: input.forwardRules,
  });
}

/** Flannel's rule set in one family's notation: the same rules for iptables and ip6tables. */
export interface FamilyRuleInput {
  readonly network: string;
  readonly own: string;
  /** The family's multicast range, never masqueraded. */
  readonly multicast: string;
  readonly names: { readonly masq: string; readonly forward: string };
  readonly ipMasq: boolean;
  /** Masquerade with --random-fully (off with --ip-masq-fully-random-disable). */
  readonly fullyRandom: boolean;
  readonly forwardRules: boolean;
}

export function flannelChainPlans(input: FamilyRuleInput): ChainPlan[] {
  const { network, own, names, multicast } = input;
  const plans: ChainPlan[] = [];
  if (input.ipMasq) {
    const c = '-m comment --comment "weft masq"';
    const masquerade = input.fullyRandom ? 'MASQUERADE --random-fully' : 'MASQUERADE';
    plans.push({
      table: 'nat',
      parent: 'POSTROUTING',
      chain: names.masq,
      jump: `${c} -j ${names.masq}`,
      rules: [
        `-m mark --mark ${KUBE_PROXY_MASQ_MARK} ${c} -j RETURN`,
        `-s ${own} -d ${network} ${c} -j RETURN`,
        `-s ${network} -d ${own} ${c} -j RETURN`,
        `! -s ${network} -d ${own} ${c} -j RETURN`,
        `-s ${network} ! -d ${multicast} ${c} -j ${masquerade}`,
        `! -s ${network} -d ${network} ${c} -j ${masquerade}`,
      ],
    });
  }
  if (input.forwardRules) {
    const c = '-m comment --comment "weft forward"';
    plans.push({
      table: 'filter',
      parent: 'FORWARD',
      chain: names.forward,
      jump: `${c} -j ${names.forward}`,
      rules: [`-s ${network} ${c} -j ACCEPT`, `-d ${network} ${c} -j ACCEPT`],
    });
  }
  return plans;
}

/** The lines of one table in `iptables-save` output. */
export function savedTable(save: string, table: string): string[] {
  const lines = save.split('\n');
  const start = lines.indexOf(`*${table}`);
  if (start < 0) return [];
  const end = lines.indexOf('COMMIT', start);
  return lines.slice(start + 1, end < 0 ? undefined : end);
}

/** What iptables-save shows for a plan's chain: its rules and the jumps into it. */
export function savedChainState(save: string, plan: ChainPlan): { rules: string[]; jumps: number; exists: boolean } {
  const lines = savedTable(save, plan.table);
  return {
    exists: lines.some((l) => l.startsWith(`:${plan.chain} `)),
    rules: lines.filter((l) => l.startsWith(`-A ${plan.chain} `)),
    jumps: lines.filter((l) => l.startsWith(`-A ${plan.parent} `) && l.endsWith(`-j ${plan.chain}`)).length,
  };
}

/**
 * iptables-restore input (used with --noflush) that rewrites a chain and makes sure exactly one
 * jump to it sits first in its parent chain.
 */
export function restoreInput(plans: readonly ChainPlan[], jumpsPresent: ReadonlyMap<string, number>): string {
  const out: string[] = [];
  for (const table of ['nat', 'filter'] as const) {
    const inTable = plans.filter((p) => p.table === table);
    if (inTable.length === 0) continue;
    out.push(`*${table}`);
    for (const plan of inTable) out.push(`:${plan.chain} - [0:0]`);
    for (const plan of inTable) {
      out.push(`-F ${plan.chain}`);
      for (const rule of plan.rules) out.push(`-A ${plan.chain} ${rule}`);
      const jumps = jumpsPresent.get(plan.chain) ?? 0;
      for (let i = 0; i < jumps; i++) out.push(`-D ${plan.parent} ${plan.jump}`);
      out.push(`-I ${plan.parent} 1 ${plan.jump}`);
    }
    out.push('COMMIT');
  }
  return `${out.join('\n')}\n`;
}

/** Decides whether a saved chain goes: its name, table and `-A` lines. */
export type ChainSelector = (chain: string, table: 'nat' | 'filter', rules: readonly string[]) => boolean;

/** iptables-restore input (used with --noflush) that removes the chains `remove` picks and every jump into them. */
export function removeChainsInput(save: string, remove: ChainSelector): string {
  const out: string[] = [];
  for (const table of ['nat', 'filter'] as const) {
    const lines = savedTable(save, table);
    const chains = lines
      .filter((l) => l.startsWith(':'))
      .map((l) => l.slice(1).split(' ')[0]!)
      .filter((chain) => remove(chain, table, lines.filter((l) => l.startsWith(`-A ${chain} `))));
    if (chains.length === 0) continue;
    const removed = new Set(chains);
    out.push(`*${table}`);
    for (const line of lines) {
      const jump = /^-A (\S+) (.*-j (\S+))$/.exec(line);
      if (jump && removed.has(jump[3]!) && !removed.has(jump[1]!)) out.push(`-D ${jump[1]} ${jump[2]}`);
    }
    for (const chain of chains) out.push(`-F ${chain}`, `-X ${chain}`);
    out.push('COMMIT');
  }
  return out.length ? `${out.join('\n')}\n` : '';
}

/** Every weft chain, of any Network (`weft cleanup`). */
export const weftChains: ChainSelector = (chain) => /^WEFT-(MASQ|FWD)-/.test(chain);


const FLANNEL_CHAINS = { nat: 'FLANNEL-POSTRTG', filter: 'FLANNEL-FWD' } as const;

/**
 * The rules weft's own replace, once those are in place: Flannel's FLANNEL-POSTRTG and
 * FLANNEL-FWD when their rules are for this Network (a Flannel running another network keeps
 * its chains), and, when weft itself now keeps the rules in nftables, its own iptables chains
 * for this Network.
 */
export function supersededChains(network: Ipv4Subnet, weftIptablesToo: boolean): ChainSelector {
  const cidr = formatSubnet(network);
  const names = chainNames(network);
  return (chain, table, rules) => {
    if (chain === FLANNEL_CHAINS[table]) return rules.some((rule) => rule.split(' ').includes(cidr));
    return weftIptablesToo && (chain === names.masq || chain === names.forward);
  };
}
