// The agent's decision, a pure function of what it observed: its Node as the API server has it, its own
// sentinel check, its boot ID and the time. It returns the writes that make the Node say the truth, and
// whether to reboot now. Running it twice on the same inputs gives the same answer (level-based).
import type { Condition, NodeLite } from '../kube/types.ts';
import { Annotations, Conditions, RebootRequiredReasons } from '../protocol.ts';

export type CheckResult =
  | { kind: 'ok'; required: boolean; source: 'file' | 'command'; detail: string }
  | { kind: 'error'; message: string };

export interface AgentObservation {
  node: NodeLite;
  bootId: string;
  check: CheckResult | undefined;
  now: Date;
}

export interface AgentDecision {
  /** Annotation writes (null = remove); empty when the Node already says the truth. */
  annotations: Record<string, string | null>;
  /** The RebootRequired condition to write, or undefined when the Node's copy is already right. */
  condition: Condition | undefined;
  /** Reboot now: the controller approved leaving exactly this boot, and this boot has not started a reboot. */
  reboot: boolean;
  /** Why not, when an approval exists but no reboot happens (for logs). */
  refusal?: string;
}

const truthy = (v: string | undefined) => v !== undefined && v !== '' && v.toLowerCase() !== 'false';

export function currentCondition(node: NodeLite): Condition | undefined {
  return node.status?.conditions?.find((c) => c.type === Conditions.rebootRequired);
}

export function decide(obs: AgentObservation): AgentDecision {
  const a = obs.node.metadata.annotations ?? {};
  const now = obs.now.toISOString();
  const want: Record<string, string | undefined> = {};
  const from = a[Annotations.rebootingFromBootId];
  const approved = a[Annotations.approvedBootId];
  // We are in a later boot than the one a kreboot reboot left: that reboot happened.
  const afterReboot = from !== undefined && from !== obs.bootId;
  let manual = truthy(a[Annotations.rebootRequested]);

  want[Annotations.bootId] = obs.bootId;
  if (afterReboot && manual) {
    // The person's request was fulfilled by the reboot that just happened.
    want[Annotations.rebootRequested] = undefined;
    manual = false;
  }
  // The reboot happened and the controller has finished with the approval: the record has served its purpose.
  // In the same boot the record stays even without an approval, so this boot can never start a second reboot
  // (a person removes it to retry after a failed reboot command).
  if (afterReboot && approved === undefined) want[Annotations.rebootingFromBootId] = undefined;

  const check = obs.check;
  const sentinel = check?.kind === 'ok' && check.required;
  if (check?.kind === 'ok') {
    if (!sentinel) want[Annotations.stillRequiredAfterBoot] = undefined;
    else if (afterReboot) want[Annotations.stillRequiredAfterBoot] = obs.bootId;
  }
  const stillAfter =
    sentinel &&
    (want[Annotations.stillRequiredAfterBoot] ?? a[Annotations.stillRequiredAfterBoot]) === obs.bootId;

  let status: Condition['status'];
  let reason: string;
  let message: string;
  if (stillAfter) {
    status = 'True';
    reason = RebootRequiredReasons.stillRequiredAfterReboot;
    message = `reboot still required after rebooting into boot ${obs.bootId}: ${(check as { detail: string }).detail}; kreboot will not reboot this node again until the sentinel changes`;
  } else if (sentinel) {
    status = 'True';
    reason =
      check.source === 'file' ? RebootRequiredReasons.sentinelFile : RebootRequiredReasons.sentinelCommand;
    message = check.detail;
  } else if (manual) {
    status = 'True';
    reason = RebootRequiredReasons.manual;
    message = `requested with the ${Annotations.rebootRequested} annotation`;
  } else if (check?.kind === 'error') {
    status = 'Unknown';
    reason = RebootRequiredReasons.checkFailed;
    message = check.message;
  } else if (check === undefined) {
    status = 'Unknown';
    reason = RebootRequiredReasons.checkFailed;
    message = 'no sentinel check has completed yet';
  } else {
    status = 'False';
    reason = RebootRequiredReasons.none;
    message = check.detail;
  }

  if (status === 'True') want[Annotations.rebootRequiredSince] = a[Annotations.rebootRequiredSince] ?? now;
  else if (status === 'False') want[Annotations.rebootRequiredSince] = undefined;
  else want[Annotations.rebootRequiredSince] = a[Annotations.rebootRequiredSince];

  const annotations: Record<string, string | null> = {};
  for (const [k, v] of Object.entries(want)) {
    if (v === undefined && a[k] !== undefined) annotations[k] = null;
    else if (v !== undefined && a[k] !== v) annotations[k] = v;
  }

  const cur = currentCondition(obs.node);
  let condition: Condition | undefined;
  if (!cur || cur.status !== status || cur.reason !== reason || cur.message !== message) {
    condition = {
      type: Conditions.rebootRequired,
      status,
      reason,
      message,
      lastTransitionTime:
        cur && cur.status === status && cur.lastTransitionTime ? cur.lastTransitionTime : now,
      lastHeartbeatTime: now,
    };
  }

  let reboot = false;
  let refusal: string | undefined;
  if (approved !== undefined) {
    if (approved !== obs.bootId)
      refusal = `approval names boot ${approved}, this node is in boot ${obs.bootId}`;
    else if (from === obs.bootId)
      refusal = `a reboot from boot ${obs.bootId} was already started; never twice`;
    else if (truthy(a[Annotations.exclude])) refusal = `node carries ${Annotations.exclude}`;
    // Defence in depth (the admission policy is the first line): an approval counts only on a node the
    // controller has cordoned and moved to the approved phase. A copied or forged approval alone reboots nothing.
    else if (a[Annotations.phase] !== 'approved')
      refusal = `approval for boot ${approved} without the controller's approved phase (${Annotations.phase}=${a[Annotations.phase] ?? 'none'}); not rebooting`;
    else if (obs.node.spec?.unschedulable !== true)
      refusal = `approval for boot ${approved} on a node that is not cordoned; kreboot reboots only a cordoned, drained node`;
    else reboot = true;
  }
  return { annotations, condition, reboot, ...(refusal ? { refusal } : {}) };
}
