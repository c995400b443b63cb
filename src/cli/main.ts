import { setTimeout as sleep } from 'node:timers/promises';
import { Command } from 'commander';
import type { Logger } from 'winston';
import type { AgentOptions } from '../agent/options.js';
import { startAgent } from '../agent/agent.js';
import { ConfigError, WeftError, errorMessage } from '../util/errors.js';
import { createLogger } from '../util/log.js';
import { agentCommand, asksForVersion, parseAgentArgs, weftVersion } from './program.js';
import { removeIptablesChains } from '../kernel/iptables.js';
import { removeNftTable } from '../kernel/nftables.js';
import { weftChains } from '../iptables/rules.js';
import { collectStatus } from '../status/collectStatus.js';
import { formatStatus } from '../status/peerStatus.js';

/** Exit codes: 0 clean stop, 1 runtime failure, 2 bad flags or configuration. */
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

/**
 * How long a stop may take from the signal to exit, whatever the datastore does: the kubelet
 * waits that long on every node of a rollout. etcd3 and gRPC keep timers and calls of their own
 * after close, so the process exits explicitly rather than waiting for the event loop to drain.
 */
const STOP_BOUND_MS = 1_500;
/** The part of the bound left for the last log lines to reach stderr. */
const LOG_FLUSH_BOUND_MS = 200;

async function agentMain(argv: readonly string[]): Promise<number> {
  if (asksForVersion(argv)) {
    process.stdout.write(`${weftVersion()}\n`);
    return 0;
  }
  let options;
  try {
    options = parseAgentArgs(argv);
  } catch (err) {
    process.stderr.write(`weft agent: ${errorMessage(err)}\n`);
    return EXIT_USAGE;
  }
  const logger = createLogger({ verbosity: options.verbosity });
  const abort = new AbortController();
  let signals = 0;
  const stopped = new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      signals++;
      if (signals > 1) {
        // The first stop may have closed the log already; then it is about to exit anyway.
        if (!logger.writableEnded) logger.warn('second signal; exiting immediately', { signal });
        void flushLog(logger).then(() => process.exit(EXIT_FAILURE));
        return;
      }
      // Kernel state is left in place on purpose: pods keep talking while the agent restarts.
      logger.info('stopping; kernel state is left in place', { signal });
      abort.abort();
      resolve();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  const overdue = stopped.then(() => sleep(STOP_BOUND_MS - LOG_FLUSH_BOUND_MS, undefined, { ref: false })).then(() => {
    logger.warn('the stop is taking too long (datastore not answering?); exiting anyway', { boundMs: STOP_BOUND_MS });
    return 0;
  });
  const code = await Promise.race([runAgent(options, logger, abort.signal, stopped), overdue]);
  await flushLog(logger);
  return code;
}

async function runAgent(options: AgentOptions, logger: Logger, signal: AbortSignal, stopped: Promise<void>): Promise<number> {
  try {
    const agent = await startAgent(options, logger, undefined, signal);
    try {
      await Promise.race([stopped, agent.fatal]);
    } finally {
      await agent.stop();
    }
    return 0;
  } catch (err) {
    if (signal.aborted) return 0;
    logger.error('agent failed', { error: errorMessage(err), kind: err instanceof WeftError ? err.code : 'UNEXPECTED' });
    // Bad configuration (a net-conf.json, no node name, a kubeconfig) is a usage error like a bad flag.
    return err instanceof ConfigError ? EXIT_USAGE : EXIT_FAILURE;
  }
}

/** Ends the logger once its lines are written, or after a short bound; later lines go nowhere. */
async function flushLog(logger: Logger): Promise<void> {
  if (logger.writableEnded) return;
  const finished = new Promise<void>((resolve) => logger.once('finish', resolve));
  logger.end();
  await Promise.race([finished, sleep(LOG_FLUSH_BOUND_MS, undefined, { ref: false })]);
}

/** `weft status [--json] <agent flags>`: 0 when the kernel matches every peer, 1 otherwise. */
async function statusMain(argv: readonly string[]): Promise<number> {
  const json = argv.includes('--json');
  let options;
  try {
    options = parseAgentArgs(argv.filter((a) => a !== '--json'));
  } catch (err) {
    process.stderr.write(`weft status: ${errorMessage(err)}\n`);
    return EXIT_USAGE;
  }
  const logger = createLogger({ verbosity: options.verbosity });
  try {
    const status = await collectStatus(options, logger);
    process.stdout.write(json ? `${JSON.stringify(status, null, 2)}\n` : formatStatus(status));
    return status.healthy ? 0 : EXIT_FAILURE;
  } catch (err) {
    process.stderr.write(`weft status: ${errorMessage(err)}\n`);
    return err instanceof ConfigError ? EXIT_USAGE : EXIT_FAILURE;
  }
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  const wantsHelp = rest.includes('-h') || rest.includes('--help');
  if (command === 'agent' && !wantsHelp) {
    process.exit(await agentMain(rest));
  }
  if (command === 'status' && !wantsHelp) {
    process.exitCode = await statusMain(rest);
    return;
  }
  const program = new Command('weft')
    .description('VXLAN / host-gw overlay network agent for Kubernetes, a drop-in for Flannel')
    .version(weftVersion(), '--version', 'print the version and exit')
    .showHelpAfterError()
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : EXIT_USAGE));
  program.addCommand(agentCommand());
  program.addCommand(
    agentCommand()
      .name('status')
      .description("compare this host's kernel with its lease and its peers' (reads the datastore and the kernel; exit 1 on any mismatch)")
      .option('--json', 'print JSON instead of a table'),
  );
  program
    .command('version')
    .description('print the version and exit')
    .action(() => {
      process.stdout.write(`${weftVersion()}\n`);
    });
  program
    .command('cleanup')
    .description("remove weft's iptables chains and jumps, and its nftables table (routes and devices are left alone: traffic keeps flowing)")
    .action(async () => {
      const cleaned = await removeIptablesChains(weftChains);
      process.stdout.write(cleaned.length ? `removed weft iptables rules via ${cleaned.join(', ')}\n` : 'no weft iptables rules found\n');
      if (await removeNftTable()) process.stdout.write('removed nftables table ip flannel-ipv4\n');
    });
  await program.parseAsync(process.argv);
}

void main();
