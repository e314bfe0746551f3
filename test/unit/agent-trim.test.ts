import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { scheduleTrim, trimmableRanges } from '../../operator/agent/trim.ts';

const silent = pino({ level: 'silent' });

describe('trimmableRanges (which mappings the agent pages out)', () => {
  it('keeps read-only file mappings and nothing writable, anonymous or special', () => {
    const maps = [
      '00400000-00746000 r--p 00000000 fe:00 5324814                            /usr/local/bin/node',
      '0074a000-03044000 r-xp 0034a000 fe:00 5324814                            /usr/local/bin/node',
      '06b51000-06b6a000 rw-p 06751000 fe:00 5324814                            /usr/local/bin/node',
      '3d2ad000-3d4f6000 rw-p 00000000 00:00 0                                  [heap]',
      '7fd5bf42e000-7fd5bf53e000 rw-p 00000000 00:00 0 ',
      '7fd5bf564000-7fd5bf6ba000 r-xp 00026000 fe:00 326269                     /usr/lib/x86_64-linux-gnu/libc.so.6',
      '7fd5bf700000-7fd5bf701000 rw-s 00000000 00:05 1234                       /dev/shm/x',
      '7fd5bf800000-7fd5bf801000 r--s 00000000 00:05 1234                       /memfd:v8 (deleted)',
      '7fd5bf900000-7fd5bf901000 r--p 00000000 fe:00 99                         /app/trim.node (deleted)',
      '7ffc1b5f1000-7ffc1b612000 rw-p 00000000 00:00 0                          [stack]',
      '7ffc1b7f6000-7ffc1b7f8000 r-xp 00000000 00:00 0                          [vdso]',
      'ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]',
      '',
    ].join('\n');
    expect(trimmableRanges(maps)).toEqual([
      { start: 0x400000, length: 0x746000 - 0x400000, path: '/usr/local/bin/node' },
      { start: 0x74a000, length: 0x3044000 - 0x74a000, path: '/usr/local/bin/node' },
      { start: 0x7fd5bf564000, length: 0x156000, path: '/usr/lib/x86_64-linux-gnu/libc.so.6' },
      { start: 0x7fd5bf800000, length: 0x1000, path: '/memfd:v8' },
      { start: 0x7fd5bf900000, length: 0x1000, path: '/app/trim.node' },
    ]);
  });

  it("reads this process's own maps: its executable is there, every range page-aligned and non-empty", () => {
    const ranges = trimmableRanges(readFileSync('/proc/self/maps', 'utf8'));
    expect(ranges.some((r) => r.path === process.execPath)).toBe(true);
    for (const r of ranges) {
      expect(r.start % 4096).toBe(0);
      expect(r.length % 4096).toBe(0);
      expect(r.length).toBeGreaterThan(0);
    }
  });

  it('property: a mapping is trimmed exactly when it has a path and is not writable; ranges come back exact', () => {
    const line = fc.record({
      start: fc.integer({ min: 1, max: 2 ** 35 }).map((p) => p * 4096),
      pages: fc.integer({ min: 1, max: 100_000 }),
      r: fc.constantFrom('r', '-'),
      w: fc.constantFrom('w', '-'),
      x: fc.constantFrom('x', '-'),
      p: fc.constantFrom('p', 's'),
      path: fc.constantFrom('', '/usr/bin/node', '/lib/libc.so.6', '[heap]', '[vdso]', '/a b/with space'),
    });
    fc.assert(
      fc.property(fc.array(line, { maxLength: 30 }), (lines) => {
        const text = lines
          .map(
            (l) =>
              `${l.start.toString(16)}-${(l.start + l.pages * 4096).toString(16)} ${l.r}${l.w}${l.x}${l.p} 00000000 fe:00 42      ${l.path}`,
          )
          .join('\n');
        const want = lines
          .filter((l) => l.w === '-' && l.path.startsWith('/'))
          .map((l) => ({ start: l.start, length: l.pages * 4096, path: l.path }));
        expect(trimmableRanges(text)).toEqual(want);
      }),
    );
  });

  it('names a line that is not a mapping instead of guessing', () => {
    expect(() => trimmableRanges('hello world')).toThrow(/unexpected line "hello world"/);
    expect(() => trimmableRanges('2000-1000 r--p 00000000 fe:00 1 /x')).toThrow(/bad range/);
  });
});

describe('scheduleTrim (when the agent trims)', () => {
  afterEach(() => vi.useRealTimers());

  it('trims once, only after the agent has been ready for the whole delay, and never again', async () => {
    vi.useFakeTimers();
    let ready = false;
    const calls: Array<[number, number]> = [];
    const advices: number[] = [];
    const madvise = (start: number, length: number, advice: number) => {
      advices.push(advice);
      if (advice === 21) calls.push([start, length]);
      return 0;
    };
    const cancel = scheduleTrim({
      afterMs: 10_000,
      ready: () => ready,
      native: { madvise, noHugePages: () => 0 },
      log: silent,
    });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(calls).toEqual([]); // never ready: never trimmed
    ready = true;
    await vi.advanceTimersByTimeAsync(10_000);
    ready = false; // readiness lost before the delay ran out: the clock starts again
    await vi.advanceTimersByTimeAsync(10_000);
    expect(calls).toEqual([]);
    ready = true;
    await vi.advanceTimersByTimeAsync(25_000);
    vi.useRealTimers();
    await vi.waitFor(() => expect(calls.length).toBeGreaterThan(0));
    const n = calls.length;
    expect(n).toBe(trimmableRanges(readFileSync('/proc/self/maps', 'utf8')).length);
    // Each range is marked MADV_RANDOM (1) just before it is paged out (21).
    expect(advices.length).toBe(2 * n);
    for (let i = 0; i < n; i++) expect([advices[2 * i], advices[2 * i + 1]]).toEqual([1, 21]);
    vi.useFakeTimers();
    await vi.advanceTimersByTimeAsync(600_000);
    expect(calls.length).toBe(n);
    cancel();
  });

  it('a failing pageout (a kernel without MADV_PAGEOUT) is logged with its errno and does not throw', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const log = pino({ level: 'info' }, { write: (s: string) => lines.push(JSON.parse(s)) });
    scheduleTrim({ afterMs: 1, ready: () => true, native: { madvise: () => 22, noHugePages: () => 0 }, log });
    await vi.waitFor(() => expect(lines.length).toBe(1));
    expect(lines[0]).toMatchObject({ phase: 'trim', msg: 'memory trim failed', level: 40 });
    expect(Object.keys(lines[0]!.errnos as object)).toEqual(['22']);
  });
});
