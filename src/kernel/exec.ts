import { execa } from 'execa';
import { KernelCommandError } from '../util/errors.js';

/**
 * The one place weft spawns processes (one-shot commands here, long-running monitors through
 * streamLines below). Arguments are always an argv array (never a shell
 * string) and batch input goes over stdin, so no datastore value can be interpreted by a shell.
 */
export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number;
}

export interface RunOptions {
  readonly input?: string;
  /** Return a non-zero exit instead of throwing (batches with -force report per-line failures). */
  readonly allowFailure?: boolean;
}

export async function runCommand(argv: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
  const [file, ...args] = argv;
  if (!file) throw new KernelCommandError(argv, 'empty command');
  try {
    const result = await execa(file, args, {
      ...(options.input !== undefined ? { input: options.input } : { stdin: 'ignore' as const }),
      reject: false,
      stripFinalNewline: false,
    });
    const stdout = String(result.stdout ?? '');
    const stderr = String(result.stderr ?? '');
    if (result.failed && result.exitCode === undefined) {
      throw new KernelCommandError(argv, stderr || String(result.message ?? 'spawn failed'));
    }
    const exitCode = result.exitCode ?? 1;
    if (exitCode !== 0 && !options.allowFailure) throw new KernelCommandError(argv, stderr);
    return { stdout, stderr, exitCode };
  } catch (err) {
    if (err instanceof KernelCommandError) throw err;
    throw new KernelCommandError(argv, (err as Error).message, { cause: err });
  }
}

/** Runs a command whose stdout is JSON (iproute2's -j) and parses it. */
export async function runJson(argv: readonly string[]): Promise<unknown> {
  const { stdout } = await runCommand(argv);
  const text = stdout.trim();
  if (text === '') return [];
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new KernelCommandError(argv, `output is not JSON: ${(err as Error).message}`, { cause: err });
  }
}

/** A long-running process whose stdout is read line by line. */
export interface LineStream {
  /** Settles when the process has exited, for whatever reason. */
  readonly exited: Promise<void>;
  kill(): void;
}

/**
 * Starts a long-running command (`ip monitor`) and hands its stdout to `onLines` as whole lines,
 * one call per chunk read, so a burst of lines costs one callback. stderr is discarded.
 */
export function streamLines(argv: readonly [string, ...string[]], onLines: (lines: readonly string[]) => void): LineStream {
  const [file, ...args] = argv;
  const child = execa(file, args, { buffer: false, stdin: 'ignore', stderr: 'ignore', reject: false });
  let partial = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop() ?? '';
    if (lines.length > 0) onLines(lines);
  });
  return {
    exited: child.then(() => undefined),
    kill: () => void child.kill(),
  };
}
