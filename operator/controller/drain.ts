// Drains a node through the Eviction API (PDBs respected): evict what the filters allow, retry 429s with backoff,
// wait until the pods are gone. One call is one attempt until done or aborted; the drain timeout and its policy
// live in the state machine (step.ts), which aborts this and decides abort or force.
import type { Logger } from 'pino';
import { ApiError, type KubeHttp } from '../kube/http.ts';
import { sleep } from '../util/sleep.ts';
import { classifyPod, type DrainPolicy, type PodLike, podName } from './drain-filters.ts';

export interface DrainProgress {
  remaining: number;
  blockedBy?: string;
}

export class Drainer {
  constructor(
    private readonly http: KubeHttp,
    private readonly policy: DrainPolicy,
    private readonly log: Logger,
    /**
     * The node's pods from the watched cache: rounds read it instead of LISTing, and only "nothing left" is
     * confirmed with one targeted LIST (the cache may lag a deletion, or an addition, by an event).
     */
    private readonly cached?: (node: string) => PodLike[],
  ) {}

  async podsOn(node: string, signal?: AbortSignal): Promise<PodLike[]> {
    const q = new URLSearchParams({ fieldSelector: `spec.nodeName=${node}` });
    const list = await this.http.request<{ items: PodLike[] }>(`/api/v1/pods?${q}`, {
      signal,
      timeoutMs: 30_000,
    });
    return list.items;
  }

  /** Resolves true once every pod that must leave is gone; false if aborted first. */
  async drain(node: string, signal: AbortSignal, onProgress?: (p: DrainProgress) => void): Promise<boolean> {
    const log = this.log.child({ node, phase: 'draining' });
    const backoff = new Map<string, number>();
    const warned = new Set<string>();
    let confirm = this.cached === undefined;
    while (!signal.aborted) {
      const pods = confirm ? await this.podsOn(node, signal) : this.cached!(node);
      const leaving: PodLike[] = [];
      const evictable: PodLike[] = [];
      let blockedBy: string | undefined;
      for (const p of pods) {
        const v = classifyPod(p, this.policy);
        if (v.action === 'skip') continue;
        leaving.push(p);
        if (v.action === 'block') blockedBy ??= `${podName(p)}: ${v.why}`;
        else evictable.push(p);
        if (v.action === 'evict' && v.warning && !warned.has(podName(p))) {
          warned.add(podName(p));
          log.warn({ reason: 'drain-warning', pod: podName(p) }, v.warning);
        }
      }
      if (leaving.length === 0) {
        if (confirm) return true;
        confirm = true;
        continue;
      }
      confirm = this.cached === undefined;
      const now = Date.now();
      const toEvict = evictable.filter(
        (p) => !p.metadata?.deletionTimestamp && (backoff.get(podName(p)) ?? 0) <= now,
      );
      await Promise.all(
        toEvict.map(async (p) => {
          const name = podName(p);
          try {
            await this.evict(p, signal);
            backoff.delete(name);
          } catch (err) {
            if (err instanceof ApiError && err.status === 429) {
              const prev = backoff.get(`${name}#delay`) ?? 500;
              const delay = Math.min(prev * 2, 10_000);
              backoff.set(`${name}#delay`, delay);
              backoff.set(name, Date.now() + delay);
              blockedBy ??= `${name}: eviction refused (429): ${err.message}`;
            } else if (!(err instanceof ApiError && err.status === 404) && !signal.aborted) {
              blockedBy ??= `${name}: eviction failed: ${(err as Error).message}`;
              log.warn({ reason: 'evict-failed', pod: name, err: (err as Error).message }, 'eviction failed');
            }
          }
        }),
      );
      onProgress?.({ remaining: leaving.length, blockedBy });
      await sleep(500, signal);
    }
    return false;
  }

  private evict(p: PodLike, signal: AbortSignal): Promise<unknown> {
    const { name, namespace } = p.metadata!;
    return this.http.request(`/api/v1/namespaces/${namespace}/pods/${name}/eviction`, {
      method: 'POST',
      body: {
        apiVersion: 'policy/v1',
        kind: 'Eviction',
        metadata: { name, namespace },
        ...(this.policy.gracePeriodSeconds !== undefined
          ? { deleteOptions: { gracePeriodSeconds: this.policy.gracePeriodSeconds } }
          : {}),
      },
      signal,
      timeoutMs: 30_000,
    });
  }

  /** The force policy: delete what is left, PDBs or not. Returns the pods deleted. */
  async forceDelete(node: string, signal?: AbortSignal): Promise<string[]> {
    const deleted: string[] = [];
    for (const p of await this.podsOn(node, signal)) {
      if (classifyPod(p, { emptyDir: 'evict', unmanaged: 'evict' }).action === 'skip') continue;
      const { name, namespace } = p.metadata!;
      try {
        await this.http.request(`/api/v1/namespaces/${namespace}/pods/${name}`, {
          method: 'DELETE',
          signal,
          timeoutMs: 30_000,
        });
        deleted.push(podName(p));
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 404)) throw err;
      }
    }
    return deleted;
  }
}
