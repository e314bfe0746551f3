// The logger every long-running command makes: pino's JSON lines (default), or `--log-format=text` — logfmt lines
// as kured (logrus) writes them, `time="…" level=info msg="…" node=n1 phase=draining`, for people who read logs
// with their eyes or feed them to a tool that expects kured's.
import { type Logger, pino } from 'pino';

const LEVELS: Record<number, string> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warning',
  50: 'error',
  60: 'fatal',
};

const value = (v: unknown): string => {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return /^[A-Za-z0-9_.:/@+-]+$/.test(s) ? s : JSON.stringify(s);
};

/** One pino JSON line as a logfmt line (anything unparsable passes through unchanged). */
export function textLine(json: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(json);
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`;
  }
  const { time, level, msg, ...rest } = o;
  const parts = [
    `time=${JSON.stringify(new Date(typeof time === 'number' ? time : Date.now()).toISOString())}`,
    `level=${LEVELS[level as number] ?? String(level)}`,
    `msg=${JSON.stringify(String(msg ?? ''))}`,
    ...Object.entries(rest).map(([k, v]) => `${k}=${value(v)}`),
  ];
  return `${parts.join(' ')}\n`;
}

export function createLogger(
  level: string,
  format: 'json' | 'text',
  base: Record<string, string>,
  out: { write: (s: string) => unknown } = process.stdout,
): Logger {
  if (format === 'json') return pino({ level, base }, out as never);
  return pino({ level, base }, { write: (line: string) => out.write(textLine(line)) } as never);
}
