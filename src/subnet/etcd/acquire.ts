import type { IKeyValue } from 'etcd3';
import type { Logger } from 'winston';
import type { BackendSelection, NetworkConfig } from '../../config/networkConfig.js';
import { type Ipv4Subnet, formatSubnet, subnetsOverlap } from '../../net/ipv4.js';
import { Backoff } from '../../util/backoff.js';
import { DatastoreError, SubnetExhaustedError } from '../../util/errors.js';
import { forbiddenNote, forbiddenOverlap, pickFreeSubnet, subnetInRange } from '../allocator.js';
import { type LeaseAttrs, ownedSubnet, serializeLeaseAttrs } from '../lease.js';
import type { ManagerLifecycle } from '../lifecycle.js';
import { parseSubnetKey } from '../subnetKey.js';
import type { EtcdRegistry, HeldLease, LeaseListing } from './registry.js';

const MAX_ACQUIRE_ATTEMPTS = 200;

export interface EtcdAcquireInput {
  readonly config: NetworkConfig<BackendSelection>;
  readonly attrs: LeaseAttrs;
  /** Tried before a random subnet: subnet.env's at start, the one we had on re-acquire. */
  readonly preferred?: Ipv4Subnet;
  /** Ranges our subnet must not overlap (the underlay's): every peer would reject such a lease. */
  readonly forbidden?: readonly Ipv4Subnet[];
}

export interface EtcdAcquireDeps {
  readonly registry: EtcdRegistry;
  readonly lifecycle: ManagerLifecycle;
  readonly logger: Logger;
  readonly random?: () => number;
  readonly reportError: (what: string, err: unknown) => void;
}

/** The lease we hold, and the listing it was decided on (the watch resumes right after it). */
export interface EtcdAcquired {
  readonly held: HeldLease;
  readonly listing: LeaseListing;
}

/**
 * Flannel's order: the lease (or reservation) carrying our PublicIP; else the preferred subnet if
 * it is free and valid; else a random free one. Each write is a transaction conditioned on the
 * key's state when we listed, so two agents can never both win a subnet; losers list again.
 */
export async function acquireEtcdLease(input: EtcdAcquireInput, deps: EtcdAcquireDeps): Promise<EtcdAcquired> {
  const { config, attrs, preferred } = input;
  const forbidden = input.forbidden ?? [];
  const { registry, lifecycle, logger } = deps;
  // Said once per acquisition, not on every conflicting attempt.
  const refused = new Set<string>();
  const refuse = (what: string, subnet: Ipv4Subnet, blocked: Ipv4Subnet): void => {
    const fields = { subnet: formatSubnet(subnet), protected: formatSubnet(blocked) };
    const fingerprint = `${what} ${fields.subnet}`;
    if (refused.has(fingerprint)) return;
    refused.add(fingerprint);
    logger.warn(`not using ${what} ${fields.subnet}: it overlaps the underlay ${fields.protected}, so every peer would reject it`, fields);
  };
  const value = serializeLeaseAttrs(attrs);
  const range = { min: config.subnetMin, max: config.subnetMax, subnetLen: config.subnetLen };
  const backoff = new Backoff(50, 5_000);
  for (let attempt = 1; attempt <= MAX_ACQUIRE_ATTEMPTS; attempt++) {
    lifecycle.throwIfClosed();
    let listing: LeaseListing;
    try {
      listing = await registry.listLeases();
    } catch (err) {
      deps.reportError('listing leases', err);
      await lifecycle.pause(backoff.next());
      attempt--;
      continue;
    }
    const taken: Ipv4Subnet[] = [];
    let mine: { kv: IKeyValue; subnet: Ipv4Subnet } | undefined;
    for (const [i, lease] of listing.leases.entries()) {
      const subnet = parseSubnetKey(lease.key);
      const kv = listing.kvs[i];
      if (!subnet || !kv) continue;
      if (!mine && ownedSubnet(lease.key, lease.value, config, attrs.publicIP)) {
        const blocked = forbiddenOverlap(subnet, forbidden);
        if (!blocked) {
          mine = { kv, subnet };
          continue;
        }
        refuse('our existing lease', subnet, blocked);
      }
      taken.push(subnet);
    }

    try {
      if (mine) {
        const held = await registry.takeOver(mine.kv, mine.subnet, value);
        if (held) {
          logger.info(held.etcdLeaseId === '0' ? 'using reserved subnet' : 'reusing existing lease', { subnet: formatSubnet(held.subnet) });
          return { held, listing };
        }
      } else {
        const blocked = preferred && forbiddenOverlap(preferred, forbidden);
        if (preferred && blocked) refuse("subnet.env's subnet", preferred, blocked);
        const usablePreferred =
          preferred && !blocked && subnetInRange(range, preferred) && !taken.some((t) => subnetsOverlap(t, preferred)) ? preferred : undefined;
        const candidate = usablePreferred ?? pickFreeSubnet(range, [...taken, ...forbidden], deps.random);
        if (!candidate) {
          throw new SubnetExhaustedError(
            `no free /${config.subnetLen} left in ${formatSubnet(config.network)} between SubnetMin and SubnetMax ` +
              `(${taken.length} subnets taken${forbiddenNote(range, forbidden)}); free a lease or widen the range`,
          );
        }
        const held = await registry.create(candidate, value);
        if (held) {
          logger.info('acquired new lease', { subnet: formatSubnet(candidate), expires: held.expiration?.toISOString() });
          return { held, listing };
        }
      }
    } catch (err) {
      if (err instanceof SubnetExhaustedError) throw err;
      deps.reportError('writing lease', err);
      await lifecycle.pause(backoff.next());
      continue;
    }
    // Lost a race: someone wrote that key between our list and our transaction.
    logger.debug('lease transaction conflicted; listing again', { attempt });
    await lifecycle.pause(Math.floor((deps.random ?? Math.random)() * 20 * Math.min(attempt, 10)));
  }
  throw new DatastoreError(`could not acquire a lease after ${MAX_ACQUIRE_ATTEMPTS} conflicting attempts`);
}
