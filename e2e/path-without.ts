// A PATH on which some programs of /usr/bin are missing (as on a machine that never installed them): a directory
// of links to everything else in /usr/bin stands in for /usr/bin and /bin (one directory on Debian's merged /usr).
import { mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function pathWithout(hidden: string[]): { PATH: string; remove: () => void } {
  const bin = mkdtempSync(join(tmpdir(), 'kreboot-path-'));
  for (const f of readdirSync('/usr/bin'))
    if (!hidden.includes(f)) symlinkSync(join('/usr/bin', f), join(bin, f));
  const PATH = (process.env.PATH ?? '')
    .split(':')
    .map((d) => (d === '/usr/bin' || d === '/bin' ? bin : d))
    .join(':');
  return { PATH, remove: () => rmSync(bin, { recursive: true, force: true }) };
}

/** Debian's Prometheus packages' programs: the demo and the tests must not need them. */
export const DEBIAN_PROMETHEUS = ['prometheus', 'promtool', 'prometheus-alertmanager'];
