/**
 * Typed errors. Each carries a stable `code` so callers branch on kind, not on message text,
 * and the CLI maps kinds to exit codes in one place.
 */
export abstract class WeftError extends Error {
  abstract readonly code: string;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A field of user- or datastore-supplied configuration is invalid. */
export class ConfigError extends WeftError {
  readonly code = 'CONFIG_INVALID';
  constructor(
    readonly field: string,
    readonly value: unknown,
    reason: string,
  ) {
    super(`${field}: ${reason} (got ${describeValue(value)})`);
  }
}

/** A command-line flag or FLANNELD_* environment variable is invalid. */
export class FlagError extends WeftError {
  readonly code = 'FLAG_INVALID';
}

/** No usable external interface / public IP could be determined. */
export class InterfaceSelectionError extends WeftError {
  readonly code = 'IFACE_NOT_FOUND';
}

/** Every subnet in [SubnetMin, SubnetMax] is taken. */
export class SubnetExhaustedError extends WeftError {
  readonly code = 'SUBNET_EXHAUSTED';
}

/** The datastore refused or failed an operation. */
export class DatastoreError extends WeftError {
  readonly code = 'DATASTORE';
}

/** A file weft writes (subnet.env, say) could not be written; the message names the path. */
export class FileWriteError extends WeftError {
  readonly code = 'FILE_WRITE';
  constructor(
    readonly path: string,
    cause: unknown,
  ) {
    super(`writing ${path}: ${errorMessage(cause)}`, { cause });
  }
}

/** A process spawned by the kernel layer failed. */
export class KernelCommandError extends WeftError {
  readonly code = 'KERNEL_COMMAND';
  constructor(
    readonly command: readonly string[],
    readonly stderr: string,
    options?: { cause?: unknown },
  ) {
    super(`${command.join(' ')} failed: ${stderr.trim() || 'no output'}`, options);
  }
}

/** The host lacks something the agent needs before it changes anything (e.g. br_netfilter). */
export class PreflightError extends WeftError {
  readonly code = 'PREFLIGHT';
}

export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
