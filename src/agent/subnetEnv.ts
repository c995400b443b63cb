import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { FileWriteError } from '../util/errors.js';
import { type Ipv4Subnet, formatIpv4, formatSubnet, parseIpv4Cidr, maskOf, ipv4ToNumber, parseIpv4 } from '../net/ipv4.js';
import { type Ipv6Subnet, formatIpv6, formatIpv6Subnet, ipv6SubnetOf } from '../net/ipv6.js';

export interface SubnetEnv {
  readonly network: Ipv4Subnet;
  readonly subnet: Ipv4Subnet;
  readonly mtu: number;
  readonly ipMasq: boolean;
  /** False in an IPv6-only network: Flannel then writes no FLANNEL_NETWORK/FLANNEL_SUBNET. */
  readonly ipv4?: boolean;
  /** This host's IPv6 network and subnet, when it leased one. */
  readonly ipv6?: { readonly network: Ipv6Subnet; readonly subnet: Ipv6Subnet };
}

/**
 * The file the CNI plugin reads; the format is Flannel's (WriteSubnetFile), byte for byte: the
 * IPv4 lines, the IPv6 lines, then MTU and masquerading. Each SUBNET is the first address after
 * the subnet's network address, with the subnet's prefix length.
 */
export function formatSubnetEnv(env: SubnetEnv): string {
  const lines: string[] = [];
  if (env.ipv4 !== false) {
    lines.push(`FLANNEL_NETWORK=${formatSubnet(env.network)}`, `FLANNEL_SUBNET=${formatIpv4(env.subnet.address + 1)}/${env.subnet.prefixLength}`);
  }
  if (env.ipv6) {
    const { network, subnet } = env.ipv6;
    lines.push(`FLANNEL_IPV6_NETWORK=${formatIpv6Subnet(network)}`, `FLANNEL_IPV6_SUBNET=${formatIpv6(subnet.address + 1n)}/${subnet.prefixLength}`);
  }
  lines.push(`FLANNEL_MTU=${env.mtu}`, `FLANNEL_IPMASQ=${env.ipMasq}`, '');
  return lines.join('\n');
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

/** The IPv6 subnet a previous run leased, from FLANNEL_IPV6_SUBNET ("fc00:0:0:3::1/64" → fc00:0:0:3::/64). */
export function previousIpv6SubnetFromEnv(text: string): Ipv6Subnet | undefined {
  const value = parseEnvFile(text).get('FLANNEL_IPV6_SUBNET');
  const [addressText, lengthText] = value?.split('/') ?? [];
  const prefixLength = Number(lengthText);
  if (!addressText || !/^\d{1,3}$/.test(lengthText ?? '') || prefixLength > 128) return undefined;
  return ipv6SubnetOf(addressText, prefixLength);
}

export interface PreviousSubnets {
  readonly ipv4?: Ipv4Subnet;
  readonly ipv6?: Ipv6Subnet;
}

export async function readPreviousSubnets(path: string): Promise<PreviousSubnets> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return {};
  }
  const ipv4 = previousSubnetFromEnv(text);
  const ipv6 = previousIpv6SubnetFromEnv(text);
  return { ...(ipv4 ? { ipv4 } : {}), ...(ipv6 ? { ipv6 } : {}) };
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
