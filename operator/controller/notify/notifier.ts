// Sending rollout notifications without ever holding up a rollout: `notify` only enqueues; each target has its own
// queue and one sender, so a receiver that hangs or fails delays nothing but its own later messages. Each send has
// a deadline; a 429, a 5xx or a network error is retried with exponential backoff (a few times, then dropped and
// counted); any other answer is final. URLs carry secrets (webhook tokens): logs name a target by its label only.
import type { Logger } from 'pino';
import { sleep } from '../../util/sleep.ts';
import { type RolloutEvent, requestFor, type Target } from './targets.ts';

export interface NotifierOptions {
  /** One request's deadline. */
  timeoutMs?: number;
  /** Attempts per message, the first included. */
  attempts?: number;
  /** The first retry's delay; each next one doubles (with jitter). */
  backoffMs?: number;
  /** Messages waiting per target; past it the oldest is dropped. */
  maxQueued?: number;
  template?: string;
  onResult?: (target: Target, result: 'sent' | 'failed' | 'dropped' | 'retried') => void;
  fetch?: typeof fetch;
}

interface Queue {
  target: Target;
  items: RolloutEvent[];
  busy: boolean;
}

export class Notifier {
  private readonly queues: Queue[];
  private readonly o: Required<Omit<NotifierOptions, 'template' | 'onResult'>> &
    Pick<NotifierOptions, 'template' | 'onResult'>;
  private closed = false;
  private readonly stop = new AbortController();

  constructor(
    targets: Target[],
    private readonly log: Logger,
    opts: NotifierOptions = {},
  ) {
    this.o = {
      timeoutMs: 10_000,
      attempts: 5,
      backoffMs: 1000,
      maxQueued: 100,
      fetch: globalThis.fetch,
      ...opts,
    };
    this.queues = targets.map((target) => ({ target, items: [], busy: false }));
  }

  get targets(): number {
    return this.queues.length;
  }

  /** Enqueues `e` for every target and returns at once. */
  notify(e: RolloutEvent): void {
    if (this.closed) return;
    for (const q of this.queues) {
      if (q.items.length >= this.o.maxQueued) {
        q.items.shift();
        this.o.onResult?.(q.target, 'dropped');
        this.log.warn(
          { reason: 'notify-dropped', target: q.target.label },
          'notification queue full: oldest dropped',
        );
      }
      q.items.push(e);
      if (!q.busy) void this.drain(q);
    }
  }

  /** Messages still waiting or being sent. */
  get pending(): number {
    return this.queues.reduce((n, q) => n + q.items.length + (q.busy ? 1 : 0), 0);
  }

  /** Stops sending: what is queued is dropped (shutdown must not wait on a receiver). */
  close(): void {
    this.closed = true;
    this.stop.abort();
  }

  private async drain(q: Queue): Promise<void> {
    q.busy = true;
    try {
      while (q.items.length && !this.closed) {
        const e = q.items.shift()!;
        await this.deliver(q.target, e);
      }
    } finally {
      q.busy = false;
    }
  }

  private async deliver(t: Target, e: RolloutEvent): Promise<void> {
    const req = requestFor(t, e, this.o.template);
    for (let attempt = 1; attempt <= this.o.attempts && !this.closed; attempt++) {
      let why: string;
      let retry: boolean;
      try {
        const res = await this.o.fetch(req.url, {
          method: 'POST',
          headers: req.headers,
          body: req.body,
          signal: AbortSignal.any([AbortSignal.timeout(this.o.timeoutMs), this.stop.signal]),
        });
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) {
          this.o.onResult?.(t, 'sent');
          return;
        }
        why = `HTTP ${res.status}`;
        retry = res.status === 429 || res.status >= 500;
      } catch (err) {
        why =
          (err as Error).name === 'TimeoutError'
            ? `no answer within ${this.o.timeoutMs / 1000}s`
            : (err as Error).message;
        retry = true;
      }
      if (!retry || attempt === this.o.attempts) {
        this.o.onResult?.(t, 'failed');
        this.log.warn(
          {
            reason: 'notify-failed',
            target: t.label,
            node: e.node,
            event: e.kind,
            attempts: attempt,
            err: why,
          },
          'notification not delivered',
        );
        return;
      }
      this.o.onResult?.(t, 'retried');
      const delay = this.o.backoffMs * 2 ** (attempt - 1) * (0.8 + Math.random() * 0.4);
      await sleep(delay, this.stop.signal);
    }
  }
}
