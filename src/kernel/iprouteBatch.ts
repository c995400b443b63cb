import { runCommand } from './exec.js';

export interface BatchFailure {
  /** 1-based line number within the batch. */
  readonly line: number;
  readonly command: string;
  readonly error: string;
}

export interface BatchResult {
  readonly applied: number;
  readonly failures: readonly BatchFailure[];
}

/**
 * Parses the stderr of a failed `ip -batch - -force`: each failing line is reported as its error
 * text followed by "Command failed -:N". Error text with no marker after it means the tool exited
 * mid-batch (iproute2 exits outright on some argument errors, e.g. a nexthop on a missing
 * device), so no line after the last marker is known to have run: each counts as failed.
 */
export function parseBatchFailures(lines: readonly string[], stderr: string): BatchFailure[] {
  const failures: BatchFailure[] = [];
  let pending: string[] = [];
  for (const text of stderr.split('\n')) {
    const marker = /^Command failed -:(\d+)\s*$/.exec(text.trim());
    if (marker) {
      const line = Number(marker[1]);
      failures.push({ line, command: lines[line - 1] ?? '', error: pending.join('; ') || 'unknown error' });
      pending = [];
    } else if (text.trim() !== '') {
      pending.push(text.trim());
    }
  }
  if (pending.length) {
    const stoppedAfter = failures.at(-1)?.line ?? 0;
    const error = `${pending.join('; ')} (the batch stopped; this line may not have run)`;
    for (let line = stoppedAfter + 1; line <= lines.length; line++) failures.push({ line, command: lines[line - 1]!, error });
  }
  return failures;
}

/**
 * Applies many iproute2 operations in one process. With -force the batch carries on past a
 * failing line, so one bad entry cannot stop thousands of good ones; the failures come back
 * line by line for the caller to log and count.
 */
export async function runBatch(tool: 'ip' | 'bridge', lines: readonly string[]): Promise<BatchResult> {
  if (lines.length === 0) return { applied: 0, failures: [] };
  const result = await runCommand([tool, '-batch', '-', '-force'], { input: `${lines.join('\n')}\n`, allowFailure: true });
  const failures = result.exitCode === 0 ? [] : parseBatchFailures(lines, result.stderr);
  if (result.exitCode !== 0 && failures.length === 0) {
    return { applied: 0, failures: [{ line: 0, command: `${tool} -batch`, error: result.stderr.trim() || `exit ${result.exitCode}` }] };
  }
  return { applied: lines.length - failures.length, failures };
}
