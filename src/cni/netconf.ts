import { isPlainObject } from '../config/jsonFields.js';
import { CniCode, CniError } from './cniError.js';

export const SUPPORTED_VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0'] as const;
export const DEFAULT_SUBNET_FILE = '/run/flannel/subnet.env';
export const DEFAULT_DATA_DIR = '/var/lib/cni/flannel';

/** The plugin's own network configuration, as the runtime passes it on stdin. */
export interface FlannelNetConf {
  readonly cniVersion: string;
  readonly name: string;
  readonly type: string;
  readonly subnetFile: string;
  readonly dataDir: string;
  readonly delegate: Record<string, unknown>;
  readonly ipam: Record<string, unknown>;
  /** The whole object, for fields the runtime adds (prevResult, runtimeConfig, args). */
  readonly raw: Record<string, unknown>;
}

function invalid(field: string, value: unknown, reason: string): CniError {
  return new CniError(CniCode.InvalidNetworkConfig, `network config field ${field}: ${reason} (got ${JSON.stringify(value) ?? 'nothing'})`);
}

function optionalString(raw: Record<string, unknown>, field: string, fallback: string): string {
  const value = raw[field];
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || value === '') throw invalid(field, value, 'must be a non-empty string');
  return value;
}

function optionalObject(raw: Record<string, unknown>, field: string): Record<string, unknown> {
  const value = raw[field];
  if (value === undefined) return {};
  if (!isPlainObject(value)) throw invalid(field, value, 'must be an object');
  return value;
}

export function parseNetConf(stdin: string): FlannelNetConf {
  let raw: unknown;
  try {
    raw = JSON.parse(stdin);
  } catch (err) {
    throw new CniError(CniCode.DecodeFailure, `network config on stdin is not JSON: ${(err as Error).message}`);
  }
  if (!isPlainObject(raw)) throw new CniError(CniCode.DecodeFailure, 'network config on stdin is not a JSON object');
  const cniVersion = optionalString(raw, 'cniVersion', '0.1.0');
  if (!(SUPPORTED_VERSIONS as readonly string[]).includes(cniVersion)) {
    throw new CniError(CniCode.IncompatibleVersion, `cniVersion ${cniVersion} is not supported (supported: ${SUPPORTED_VERSIONS.join(', ')})`);
  }
  const dataDir = optionalString(raw, 'dataDir', DEFAULT_DATA_DIR);
  if (!dataDir.startsWith('/')) throw invalid('dataDir', dataDir, 'must be an absolute path');
  return {
    cniVersion,
    name: optionalString(raw, 'name', 'weft'),
    type: optionalString(raw, 'type', 'flannel'),
    subnetFile: optionalString(raw, 'subnetFile', DEFAULT_SUBNET_FILE),
    dataDir,
    delegate: optionalObject(raw, 'delegate'),
    ipam: optionalObject(raw, 'ipam'),
    raw,
  };
}
