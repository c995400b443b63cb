import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ConfigError } from '../../util/errors.js';
import { Secret } from '../../util/secret.js';
import { decodeWireguardKey, generatePrivateKey } from './keys.js';

/** Flannel's key file; WIREGUARD_KEY_FILE moves it (the CLI reads that variable). */
export const DEFAULT_WIREGUARD_KEY_FILE = '/run/flannel/wgkey';

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

/** The private key in `path`, or undefined when there is no file. A malformed file is an error. */
export async function readPrivateKey(path: string): Promise<Secret | undefined> {
  let text: string;
  try {
    text = (await readFile(path, 'utf8')).trim();
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
  // The file's content is the secret: the error names the file, never what it holds.
  if (!decodeWireguardKey(text)) throw new ConfigError('WireGuard key file', path, 'does not hold a base64 WireGuard private key');
  return new Secret(text);
}

/**
 * This host's private key as Flannel keeps it: created once (mode 0400, its directory 0755) and
 * reused on every later start, so peers keep the public key they hold. The exclusive create
 * means two starts racing on one file agree on one key.
 */
export async function loadOrCreatePrivateKey(path: string): Promise<{ key: Secret; created: boolean }> {
  const existing = await readPrivateKey(path);
  if (existing) return { key: existing, created: false };
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  const key = generatePrivateKey();
  try {
    await writeFile(path, key.reveal(), { mode: 0o400, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const winner = await readPrivateKey(path);
    if (winner) return { key: winner, created: false };
    throw err;
  }
  return { key, created: true };
}
