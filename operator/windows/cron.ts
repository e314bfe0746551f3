// The 5-field cron of crontab(5) (Vixie cron, cronie), parsed and matched in wall-clock time: no time zones here
// (zone.ts maps wall-clock minutes to instants, schedule.ts applies Vixie's DST rules).
//
// Why our own and not croner: croner accepts Quartz extensions (L, W, #, ?) the documentation does not promise,
// ORs day-of-month with day-of-week where Vixie ANDs them, and gives list and range schedules wall-clock DST
// handling where Vixie gives them fixed-time handling. Each is a documented rule here, tested against an oracle.
//
// Rules (crontab(5)):
// - fields: minute 0-59, hour 0-23, day-of-month 1-31, month 1-12 or JAN-DEC, day-of-week 0-7 or SUN-SAT (0 and
//   7 are Sunday); items `*`, `N`, `A-B`, with `/STEP` after `*` or a range (`A/STEP` means A through the end);
//   lists of items with commas; names case-insensitive; macros @yearly @annually @monthly @weekly @daily
//   @midnight @hourly.
// - a field "is a wildcard" when its text starts with `*` (so `*/2` is one): this decides DST handling (minute or
//   hour wildcard → wall-clock job) and the day rule (day-of-month or day-of-week wildcard → both must match;
//   neither → either may match).

export class CronError extends Error {
  override name = 'CronError';
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

export const MACROS: Readonly<Record<string, string>> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  /** Regex of one value (RE2 and JavaScript alike). */
  value: string;
  names?: string[];
  example: string;
}

const FIELDS: FieldSpec[] = [
  { name: 'minute', min: 0, max: 59, value: '[0-5]?[0-9]', example: '0,30' },
  { name: 'hour', min: 0, max: 23, value: '[01]?[0-9]|2[0-3]', example: '22-23' },
  { name: 'day-of-month', min: 1, max: 31, value: '0?[1-9]|[12][0-9]|3[01]', example: '1-7' },
  {
    name: 'month',
    min: 1,
    max: 12,
    value: `0?[1-9]|1[0-2]|${MONTHS.join('|')}`,
    names: MONTHS,
    example: 'JAN-MAR',
  },
  {
    name: 'day-of-week',
    min: 0,
    max: 7,
    value: `[0-7]|${DAYS.join('|')}`,
    names: DAYS,
    example: 'MON-FRI',
  },
];

const STEP = '[1-9][0-9]?';
const fieldPattern = (f: FieldSpec) => {
  const item = `(\\*|(${f.value})(-(${f.value}))?)(/${STEP})?`;
  return `${item}(,${item})*`;
};

/**
 * The whole grammar as one case-insensitive regex body, for admission (the CRD's CEL rule prefixes `(?i)`) and
 * the controller's parse alike: what it accepts, parseCron accepts unless a range runs backwards.
 */
export const CRON_PATTERN = `^\\s*(@(${Object.keys(MACROS)
  .map((m) => m.slice(1))
  .join('|')})|${FIELDS.map(fieldPattern).join('\\s+')})\\s*$`;
const CRON_RE = new RegExp(CRON_PATTERN, 'i');

export const CRON_HELP =
  '5 fields "minute hour day-of-month month day-of-week" with numbers, names (JAN-DEC, SUN-SAT), *, ranges A-B, steps /N and lists A,B — e.g. "0 22 * * MON-FRI" — or a macro (@daily, @weekly, @monthly, @yearly, @hourly); Quartz extensions (L, W, #, ?) and seconds are not supported';

export interface Cron {
  readonly text: string;
  readonly minutes: readonly boolean[];
  readonly hours: readonly boolean[];
  readonly doms: readonly boolean[];
  readonly months: readonly boolean[];
  readonly dows: readonly boolean[];
  /** Minute or hour field starts with `*`: Vixie runs it by the wall clock across DST changes. */
  readonly wallClock: boolean;
  /** Day-of-month or day-of-week starts with `*`: both must match (Vixie, cronie); else either may. */
  readonly daysAnd: boolean;
  /** nextMinute[m] = the first allowed minute ≥ m, or -1; likewise for hours; prev* the last ≤ m. */
  readonly nextMinute: Int8Array;
  readonly prevMinute: Int8Array;
  readonly nextHour: Int8Array;
  readonly prevHour: Int8Array;
  /** The first minute ≥ m the cron does not name, or -1; the last ≤ m. */
  readonly nextUnsetMinute: Int8Array;
  readonly prevUnsetMinute: Int8Array;
}

function parseValue(f: FieldSpec, s: string): number {
  const lower = s.toLowerCase();
  const named = f.names?.indexOf(lower) ?? -1;
  if (named >= 0) return named + f.min;
  return Number(s);
}

