import type { IKeyValue } from 'etcd3';
import type { StoredLease } from '../leaseStore.js';
import { type LeaseSubnets, leaseSubnetsToKey } from '../subnetKey.js';

/**
 * Flannel's etcd layout, key for key (docs/architecture.md, "etcd"):
 *   <prefix>/config                 network config JSON
 *   <prefix>/subnets/<a.b.c.d-len>  one lease per host
 * The agent and `weft status` both read etcd through this one description.
 */
export class EtcdKeyLayout {
  readonly configKey: string;
  readonly subnetsPrefix: string;

  /** `prefix` without a trailing slash, e.g. /coreos.com/network. */
  constructor(readonly prefix: string) {
    this.configKey = `${prefix}/config`;
    this.subnetsPrefix = `${prefix}/subnets/`;
  }

  /** The key of a lease naming both subnets ("…/10.5.52.0-24&fc00:0:0:34::-64"). */
  leaseKey(subnets: LeaseSubnets): string {
    return `${this.subnetsPrefix}${leaseSubnetsToKey(subnets)}`;
  }

  /** The lease name under subnets/ ("10.5.52.0-24") of a full key. */
  leaseName(fullKey: string): string {
    return fullKey.slice(this.subnetsPrefix.length);
  }

  /** An etcd key-value under subnets/ as the lease store keeps it. */
  storedLease(kv: IKeyValue): StoredLease {
    return {
      key: this.leaseName(kv.key.toString()),
      value: kv.value.toString(),
      revision: Number(kv.mod_revision),
      created: Number(kv.create_revision),
    };
  }
}
