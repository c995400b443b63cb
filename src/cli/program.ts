import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { FlagError } from '../util/errors.js';
import { addAgentFlags, normalizeGoStyleArgs } from './agentFlags.js';
import type { AgentOptions } from '../agent/options.js';
import { buildAgentOptions } from './agentOptions.js';

export function weftVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export function agentCommand(): Command {
  return addAgentFlags(
    new Command('agent')
      .description('lease this host a subnet, write subnet.env and program routes to every other host')
      .allowExcessArguments(false),
  ).option('--version', 'print the version and exit');
}

/** Flannel's `flanneld --version`: answered before anything else is parsed or checked. */
export function asksForVersion(argv: readonly string[]): boolean {
  return normalizeGoStyleArgs(argv).some((arg) => arg === '--version' || arg === '--version=true');
}

/**
 * Parses `weft agent` arguments (FLANNELD_* variables from process.env fill unset flags) without
 * running anything. Errors come back as FlagError carrying commander's message, which names the
 * flag and the value.
 */
export function parseAgentArgs(argv: readonly string[]): AgentOptions {
  const command = agentCommand()
    .exitOverride()
    .configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  try {
    command.parse(normalizeGoStyleArgs(argv), { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) throw new FlagError(err.message.replace(/^error: /, ''));
    throw err;
  }
  return buildAgentOptions(command.opts(), process.env);
}
