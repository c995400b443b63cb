import type { Etcd3, ICompare, IKeyValue, Watcher } from 'etcd3';
import type { Logger } from 'winston';
import type { Ipv4Subnet } from '../../net/ipv4.js';
import type { Ipv6Subnet } from '../../net/ipv6.js';
import { errorMessage } from '../../util/errors.js';
import type { StoredLease } from '../leaseStore.js';
import type { LeaseSubnets } from '../subnetKey.js';
import type { ManagerLifecycle } from '../lifecycle.js';
import type { EtcdKeyLayout } from './keys.js';
import { type EtcdHeaderFacts, headerFacts } from './resetDetector.js';

export const DEFAULT_LEASE_TTL_SECONDS = 24 * 60 * 60;

/** Our key in etcd as we last wrote it. */
export interface HeldLease {
  readonly subnet: Ipv4Subnet;
  /** Present when the lease carries an IPv6 subnet (its key then names both). */
  readonly ipv6Subnet?: Ipv6Subnet;
  readonly key: string;
  readonly value: string;
  /** mod_revision of our last write: renewal is conditional on nobody having changed the key since. */
  readonly modRevision: number;
  /** etcd lease ID granted by this process ('0' for a reservation). */
  readonly etcdLeaseId: string;
  readonly expiration?: Date;
}

export interface LeaseListing {
  readonly leases: StoredLease[];
  readonly revision: number;
  readonly kvs: IKeyValue[];
  /** Which history the listing came from; see resetDetector.ts. */
  readonly header: EtcdHeaderFacts;
}

/**
 * The etcd operations weft's leases need, and nothing else: transactions conditioned on a key's
 * state, etcd leases granted, moved and revoked, listings and the watch. Every answer counts as
 * contact for readiness. Policy (which subnet, when to renew) lives in acquire.ts and the manager.
 */
export class EtcdRegistry {
  constructor(
    private readonly client: Etcd3,
    readonly keys: EtcdKeyLayout,
    private readonly lifecycle: ManagerLifecycle,
    private readonly logger: Logger,
    private readonly ttlSeconds = DEFAULT_LEASE_TTL_SECONDS,
  ) {}

  async readConfig(): Promise<string | null> {
    const value = await this.client.get(this.keys.configKey).string();
    this.lifecycle.touch();
    return value;
  }

  /** A cheap read that proves etcd answers (an idle watch proves nothing), of the network config. */
  async probe(): Promise<{ readonly header: EtcdHeaderFacts; readonly config: string | null }> {
    const response = await this.client.get(this.keys.configKey).exec();
    this.lifecycle.touch();
    return { header: headerFacts(response.header), config: response.kvs[0]?.value.toString() ?? null };
  }

  async listLeases(): Promise<LeaseListing> {
    const response = await this.client.getAll().prefix(this.keys.subnetsPrefix).exec();
    this.lifecycle.touch();
    const leases = response.kvs.map((kv) => this.keys.storedLease(kv));
    return { leases, revision: Number(response.header.revision), kvs: response.kvs, header: headerFacts(response.header) };
  }

  /**
   * Creates the key for `subnets` if nobody has it; undefined when someone does.
   *
   * With `noKeyCreatedAfter` (a listing's revision), the same transaction also requires that no
   * lease key appeared since that listing. A dual-stack key names two subnets, and another host
   * may claim either of them under a different key ("10.5.1.0-24&fc00:0:0:9::-64" against our
   * "10.5.2.0-24&fc00:0:0:9::-64"), which a condition on our key alone cannot see. Renewals keep
   * a key's create revision, so only real new claims make the transaction retry.
   */
  async create(subnets: LeaseSubnets, value: string, noKeyCreatedAfter?: number): Promise<HeldLease | undefined> {
    const key = this.keys.leaseKey(subnets);
    const lease = await this.grant();
    const compare: ICompare[] = [{ key: Buffer.from(key), target: 'Create', result: 'Equal', create_revision: 0 }];
    if (noKeyCreatedAfter !== undefined) {
      const prefix = Buffer.from(this.keys.subnetsPrefix);
      compare.push({ key: prefix, range_end: prefixEnd(prefix), target: 'Create', result: 'Less', create_revision: noKeyCreatedAfter + 1 });
    }
    const result = await this.client.kv.txn({
      compare,
      success: [{ request_put: { key: Buffer.from(key), value: Buffer.from(value), lease: lease.id } }],
    });
    this.lifecycle.touch();
    if (!result.succeeded) {
      await this.revoke(lease.id);
      return undefined;
    }
    return heldLease(subnets, key, value, Number(result.header.revision), lease);
  }

