import type { Logger } from 'winston';
import { NFT_TABLE, type NftChainPlan, listedChains, nftScript } from '../nftables/rules.js';
import { type NftRulesetEvent, eventConcerns } from '../nftables/monitorEvents.js';
import { runCommand } from './exec.js';
import { FirewallKeeper } from './firewallKeeper.js';
import type { NftMonitor } from './nftMonitor.js';

export interface NftablesKeeperOptions {
  /** The chains wanted now; read at every sync because our subnet can change. */
  readonly plans: () => readonly NftChainPlan[];
  readonly resyncSeconds: number;
  /** Announces ruleset changes, so a change to the table is repaired at once. */
  readonly monitor?: NftMonitor;
  readonly logger: Logger;
  readonly onRepair?: () => void;
  /** Runs after every sync that left the chains in place. */
  readonly onSynced?: () => Promise<void>;
}

/** `nft list table` of Flannel's table; empty when the table is not there. */
async function listTable(): Promise<string> {
  const result = await runCommand(['nft', 'list', 'table', 'ip', NFT_TABLE], { allowFailure: true });
  return result.exitCode === 0 ? result.stdout : '';
}

/** The whole table is ours: any change in it is worth a check. */
const TABLE_SCOPE = [{ family: 'ip', table: NFT_TABLE }] as const;

/**
 * Keeps weft's chains in Flannel's nftables table, with the iptables keeper's guarantees: at each
 * check it lists the table once and, when a chain differs from what it last wrote (flushed,
 * edited, the table deleted), rewrites every chain in one `nft -f` transaction. The comparison is
 * against nftables' own rendering, read right after writing. A check runs as soon as `nft
 * monitor` announces a change to the table, and otherwise rarely (every --iptables-resync seconds
 * while the monitor is not running).
 */
export class NftablesKeeper extends FirewallKeeper {
  private written: { fingerprint: string; chains: Map<string, string[]> } | undefined;

  constructor(private readonly options: NftablesKeeperOptions) {
    super({
      what: 'nftables',
      resyncSeconds: options.resyncSeconds,
      monitor: options.monitor,
      logger: options.logger,
      ...(options.onSynced ? { onSynced: options.onSynced } : {}),
    });
  }

  protected concerns(event: NftRulesetEvent): boolean {
    return eventConcerns(event, TABLE_SCOPE);
  }

  protected async syncOnce(): Promise<void> {
    const plans = this.options.plans();
    if (plans.length === 0) return;
    const fingerprint = JSON.stringify(plans);
    const chains = listedChains(await listTable());
    const written = this.written;
    const inPlace =
      written?.fingerprint === fingerprint &&
      plans.every((plan) => chains.get(plan.name)?.join('\n') === written.chains.get(plan.name)?.join('\n'));
    if (inPlace) return;
    await runCommand(['nft', '-f', '-'], { input: nftScript(plans) });
    this.written = { fingerprint, chains: listedChains(await listTable()) };
    if (written?.fingerprint === fingerprint) {
      this.logger.warn('nftables rules were changed by someone else; restored', { table: NFT_TABLE, chains: plans.map((p) => p.name) });
      this.options.onRepair?.();
    } else {
      this.logger.info('nftables rules in place', { table: NFT_TABLE, chains: plans.map((p) => p.name) });
    }
  }
}

/** Deletes Flannel's IPv4 nftables table, which weft keeps in nftables mode (`weft cleanup`). */
export async function removeNftTable(): Promise<boolean> {
  // A host without the nft tool has no table to delete either.
  const result = await runCommand(['nft', 'delete', 'table', 'ip', NFT_TABLE], { allowFailure: true }).catch(() => undefined);
  return result?.exitCode === 0;
}
