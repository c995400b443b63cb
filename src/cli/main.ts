import { Command } from 'commander';
import { startAgent } from '../agent.js';
import { ConfigError, WeftError, errorMessage } from '../errors.js';
import { createLogger } from '../log.js';
import { agentCommand, asksForVersion, parseAgentArgs, weftVersion } from './program.js';
import { removeIptablesChains } from '../kernel/iptables.js';
import { removeNftTable } from '../kernel/nftables.js';
import { weftChains } from '../iptables/rules.js';
import { collectStatus } from '../status/collectStatus.js';
import { formatStatus } from '../status/peerStatus.js';

/** Exit codes: 0 clean stop, 1 runtime failure, 2 bad flags or configuration. */
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

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
        logger.warn('second signal; exiting immediately', { signal });
        process.exit(EXIT_FAILURE);
      }
      // Kernel state is left in place on purpose: pods keep talking while the agent restarts.
      logger.info('stopping; kernel state is left in place', { signal });
      abort.abort();
      resolve();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });

  try {
    const agent = await startAgent(options, logger, undefined, abort.signal);
    try {
      await Promise.race([stopped, agent.fatal]);
    } finally {
      await agent.stop();
    }
    return 0;
  } catch (err) {
    if (abort.signal.aborted) return 0;
    logger.error('agent failed', { error: errorMessage(err), kind: err instanceof WeftError ? err.code : 'UNEXPECTED' });
    // Bad configuration (a net-conf.json, no node name, a kubeconfig) is a usage error like a bad flag.
    return err instanceof ConfigError ? EXIT_USAGE : EXIT_FAILURE;
  } finally {
    await new Promise<void>((resolve) => logger.on('finish', resolve).end());
  }
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
    process.exitCode = await agentMain(rest);
    return;
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
