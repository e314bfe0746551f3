// One reconcile pass's inputs, read once at its start: the time, the node views, the alert verdict, the gates and
// budgets, and when the next pass must come at the latest. The steps read it; a step that changes a node updates
// its view here, so later steps of the same pass plan on what was just written.
import type { AlertVerdict } from '../alerts/model.ts';
import type { Budget } from '../domain/budget.ts';
import type { NodeView } from '../domain/node.ts';
import type { ClusterLock } from './lock.ts';
import { type Gates, OPEN_GATES, type Plan, plan } from './plan.ts';

/** Why the planner would not start a node now (a wait reason, or "not-needed"). */
export interface Refusal {
  reason: string;
  detail: string;
}

export class Pass {
  readonly byName: Map<string, NodeView>;
  gates: Gates = OPEN_GATES;
  budgets: () => Budget[] = () => [];
  /** The latest time the next pass may start (timeouts, window edges, retry delays, a verdict going stale). */
  nextWake = Number.POSITIVE_INFINITY;

  constructor(
    readonly now: number,
    readonly views: NodeView[],
    readonly alerts: AlertVerdict,
    private readonly lock: ClusterLock,
    private readonly retryAfterFailureMs: number,
  ) {
    this.byName = new Map(views.map((v) => [v.name, v]));
  }

  /** Adds a node the caches do not show (outside --node-selector, but holding a lock entry). */
  add(v: NodeView): void {
    this.views.push(v);
    this.byName.set(v.name, v);
  }

  wakeBy(t: number | undefined): void {
    if (t !== undefined) this.nextWake = Math.min(this.nextWake, t);
  }

  /** The planner on this pass's inputs and the lock as it is now; `only` asks about one node. */
  plan(
    nodes: NodeView[] = this.views,
    locked: ReadonlySet<string> = this.lock.locked(),
    only?: string,
  ): Plan {
    const s = this.lock.state;
    return plan({
      nodes,
      locked,
      budgets: this.budgets(),
      gates: this.gates,
      now: this.now,
      paused: s.paused ?? s.corrupt,
      halted: s.halted,
      retryAfterFailureMs: this.retryAfterFailureMs,
      ...(only ? { only } : {}),
    });
  }

  /** Would the planner start this node now, all else as it is? undefined = yes, else why not. */
  refusal(n: NodeView): Refusal | undefined {
    const others = this.lock.locked();
    others.delete(n.name);
    const p = this.plan(
      this.views.map((v) => (v.name === n.name ? { ...v, phase: undefined } : v)),
      others,
      n.name,
    );
    if (p.start.includes(n.name)) return undefined;
    return (
      p.waiting.find((w) => w.node === n.name) ?? {
        reason: 'not-needed',
        detail: `the node does not need a reboot (RebootRequired=${n.required ?? 'unreported'})`,
      }
    );
  }
}