function parseField(f: FieldSpec, text: string): boolean[] {
  const set: boolean[] = new Array(f.max + 1).fill(false);
  for (const item of text.split(',')) {
    const [range, stepText] = item.split('/') as [string, string | undefined];
    const step = stepText === undefined ? 1 : Number(stepText);
    let lo = f.min;
    let hi = f.max;
    if (range !== '*') {
      const [a, b] = range.split('-') as [string, string | undefined];
      lo = parseValue(f, a);
      hi = b === undefined ? (stepText === undefined ? lo : f.max) : parseValue(f, b);
      if (hi < lo) {
        throw new CronError(
          `${f.name} field "${text}": the range ${range} runs backwards; write ${b}-${a}, or a list such as ${a}-${f.max},${f.min}-${b}`,
        );
      }
    }
    for (let v = lo; v <= hi; v += step) set[v] = true;
  }
  if (f.name === 'day-of-week' && set[7]) set[0] = true;
  return set;
}

function nextTable(set: readonly boolean[], size: number): Int8Array {
  const t = new Int8Array(size + 1).fill(-1);
  for (let i = size - 1; i >= 0; i--) t[i] = set[i] ? i : t[i + 1]!;
  return t;
}

function prevTable(set: readonly boolean[], size: number): Int8Array {
  const t = new Int8Array(size).fill(-1);
  for (let i = 0; i < size; i++) t[i] = set[i] ? i : i > 0 ? t[i - 1]! : -1;
  return t;
}

