// The schedule engine of a MaintenanceWindow: a pure function of (schedule, duration, time zone, exclusions)
// and an instant. A window is [start, start + duration) for every start the cron schedule gives in the time
// zone; overlapping windows merge; exclusions are cut out.
//
// Cron semantics are croner's, which follow Vixie cron across DST: a fixed-time schedule whose local time
// falls in a spring-forward gap starts at the end of the gap, and one whose local time occurs twice in a
// fall-back overlap starts only at the first; a wildcard-hour schedule simply follows the wall clock (skipped
// minutes do not run, repeated ones run twice). croner is kept small and current, handles IANA zones through
// Intl, and parses the 5-field syntax plus the @daily-style macros (why croner: ARCHITECTURE.md).
import { Cron } from 'croner';

export interface Interval {
  start: number;
  end: number;
}

export interface Exclusion extends Interval {
  reason?: string;
}

export interface ScheduleSpec {
  schedule: string;
  durationMs: number;
  timeZone: string;
  exclusions?: Exclusion[];
}

export class ScheduleError extends Error {
  override name = 'ScheduleError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

const MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

/**
 * Max merge steps when walking overlapping windows; beyond it a window counts as "at least this long". Bounds the
 * CPU an always-open chain costs (each step is a cron look-up in the zone, ~0.2 ms): 200 steps ≈ 50 ms, paid once
 * per window boundary (evaluate.ts caches), not per pass. 2,000 cost 0.4–0.85 s per evaluation.
 */
const MAX_STEPS = 200;
/** How far nextWindow looks ahead. */
export const LOOKAHEAD_MS = 2 * 366 * 24 * 3600 * 1000;

const zoneValidity = new Map<string, boolean>();

export function isValidTimeZone(tz: string): boolean {
  let ok = zoneValidity.get(tz);
  if (ok === undefined) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz });
      ok = true;
    } catch {
      ok = false;
    }
    if (zoneValidity.size < 1000) zoneValidity.set(tz, ok);
  }
  return ok;
}

export function expandMacro(schedule: string): string {
  const s = schedule.trim();
  return MACROS[s.toLowerCase()] ?? s;
}

export class Schedule {
  private readonly cron: Cron;
  readonly exclusions: Exclusion[];

  constructor(readonly spec: ScheduleSpec) {
    if (!isValidTimeZone(spec.timeZone)) {
      throw new ScheduleError(
        'spec.timeZone',
        `"${spec.timeZone}" is not an IANA time zone (e.g. Europe/Berlin, UTC)`,
      );
    }
    const pattern = expandMacro(spec.schedule);
    if (pattern.startsWith('@')) {
      throw new ScheduleError(
        'spec.schedule',
        `unknown macro "${spec.schedule}"; use ${Object.keys(MACROS).join(', ')}`,
      );
    }
    try {
      this.cron = new Cron(pattern, { timezone: spec.timeZone, mode: '5-part', paused: true });
    } catch (err) {
      throw new ScheduleError(
        'spec.schedule',
        `"${spec.schedule}" is not a 5-field cron schedule (minute hour day-of-month month day-of-week): ${(err as Error).message}`,
      );
    }
    if (!(spec.durationMs > 0)) throw new ScheduleError('spec.duration', 'must be longer than 0');
    this.exclusions = [...(spec.exclusions ?? [])].sort((a, b) => a.start - b.start);
    for (const [i, e] of this.exclusions.entries()) {
      if (!(e.end > e.start)) throw new ScheduleError(`spec.exclusions[${i}]`, 'end must be after start');
    }
  }

  /** The latest window start at or before t. */
  private startAtOrBefore(t: number): number | undefined {
    // previousRuns counts runs earlier in the same second as the reference; step one second past t.
    const runs = this.cron.previousRuns(1, new Date(Math.floor(t / 1000) * 1000 + 1000));
    const s = runs[0]?.getTime();
    if (s !== undefined && s <= t) return s;
    const more = this.cron.previousRuns(2, new Date(Math.floor(t / 1000) * 1000 + 1000));
    return more.find((d) => d.getTime() <= t)?.getTime();
  }

  private startAfter(t: number): number | undefined {
    return this.cron.nextRun(new Date(t))?.getTime();
  }

  /** The merged raw window (exclusions not yet cut out) that contains t, if any. */
  private rawWindowAt(t: number): Interval | undefined {
    const d = this.spec.durationMs;
    const s = this.startAtOrBefore(t);
    if (s === undefined || t >= s + d) return undefined;
    let start = s;
    for (let i = 0; i < MAX_STEPS; i++) {
      const prev = this.startAtOrBefore(start - 1);
      if (prev === undefined || prev + d < start) break;
      start = prev;
    }
    return { start, end: this.mergeForward(s + d) };
  }

  private mergeForward(end: number): number {
    let e = end;
    for (let i = 0; i < MAX_STEPS; i++) {
      const next = this.startAfter(e - 1);
      if (next === undefined || next > e) break;
      e = Math.max(e, next + this.spec.durationMs);
    }
    return e;
  }

  /** Cuts the exclusions out of one interval. */
  private cut(w: Interval): Interval[] {
    let pieces: Interval[] = [w];
    for (const x of this.exclusions) {
      if (x.end <= w.start || x.start >= w.end) continue;
      pieces = pieces.flatMap((p) => {
        if (x.end <= p.start || x.start >= p.end) return [p];
        const out: Interval[] = [];
        if (x.start > p.start) out.push({ start: p.start, end: x.start });
        if (x.end < p.end) out.push({ start: x.end, end: p.end });
        return out;
      });
    }
    return pieces;
  }

  /** The exclusion covering t, if any (for status and reasons). */
  exclusionAt(t: number): Exclusion | undefined {
    return this.exclusions.find((x) => x.start <= t && t < x.end);
  }

  isActive(t: number): boolean {
    return this.currentWindow(t) !== undefined;
  }

  /** The active interval containing t (exclusions cut out), or undefined. */
  currentWindow(t: number): Interval | undefined {
    const raw = this.rawWindowAt(t);
    if (!raw) return undefined;
    return this.cut(raw).find((p) => p.start <= t && t < p.end);
  }

  /** The next active interval that starts after t (exclusions cut out), within LOOKAHEAD_MS. */
  nextWindow(t: number): Interval | undefined {
    // The rest of the current raw window may hold a later piece (after an exclusion).
    const raw = this.rawWindowAt(t);
    if (raw) {
      const later = this.cut(raw).find((p) => p.start > t);
      if (later) return later;
    }
    let from = raw ? raw.end - 1 : t;
    for (let i = 0; i < MAX_STEPS; i++) {
      const s = this.startAfter(from);
      if (s === undefined || s - t > LOOKAHEAD_MS) return undefined;
      const w = { start: s, end: this.mergeForward(s + this.spec.durationMs) };
      const piece = this.cut(w).find((p) => p.start > t);
      if (piece) return piece;
      from = w.end - 1;
    }
    return undefined;
  }
}
