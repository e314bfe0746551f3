// Rollout speed on the real control plane: 50 simulated nodes (kwok + one real agent each + the reboot
// simulator) and two real controller replicas; and the planner's time at 5,000 nodes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { OPEN_GATES, plan } from '../operator/controller/plan.ts';
import { timeline } from '../operator/controller/timeline.ts';
import { budgetsFor } from '../operator/domain/budget.ts';
import { type NodeView, viewOf } from '../operator/domain/node.ts';
import { kubeconfigConnection } from '../operator/kube/connection.ts';
import { KubeHttp } from '../operator/kube/http.ts';
import type { NodeLite } from '../operator/kube/types.ts';
import { Annotations, RebootRequiredReasons } from '../operator/protocol.ts';
import { ControlPlane } from '../testkit/cluster/controlplane.ts';
import { ControllerProcess } from '../testkit/sim/controller-process.ts';
import { SimulatedNode } from '../testkit/sim/simulated-node.ts';
import { fmt, summary } from './stats.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Timeline {
  cordoned?: number;
  done?: number;
}

async function rolloutRun(
  cp: ControlPlane,
  root: string,
  nodes: number,
  concurrency: number,
  downMs: number,
) {
  const kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  const http = new KubeHttp(await kubeconfigConnection(cp.kubeconfig));
  const group = `bench-c${concurrency}-d${downMs}`;
  await core.createNamespace({ body: { metadata: { name: group } } });
  const sims: SimulatedNode[] = [];
  for (let i = 0; i < nodes; i++) {
    const sim = new SimulatedNode({
      name: `${group}-n${String(i).padStart(2, '0')}`,
      dir: join(root, group, String(i)),
      kubeconfig: cp.kubeconfig,
      http,
      labels: { 'kreboot.bench/group': group },
      downMs,
    });
    sims.push(sim);
  }
  for (const s of sims) await s.create();
  // Wait until every agent reported, then make every node need a reboot.
  for (;;) {
    const list = await http.request<{ items: NodeLite[] }>(
      `/api/v1/nodes?labelSelector=kreboot.bench/group%3D${group}`,
    );
    if (
      list.items.length === nodes &&
      list.items.every((n) => n.status?.conditions?.some((c) => c.type === 'RebootRequired'))
    )
      break;
    await sleep(250);
  }
  for (const s of sims) s.needReboot();
  await sleep(1500);

  // Timeline from a watch: first time each node shows phase=cordoned, and when its phase is gone again after a reboot.
  const timeline = new Map<string, Timeline>();
  const watchCtl = new AbortController();
  const start = await http.request<{ metadata: { resourceVersion: string } }>(
    `/api/v1/nodes?labelSelector=kreboot.bench/group%3D${group}&limit=1`,
  );
  void http
    .watch<NodeLite>(
      `/api/v1/nodes?watch=true&labelSelector=kreboot.bench/group%3D${group}&resourceVersion=${start.metadata.resourceVersion}`,
      (ev) => {
        const t = performance.now();
        const name = ev.object.metadata.name;
        const phase = ev.object.metadata.annotations?.[Annotations.phase];
        const tl = timeline.get(name) ?? {};
        if (phase === 'cordoned' && tl.cordoned === undefined) tl.cordoned = t;
        if (!phase && tl.cordoned !== undefined && tl.done === undefined) {
          const v = viewOf(ev.object as never);
          if (v.bootId !== `${name}-boot-1`) tl.done = t;
        }
        timeline.set(name, tl);
      },
      { signal: watchCtl.signal },
    )
    .catch(() => {});

  const controllers = [0, 1].map((i) =>
    new ControllerProcess({
      identity: `${group}-c${i}`,
      kubeconfig: cp.kubeconfig,
      namespace: group,
      nodeSelector: `kreboot.bench/group=${group}`,
      args: [`--concurrency=${concurrency}`, '--log-level=warn'],
    }).start(),
  );
  const t0 = performance.now();
  for (;;) {
    const done = [...timeline.values()].filter((t) => t.done !== undefined).length;
    if (done === nodes) break;
    if (performance.now() - t0 > 20 * 60_000) throw new Error(`rollout did not finish: ${done}/${nodes}`);
    await sleep(200);
  }
  watchCtl.abort();
  await Promise.all(controllers.map((c) => c.stop('SIGTERM')));
  const reboots = sims.reduce((n, s) => n + s.agent.reboots(), 0);
  await Promise.all(sims.map((s) => s.destroy()));
  http.close();

  const tls = [...timeline.values()] as Required<Timeline>[];
  const first = Math.min(...tls.map((t) => t.cordoned));
  const last = Math.max(...tls.map((t) => t.done));
  const makespan = last - first;
  const busy = tls.reduce((s, t) => s + (t.done - t.cordoned), 0);
  const ideal = busy / concurrency;
  // Handoff (concurrency 1): a node released → the next node cordoned.
  const handoffs: number[] = [];
  if (concurrency === 1) {
    const sorted = [...tls].sort((a, b) => a.cordoned - b.cordoned);
    for (let i = 1; i < sorted.length; i++) handoffs.push(sorted[i]!.cordoned - sorted[i - 1]!.done);
  }
  return { makespan, ideal, handoffs, reboots, perNode: summary(tls.map((t) => t.done - t.cordoned)) };
}

