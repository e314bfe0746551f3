// What the controller observes: list-watch caches of nodes, pods and MaintenanceWindows (kept for the life of the
// process, leader or not, so a new leader acts at once), nodes outside --node-selector that still hold a lock
// entry (fetched directly), and the PodDisruptionBudgets that allow no disruption now.
import type { Logger } from 'pino';
import { type NodeLike, type NodeView, viewOf } from '../domain/node.ts';
import { ApiError, type KubeHttp } from '../kube/http.ts';
import { type Obj, Reflector } from '../kube/reflector.ts';
import type { fromObject } from '../kube/selector.ts';
import type { NodeLite } from '../kube/types.ts';
import { Leases, MaintenanceWindowResource } from '../protocol.ts';
import { throttle } from '../util/trigger.ts';
import type { WindowObject } from '../windows/evaluate.ts';
import type { PodLike } from './drain-filters.ts';
import type { Lease } from './lease.ts';
import { type SlimPdb, type SlimPod, slimNode, slimPdb, slimPod } from './slim.ts';

export type NodeObject = NodeLite & NodeLike & { metadata: { uid?: string } };

export interface PdbLike {
  metadata?: { name?: string; namespace?: string };
  spec?: { selector?: Parameters<typeof fromObject>[0] };
  status?: { disruptionsAllowed?: number };
}

export const WINDOWS_PATH = `/apis/${MaintenanceWindowResource.group}/${MaintenanceWindowResource.version}/${MaintenanceWindowResource.plural}`;

export class Observer {
  readonly nodes: Reflector<NodeObject>;
  readonly pods: Reflector<SlimPod>;
  readonly pdbs: Reflector<SlimPdb>;
  readonly windows: Reflector<WindowObject & Obj>;
  /**
   * The cluster lock's Lease, watched: a replica that does not lead learns from it (entries, halt) whether a
   * leader is needed, without polling. The leader still reads it fresh before acting (ClusterLock.refresh).
   */
  readonly lockLease: Reflector<Lease & Obj>;
  /** Each cached Node object's view, as parsed (a new version of a Node is a new object). */
  private readonly parsed = new WeakMap<NodeObject, NodeView>();
  /** Nodes with a lock entry that the cache does not show (outside --node-selector), from a direct GET. */
  private readonly outside = new Map<string, NodeObject>();

  constructor(
    private readonly http: KubeHttp,
    selectors: { nodes: string; windows: string },
    namespace: string,
    onChange: () => void,
    log: Logger,
  ) {
    const onError = (err: Error) =>
      log.warn({ reason: 'watch-error', err: err.message }, 'cache watch failed; retrying');
    const query = (selector: string) => (selector ? { labelSelector: selector } : undefined);
    this.nodes = new Reflector(http, '/api/v1/nodes', onChange, {
      onError,
      query: query(selectors.nodes),
      transform: slimNode,
    });
    // Pods are the cluster's bulk: slim copies, and their events wake the loop at most once a second.
    this.pods = new Reflector(http, '/api/v1/pods', throttle(onChange, 1000), {
      onError,
      transform: slimPod,
      indexBy: (p) => p.spec?.nodeName || undefined,
      // Small pages: each page's JSON is a short-lived string of ~100 KB instead of megabytes in V8's large-object
      // space. At 150,000 pods: heap in use after the list 152 MB instead of 218–421 MB, RSS 378 MB instead of
      // 405–509 MB (peak 442 MB, under the Deployment's 512 Mi, where 500-pod pages peaked at 582 MB), for a
      // longer first list (60 s instead of 24 s; BENCHMARKS.md, "Scale").
      pageSize: 100,
    });
    this.pdbs = new Reflector(http, '/apis/policy/v1/poddisruptionbudgets', onChange, {
      onError,
      transform: slimPdb,
    });
    this.windows = new Reflector(http, WINDOWS_PATH, onChange, {
      onError,
      optional: true,
      query: query(selectors.windows),
    });
    this.lockLease = new Reflector(
      http,
      `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`,
      onChange,
      { onError, query: { fieldSelector: `metadata.name=${Leases.lock}` } },
    );
  }

  /** Starts the caches; resolves once each has listed. */
  async start(signal: AbortSignal): Promise<void> {
    const all = [this.nodes, this.pods, this.pdbs, this.windows, this.lockLease];
    for (const r of all) void r.run(signal);
    await Promise.all(all.map((r) => r.waitForSync()));
  }

  /**
   * The managed nodes as the planner sees them: each a fresh copy, since a pass writes to its views (a phase's
   * first-seen time, a release it just made). The parsing is done once per version of a Node: a pass at 5,000
   * nodes otherwise made several MB of garbage, most of it promoted to the old generation by the small young
   * generation the controller runs with. A view with an invalid time is parsed again each time (a time in the
   * future becomes valid as the clock moves), and so is one whose need has no usable start time yet.
   */
  views(now: number): NodeView[] {
    const out: NodeView[] = [];
    for (const n of this.nodes.list()) {
      let v = this.parsed.get(n);
      if (!v) {
        v = viewOf(n, now);
        const nowDependent =
          Object.keys(v.invalidTimes ?? {}).length > 0 ||
          (v.required === 'True' && v.requiredSince === undefined);
        if (nowDependent) {
          out.push(v);
          continue;
        }
        this.parsed.set(n, v);
      }
      out.push({ ...v });
    }
    return out;
  }

  /** The Node object a view was built from (cache or direct GET), for its resourceVersion and managedFields. */
  raw(name: string): NodeObject | undefined {
    return this.nodes.get(name) ?? this.outside.get(name);
  }

  /** GET one node from the API server (not the cache); undefined when it does not exist. */
  async fetch(name: string, term: AbortSignal): Promise<NodeObject | undefined> {
    try {
      return await this.http.request<NodeObject>(`/api/v1/nodes/${encodeURIComponent(name)}`, {
        signal: term,
        timeoutMs: 15_000,
      });
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  /** A node with a lock entry outside the cache, as last fetched. */
  outsideNode(name: string): NodeObject | undefined {
    return this.outside.get(name);
  }

  /** Keeps exactly these out-of-cache nodes (the ones still holding a lock entry). */
  keepOutside(nodes: NodeObject[]): void {
    this.outside.clear();
    for (const n of nodes) this.outside.set(n.metadata.name, n);
  }

  /** The pods on each node, from the cache's index (no scan of every pod). */
  podsByNode(): { get(node: string): PodLike[] | undefined } {
    return { get: (node) => this.pods.indexed(node) };
  }

  /** The pods on one node, from the cache. */
  podsOn(node: string): PodLike[] {
    return this.pods.indexed(node);
  }

  /** PodDisruptionBudgets that allow no disruption right now (from the watched cache: no LIST per pass). */
  exhaustedPdbs(): PdbLike[] {
    return this.pdbs.list().filter((b) => (b.status?.disruptionsAllowed ?? 0) <= 0);
  }
}
