import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import type { Logger } from 'winston';
import type { Ipv4Subnet } from '../../net/ipv4.js';
import { errorMessage } from '../../util/errors.js';
import type { StoredLease } from '../leaseStore.js';
import type { ManagerLifecycle } from '../lifecycle.js';
import type { EtcdKeyLayout } from './keys.js';
import { type EtcdHeaderFacts, headerFacts } from './resetDetector.js';

export const DEFAULT_LEASE_TTL_SECONDS = 24 * 60 * 60;

/** Our key in etcd as we last wrote it. */
export interface HeldLease {
  readonly subnet: Ipv4Subnet;
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

  /** Creates the key for `subnet` if nobody has it; undefined when someone does. */
  async create(subnet: Ipv4Subnet, value: string): Promise<HeldLease | undefined> {
    const key = this.keys.subnetKey(subnet);
    const lease = await this.grant();
    const result = await this.client.if(key, 'Create', '==', 0).then(this.client.put(key).value(value).lease(lease.id)).commit();
    this.lifecycle.touch();
    if (!result.succeeded) {
      await this.revoke(lease.id);
      return undefined;
    }
    return { subnet, key, value, modRevision: Number(result.header.revision), etcdLeaseId: lease.id, expiration: lease.expiration };
  }

  /**
   * Rewrites an existing key (our old lease, or a reservation naming our PublicIP) if it is still
   * as listed. A reservation stays without an etcd lease: it never expires.
   */
  async takeOver(kv: IKeyValue, subnet: Ipv4Subnet, value: string): Promise<HeldLease | undefined> {
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
    return {
      subnet,
      key,
      value,
      modRevision: Number(result.header.revision),
      etcdLeaseId: lease?.id ?? '0',
      ...(lease ? { expiration: lease.expiration } : {}),
    };
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