export function benchPlanner(): string[] {
  const zones = ['a', 'b', 'c'];
  const nodes: NodeView[] = Array.from({ length: 5000 }, (_, i) =>
    viewOf({
      metadata: {
        name: `node-${i}`,
        uid: `u${i}`,
        labels: { 'topology.kubernetes.io/zone': zones[i % 3]! },
        annotations:
          i % 2 === 0
            ? { [Annotations.rebootRequiredSince]: new Date(Date.now() - i * 1000).toISOString() }
            : {},
      },
      status: {
        conditions: [
          { type: 'Ready', status: i % 97 === 0 ? 'False' : 'True' },
          {
            type: 'RebootRequired',
            status: i % 2 === 0 ? 'True' : 'False',
            reason: i % 2 === 0 ? RebootRequiredReasons.sentinelFile : RebootRequiredReasons.none,
          },
        ],
        nodeInfo: { bootID: `b${i}` },
      },
    }),
  );
  const times: number[] = [];
  for (let i = 0; i < 60; i++) {
    const t = performance.now();
    const budgets = budgetsFor(nodes, '2%', 10);
    const p = plan({
      nodes,
      locked: new Set(['node-0', 'node-2']),
      budgets,
      gates: {
        ...OPEN_GATES,
        pdb: (n) => (n.name.endsWith('7') ? 'PDB x/y allows no disruption' : undefined),
      },
      now: Date.now(),
      retryAfterFailureMs: 600_000,
    });
    times.push(performance.now() - t);
    if (p.waiting.length === 0) throw new Error('planner bench: nothing waited');
  }
  const s = summary(times.slice(10));
  return [
    '| planner, 5,000 nodes (2,500 pending, 3 zones, PDB gate on 10%), 50 runs after 10 warm-up | median | p95 | max | target |',
    '|---|---|---|---|---|',
    `| plan() incl. budgets | ${s.median.toFixed(2)} ms | ${s.p95.toFixed(2)} ms | ${s.max.toFixed(2)} ms | ≤ 20 ms |`,
    '',
    ...benchTimeline(nodes),
  ];
}

/**
 * `plan --timeline`'s computation on the same 5,000 nodes: one nightly window per zone (4 h, staggered), 10 minutes
 * per node; how long the prediction takes and how many planner steps it runs, by concurrency.
 */
function benchTimeline(observed: NodeView[]): string[] {
  // Agents that have reported in the current boot, every node Ready (NotReady ones would fill a small budget).
  const nodes = observed.map((n) => ({ ...n, agentBootId: n.bootId, ready: true }));
  const now = Date.parse('2026-12-07T12:00:00Z');
  const windows = ['a', 'b', 'c'].map((z, i) => ({
    metadata: { name: `zone-${z}` },
    spec: {
      schedule: `0 ${20 + i} * * *`,
      duration: '4h',
      timeZone: 'UTC',
      nodeSelector: { matchLabels: { 'topology.kubernetes.io/zone': z } },
    },
  }));
  const rows = (['2%', 10, 1] as const).map((concurrency) => {
    const ms: number[] = [];
    let last: ReturnType<typeof timeline> | undefined;
    for (let i = 0; i < 4; i++) {
      const t = performance.now();
      last = timeline({
        nodes,
        locked: new Map(),
        windows,
        defaultWindow: 'always',
        endMarginMs: 15 * 60_000,
        concurrency,
        zoneConcurrency: undefined,
        retryAfterFailureMs: 600_000,
        now,
        horizonMs: 31 * 24 * 3_600_000,
        durationOf: () => 10 * 60_000,
      });
      ms.push(performance.now() - t);
    }
    const scheduled = last!.entries.filter((e) => e.start !== undefined);
    const endAt = Math.max(...scheduled.map((e) => e.end!));
    const m = summary(ms.slice(1));
    return `| concurrency ${concurrency} | ${m.median.toFixed(0)} ms | ${m.max.toFixed(0)} ms | ${last!.steps} | ${scheduled.length} of ${last!.entries.length} | ${((endAt - now) / 86_400_000).toFixed(1)} days |`;
  });
  return [
    '| plan --timeline computation, 5,000 nodes (2,500 pending, 3 zones, a 4 h window per zone, 10 min per node), 3 runs after 1 warm-up | median | max | planner steps | scheduled within 31 days | last predicted end |',
    '|---|---|---|---|---|---|',
    ...rows,
  ];
}

export async function benchController(): Promise<string[]> {
  const nodes = Number(process.env.KREBOOT_BENCH_NODES ?? 50);
  const downs = (process.env.KREBOOT_BENCH_DOWN_MS ?? '1000,5000').split(',').map(Number);
  const root = mkdtempSync(join(tmpdir(), 'kreboot-bench-ctrl-'));
  const cp = await ControlPlane.start({ dir: join(root, 'cp') });
  const rows: string[] = [];
  try {
    for (const downMs of downs)
      for (const c of [1, 5]) {
        const r = await rolloutRun(cp, root, nodes, c, downMs);
        const h = r.handoffs.length ? summary(r.handoffs) : undefined;
        rows.push(
          `| ${nodes} nodes, concurrency ${c}, host down ${downMs / 1000} s | ${fmt(r.makespan)} | ${fmt(r.ideal)} | ${(r.makespan / r.ideal).toFixed(3)} | ${h ? `median ${fmt(h.median)}, p95 ${fmt(h.p95)}, max ${fmt(h.max)}` : '–'} | median ${fmt(r.perNode.median)} | ${r.reboots} |`,
        );
      }
  } finally {
    await cp.stop();
    rmSync(root, { recursive: true, force: true });
  }
  return [
    '| rollout (2 controller replicas, simulated reboots) | makespan | ideal (Σ per-node time ÷ concurrency) | makespan ÷ ideal (target ≤ 1.05) | handoff: released → next cordoned (target median ≤ 1 s) | per node cordon → released | reboots |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
    ...benchPlanner(),
  ];
}
