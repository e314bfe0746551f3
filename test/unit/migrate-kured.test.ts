// kreboot migrate-kured against kured's own window rule, minute by minute over DST nights: the generated
// MaintenanceWindows are open exactly when kured's window is (kured: pkg/timewindow Contains — the local
// weekday is a reboot day and the local wall-clock time of day is in [start, end], or outside (end, start) when
// start is after end).
import { describe, expect, it } from 'vitest';
import { parseKuredFlags, toMaintenanceWindows } from '../../operator/windows/migrate-kured.ts';
import { Schedule } from '../../operator/windows/schedule.ts';

const MIN = 60_000;

/** kured's rule, at minute resolution (its end second itself is not counted). */
const formats = new Map<string, Intl.DateTimeFormat>();
function kuredOpen(flags: ReturnType<typeof parseKuredFlags>, t: number): boolean {
  // One formatter per zone: building one per minute was most of this test's time (over 5 s on a loaded machine).
  let f = formats.get(flags.timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: flags.timeZone,
      hourCycle: 'h23',
      weekday: 'short',
      hour: 'numeric',
      minute: 'numeric',
    });
    formats.set(flags.timeZone, f);
  }
  const p = Object.fromEntries(f.formatToParts(t).map((x) => [x.type, x.value]));
  const day = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'].indexOf(p.weekday!);
  if (!flags.days.includes(day)) return false;
  const m = Number(p.hour) * 60 + Number(p.minute);
  const end = flags.end === 23 * 60 + 59 ? 24 * 60 : flags.end;
  return flags.start < end ? m >= flags.start && m < end : m >= flags.start || m < end;
}

function engineOpen(schedules: Schedule[], t: number): boolean {
  return schedules.some((s) => s.isActive(t));
}

/** Minutes (ISO) in [from, to) where the two disagree. */
function differences(argv: string[], from: string, to: string): { diffs: string[]; notes: string[] } {
  const flags = parseKuredFlags(argv);
  const { objects, notes } = toMaintenanceWindows(flags);
  const schedules = objects.map((o) => {
    const spec = o.spec as { schedule: string; duration: string; timeZone: string };
    expect(spec.duration).toBe('1m');
    return new Schedule({ schedule: spec.schedule, durationMs: MIN, timeZone: spec.timeZone });
  });
  const diffs: string[] = [];
  for (let t = Date.parse(from); t < Date.parse(to); t += MIN) {
    if (kuredOpen(flags, t) !== engineOpen(schedules, t)) diffs.push(new Date(t).toISOString());
  }
  return { diffs, notes };
}

// Each range spans both DST nights of 2027 in its zone (a few days around each).
const NIGHTS: Record<string, Array<[string, string]>> = {
  'Europe/Berlin': [
    ['2027-03-26T00:00:00Z', '2027-03-30T00:00:00Z'],
    ['2027-10-29T00:00:00Z', '2027-11-02T00:00:00Z'],
  ],
  'America/New_York': [
    ['2027-03-12T00:00:00Z', '2027-03-16T00:00:00Z'],
    ['2027-11-05T00:00:00Z', '2027-11-09T00:00:00Z'],
  ],
  'Australia/Lord_Howe': [
    ['2027-04-02T00:00:00Z', '2027-04-06T00:00:00Z'],
    ['2027-10-01T00:00:00Z', '2027-10-05T00:00:00Z'],
  ],
};

describe('migrate-kured: open exactly when kured is, DST nights included', () => {
  const configs: Array<{ argv: string[]; note: string }> = [
    {
      argv: ['--reboot-days=mon,tue,fri', '--start-time=22:00', '--end-time=4am'],
      note: 'across midnight, whole hours',
    },
    { argv: ['--start-time=22:30', '--end-time=04:15'], note: 'across midnight, partial hours' },
    {
      argv: ['--reboot-days=sat,sun', '--start-time=1am', '--end-time=5am'],
      note: 'weekend nights over the DST hour',
    },
    {
      argv: ['--start-time=9:30am', '--end-time=17:00', '--reboot-days=mo,tu,we,th,fr'],
      note: 'office hours',
    },
    { argv: ['--reboot-days=sun'], note: 'whole days (kured defaults for the times)' },
  ];
  for (const [tz, nights] of Object.entries(NIGHTS)) {
    for (const c of configs) {
      it(`${tz}: ${c.argv.join(' ')} (${c.note})`, () => {
        for (const [from, to] of nights) {
          const { diffs } = differences([...c.argv, `--time-zone=${tz}`], from, to);
          expect(diffs.slice(0, 5), `${from}…${to}`).toEqual([]);
        }
      });
    }
  }

  it('a partial hour that contains the clock change differs from kured only there, and the output says so', () => {
    const argv = ['--start-time=01:30', '--end-time=02:45', '--time-zone=Europe/Berlin'];
    const { diffs, notes } = differences(argv, '2027-10-30T00:00:00Z', '2027-11-01T00:00:00Z');
    // 02:00–02:44 CET (the repeated hour, 01:00–01:44Z): kured is open again, a fixed-time minute list is not.
    expect(diffs.length).toBe(45);
    expect(diffs[0]).toBe('2027-10-31T01:00:00.000Z');
    expect(notes.join(' ')).toMatch(/changes its clocks during 02:xx/);
  });

  it("kured's defaults need no window; equal start and end are refused", () => {
    const all = toMaintenanceWindows(parseKuredFlags([]));
    expect(all.objects).toEqual([]);
    expect(all.notes[0]).toMatch(/always open/);
    expect(() => toMaintenanceWindows(parseKuredFlags(['--start-time=3am', '--end-time=3am']))).toThrow(
      /equal/,
    );
  });
});
