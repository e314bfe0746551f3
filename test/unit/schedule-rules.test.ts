// The documented window rules, one example each (README "Maintenance windows"): every case of issue #14 as it
// was reported, with the answer the documentation gives.
import { describe, expect, it } from 'vitest';
import { viewOf } from '../../operator/domain/node.ts';
import { CronError, parseCron } from '../../operator/windows/cron.ts';
import { desiredStatus, evaluateWindow, WindowIndex, windowGate } from '../../operator/windows/evaluate.ts';
import { type Interval, Schedule, ScheduleError } from '../../operator/windows/schedule.ts';
import { zoneProblem } from '../../operator/windows/zone.ts';

const H = 3_600_000;
const iso = (t: number | undefined) => (t === undefined ? undefined : new Date(t).toISOString());
const span = (w: Interval | undefined) => w && `${iso(w.start)} – ${iso(w.end)}`;
const sched = (schedule: string, hours: number, timeZone = 'UTC', exclusions: Interval[] = []) =>
  new Schedule({ schedule, durationMs: hours * H, timeZone, exclusions });
/** Every window start in [from, to), from nextWindow. */
function starts(s: Schedule, from: string, to: string): string[] {
  const out: string[] = [];
  let w = s.nextWindow(Date.parse(from) - 1);
  while (w && w.start < Date.parse(to)) {
    out.push(iso(w.start)!);
    w = s.nextWindow(w.start);
  }
  return out;
}

describe('overlapping windows merge', () => {
  it('"0 0,2 * * *" for 3h: at 00:00–01:59 the window ends at 05:00, not 03:00', () => {
    const s = sched('0 0,2 * * *', 3);
    for (const t of ['2027-01-10T00:00:00Z', '2027-01-10T01:59:30Z', '2027-01-10T04:59:00Z']) {
      expect(span(s.currentWindow(Date.parse(t))), t).toBe(
        '2027-01-10T00:00:00.000Z – 2027-01-10T05:00:00.000Z',
      );
    }
  });

  it('"0 0,2 * * *" for 2h10m with a 15-minute end margin: the gate stays open at 01:55–01:59', () => {
    const w = {
      metadata: { name: 'w', generation: 1 },
      spec: { schedule: '0 0,2 * * *', duration: '2h10m' },
    };
    const n = viewOf({ metadata: { name: 'a', labels: {} }, status: {} });
    for (const t of ['2027-01-10T01:55:00Z', '2027-01-10T01:59:59Z', '2027-01-10T03:50:00Z']) {
      const now = Date.parse(t);
      const ev = evaluateWindow(w, now);
      expect(iso(ev.current?.end)).toBe('2027-01-10T04:10:00.000Z');
      const gate = windowGate(
        new WindowIndex([ev]),
        { defaultWindow: 'never', endMarginMs: H / 4, selector: '' },
        now,
      );
      expect(gate(n), t).toBeUndefined();
    }
    // …and closes inside the margin of the merged end.
    const late = Date.parse('2027-01-10T04:00:00Z');
    const gate = windowGate(
      new WindowIndex([evaluateWindow(w, late)]),
      { defaultWindow: 'never', endMarginMs: H / 4, selector: '' },
      late,
    );
    expect(gate(n)).toMatch(/closes at 2027-01-10T04:10:00.000Z, within the end margin/);
  });

  it('"0 21,23 * * *" for 3h in Berlin with an exclusion 01:00–01:30: ends at 01:00, then 01:30–02:00 tonight', () => {
    const x = {
      start: Date.parse('2027-01-11T01:00:00+01:00'),
      end: Date.parse('2027-01-11T01:30:00+01:00'),
    };
    const s = sched('0 21,23 * * *', 3, 'Europe/Berlin', [x]);
    for (const t of ['2027-01-10T21:00:00+01:00', '2027-01-10T22:59:00+01:00']) {
      expect(span(s.currentWindow(Date.parse(t)))).toBe(
        '2027-01-10T20:00:00.000Z – 2027-01-11T00:00:00.000Z',
      );
      expect(span(s.nextWindow(Date.parse(t)))).toBe('2027-01-11T00:30:00.000Z – 2027-01-11T01:00:00.000Z');
    }
  });

  it('windows that never close say so instead of ending a few hours away', () => {
    for (const [cron, hours] of [
      ['0 */4 * * *', 5],
      ['0 12 * * *', 25],
    ] as const) {
      const now = Date.parse('2027-01-10T13:00:00Z');
      const w = sched(cron, hours).currentWindow(now)!;
      expect(w.openEnd, cron).toBe(true);
      expect(w.end - now, cron).toBeGreaterThan(34 * 24 * H);
      const ev = evaluateWindow(
        { metadata: { name: 'w' }, spec: { schedule: cron, duration: `${hours}h` } },
        now,
      );
      const status = desiredStatus(
        { metadata: { name: 'w' } },
        ev,
        new WindowIndex([ev]),
        [],
        new Set(),
        now,
      );
      expect(status.conditions?.find((c) => c.type === 'Active')?.message).toMatch(
        /^open beyond .* does not close/,
      );
    }
  });
});

