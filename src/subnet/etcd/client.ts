import { readFile } from 'node:fs/promises';
import { Etcd3, type IOptions } from 'etcd3';
import { FlagError } from '../../util/errors.js';

/** How to reach etcd: the etcd layer owns this shape, and the CLI maps its --etcd-* flags onto it. */
export interface EtcdConnectionConfig {
  readonly endpoints: readonly string[];
  /** Key prefix, e.g. /coreos.com/network (no trailing slash). */
  readonly prefix: string;
  readonly keyFile?: string;
  readonly certFile?: string;
  readonly caFile?: string;
  readonly username?: string;
  readonly password?: string;
}

async function readFlagFile(flag: string, path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new FlagError(`${flag} ${path}: cannot read file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Builds an etcd v3 client from the --etcd-* flags. Unary calls get a deadline; the watch stream does not. */
export async function createEtcdClient(options: EtcdConnectionConfig): Promise<Etcd3> {
  const config: IOptions = {
    hosts: [...options.endpoints],
    dialTimeout: 5_000,
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + 10_000 }),
  };
  const secure = options.endpoints.every((e) => e.startsWith('https://'));
  if (secure && (options.caFile || options.certFile)) {
    const [rootCertificate, certChain, privateKey] = await Promise.all([
      options.caFile ? readFlagFile('--etcd-cafile', options.caFile) : Promise.resolve(undefined),
      options.certFile ? readFlagFile('--etcd-certfile', options.certFile) : Promise.resolve(undefined),
      options.keyFile ? readFlagFile('--etcd-keyfile', options.keyFile) : Promise.resolve(undefined),
    ]);
    config.credentials = {
      // grpc-js falls back to the system roots when no CA is given.
      rootCertificate: rootCertificate ?? (undefined as unknown as Buffer),
      ...(privateKey ? { privateKey } : {}),
      ...(certChain ? { certChain } : {}),
    };
  }
  if (options.username) config.auth = { username: options.username, password: options.password ?? '' };
  return new Etcd3(config);
}
