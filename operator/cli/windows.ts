// `kreboot windows [--next N]`: each MaintenanceWindow with its next N open intervals, exclusions cut out, in the
// window's own zone and in UTC, from the same engine the controller gates with (windows/evaluate.ts).
import { stringify } from 'yaml';
import { z } from 'zod';
import { helpText, type OptionSpecs, parseOptions } from '../config/options.ts';
import { ApiError } from '../kube/http.ts';
import { MaintenanceWindowResource } from '../protocol.ts';
import { clientOptions, connectClient } from '../runtime/client-connect.ts';
import { VERSION } from '../version.ts';
import { upcomingWindows, type WindowObject } from '../windows/evaluate.ts';
import type { Interval } from '../windows/schedule.ts';
import { CliHttp } from './http.ts';
import { outputOption, shortOutput } from './output.ts';

export const windowsOptions = {
  next: {
    flag: 'next',
    help: 'how many upcoming intervals to show per window (default 3)',
    schema: z.coerce.number().int().min(1).max(100).default(3),
    example: '5',
  },
  selector: {
    flag: 'selector',
    help: 'only MaintenanceWindows with these labels (default all)',
    schema: z.string().default(''),
    example: 'pool=general',
  },
  ...outputOption,
  ...clientOptions,
} satisfies OptionSpecs;

/** "2027-03-28 03:00 CEST" in the window's zone. */
export function localTime(t: number, timeZone: string): string {
  const p = Object.fromEntries(
    // en-GB names European zones' offsets (CET, CEST) where en-US writes GMT+1.
    new Intl.DateTimeFormat('en-GB', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
      timeZoneName: 'short',
    })
      .formatToParts(t)
      .map((x) => [x.type, x.value]),
  );
  return `${p.weekday} ${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute} ${p.timeZoneName}`;
}

const utc = (t: number) => `${new Date(t).toISOString().slice(0, 16)}Z`;

export interface WindowRow {
  name: string;
  timeZone?: string;
  suspended: boolean;
  error?: string;
  upcoming: Array<{ start: string; end: string; startLocal: string; endLocal: string; openEnd?: boolean }>;
}

export function windowRows(objs: WindowObject[], now: number, count: number): WindowRow[] {
  return [...objs]
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))
    .map((o) => {
      const suspended = (o.spec as { suspend?: boolean } | undefined)?.suspend === true;
      const u = upcomingWindows(o, now, count);
      if (!u.ok) return { name: o.metadata.name, suspended, error: u.why, upcoming: [] };
      return {
        name: o.metadata.name,
        timeZone: u.timeZone,
        suspended,
        upcoming: u.intervals.map((i: Interval) => ({
          start: new Date(i.start).toISOString(),
          end: new Date(i.end).toISOString(),
          startLocal: localTime(i.start, u.timeZone),
          endLocal: localTime(i.end, u.timeZone),
          ...(i.openEnd ? { openEnd: true } : {}),
        })),
      };
    });
}

export function renderWindows(rows: WindowRow[]): string {
  if (!rows.length) return "no MaintenanceWindow (the controller's --default-window decides)\n";
  const table: string[][] = [
    ['WINDOW', 'ZONE', 'FROM (ZONE)', 'TO (ZONE)', 'FROM (UTC)', 'TO (UTC)', 'NOTE'],
  ];
  for (const r of rows) {
    const note = r.error ? `invalid: ${r.error}` : r.suspended ? 'suspended: opens nothing' : '';
    if (!r.upcoming.length)
      table.push([r.name, r.timeZone ?? '', '-', '-', '-', '-', note || 'no upcoming window']);
    for (const [i, u] of r.upcoming.entries())
      table.push([
        i === 0 ? r.name : '',
        i === 0 ? (r.timeZone ?? '') : '',
        u.startLocal,
        u.openEnd ? `(open beyond) ${u.endLocal}` : u.endLocal,
        utc(Date.parse(u.start)),
        utc(Date.parse(u.end)),
        i === 0 ? note : '',
      ]);
  }
  const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
  return `${table
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')}\n`;
}

export async function runWindows(argv: string[]): Promise<number> {
  const { values: cfg, help } = parseOptions(windowsOptions, shortOutput(argv), process.env);
  if (help) {
    process.stdout.write(
      helpText(
        'windows',
        'Each MaintenanceWindow with its next open intervals (exclusions applied), in its zone and in UTC.',
        windowsOptions,
      ),
    );
    return 0;
  }
  const http = new CliHttp(await connectClient(cfg), `kreboot-cli/${VERSION}`);
  try {
    const r = MaintenanceWindowResource;
    const q = cfg.selector ? `?labelSelector=${encodeURIComponent(cfg.selector)}` : '';
    let objs: WindowObject[];
    try {
      objs = (await http.request<{ items: WindowObject[] }>(`/apis/${r.group}/${r.version}/${r.plural}${q}`))
        .items;
    } catch (err) {
      if (err instanceof ApiError && err.status === 404)
        throw new Error(`the MaintenanceWindow CRD is not installed (kubectl apply -k crds/)`);
      throw err;
    }
    const rows = windowRows(objs, Date.now(), cfg.next);
    if (cfg.output === 'json') process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    else if (cfg.output === 'yaml') process.stdout.write(stringify(rows));
    else process.stdout.write(renderWindows(rows));
    return 0;
  } finally {
    http.close();
  }
}
