import { inspect } from 'node:util';

const REDACTED = '[redacted]';

/**
 * A value that must never reach logs, metrics or `weft status` (WireGuard private and preshared
 * keys). Logging, JSON serialisation and util.inspect all see "[redacted]"; only `reveal()`,
 * called where the value is handed to the kernel, yields it.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  equals(other: Secret | undefined): boolean {
    return other !== undefined && other.#value === this.#value;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}
