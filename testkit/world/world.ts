// A simulated cluster running kreboot as it would be deployed: the CRD and deploy/base applied from the repo,
// kwok nodes each with a real agent process (its own token, bound to its DaemonSet pod) and the reboot
// simulator, two real controller processes with the controller service account's token, workloads with a PDB,
// the example MaintenanceWindow, and a real Prometheus scraping every agent and controller with the repo's
// alert rules. An invariant monitor (testkit/invariants) checks the safety invariants on every watch event.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { kubeconfigConnection } from '../../operator/kube/connection.ts';
import { KubeHttp } from '../../operator/kube/http.ts';
import type { NodeLite } from '../../operator/kube/types.ts';
import { Annotations, Conditions, Leases } from '../../operator/protocol.ts';
import { eventually } from '../eventually.ts';
import { InvariantMonitor } from '../invariants/monitor.ts';
import { KrebootPrometheus } from '../prom/kreboot-prometheus.ts';
import { freePort } from '../prom/prometheus.ts';
import type { PromRelease } from '../prom/releases.ts';
import { ControllerProcess } from '../sim/controller-process.ts';
import { isDaemonSetPod, isReady, type PodLite } from '../sim/pods.ts';
import { SimulatedNode } from '../sim/simulated-node.ts';
import { explainUnfinished } from './diagnose.ts';
import {
  agentPodOn,
  applyExampleWindow,
  kubectl,
  requestToken,
  SYSTEM_NS,
  tokenKubeconfig,
} from './install.ts';
import { createWorkloads, type Workloads } from './workloads.ts';

export const WORLD_LABEL = 'kreboot.e2e/world';

export interface WorldOptions {
  kubeconfig: string;
  root: string;
  name: string;
  nodes: number;
  /** The controller's --concurrency, and the disruption budget the monitor holds it to. */
  concurrency?: number;
  controllers?: number;
  preCordoned?: number[];
  downMs?: number;
  workloads?: boolean;
  window?: boolean;
  /** A MaintenanceWindow manifest to apply instead of deploy/examples' (the demo's --window). */
  windowFile?: string;
  /** A fixed port for the (first) Prometheus instead of a free one (the demo's --prometheus-port). */
  prometheusPort?: number;
  prometheus?: boolean;
  /**
   * Prometheus releases to run side by side, each scraping every agent and controller with the repo's rules (the
   * first is `prom`); the pinned 3.x build alone when not given.
   */
  prometheusReleases?: PromRelease[];
  /** A test exporter for Prometheus to scrape, with alert rules of its own. */
  exporter?: { port: number; rules: string };
  /** Reboots a node may see before the monitor calls it a violation (a reboot loop or a double reboot). */
  maxRebootsPerNode?: number;
  /** Pods left on a node at power-off are a violation unless the drain policy says force. */
  allowUndrainedReboot?: boolean;
  nodeName?: (i: number) => string;
}

export class World {
  readonly sims: SimulatedNode[] = [];
  readonly controllers: ControllerProcess[] = [];
  readonly selector: string;
  http!: KubeHttp;
  prom: KrebootPrometheus | undefined;
  /** Every Prometheus of this world (`prom` first). */
  readonly proms: KrebootPrometheus[] = [];
  workloads: Workloads | undefined;
  monitor!: InvariantMonitor;
  private readonly stopCtl = new AbortController();
  private controllerKubeconfig = '';

  constructor(readonly opts: WorldOptions) {
    this.selector = `${WORLD_LABEL}=${opts.name}`;
  }

  // What the monitor found, as the scenarios read it.
  get violations(): string[] {
    return this.monitor.violations;
  }
  get maxDisrupted(): number {
    return this.monitor.maxDisrupted;
  }
  get minWebReady(): number {
    return this.monitor.minReady;
  }
  get cordons(): ReadonlyMap<string, number> {
    return this.monitor.cordons;
  }
  get startedAt(): ReadonlyMap<string, number> {
    return this.monitor.startedAt;
  }
  get doneAt(): ReadonlyMap<string, number> {
    return this.monitor.doneAt;
  }

  get budget(): number {
    return this.opts.concurrency ?? 1;
  }

