// `kreboot plan --timeline`: when each pending node is expected to reboot. The controller's own planner (plan.ts)
// is run forward in time over a copy of the cluster: at each moment something can change (a node predicted to
// finish, a window opening or closing, its end margin, an exclusion ending, a retry delay running out) the
// windows are evaluated at that moment, the budgets recomputed, and the nodes the planner starts are given a
// predicted end from their estimated duration. Pure: nodes, windows, settings and estimates in; times out.
//
// What the planner cannot know here is taken from the controller: a node it last reported blocked by an alert, a
// PodDisruptionBudget or a blocking pod is assumed to stay blocked (and says so) rather than predicted to go.
import { type Budget, budgetsFor, isInFlight } from '../domain/budget.ts';
import type { NodeView } from '../domain/node.ts';
import type { WaitReason } from '../protocol.ts';
import {
  type EvaluatedWindow,
  evaluateWindow,
  WindowIndex,
  type WindowObject,
  windowBudgets,
  windowGate,
} from '../windows/evaluate.ts';
import { type Gates, OPEN_GATES, plan } from './plan.ts';

/** With no history at all: a drain of a typical node plus a reboot and its return to Ready (kured users see 3–8 min). */
export const DEFAULT_REBOOT_DURATION_MS = 5 * 60_000;
export const DEFAULT_HORIZON_MS = 7 * 24 * 3_600_000;

export interface TimelineInput {
  nodes: NodeView[];
  /** Nodes holding a lock entry, with the time the entry was taken (ms). */
  locked: ReadonlyMap<string, number>;
  windows: WindowObject[];
  defaultWindow: 'always' | 'never';
  endMarginMs: number;
  concurrency: number | string;
  zoneConcurrency: number | string | undefined;
  paused?: string;
  halted?: string;
  retryAfterFailureMs: number;
  now: number;
  horizonMs: number;
  /** Estimated time from a node's start (lock entry) to its release, ms. */
  durationOf: (n: NodeView) => number;
  /** Gates only the controller evaluates (alerts, PDBs, blocking pods), as it last reported them per node. */
  blocked?: ReadonlyMap<string, { reason: 'alert' | 'pdb' | 'blocking-pod'; detail: string }>;
}

export interface TimelineEntry {
  node: string;
  zone?: string;
  /** Predicted (or, for a node already in progress, actual) start, ms. */
  start?: number;
  end?: number;
  inProgress: boolean;
  durationMs: number;
  /** Why it is not scheduled within the horizon: the planner's reason at the horizon (or when nothing changes). */
  unscheduled?: { reason: WaitReason | 'horizon'; detail: string };
}

export interface Timeline {
  entries: TimelineEntry[];
  /** How many planner steps the prediction took (moments at which something could change). */
  steps: number;
  horizonEnd: number;
}

/** The moments after `t` at which a window's answer can change. */
function windowEdges(ws: EvaluatedWindow[], marginMs: number, t: number): number[] {
  const out: number[] = [];
  for (const w of ws) {
    if (!w.valid) continue;
    for (const iv of [w.current, w.next]) {
      if (!iv) continue;
      out.push(iv.start, iv.end, iv.end - marginMs);
    }
    if (w.exclusion) out.push(w.exclusion.end);
  }
  return out.filter((x) => x > t);
}

const MAX_STEPS = 100_000;

