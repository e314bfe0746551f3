// What an API error means, and what to do about it: one retry policy per class.
//   conflict    409: someone wrote in between; re-plan at once (the next pass reads fresh state).
//   rejected    400/403/404/422 (and other 4xx): retrying the same call gives the same answer; say so (the API's
//               message, a metric, an Event), back off 1 s doubling to 5 min.
//   throttled   429, and 5xx: the server asks us to wait; honour Retry-After, else back off 1 s doubling to 60 s,
//               with jitter.
//   network     no HTTP answer (refused, reset, TLS, deadline): reconnect, 0.5 s doubling to 30 s, with jitter.
import { ApiError } from './http.ts';

export type ErrorClass = 'conflict' | 'rejected' | 'throttled' | 'network';

export function classify(err: unknown): ErrorClass {
  if (!(err instanceof ApiError)) return 'network';
  if (err.status === 409) return 'conflict';
  if (err.status === 429 || err.status >= 500) return 'throttled';
  return 'rejected';
}

const LIMITS: Record<ErrorClass, { first: number; max: number; jitter: boolean }> = {
  conflict: { first: 0, max: 0, jitter: false },
  rejected: { first: 1000, max: 300_000, jitter: false },
  throttled: { first: 1000, max: 60_000, jitter: true },
  network: { first: 500, max: 30_000, jitter: true },
};

/**
 * Consecutive failures of one class back off; a success (`reset`) or a failure of another class starts over.
 * `random` is injectable so tests can pin the jitter.
 */
export class RetryPolicy {
  private last: ErrorClass | undefined;
  private streak = 0;

  constructor(private readonly random: () => number = Math.random) {}

  /** How long to wait before trying again after `err`. */
  delayMs(err: unknown): number {
    const c = classify(err);
    this.streak = c === this.last ? this.streak + 1 : 1;
    this.last = c;
    const l = LIMITS[c];
    let ms = Math.min(l.max, l.first * 2 ** (this.streak - 1));
    if (l.jitter) ms += ms * 0.2 * this.random();
    const after = err instanceof ApiError ? err.retryAfterMs : undefined;
    if (c === 'throttled' && after !== undefined) ms = Math.max(ms, after);
    return Math.round(ms);
  }

  reset(): void {
    this.last = undefined;
    this.streak = 0;
  }
}

/** The API's own words for a log line or an Event: "HTTP 422 Invalid: …". */
export function describeApiError(err: unknown): string {
  if (err instanceof ApiError) return `HTTP ${err.status} ${err.reason}: ${err.message}`.slice(0, 600);
  return (err as Error)?.message ?? String(err);
}
