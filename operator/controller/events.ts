// events.k8s.io/v1 Events about a Node, so `kubectl describe node` and `kubectl events` show each step.
import type { Logger } from 'pino';
import type { NodeView } from '../domain/node.ts';
import type { KubeHttp } from '../kube/http.ts';
import { microTime } from '../kube/time.ts';

export interface Regarding {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  /** Namespaced objects (the lock Lease): the Event goes to their namespace. */
  namespace?: string;
}

export interface EventSink {
  emit(
    node: Pick<NodeView, 'name' | 'uid'> & { bootId?: string },
    type: 'Normal' | 'Warning',
    reason: string,
    note: string,
  ): void;
  emitFor(regarding: Regarding, type: 'Normal' | 'Warning', reason: string, note: string): void;
}

export interface EventQueueOptions {
  /** Events written per second at most, after a burst of `burst`. */
  perSecond?: number;
  burst?: number;
  /** The same Event (object, type, reason, note) is written once per this window (default 60 s). */
  dedupMs?: number;
  /** Events waiting for the rate limit; past this they are dropped. */
  maxQueued?: number;
  onDrop?: (why: 'duplicate' | 'rate') => void;
  now?: () => number;
}

/**
 * Events through a small queue: duplicates within `dedupMs` (60 s) are dropped (a stuck node must not write the same
 * Event every pass), and writes are rate limited (a token bucket), so no burst of Events can crowd the API server
 * or the controller's own requests. Writing is fire-and-forget: a failed write is logged, never retried.
 */
export class ApiEventSink implements EventSink {
  private readonly sent = new Map<string, number>();
  private readonly queue: Array<{ regarding: Regarding; type: string; reason: string; note: string }> = [];
  private tokens: number;
  private refilledAt: number;
  private timer: NodeJS.Timeout | undefined;
  private readonly o: Required<Omit<EventQueueOptions, 'onDrop'>> & Pick<EventQueueOptions, 'onDrop'>;

  constructor(
    private readonly http: KubeHttp,
    private readonly instance: string,
    private readonly log: Logger,
    opts: EventQueueOptions = {},
  ) {
    this.o = { perSecond: 5, burst: 25, dedupMs: 60_000, maxQueued: 100, now: Date.now, ...opts };
    this.tokens = this.o.burst;
    this.refilledAt = this.o.now();
  }

  emit(
    node: Pick<NodeView, 'name' | 'uid'> & { bootId?: string },
    type: 'Normal' | 'Warning',
    reason: string,
    note: string,
  ): void {
    // The node's boot is part of what makes an Event a duplicate: the same step of the next reboot (a minute
    // later, in a new boot) is news, a retried step in the same boot is not.
    this.emitFor(
      { apiVersion: 'v1', kind: 'Node', name: node.name, uid: node.uid },
      type,
      reason,
      note,
      node.bootId,
    );
  }

  emitFor(regarding: Regarding, type: 'Normal' | 'Warning', reason: string, note: string, epoch = ''): void {
    const now = this.o.now();
    const key = `${regarding.kind}/${regarding.name}/${epoch}/${type}/${reason}/${note}`;
    const last = this.sent.get(key);
    if (last !== undefined && now - last < this.o.dedupMs) {
      this.o.onDrop?.('duplicate');
      return;
    }
    this.sent.set(key, now);
    if (this.sent.size > 10_000)
      for (const [k, t] of this.sent) if (now - t >= this.o.dedupMs) this.sent.delete(k);
    if (this.queue.length >= this.o.maxQueued) {
      this.o.onDrop?.('rate');
      return;
    }
    this.queue.push({ regarding, type, reason, note });
    this.drain();
  }

  /** Events still waiting for the rate limit. */
  get queued(): number {
    return this.queue.length;
  }

  private drain(): void {
    const now = this.o.now();
    this.tokens = Math.min(this.o.burst, this.tokens + ((now - this.refilledAt) / 1000) * this.o.perSecond);
    this.refilledAt = now;
    while (this.queue.length && this.tokens >= 1) {
      this.tokens -= 1;
      const e = this.queue.shift()!;
      this.write(e.regarding, e.type, e.reason, e.note);
    }
    if (this.queue.length && !this.timer) {
      this.timer = setTimeout(
        () => {
          this.timer = undefined;
          this.drain();
        },
        Math.ceil(1000 / this.o.perSecond),
      );
      this.timer.unref();
    }
  }

  private write(regarding: Regarding, type: string, reason: string, note: string): void {
    const now = new Date(this.o.now());
    const body = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      // Node events live in "default", where kubectl describe node looks for them.
      metadata: { generateName: `${regarding.name}.kreboot-`, namespace: regarding.namespace ?? 'default' },
      eventTime: microTime(now),
      reportingController: 'kreboot.io/controller',
      reportingInstance: this.instance,
      action: reason,
      reason,
      type,
      note: note.slice(0, 1024),
      regarding,
    };
    this.http
      .request(`/apis/events.k8s.io/v1/namespaces/${regarding.namespace ?? 'default'}/events`, {
        method: 'POST',
        body,
        timeoutMs: 10_000,
      })
      .catch((err: Error) =>
        this.log.warn(
          { node: regarding.name, reason: 'event-failed', err: err.message },
          'could not record event',
        ),
      );
  }
}
