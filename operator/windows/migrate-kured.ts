// kured's time flags (used by `kreboot migrate-kured`, operator/cli/migrate-kured.ts): the MaintenanceWindow equivalent
// (--reboot-days, --start-time, --end-time, --time-zone), open at the same wall-clock times as kured's, DST
// nights included.
import { ConfigError } from '../config/options.ts';
import { MaintenanceWindowResource } from '../protocol.ts';
import { isValidTimeZone } from './schedule.ts';
import { zone, zoneProblem } from './zone.ts';

const DAYS: Record<string, number> = { su: 0, mo: 1, tu: 2, we: 3, th: 4, fr: 5, sa: 6 };

function parseDay(d: string): number {
  const k = d.trim().toLowerCase().slice(0, 2);
  const n = DAYS[k];
  if (n === undefined)
    throw new ConfigError([`--reboot-days: "${d}" is not a day; write e.g. mon,tue or sunday`]);
  return n;
}

/** kured accepts "3am", "15:04", "3:04pm", "15:04:05". Returns minutes after midnight. */
export function parseKuredTime(flag: string, s: string): number {
  const m = /^(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?\s*(am|pm)?$/i.exec(s.trim());
  if (!m) throw new ConfigError([`${flag}: "${s}" is not a time; write e.g. 3am, 03:00 or 23:30`]);
  let h = Number(m[1]);
  const min = Number(m[2] ?? 0);
  const ampm = m[4]?.toLowerCase();
  if (ampm) {
    if (h < 1 || h > 12) throw new ConfigError([`${flag}: "${s}": hours run 1-12 with am/pm`]);
    h = (h % 12) + (ampm === 'pm' ? 12 : 0);
  }
  if (h > 23 || min > 59) throw new ConfigError([`${flag}: "${s}" is out of range`]);
  return h * 60 + min;
}

export interface KuredWindow {
  days: number[];
  start: number;
  end: number;
  timeZone: string;
}

export function parseKuredFlags(argv: string[]): KuredWindow {
  const v: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m) continue;
    const value = m[2] ?? argv[++i];
    if (value !== undefined) v[m[1]!] = value;
  }
  const days = (v['reboot-days'] ?? 'su,mo,tu,we,th,fr,sa').split(',').filter(Boolean).map(parseDay);
  const start = parseKuredTime('--start-time', v['start-time'] ?? '0:00');
  const end = parseKuredTime('--end-time', v['end-time'] ?? '23:59:59');
  const timeZone = v['time-zone'] ?? 'UTC';
  if (timeZone !== 'Local' && !isValidTimeZone(timeZone))
    throw new ConfigError([`--time-zone: ${zoneProblem(timeZone)}`]);
  return {
    days: [...new Set(days)].sort((a, b) => a - b),
    start,
    end,
    timeZone: timeZone === 'Local' ? 'UTC' : timeZone,
  };
}

export interface Migration {
  objects: Array<Record<string, unknown>>;
  /** What the output cannot say by itself: printed as YAML comments. */
  notes: string[];
}

/**
 * kured's window (pkg/timewindow): open when the local weekday is a reboot day and the local wall-clock time of
 * day is in [start, end] — or, when start is after end, in [00:00, end] or [start, 24:00) — compared on the wall
 * clock, so a DST night has a window an hour longer or shorter than usual. The equivalent here is a wall-clock
 * schedule of one-minute windows that merge: "* 22-23,0-3 * * 1-5" for 1m (a minute field starting with * runs
 * by the wall clock). Hours the window covers only in part need a minute list (a fixed-time schedule), one
 * object each; those match kured exactly unless a DST change falls inside that very hour (then a note says so).
 */
