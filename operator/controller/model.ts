// What the controller observes about a node, reduced to the fields its decisions use. Built from the Node
// object by `viewOf`, so the planner never parses annotations itself.
import { Annotations, Conditions, type Phase, Phases, RebootRequiredReasons } from '../protocol.ts';

export const CONTROL_PLANE_LABEL = 'node-role.kubernetes.io/control-plane';
export const ZONE_LABEL = 'topology.kubernetes.io/zone';

export interface NodeView {
  name: string;
  uid: string;
  labels: Record<string, string>;
  unschedulable: boolean;
  ready: boolean;
  /** RebootRequired condition status: undefined when the agent has not reported. */
  required: 'True' | 'False' | 'Unknown' | undefined;
  requiredReason: string | undefined;
  /** When the need was first seen (ms since epoch), for longest-waiting-first. */
  requiredSince: number | undefined;
  phase: Phase | undefined;
  phaseSince: number | undefined;
  wasUnschedulable: boolean;
  approvedBootId: string | undefined;
  /** Kubelet's boot ID (status.nodeInfo.bootID). */
  bootId: string | undefined;
  /** The agent's reported boot ID. */
  agentBootId: string | undefined;
  rebootingFromBootId: string | undefined;
  excluded: boolean;
  requested: boolean;
  controlPlane: boolean;
  zone: string | undefined;
  /** A drain failed (abort policy) at this time; the node waits out the retry delay. */
  lastFailureAt: number | undefined;
  lastFailure: string | undefined;
  /** Alerts firing when the reboot was approved. */
  alertsBefore: string[];
}

const truthy = (v: string | undefined) => v !== undefined && v !== '' && v.toLowerCase() !== 'false';
const time = (v: string | undefined) => {
  if (!v) return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : t;
};

export interface NodeLike {
  metadata?: {
    name?: string;
    uid?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec?: { unschedulable?: boolean };
  status?: {
    conditions?: Array<{ type: string; status: string; reason?: string; lastTransitionTime?: string | Date }>;
    nodeInfo?: { bootID?: string };
  };
}

export function viewOf(node: NodeLike): NodeView {
  const a = node.metadata?.annotations ?? {};
  const labels = node.metadata?.labels ?? {};
  const conds = node.status?.conditions ?? [];
  const ready = conds.find((c) => c.type === 'Ready');
  const rr = conds.find((c) => c.type === Conditions.rebootRequired);
  const phase = a[Annotations.phase];
  return {
    name: node.metadata?.name ?? '',
    uid: node.metadata?.uid ?? '',
    labels,
    unschedulable: node.spec?.unschedulable === true,
    ready: ready?.status === 'True',
    required: rr ? (rr.status as NodeView['required']) : undefined,
    requiredReason: rr?.reason,
    requiredSince:
      time(a[Annotations.rebootRequiredSince]) ??
      (rr?.status === 'True' ? time(String(rr.lastTransitionTime ?? '')) : undefined),
    phase: (Phases as readonly string[]).includes(phase ?? '') ? (phase as Phase) : undefined,
    phaseSince: time(a[Annotations.phaseSince]),
    wasUnschedulable: a[Annotations.wasUnschedulable] === 'true',
    approvedBootId: a[Annotations.approvedBootId],
    bootId: node.status?.nodeInfo?.bootID || undefined,
    agentBootId: a[Annotations.bootId],
    rebootingFromBootId: a[Annotations.rebootingFromBootId],
    excluded: truthy(a[Annotations.exclude]),
    requested: truthy(a[Annotations.rebootRequested]),
    controlPlane: CONTROL_PLANE_LABEL in labels || 'node-role.kubernetes.io/master' in labels,
    zone: labels[ZONE_LABEL],
    lastFailureAt: time(a[Annotations.lastFailureAt]),
    lastFailure: a[Annotations.lastFailure],
    alertsBefore: parseList(a[Annotations.alertsBefore]),
  };
}

function parseList(v: string | undefined): string[] {
  if (!v) return [];
  try {
    const x = JSON.parse(v);
    return Array.isArray(x) ? x.filter((e): e is string => typeof e === 'string') : [];
  } catch {
    return [];
  }
}

/** The agent has reported in the node's current boot, so its condition speaks for this boot. */
export function agentCurrent(n: NodeView): boolean {
  return n.bootId === undefined || n.agentBootId === n.bootId;
}

/** The node asks for a reboot in its current boot, and it is not the "sentinel survived the reboot" case. */
export function needsReboot(n: NodeView): boolean {
  return (
    n.required === 'True' &&
    n.requiredReason !== RebootRequiredReasons.stillRequiredAfterReboot &&
    agentCurrent(n)
  );
}
