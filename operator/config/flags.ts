// Flag value parsers without zod, for the options every node pays for: the agent's and the common ones.
// zod is the project's schema library everywhere else (CRDs, the controller's settings); loading it cost the agent
// 2.7 MiB of resident memory on every node (BENCHMARKS.md, "The agent's memory"), and the agent's flags need only
// strings, enums, booleans, durations and ports. These parsers have zod's `safeParse` shape, so an option table
// mixes both and parseOptions (options.ts) reads either.
import { parseDuration } from '../util/duration.ts';

export type SafeResult<T> =
  | { success: true; data: T }
  | { success: false; error: { issues: Array<{ message: string }> } };

/** What parseOptions needs of an option's schema (a zod schema has it too). */
export interface ValueSchema<T = unknown> {
  safeParse(input: unknown): SafeResult<T>;
}

/** The value type a schema produces: zod's output or a Flag's. */
export type OutputOf<S> = S extends { safeParse(input: unknown): infer R }
  ? Extract<R, { success: true }> extends { data: infer T }
    ? T
    : never
  : never;

const fail = (message: string): SafeResult<never> => ({ success: false, error: { issues: [{ message }] } });

/** One flag's parser: a raw value (string from argv/env, or a boolean) to T, or a message saying what is wrong. */
export class Flag<T> implements ValueSchema<T> {
  constructor(private readonly parse: (input: unknown) => SafeResult<T>) {}

  safeParse(input: unknown): SafeResult<T> {
    return input === undefined ? fail('is required') : this.parse(input);
  }

  /** The value when the flag is not given. */
  default(value: T): ValueSchema<T> {
    return {
      safeParse: (input) => (input === undefined ? { success: true, data: value } : this.parse(input)),
    };
  }

  /** Not given: undefined. */
  optional(): ValueSchema<T | undefined> {
    return {
      safeParse: (input) => (input === undefined ? { success: true, data: undefined } : this.parse(input)),
    };
  }

  /** A further condition on the parsed value, with the message to show when it does not hold. */
  check(ok: (value: T) => boolean, message: string): Flag<T> {
    return new Flag((input) => {
      const r = this.parse(input);
      return r.success && !ok(r.data) ? fail(message) : r;
    });
  }
}

/** A string; `min` characters at least (1 by default: an empty value is a mistake, not a choice). */
export function text(opts: { min?: number; pattern?: RegExp; message?: string } = {}): Flag<string> {
  const min = opts.min ?? 1;
  return new Flag((input) => {
    if (typeof input !== 'string') return fail('must be a string');
    if (input.length < min)
      return fail(min === 1 ? 'must not be empty' : `must be at least ${min} characters`);
    if (opts.pattern && !opts.pattern.test(input)) return fail(opts.message ?? `must match ${opts.pattern}`);
    return { success: true, data: input };
  });
}

/** One of a fixed set of words. */
export function oneOf<const V extends readonly [string, ...string[]]>(
  values: V,
  message: string,
): Flag<V[number]> {
  return new Flag((input) =>
    typeof input === 'string' && (values as readonly string[]).includes(input)
      ? { success: true, data: input as V[number] }
      : fail(message),
  );
}

const TRUE = new Set(['true', '1', 'yes']);
const FALSE = new Set(['false', '0', 'no']);

/** A boolean in the spellings people put in env vars and flags (true/false, 1/0, yes/no), and nothing else. */
export function bool(): Flag<boolean> {
  return new Flag((input) => {
    if (typeof input === 'boolean') return { success: true, data: input };
    if (typeof input === 'string' && TRUE.has(input)) return { success: true, data: true };
    if (typeof input === 'string' && FALSE.has(input)) return { success: true, data: false };
    return fail('must be true or false (or 1/0, yes/no)');
  });
}

/** A Go-style duration ("90s", "5m", "1h30m", "250ms") to milliseconds, within [min, max] when given. */
export function duration(opts: { min?: number; max?: number } = {}): Flag<number> {
  return new Flag((input) => {
    const ms = typeof input === 'string' ? parseDuration(input) : undefined;
    if (ms === undefined) return fail(`"${String(input)}" is not a duration; write e.g. 30s, 5m or 1h30m`);
    if (opts.min !== undefined && ms < opts.min) return fail(`must be at least ${formatMs(opts.min)}`);
    if (opts.max !== undefined && ms > opts.max) return fail(`must be at most ${formatMs(opts.max)}`);
    return { success: true, data: ms };
  });
}

function formatMs(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** A whole number written in decimal, within [min, max]. */
export function int(opts: { min: number; max: number }): Flag<number> {
  return new Flag((input) => {
    const s = typeof input === 'string' ? input.trim() : '';
    if (!/^-?\d+$/.test(s)) return fail('must be a whole number');
    const n = Number(s);
    if (n < opts.min) return fail(`must be at least ${opts.min}`);
    if (n > opts.max) return fail(`must be at most ${opts.max}`);
    return { success: true, data: n };
  });
}
