import type { Logger } from 'winston';
import { type LineStream, streamLines } from './exec.js';
import { type KernelEvent, parseKernelEvent } from './kernelEvents.js';
import { WEFT_ROUTE_PROTOCOL } from './kernelState.js';

export interface KernelMonitorOptions {
  /** Devices weft owns: any route, neighbour or FDB line on them matters. */
  readonly ownDevices: readonly string[];
  /** Links weft only depends on (the external interface): only link-level changes matter. */
  readonly watchedLinks: readonly string[];
  /** Also watch nexthop objects (only where the kernel has them: `ip monitor` rejects the group otherwise). */
  readonly nexthops: boolean;
  readonly logger: Logger;
  /** The relevant lines of one chunk of monitor output, read as events. */
  readonly onEvents: (events: readonly KernelEvent[]) => void;
  /** A monitor came back after exiting: whatever changed while it was gone went unannounced. */
  readonly onRestart?: () => void;
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function alternatives(names: readonly string[]): string {
  return names.length > 0 ? names.map(escapeRegex).join('|') : '(?!)';
}

/**
 * Builds the test for monitor lines worth a reconcile: anything on weft's own devices, any route
 * with weft's protocol, and link and IPv4 address changes (MTU, deletion) of the links it depends on. Neighbour
 * churn elsewhere, pod or underlay ARP flipping between REACHABLE and STALE, is ignored, so a
 * busy host does not reconcile on every neighbour state change.
 */
export function monitorLineFilter(ownDevices: readonly string[], watchedLinks: readonly string[]): (line: string) => boolean {
  const own = alternatives(ownDevices);
  const links = alternatives([...ownDevices, ...watchedLinks]);
  const pattern = new RegExp(
    `(?:\\bdev (?:${own})(?:\\s|$))|(?:^(?:Deleted )?\\d+: (?:${links})(?:[:@]|\\s+inet\\s))|(?:\\bproto ${WEFT_ROUTE_PROTOCOL}\\b)`,
  );
  return (line) => pattern.test(line);
}

/**
 * Watches the kernel through `ip monitor` and `bridge monitor fdb` so that a route, neighbour,
 * FDB entry or device deleted by someone else is noticed at once rather than at the next resync.
 * A monitor that dies is restarted, and onRestart asks for a full pass to cover the gap.
 */
export class KernelMonitor {
  private readonly children = new Set<LineStream>();
  private stopped = false;
  private readonly interesting: (line: string) => boolean;

  constructor(private readonly options: KernelMonitorOptions) {
    this.interesting = monitorLineFilter(options.ownDevices, options.watchedLinks);
  }

  start(): void {
    this.spawn(['ip', 'monitor', 'link', 'route', 'neigh', 'address', ...(this.options.nexthops ? ['nexthop'] : [])]);
    this.spawn(['bridge', 'monitor', 'fdb']);
  }

  stop(): void {
    this.stopped = true;
    for (const child of this.children) child.kill();
    this.children.clear();
  }

  private spawn(argv: [string, ...string[]]): void {
    if (this.stopped) return;
    // One notification per chunk: our own batch of 30000 changes echoes back as thousands of
    // lines, which the reconciler checks against what it wrote in one go.
    const child = streamLines(argv, (lines) => {
      const events: KernelEvent[] = [];
      for (const line of lines) if (this.interesting(line)) events.push(parseKernelEvent(line));
      if (events.length > 0) this.options.onEvents(events);
    });
    this.children.add(child);
    void child.exited.then(() => {
      this.children.delete(child);
      if (this.stopped) return;
      this.options.logger.warn('kernel monitor exited; restarting', { command: argv.join(' ') });
      setTimeout(() => {
        this.spawn(argv);
        if (!this.stopped) this.options.onRestart?.();
      }, 1_000).unref();
    });
  }
}
