// A rollout on the shared control plane: simulated nodes (kwok + real agents + reboot simulator), two real
// controller processes managing only this group's nodes, and a sampler that checks invariants every 100 ms.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Node } from '@kubernetes/client-node';
import { inject } from 'vitest';
import { kubeconfigConnection } from '../../operator/kube/connection.ts';
import { KubeHttp } from '../../operator/kube/http.ts';
import { Annotations } from '../../operator/protocol.ts';
import { freePort } from '../../testkit/prom/prometheus.ts';
import { ControllerProcess } from '../../testkit/sim/controller-process.ts';
import { SimulatedNode } from '../../testkit/sim/simulated-node.ts';
import { clients, createNamespace, eventually, uniq } from './kube.ts';

export interface RolloutOptions {
  nodes: number;
  root: string;
  controllerArgs?: string[];
  controllers?: number;
  preCordoned?: number[];
  downMs?: number;
}

export class Rollout {
  readonly group = uniq('ro');
  readonly ns = this.group;
  readonly selector = `kreboot.test/group=${this.group}`;
  readonly sims: SimulatedNode[] = [];
  readonly controllers: ControllerProcess[] = [];
  readonly c = clients();
  http!: KubeHttp;
  maxDisrupted = 0;
  samples = 0;
  /** Times each node was seen going from schedulable to cordoned. */
  cordons = new Map<string, number>();
  private lastUnsched = new Map<string, boolean>();
  private sampler: NodeJS.Timeout | undefined;

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
        core: this.c.core,
        http: this.http,
        labels: { 'kreboot.test/group': this.group },
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
    this.sampler = setInterval(() => void this.sample(), 100);
    return this;
  }

  async startControllers(n = this.opts.controllers ?? 2): Promise<void> {
    for (let i = 0; i < n; i++) {
      const c = new ControllerProcess({
        identity: `${this.group}-c${this.controllers.length}`,
        kubeconfig: inject('kubeconfig'),
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

  private async sample(): Promise<void> {
    try {
      const nodes = await this.list();
      let disrupted = 0;
      for (const n of nodes) {
        const name = n.metadata!.name!;
        const unsched = n.spec?.unschedulable === true;
        const ready = n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
        if (n.metadata?.annotations?.[Annotations.phase] || !ready) disrupted++;
        if (unsched && this.lastUnsched.get(name) === false)
          this.cordons.set(name, (this.cordons.get(name) ?? 0) + 1);
        this.lastUnsched.set(name, unsched);
      }
      this.maxDisrupted = Math.max(this.maxDisrupted, disrupted);
      this.samples++;
    } catch {
      // a failed sample is not a finding
    }
  }

  /** The replica holding the leader Lease now. */
  async leader(): Promise<ControllerProcess | undefined> {
    const lease = await this.c.coordination
      .readNamespacedLease({ name: 'kreboot-controller', namespace: this.ns })
      .catch(() => undefined);
    return this.controllers.find((c) => c.opts.identity === lease?.spec?.holderIdentity && c.running);
  }

  async lockAnnotations(): Promise<Record<string, string>> {
    const lease = await this.c.coordination
      .readNamespacedLease({ name: 'kreboot-lock', namespace: this.ns })
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
    clearInterval(this.sampler);
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
