export interface KeyedReason {
  readonly key: string;
  readonly reason: string;
}

/**
 * Says each (key, reason) once while it lasts: a problem that persists across passes is not
 * logged on every pass, a new reason for the same key is, and a key that went away is forgotten
 * so it is reported again if it comes back.
 */
export class ReportOncePerKey {
  private readonly reported = new Map<string, string>();

  update(current: Iterable<KeyedReason>, report: (entry: KeyedReason) => void): void {
    const seen = new Set<string>();
    for (const entry of current) {
      seen.add(entry.key);
      if (this.reported.get(entry.key) === entry.reason) continue;
      this.reported.set(entry.key, entry.reason);
      report(entry);
    }
    for (const key of this.reported.keys()) if (!seen.has(key)) this.reported.delete(key);
  }
}