/** Explains why text is not accepted, naming the field and the token. */
function diagnose(text: string, fields: string[]): string {
  if (text.trim().startsWith('@')) {
    return `unknown macro "${text.trim()}"; use ${Object.keys(MACROS).join(', ')}`;
  }
  if (fields.length !== 5) {
    return `has ${fields.length} field${fields.length === 1 ? '' : 's'}; a schedule has 5 (minute hour day-of-month month day-of-week)${fields.length === 6 ? ', without seconds or years' : ''}`;
  }
  for (const [i, f] of FIELDS.entries()) {
    const t = fields[i]!;
    if (new RegExp(`^(${fieldPattern(f)})$`, 'i').test(t)) continue;
    if (/[LW#?]/i.test(t.replace(/[a-z]{3}/gi, ''))) {
      return `${f.name} field "${t}" uses a Quartz extension (L, W, # or ?) that crontab(5) does not have; list the values instead, e.g. "${f.example}"`;
    }
    const nums = t.match(/\d+/g)?.map(Number) ?? [];
    const out = nums.find((n) => n < f.min || n > f.max);
    if (out !== undefined && !/\/\d+$/.test(t)) {
      return `${f.name} field "${t}": ${out} is outside ${f.min}-${f.max}; e.g. "${f.example}"`;
    }
    return `${f.name} field "${t}" is not valid; write numbers${f.names ? ' or names' : ''} in ${f.min}-${f.max}, *, ranges A-B, steps /N and lists A,B, e.g. "${f.example}"`;
  }
  return 'is not a 5-field cron schedule';
}

export function parseCron(text: string): Cron {
  const trimmed = text.trim();
  const expanded = MACROS[trimmed.toLowerCase()] ?? trimmed;
  const parts = expanded.split(/\s+/).filter(Boolean);
  if (!CRON_RE.test(expanded)) throw new CronError(`"${text}" ${diagnose(text, parts)}`);
  const [minutes, hours, doms, months, dows] = FIELDS.map((f, i) => parseField(f, parts[i]!)) as [
    boolean[],
    boolean[],
    boolean[],
    boolean[],
    boolean[],
  ];
  return {
    text: trimmed,
    minutes,
    hours,
    doms,
    months,
    dows: dows.slice(0, 7),
    wallClock: parts[0]!.startsWith('*') || parts[1]!.startsWith('*'),
    daysAnd: parts[2]!.startsWith('*') || parts[4]!.startsWith('*'),
    nextMinute: nextTable(minutes, 60),
    prevMinute: prevTable(minutes, 60),
    nextHour: nextTable(hours, 24),
    prevHour: prevTable(hours, 24),
    nextUnsetMinute: nextTable(
      minutes.map((v) => !v),
      60,
    ),
    prevUnsetMinute: prevTable(
      minutes.map((v) => !v),
      60,
    ),
  };
}

const MONTH_DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * Why the schedule can never fire, or undefined. Every date and weekday combination that exists recurs within
 * the 400-year Gregorian cycle (29 February falls on every weekday in it), so a schedule fires unless its days
 * name no date that exists: that is decidable from the fields alone, without searching.
 */
export function neverFires(c: Cron): string | undefined {
  // Either-match (both day fields restricted): every month has every weekday.
  if (!c.daysAnd) return undefined;
  for (let m = 1; m <= 12; m++) {
    if (!c.months[m]) continue;
    for (let d = 1; d <= MONTH_DAYS[m - 1]!; d++) if (c.doms[d]) return undefined;
  }
  const ms = MONTHS.filter((_, i) => c.months[i + 1]).map((m) => m.toUpperCase());
  return `"${c.text}" never fires: no day it names exists in ${ms.join(', ')}`;
}

const DAY = 86_400_000;
const MIN = 60_000;

/** The 400-year Gregorian cycle: weekdays and leap days repeat after it, so a search never needs to go further. */
export const CYCLE_MS = 146_097 * DAY;

/** Whether the day matches; for a month the cron does not name, the first instant of the next month instead. */
function dayMatches(c: Cron, dayStart: number): boolean | { nextMonth: number; monthStart: number } {
  const d = new Date(dayStart);
  const month = d.getUTCMonth();
  if (!c.months[month + 1]) {
    const y = d.getUTCFullYear();
    return { nextMonth: Date.UTC(y, month + 1, 1), monthStart: Date.UTC(y, month, 1) };
  }
  const dom = c.doms[d.getUTCDate()]!;
  const dow = c.dows[d.getUTCDay()]!;
  return c.daysAnd ? dom && dow : dom || dow;
}

/** The first wall-clock minute (ms, local fields read as UTC) ≥ from and < until that the cron names. */
export function nextWall(c: Cron, from: number, until: number): number | undefined {
  let t = Math.ceil(from / MIN) * MIN;
  while (t < until) {
    const dayStart = Math.floor(t / DAY) * DAY;
    const day = dayMatches(c, dayStart);
    if (typeof day === 'object') {
      t = day.nextMonth;
      continue;
    }
    if (day) {
      const mod = (t - dayStart) / MIN;
      let h = Math.floor(mod / 60);
      let m = mod % 60;
      let hh = c.nextHour[h]!;
      if (hh !== h) {
        h = hh;
        m = 0;
      }
      while (h >= 0) {
        const mm = c.nextMinute[m]!;
        if (mm >= 0) {
          const w = dayStart + (h * 60 + mm) * MIN;
          return w < until ? w : undefined;
        }
        hh = c.nextHour[h + 1]!;
        h = hh;
        m = 0;
      }
    }
    t = dayStart + DAY;
  }
  return undefined;
}

/** The last wall-clock minute ≤ at and > since that the cron names. */
export function prevWall(c: Cron, at: number, since: number): number | undefined {
  let t = Math.floor(at / MIN) * MIN;
  while (t > since) {
    const dayStart = Math.floor(t / DAY) * DAY;
    const day = dayMatches(c, dayStart);
    if (typeof day === 'object') {
      t = day.monthStart - MIN;
      continue;
    }
    if (day) {
      const mod = (t - dayStart) / MIN;
      let h = Math.floor(mod / 60);
      let m = mod % 60;
      const hh = c.prevHour[h]!;
      if (hh !== h) {
        h = hh;
        m = 59;
      }
      while (h >= 0) {
        const mm = c.prevMinute[m]!;
        if (mm >= 0) {
          const w = dayStart + (h * 60 + mm) * MIN;
          return w > since ? w : undefined;
        }
        h = h > 0 ? c.prevHour[h - 1]! : -1;
        m = 59;
      }
    }
    t = dayStart - MIN;
  }
  return undefined;
}

/**
 * The first wall minute ≥ from that the cron does not name (capped at until): the end of a run of consecutive
 * matching minutes, so a wall-clock window of "* 22-23 * * *" merges in one step instead of 120.
 */
export function nextUnmatchedWall(c: Cron, from: number, until: number): number {
  let t = Math.ceil(from / MIN) * MIN;
  while (t < until) {
    const dayStart = Math.floor(t / DAY) * DAY;
    if (dayMatches(c, dayStart) !== true) return t;
    let h = Math.floor((t - dayStart) / 3_600_000);
    let m = Math.floor((t - dayStart) / MIN) % 60;
    for (; h < 24; h++, m = 0) {
      if (!c.hours[h]) return dayStart + h * 3_600_000;
      const u = c.nextUnsetMinute[m]!;
      if (u >= 0) return dayStart + (h * 60 + u) * MIN;
    }
    t = dayStart + DAY;
  }
  return until;
}

/** The last wall minute ≤ at that the cron does not name (capped at since). */
export function prevUnmatchedWall(c: Cron, at: number, since: number): number {
  let t = Math.floor(at / MIN) * MIN;
  while (t > since) {
    const dayStart = Math.floor(t / DAY) * DAY;
    if (dayMatches(c, dayStart) !== true) return t;
    let h = Math.floor((t - dayStart) / 3_600_000);
    let m = Math.floor((t - dayStart) / MIN) % 60;
    for (; h >= 0; h--, m = 59) {
      if (!c.hours[h]) return dayStart + (h * 60 + 59) * MIN;
      const u = c.prevUnsetMinute[m]!;
      if (u >= 0) return dayStart + (h * 60 + u) * MIN;
    }
    t = dayStart - MIN;
  }
  return since;
}
