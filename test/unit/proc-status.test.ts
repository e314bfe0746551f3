import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { residentFromStatus } from '../../operator/util/proc-status.ts';

describe('residentFromStatus (the benches read agents and kured from /proc)', () => {
  it("reads this process's own status: anonymous and file-backed pages add up to its RSS (with shared memory)", () => {
    const text = readFileSync('/proc/self/status', 'utf8');
    const r = residentFromStatus(text);
    const shmem = Number(/^RssShmem:\s+(\d+) kB$/m.exec(text)![1]) * 1024;
    expect(r.rssAnonBytes).toBeGreaterThan(0);
    expect(r.rssFileBytes).toBeGreaterThan(0);
    expect(r.rssAnonBytes + r.rssFileBytes + shmem).toBe(r.rssBytes);
  });

  it('converts kB to bytes and names a missing line', () => {
    const text =
      'Name:\tkured\nVmRSS:\t   37232 kB\nRssAnon:\t    6800 kB\nRssFile:\t   30432 kB\nRssShmem:\t       0 kB\n';
    expect(residentFromStatus(text)).toEqual({
      rssBytes: 37232 * 1024,
      rssAnonBytes: 6800 * 1024,
      rssFileBytes: 30432 * 1024,
    });
    expect(() => residentFromStatus('VmRSS:\t1 kB\n')).toThrow(/no RssAnon line/);
  });
});
