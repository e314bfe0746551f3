// The slices of Kubernetes objects that kreboot's own small client reads.
export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  lastHeartbeatTime?: string;
}

export interface NodeLite {
  metadata: {
    name: string;
    resourceVersion?: string;
    uid?: string;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
  };
  spec?: { unschedulable?: boolean };
  status?: {
    conditions?: Condition[];
    nodeInfo?: { bootID?: string };
  };
}
