import winston from 'winston';

const SECRET_KEY = /pass(word)?|secret|token|private.?key|authorization/i;

/** Defence in depth: even if a caller logs an options object, secrets come out redacted. */
const redactSecrets = winston.format((info) => {
  for (const key of Object.keys(info)) {
    if (SECRET_KEY.test(key) && info[key] !== undefined && info[key] !== '') info[key] = '[redacted]';
  }
  return info;
});

/** Flannel's -v is a glog verbosity; 0 is info, anything higher turns on debug detail. */
export function levelForVerbosity(verbosity: number): 'info' | 'debug' {
  return verbosity > 0 ? 'debug' : 'info';
}

export interface LoggerOptions {
  readonly verbosity: number;
  /** Human-readable lines instead of JSON; defaults to whether stderr is a terminal. */
  readonly pretty?: boolean;
}

/** Logs go to stderr so stdout stays free for command output (`weft status --json`). */
export function createLogger(options: LoggerOptions): winston.Logger {
  const pretty = options.pretty ?? process.stderr.isTTY === true;
  const format = pretty
    ? winston.format.combine(
        redactSecrets(),
        winston.format.timestamp({ format: 'HH:mm:ss.SSS' }),
        winston.format.colorize(),
        winston.format.printf(({ level, message, timestamp, ...rest }) => {
          const fields = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
          return `${String(timestamp)} ${level} ${String(message)}${fields}`;
        }),
      )
    : winston.format.combine(redactSecrets(), winston.format.timestamp(), winston.format.json());
  const logger = winston.createLogger({
    level: levelForVerbosity(options.verbosity),
    format,
    transports: [new winston.transports.Console({ stderrLevels: Object.keys(winston.config.npm.levels) })],
  });
  // Without a listener, winston's 'error' event (a line written after the logger was closed, say)
  // would be an uncaught exception: a lost log line must never take the network agent down.
  logger.on('error', (err: Error) => {
    try {
      process.stderr.write(`weft: a log line was lost: ${err.message}\n`);
    } catch {
      // stderr itself is gone: there is nowhere left to say it
    }
  });
  return logger;
}

/** A logger that drops everything, for library use and tests that do not inspect logs. */
export function silentLogger(): winston.Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}
