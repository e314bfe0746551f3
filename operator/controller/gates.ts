// The planner's gates for one pass, from what the caches show (pure: no I/O here). Alerts come from the poller's
// last verdict, windows from their evaluation, blocking pods and exhausted PDBs from the pod cache.
import type { AlertVerdict } from '../alerts/model.ts';
import type { NodeView } from '../domain/node.ts';
import { fromObject, matches, type Requirement } from '../kube/selector.ts';
import { classifyPod, type DrainPolicy, type PodLike, podName } from './drain-filters.ts';
import type { PdbLike } from './observe.ts';
import type { Gates } from './plan.ts';

export interface GateInputs {
  alerts: AlertVerdict;
  window: (n: NodeView) => string | undefined;
  podsByNode: { get(node: string): PodLike[] | undefined };
  /** PDBs that allow no disruption now. */
  exhaustedPdbs: PdbLike[];
  blocking: Requirement[][];
  drain: DrainPolicy;
}

export function gatesFor(i: GateInputs): Gates {
  const pods = (n: NodeView) => i.podsByNode.get(n.name) ?? [];
  return {
    window: i.window,
    alert: (n) => i.alerts.perNode.get(n.name) ?? i.alerts.all,
    blockingPod: (n) => {
      if (!i.blocking.length) return undefined;
      const hit = pods(n).find(
        (p) =>
          p.status?.phase !== 'Succeeded' &&
          p.status?.phase !== 'Failed' &&
          i.blocking.some((sel) => matches(sel, p.metadata?.labels)),
      );
      return hit ? `blocking pod ${podName(hit)} is on the node` : undefined;
    },
    pdb: (n) => {
      for (const p of pods(n)) {
        if (classifyPod(p, i.drain).action !== 'evict') continue;
        const b = i.exhaustedPdbs.find(
          (b) =>
            b.metadata?.namespace === p.metadata?.namespace &&
            matches(fromObject(b.spec?.selector), p.metadata?.labels),
        );
        if (b)
          return `PodDisruptionBudget ${b.metadata?.namespace}/${b.metadata?.name} allows no disruption now (pod ${podName(p)})`;
      }
      return undefined;
    },
  };
}
