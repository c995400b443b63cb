import type { Logger } from 'winston';
import { type ChainPlan, type ChainSelector, removeChainsInput, restoreInput, savedChainState } from '../iptables/rules.js';
import { type NftRulesetEvent, type NftScope, eventConcerns } from '../nftables/monitorEvents.js';
import { runCommand } from './exec.js';
import { FirewallKeeper } from './firewallKeeper.js';
import type { NftMonitor } from './nftMonitor.js';

export interface IptablesTools {
  readonly save: string;
  readonly restore: string;
  readonly family: 4 | 6;
  /** The nft backend: its tables are nftables tables, whose changes `nft monitor` announces. */
  readonly nft: boolean;
}

async function ruleCount(save: string): Promise<number> {
  const result = await runCommand([save], { allowFailure: true }).catch(() => undefined);
  if (!result || result.exitCode !== 0) return -1;
  return result.stdout.split('\n').filter((l) => l.startsWith('-A ')).length;
}

/**
 * A host runs either the nft or the legacy iptables backend, and rules written to the other one
 * are silently ignored. Like kube-proxy's wrapper, pick whichever already holds more rules,
 * preferring nft (Debian's default) on a tie; fall back to plain iptables-save/-restore.
 */
export async function detectIptablesTools(family: 4 | 6 = 4): Promise<IptablesTools> {
  const tool = family === 6 ? 'ip6tables' : 'iptables';
  const [nft, legacy] = await Promise.all([ruleCount(`${tool}-nft-save`), ruleCount(`${tool}-legacy-save`)]);
  // Neither variant's tool: a plain iptables of unknown backend, kept by polling.
  if (nft < 0 && legacy < 0) return { save: `${tool}-save`, restore: `${tool}-restore`, family, nft: false };
  return legacy > nft
    ? { save: `${tool}-legacy-save`, restore: `${tool}-legacy-restore`, family, nft: false }
    : { save: `${tool}-nft-save`, restore: `${tool}-nft-restore`, family, nft: true };
}

export interface IptablesKeeperOptions {
  readonly tools: IptablesTools;
  /** The chains wanted now; read at every sync because our subnet can change. */
  readonly plans: () => readonly ChainPlan[];
  readonly resyncSeconds: number;
  /** Announces ruleset changes; used when the tools are the nft backend's. */
  readonly monitor?: NftMonitor;
  readonly logger: Logger;
  readonly onRepair?: () => void;
  /** Runs after every sync that left the chains in place. */
  readonly onSynced?: () => Promise<void>;
}

/**
 * Keeps weft's chains in place: at each check it reads iptables-save once and rewrites a chain
 * (in one iptables-restore, holding the xtables lock) only when it differs from what was last
 * written. Comparison is against iptables' own rendering of our rules, captured right after
 * writing them, so no iptables normalisation rules are re-implemented here. With the nft backend
 * a check runs as soon as `nft monitor` announces a change to our chains or the jumps into them,
 * and otherwise rarely; with iptables-legacy, which announces nothing, every --iptables-resync
 * seconds.
 */
export class IptablesKeeper extends FirewallKeeper {
  private readonly written = new Map<string, { fingerprint: string; saved: string[] }>();
  /** Our chains and their parents as nftables names them, from the last check's plans. */
  private scopes: NftScope[] = [];

  constructor(private readonly options: IptablesKeeperOptions) {
    super({
      what: 'iptables',
      resyncSeconds: options.resyncSeconds,
      monitor: options.tools.nft ? options.monitor : undefined,
      logger: options.logger,
      ...(options.onSynced ? { onSynced: options.onSynced } : {}),
    });
  }

  protected concerns(event: NftRulesetEvent): boolean {
    return eventConcerns(event, this.scopes);
  }

  protected async syncOnce(): Promise<void> {
    const plans = this.options.plans();
    const family = this.options.tools.family === 6 ? 'ip6' : 'ip';
    this.scopes = plans.map((plan) => ({ family, table: plan.table, chains: [plan.chain, plan.parent] }));
    if (plans.length === 0) return;
    const save = (await runCommand([this.options.tools.save])).stdout;
    const stale = plans.filter((plan) => {
      const state = savedChainState(save, plan);
      const written = this.written.get(plan.chain);
      return (
        !state.exists ||
        state.jumps !== 1 ||
        written?.fingerprint !== JSON.stringify(plan) ||
        written.saved.join('\n') !== state.rules.join('\n')
      );
    });
    if (stale.length === 0) return;
    // Written before with the same plan, yet different now: someone else changed it.
    const repaired = stale.filter((plan) => this.written.get(plan.chain)?.fingerprint === JSON.stringify(plan));
    const jumps = new Map(stale.map((plan) => [plan.chain, savedChainState(save, plan).jumps]));
    await runCommand([this.options.tools.restore, '--noflush', '-w', '5'], { input: restoreInput(stale, jumps) });
    const after = (await runCommand([this.options.tools.save])).stdout;
    for (const plan of stale) this.written.set(plan.chain, { fingerprint: JSON.stringify(plan), saved: savedChainState(after, plan).rules });
    if (repaired.length > 0) {
      this.options.logger.warn('iptables rules were changed by someone else; restored', { chains: repaired.map((p) => p.chain) });
      this.options.onRepair?.();
    } else {
      this.options.logger.info('iptables rules in place', { chains: stale.map((p) => p.chain), backend: this.options.tools.restore });
    }
  }
}

/**
 * Removes the chains `select` picks, and the jumps into them, from both backends and both
 * families: weft's own on `weft cleanup`, Flannel's once weft's replace them. Returns the restore
 * tools that removed any.
 */
export async function removeIptablesChains(select: ChainSelector): Promise<string[]> {
  const cleaned: string[] = [];
  for (const tools of [
    { save: 'iptables-nft-save', restore: 'iptables-nft-restore' },
    { save: 'iptables-legacy-save', restore: 'iptables-legacy-restore' },
    { save: 'ip6tables-nft-save', restore: 'ip6tables-nft-restore' },
    { save: 'ip6tables-legacy-save', restore: 'ip6tables-legacy-restore' },
  ]) {
    const save = await runCommand([tools.save], { allowFailure: true }).catch(() => undefined);
    if (!save || save.exitCode !== 0) continue;
    const input = removeChainsInput(save.stdout, select);
    if (input === '') continue;
    await runCommand([tools.restore, '--noflush', '-w', '5'], { input });
    cleaned.push(tools.restore);
  }
  return cleaned;
}
