// `kreboot migrate-kured -- <kured flags>`: the MaintenanceWindow equivalent of kured's time flags
// (--reboot-days, --start-time, --end-time, --time-zone). Windows crossing midnight become a longer duration.
import { stringify } from 'yaml';
import { ConfigError } from '../config/options.ts';
import { MaintenanceWindowResource } from '../protocol.ts';
import { isValidTimeZone } from './schedule.ts';

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
  if (!isValidTimeZone(timeZone))
    throw new ConfigError([`--time-zone: "${timeZone}" is not an IANA time zone`]);
  return {
    days: [...new Set(days)].sort((a, b) => a - b),
    start,
    end,
    timeZone: timeZone === 'Local' ? 'UTC' : timeZone,
  };
}

export function toMaintenanceWindow(k: KuredWindow, name = 'kured-migrated'): Record<string, unknown> {
  // kured's end time is inclusive to the minute when it is 23:59:59; a window that ends at or before its start
  // crosses midnight.
  let minutes = k.end - k.start;
  if (k.end === 23 * 60 + 59) minutes += 1;
  if (minutes <= 0) minutes += 24 * 60;
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  const everyDay = k.days.length === 7;
  return {
    apiVersion: `${MaintenanceWindowResource.group}/${MaintenanceWindowResource.version}`,
    kind: MaintenanceWindowResource.kind,
    metadata: { name },
    spec: {
      schedule: `${k.start % 60} ${Math.floor(k.start / 60)} * * ${everyDay ? '*' : k.days.join(',')}`,
      duration: `${h ? `${h}h` : ''}${m ? `${m}m` : ''}`,
      timeZone: k.timeZone,
    },
  };
}

export async function runMigrateKured(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(
      "Usage: kreboot migrate-kured -- --reboot-days=mon,tue --start-time=22:00 --end-time=04:00 --time-zone=Europe/Berlin\n\nPrints the MaintenanceWindow equivalent of kured's time flags.\n",
    );
    return 0;
  }
  const args = argv[0] === '--' ? argv.slice(1) : argv;
  process.stdout.write(stringify(toMaintenanceWindow(parseKuredFlags(args))));
  return 0;
}
