// The slice of a Pod the test harness reads, and the pods a node runs.
import type { KubeHttp } from '../../operator/kube/http.ts';

export interface PodLite {
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    deletionTimestamp?: string;
    ownerReferences?: Array<{ kind: string }>;
  };
  spec: { nodeName?: string };
  status?: {
    phase?: string;
    conditions?: Array<{ type: string; status: string }>;
    containerStatuses?: Array<{ name: string; restartCount?: number; [k: string]: unknown }>;
  };
}

export const isReady = (p: PodLite) =>
  !p.metadata.deletionTimestamp &&
  p.status?.phase === 'Running' &&
  (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

export const isDaemonSetPod = (p: PodLite) =>
  (p.metadata.ownerReferences ?? []).some((o) => o.kind === 'DaemonSet');

/** Pods bound to the node and not being deleted; none when the API cannot be asked. */
export async function podsOnNode(http: KubeHttp, node: string): Promise<PodLite[]> {
  const q = new URLSearchParams({ fieldSelector: `spec.nodeName=${node}` });
  return http
    .request<{ items: PodLite[] }>(`/api/v1/pods?${q}`)
    .then((l) => l.items.filter((p) => !p.metadata.deletionTimestamp))
    .catch(() => []);
}
