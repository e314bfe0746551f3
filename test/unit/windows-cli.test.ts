// `kreboot windows --next N`: the next intervals of each window from the engine, exclusions cut out, in the window's
// zone (DST shown) and in UTC; broken and suspended windows said so.
import { describe, expect, it } from 'vitest';
import { shortOutput } from '../../operator/cli/output.ts';
import { renderWindows, windowRows } from '../../operator/cli/windows.ts';

const mw = (name: string, spec: Record<string, unknown>) => ({ metadata: { name }, spec });
const now = Date.parse('2027-03-26T12:00:00Z'); // Friday before the spring change in Europe

describe('kreboot windows', () => {
  it('next intervals in the zone and in UTC, across a DST change, with an exclusion cut out', () => {
    const rows = windowRows(
      [
        mw('nights', {
          schedule: '0 22 * * *',
          duration: '6h',
          timeZone: 'Europe/Berlin',
          exclusions: [{ start: '2027-03-27T21:00:00Z', end: '2027-03-28T23:59:00Z', reason: 'release' }],
        }),
      ],
      now,
      3,
    );
    expect(rows[0]!.upcoming.map((u) => [u.startLocal, u.endLocal, u.start, u.end])).toEqual([
      [
        'Fri 2027-03-26 22:00 CET',
        'Sat 2027-03-27 04:00 CET',
        '2027-03-26T21:00:00.000Z',
        '2027-03-27T03:00:00.000Z',
      ],
      // Saturday's night is excluded; Sunday's (22:00 CEST, after the change) is left from the exclusion's end.
      [
        'Mon 2027-03-29 01:59 CEST',
        'Mon 2027-03-29 04:00 CEST',
        '2027-03-28T23:59:00.000Z',
        '2027-03-29T02:00:00.000Z',
      ],
      [
        'Mon 2027-03-29 22:00 CEST',
        'Tue 2027-03-30 04:00 CEST',
        '2027-03-29T20:00:00.000Z',
        '2027-03-30T02:00:00.000Z',
      ],
    ]);
    const text = renderWindows(rows);
    expect(text.split('\n')[0]).toMatch(
      /^WINDOW\s+ZONE\s+FROM \(ZONE\)\s+TO \(ZONE\)\s+FROM \(UTC\)\s+TO \(UTC\)\s+NOTE$/,
    );
    expect(text).toContain(
      'nights  Europe/Berlin  Fri 2027-03-26 22:00 CET   Sat 2027-03-27 04:00 CET   2027-03-26T21:00Z',
    );
  });

  it('the current interval first; a window that never closes ends the list; invalid and suspended said so', () => {
    const rows = windowRows(
      [
        mw('always', { schedule: '0 */4 * * *', duration: '5h', timeZone: 'UTC' }),
        mw('broken', { schedule: '0 22 L * *', duration: '1h', timeZone: 'UTC' }),
        mw('frozen', { schedule: '0 12 * * *', duration: '1h', timeZone: 'UTC', suspend: true }),
      ],
      now,
      3,
    );
    expect(rows[0]!.upcoming).toHaveLength(1);
    expect(rows[0]!.upcoming[0]).toMatchObject({ openEnd: true });
    expect(rows[1]!.error).toMatch(/^spec\.schedule: /);
    expect(rows[2]!.upcoming[0]!.start).toBe('2027-03-26T12:00:00.000Z');
    const text = renderWindows(rows);
    expect(text).toMatch(/always .*\(open beyond\)/);
    expect(text).toMatch(/broken .* invalid: spec\.schedule: /);
    expect(text).toMatch(/frozen .* suspended: opens nothing/);
    expect(renderWindows([])).toBe("no MaintenanceWindow (the controller's --default-window decides)\n");
  });

  it("reads kubectl's -o forms", () => {
    expect(shortOutput(['-o', 'json', '-oyaml', '-o=wide', '--next', '2'])).toEqual([
      '--output=json',
      '--output=yaml',
      '--output=wide',
      '--next',
      '2',
    ]);
  });
});