describe('DST: fixed-time unless the minute or hour field starts with *', () => {
  it('"30 2,14 * * *" for 30m in Berlin keeps its spring window (03:00 CEST) and gets no second one in autumn', () => {
    const s = sched('30 2,14 * * *', 0.5, 'Europe/Berlin');
    expect(starts(s, '2027-03-27T22:00:00Z', '2027-03-28T12:00:00Z')).toEqual(['2027-03-28T01:00:00.000Z']);
    expect(starts(s, '2027-10-30T22:00:00Z', '2027-10-31T12:00:00Z')).toEqual(['2027-10-31T00:30:00.000Z']);
  });

  it('"0 1-3 * * *" for 30m in Berlin: 01:00, 02:00 CEST and 03:00 CET on the autumn night, no 02:00 CET', () => {
    const s = sched('0 1-3 * * *', 0.5, 'Europe/Berlin');
    expect(starts(s, '2027-10-30T22:00:00Z', '2027-10-31T06:00:00Z')).toEqual([
      '2027-10-30T23:00:00.000Z',
      '2027-10-31T00:00:00.000Z',
      '2027-10-31T02:00:00.000Z',
    ]);
  });

  it('"*/30 2 * * *" (a wildcard minute) follows the wall clock: nothing in the spring gap, twice in autumn', () => {
    const s = sched('*/30 2 * * *', 0.25, 'Europe/Berlin');
    expect(starts(s, '2027-03-27T23:00:00Z', '2027-03-28T06:00:00Z')).toEqual([]);
    expect(starts(s, '2027-10-30T23:00:00Z', '2027-10-31T06:00:00Z')).toEqual([
      '2027-10-31T00:00:00.000Z',
      '2027-10-31T00:30:00.000Z',
      '2027-10-31T01:00:00.000Z',
      '2027-10-31T01:30:00.000Z',
    ]);
  });

  it('the field rule is read from the text: "*/2" is a wildcard, "0-59/2" is not', () => {
    expect(parseCron('*/2 3 * * *').wallClock).toBe(true);
    expect(parseCron('0-59/2 3 * * *').wallClock).toBe(false);
    expect(parseCron('0 */2 * * *').wallClock).toBe(true);
    expect(parseCron('@hourly').wallClock).toBe(true);
    expect(parseCron('@daily').wallClock).toBe(false);
  });
});

describe('day-of-month and day-of-week (Vixie, cronie)', () => {
  it('"0 0 */2 * 1": day-of-month starts with *, so both must match — Mondays on odd days', () => {
    const got = starts(sched('0 0 */2 * 1', 1), '2027-01-01T00:00:00Z', '2027-03-01T00:00:00Z');
    expect(got).toEqual([
      '2027-01-11T00:00:00.000Z',
      '2027-01-25T00:00:00.000Z',
      '2027-02-01T00:00:00.000Z',
      '2027-02-15T00:00:00.000Z',
    ]);
  });

  it('"0 0 1,15 * 1": both restricted, so either matches — the 1st, the 15th and every Monday', () => {
    const got = starts(sched('0 0 1,15 * 1', 1), '2027-02-01T00:00:00Z', '2027-03-01T00:00:00Z');
    expect(got).toEqual([
      '2027-02-01T00:00:00.000Z',
      '2027-02-08T00:00:00.000Z',
      '2027-02-15T00:00:00.000Z',
      '2027-02-22T00:00:00.000Z',
    ]);
  });
});

