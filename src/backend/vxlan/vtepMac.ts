import { randomBytes } from 'node:crypto';

/** A random locally administered unicast MAC, as the kernel would pick for a new device. */
export function vtepMacFromBytes(bytes: Uint8Array): string {
  const octets = Array.from(bytes.slice(0, 6));
  octets[0] = ((octets[0] ?? 0) & 0xfe) | 0x02;
  return octets.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

export function randomVtepMac(): string {
  return vtepMacFromBytes(randomBytes(6));
}
