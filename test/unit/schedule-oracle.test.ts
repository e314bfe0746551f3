// The schedule engine against a brute-force minute-by-minute oracle over the whole (leap) year 2028, in zones
// with DST both ways, a 30-minute DST shift (Lord Howe), a DST change at 02:45 with a +12:45 offset (Chatham) and
// a half-hour offset without DST (Kolkata).
// The oracle computes local wall-clock time from Intl offsets and applies the documented rules itself (Vixie
// cron's DST handling by the "field starts with *" rule, its day-of-month/day-of-week rule, elapsed durations,
// merged overlaps); it shares no code with the engine.
import { describe, expect, it } from 'vitest';
import { type Interval, Schedule } from '../../operator/windows/schedule.ts';

const MIN = 60_000;
const YEAR_START = Date.UTC(2028, 0, 1);
const YEAR_END = Date.UTC(2029, 0, 1);
const SCAN_START = YEAR_START - 3 * 86_400_000;
const SCAN_END = YEAR_END + 3 * 86_400_000;

/** UTC offset (minutes) of a zone at an instant, from Intl. */
function offsetAt(t: number, fmt: Intl.DateTimeFormat): number {
  const p = Object.fromEntries(fmt.formatToParts(new Date(t)).map((x) => [x.type, x.value]));
  const local = Date.UTC(+p.year!, +p.month! - 1, +p.day!, +p.hour! % 24, +p.minute!);
  return Math.round((local - Math.floor(t / MIN) * MIN) / MIN);
}

interface Local {
  key: string;
  minute: number;
  hour: number;
  dom: number;
  month: number;
  dow: number;
  abs: number; // local wall-clock minutes since epoch
}

const localCache = new Map<string, Local[]>();
function locals(tz: string): Local[] {
  const hit = localCache.get(tz);
  if (hit) return hit;
  const fmt = new Intl.DateTimeFormat('en-US', {
    timeZone: tz,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
  });
  const out: Local[] = [];
  let off = 0;
  for (let t = SCAN_START; t < SCAN_END; t += MIN) {
    // Offsets in these zones change only on quarter hours.
    if ((t / MIN) % 15 === 0) off = offsetAt(t, fmt);
    const l = new Date(t + off * MIN);
    out.push({
      key: l.toISOString().slice(0, 16),
      minute: l.getUTCMinutes(),
      hour: l.getUTCHours(),
      dom: l.getUTCDate(),
      month: l.getUTCMonth() + 1,
      dow: l.getUTCDay(),
      abs: (t + off * MIN) / MIN,
    });
  }
  localCache.set(tz, out);
  return out;
}

/** A small cron field matcher for the oracle: *, n, a-b, a,b, *\/n. */
function field(spec: string, min: number, max: number): Set<number> {
  const out = new Set<number>();
  for (const part of spec.split(',')) {
    const [range, step] = part.split('/');
    let lo = min;
    let hi = max;
    if (range !== '*') {
      const [a, b] = range!.split('-');
      lo = Number(a);
      hi = b === undefined ? (step ? max : lo) : Number(b);
    }
    for (let v = lo; v <= hi; v += Number(step ?? 1)) out.add(v === 7 && max === 7 ? 0 : v);
  }
  return out;
}