export function toMaintenanceWindows(k: KuredWindow, name = 'kured-migrated'): Migration {
  // kured's end is inclusive to its second; 23:59(:59) is the end of the day. Minute resolution otherwise.
  const end = k.end === 23 * 60 + 59 ? 24 * 60 : k.end;
  if (end === k.start) {
    throw new ConfigError([
      `--start-time and --end-time are equal (${fmt(k.start)}): kured's window would be open for one second a day; widen it`,
    ]);
  }
  const open = new Array<boolean>(24 * 60).fill(false);
  const mark = (a: number, b: number) => {
    for (let m = a; m < b; m++) open[m] = true;
  };
  if (k.start < end) mark(k.start, end);
  else {
    mark(0, end);
    mark(k.start, 24 * 60);
  }
  const days = k.days.length === 7 ? '*' : k.days.join(',');
  if (open.every(Boolean) && days === '*') {
    return {
      objects: [],
      notes: [
        "kured's window is always open: kreboot needs no MaintenanceWindow (its --default-window=always is the default).",
      ],
    };
  }
  // Hours fully open share one wall-clock schedule; each distinct partial minute set gets its own.
  const full: number[] = [];
  const partial = new Map<string, number[]>();
  for (let h = 0; h < 24; h++) {
    const mins = open.slice(h * 60, h * 60 + 60);
    if (mins.every(Boolean)) full.push(h);
    else if (mins.some(Boolean)) {
      const key = ranges(mins.flatMap((v, i) => (v ? [i] : [])));
      partial.set(key, [...(partial.get(key) ?? []), h]);
    }
  }
  const api = `${MaintenanceWindowResource.group}/${MaintenanceWindowResource.version}`;
  const object = (suffix: string, schedule: string) => ({
    apiVersion: api,
    kind: MaintenanceWindowResource.kind,
    metadata: {
      name: `${name}${suffix}`,
      labels: { 'app.kubernetes.io/created-by': 'kreboot-migrate-kured' },
    },
    spec: { schedule, duration: '1m', timeZone: k.timeZone },
  });
  const objects: Array<Record<string, unknown>> = [];
  if (full.length > 0) objects.push(object('', `* ${ranges(full)} * * ${days}`));
  const notes: string[] = [
    `kured's window ${fmt(k.start)}-${fmt(end)} on ${days === '*' ? 'every day' : `days ${days}`} (${k.timeZone}), as ${objects.length + partial.size} MaintenanceWindow object(s) of one-minute windows that merge; the same wall-clock hours on DST nights as kured.`,
  ];
  for (const [minutes, hours] of partial) {
    objects.push(
      object(
        `-${hours.map((h) => String(h).padStart(2, '0')).join('-')}h`,
        `${minutes} ${ranges(hours)} * * ${days}`,
      ),
    );
    const shifted = dstHours(k.timeZone).filter((h) => hours.includes(h));
    if (shifted.length > 0) {
      notes.push(
        `${k.timeZone} changes its clocks during ${shifted.map((h) => `${String(h).padStart(2, '0')}:xx`).join(', ')}, which the window covers only in part: on those two nights a year that hour follows Vixie cron's fixed-time rule (a skipped minute starts at the end of the gap, a repeated one once), while kured follows the wall clock — a difference of at most that hour's part.`,
      );
    }
  }
  return { objects, notes };
}

const fmt = (m: number) =>
  `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;

/** Sorted values as a cron list of ranges: [0,1,2,3,22,23] → "0-3,22-23". */
function ranges(values: number[]): string {
  const out: string[] = [];
  for (let i = 0; i < values.length; ) {
    let j = i;
    while (j + 1 < values.length && values[j + 1] === values[j]! + 1) j++;
    out.push(j === i ? `${values[i]}` : `${values[i]}-${values[j]}`);
    i = j + 1;
  }
  return out.join(',');
}

/** Local hours whose wall-clock times a clock change skips or repeats, over the next two years. */
function dstHours(timeZone: string): number[] {
  const z = zone(timeZone);
  const now = Date.now();
  const hours = new Set<number>();
  for (const tr of z.transitionsBetween(now, now + 2 * 366 * 86_400_000)) {
    const lo = tr.at + Math.min(tr.before, tr.after);
    const hi = tr.at + Math.max(tr.before, tr.after);
    for (let w = lo; w < hi; w += 60_000) hours.add(new Date(w).getUTCHours());
  }
  return [...hours];
}
