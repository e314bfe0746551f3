// Command-line + environment configuration, parsed once at start-up, each option through its own schema.
// Every option is `--flag value` (or `--flag=value`) and `KREBOOT_<FLAG>` in the environment; the flag wins.
// Errors name the flag, its environment variable, what was wrong and what to write instead.
import type { OutputOf, ValueSchema } from './flags.ts';

export interface OptionSpec<S extends ValueSchema = ValueSchema> {
  /** Kebab-case flag name without the dashes. */
  flag: string;
  help: string;
  /** Validates (and coerces) the raw string; apply defaults here. A zod schema, or a Flag from flags.ts. */
  schema: S;
  /** A flag given without a value means "true". */
  boolean?: boolean;
  /** A literal valid value (no shell quoting): shown in errors and help, and rendered by the Helm chart test. */
  example?: string;
}

export type OptionSpecs = Record<string, OptionSpec>;
export type OptionValues<T extends OptionSpecs> = { [K in keyof T]: OutputOf<T[K]['schema']> };

export class ConfigError extends Error {
  readonly exitCode = 2;
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export const envName = (flag: string) => `KREBOOT_${flag.toUpperCase().replaceAll('-', '_')}`;

function levenshtein(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return d[b.length]!;
}

export interface ParseResult<T extends OptionSpecs> {
  values: OptionValues<T>;
  help: boolean;
  positionals: string[];
  /** The options set by a flag or an environment variable (the rest have their defaults). */
  given: Set<keyof T>;
}

/**
 * Parses argv and env against the specs. Throws ConfigError listing every problem at once,
 * so a person fixes a bad config in one go rather than one field per restart.
 */
/** --flag=value as a person would type it in a shell: quoted when the value needs it. */
export function shellFlag(flag: string, value: string): string {
  return /^[\w./:@%,=+-]*$/.test(value) ? `--${flag}=${value}` : `--${flag}=${JSON.stringify(value)}`;
}

export function parseOptions<T extends OptionSpecs>(
  specs: T,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): ParseResult<T> {
  const byFlag = new Map<string, string>();
  for (const [k, spec] of Object.entries(specs)) byFlag.set(spec.flag, k);
  const raw: Record<string, unknown> = {};
  const source: Record<string, string> = {};
  const problems: string[] = [];
  const positionals: string[] = [];
  let help = false;

  for (const [k, spec] of Object.entries(specs)) {
    const v = env[envName(spec.flag)];
    if (v !== undefined) {
      raw[k] = v;
      source[k] = envName(spec.flag);
    }
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    const k = byFlag.get(name);
    if (k === undefined) {
      const near = [...byFlag.keys()].filter((f) => levenshtein(f, name) <= 2);
      problems.push(
        `--${name}: unknown flag${near.length ? `; did you mean --${near.join(' or --')}?` : '; see --help for the list'}`,
      );
      continue;
    }
    const spec = specs[k]!;
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else if (spec.boolean && (i + 1 >= argv.length || argv[i + 1]!.startsWith('--'))) value = 'true';
    else if (i + 1 < argv.length) value = argv[++i];
    if (value === undefined) {
      problems.push(
        `--${name}: needs a value${spec.example ? `, e.g. ${shellFlag(name, spec.example)}` : ''}`,
      );
      continue;
    }
    raw[k] = value;
    source[k] = `--${name}`;
  }
  if (help) return { values: {} as OptionValues<T>, help, positionals, given: new Set() };

  const values: Record<string, unknown> = {};
  for (const [k, spec] of Object.entries(specs)) {
    const res = spec.schema.safeParse(raw[k]);
    if (res.success) {
      values[k] = res.data;
      continue;
    }
    const where = source[k] ? `${source[k]}` : `--${spec.flag} (or ${envName(spec.flag)})`;
    for (const issue of res.error.issues) {
      const missing = raw[k] === undefined;
      const msg = missing ? 'is required but not set' : issue.message;
      const got = missing ? '' : ` (got ${JSON.stringify(raw[k])})`;
      const fix = spec.example ? `; e.g. ${shellFlag(spec.flag, spec.example)}` : '';
      problems.push(`${where}: ${msg}${got}${fix}`);
    }
  }
  if (problems.length) throw new ConfigError(problems);
  return { values: values as OptionValues<T>, help, positionals, given: new Set(Object.keys(source)) };
}

export function helpText(command: string, summary: string, specs: OptionSpecs): string {
  const lines = [
    `Usage: kreboot ${command} [flags]`,
    '',
    summary,
    '',
    'Flags (each also settable as the env var shown):',
  ];
  const width = Math.max(...Object.values(specs).map((s) => s.flag.length)) + 4;
  for (const spec of Object.values(specs)) {
    lines.push(`  --${spec.flag.padEnd(width)}${spec.help}`);
    lines.push(`    ${' '.repeat(width)}env ${envName(spec.flag)}`);
  }
  lines.push(`  --${'help'.padEnd(width)}show this help`);
  return `${lines.join('\n')}\n`;
}