function oracleStarts(schedule: string, tz: string): number[] {
  const [mi, h, dom, mon, dow] = schedule.split(/\s+/) as [string, string, string, string, string];
  const M = field(mi, 0, 59);
  const H = field(h, 0, 23);
  const DOM = field(dom, 1, 31);
  const MON = field(mon, 1, 12);
  const DOW = field(dow, 0, 7);
  // Vixie: a field "is *" when its text starts with '*'; then both day fields must match, else either.
  const daysAnd = dom.startsWith('*') || dow.startsWith('*');
  const wildHour = mi.startsWith('*') || h.startsWith('*');
  const dayOk = (l: { dom: number; month: number; dow: number }) =>
    MON.has(l.month) && (daysAnd ? DOM.has(l.dom) && DOW.has(l.dow) : DOM.has(l.dom) || DOW.has(l.dow));
  const matches = (l: Omit<Local, 'key' | 'abs'>) => M.has(l.minute) && H.has(l.hour) && dayOk(l);
  const ls = locals(tz);
  const starts: number[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < ls.length; i++) {
    const l = ls[i]!;
    const t = SCAN_START + i * MIN;
    if (i > 0 && !wildHour) {
      // Spring forward: local times skipped between the previous minute and this one start now (fixed-hour jobs).
      for (let a = ls[i - 1]!.abs + 1; a < l.abs; a++) {
        const d = new Date(a * MIN);
        const skipped = {
          minute: d.getUTCMinutes(),
          hour: d.getUTCHours(),
          dom: d.getUTCDate(),
          month: d.getUTCMonth() + 1,
          dow: d.getUTCDay(),
        };
        if (matches(skipped)) {
          starts.push(t);
          break;
        }
      }
    }
    if (!matches(l)) continue;
    if (!wildHour) {
      // Fall back: a fixed-hour job runs at the first occurrence of its local time only.
      if (seen.has(l.key)) continue;
      seen.add(l.key);
    }
    if (starts[starts.length - 1] !== t) starts.push(t);
  }
  return starts;
}

function oracleActive(starts: number[], durationMs: number, exclusions: Interval[]): Uint8Array {
  const n = (YEAR_END - YEAR_START) / MIN;
  const active = new Uint8Array(n);
  for (const s of starts) {
    for (let t = Math.max(s, YEAR_START); t < Math.min(s + durationMs, YEAR_END); t += MIN)
      active[(t - YEAR_START) / MIN] = 1;
  }
  for (const x of exclusions) {
    for (let t = Math.max(x.start, YEAR_START); t < Math.min(x.end, YEAR_END); t += MIN)
      active[(t - YEAR_START) / MIN] = 0;
  }
  return active;
}

function engineActive(s: Schedule): Uint8Array {
  const n = (YEAR_END - YEAR_START) / MIN;
  const active = new Uint8Array(n);
  let w = s.currentWindow(YEAR_START) ?? s.nextWindow(YEAR_START);
  let guard = 0;
  while (w && w.start < YEAR_END && guard++ < 100_000) {
    for (let t = Math.max(w.start, YEAR_START); t < Math.min(w.end, YEAR_END); t += MIN)
      active[(t - YEAR_START) / MIN] = 1;
    // A window that never closes is reported up to the merge horizon: continue from there.
    w = w.openEnd ? s.currentWindow(w.end) : s.nextWindow(w.end - 1);
  }
  return active;
}

function firstDiff(a: Uint8Array, b: Uint8Array): string | undefined {
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i])
      return `${new Date(YEAR_START + i * MIN).toISOString()}: oracle ${a[i]}, engine ${b[i]}`;
  }
  return undefined;
}

/** The run of equal values around index i: [first, end) in minutes from YEAR_START. */
function runAround(a: Uint8Array, i: number): [number, number] {
  let lo = i;
  while (lo > 0 && a[lo - 1] === a[i]) lo--;
  let hi = i;
  while (hi < a.length && a[hi] === a[i]) hi++;
  return [lo, hi];
}

/** Besides active minute by minute: each window's reported start and end, and the next window's start. */
function checkBounds(s: Schedule, oracle: Uint8Array, probes: number[]): void {
  const at = (i: number) => new Date(YEAR_START + i * MIN).toISOString();
  for (const i of probes) {
    const t = YEAR_START + i * MIN + 30_000;
    const [lo, hi] = runAround(oracle, i);
    if (oracle[i] === 1) {
      const w = s.currentWindow(t)!;
      if (w.openStart) {
        if (lo > 0)
          expect(lo * MIN, `window at ${at(i)} began before its start`).toBeLessThanOrEqual(
            w.start - YEAR_START,
          );
      } else if (lo > 0)
        expect(at((w.start - YEAR_START) / MIN), `start of the window at ${at(i)}`).toBe(at(lo));
      if (w.openEnd)
        expect(hi * MIN, `window at ${at(i)} is open past its end`).toBeGreaterThanOrEqual(
          w.end - YEAR_START,
        );
      else if (hi < oracle.length)
        expect(at((w.end - YEAR_START) / MIN), `end of the window at ${at(i)}`).toBe(at(hi));
    }
    // The next window: the first rising edge after t.
    let r = oracle[i] === 1 ? hi : lo;
    if (oracle[i] === 1) {
      while (r < oracle.length && oracle[r] === 0) r++;
    } else r = hi;
    const next = s.nextWindow(t);
    if (r < oracle.length && !(oracle[i] === 1 && hi === oracle.length)) {
      expect(next && at((next.start - YEAR_START) / MIN), `next window after ${at(i)}`).toBe(at(r));
    }
  }
}

