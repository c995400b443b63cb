/** The parts of an etcd response header that tell one history from another. */
export interface EtcdHeaderFacts {
  readonly clusterId: string;
  readonly revision: number;
}

/**
 * Notices that etcd lost its history: a restore from an old backup, or a cluster rebuilt on empty
 * data dirs. Everything remembered from the old history (revisions in the lease store, the watch's
 * resume point, our lease's mod_revision and etcd lease ID) is then meaningless. Pure state.
 *
 * Two signs, both from linearizable reads (a lagging member never answers those with an older
 * revision than one already committed):
 * - the cluster ID changed: a different cluster answers;
 * - the revision went below the highest one we have seen: revisions never go backwards in one
 *   history. A single-member etcd rebuilt on an empty dir with the same flags computes the same
 *   cluster ID again, so this is the sign that catches the common case.
 * A changed member ID alone is no sign: with several endpoints, the client moves between members.
 */
export class EtcdResetDetector {
  private clusterId: string | undefined;
  private highest = 0;

  /** Any revision seen (a watch event, a write): raises the mark reads are compared against. */
  sawRevision(revision: number): void {
    if (revision > this.highest) this.highest = revision;
  }

  /** Checks a linearizable read's header; returns why it shows a reset, or undefined if it does not. */
  check(header: EtcdHeaderFacts): string | undefined {
    if (this.clusterId !== undefined && header.clusterId !== this.clusterId) {
      return `etcd cluster ID changed from ${this.clusterId} to ${header.clusterId}`;
    }
    if (header.revision < this.highest) {
      return `etcd revision went backwards from ${this.highest} to ${header.revision}`;
    }
    this.clusterId = header.clusterId;
    this.highest = header.revision;
    return undefined;
  }

  /** Adopts the new history once the reset has been dealt with. */
  rebase(header: EtcdHeaderFacts): void {
    this.clusterId = header.clusterId;
    this.highest = header.revision;
  }
}

export function headerFacts(header: { readonly cluster_id: string; readonly revision: string }): EtcdHeaderFacts {
  return { clusterId: String(header.cluster_id), revision: Number(header.revision) };
}
