import { spawn, type ChildProcess, execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Etcd3 } from 'etcd3';
import { freePort } from './ports.js';

export interface TlsFiles {
  readonly dir: string;
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
}

export interface EtcdServerOptions {
  /** Serve TLS and require client certificates. */
  readonly tls?: boolean;
  /** Address to listen on (a test host namespace reaches etcd through the bridge address). */
  readonly listenAddress?: string;
}

/**
 * A real etcd 3.4 (Debian's etcd-server) on a free port with a throwaway data dir. Tests talk to
 * the same server the agent will in production, not a mock of it.
 */
export class EtcdServer {
  private process: ChildProcess | undefined;
  private output = '';

  private constructor(
    readonly dataDir: string,
    readonly endpoint: string,
    private readonly args: string[],
    readonly tls: TlsFiles | undefined,
  ) {}

  static async start(options: EtcdServerOptions = {}): Promise<EtcdServer> {
    // Test data needs no durability. On tmpfs etcd's fsyncs cost nothing, so a loaded machine's
    // disk cannot stall a lease write for seconds and time a test out.
    const dir = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'weft-etcd-'));
    const host = options.listenAddress ?? '127.0.0.1';
    const [clientPort, peerPort] = [await freePort(), await freePort()];
    const scheme = options.tls ? 'https' : 'http';
    const endpoint = `${scheme}://${host}:${clientPort}`;
    const peer = `http://127.0.0.1:${peerPort}`;
    const tls = options.tls ? await generateTls(join(dir, 'tls'), host) : undefined;
    const args = [
      '--name', 'weft-test',
      '--data-dir', join(dir, 'data'),
      '--listen-client-urls', endpoint,
      '--advertise-client-urls', endpoint,
      '--listen-peer-urls', peer,
      '--initial-advertise-peer-urls', peer,
      '--initial-cluster', `weft-test=${peer}`,
      '--log-level', 'error',
      '--logger', 'zap',
      ...(tls ? ['--cert-file', tls.serverCert, '--key-file', tls.serverKey, '--client-cert-auth', '--trusted-ca-file', tls.ca] : []),
    ];
    const server = new EtcdServer(dir, endpoint, args, tls);
    await server.resume();
    return server;
  }

  /** (Re)starts the process on the same data dir and port; thaws it if it is only frozen. */
  async resume(): Promise<void> {
    const running = this.process;
    if (running && running.exitCode === null && running.signalCode === null) {
      this.thaw();
      return;
    }
    this.output = '';
    const child = spawn('etcd', this.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    this.process = child;
    const client = this.client();
    try {
      for (let i = 0; i < 200; i++) {
        if (child.exitCode !== null) throw new Error(`etcd exited: ${this.output}`);
        try {
          await client.get('/health-probe').string();
          return;
        } catch {
          await sleep(50);
        }
      }
      throw new Error(`etcd did not become ready: ${this.output}`);
    } finally {
      client.close();
    }
  }

  client(): Etcd3 {
    return new Etcd3({
      hosts: this.endpoint,
      ...(this.tls
        ? {
            credentials: {
              rootCertificate: execFileSync('cat', [this.tls.ca]),
              certChain: execFileSync('cat', [this.tls.clientCert]),
              privateKey: execFileSync('cat', [this.tls.clientKey]),
            },
          }
        : {}),
    });
  }

  /** Stops the process, keeping the data dir so resume() brings back the same state. */
  async pause(): Promise<void> {
    const child = this.process;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    child.kill('SIGCONT');
    await exited;
  }

  /** Restarts etcd on an empty data dir, as a cluster rebuilt or restored from nothing: a new history. */
  async restartEmpty(): Promise<void> {
    await this.pause();
    await rm(join(this.dataDir, 'data'), { recursive: true, force: true });
    await this.resume();
  }

  /** Freezes the process (SIGSTOP): connections stay open and every call hangs, as on a wedged host. */
  freeze(): void {
    this.process?.kill('SIGSTOP');
  }

  thaw(): void {
    this.process?.kill('SIGCONT');
  }

  async stop(): Promise<void> {
    await this.pause();
    await rm(this.dataDir, { recursive: true, force: true });
  }
}

export async function generateTls(dir: string, host: string): Promise<TlsFiles> {
  execFileSync('mkdir', ['-p', dir]);
  const f = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=weft-test-ca', '-keyout', f('ca.key'), '-out', f('ca.pem'));
  await writeFile(f('server.ext'), `subjectAltName=IP:${host},IP:127.0.0.1\nextendedKeyUsage=serverAuth\n`);
  await writeFile(f('client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const who of ['server', 'client']) {
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=weft-test-${who}`, '-keyout', f(`${who}.key`), '-out', f(`${who}.csr`));
    openssl('x509', '-req', '-in', f(`${who}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '1', '-extfile', f(`${who}.ext`), '-out', f(`${who}.pem`));
  }
  return { dir, ca: f('ca.pem'), serverCert: f('server.pem'), serverKey: f('server.key'), clientCert: f('client.pem'), clientKey: f('client.key') };
}
