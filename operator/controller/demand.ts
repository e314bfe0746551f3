// Whether there is anything for a leader to do, from the caches alone (no request): the controller holds its
// leader Lease only while this says so, and an idle deployment costs the API server its watches and nothing else.
// Pure: the caches' contents and the time in, a reason (or none) and the next time to look again out.
import { type NodeView, needsReboot } from '../domain/node.ts';
import {
  desiredStatus,
  type EvaluatedWindow,
  sameStatus,
  type WindowIndex,
  type WindowObject,
} from '../windows/evaluate.ts';
import type { LockState } from './lock.ts';

export interface DemandInputs {
  lock: LockState;
  /** Computed only when the lock alone does not decide (a rollout in flight is decided without them). */
  views: () => NodeView[];
  windows: () => { objects: WindowObject[]; evaluated: EvaluatedWindow[]; index: WindowIndex };
  now: number;
}

export interface Demand {
  /** Why a leader is needed now; undefined when idle. */
  reason: string | undefined;
  /** When to look again although no cache changed (a window boundary flips a status). */
  wakeAt: number;
}

export function demandFor(d: DemandInputs): Demand {
  // Cheapest first: during a rollout the lock decides, without a look at 5,000 nodes or the windows.
  const busy = (reason: string): Demand => ({ reason, wakeAt: Number.POSITIVE_INFINITY });
  if (d.lock.halted) return busy(`the rollout is halted: ${d.lock.halted}`);
  if (d.lock.corrupt) return busy(`the lock needs repair: ${d.lock.corrupt}`);
  if (d.lock.entries.length > 0)
    return busy(`the lock holds ${d.lock.entries.map((e) => e.node).join(', ')}`);
  const windows = d.windows();
  let wakeAt = Number.POSITIVE_INFINITY;
  for (const w of windows.evaluated) {
    for (const t of [w.current?.end, w.next?.start, w.exclusion?.end])
      if (t !== undefined && t > d.now) wakeAt = Math.min(wakeAt, t + 10);
  }
  const found = (reason: string): Demand => ({ reason, wakeAt });
  const views = d.views();
  for (const n of views) {
    if (n.phase !== undefined || n.malformedPhase !== undefined || n.approvedBootId !== undefined)
      return found(`${n.name} carries rollout state (${n.phase ?? n.malformedPhase ?? 'an approval'})`);
    if (!n.excluded && (needsReboot(n) || n.requested)) return found(`${n.name} needs a reboot`);
  }
  // A window whose status no longer matches the clock (it opened or closed) gets it written by a leader.
  const locked = new Set<string>();
  for (const [i, obj] of windows.objects.entries()) {
    const w = windows.evaluated[i]!;
    if (!sameStatus(obj.status, desiredStatus(obj, w, windows.index, views, locked, d.now)))
      return found(`MaintenanceWindow ${w.name} status is out of date`);
  }
  return { reason: undefined, wakeAt };
}
