import type { IContainer as Container } from 'kubernetes-models/v1/Container';
import type { IProbe as Probe } from 'kubernetes-models/v1/Probe';

export type ProbeKind = 'liveness' | 'readiness';

/** What kubelet's prober has seen of one probe so far. */
export interface ProbeRecord {
  readonly kind: ProbeKind;
  readonly url: string;
  successes: number;
  failures: number;
  consecutiveFailures: number;
  /** Readiness: the container counts as ready. */
  ready: boolean;
  /** Liveness: failureThreshold was reached, so kubelet would have killed and restarted the container. */
  wouldRestart: boolean;
  lastError?: string;
}

/** The timing fields with kubelet's defaults. */
function timing(probe: Probe): { initialDelay: number; period: number; timeout: number; success: number; failure: number } {
  return {
    initialDelay: (probe.initialDelaySeconds ?? 0) * 1000,
    period: (probe.periodSeconds ?? 10) * 1000,
    timeout: (probe.timeoutSeconds ?? 1) * 1000,
    success: probe.successThreshold ?? 1,
    failure: probe.failureThreshold ?? 3,
  };
}

/** The URL an httpGet probe asks; the only handler weft's manifests use, so the only one modelled. */
export function probeUrl(probe: Probe, container: Container, podIp: string): string {
  const unsupported = (['exec', 'tcpSocket', 'grpc'] as const).filter((h) => probe[h] !== undefined);
  if (unsupported.length || !probe.httpGet) throw new Error(`container ${container.name}: probe handler ${unsupported.join(', ') || 'none'} is not modelled (httpGet only)`);
  const get = probe.httpGet;
  if ((get.scheme ?? 'HTTP') !== 'HTTP') throw new Error(`container ${container.name}: probe scheme ${get.scheme} is not modelled`);
  let port = get.port;
  if (typeof port === 'string') {
    const named = container.ports?.find((p) => p.name === port)?.containerPort;
    if (named === undefined) throw new Error(`container ${container.name}: probe port "${port}" names no container port`);
    port = named;
  }
  return `http://${get.host ?? podIp}:${port}${get.path ?? '/'}`;
}

/**
 * One probe run as kubelet runs it: first after initialDelaySeconds, then every periodSeconds,
 * each attempt timing out after timeoutSeconds; an HTTP status from 200 to 399 is a success.
 */
export class Prober {
  readonly record: ProbeRecord;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private consecutiveSuccesses = 0;

  constructor(
    kind: ProbeKind,
    private readonly probe: Probe,
    url: string,
  ) {
    this.record = { kind, url, successes: 0, failures: 0, consecutiveFailures: 0, ready: false, wouldRestart: false };
  }

  start(): void {
    this.schedule(timing(this.probe).initialDelay);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private schedule(delay: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.attempt(), delay);
  }

  private async attempt(): Promise<void> {
    const t = timing(this.probe);
    const record = this.record;
    try {
      const response = await fetch(record.url, { signal: AbortSignal.timeout(t.timeout) });
      const body = await response.text();
      if (response.status < 200 || response.status >= 400) throw new Error(`HTTP probe failed with statuscode: ${response.status} (${body.slice(0, 300)})`);
      record.successes++;
      record.consecutiveFailures = 0;
      if (++this.consecutiveSuccesses >= t.success) record.ready = true;
    } catch (err) {
      record.failures++;
      record.consecutiveFailures++;
      this.consecutiveSuccesses = 0;
      record.lastError = (err as Error).message;
      if (record.consecutiveFailures >= t.failure) {
        record.ready = false;
        if (record.kind === 'liveness') record.wouldRestart = true;
      }
    }
    this.schedule(t.period);
  }
}
