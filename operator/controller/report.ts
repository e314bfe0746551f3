// What a pass reports: the node gauges and wait reasons in metrics, and one Event per change of a node's wait
// reason, so `kubectl describe node` says why a node that needs a reboot is not getting one.
import type { NodeView } from '../domain/node.ts';
import { needsReboot } from '../domain/node.ts';
import { Phases, WaitReasons } from '../protocol.ts';
import type { EventSink } from './events.ts';
import type { LockState } from './lock.ts';
import type { ControllerMetrics } from './metrics.ts';
import type { Plan } from './plan.ts';

export class Reporter {
  /** Each node's last reported wait reason: an Event goes out when it changes, not on every pass. */
  private readonly lastWait = new Map<string, string>();

  /** Nodes already notified as blocked, by name and the need's start (one notification per need). */
  private readonly blockedSent = new Set<string>();

  constructor(
    private readonly metrics: ControllerMetrics,
    private readonly events: EventSink,
    /** Notify once about a node that waits, for another reason than its turn, longer than `afterMs`. */
    private readonly blocked?: { afterMs: number; notify: (node: string, note: string) => void },
  ) {}

  /** Waiting for a budget slot is the normal state of a rollout and is left to the metric. */
  waits(views: NodeView[], p: Plan, now = Date.now()): void {
    const byName = new Map(views.map((v) => [v.name, v]));
    const waiting = new Set<string>();
    for (const w of p.waiting) {
      waiting.add(w.node);
      const since = byName.get(w.node)?.requiredSince;
      const key = `${w.node}/${since}`;
      if (
        this.blocked &&
        w.reason !== 'budget' &&
        since !== undefined &&
        now - since >= this.blocked.afterMs &&
        !this.blockedSent.has(key)
      ) {
        this.blockedSent.add(key);
        const mins = Math.round((now - since) / 60_000);
        this.blocked.notify(w.node, `needs a reboot for ${mins} min and waits (${w.reason}): ${w.detail}`);
      }
      if (this.lastWait.get(w.node) === w.reason) continue;
      this.lastWait.set(w.node, w.reason);
      const n = byName.get(w.node);
      if (w.reason === 'budget' || !n) continue;
      this.events.emit(n, 'Normal', 'RebootWaiting', `reboot waits (${w.reason}): ${w.detail}`);
    }
    for (const name of [...this.lastWait.keys()]) if (!waiting.has(name)) this.lastWait.delete(name);
    for (const key of [...this.blockedSent])
      if (!waiting.has(key.slice(0, key.lastIndexOf('/')))) this.blockedSent.delete(key);
  }

  gauges(views: NodeView[], state: LockState, p: Plan, now: number): void {
    const m = this.metrics;
    const counts: Record<string, number> = { pending: 0 };
    for (const ph of Phases) counts[ph] = 0;
    let oldest = 0;
    const inFlight = new Set(p.inFlight);
    for (const n of views) {
      if (n.phase) counts[n.phase]!++;
      else if (!inFlight.has(n.name) && needsReboot(n)) {
        counts.pending!++;
        if (n.requiredSince !== undefined) oldest = Math.max(oldest, (now - n.requiredSince) / 1000);
      }
    }
    for (const [phase, c] of Object.entries(counts)) m.nodes.set({ phase }, c);
    for (const r of WaitReasons) m.blocked.set({ reason: r }, 0);
    for (const w of p.waiting) m.blocked.inc({ reason: w.reason });
    m.lockHolders.set(state.entries.length);
    m.oldestPending.set(oldest);
    // Only this replica's view while it leads; series of nodes that left their phase disappear.
    m.phaseAge.reset();
    for (const n of views) {
      if (n.phase && n.phaseSince !== undefined)
        m.phaseAge.set({ node: n.name, phase: n.phase }, (now - n.phaseSince) / 1000);
    }
    m.halted.set(state.halted ? 1 : 0);
  }
}
