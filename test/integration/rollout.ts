// A rollout on the shared control plane: simulated nodes (kwok + real agents + reboot simulator), two real
// controller processes managing only this group's nodes, and the invariant monitor on every node event.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Node } from '@kubernetes/client-node';
import { inject } from 'vitest';
import { kubeconfigConnection } from '../../operator/kube/connection.ts';
import { KubeHttp } from '../../operator/kube/http.ts';
import { Annotations, Leases } from '../../operator/protocol.ts';
import { InvariantMonitor } from '../../testkit/invariants/monitor.ts';
import { freePort } from '../../testkit/prom/prometheus.ts';
import { ControllerProcess } from '../../testkit/sim/controller-process.ts';
import { SimulatedNode } from '../../testkit/sim/simulated-node.ts';
import { clients, createNamespace, eventually, uniq } from './kube.ts';

export interface RolloutOptions {
  nodes: number;
  root: string;
  controllerArgs?: string[];
  /** The controllers' kubeconfig (default: the admin's). */
  controllerKubeconfig?: string;
  controllers?: number;
  preCordoned?: number[];
  downMs?: number;
  /** Extra labels for node i (zones, pools). */
  labels?: (i: number) => Record<string, string>;
}

export class Rollout {
  readonly group = uniq('ro');
  readonly ns = this.group;
  readonly selector = `kreboot.test/group=${this.group}`;
  readonly sims: SimulatedNode[] = [];
  readonly controllers: ControllerProcess[] = [];
  readonly c = clients();
  http!: KubeHttp;
  /** No budget of its own (tests assert maxDisrupted against their --concurrency): it observes. */
  readonly monitor = new InvariantMonitor({ budget: Number.POSITIVE_INFINITY });
  private readonly stopCtl = new AbortController();

  get maxDisrupted(): number {
    return this.monitor.maxDisrupted;
  }
  /** Times each node was seen going from schedulable to cordoned. */
  get cordons(): ReadonlyMap<string, number> {
    return this.monitor.cordons;
  }

  constructor(readonly opts: RolloutOptions) {}

  async start(): Promise<this> {
    const kubeconfig = inject('kubeconfig');
    this.http = new KubeHttp(await kubeconfigConnection(kubeconfig));
    await createNamespace(this.c.core, this.ns);
    for (let i = 0; i < this.opts.nodes; i++) {
      const name = `${this.group}-n${i}`;
      const dir = join(this.opts.root, name);
      mkdirSync(dir, { recursive: true });
      const sim = new SimulatedNode({
        name,
        dir,
        kubeconfig,
        http: this.http,
        labels: { ...this.opts.labels?.(i), 'kreboot.test/group': this.group },
        unschedulable: this.opts.preCordoned?.includes(i),
        downMs: this.opts.downMs ?? 500,
      });
      await sim.create();
      this.sims.push(sim);
    }
    await eventually('nodes Ready and reported', async () => {
      const nodes = await this.list();
      return (
        nodes.length === this.opts.nodes &&
        nodes.every(
          (n) =>
            n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') &&
            n.status?.conditions?.some((c) => c.type === 'RebootRequired'),
        )
      );
    });
    void this.monitor.run(this.http, { nodeSelector: this.selector }, this.stopCtl.signal);
    await this.monitor.synced();
    return this;
  }

  async startControllers(n = this.opts.controllers ?? 2): Promise<void> {
    for (let i = 0; i < n; i++) {
      const c = new ControllerProcess({
        identity: `${this.group}-c${this.controllers.length}`,
        kubeconfig: this.opts.controllerKubeconfig ?? inject('kubeconfig'),
        namespace: this.ns,
        nodeSelector: this.selector,
        metricsPort: await freePort(),
        // Windows of other tests in the shared cluster must not gate this group.
        args: [`--window-selector=kreboot.test/group=${this.group}`, ...(this.opts.controllerArgs ?? [])],
      });
      c.start();
      this.controllers.push(c);
    }
  }

  list(): Promise<V1Node[]> {
    return this.c.core.listNode({ labelSelector: this.selector }).then((l) => l.items);
  }
  node(name: string): Promise<V1Node> {
    return this.c.core.readNode({ name });
  }

  /** The replica holding the leader Lease now. */
  async leader(): Promise<ControllerProcess | undefined> {
    const lease = await this.c.coordination
      .readNamespacedLease({ name: Leases.leader, namespace: this.ns })
      .catch(() => undefined);
    return this.controllers.find((c) => c.opts.identity === lease?.spec?.holderIdentity && c.running);
  }

  async lockAnnotations(): Promise<Record<string, string>> {
    const lease = await this.c.coordination
      .readNamespacedLease({ name: Leases.lock, namespace: this.ns })
      .catch(() => undefined);
    return lease?.metadata?.annotations ?? {};
  }

  async metrics(): Promise<string> {
    const out: string[] = [];
    for (const c of this.controllers) {
      if (!c.running) continue;
      const res = await fetch(`http://127.0.0.1:${c.opts.metricsPort}/metrics`).catch(() => undefined);
      if (res?.ok) out.push(await res.text());
    }
    return out.join('\n');
  }

  async stop(): Promise<void> {
    this.stopCtl.abort();
    await Promise.all(this.controllers.map((c) => c.stop('SIGKILL')));
    await Promise.all(this.sims.map((s) => s.destroy()));
    await this.c.core.deleteNamespace({ name: this.ns }).catch(() => {});
    this.http?.close();
  }

  logs(): string {
    return this.controllers.map((c) => `--- ${c.opts.identity}\n${c.log}`).join('\n');
  }
}

export function annotationsOf(n: V1Node): Record<string, string> {
  return n.metadata?.annotations ?? {};
}

export function kreebotKeysLeft(n: V1Node): string[] {
  const controllerKeys = [
    Annotations.phase,
    Annotations.phaseSince,
    Annotations.approvedBootId,
    Annotations.wasUnschedulable,
  ];
  return controllerKeys.filter((k) => k in annotationsOf(n));
}
