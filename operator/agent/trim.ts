// The agent's memory trim: once the agent has settled, ask the kernel to reclaim the pages of its executable and
// libraries that only start-up touched (madvise MADV_RANDOM + MADV_PAGEOUT through native/trim.c). An idle agent keeps ~44 MiB
// of the `node` binary resident otherwise, more than kured's whole agent; what the idle loop needs faults back in.
// Only read-only file mappings are trimmed: their pages are the file's own, so reclaiming them loses nothing.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { Logger } from 'pino';
import { type Resident, residentFromStatus } from '../util/proc-status.ts';

/** One mapping of /proc/self/maps that may be trimmed. */
export interface MappedRange {
  start: number;
  length: number;
  path: string;
}

const MAPS_LINE = /^([0-9a-f]+)-([0-9a-f]+) ([-r][-w][-x][ps]) [0-9a-f]+ \S+ \d+\s*(.*)$/;

/**
 * The mappings worth trimming, from the text of /proc/PID/maps: backed by a file (a path, not [heap], [stack],
 * [vdso] or an anonymous mapping) and not writable (a private writable mapping may hold this process's own
 * changes; a shared one, someone else's). Lines that are not mappings are an error: the format is the kernel's.
 */
export function trimmableRanges(maps: string): MappedRange[] {
  const out: MappedRange[] = [];
  for (const line of maps.split('\n')) {
    if (line === '') continue;
    const m = MAPS_LINE.exec(line);
    if (!m) throw new Error(`/proc/self/maps: unexpected line ${JSON.stringify(line)}`);
    const [, from, to, perms, path = ''] = m;
    if (perms![1] === 'w' || !path.startsWith('/')) continue;
    const start = Number.parseInt(from!, 16);
    const end = Number.parseInt(to!, 16);
    if (!(end > start) || !Number.isSafeInteger(end)) {
      throw new Error(`/proc/self/maps: bad range in ${JSON.stringify(line)}`);
    }
    out.push({ start, length: end - start, path: path.replace(/ \(deleted\)$/, '') });
  }
  return out;
}

/** The native binding's file name, next to the bundle's entry (scripts/build.mjs writes it). */
export const TRIM_BINDING = 'trim.node';

/** madvise(2) on this process, as native/trim.c allows it: 0, or the errno. */
export type Madvise = (start: number, length: number, advice: number) => number;

/** The advice trim.c accepts (Linux's values). */
export const MADV = { normal: 0, random: 1, pageout: 21 } as const;

/** What native/trim.c exports. */
export interface TrimNative {
  madvise: Madvise;
  /** prctl(PR_SET_THP_DISABLE) for this process: 0, or the errno. */
  noHugePages: () => number;
}

/** The native binding built next to the bundle (dist/trim.node), or why there is none. */
export function loadTrimNative(file: string): { native: TrimNative } | { why: string } {
  if (!existsSync(file)) {
    return { why: `${file} is missing (npm run build compiles it with a C compiler; see the Dockerfile)` };
  }
  try {
    const mod = createRequire(import.meta.url)(file) as Partial<Record<keyof TrimNative, unknown>>;
    if (typeof mod.madvise !== 'function' || typeof mod.noHugePages !== 'function') {
      return { why: `${file} lacks madvise or noHugePages (built from another version of trim.c?)` };
    }
    return { native: mod as TrimNative };
  } catch (err) {
    return { why: `${file} cannot be loaded: ${(err as Error).message}` };
  }
}

export interface TrimResult {
  ranges: number;
  before: Resident;
  after: Resident;
  /** errno → how many ranges failed with it (EINVAL: a kernel before 5.4 without MADV_PAGEOUT). */
  errors: Record<number, number>;
}

/**
 * One trim of this process: every trimmable mapping is marked MADV_RANDOM and paged out. A page the idle loop
 * needs later then faults back in alone, without the read-around and fault-around neighbours that otherwise made
 * the idle set grow back to 20 MiB of the executable instead of 17 (BENCHMARKS.md, "The agent's memory").
 */
export async function trimOnce(native: TrimNative): Promise<TrimResult> {
  const before = residentFromStatus(await readFile('/proc/self/status', 'utf8'));
  const ranges = trimmableRanges(await readFile('/proc/self/maps', 'utf8'));
  const errors: Record<number, number> = {};
  for (const r of ranges) {
    native.madvise(r.start, r.length, MADV.random);
    const rc = native.madvise(r.start, r.length, MADV.pageout);
    if (rc !== 0) errors[rc] = (errors[rc] ?? 0) + 1;
  }
  const after = residentFromStatus(await readFile('/proc/self/status', 'utf8'));
  return { ranges: ranges.length, before, after, errors };
}

const MiB = (b: number) => Math.round((b / 1048576) * 10) / 10;

/**
 * Trims once, when `ready()` has held for `afterMs` (checked every second, or every `afterMs` if shorter): start-up
 * is over by then and the agent is waiting on its watch. Returns a cancel function. A failure is logged and never
 * stops the agent.
 */
export function scheduleTrim(opts: {
  afterMs: number;
  ready: () => boolean;
  native: TrimNative;
  log: Logger;
}): () => void {
  let timer: NodeJS.Timeout | undefined;
  let readySince: number | undefined;
  const tick = () => {
    const now = Date.now();
    if (!opts.ready()) readySince = undefined;
    else readySince ??= now;
    if (readySince === undefined || now - readySince < opts.afterMs) {
      const poll = Math.min(opts.afterMs, 1000);
      timer = setTimeout(
        tick,
        readySince === undefined ? poll : Math.min(poll, opts.afterMs - (now - readySince)),
      );
      timer.unref();
      return;
    }
    trimOnce(opts.native).then(
      (r) => {
        const failed = Object.values(r.errors).reduce((a, b) => a + b, 0);
        const fields = {
          phase: 'trim',
          reason: failed === r.ranges ? 'madvise(MADV_PAGEOUT) refused for every mapping' : 'settled',
          ranges: r.ranges,
          rssMiB: [MiB(r.before.rssBytes), MiB(r.after.rssBytes)],
          fileMiB: [MiB(r.before.rssFileBytes), MiB(r.after.rssFileBytes)],
          anonMiB: [MiB(r.before.rssAnonBytes), MiB(r.after.rssAnonBytes)],
          ...(failed ? { errnos: r.errors } : {}),
        };
        if (failed === r.ranges && failed > 0) opts.log.warn(fields, 'memory trim failed');
        else opts.log.info(fields, 'memory trimmed');
      },
      (err: Error) => opts.log.warn({ phase: 'trim', reason: err.message }, 'memory trim failed'),
    );
  };
  timer = setTimeout(tick, 0);
  timer.unref();
  return () => clearTimeout(timer);
}
