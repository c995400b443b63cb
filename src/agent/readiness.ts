import type { Readiness } from './healthServer.js';

/** Readiness wants a datastore answer at least this recent (etcd and the API server are probed every 10 s). */
export const DATASTORE_STALE_MS = 20_000;

/** What /readyz looks at, filled in as start-up progresses. */
export interface ReadinessSources {
  /** When the datastore last answered (ms since epoch, 0 for never). */
  lastContact(): number;
  leased(): boolean;
  subnetFileWritten(): boolean;
  reconciledPasses(): number;
  /** The external interface exists and holds its address (see ExternalLinkGuard). */
  externalInterface(): boolean;
}

/** Progress of start-up and health of the running parts, for /readyz. */
export function assessReadiness(sources: ReadinessSources, now = Date.now()): Readiness {
  const lastContact = sources.lastContact();
  const sinceContact = lastContact > 0 ? now - lastContact : Infinity;
  const checks = {
    lease: { ok: sources.leased() },
    subnetFile: { ok: sources.subnetFileWritten() },
    reconciled: { ok: sources.reconciledPasses() > 0 },
    externalInterface: { ok: sources.externalInterface() },
    datastore: {
      ok: sinceContact <= DATASTORE_STALE_MS,
      detail: Number.isFinite(sinceContact) ? `last answer ${(sinceContact / 1000).toFixed(1)} s ago` : 'never reached',
    },
  };
  return { ready: Object.values(checks).every((c) => c.ok), checks };
}
