// Alerts as the gates see them, whatever their source (Prometheus or Alertmanager).
export interface Alert {
  name: string;
  labels: Record<string, string>;
  /** Prometheus: pending or firing. Alertmanager: active alerts are firing. */
  state: 'pending' | 'firing';
}

export interface AlertSource {
  readonly description: string;
  /** Resolves with the current alerts; rejects with a clear reason on any error or malformed answer. */
  fetch(signal?: AbortSignal): Promise<Alert[]>;
}

/** What the alert gate concluded this round: a reason that blocks every node, and reasons per node. */
export interface AlertVerdict {
  /** Blocks every node: alerts, or a source that failed or gave no verdict in time (fail closed). */
  all?: string;
  /**
   * The part of `all` that real alerts caused. After a reboot only this holds a node back ("stop the line"):
   * a source that is down blocks new starts but does not keep a rebooted node cordoned.
   */
  alerting?: string;
  perNode: Map<string, string>;
  /** Firing alerts that counted, by key, for the before/after comparison around a reboot. */
  firing: string[];
}

export const alertKey = (a: Alert) =>
  `${a.name}{${Object.keys(a.labels)
    .filter((k) => k !== 'alertname')
    .sort()
    .map((k) => `${k}="${a.labels[k]}"`)
    .join(',')}}`;
