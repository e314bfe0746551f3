// Why a rollout did not finish, in words: printed by the demo and the scenarios when they fail, before their
// summary line. For each unfinished node: its phase and for how long, Ready, cordoned, the planner's wait reason
// on what the API server shows now (same pure planner as the controller; alerts and PDBs are the controller's,
// so its last RebootWaiting Event is quoted too), and every PodDisruptionBudget that allows no disruption.

import { parseLock } from '../../operator/controller/lock.ts';
import { OPEN_GATES, plan } from '../../operator/controller/plan.ts';
import { budgetsFor } from '../../operator/domain/budget.ts';
import { viewOf } from '../../operator/domain/node.ts';
import type { KubeHttp } from '../../operator/kube/http.ts';
import type { NodeLite } from '../../operator/kube/types.ts';
import { Leases } from '../../operator/protocol.ts';

interface Pdb {
  metadata: { name: string; namespace: string };
  status?: {
    disruptionsAllowed?: number;
    currentHealthy?: number;
    desiredHealthy?: number;
    expectedPods?: number;
    /** Pods an eviction was granted for, not yet gone (the disruption controller drops entries after 2 min). */
    disruptedPods?: Record<string, string>;
  };
}
interface Ev {
  reason?: string;
  message?: string;
  note?: string;
  lastTimestamp?: string;
  eventTime?: string;
  metadata: { creationTimestamp?: string };
}

export async function explainUnfinished(
  http: KubeHttp,
  o: {
    nodes: NodeLite[];
    unfinished: string[];
    namespace: string;
    concurrency: number | string;
    podNamespace?: string;
  },
): Promise<string[]> {
  if (!o.unfinished.length) return [];
  const now = Date.now();
  const lease = await http
    .request<{ metadata: { name: string; annotations?: Record<string, string> }; spec: object }>(
      `/apis/coordination.k8s.io/v1/namespaces/${o.namespace}/leases/${Leases.lock}`,
    )
    .catch(() => undefined);
  const lock = parseLock(lease as never);
  const views = o.nodes.map((n) => viewOf(n as never, now));
  const p = plan({
    nodes: views,
    locked: new Set(lock.entries.map((e) => e.node)),
    budgets: budgetsFor(views, o.concurrency, undefined),
    gates: OPEN_GATES,
    now,
    paused: lock.paused ?? lock.corrupt,
    halted: lock.halted,
    retryAfterFailureMs: 600_000,
  });
  const lines = [`why ${o.unfinished.length} node(s) did not finish:`];
  for (const name of o.unfinished) {
    const v = views.find((x) => x.name === name);
    if (!v) {
      lines.push(`  ${name}: not found`);
      continue;
    }
    const inPhase = v.phase
      ? `phase ${v.phase}${v.phaseSince !== undefined ? ` for ${((now - v.phaseSince) / 1000).toFixed(1)}s` : ''}`
      : 'no phase';
    const wait = p.waiting.find((w) => w.node === name);
    const planner = wait
      ? `planner: waits (${wait.reason}) ${wait.detail}`
      : p.start.includes(name)
        ? 'planner: would start it now'
        : v.phase
          ? 'planner: in flight'
          : `planner: nothing to do (RebootRequired=${v.required ?? 'unreported'})`;
    const events = await http
      .request<{ items: Ev[] }>(`/api/v1/namespaces/default/events?fieldSelector=involvedObject.name=${name}`)
      .then((l) => l.items)
      .catch(() => [] as Ev[]);
    const last = events
      .filter((e) => e.reason === 'RebootWaiting')
      .sort((a, b) => stamp(a).localeCompare(stamp(b)))
      .at(-1);
    lines.push(
      `  ${name}: ${inPhase}, ${v.ready ? 'Ready' : 'NotReady'}, ${v.unschedulable ? 'cordoned' : 'schedulable'}; ${planner}${last ? `; controller: ${last.message ?? last.note}` : ''}`,
    );
  }
  if (lock.halted) lines.push(`  lock halted: ${lock.halted}`);
  if (lock.paused) lines.push(`  lock paused: ${lock.paused}`);
  lines.push(`  lock entries: ${lock.entries.map((e) => e.node).join(', ') || '(none)'}`);
  const pdbPath = o.podNamespace
    ? `/apis/policy/v1/namespaces/${o.podNamespace}/poddisruptionbudgets`
    : '/apis/policy/v1/poddisruptionbudgets';
  const pdbs = await http
    .request<{ items: Pdb[] }>(pdbPath)
    .then((l) => l.items)
    .catch(() => [] as Pdb[]);
  for (const b of pdbs.filter((b) => (b.status?.disruptionsAllowed ?? 0) <= 0)) {
    const s = b.status ?? {};
    lines.push(
      `  PodDisruptionBudget ${b.metadata.namespace}/${b.metadata.name} blocks: ${s.currentHealthy ?? '?'} healthy of ${s.expectedPods ?? '?'}, needs ${s.desiredHealthy ?? '?'}, disruptionsAllowed ${s.disruptionsAllowed ?? 0}${s.disruptedPods && Object.keys(s.disruptedPods).length ? `, disruptedPods ${JSON.stringify(s.disruptedPods)}` : ''}`,
    );
  }
  return lines;
}

const stamp = (e: Ev) => e.eventTime ?? e.lastTimestamp ?? e.metadata.creationTimestamp ?? '';
