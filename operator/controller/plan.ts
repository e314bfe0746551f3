// The planner: a pure function of observed nodes, the lock, gate results, time and config. For every node that
// needs a reboot it says "start now" or why it waits. It never performs I/O; the reconciler acts on its answer.

import { type Budget, isDisrupted, isInFlight } from '../domain/budget.ts';
import { agentCurrent, type NodeView, needsReboot } from '../domain/node.ts';
import type { WaitReason } from '../protocol.ts';

/** Each gate returns a reason the node must wait, or undefined when it may go. */
export interface Gates {
  window: (n: NodeView) => string | undefined;
  alert: (n: NodeView) => string | undefined;
  blockingPod: (n: NodeView) => string | undefined;
  pdb: (n: NodeView) => string | undefined;
}

export const OPEN_GATES: Gates = {
  window: () => undefined,
  alert: () => undefined,
  blockingPod: () => undefined,
  pdb: () => undefined,
};

export interface PlanInput {
  nodes: NodeView[];
  /** Nodes holding a lock entry (disruptive phase), by name. */
  locked: ReadonlySet<string>;
  budgets: Budget[];
  gates: Gates;
  now: number;
  paused?: string;
  halted?: string;
  retryAfterFailureMs: number;
  /** Consider only this node for a start (the others still count for budgets and the control-plane rule). */
  only?: string;
}

export interface Waiting {
  node: string;
  reason: WaitReason;
  detail: string;
}

export interface Plan {
  start: string[];
  waiting: Waiting[];
  inFlight: string[];
  /** Nodes counted as disrupted before this plan's starts: in flight or NotReady. */
  disrupted: string[];
}

const byWaiting = (a: NodeView, b: NodeView) =>
  (a.requiredSince ?? Number.MAX_SAFE_INTEGER) - (b.requiredSince ?? Number.MAX_SAFE_INTEGER) ||
  (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

export function plan(input: PlanInput): Plan {
  const { nodes, locked, budgets, gates, now } = input;
  const inFlight = nodes.filter((n) => isInFlight(n, locked));
  const disrupted = new Set(nodes.filter((n) => isDisrupted(n, locked)).map((n) => n.name));
  const disruptedAtStart = [...disrupted];
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const start: string[] = [];
  const waiting: Waiting[] = [];

  const candidates = nodes
    .filter((n) => !isInFlight(n, locked) && n.required === 'True' && (input.only ?? n.name) === n.name)
    .sort(byWaiting);
  const workersPending = nodes.filter(
    (n) => !n.controlPlane && !n.excluded && (isInFlight(n, locked) || needsReboot(n)),
  ).length;
  const controlPlaneBusy = nodes.some((n) => n.controlPlane && (isInFlight(n, locked) || !n.ready));

  // Counts per budget, kept current as this plan adds starts.
  const used = budgets.map((b) => {
    let c = 0;
    for (const name of disrupted) if (b.selects(byName.get(name)!)) c++;
    return c;
  });

  for (const n of candidates) {
    const wait = (reason: WaitReason, detail: string) => waiting.push({ node: n.name, reason, detail });
    if (n.excluded) {
      wait('excluded', 'node is annotated kreboot.io/exclude');
      continue;
    }
    if (!agentCurrent(n)) {
      wait('agent-stale', `the agent has not reported since the node booted into ${n.bootId}`);
      continue;
    }
    if (!needsReboot(n)) {
      wait(
        'still-required-after-reboot',
        'the reboot did not clear the sentinel; not rebooting again (no loops)',
      );
      continue;
    }
    if (input.halted) {
      wait('halted', input.halted);
      continue;
    }
    if (input.paused) {
      wait('paused', input.paused);
      continue;
    }
    if (n.lastFailureAt !== undefined && now - n.lastFailureAt < input.retryAfterFailureMs) {
      const secs = Math.ceil((n.lastFailureAt + input.retryAfterFailureMs - now) / 1000);
      wait('retry-later', `last attempt failed (${n.lastFailure ?? 'unknown'}); retrying in ${secs}s`);
      continue;
    }
    if (!n.ready) {
      wait('not-ready', 'node is not Ready; its agent cannot reboot it');
      continue;
    }
    const gate = (
      [
        ['window', gates.window(n)],
        ['alert', gates.alert(n)],
        ['blocking-pod', gates.blockingPod(n)],
        ['pdb', gates.pdb(n)],
      ] as const
    ).find(([, why]) => why !== undefined);
    if (gate) {
      wait(gate[0], gate[1]!);
      continue;
    }
    if (n.controlPlane) {
      if (workersPending > 0) {
        wait(
          'control-plane',
          `control-plane nodes go last; ${workersPending} worker node(s) still need a reboot`,
        );
        continue;
      }
      if (controlPlaneBusy || start.some((s) => byName.get(s)!.controlPlane)) {
        wait(
          'control-plane',
          'one control-plane node at a time, and never while another is NotReady or in progress',
        );
        continue;
      }
    }
    const self = disrupted.has(n.name) ? 0 : 1;
    const full = budgets.findIndex((b, i) => b.selects(n) && used[i]! + self > b.limit);
    if (full !== -1) {
      const b = budgets[full]!;
      wait('budget', `${b.name}: ${used[full]} of ${b.limit} disrupted`);
      continue;
    }
    start.push(n.name);
    if (self) {
      disrupted.add(n.name);
      budgets.forEach((b, i) => {
        if (b.selects(n)) used[i]!++;
      });
    }
  }
  return { start, waiting, inFlight: inFlight.map((n) => n.name), disrupted: disruptedAtStart };
}
