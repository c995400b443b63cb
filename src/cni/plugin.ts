import { mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CniCode, CniError } from './cniError.js';
import { buildDelegateConfig, parseSubnetEnvValues } from './delegateConfig.js';
import { invokeDelegate } from './delegatePlugin.js';
import { type FlannelNetConf, SUPPORTED_VERSIONS, parseNetConf } from './netconf.js';

/** The CNI spec's container ID alphabet; it becomes a file name under dataDir. */
const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function containerId(env: NodeJS.ProcessEnv): string {
  const id = env['CNI_CONTAINERID'] ?? '';
  if (!CONTAINER_ID.test(id)) throw new CniError(CniCode.InvalidEnvironment, `CNI_CONTAINERID ${JSON.stringify(id)} is missing or not a valid container ID`);
  return id;
}

function readSubnetEnv(conf: FlannelNetConf): ReturnType<typeof parseSubnetEnvValues> {
  let text: string;
  try {
    text = readFileSync(conf.subnetFile, 'utf8');
  } catch (err) {
    // Usually the agent has not written it yet: the runtime should retry.
    throw new CniError(CniCode.TryAgainLater, `cannot read subnet file ${conf.subnetFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; is the weft agent running?`);
  }
  return parseSubnetEnvValues(text, conf.subnetFile);
}

function storedPath(conf: FlannelNetConf, id: string): string {
  return join(conf.dataDir, id);
}

function readStored(conf: FlannelNetConf, id: string): Record<string, unknown> | undefined {
  let text: string;
  try {
    text = readFileSync(storedPath(conf, id), 'utf8');
  } catch {
    return undefined;
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new CniError(CniCode.DecodeFailure, `stored delegate config ${storedPath(conf, id)} is not JSON`);
  }
}

/** Kept so DEL and CHECK use exactly what ADD used, even if subnet.env changed since. */
function store(conf: FlannelNetConf, id: string, config: Record<string, unknown>): void {
  mkdirSync(conf.dataDir, { recursive: true, mode: 0o700 });
  const path = storedPath(conf, id);
  const temp = `${path}.tmp`;
  writeFileSync(temp, JSON.stringify(config), { mode: 0o600 });
  renameSync(temp, path);
}

function atLeast(version: string, minimum: string): boolean {
  return SUPPORTED_VERSIONS.indexOf(version as (typeof SUPPORTED_VERSIONS)[number]) >= SUPPORTED_VERSIONS.indexOf(minimum as (typeof SUPPORTED_VERSIONS)[number]);
}

/** Runs one CNI command; returns what goes to stdout. */
export function runCni(env: NodeJS.ProcessEnv, stdin: () => string): string {
  const command = env['CNI_COMMAND'];
  if (command === 'VERSION') {
    return JSON.stringify({ cniVersion: '1.0.0', supportedVersions: SUPPORTED_VERSIONS });
  }
  const conf = parseNetConf(stdin());
  switch (command) {
    case 'ADD': {
      const id = containerId(env);
      const delegate = buildDelegateConfig(conf, readSubnetEnv(conf));
      store(conf, id, delegate);
      return invokeDelegate('ADD', delegate, env);
    }
    case 'DEL': {
      const id = containerId(env);
      const delegate = readStored(conf, id);
      // Nothing stored: ADD never got that far, or DEL already ran. DEL must be idempotent.
      if (!delegate) return '';
      invokeDelegate('DEL', delegate, env);
      unlinkSync(storedPath(conf, id));
      return '';
    }
    case 'CHECK': {
      if (!atLeast(conf.cniVersion, '0.4.0')) throw new CniError(CniCode.IncompatibleVersion, `CHECK needs cniVersion 0.4.0 or later, not ${conf.cniVersion}`);
      const id = containerId(env);
      const delegate = readStored(conf, id);
      if (!delegate) throw new CniError(CniCode.UnknownContainer, `no ADD recorded for container ${id} in ${conf.dataDir}`);
      return invokeDelegate('CHECK', { ...delegate, prevResult: conf.raw['prevResult'] }, env);
    }
    default:
      throw new CniError(CniCode.InvalidEnvironment, `CNI_COMMAND ${JSON.stringify(command ?? '')} is not ADD, DEL, CHECK or VERSION`);
  }
}