  async start(): Promise<this> {
    const o = this.opts;
    mkdirSync(o.root, { recursive: true });
    this.http = new KubeHttp(await kubeconfigConnection(o.kubeconfig));
    if (o.prometheus !== false) {
      for (const [i, release] of (o.prometheusReleases ?? [undefined]).entries()) {
        const p = new KrebootPrometheus({
          dir: join(o.root, `prometheus-${i}`),
          exporter: o.exporter,
          release,
          port: i === 0 ? o.prometheusPort : undefined,
        });
        this.proms.push(p);
        await p.start();
      }
      this.prom = this.proms[0];
    }
    const label = { [WORLD_LABEL]: o.name };
    if (o.window !== false) await applyExampleWindow(o.kubeconfig, `${o.name}-anytime`, label, o.windowFile);
    const agentTargets: Array<{ address: string; labels: Record<string, string> }> = [];
    for (let i = 0; i < o.nodes; i++) {
      const name = o.nodeName?.(i) ?? `${o.name}-${i}`;
      const dir = join(o.root, name);
      mkdirSync(dir, { recursive: true });
      const port = await freePort();
      const sim: SimulatedNode = new SimulatedNode({
        name,
        dir,
        kubeconfig: o.kubeconfig,
        http: this.http,
        labels: label,
        unschedulable: o.preCordoned?.includes(i),
        downMs: o.downMs ?? 1000,
        agentMetricsPort: port,
        credentials: () => this.agentCredentials(name, dir),
        onPowerOff: (s, pods) => this.checkPowerOff(s, pods),
      });
      // No target labels: the agent labels its own series with its node.
      agentTargets.push({ address: `127.0.0.1:${port}`, labels: {} });
      this.sims.push(sim);
    }
    // Nodes first (the DaemonSet needs them to place the agent pods whose tokens the agents use), then agents.
    await Promise.all(this.sims.map((s) => s.create()));
    for (const p of this.proms) p.setTargets('kreboot-agent', agentTargets);
    if (o.workloads !== false)
      this.workloads = await createWorkloads(this.http, `${o.name}-apps`, label, o.nodes);
    await this.until('every node Ready with its agent reporting, workloads running', async () => {
      const nodes = await this.nodes();
      const reported =
        nodes.length === o.nodes &&
        nodes.every(
          (n) =>
            n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') &&
            n.status?.conditions?.some((c) => c.type === Conditions.rebootRequired),
        );
      if (!reported || !this.workloads) return reported;
      const pods = await this.pods();
      return (
        pods.filter((p) => p.metadata.labels?.app === 'web' && isReady(p)).length ===
        this.workloads.webReplicas
      );
    });
    this.monitor = new InvariantMonitor({
      budget: this.budget,
      ...(this.workloads && { minReady: { label: ['app', 'web'], min: this.workloads.webMinAvailable } }),
    });
    void this.monitor.run(
      this.http,
      { nodeSelector: this.selector, podNamespace: this.workloads?.ns },
      this.stopCtl.signal,
    );
    await this.monitor.synced();
    return this;
  }

  private async agentCredentials(node: string, dir: string): Promise<string> {
    const pod = await agentPodOn(this.http, node);
    const token = await requestToken(this.http, 'kreboot-agent', {
      name: pod.metadata.name,
      uid: pod.metadata.uid,
    });
    return tokenKubeconfig(this.opts.kubeconfig, token, join(dir, 'agent-kubeconfig'), `agent-${node}`);
  }

  /** Starts controller replicas as deploy/base runs them: the controller service account, kreboot-system. */
  async startControllers(args: string[] = [], n = this.opts.controllers ?? 2): Promise<void> {
    if (!this.controllerKubeconfig) {
      const token = await requestToken(this.http, 'kreboot-controller');
      this.controllerKubeconfig = tokenKubeconfig(
        this.opts.kubeconfig,
        token,
        join(this.opts.root, 'controller-kubeconfig'),
        'kreboot-controller',
      );
    }
    for (let i = 0; i < n; i++) {
      const c = new ControllerProcess({
        identity: `${this.opts.name}-controller-${this.controllers.length}`,
        kubeconfig: this.controllerKubeconfig,
        namespace: SYSTEM_NS,
        nodeSelector: this.selector,
        metricsPort: await freePort(),
        args: [
          `--concurrency=${this.budget}`,
          `--window-selector=${this.selector}`,
          '--log-level=info',
          ...args,
        ],
      });
      c.start();
      this.controllers.push(c);
    }
    const targets = this.controllers.map((c) => ({
      address: `127.0.0.1:${c.opts.metricsPort}`,
      labels: { pod: c.opts.identity },
    }));
    for (const p of this.proms) p.setTargets('kreboot-controller', targets);
  }

  /** kubectl apply of one object (or a List) into the workloads' namespace. */
  async apply(obj: unknown): Promise<void> {
    await kubectl(this.opts.kubeconfig, ['-n', this.workloads!.ns, 'apply', '-f', '-'], JSON.stringify(obj));
  }

  async nodes(): Promise<NodeLite[]> {
    const q = new URLSearchParams({ labelSelector: this.selector });
    return (await this.http.request<{ items: NodeLite[] }>(`/api/v1/nodes?${q}`)).items;
  }

  async node(name: string): Promise<NodeLite> {
    return this.http.request<NodeLite>(`/api/v1/nodes/${name}`);
  }

  async pods(): Promise<PodLite[]> {
    if (!this.workloads) return [];
    return (await this.http.request<{ items: PodLite[] }>(`/api/v1/namespaces/${this.workloads.ns}/pods`))
      .items;
  }

