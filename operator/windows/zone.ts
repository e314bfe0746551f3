// Time zones for the schedule engine: which names are accepted, each zone's UTC offset and offset transitions
// (from Intl, i.e. the runtime's ICU tz data), and the map from a wall-clock minute to the instants that show it
// (none in a spring-forward gap, two in a fall-back overlap).
import { CANONICAL_ZONES, LINK_ZONES } from './zones.ts';

const MIN = 60_000;
const DAY = 86_400_000;

const ACCEPTED = new Set([...CANONICAL_ZONES, ...LINK_ZONES]);

export const ZONE_HELP =
  'a time zone name of the IANA tz database, exactly as spelled there (case-sensitive), such as "Europe/Berlin", "America/New_York" or "UTC"; its backward-compatible links such as "US/Pacific" are accepted too, fixed offsets ("+05:30") and abbreviations ("CET", "EST") are not';

/** Why name is not an accepted time zone, or undefined. */
export function zoneProblem(name: string): string | undefined {
  if (ACCEPTED.has(name)) return undefined;
  const folded = [...ACCEPTED].find((z) => z.toLowerCase() === name.toLowerCase());
  if (folded) return `"${name}" is not spelled as in the IANA tz database: write "${folded}"`;
  if (/^[+-]?\d/.test(name) || /^(GMT|UTC)[+-]/i.test(name))
    return `"${name}" is a fixed offset, not a time zone: write the zone whose clock you mean, such as "Asia/Kolkata" for +05:30`;
  return `"${name}" is not ${ZONE_HELP}`;
}

export interface Transition {
  /** The first instant (ms) with the new offset. */
  at: number;
  before: number;
  after: number;
}

export class Zone {
  private readonly fmt: Intl.DateTimeFormat;
  private readonly years = new Map<number, Transition[]>();
  /** The offset at the start of each year whose transitions are known. */
  private readonly yearOffsets = new Map<number, number>();

  constructor(readonly name: string) {
    this.fmt = new Intl.DateTimeFormat('en-US', { timeZone: name, timeZoneName: 'longOffset' });
  }

  /** Local time minus UTC, in ms: from the year's transitions once known (an Intl call costs microseconds). */
  offsetAt(t: number): number {
    const y = new Date(t).getUTCFullYear();
    const trs = this.years.get(y);
    if (!trs) return this.intlOffset(t);
    let off = this.yearOffsets.get(y)!;
    for (const tr of trs) {
      if (tr.at > t) break;
      off = tr.after;
    }
    return off;
  }

  private intlOffset(t: number): number {
    const part = this.fmt.formatToParts(t).find((p) => p.type === 'timeZoneName')?.value ?? 'GMT';
    const m = /GMT([+-])(\d{2}):(\d{2})/.exec(part);
    if (!m) return 0;
    return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) * MIN;
  }

  /** The wall clock at t, as ms with the local fields read as UTC. */
  wall(t: number): number {
    return t + this.offsetAt(t);
  }

  /**
   * The year's transitions, found by sampling every two days and bisecting to the minute. Real zones change at
   * most a few times a year and never twice within two days (Morocco's Ramadan changes are a month apart).
   */
  private transitionsOf(year: number): Transition[] {
    const hit = this.years.get(year);
    if (hit) return hit;
    const from = Date.UTC(year, 0, 1);
    const to = Date.UTC(year + 1, 0, 1);
    const out: Transition[] = [];
    let p = from - 2 * DAY;
    let po = this.intlOffset(p);
    while (p < to) {
      const q = p + 2 * DAY;
      const qo = this.intlOffset(q);
      if (qo !== po) {
        let lo = p;
        let hi = q;
        while (hi - lo > MIN) {
          const mid = Math.floor((lo + hi) / 2 / MIN) * MIN;
          if (this.intlOffset(mid) === po) lo = mid;
          else hi = mid;
        }
        if (hi >= from && hi < to) out.push({ at: hi, before: po, after: this.intlOffset(hi) });
      }
      p = q;
      po = qo;
    }
    if (this.years.size > 1000) {
      this.years.clear();
      this.yearOffsets.clear();
    }
    this.yearOffsets.set(year, this.intlOffset(from));
    this.years.set(year, out);
    return out;
  }

  /** Whether a transition falls in [from, to). */
  hasTransitionBetween(from: number, to: number): boolean {
    const y1 = new Date(to).getUTCFullYear();
    for (let y = new Date(from).getUTCFullYear(); y <= y1; y++) {
      for (const tr of this.transitionsOf(y)) if (tr.at >= from && tr.at < to) return true;
    }
    return false;
  }

  /** Transitions with from ≤ at < to, in order. */
  transitionsBetween(from: number, to: number): Transition[] {
    const out: Transition[] = [];
    const y1 = new Date(to).getUTCFullYear();
    for (let y = new Date(from).getUTCFullYear(); y <= y1; y++) {
      for (const tr of this.transitionsOf(y)) if (tr.at >= from && tr.at < to) out.push(tr);
    }
    return out;
  }

  /**
   * The instants whose wall clock reads w (a whole minute): one normally, two in a fall-back overlap (earlier
   * first), none in a spring-forward gap — then gapEnd is the transition that skipped it.
   */
  instants(w: number): { at: number[]; gapEnd?: number } {
    const guess = w - this.offsetAt(w);
    const trs = this.transitionsBetween(guess - DAY, guess + DAY);
    if (trs.length === 0) return { at: [w - this.offsetAt(guess)] };
    // Segments of constant offset around w: before the first transition, between, after the last.
    const at: number[] = [];
    for (let i = 0; i <= trs.length; i++) {
      const off = i < trs.length ? trs[i]!.before : trs[i - 1]!.after;
      const lo = i === 0 ? Number.NEGATIVE_INFINITY : trs[i - 1]!.at;
      const hi = i < trs.length ? trs[i]!.at : Number.POSITIVE_INFINITY;
      const t = w - off;
      if (t >= lo && t < hi) at.push(t);
    }
    if (at.length > 0) return { at: at.sort((a, b) => a - b) };
    const gap = trs.find((tr) => tr.after > tr.before && w - tr.before >= tr.at && w - tr.after < tr.at);
    return { at: [], gapEnd: gap?.at ?? trs[0]!.at };
  }
}

const zones = new Map<string, Zone>();

export function zone(name: string): Zone {
  let z = zones.get(name);
  if (!z) {
    z = new Zone(name);
    if (zones.size > 1000) zones.clear();
    zones.set(name, z);
  }
  return z;
}
