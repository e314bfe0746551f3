import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { classify, RetryPolicy } from '../../operator/kube/errors.ts';
import { ApiError, retryAfterMs } from '../../operator/kube/http.ts';

const api = (status: number, after?: number) => new ApiError(status, 'R', 'm', after);

describe('error classes and their retry policy', () => {
  it('classifies by status', () => {
    expect(classify(api(409))).toBe('conflict');
    for (const s of [400, 403, 404, 422]) expect(classify(api(s))).toBe('rejected');
    for (const s of [429, 500, 503]) expect(classify(api(s))).toBe('throttled');
    expect(classify(new Error('ECONNRESET'))).toBe('network');
  });

  it('a conflict re-plans at once; a rejection backs off 1 s doubling to 5 min; a success starts over', () => {
    const p = new RetryPolicy(() => 0);
    expect(p.delayMs(api(409))).toBe(0);
    expect([1, 2, 3, 4].map(() => p.delayMs(api(422)))).toEqual([1000, 2000, 4000, 8000]);
    for (let i = 0; i < 20; i++) p.delayMs(api(403));
    expect(p.delayMs(api(403))).toBe(300_000);
    p.reset();
    expect(p.delayMs(api(422))).toBe(1000);
  });

  it('a 429 waits at least its Retry-After; jitter stays within 20%', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 120 }),
        fc.double({ min: 0, max: 0.999, noNaN: true }),
        (secs, r) => {
          const p = new RetryPolicy(() => r);
          const d = p.delayMs(api(429, secs * 1000));
          expect(d).toBeGreaterThanOrEqual(secs * 1000);
          expect(d).toBeLessThanOrEqual(Math.max(secs * 1000, 1200));
        },
      ),
    );
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    expect(retryAfterMs('7')).toBe(7000);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4000)).toBe(6000);
    expect(retryAfterMs('soon')).toBeUndefined();
    expect(retryAfterMs(undefined)).toBeUndefined();
  });
});
