import { ConfigError } from './errors.js';

/**
 * Flannel decodes JSON with Go's encoding/json, which matches object keys to struct fields
 * case-insensitively. Configs and leases written for Flannel ("network", "backend": {"type"})
 * must therefore read the same here. An exact-case key wins over a differently-cased one.
 */
export function lookupField(obj: Record<string, unknown>, name: string): unknown {
  if (Object.prototype.hasOwnProperty.call(obj, name)) return obj[name];
  const lower = name.toLowerCase();
  for (const key of Object.keys(obj)) {
    if (key.toLowerCase() === lower) return obj[key];
  }
  return undefined;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function requireObject(value: unknown, field: string): Record<string, unknown> {
  if (!isPlainObject(value)) throw new ConfigError(field, value, 'must be a JSON object');
  return value;
}
