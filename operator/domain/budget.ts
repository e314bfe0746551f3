// Budgets and limits: how many nodes may be disrupted at once, globally, per zone and per MaintenanceWindow.
// Pure; shared by the planner (controller), the window evaluation (windows) and the CLI's plan view.
import type { NodeView } from './node.ts';

/** A group of nodes that may not have more than `limit` disrupted at once (global, per zone, per window). */
export interface Budget {
  name: string;
  selects: (n: NodeView) => boolean;
  limit: number;
}

/** Resolves "3" or "10%" against a node count: percentages round down, but never below 1. */
export function resolveLimit(spec: number | string, total: number): number {
  if (typeof spec === 'number') return spec;
  const m = /^(\d+(?:\.\d+)?)%$/.exec(spec.trim());
  if (m) return Math.max(1, Math.floor((Number(m[1]) * total) / 100));
  const n = Number(spec);
  if (!Number.isInteger(n) || n < 0)
    throw new Error(`invalid limit "${spec}": write a whole number or a percentage`);
  return n;
}

export function isInFlight(n: NodeView, locked: ReadonlySet<string>): boolean {
  return locked.has(n.name) || n.phase !== undefined;
}

/**
 * Disrupted = kreboot has it in a disruptive phase, or it is already unavailable (NotReady). A node a person
 * cordoned is not counted: its pods still run, and counting it would stall every rollout behind it.
 */
export function isDisrupted(n: NodeView, locked: ReadonlySet<string>): boolean {
  return isInFlight(n, locked) || !n.ready;
}

/** The global budget, and one per zone when a zone limit is set. */
export function budgetsFor(
  nodes: NodeView[],
  concurrency: number | string,
  zoneConcurrency: number | string | undefined,
): Budget[] {
  const budgets: Budget[] = [
    { name: 'concurrency', selects: () => true, limit: resolveLimit(concurrency, nodes.length) },
  ];
  if (zoneConcurrency !== undefined) {
    const zones = new Map<string, number>();
    for (const n of nodes) if (n.zone) zones.set(n.zone, (zones.get(n.zone) ?? 0) + 1);
    for (const [zone, count] of zones) {
      budgets.push({
        name: `zone ${zone}`,
        selects: (n) => n.zone === zone,
        limit: resolveLimit(zoneConcurrency, count),
      });
    }
  }
  return budgets;
}
