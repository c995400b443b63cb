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

/** An optional boolean field; `path` prefixes the field in errors (e.g. "Backend."). */
export function optionalBoolean(obj: Record<string, unknown>, field: string, fallback: boolean, path = ''): boolean {
  const raw = lookupField(obj, field);
  if (raw === undefined || raw === null) return fallback;
  if (typeof raw !== 'boolean') throw new ConfigError(`${path}${field}`, raw, 'must be true or false');
  return raw;
}

export interface IntegerRule {
  readonly min: number;
  readonly max: number;
  /** A further test the range cannot express, with the reason given when it fails. */
  readonly extra?: { readonly test: (value: number) => boolean; readonly reason: string };
}

/** An optional integer field within [min, max]; `path` prefixes the field in errors. */
export function optionalInteger(obj: Record<string, unknown>, field: string, fallback: number, rule: IntegerRule, path = ''): number {
  const raw = lookupField(obj, field);
  if (raw === undefined || raw === null) return fallback;
  if (!Number.isInteger(raw) || (raw as number) < rule.min || (raw as number) > rule.max) {
    throw new ConfigError(`${path}${field}`, raw, `must be an integer in ${rule.min}..${rule.max}`);
  }
  if (rule.extra && !rule.extra.test(raw as number)) throw new ConfigError(`${path}${field}`, raw, rule.extra.reason);
  return raw as number;
}
