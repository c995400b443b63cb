import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Everything the agent reports at /metrics. One registry per agent (not prom-client's global),
 * so tests and two agents in one process never share counters.
 */
export class AgentMetrics {
  readonly registry = new Registry();

  readonly peers = new Gauge({
    name: 'weft_peers',
    help: 'Valid peer leases currently known, by backend and address family (ipv4, ipv6).',
    labelNames: ['backend', 'family'] as const,
    registers: [this.registry],
  });

  readonly peersHeldBack = new Gauge({
    name: 'weft_peers_held_back',
    help: 'Valid peers left out of the kernel for now because it keeps refusing their entries (retried with backoff), by address family.',
    labelNames: ['family'] as const,
    registers: [this.registry],
  });

  readonly reconcileDuration = new Histogram({
    name: 'weft_reconcile_duration_seconds',
    help: 'Time of one reconcile pass, by address family and kind: full (plan, read the kernel, diff, apply) or fast (the changed leases alone, no kernel read).',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    labelNames: ['family', 'kind'] as const,
    registers: [this.registry],
  });

  readonly kernelOperations = new Counter({
    name: 'weft_kernel_operations_total',
    help: 'Kernel operations (iproute2 batch lines) applied, by result and address family.',
    labelNames: ['result', 'family'] as const,
    registers: [this.registry],
  });

  readonly driftRepairs = new Counter({
    name: 'weft_drift_repairs_total',
    help: 'Reconcile passes started by a kernel change or a resync that had to change kernel state, by address family.',
    labelNames: ['family'] as const,
    registers: [this.registry],
  });

  readonly peersNotRouted = new Gauge({
    name: 'weft_peers_not_routed',
    help: 'Valid peer leases the backend skipped at the last pass (e.g. a duplicate WireGuard key, an endpoint inside the pod network), by address family.',
    labelNames: ['family'] as const,
    registers: [this.registry],
  });

  readonly leaseExpiry = new Gauge({
    name: 'weft_lease_expiry_timestamp_seconds',
    help: 'When this host\'s subnet lease expires (Unix time); 0 for a reservation.',
    registers: [this.registry],
  });

  readonly datastoreErrors = new Counter({
    name: 'weft_datastore_errors_total',
    help: 'Failed datastore calls (each is retried).',
    registers: [this.registry],
  });

  readonly watchRestarts = new Counter({
    name: 'weft_watch_restarts_total',
    help: 'Times the lease or node watch was re-established, by reason (disconnected, cancelled by etcd compaction, expired: 410 Gone, reset: etcd lost its history and our lease was re-created).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly invalidLeases = new Counter({
    name: 'weft_invalid_leases_total',
    help: 'Leases ignored because they failed validation (each distinct lease value counted once).',
    registers: [this.registry],
  });

  constructor() {
    // prom-client samples event-loop lag every 10 ms by default: 100 wake-ups a second in an
    // agent that is otherwise idle. Sampling every 100 ms still cost 0.025 CPU-s a minute on this
    // project's machine, a quarter of the idle budget (docs/benchmarks.md); once a second costs
    // 0.002 and still shows a stalled loop (a sample waits as long as the stall).
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 1000 });
  }
}