const ZONES = [
  'Europe/Berlin',
  'America/New_York',
  'Australia/Lord_Howe',
  'Pacific/Chatham',
  'Asia/Kolkata',
  'UTC',
];
const CASES: Array<{ schedule: string; hours: number; note: string }> = [
  { schedule: '30 2 * * *', hours: 2, note: 'daily inside the DST hour (gap in spring, overlap in fall)' },
  { schedule: '0 22 * * 1-5', hours: 4, note: 'weeknights crossing midnight' },
  { schedule: '15 * * * *', hours: 0.5, note: 'hourly: follows the wall clock through both transitions' },
  { schedule: '0 3 29 2 *', hours: 6, note: 'leap day' },
  { schedule: '0 23 31 * *', hours: 3, note: 'month ends (only months with a 31st)' },
  { schedule: '0 1 * * 0', hours: 30, note: 'weekly, 30 h: longer than a day' },
  { schedule: '0 0,2 * * *', hours: 3, note: 'overlapping starts merge forward' },
  { schedule: '0 21,23 * * *', hours: 3, note: 'overlap across midnight' },
  { schedule: '30 2,14 * * *', hours: 0.5, note: 'a list in the hour field is fixed-time across DST' },
  { schedule: '0 1-3 * * *', hours: 0.5, note: 'a range in the hour field is fixed-time across DST' },
  { schedule: '45 1-3 * * *', hours: 0.25, note: "around Chatham's 02:45 change" },
  { schedule: '*/20 2 * * *', hours: 0.25, note: 'a stepped minute wildcard follows the wall clock' },
  { schedule: '0 0 */2 * 1', hours: 5, note: 'day-of-month starting with *: both day fields must match' },
  { schedule: '0 4 1,15 * 5', hours: 2, note: 'both day fields restricted: either may match' },
  { schedule: '0 */4 * * *', hours: 5, note: 'never closes' },
  { schedule: '0 12 * * *', hours: 25, note: 'never closes (longer than the period)' },
];

describe('schedule engine vs a brute-force oracle, minute by minute over 2028', () => {
  for (const tz of ZONES) {
    for (const c of CASES) {
      it(`${tz}: "${c.schedule}" for ${c.hours} h (${c.note})`, () => {
        const durationMs = c.hours * 3_600_000;
        const exclusions = [
          { start: Date.UTC(2028, 11, 20), end: Date.UTC(2029, 0, 2), reason: 'holiday freeze' },
          { start: Date.UTC(2028, 5, 1, 12, 7), end: Date.UTC(2028, 5, 3, 1, 0), reason: 'odd cut' },
        ];
        const s = new Schedule({ schedule: c.schedule, durationMs, timeZone: tz, exclusions });
        const oracle = oracleActive(oracleStarts(c.schedule, tz), durationMs, exclusions);
        expect(oracle.some((v) => v === 1)).toBe(true);
        const engine = engineActive(s);
        expect(firstDiff(oracle, engine)).toBeUndefined();
        // isActive and currentWindow agree with the oracle at sampled minutes and around every boundary.
        const probes: number[] = [];
        for (let i = 0; i < oracle.length; i += 997) probes.push(i);
        for (let i = 1; i < oracle.length; i++) if (oracle[i] !== oracle[i - 1]) probes.push(i - 1, i);
        for (const i of probes.slice(0, 3000)) {
          // At the first millisecond of the minute (window ends are exclusive) and in its middle.
          for (const t of [YEAR_START + i * MIN, YEAR_START + i * MIN + 30_000]) {
            expect(s.isActive(t), new Date(t).toISOString()).toBe(oracle[i] === 1);
          }
        }
        checkBounds(s, oracle, probes.filter((_, k) => k % 3 === 0).slice(0, 600));
      });
    }
  }
});
