// The per-node state machine of a reboot in flight, as a pure function: given the node as observed (and its lock
// entry), what is the next step? The reconciler performs the step; any step can be re-run after a crash.

import type { NodeView, Taint } from '../domain/node.ts';
import { Annotations, type Phase } from '../protocol.ts';

export interface StepConfig {
  drainTimeoutMs: number;
  drainTimeoutPolicy: 'abort' | 'force';
  rebootTimeoutMs: number;
  soakMs: number;
  /** Slow motion for demos and crash tests: stay at least this long in each phase (default 0). */
  minPhaseMs?: number;
  /** After the cordon, wait this long before draining (kured --drain-delay). */
  drainDelayMs?: number;
  /** After the drain, wait this long before approving the reboot (kured --reboot-delay). */
  rebootDelayMs?: number;
}

export type Step =
  | { kind: 'cordon' }
  | { kind: 'drain' }
  | { kind: 'approve'; bootId: string }
  | { kind: 'drain-timeout'; policy: 'abort' | 'force' }
  | { kind: 'advance'; to: Phase; why: string }
  | { kind: 'wait'; why: string }
  | { kind: 'timeout'; why: string }
  | { kind: 'finish' }
  | { kind: 'release'; why: string }
  /** An orderly stop before the reboot: withdraw the approval, uncordon if kreboot cordoned, release. */
  | { kind: 'abort'; why: string };

export interface StepInput {
  node: NodeView;
  /** The lock entry says cleanup already began (phase annotations may already be gone). */
  finishing: boolean;
  /** The drain of this node completed in this process just now. */
  drained: boolean;
  /** When that drain completed (for --reboot-delay). */
  drainedAt?: number;
  /** Post-reboot gates (alerts…) are clear. */
  postGatesClear: boolean;
  /** Alerts firing now that were not firing when the reboot was approved ("stop the line"). */
  newAlerts?: string[];
  now: number;
}

/** The boot ID the agent must leave: what the agent itself reported, else the kubelet's. */
export function bootToLeave(n: NodeView): string | undefined {
  return n.agentBootId ?? n.bootId;
}

export function nextStep(i: StepInput, cfg: StepConfig): Step {
  const n = i.node;
  const age = n.phaseSince === undefined ? 0 : i.now - n.phaseSince;
  if (i.finishing)
    return n.phase === undefined ? { kind: 'release', why: 'cleanup done' } : { kind: 'finish' };
  const step = decideStep(i, cfg, n, age);
  const hold = cfg.minPhaseMs ?? 0;
  // Slow motion holds every transition out of a phase, and the start of the drain.
  if (hold > 0 && n.phase !== undefined && age < hold && (step.kind !== 'drain' || n.phase === 'cordoned')) {
    return step.kind === 'wait' ? step : { kind: 'wait', why: `slow motion: ${hold}ms per phase` };
  }
  return step;
}

