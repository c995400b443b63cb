import type { IKeyValue } from 'etcd3';
import type { Logger } from 'winston';
import type { BackendSelection, NetworkConfig } from '../../config/networkConfig.js';
import { type Ipv4Subnet, formatSubnet, subnetsOverlap } from '../../net/ipv4.js';
import { type Ipv6Subnet, formatIpv6Subnet, ipv6SubnetsOverlap } from '../../net/ipv6.js';
import { Backoff } from '../../util/backoff.js';
import { DatastoreError, SubnetExhaustedError } from '../../util/errors.js';
import { forbiddenNote, forbiddenOverlap, pickFreeSubnet, subnetInRange } from '../allocator.js';
import { ipv6SubnetInRange, pickFreeIpv6Subnet } from '../ipv6Allocator.js';
import { type LeaseAttrs, serializeLeaseAttrs } from '../lease.js';
import type { ManagerLifecycle } from '../lifecycle.js';
import { ownedLeaseSubnets } from '../ownedLease.js';
import { type LeaseSubnets, parseLeaseKey } from '../subnetKey.js';
import type { EtcdRegistry, HeldLease, LeaseListing } from './registry.js';

const MAX_ACQUIRE_ATTEMPTS = 200;

export interface EtcdAcquireInput {
  readonly config: NetworkConfig<BackendSelection>;
  readonly attrs: LeaseAttrs;
  /** Tried before a random subnet: subnet.env's at start, the one we had on re-acquire. */
  readonly preferred?: Ipv4Subnet;
  readonly preferredIpv6?: Ipv6Subnet;
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
  const { config, attrs } = input;
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
  const wantIpv6 = config.ipv6 !== undefined && attrs.publicIPv6 !== undefined;
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
    const takenIpv6: Ipv6Subnet[] = [];
    let mine: { kv: IKeyValue; subnets: LeaseSubnets } | undefined;
    for (const [i, lease] of listing.leases.entries()) {
      const subnets = parseLeaseKey(lease.key);
      const kv = listing.kvs[i];
      if (!subnets || !kv) continue;
      const owned = mine ? undefined : ownedLeaseSubnets(lease.key, lease.value, config, attrs);
      if (owned) {
        const blocked = config.enableIPv4 ? forbiddenOverlap(owned.ipv4, forbidden) : undefined;
        if (!blocked) {
          mine = { kv, subnets: owned };
          continue;
        }
        refuse('our existing lease', owned.ipv4, blocked);
      }
      if (config.enableIPv4) taken.push(subnets.ipv4);
      if (subnets.ipv6) takenIpv6.push(subnets.ipv6);
    }

    try {
      if (mine) {
        const held = await registry.takeOver(mine.kv, mine.subnets, value);
        if (held) {
          logger.info(held.etcdLeaseId === '0' ? 'using reserved subnet' : 'reusing existing lease', describeLease(mine.subnets));
          return { held, listing };
        }
      } else {
        const candidate: LeaseSubnets = {
          ipv4: config.enableIPv4 ? chooseIpv4(config, taken, input.preferred, forbidden, refuse, deps.random) : { address: 0, prefixLength: 0 },
          ...(wantIpv6 ? { ipv6: chooseIpv6(config, takenIpv6, input.preferredIpv6, deps.random) } : {}),
        };
        // With an IPv6 part, the key alone does not prove both subnets free (registry.create).
        const held = await registry.create(candidate, value, wantIpv6 ? listing.revision : undefined);
        if (held) {
          logger.info('acquired new lease', { ...describeLease(candidate), expires: held.expiration?.toISOString() });
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

/** subnet.env's subnet if it is usable, else a random free one; never one overlapping `forbidden`. */
function chooseIpv4(
  config: NetworkConfig<BackendSelection>,
  taken: readonly Ipv4Subnet[],
  preferred: Ipv4Subnet | undefined,
  forbidden: readonly Ipv4Subnet[],
  refuse: (what: string, subnet: Ipv4Subnet, blocked: Ipv4Subnet) => void,
  random?: () => number,
): Ipv4Subnet {
  const range = { min: config.subnetMin, max: config.subnetMax, subnetLen: config.subnetLen };
  const blocked = preferred && forbiddenOverlap(preferred, forbidden);
  if (preferred && blocked) refuse("subnet.env's subnet", preferred, blocked);
  const usable = preferred && !blocked && subnetInRange(range, preferred) && !taken.some((t) => subnetsOverlap(t, preferred)) ? preferred : undefined;
  const chosen = usable ?? pickFreeSubnet(range, [...taken, ...forbidden], random);
  if (!chosen) {
    throw new SubnetExhaustedError(
      `no free /${config.subnetLen} left in ${formatSubnet(config.network)} between SubnetMin and SubnetMax ` +
        `(${taken.length} subnets taken${forbiddenNote(range, forbidden)}); free a lease or widen the range`,
    );
  }
  return chosen;
}

function chooseIpv6(config: NetworkConfig<BackendSelection>, taken: readonly Ipv6Subnet[], preferred: Ipv6Subnet | undefined, random?: () => number): Ipv6Subnet {
  const network = config.ipv6!;
  const range = { min: network.subnetMin, max: network.subnetMax, subnetLen: network.subnetLen };
  const usable = preferred && ipv6SubnetInRange(range, preferred) && !taken.some((t) => ipv6SubnetsOverlap(t, preferred)) ? preferred : undefined;
  const chosen = usable ?? pickFreeIpv6Subnet(range, taken, random);
  if (!chosen) {
    throw new SubnetExhaustedError(
      `no free /${network.subnetLen} left in ${formatIpv6Subnet(network.network)} between IPv6SubnetMin and IPv6SubnetMax ` +
        `(${taken.length} subnets taken); free a lease or widen the range`,
    );
  }
  return chosen;
}

/** Log fields naming a lease's subnets. */
export function describeLease(subnets: LeaseSubnets): Record<string, string> {
  return {
    ...(subnets.ipv4.prefixLength > 0 ? { subnet: formatSubnet(subnets.ipv4) } : {}),
    ...(subnets.ipv6 ? { ipv6Subnet: formatIpv6Subnet(subnets.ipv6) } : {}),
  };
}
