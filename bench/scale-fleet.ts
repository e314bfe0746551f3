// The scale bench's stand-ins for what cannot run 5,000 times on one machine: the node agents and the kubelets.
//
// Agents: one real `Agent` (operator/agent/agent.ts — its decide, its writes, its reconcile loop) per node, all in
// this process. Only its I/O is stood in: its node's events come from one shared watch of all nodes instead of a
// watch each (5,000 watches are what the fleet bench measures per agent, with real processes), its sentinel is a
// flag, and its reboot is simulated (NotReady for a while, then a new boot ID and Ready, and a new Agent for the new
// boot). Its writes (the RebootRequired condition, the boot-ID and rebooting-from annotations, the compare-and-swap
// before rebooting) are the real agent's, through the real OwnNodeApi.
//
// Kubelets: one watch of all pods; a pod that gets a deletionTimestamp (an eviction) is removed for good (grace 0),
// as a kubelet does once its containers stopped.
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { Agent, type AgentMetrics } from '../operator/agent/agent.ts';
import type { KubeHttp, WatchEvent } from '../operator/kube/http.ts';
import { type OwnNodeApi, ownNodeApi } from '../operator/kube/own-node.ts';
import type { NodeLite } from '../operator/kube/types.ts';
import { Counter, Gauge } from '../operator/metrics/registry.ts';

type Listener = (ev: WatchEvent<NodeLite>) => void;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function metrics(): AgentMetrics {
  return {
    rebootRequired: new Gauge('a', ''),
    checkErrors: new Counter('b', ''),
    lastCheck: new Gauge('c', ''),
    apiErrors: new Counter('d', ''),
    reboots: new Counter('e', ''),
  };
}

export class AgentFleet {
  private readonly nodes = new Map<string, NodeLite>();
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly agents = new Map<string, Agent>();
  private readonly bootIds = new Map<string, string>();
  private readonly pending = new Set<string>();
  readonly reboots = new Map<string, number>();
  private readonly stopCtl = new AbortController();
  private readonly log = pino({ level: 'silent' });
  watchEvents = 0;

  constructor(
    private readonly http: KubeHttp,
    private readonly selector: string,
    private readonly downMs: number,
  ) {}

  /** Lists the nodes, starts the shared watch and one agent per node. */
  async start(): Promise<void> {
    const list = await this.http.request<{ metadata: { resourceVersion: string }; items: NodeLite[] }>(
      `/api/v1/nodes?labelSelector=${encodeURIComponent(this.selector)}`,
      { timeoutMs: 120_000 },
    );
    for (const n of list.items) this.nodes.set(n.metadata.name, n);
    void this.watch(list.metadata.resourceVersion);
    for (const n of list.items) {
      this.bootIds.set(n.metadata.name, n.status?.nodeInfo?.bootID ?? randomUUID());
      this.startAgent(n.metadata.name);
      // Spread the first reports: 5,000 condition writes at once would only measure the queue.
      if (this.agents.size % 100 === 0) await sleep(50);
    }
  }

  private async watch(rv: string): Promise<void> {
    let resourceVersion = rv;
    while (!this.stopCtl.signal.aborted) {
      try {
        const q = new URLSearchParams({
          watch: 'true',
          labelSelector: this.selector,
          resourceVersion,
          allowWatchBookmarks: 'true',
        });
        await this.http.watch<NodeLite>(
          `/api/v1/nodes?${q}`,
          (ev) => {
            resourceVersion = ev.object.metadata.resourceVersion ?? resourceVersion;
            if (ev.type === 'BOOKMARK' || ev.type === 'ERROR') return;
            this.watchEvents++;
            const name = ev.object.metadata.name;
            this.nodes.set(name, ev.object);
            for (const l of this.listeners.get(name) ?? []) l(ev);
          },
          { signal: this.stopCtl.signal },
        );
      } catch {
        await sleep(500);
      }
    }
  }

  /** The agent's API: reads from the shared cache and watch, writes through the real OwnNodeApi. */
  private api(name: string): OwnNodeApi {
    const real = ownNodeApi(this.http, name);
    return {
      name,
      get: async () => {
        const n = this.nodes.get(name);
        if (!n) throw new Error(`node ${name} not in the cache`);
        return n;
      },
      watch: (_rv, onEvent, opts) =>
        new Promise<void>((resolve) => {
          const l: Listener = (ev) => {
            opts.onData?.();
            void onEvent(ev);
          };
          const set = this.listeners.get(name) ?? new Set<Listener>();
          this.listeners.set(name, set);
          set.add(l);
          opts.signal?.addEventListener(
            'abort',
            () => {
              set.delete(l);
              resolve();
            },
            { once: true },
          );
        }),
      patchAnnotations: real.patchAnnotations,
      patchCondition: real.patchCondition,
    };
  }

