import type { Logger } from 'winston';
import type { NftRulesetEvent } from '../nftables/monitorEvents.js';
import { type NftMonitor, firewallCheckPeriodMs } from './nftMonitor.js';
import { PeriodicSync } from './periodicSync.js';

export interface FirewallKeeperOptions {
  readonly what: string;
  readonly resyncSeconds: number;
  /** Announces ruleset changes; absent where the rules live in iptables-legacy, which announces none. */
  readonly monitor: NftMonitor | undefined;
  readonly logger: Logger;
  readonly onSynced?: () => Promise<void>;
}

/**
 * A keeper of firewall rules: it checks as soon as the monitor announces a change it `concerns`
 * itself with, and on its own every --iptables-resync seconds while nothing announces changes
 * (rarely while something does; see firewallCheckPeriodMs). A failed check is tried again after
 * --iptables-resync seconds either way.
 */
export abstract class FirewallKeeper extends PeriodicSync {
  private readonly monitor: NftMonitor | undefined;
  private readonly listener = {
    concerns: (event: NftRulesetEvent) => this.concerns(event),
    recheck: () => void this.sync(),
  };

  protected constructor(options: FirewallKeeperOptions) {
    const { monitor, resyncSeconds } = options;
    super({
      what: options.what,
      periodMs: () => firewallCheckPeriodMs(monitor, resyncSeconds),
      retryMs: resyncSeconds * 1000,
      logger: options.logger,
      ...(options.onSynced ? { onSynced: options.onSynced } : {}),
    });
    this.monitor = monitor;
  }

  override get hearsChanges(): boolean {
    return this.monitor !== undefined;
  }

  override start(): Promise<void> {
    this.monitor?.add(this.listener);
    return super.start();
  }

  override async stop(): Promise<void> {
    this.monitor?.remove(this.listener);
    await super.stop();
  }

  /** Whether an announced change may have touched what this keeper keeps. */
  protected abstract concerns(event: NftRulesetEvent): boolean;
}
