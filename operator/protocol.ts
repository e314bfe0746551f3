// The node protocol in one place: every annotation, label, condition, Event reason and metric name that
// kreboot reads or writes is a constant here. ARCHITECTURE.md carries the same table for people.

export const GROUP = 'kreboot.io';
const key = (name: string) => `${GROUP}/${name}` as const;

/** Node annotations. */
export const Annotations = {
  /** agent: RFC 3339 time the sentinel was first seen present (cleared when it goes away). */
  rebootRequiredSince: key('reboot-required-since'),
  /** a person: ask for a reboot without a sentinel (any non-empty value other than "false"). */
  rebootRequested: key('reboot-requested'),
  /** a person: never reboot this node (value "true"). */
  exclude: key('exclude'),
  /**
   * a person: this node may start outside its MaintenanceWindows (who and why as the value); budgets and the other
   * gates still apply. The controller removes it when the node is released after its reboot (one reboot).
   */
  outsideWindow: key('outside-window'),
  /** controller: the node's rollout phase, see Phase. */
  phase: key('phase'),
  /** controller: RFC 3339 time the current phase began. */
  phaseSince: key('phase-since'),
  /** controller: the node was already unschedulable before kreboot cordoned it, so kreboot must not uncordon it. */
  wasUnschedulable: key('was-unschedulable'),
  /** controller: the boot ID the agent must leave; the agent reboots only when its current boot ID matches. */
  approvedBootId: key('approved-boot-id'),
  /** agent: the boot ID it was in when it started the reboot (written before rebooting). */
  rebootingFromBootId: key('rebooting-from-boot-id'),
  /** agent: its current boot ID, reported after every start. */
  bootId: key('boot-id'),
  /** controller: the alerts firing when the reboot was approved (JSON list), to spot new ones afterwards. */
  alertsBefore: key('alerts-before'),
  /** controller: when a drain last failed under the abort policy; the node waits out --retry-after-failure. */
  lastFailureAt: key('last-failure-at'),
  /** controller: why the last attempt on this node failed. */
  lastFailure: key('last-failure'),
  /**
   * controller: the node's last completed kreboot reboot, kept after release (JSON: started, finished, seconds,
   * fromBootId, toBootId); `kreboot plan --timeline` estimates durations from it.
   */
  lastReboot: key('last-reboot'),
  /** lock object: JSON list of the nodes in a disruptive phase (see operator/controller/lock.ts). */
  lockEntries: key('lock-entries'),
  /** lock object: a person or tool pauses all new reboots by setting a reason here. */
  paused: key('paused'),
  /** lock object: set by the controller when a node did not come back; nothing new starts until cleared. */
  halted: key('halted'),
  /** lock object: the controller's planner settings (JSON), so `kreboot plan` plans as it does. */
  settings: key('settings'),
  /** agent: the boot ID in which the sentinel was still present after a kreboot reboot (no reboot loops). */
  stillRequiredAfterBoot: key('still-required-after-boot'),
} as const;

/** Node condition types. */
export const Conditions = {
  /** agent: True while the sentinel (file, command or manual request) says a reboot is needed. */
  rebootRequired: 'RebootRequired',
} as const;

/** The controller's rollout phases, in order. A node without the phase annotation is idle. */
export const Phases = ['cordoned', 'draining', 'approved', 'rebooting', 'verifying'] as const;
export type Phase = (typeof Phases)[number];

/** Node condition the controller sets when a node did not come back in time (the rollout halts). */
export const ControllerConditions = {
  rebootFailed: 'KrebootRebootFailed',
} as const;

/** Why a node that needs a reboot is not being rebooted now (kreboot_blocked_nodes{reason}). */
export const WaitReasons = [
  'excluded',
  'still-required-after-reboot',
  'agent-stale',
  'halted',
  'paused',
  'retry-later',
  'not-ready',
  'window',
  'alert',
  'blocking-pod',
  'pdb',
  'control-plane',
  'budget',
] as const;
export type WaitReason = (typeof WaitReasons)[number];

/** Reasons on the RebootRequired condition. */
export const RebootRequiredReasons = {
  sentinelFile: 'SentinelFilePresent',
  sentinelCommand: 'SentinelCommandSaysRequired',
  manual: 'RebootRequested',
  none: 'NoRebootRequired',
  stillRequiredAfterReboot: 'StillRequiredAfterReboot',
  checkFailed: 'CheckFailed',
} as const;

/** Prometheus metric names. */
export const Metrics = {
  rebootRequired: 'kreboot_reboot_required',
  checkErrors: 'kreboot_check_errors_total',
  lastCheck: 'kreboot_last_successful_check_timestamp_seconds',
  agentApiErrors: 'kreboot_agent_api_errors_total',
  agentReboots: 'kreboot_agent_reboots_total',
  nodes: 'kreboot_nodes',
  reboots: 'kreboot_reboots_total',
  phaseDuration: 'kreboot_phase_duration_seconds',
  reconcileDuration: 'kreboot_reconcile_duration_seconds',
  blockedNodes: 'kreboot_blocked_nodes',
  lockHolders: 'kreboot_lock_holders',
  leader: 'kreboot_leader',
  work: 'kreboot_work',
  oldestPending: 'kreboot_oldest_pending_seconds',
  halted: 'kreboot_rollout_halted',
  phaseAge: 'kreboot_node_phase_age_seconds',
  alertSourceErrors: 'kreboot_alert_source_errors_total',
  controllerApiErrors: 'kreboot_controller_api_errors_total',
  eventsDropped: 'kreboot_events_dropped_total',
  notifications: 'kreboot_notifications_total',
} as const;

/** Lease objects kreboot keeps in the controller's namespace. */
export const Leases = {
  /** The cluster lock: which nodes are in a disruptive phase, pause and halt (operator/controller/lock.ts). */
  lock: 'kreboot-lock',
  /** Leader election among the controller replicas. */
  leader: 'kreboot-controller',
} as const;

export const MaintenanceWindowResource = {
  group: GROUP,
  version: 'v1alpha1',
  plural: 'maintenancewindows',
  kind: 'MaintenanceWindow',
  shortName: 'mw',
} as const;
