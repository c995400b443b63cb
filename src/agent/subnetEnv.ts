import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { FileWriteError } from '../util/errors.js';
import { type Ipv4Subnet, formatIpv4, formatSubnet, parseIpv4Cidr, maskOf, ipv4ToNumber, parseIpv4 } from '../net/ipv4.js';

export interface SubnetEnv {
  readonly network: Ipv4Subnet;
  readonly subnet: Ipv4Subnet;
  readonly mtu: number;
  readonly ipMasq: boolean;
}

/** The file the CNI plugin reads; the format is Flannel's, byte for byte. */
export function formatSubnetEnv(env: SubnetEnv): string {
  return [
    `FLANNEL_NETWORK=${formatSubnet(env.network)}`,
    `FLANNEL_SUBNET=${formatIpv4(env.subnet.address + 1)}/${env.subnet.prefixLength}`,
    `FLANNEL_MTU=${env.mtu}`,
    `FLANNEL_IPMASQ=${env.ipMasq}`,
    '',
  ].join('\n');
}

/** Parses KEY=value lines; comments, blanks and surrounding quotes are tolerated. */
export function parseEnvFile(text: string): Map<string, string> {
  const vars = new Map<string, string>();
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const eq = trimmed.indexOf('=');
    if (eq <= 0) continue;
    vars.set(trimmed.slice(0, eq).trim(), trimmed.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1'));
  }
  return vars;
}

/**
 * The subnet a previous run leased, read back from FLANNEL_SUBNET ("10.244.3.1/24" → 10.244.3.0/24).
 * Undefined when there is no usable file: a missing or garbled file just means "no preference".
 */
export function previousSubnetFromEnv(text: string): Ipv4Subnet | undefined {
  const value = parseEnvFile(text).get('FLANNEL_SUBNET');
  if (!value) return undefined;
  const [addressText, lengthText] = value.split('/');
  const address = addressText ? parseIpv4(addressText) : undefined;
  const prefixLength = Number(lengthText);
  if (!address || !Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > 32) return undefined;
  const network = (ipv4ToNumber(address) & maskOf(prefixLength)) >>> 0;
  const parsed = parseIpv4Cidr(`${formatIpv4(network)}/${prefixLength}`);
  return parsed.ok ? parsed.subnet : undefined;
}

export async function readPreviousSubnet(path: string): Promise<Ipv4Subnet | undefined> {
  try {
    return previousSubnetFromEnv(await readFile(path, 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Writes via a temporary file in the same directory and rename(2), so the CNI plugin never reads
 * a half-written file. Mode 0644: pods' CNI plugin runs as root, but nothing in it is secret.
 */
export async function writeFileAtomic(path: string, content: string, mode = 0o644): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await mkdir(dir, { recursive: true, mode: 0o755 });
    const handle = await open(temp, 'w', mode);
    try {
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (err) {
    // A full disk fails the write, not the open: the temp file must not outlive the attempt.
    await unlink(temp).catch(() => undefined);
    throw new FileWriteError(path, err);
  }
}

export async function writeSubnetEnv(path: string, env: SubnetEnv): Promise<void> {
  await writeFileAtomic(path, formatSubnetEnv(env));
}

/**
 * Rewrites subnet.env if it no longer says what it should (deleted or edited at runtime): the CNI
 * plugin fails every pod without it. Returns true when it had to rewrite.
 */
export async function ensureSubnetEnv(path: string, env: SubnetEnv): Promise<boolean> {
  const wanted = formatSubnetEnv(env);
  const current = await readFile(path, 'utf8').catch(() => undefined);
  if (current === wanted) return false;
  await writeFileAtomic(path, wanted);
  return true;
}