describe('horizon and validity', () => {
  it('"0 22 29 2 *": after the 2028-02-29 window the next is 2032-02-29, not "none"', () => {
    const s = sched('0 22 29 2 *', 1);
    expect(span(s.nextWindow(Date.parse('2028-02-29T23:30:00Z')))).toBe(
      '2032-02-29T22:00:00.000Z – 2032-02-29T23:00:00.000Z',
    );
  });

  it('"0 0 29 2 */7" (29 February on a Sunday): 2032, then 28 years later, 2060', () => {
    const s = sched('0 0 29 2 */7', 1);
    expect(iso(s.nextWindow(Date.parse('2027-01-01T00:00:00Z'))?.start)).toBe('2032-02-29T00:00:00.000Z');
    expect(iso(s.nextWindow(Date.parse('2032-03-01T00:00:00Z'))?.start)).toBe('2060-02-29T00:00:00.000Z');
  });

  it('schedules that can never fire are invalid, naming the field, and evaluate to Valid=False', () => {
    for (const cron of ['0 0 30 2 *', '0 0 31 4 *', '0 0 31 2,4,6 *']) {
      expect(() => sched(cron, 1), cron).toThrow(ScheduleError);
      expect(() => sched(cron, 1), cron).toThrow(
        /^spec\.schedule: .* never fires: no day it names exists in/,
      );
      const ev = evaluateWindow({ metadata: { name: 'w' }, spec: { schedule: cron, duration: '1h' } }, 0);
      expect(ev.valid).toBe(false);
      const st = desiredStatus({ metadata: { name: 'w' } }, ev, new WindowIndex([ev]), [], new Set(), 0);
      expect(st.conditions?.find((c) => c.type === 'Valid')).toMatchObject({ status: 'False' });
    }
    // Either-match days always fire: February has Mondays.
    expect(() => sched('0 0 30 2 1', 1)).not.toThrow();
    expect(() => sched('0 0 31 4,5 *', 1)).not.toThrow();
  });

  it('rejects what crontab(5) does not have, naming the field and the token', () => {
    const cases: Array<[string, RegExp]> = [
      ['0 22 L * *', /day-of-month field "L" uses a Quartz extension/],
      ['0 22 15W * *', /day-of-month field "15W" uses a Quartz extension/],
      ['0 22 * * 1#2', /day-of-week field "1#2" uses a Quartz extension/],
      ['0 22 ? * 1', /day-of-month field "\?" uses a Quartz extension/],
      ['0 0 2 * * *', /has 6 fields; a schedule has 5 .*without seconds or years/],
      ['75 2 * * *', /minute field "75": 75 is outside 0-59/],
      ['0 5-3 * * *', /hour field "5-3": the range 5-3 runs backwards/],
      ['@reboot', /unknown macro "@reboot"/],
    ];
    for (const [cron, why] of cases) {
      expect(() => parseCron(cron), cron).toThrow(CronError);
      expect(() => parseCron(cron), cron).toThrow(why);
    }
  });

  it('time zones: IANA names as spelled, and their links; not offsets, abbreviations or other spellings', () => {
    for (const ok of [
      'Europe/Berlin',
      'UTC',
      'America/Argentina/Buenos_Aires',
      'US/Pacific',
      'Asia/Calcutta',
    ])
      expect(zoneProblem(ok), ok).toBeUndefined();
    expect(zoneProblem('+05:30')).toMatch(/fixed offset.*"Asia\/Kolkata"/);
    expect(zoneProblem('CET')).toMatch(
      /is not a time zone name of the IANA tz database.*abbreviations \("CET"/,
    );
    expect(zoneProblem('europe/berlin')).toMatch(/write "Europe\/Berlin"/);
  });
});