  private startAgent(name: string): void {
    const agent = new Agent({
      api: this.api(name),
      check: async () => ({
        kind: 'ok',
        required: this.pending.has(name),
        source: 'file',
        detail: this.pending.has(name) ? 'sentinel present' : 'sentinel absent',
      }),
      bootId: this.bootIds.get(name)!,
      rebooter: { description: 'simulated', reboot: () => this.reboot(name) },
      log: this.log,
      metrics: metrics(),
      checkPeriodMs: 3_600_000,
      watchSilenceMs: 3_600_000,
    });
    this.agents.set(name, agent);
    agent.start();
  }

  /** The sentinel appears on these nodes: their agents check at once (as on a file event). */
  needReboot(names: string[]): void {
    for (const name of names) {
      this.pending.add(name);
      this.agents.get(name)?.checkNow();
    }
  }

  /** The host goes down (agent gone, NotReady), comes back with a new boot ID, Ready, and a new agent. */
  private async reboot(name: string): Promise<void> {
    this.reboots.set(name, (this.reboots.get(name) ?? 0) + 1);
    const agent = this.agents.get(name);
    this.agents.delete(name);
    void agent?.stop();
    const ready = (status: 'True' | 'False') => ({
      type: 'Ready',
      status,
      reason: status === 'True' ? 'KubeletReady' : 'NodeStatusUnknown',
      message: status === 'True' ? 'kubelet is posting ready status' : 'simulated reboot',
      lastHeartbeatTime: new Date().toISOString(),
      lastTransitionTime: new Date().toISOString(),
    });
    const path = `/api/v1/nodes/${encodeURIComponent(name)}/status`;
    const patch = (body: unknown) =>
      this.http.request(path, {
        method: 'PATCH',
        contentType: 'application/strategic-merge-patch+json',
        body,
      });
    setTimeout(async () => {
      try {
        await patch({ status: { conditions: [ready('False')] } });
        await sleep(this.downMs);
        const boot = randomUUID();
        this.bootIds.set(name, boot);
        this.pending.delete(name);
        await patch({ status: { conditions: [ready('True')], nodeInfo: { bootID: boot } } });
        this.startAgent(name);
      } catch (err) {
        process.stderr.write(`[scale] simulated reboot of ${name} failed: ${(err as Error).message}\n`);
      }
    }, 100);
  }

  async stop(): Promise<void> {
    this.stopCtl.abort();
    await Promise.all([...this.agents.values()].map((a) => a.stop()));
  }
}

/** Removes evicted pods for good, as their kubelet would. */
export class KubeletStandIn {
  private readonly stopCtl = new AbortController();
  deleted = 0;
  private readonly queue: Array<{ namespace: string; name: string; uid: string }> = [];
  private running = 0;

  constructor(private readonly http: KubeHttp) {}

  async start(): Promise<void> {
    const first = await this.http.request<{ metadata: { resourceVersion: string } }>('/api/v1/pods?limit=1');
    let resourceVersion = first.metadata.resourceVersion;
    void (async () => {
      while (!this.stopCtl.signal.aborted) {
        try {
          const q = new URLSearchParams({ watch: 'true', resourceVersion, allowWatchBookmarks: 'true' });
          await this.http.watch<{
            metadata: {
              namespace: string;
              name: string;
              uid: string;
              resourceVersion: string;
              deletionTimestamp?: string;
            };
          }>(
            `/api/v1/pods?${q}`,
            (ev) => {
              resourceVersion = ev.object.metadata.resourceVersion ?? resourceVersion;
              if (ev.type === 'MODIFIED' && ev.object.metadata.deletionTimestamp) {
                this.queue.push(ev.object.metadata);
                this.pump();
              }
            },
            { signal: this.stopCtl.signal },
          );
        } catch {
          await sleep(500);
        }
      }
    })();
  }

  private pump(): void {
    while (this.running < 16 && this.queue.length) {
      const p = this.queue.shift()!;
      this.running++;
      void this.http
        .request(`/api/v1/namespaces/${p.namespace}/pods/${p.name}`, {
          method: 'DELETE',
          body: { gracePeriodSeconds: 0, preconditions: { uid: p.uid } },
        })
        .then(() => this.deleted++)
        .catch(() => {})
        .finally(() => {
          this.running--;
          this.pump();
        });
    }
  }

  stop(): void {
    this.stopCtl.abort();
  }
}