  until<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 60_000, everyMs = 200) {
    return eventually(what, fn, timeoutMs, everyMs);
  }

  /**
   * At power-off: at most `maxRebootsPerNode` reboots, and (invariant 4) no reboot before the drain finished;
   * DaemonSet pods stay, as kubectl drain leaves them.
   */
  private checkPowerOff(s: SimulatedNode, pods: PodLite[]): void {
    const max = this.opts.maxRebootsPerNode ?? 1;
    if (s.agent.reboots() > max)
      this.monitor.violate(`${s.name} rebooted ${s.agent.reboots()} times (at most ${max})`);
    if (this.opts.allowUndrainedReboot) return;
    const left = pods.filter((p) => !isDaemonSetPod(p));
    if (left.length)
      this.monitor.violate(
        `${s.name} rebooted with pods not drained: ${left.map((p) => p.metadata.name).join(', ')}`,
      );
  }

  /** Every given node rebooted, back, released and uncordoned as found. */
  async allDone(sims: SimulatedNode[], timeoutMs = 120_000): Promise<void> {
    await this.until(
      `${sims.map((s) => s.name).join(', ')} rebooted and released`,
      async () => {
        if (!sims.every((s) => s.rebootsDone >= 1 && this.doneAt.has(s.name))) return false;
        const lock = await this.lockEntries();
        return lock.length === 0;
      },
      timeoutMs,
      250,
    );
  }

  async lockAnnotations(): Promise<Record<string, string>> {
    const lease = await this.http
      .request<{ metadata: { annotations?: Record<string, string> } }>(
        `/apis/coordination.k8s.io/v1/namespaces/${SYSTEM_NS}/leases/${Leases.lock}`,
      )
      .catch(() => undefined);
    return lease?.metadata.annotations ?? {};
  }

  async lockEntries(): Promise<Array<{ node: string }>> {
    return JSON.parse((await this.lockAnnotations())[Annotations.lockEntries] ?? '[]');
  }

  async leader(): Promise<ControllerProcess | undefined> {
    const lease = await this.http
      .request<{ spec: { holderIdentity?: string } }>(
        `/apis/coordination.k8s.io/v1/namespaces/${SYSTEM_NS}/leases/${Leases.leader}`,
      )
      .catch(() => undefined);
    return this.controllers.find((c) => c.opts.identity === lease?.spec.holderIdentity && c.running);
  }

  async events(node: string): Promise<Array<{ reason: string; type: string; message: string }>> {
    const q = new URLSearchParams({ fieldSelector: `involvedObject.name=${node}` });
    return (
      await this.http.request<{ items: Array<{ reason: string; type: string; message: string }> }>(
        `/api/v1/namespaces/default/events?${q}`,
      )
    ).items;
  }

  /**
   * Why these nodes (default: those that still need a reboot or are in a phase) did not finish: lines for a
   * failing demo or scenario to print before its summary.
   */
  async explain(sims?: SimulatedNode[]): Promise<string[]> {
    const nodes = await this.nodes().catch(() => [] as NodeLite[]);
    const unfinished = (sims ?? this.sims)
      .filter((s) => !this.doneAt.has(s.name))
      .filter((s) => {
        if (sims) return true;
        const n = nodes.find((x) => x.metadata.name === s.name);
        return s.sentinelPresent || !!n?.metadata.annotations?.[Annotations.phase];
      })
      .map((s) => s.name);
    return explainUnfinished(this.http, {
      nodes,
      unfinished,
      namespace: SYSTEM_NS,
      concurrency: this.budget,
      podNamespace: this.workloads?.ns,
    });
  }

  /** Makespan and its ideal (the sum of each node's measured time from start to done, over the budget). */
  timings(): { makespanMs: number; idealMs: number } {
    const done = [...this.doneAt.entries()];
    if (!done.length) return { makespanMs: 0, idealMs: 0 };
    const starts = done.map(([n]) => this.startedAt.get(n)!);
    const makespanMs = Math.max(...done.map(([, t]) => t)) - Math.min(...starts);
    const busy = done.reduce((s, [n, t]) => s + (t - this.startedAt.get(n)!), 0);
    return { makespanMs, idealMs: busy / this.budget };
  }

  logs(): string {
    return [
      ...this.controllers.map((c) => `--- ${c.opts.identity}\n${c.log.slice(-8000)}`),
      ...this.sims.map((s) => `--- agent ${s.name}\n${s.agent.log.slice(-3000)}`),
    ].join('\n');
  }

  async stop(): Promise<void> {
    this.stopCtl.abort();
    await Promise.all(this.controllers.map((c) => c.stop('SIGKILL')));
    await Promise.all(this.sims.map((s) => s.destroy()));
    await Promise.all(this.proms.map((p) => p.stop()));
    if (!this.http) return; // start() failed before it could talk to the API server
    // The next world in this cluster starts from a clean slate: no lock, no leader, no window of ours.
    for (const lease of [Leases.lock, Leases.leader])
      await this.http
        .request(`/apis/coordination.k8s.io/v1/namespaces/${SYSTEM_NS}/leases/${lease}`, { method: 'DELETE' })
        .catch(() => {});
    await this.http
      .request(
        `/apis/kreboot.io/v1alpha1/maintenancewindows?${new URLSearchParams({ labelSelector: this.selector })}`,
        {
          method: 'DELETE',
        },
      )
      .catch(() => {});
    if (this.workloads)
      await this.http
        .request(`/api/v1/namespaces/${this.workloads.ns}`, { method: 'DELETE' })
        .catch(() => {});
    this.http?.close();
  }
}
