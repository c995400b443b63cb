import { createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import { Secret } from '../../util/secret.js';

/** A WireGuard key as `wg` and Flannel write it: 32 bytes in standard base64, 44 characters. */
const KEY_PATTERN = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;
const KEY_BYTES = 32;

/** The 32 bytes of a well-formed key, or undefined. */
export function decodeWireguardKey(text: unknown): Buffer | undefined {
  if (typeof text !== 'string' || !KEY_PATTERN.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return bytes.length === KEY_BYTES ? bytes : undefined;
}

/** A usable public key: well-formed and not all zeros (which `wg` reads as "no key"). */
export function isWireguardPublicKey(text: unknown): text is string {
  const bytes = decodeWireguardKey(text);
  return bytes !== undefined && bytes.some((b) => b !== 0);
}

// PKCS#8 and SPKI wrappers of a raw X25519 key (RFC 8410): node:crypto takes and gives keys in
// these, WireGuard uses the bare 32 bytes.
const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

/** The public key of a private one, as `wg pubkey` computes it. */
export function publicKeyOf(privateKey: Secret): string {
  const raw = decodeWireguardKey(privateKey.reveal());
  if (!raw) throw new Error('not a WireGuard private key');
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_X25519_PREFIX, raw]), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
  return spki.subarray(spki.length - KEY_BYTES).toString('base64');
}

/** A new private key, clamped as `wg genkey` clamps it. */
export function generatePrivateKey(): Secret {
  const bytes = randomBytes(KEY_BYTES);
  bytes[0] = bytes[0]! & 248;
  bytes[31] = (bytes[31]! & 127) | 64;
  return new Secret(bytes.toString('base64'));
}
