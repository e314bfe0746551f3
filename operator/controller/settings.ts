// What the reconciler is configured with (from the controller's flags, see config.ts and main.ts).
import type { AlertGate } from '../alerts/gate.ts';
import type { WindowPolicy } from '../windows/evaluate.ts';
import type { DrainPolicy } from './drain-filters.ts';
import type { StepConfig } from './step.ts';

export interface ReconcilerSettings extends StepConfig {
  concurrency: number | string;
  zoneConcurrency?: number | string;
  drain: DrainPolicy;
  blockingPodSelectors: string[];
  retryAfterFailureMs: number;
  resyncMs: number;
  /** Only nodes matching this label selector are managed (and counted); empty = all nodes. */
  nodeSelector: string;
  windows: WindowPolicy;
  /** Labels set before the cordon and after the uncordon (kured --pre/--post-reboot-node-labels). */
  preRebootLabels?: Record<string, string>;
  postRebootLabels?: Record<string, string>;
  /** A PreferNoSchedule taint with this key on nodes waiting for (or in) their reboot; '' or absent: none. */
  preferNoScheduleTaint?: string;
}

/** The alert gate (Prometheus/Alertmanager/PromQL), polled off the reconcile path; absent = no alert gate. */
export interface AlertSettings {
  gate: AlertGate;
  pollMs: number;
  /** One polling round's hard deadline. */
  deadlineMs: number;
}