function decideStep(i: StepInput, cfg: StepConfig, n: NodeView, age: number): Step {
  switch (n.phase) {
    case undefined:
      if (n.required !== 'True') return { kind: 'release', why: 'node no longer needs a reboot' };
      if (n.excluded) return { kind: 'release', why: 'node is excluded' };
      return { kind: 'cordon' };
    case 'cordoned':
    case 'draining': {
      // Before the approval the rollout of this node can still stop cleanly. Unknown (a failed check) is not
      // "no longer needed": the need was established when it started.
      if (n.excluded)
        return { kind: 'abort', why: `node was excluded (${Annotations.exclude}) before its reboot` };
      if (n.required === 'False' || n.required === undefined)
        return { kind: 'abort', why: 'node no longer needs a reboot' };
      if (n.phase === 'cordoned') {
        const delay = cfg.drainDelayMs ?? 0;
        return age < delay
          ? { kind: 'wait', why: `cordoned; draining after --drain-delay (${delay / 1000}s)` }
          : { kind: 'drain' };
      }
      if (i.drained) {
        const delay = cfg.rebootDelayMs ?? 0;
        if (delay > 0 && (i.drainedAt === undefined || i.now - i.drainedAt < delay))
          return {
            kind: 'wait',
            why: `drained; approving the reboot after --reboot-delay (${delay / 1000}s)`,
          };
        const boot = bootToLeave(n);
        if (!boot) return { kind: 'wait', why: 'drained; waiting for the node to report its boot ID' };
        return { kind: 'approve', bootId: boot };
      }
      if (age > cfg.drainTimeoutMs) return { kind: 'drain-timeout', policy: cfg.drainTimeoutPolicy };
      return { kind: 'drain' };
    }
    case 'approved':
      if (n.bootId && n.approvedBootId && n.bootId !== n.approvedBootId) {
        return { kind: 'advance', to: 'verifying', why: 'node reports a new boot ID' };
      }
      if (n.approvedBootId && n.rebootingFromBootId === n.approvedBootId) {
        return { kind: 'advance', to: 'rebooting', why: 'agent started the reboot' };
      }
      // The agent refuses an excluded node; withdraw the approval instead of timing out into a halt.
      if (n.excluded)
        return {
          kind: 'abort',
          why: `node was excluded (${Annotations.exclude}) after its approval; reboot withdrawn`,
        };
      if (age > cfg.rebootTimeoutMs)
        return {
          kind: 'timeout',
          why: `agent did not start the reboot within ${cfg.rebootTimeoutMs / 1000}s`,
        };
      return { kind: 'wait', why: 'waiting for the agent to start the reboot' };
    case 'rebooting':
      if (n.bootId && n.approvedBootId && n.bootId !== n.approvedBootId) {
        return { kind: 'advance', to: 'verifying', why: 'node reports a new boot ID' };
      }
      if (age > cfg.rebootTimeoutMs)
        return { kind: 'timeout', why: `node did not come back within ${cfg.rebootTimeoutMs / 1000}s` };
      return { kind: 'wait', why: 'waiting for the node to come back with a new boot ID' };
    case 'verifying': {
      const back =
        n.ready && n.bootId !== undefined && n.bootId !== n.approvedBootId && n.agentBootId === n.bootId;
      if (back && age >= cfg.soakMs && i.postGatesClear) return { kind: 'finish' };
      if (back && age >= cfg.soakMs && i.newAlerts?.length) {
        return {
          kind: 'timeout',
          why: `new alert after the reboot (stop the line): ${i.newAlerts.slice(0, 3).join(', ')}`,
        };
      }
      if (age > cfg.rebootTimeoutMs + cfg.soakMs) {
        return {
          kind: 'timeout',
          why: back
            ? 'post-reboot gates did not clear in time'
            : 'node is not Ready with its agent reporting the new boot',
        };
      }
      if (!back) return { kind: 'wait', why: 'waiting for Ready and the agent to report the new boot' };
      return {
        kind: 'wait',
        why: age < cfg.soakMs ? 'soaking after the reboot' : 'waiting for post-reboot gates',
      };
    }
  }
}

/**
 * The node's taints with (want) or without kreboot's PreferNoSchedule taint `key`; undefined when that is already
 * so. Other taints, and a taint of the same key with another effect (someone else's), are left as they are.
 */
export function withPreferNoSchedule(n: NodeView, key: string, want: boolean): Taint[] | undefined {
  const taints = n.taints ?? [];
  const ours = (t: Taint) => t.key === key && t.effect === 'PreferNoSchedule';
  const has = taints.some(ours);
  if (has === want) return undefined;
  return want ? [...taints, { key, effect: 'PreferNoSchedule' }] : taints.filter((t) => !ours(t));
}

/** Whether a node not in flight should carry the wait taint: it needs a reboot kreboot will do. */
export const wantsWaitTaint = (n: NodeView, needs: boolean) => needs && !n.excluded;

export interface NodePatch {
  annotations: Record<string, string | null>;
  /** undefined = leave spec.unschedulable as it is. */
  unschedulable: boolean | undefined;
}

/**
 * Cordon: remember whether a person had already cordoned the node, so the cleanup can leave it so. `was` overrides
 * what the node shows (a node adopted from kured is cordoned by kured; kured's lock says how it was before).
 */
export function cordonPatch(n: NodeView, now: number, was = n.unschedulable): NodePatch {
  return {
    annotations: {
      [Annotations.phase]: 'cordoned',
      [Annotations.phaseSince]: new Date(now).toISOString(),
      [Annotations.wasUnschedulable]: was ? 'true' : null,
    },
    unschedulable: true,
  };
}

/** Cleanup: drop the controller's keys; uncordon only if kreboot was the one that cordoned (invariant 3). */
export function cleanupPatch(n: NodeView, extra: Record<string, string | null> = {}): NodePatch {
  return {
    annotations: {
      [Annotations.phase]: null,
      [Annotations.phaseSince]: null,
      [Annotations.approvedBootId]: null,
      [Annotations.wasUnschedulable]: null,
      [Annotations.alertsBefore]: null,
      // After the reboot: the failure record is history, and a one-off leave to reboot outside the windows is used.
      ...(n.phase === 'verifying'
        ? {
            [Annotations.lastFailureAt]: null,
            [Annotations.lastFailure]: null,
            [Annotations.outsideWindow]: null,
          }
        : {}),
      ...extra,
    },
    unschedulable: n.wasUnschedulable ? undefined : false,
  };
}
