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
  /** The phase annotation as written, when it is not one of the phases (a malformed or foreign write). */
  malformedPhase?: string;
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
  /** A person let this node start outside its windows (kreboot.io/outside-window). */
  outsideWindow?: boolean;
  controlPlane: boolean;
  zone: string | undefined;
  /** A drain failed (abort policy) at this time; the node waits out the retry delay. */
  lastFailureAt: number | undefined;
  lastFailure: string | undefined;
  /** Alerts firing when the reboot was approved. */
  alertsBefore: string[];
  /** Time annotations that could not be used (annotation key -> why): they count as absent. */
  invalidTimes?: Record<string, string>;
  /** spec.taints as observed (for --prefer-no-schedule-taint); absent in views built without them. */
  taints?: Taint[];
}

export interface Taint {
  key: string;
  value?: string;
  effect: string;
  timeAdded?: string;
}

export const truthy = (v: string | undefined) => v !== undefined && v !== '' && v.toLowerCase() !== 'false';

/** RFC 3339 with a zone, as Kubernetes writes times; nothing lenient ("-1" is not a time, nor is "2024-01-01"). */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

/** How far ahead of this replica's clock a written time may be before it counts as invalid (clock skew). */
export const FUTURE_TOLERANCE_MS = 60_000;

/** Parses an RFC 3339 time; undefined with a reason when absent, malformed or (given `now`) in the future. */
export function parseTime(v: string | undefined, now?: number): { t: number | undefined; invalid?: string } {
  if (v === undefined || v === '') return { t: undefined };
  const t = RFC3339.test(v) ? Date.parse(v) : Number.NaN;
  if (Number.isNaN(t)) return { t: undefined, invalid: `${JSON.stringify(v)} is not an RFC 3339 time` };
  if (now !== undefined && t > now + FUTURE_TOLERANCE_MS)
    return { t: undefined, invalid: `${JSON.stringify(v)} is in the future` };
  return { t };
}

export interface NodeLike {
  metadata?: {
    name?: string;
    uid?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    managedFields?: ManagedField[];
  };
  spec?: { unschedulable?: boolean; taints?: Taint[] };
  status?: {
    conditions?: Array<{ type: string; status: string; reason?: string; lastTransitionTime?: string | Date }>;
    nodeInfo?: { bootID?: string };
  };
}

export interface ManagedField {
  manager?: string;
  operation?: string;
  time?: string;
  subresource?: string;
  fieldsV1?: Record<string, unknown>;
}

/** The field manager kreboot's controller writes with, so its own writes can be told from others'. */
export const CONTROLLER_FIELD_MANAGER = 'kreboot-controller';

/**
 * Who last set a field, from managedFields: `path` is the fieldsV1 path, e.g. ['f:metadata', 'f:annotations',
 * 'f:kreboot.io/phase']. Undefined when no entry owns it.
 */
export function writerOf(node: NodeLike, path: string[]): ManagedField | undefined {
  return (node.metadata?.managedFields ?? []).find((m) => {
    let at: unknown = m.fieldsV1;
    for (const p of path) {
      if (typeof at !== 'object' || at === null || !(p in at)) return false;
      at = (at as Record<string, unknown>)[p];
    }
    return true;
  });
}

export const annotationPath = (key: string) => ['f:metadata', 'f:annotations', `f:${key}`];
export const UNSCHEDULABLE_PATH = ['f:spec', 'f:unschedulable'];

/** "kubectl-annotate (Update, 2026-11-29T10:00:00Z)": who wrote a field, for Events and logs. */
export function describeWriter(m: ManagedField | undefined): string {
  if (!m) return 'an unknown writer (no managedFields entry)';
  return `${m.manager ?? 'an unnamed manager'} (${m.operation ?? 'write'}${m.time ? `, ${m.time}` : ''})`;
}

/** `now` (ms) turns on the future check for time annotations; without it only the format is checked. */
export function viewOf(node: NodeLike, now?: number): NodeView {
  const a = node.metadata?.annotations ?? {};
  const invalidTimes: Record<string, string> = {};
  const time = (key: string) => {
    const r = parseTime(a[key], now);
    if (r.invalid) invalidTimes[key] = r.invalid;
    return r.t;
  };
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
      time(Annotations.rebootRequiredSince) ??
      (rr?.status === 'True'
        ? parseTime(
            rr.lastTransitionTime instanceof Date
              ? rr.lastTransitionTime.toISOString()
              : rr.lastTransitionTime,
            now,
          ).t
        : undefined),
    phase: (Phases as readonly string[]).includes(phase ?? '') ? (phase as Phase) : undefined,
    ...(phase !== undefined && !(Phases as readonly string[]).includes(phase)
      ? { malformedPhase: phase }
      : {}),
    phaseSince: time(Annotations.phaseSince),
    wasUnschedulable: a[Annotations.wasUnschedulable] === 'true',
    approvedBootId: a[Annotations.approvedBootId],
    bootId: node.status?.nodeInfo?.bootID || undefined,
    agentBootId: a[Annotations.bootId],
    rebootingFromBootId: a[Annotations.rebootingFromBootId],
    excluded: truthy(a[Annotations.exclude]),
    requested: truthy(a[Annotations.rebootRequested]),
    outsideWindow: truthy(a[Annotations.outsideWindow]),
    controlPlane: CONTROL_PLANE_LABEL in labels || 'node-role.kubernetes.io/master' in labels,
    zone: labels[ZONE_LABEL],
    lastFailureAt: time(Annotations.lastFailureAt),
    lastFailure: a[Annotations.lastFailure],
    alertsBefore: parseList(a[Annotations.alertsBefore]),
    invalidTimes,
    taints: node.spec?.taints ?? [],
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
