import { KernelCommandError } from '../util/errors.js';
import { runCommand } from './exec.js';
import { type BatchFailure, runBatch } from './iprouteBatch.js';
import type { WireguardDevicePlan } from './kernelPlan.js';
import { parseVxlanDevice } from './kernelState.js';
import { type WireguardDeviceState, parseWgDump } from './wireguardState.js';

/**
 * WireGuard devices through `wg` (wireguard-tools) and iproute2. Where the kernel has no
 * WireGuard module, the device is the userspace wireguard-go, which the same `wg` commands
 * configure through its UAPI socket (/run/wireguard/<dev>.sock).
 */

/** Reads a device's link and, if `wg` can reach it, its configuration (private key dropped). */
export async function readWireguardDevice(name: string): Promise<WireguardDeviceState | undefined> {
  const show = await runCommand(['ip', '-j', '-d', 'addr', 'show', 'dev', name], { allowFailure: true });
  if (show.exitCode !== 0) {
    if (/does not exist|Cannot find device/i.test(show.stderr)) return undefined;
    throw new KernelCommandError(['ip', '-j', '-d', 'addr', 'show', 'dev', name], show.stderr);
  }
  const link = parseVxlanDevice(JSON.parse(show.stdout || '[]'));
  if (!link) return undefined;
  const dump = await runCommand(['wg', 'show', name, 'dump'], { allowFailure: true });
  const config = dump.exitCode === 0 ? parseWgDump(dump.stdout) : undefined;
  return { name, kind: link.kind, mtu: link.mtu, up: link.up, addresses: link.addresses, ...(config ? { config } : {}) };
}

/** Learnt at the first creation: the kernel has no WireGuard module, so devices are wireguard-go's. */
let noKernelModule = false;

const NO_MODULE = /Unknown device type|not supported/i;

/** Creates the link; says so when it had to fall back to userspace. */
async function createDevice(name: string): Promise<string | undefined> {
  if (!noKernelModule) {
    // The kernel-module path. The test machine's kernel has no WireGuard module, so its tests
    // never take the success branch (README.md, "Kernel state", WireGuard).
    const argv = ['ip', 'link', 'add', name, 'type', 'wireguard'];
    const added = await runCommand(argv, { allowFailure: true });
    if (added.exitCode === 0) return undefined;
    if (!NO_MODULE.test(added.stderr)) throw new KernelCommandError(argv, added.stderr);
    noKernelModule = true;
  }
  // wireguard-go forks into the background once the device exists and outlives the agent, as
  // a kernel device would. If it dies the device goes with it, which the kernel monitor sees.
  await runCommand(['wireguard-go', name]);
  return `${name}: the kernel has no WireGuard module; started the userspace wireguard-go, which is markedly slower (see docs/benchmarks.md)`;
}

// Keys in wg's error messages (it quotes the offending line) must not reach the logs.
const KEY_TEXT = /[A-Za-z0-9+/]{42,43}=/g;

function redact(text: string): string {
  return text.replace(KEY_TEXT, '[redacted]');
}

export interface WireguardApplyResult {
  readonly applied: number;
  readonly failures: readonly BatchFailure[];
  /** Things the operator should hear about once (the userspace fallback). */
  readonly notices: readonly string[];
}

async function applyDevice(plan: WireguardDevicePlan, notices: string[]): Promise<{ applied: number; failures: BatchFailure[] }> {
  let applied = 0;
  const failures: BatchFailure[] = [];
  if (plan.recreate) {
    await runCommand(['ip', 'link', 'del', plan.name], { allowFailure: true });
    applied++;
  }
  if (plan.create) {
    try {
      const notice = await createDevice(plan.name);
      if (notice) notices.push(notice);
      applied++;
    } catch (err) {
      const error = err instanceof KernelCommandError ? err.stderr.trim() || err.message : String(err);
      failures.push({ line: 0, command: `create WireGuard device ${plan.name}`, error });
      // Nothing else can hang off a device that is not there.
      return { applied, failures };
    }
  }
  const link = await runBatch('ip', plan.link);
  applied += link.applied;
  failures.push(...link.failures);
  if (plan.config) {
    // The config goes over stdin, keeping the private key off the disk; `wg` fopen()s its config
    // file, which /dev/stdin allows for a pipe but not for the socket Node connects stdin to,
    // hence the `cat`. The script is a constant and the device name is an argument to it.
    const syncconf = ['sh', '-c', 'cat | exec wg syncconf "$1" /dev/stdin', 'sh', plan.name];
    const result = await runCommand(syncconf, { input: plan.config.reveal(), allowFailure: true });
    if (result.exitCode === 0) applied++;
    else failures.push({ line: 0, command: `wg syncconf ${plan.name}`, error: redact(result.stderr.trim() || `exit ${result.exitCode}`) });
  }
  return { applied, failures };
}

/** Brings each device in line: link, addresses, then one `wg syncconf` for keys, port and peers. */
export async function applyWireguard(plans: readonly WireguardDevicePlan[]): Promise<WireguardApplyResult> {
  const notices: string[] = [];
  let applied = 0;
  const failures: BatchFailure[] = [];
  for (const plan of plans) {
    const result = await applyDevice(plan, notices);
    applied += result.applied;
    failures.push(...result.failures);
  }
  return { applied, failures, notices };
}
