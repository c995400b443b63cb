import { execa } from 'execa';
import { KernelCommandError } from '../util/errors.js';

/**
 * The one place weft spawns processes. Arguments are always an argv array (never a shell
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