export function timeline(input: TimelineInput): Timeline {
  const { now } = input;
  const horizonEnd = now + input.horizonMs;
  // A private copy: the simulation moves nodes through phases without touching the caller's views.
  const views = input.nodes.map((n) => ({ ...n }));
  const byName = new Map(views.map((n) => [n.name, n]));
  const locked = new Set(input.locked.keys());
  const entries = new Map<string, TimelineEntry>();
  const ends = new Map<string, number>();

  for (const n of views) {
    if (!isInFlight(n, locked)) continue;
    const d = input.durationOf(n);
    const start = input.locked.get(n.name) ?? n.phaseSince ?? now;
    // A node past its estimate may finish at any moment: predict "now" rather than a time already gone.
    const end = Math.max(start + d, now);
    entries.set(n.name, { node: n.name, zone: n.zone, start, end, inProgress: true, durationMs: d });
    ends.set(n.name, end);
  }
  const pending = () => views.filter((n) => n.required === 'True' && !entries.has(n.name));
  const blockedGate =
    (reason: 'alert' | 'pdb' | 'blocking-pod') =>
    (n: NodeView): string | undefined => {
      const b = input.blocked?.get(n.name);
      return b?.reason === reason
        ? `${b.detail} (as the controller last reported; assumed to stay so)`
        : undefined;
    };

  let t = now;
  let steps = 0;
  let lastWaiting = new Map<string, { reason: WaitReason; detail: string }>();
  while (steps < MAX_STEPS) {
    steps++;
    // Nodes predicted to finish by t are released: rebooted, uncordoned (unless a person had cordoned them).
    for (const [name, end] of ends) {
      if (end > t) continue;
      const n = byName.get(name)!;
      ends.delete(name);
      locked.delete(name);
      n.phase = undefined;
      n.phaseSince = undefined;
      n.required = 'False';
      n.requiredReason = undefined;
      n.ready = true;
      if (!n.wasUnschedulable) n.unschedulable = false;
      n.bootId = `${n.bootId ?? ''}+`;
      n.agentBootId = n.bootId;
    }
    const evaluated = input.windows.map((o) => evaluateWindow(o, t));
    const index = new WindowIndex(evaluated);
    const gates: Gates = {
      ...OPEN_GATES,
      window: windowGate(
        index,
        { defaultWindow: input.defaultWindow, endMarginMs: input.endMarginMs, selector: '' },
        t,
      ),
      alert: blockedGate('alert'),
      pdb: blockedGate('pdb'),
      blockingPod: blockedGate('blocking-pod'),
    };
    const budgets: Budget[] = [
      ...budgetsFor(views, input.concurrency, input.zoneConcurrency),
      ...windowBudgets(index, views),
    ];
    const p = plan({
      nodes: views,
      locked,
      budgets,
      gates,
      now: t,
      paused: input.paused,
      halted: input.halted,
      retryAfterFailureMs: input.retryAfterFailureMs,
    });
    for (const name of p.start) {
      const n = byName.get(name)!;
      const d = input.durationOf(n);
      entries.set(name, { node: name, zone: n.zone, start: t, end: t + d, inProgress: false, durationMs: d });
      ends.set(name, t + d);
      locked.add(name);
      n.phase = 'cordoned';
      n.phaseSince = t;
      n.wasUnschedulable = n.unschedulable;
      n.unschedulable = true;
    }
    lastWaiting = new Map(p.waiting.map((w) => [w.node, { reason: w.reason, detail: w.detail }]));
    if (pending().length === 0) break;
    // The next moment something can change.
    const candidates = [
      ...ends.values(),
      ...windowEdges(evaluated, input.endMarginMs, t),
      ...views
        .filter((n) => n.lastFailureAt !== undefined)
        .map((n) => n.lastFailureAt! + input.retryAfterFailureMs),
    ].filter((x) => x > t);
    if (candidates.length === 0) break;
    const next = Math.min(...candidates);
    if (next > horizonEnd) break;
    t = next;
  }

  for (const n of pending()) {
    const w = lastWaiting.get(n.name);
    entries.set(n.name, {
      node: n.name,
      zone: n.zone,
      inProgress: false,
      durationMs: input.durationOf(n),
      unscheduled: w ?? {
        reason: 'horizon',
        detail: `not started within the horizon (${new Date(horizonEnd).toISOString()})`,
      },
    });
  }
  // In the order the planner starts them (insertion order: in-progress nodes first, then each step's starts in
  // its pick order), the unscheduled ones last by name.
  const all = [...entries.values()];
  const scheduled = all.filter((e) => e.start !== undefined);
  const rest = all.filter((e) => e.start === undefined).sort((a, b) => (a.node < b.node ? -1 : 1));
  return {
    entries: [
      ...scheduled.filter((e) => e.inProgress).sort((a, b) => a.start! - b.start!),
      ...scheduled.filter((e) => !e.inProgress),
      ...rest,
    ],
    steps,
    horizonEnd,
  };
}

/** The median of the known durations, or undefined with none. */
export function median(xs: number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
