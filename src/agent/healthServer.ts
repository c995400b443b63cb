import { type Server, createServer } from 'node:http';
import type { Logger } from 'winston';
import { errorMessage } from '../util/errors.js';
import type { AgentMetrics } from './metrics.js';

export interface ReadinessCheck {
  readonly ok: boolean;
  readonly detail?: string;
}

export interface Readiness {
  readonly ready: boolean;
  readonly checks: Readonly<Record<string, ReadinessCheck>>;
}

export interface HealthServerOptions {
  readonly host: string;
  readonly port: number;
  readonly readiness: () => Readiness;
  readonly metrics: AgentMetrics;
  readonly logger: Logger;
}

/**
 * /healthz: the process is alive and its event loop answers.
 * /readyz: lease held, subnet.env written, kernel programmed by at least one pass, datastore reached
 *          recently; the body says which check failed.
 * /metrics: Prometheus text format.
 */
export async function startHealthServer(options: HealthServerOptions): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const readiness = options.readiness();
      res.writeHead(readiness.ready ? 200 : 503, { 'Content-Type': 'application/json' }).end(`${JSON.stringify(readiness)}\n`);
    } else if (path === '/metrics') {
      options.metrics.registry
        .metrics()
        .then((text) => res.writeHead(200, { 'Content-Type': options.metrics.registry.contentType }).end(text))
        .catch((err: unknown) => res.writeHead(500).end(errorMessage(err)));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  options.logger.info('health server listening', { address: `${options.host}:${options.port}` });
  return server;
}
