import { readFile } from 'node:fs/promises';
import { Etcd3, type IOptions } from 'etcd3';
import type { EtcdOptions } from '../../cli/agentOptions.js';
import { FlagError } from '../../util/errors.js';

async function readFlagFile(flag: string, path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new FlagError(`${flag} ${path}: cannot read file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Builds an etcd v3 client from the --etcd-* flags. Unary calls get a deadline; the watch stream does not. */
export async function createEtcdClient(options: EtcdOptions): Promise<Etcd3> {
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
