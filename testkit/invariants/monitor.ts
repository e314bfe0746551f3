// The safety invariants, checked on every watch event rather than on samples: a violation that lasts one
// resourceVersion is seen, however short. Fed by two list-watches (the world's nodes, the workloads' pods), each
// in resourceVersion order (checked: an event older than the last one seen is itself reported); the state and
// the checks are pure (`node`/`pod`), so a unit test can feed events directly.

import type { KubeHttp } from '../../operator/kube/http.ts';
import { listWatch } from '../../operator/kube/list-watch.ts';
import type { NodeLite } from '../../operator/kube/types.ts';
import { Annotations } from '../../operator/protocol.ts';
import { isReady, type PodLite } from '../sim/pods.ts';

export interface MonitorRules {
  /** At most this many nodes disrupted (in a kreboot phase, or NotReady) at once. */
  budget: number;
  /** At most this many per topology.kubernetes.io/zone (--zone-concurrency). */
  zoneBudget?: number;
  /** Pods that must keep this many ready (a PDB's minimum), by label. */
  minReady?: { label: [string, string]; min: number };
}

type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export class InvariantMonitor {
  /** Events checked (list items and watch events), per stream. */
  events = 0;
  maxDisrupted = 0;
  /** The most nodes disrupted at once in any one zone. */
  maxZoneDisrupted = 0;
  minReady = Number.POSITIVE_INFINITY;
  readonly violations: string[] = [];
  /** Times each node went from schedulable to cordoned. */
  readonly cordons = new Map<string, number>();
  /** When each node first entered a kreboot phase, and when it was done (back in a new boot, no phase). */
  readonly startedAt = new Map<string, number>();
  readonly doneAt = new Map<string, number>();
  /** The longest time a stream was not watching (between losing its watch and the next list). */
  maxBlindMs = 0;
  private readonly nodes = new Map<string, NodeLite>();
  private readonly firstBoot = new Map<string, string | undefined>();
  private readonly pods = new Map<string, PodLite>();
  private readonly lastRv = new Map<string, bigint>();
  /** Streams applying a list: its items come in no particular order. */
  private readonly listing = new Set<string>();

  constructor(
    readonly rules: MonitorRules,
    private readonly now: () => number = Date.now,
  ) {}

  /** A node event, in resourceVersion order. */
  node(type: EventType, n: NodeLite): void {
    this.count('nodes', n.metadata.resourceVersion);
    const name = n.metadata.name;
    const before = this.nodes.get(name);
    if (type === 'DELETED') this.nodes.delete(name);
    else this.nodes.set(name, n);
    if (!this.firstBoot.has(name)) this.firstBoot.set(name, n.status?.nodeInfo?.bootID);
    if (type !== 'DELETED') this.track(before, n);
    if (!this.listing.has('nodes')) this.checkNodes();
  }

  /** A list is one state: checked once it is applied whole, not item by item. */
  private checkNodes(): void {
    let disrupted = 0;
    const byZone = new Map<string, number>();
    for (const x of this.nodes.values()) {
      if (!disruptedNow(x)) continue;
      disrupted++;
      const zone = x.metadata.labels?.['topology.kubernetes.io/zone'];
      if (zone !== undefined) byZone.set(zone, (byZone.get(zone) ?? 0) + 1);
    }
    this.maxDisrupted = Math.max(this.maxDisrupted, disrupted);
    for (const [zone, n] of byZone) {
      this.maxZoneDisrupted = Math.max(this.maxZoneDisrupted, n);
      if (this.rules.zoneBudget !== undefined && n > this.rules.zoneBudget)
        this.violate(`${n} nodes disrupted at once in zone ${zone}, zone budget ${this.rules.zoneBudget}`);
    }
    if (disrupted > this.rules.budget)
      this.violate(
        `${disrupted} nodes disrupted at once, budget ${this.rules.budget} (${[...this.nodes.values()]
          .filter(disruptedNow)
          .map((x) => x.metadata.name)
          .join(', ')})`,
      );
  }

  /** A pod event, in resourceVersion order. */
  pod(type: EventType, p: PodLite): void {
    this.count('pods', p.metadata.resourceVersion);
    const key = `${p.metadata.namespace}/${p.metadata.name}`;
    if (type === 'DELETED') this.pods.delete(key);
    else this.pods.set(key, p);
    if (!this.listing.has('pods')) this.checkPods();
  }

  private checkPods(): void {
    const rule = this.rules.minReady;
    if (!rule) return;
    const [k, v] = rule.label;
    let ready = 0;
    for (const x of this.pods.values()) if (x.metadata.labels?.[k] === v && isReady(x)) ready++;
    this.minReady = Math.min(this.minReady, ready);
    if (ready < rule.min) this.violate(`${k}=${v} has ${ready} ready pods, its PDB wants ${rule.min}`);
  }

  /** A finding from outside the watches (a reboot with pods left on the node, a second reboot). */
  violate(what: string): void {
    // One line per distinct finding: a stuck violation would otherwise repeat on every event.
    if (!this.violations.some((v) => v.endsWith(what)))
      this.violations.push(`${new Date(this.now()).toISOString()} ${what}`);
  }

  /** Watches the nodes matching `nodeSelector` and the pods of `podNamespace` until `signal` aborts. */
  run(
    http: KubeHttp,
    where: { nodeSelector: string; podNamespace?: string },
    signal: AbortSignal,
  ): Promise<void> {
    const streams = [
      this.stream(
        http,
        `/api/v1/nodes`,
        { labelSelector: where.nodeSelector },
        signal,
        (t, o) => this.node(t, o as NodeLite),
        this.nodes,
        () => this.checkNodes(),
      ),
    ];
    if (where.podNamespace)
      streams.push(
        this.stream(
          http,
          `/api/v1/namespaces/${where.podNamespace}/pods`,
          {},
          signal,
          (t, o) => this.pod(t, o as PodLite),
          this.pods,
          () => this.checkPods(),
        ),
      );
    return Promise.all(streams).then(() => {});
  }

  /** Resolves once both streams have listed (the monitor sees the whole state). */
  synced(): Promise<void> {
    return Promise.all(this.syncWaiters.map((w) => w.promise)).then(() => {});
  }

  private readonly syncWaiters: Array<{ promise: Promise<void>; resolve: () => void }> = [];

  private stream(
    http: KubeHttp,
    path: string,
    query: Record<string, string>,
    signal: AbortSignal,
    apply: (type: EventType, obj: unknown) => void,
    state: Map<string, unknown>,
    check: () => void,
  ): Promise<void> {
    let resolve!: () => void;
    const promise = new Promise<void>((r) => {
      resolve = r;
    });
    this.syncWaiters.push({ promise, resolve });
    let blindSince: number | undefined;
    const name = path.endsWith('/pods') ? 'pods' : 'nodes';
    return listWatch<NodeLite | PodLite>(
      {
        list: async (sig) => {
          const l = await http.request<{
            metadata: { resourceVersion: string };
            items: Array<NodeLite | PodLite>;
          }>(`${path}?${new URLSearchParams(query)}`, { signal: sig, timeoutMs: 30_000 });
          // A relist restarts the stream's order: the list is a new starting point.
          this.listing.add(name);
          state.clear();
          for (const o of l.items) apply('MODIFIED', o);
          this.listing.delete(name);
          check();
          this.lastRv.set(name, BigInt(l.metadata.resourceVersion));
          if (blindSince !== undefined) this.maxBlindMs = Math.max(this.maxBlindMs, this.now() - blindSince);
          blindSince = undefined;
          resolve();
          return l.metadata.resourceVersion;
        },
        watch: (rv, onEvent, opts) =>
          http.watch(
            `${path}?${new URLSearchParams({ ...query, watch: 'true', allowWatchBookmarks: 'true', resourceVersion: rv })}`,
            onEvent,
            opts,
          ),
      },
      {
        onEvent: (type, obj) => {
          apply(type, obj);
          return undefined;
        },
        onError: () => {
          blindSince ??= this.now();
        },
        onSilent: () => {
          blindSince ??= this.now();
        },
        onExpired: () => {
          blindSince ??= this.now();
        },
      },
      { silenceMs: 90_000, signal },
    );
  }

  private count(stream: string, rv: string | undefined): void {
    this.events++;
    if (!rv || this.listing.has(stream)) return;
    const v = BigInt(rv);
    const last = this.lastRv.get(stream);
    if (last !== undefined && v < last)
      this.violate(`${stream} event ${rv} arrived after ${last}: out of order`);
    if (last === undefined || v > last) this.lastRv.set(stream, v);
  }

  private track(before: NodeLite | undefined, n: NodeLite): void {
    const name = n.metadata.name;
    const t = this.now();
    const phase = n.metadata.annotations?.[Annotations.phase];
    const unsched = n.spec?.unschedulable === true;
    if (before && before.spec?.unschedulable !== true && unsched)
      this.cordons.set(name, (this.cordons.get(name) ?? 0) + 1);
    if (phase && !this.startedAt.has(name)) this.startedAt.set(name, t);
    if (
      !phase &&
      readyNow(n) &&
      this.startedAt.has(name) &&
      !this.doneAt.has(name) &&
      n.status?.nodeInfo?.bootID !== this.firstBoot.get(name)
    )
      this.doneAt.set(name, t);
  }
}

const readyNow = (n: NodeLite) =>
  n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;

/** Disrupted: kreboot has the node in a phase, or it is not Ready. */
export const disruptedNow = (n: NodeLite) => !!n.metadata.annotations?.[Annotations.phase] || !readyNow(n);
