import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { CniCode, CniError } from './cniError.js';

const PLUGIN_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** The delegate's executable: the first CNI_PATH directory holding an executable of that name. */
export function findPlugin(type: string, cniPath: string): string {
  if (!PLUGIN_NAME.test(type)) throw new CniError(CniCode.InvalidNetworkConfig, `delegate type ${JSON.stringify(type)} is not a plugin name`);
  for (const dir of cniPath.split(':').filter((d) => d !== '')) {
    const candidate = join(dir, type);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory; try the next
    }
  }
  throw new CniError(CniCode.InvalidEnvironment, `delegate plugin ${type} not found in CNI_PATH ${JSON.stringify(cniPath)}`);
}

/**
 * Runs the delegate plugin with the runtime's CNI_* environment and `config` on stdin, as the
 * CNI spec's delegation says. spawnSync with an argv array, not execa: this process lives for
 * one call and every millisecond of its start-up is pod start-up latency.
 */
export function invokeDelegate(command: string, config: Record<string, unknown>, env: NodeJS.ProcessEnv): string {
  const plugin = findPlugin(String(config['type']), env['CNI_PATH'] ?? '');
  const result = spawnSync(plugin, [], {
    input: JSON.stringify(config),
    env: { ...env, CNI_COMMAND: command },
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (result.error) throw new CniError(CniCode.IoFailure, `running ${plugin}: ${result.error.message}`);
  if (result.status !== 0) {
    let reported: { code?: unknown; msg?: unknown; details?: unknown } = {};
    try {
      reported = JSON.parse(result.stdout) as typeof reported;
    } catch {
      // not a CNI error object; fall back to stderr below
    }
    throw new CniError(
      typeof reported.code === 'number' ? reported.code : CniCode.IoFailure,
      `${String(config['type'])} ${command} failed: ${typeof reported.msg === 'string' ? reported.msg : result.stderr.trim() || `exit ${result.status}`}`,
      typeof reported.details === 'string' ? reported.details : undefined,
    );
  }
  return result.stdout;
}
