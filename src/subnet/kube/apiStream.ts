import { type IncomingMessage, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { KubeConfig } from './kubernetesClient.js';

/**
 * A GET on the API server the kubeconfig names, with its credentials and TLS settings: the same
 * request client-node's own Watch makes, for the two responses weft reads itself (a node list
 * page and a watch stream, see nodeJson.ts) instead of letting the client's model decoder build
 * every field of every node. Resolves once the response headers are in, whatever the status.
 */
export async function apiGet(config: KubeConfig, path: string, query: Record<string, string>, signal: AbortSignal): Promise<IncomingMessage> {
  const server = config.getCurrentCluster()?.server;
  if (!server) throw new Error('the kubeconfig names no current cluster');
  const url = new URL(server.replace(/\/+$/, '') + path);
  for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value);
  const options: Parameters<typeof httpsRequest>[1] = { headers: { Accept: 'application/json' } };
  await config.applyToHTTPSOptions(options);
  const send = url.protocol === 'http:' ? httpRequest : httpsRequest;
  return new Promise<IncomingMessage>((resolve, reject) => {
    const request = send(url, { ...options, method: 'GET', signal }, resolve);
    request.on('error', reject);
    request.end();
  });
}

/** How much of a body `peek` may look at before it is given up. */
const PEEK_LIMIT = 64 * 1024;

/**
 * The whole body as text. `peek`, when given, sees the text received so far after each chunk
 * until it returns true or the first PEEK_LIMIT bytes are in.
 *
 * Each chunk is copied into one growing buffer as it arrives rather than kept until the end: a
 * 7 MB list page comes in some 450 TLS records, and holding them all left malloc's heap too
 * fragmented to give the memory back (about 40 MB of RSS for good after a 5000-node list).
 */
export async function bodyText(response: IncomingMessage, peek?: (head: string) => boolean): Promise<string> {
  let body = Buffer.allocUnsafeSlow(64 * 1024);
  let length = 0;
  let peeking = peek !== undefined;
  for await (const chunk of response) {
    const bytes = chunk as Buffer;
    if (length + bytes.length > body.length) {
      const larger = Buffer.allocUnsafeSlow(Math.max(body.length * 2, length + bytes.length));
      body.copy(larger, 0, 0, length);
      body = larger;
    }
    bytes.copy(body, length);
    length += bytes.length;
    if (peeking) peeking = length < PEEK_LIMIT && !peek!(body.toString('utf8', 0, length));
  }
  return body.toString('utf8', 0, length);
}

/**
 * Calls `onLine` with each non-empty line of a streamed body as it completes, and `done` once:
 * null when the server ended the body, the error otherwise. A throw from `onLine` ends the
 * stream with that error.
 */
export function readLines(response: IncomingMessage, onLine: (line: string) => void, done: (err: unknown) => void): void {
  let finished = false;
  const finish = (err: unknown): void => {
    if (finished) return;
    finished = true;
    if (err) response.destroy();
    done(err);
  };
  let partial: Buffer[] = [];
  response.on('data', (chunk: Buffer) => {
    let start = 0;
    for (let newline = chunk.indexOf(0x0a); newline >= 0 && !finished; newline = chunk.indexOf(0x0a, start)) {
      const tail = chunk.subarray(start, newline);
      const line = (partial.length > 0 ? Buffer.concat([...partial, tail]) : tail).toString('utf8');
      partial = [];
      start = newline + 1;
      if (line.trim() === '') continue;
      try {
        onLine(line);
      } catch (err) {
        finish(err);
      }
    }
    if (start < chunk.length) partial.push(chunk.subarray(start));
  });
  response.on('end', () => finish(null));
  response.on('error', finish);
  response.on('close', () => finish(response.complete ? null : new Error('the watch stream was cut off')));
}
