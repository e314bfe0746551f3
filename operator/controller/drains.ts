// Drains in flight, one per node: started by the drain step, run in the background (evictions take as long as
// PDBs make them), polled by the step machine (`done`), aborted on timeout, abort, release or loss of leadership.
import type { Logger } from 'pino';
import { describeApiError, RetryPolicy } from '../kube/errors.ts';
import type { KubeHttp } from '../kube/http.ts';
import { Drainer } from './drain.ts';
import type { DrainPolicy, PodLike } from './drain-filters.ts';

interface DrainTask {
  ctl: AbortController;
  done: boolean;
  doneAt?: number;
  blockedBy?: string;
}

export class Drains {
  private readonly tasks = new Map<string, DrainTask>();
  private readonly failures = new Map<string, { policy: RetryPolicy; retryAt: number }>();
  private readonly drainer: Drainer;

  constructor(
    http: KubeHttp,
    policy: DrainPolicy,
    private readonly log: Logger,
    /** Called when a drain finishes or fails, so the next pass comes at once. */
    private readonly onSettled: () => void,
    /** The pods on a node from the controller's cache; without it each round LISTs them. */
    cached?: (node: string) => PodLike[],
  ) {
    this.drainer = new Drainer(http, policy, log, cached);
  }

  has(node: string): boolean {
    return this.tasks.has(node);
  }

  done(node: string): boolean {
    return this.tasks.get(node)?.done === true;
  }

  /** When the drain of `node` completed, if it has. */
  doneAt(node: string): number | undefined {
    return this.tasks.get(node)?.doneAt;
  }

  /** What the drain waits on (a PDB, a pod that will not leave), if anything. */
  blockedBy(node: string): string | undefined {
    return this.tasks.get(node)?.blockedBy;
  }

  /** Starts draining `node` unless a drain of it is running, or its last one failed and is backing off. */
  ensure(node: string, term: AbortSignal): void {
    if (this.tasks.has(node)) return;
    const backoff = this.failures.get(node);
    if (backoff && Date.now() < backoff.retryAt) return;
    const ctl = new AbortController();
    const task: DrainTask = { ctl, done: false };
    this.tasks.set(node, task);
    const signal = AbortSignal.any([term, ctl.signal]);
    this.drainer
      .drain(node, signal, (p) => {
        if (p.blockedBy !== task.blockedBy) {
          task.blockedBy = p.blockedBy;
          if (p.blockedBy) this.log.info({ node, phase: 'draining', reason: 'blocked' }, p.blockedBy);
        }
      })
      .then((ok) => {
        task.done = ok;
        if (ok) task.doneAt = Date.now();
        this.failures.delete(node);
        if (ok) this.onSettled();
      })
      .catch((err: Error) => {
        if (signal.aborted) return;
        // The same error class backs off (a 403 on evictions must not become a hot loop); see kube/errors.ts.
        const f = this.failures.get(node) ?? { policy: new RetryPolicy(), retryAt: 0 };
        const waitMs = f.policy.delayMs(err);
        f.retryAt = Date.now() + waitMs;
        this.failures.set(node, f);
        this.log.warn(
          { node, phase: 'draining', reason: 'drain-error', err: describeApiError(err), retryInMs: waitMs },
          'drain pass failed; retrying',
        );
        if (this.tasks.get(node) === task) this.tasks.delete(node);
        setTimeout(() => this.onSettled(), waitMs).unref();
      });
  }

  /** Stops and forgets the drain of `node` (if any). */
  stop(node: string): void {
    this.tasks.get(node)?.ctl.abort();
    this.tasks.delete(node);
    this.failures.delete(node);
  }

  stopAll(): void {
    for (const t of this.tasks.values()) t.ctl.abort();
    this.tasks.clear();
  }

  /** Force policy: deletes what is left on the node (names of the pods deleted). */
  forceDelete(node: string, term: AbortSignal): Promise<string[]> {
    return this.drainer.forceDelete(node, term);
  }
}