  /**
   * Rewrites an existing key (our old lease, or a reservation naming our PublicIP) if it is still
   * as listed. A reservation stays without an etcd lease: it never expires.
   */
  async takeOver(kv: IKeyValue, subnets: LeaseSubnets, value: string): Promise<HeldLease | undefined> {
    const key = kv.key.toString();
    const reservation = String(kv.lease) === '0';
    const lease = reservation ? undefined : await this.grant();
    const put = this.client.put(key).value(value);
    if (lease) put.lease(lease.id);
    const result = await this.client.if(key, 'Mod', '==', Number(kv.mod_revision)).then(put).commit();
    this.lifecycle.touch();
    if (!result.succeeded) {
      if (lease) await this.revoke(lease.id);
      return undefined;
    }
    return heldLease(subnets, key, value, Number(result.header.revision), lease);
  }

  /**
   * Moves our key onto a fresh etcd lease, but only if nobody changed it since our last write;
   * undefined when someone did. The superseded etcd lease is revoked.
   */
  async renew(held: HeldLease): Promise<HeldLease | undefined> {
    const lease = await this.grant();
    const result = await this.client
      .if(held.key, 'Mod', '==', held.modRevision)
      .then(this.client.put(held.key).value(held.value).lease(lease.id))
      .commit();
    this.lifecycle.touch();
    if (!result.succeeded) {
      await this.revoke(lease.id);
      return undefined;
    }
    await this.revoke(held.etcdLeaseId);
    return { ...held, modRevision: Number(result.header.revision), etcdLeaseId: lease.id, expiration: lease.expiration };
  }

  /** Remaining TTL of an etcd lease in seconds; 0 for a reservation or an expired lease. */
  async remainingSeconds(id: string): Promise<number> {
    if (id === '0') return 0;
    const ttl = await this.client.leaseClient.leaseTimeToLive({ ID: id });
    this.lifecycle.touch();
    return Math.max(0, Number(ttl.TTL));
  }

  watch(fromRevision: number): Promise<Watcher> {
    return this.client.watch().prefix(this.keys.subnetsPrefix).startRevision(String(fromRevision)).create();
  }

  close(): void {
    this.client.close();
  }

  private async grant(): Promise<{ id: string; expiration: Date }> {
    const granted = await this.client.leaseClient.leaseGrant({ TTL: this.ttlSeconds });
    return { id: String(granted.ID), expiration: new Date(Date.now() + Number(granted.TTL) * 1000) };
  }

  private async revoke(id: string): Promise<void> {
    if (id === '0') return;
    await this.client.leaseClient.leaseRevoke({ ID: id }).catch((err: unknown) => {
      this.logger.debug('revoking a superseded etcd lease failed; it will expire on its own', { error: errorMessage(err) });
    });
  }
}

/** Our key as just written; without an etcd lease it is a reservation ('0'), which never expires. */
function heldLease(subnets: LeaseSubnets, key: string, value: string, modRevision: number, lease: { id: string; expiration: Date } | undefined): HeldLease {
  return {
    subnet: subnets.ipv4,
    ...(subnets.ipv6 ? { ipv6Subnet: subnets.ipv6 } : {}),
    key,
    value,
    modRevision,
    etcdLeaseId: lease?.id ?? '0',
    ...(lease ? { expiration: lease.expiration } : {}),
  };
}

/** The end of the key range holding every key that starts with `prefix`. */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  end[end.length - 1] = (end[end.length - 1] ?? 0) + 1;
  return end;
}
