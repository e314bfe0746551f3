// Workloads a real cluster would have on the nodes being rebooted: a Deployment spread over every node and
// guarded by a PDB, a second Deployment, and a DaemonSet (which drains leave alone).
import type { KubeHttp } from '../../operator/kube/http.ts';

export interface Workloads {
  ns: string;
  /** Pods of `web` that must stay available (its PDB's minAvailable). */
  webMinAvailable: number;
  webReplicas: number;
}

const container = { name: 'c', image: 'registry.invalid/app:1' };

export async function createWorkloads(
  http: KubeHttp,
  ns: string,
  nodeLabel: Record<string, string>,
  nodes: number,
): Promise<Workloads> {
  const post = (path: string, body: unknown) => http.request(path, { method: 'POST', body });
  await post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  const pod = (app: string) => ({
    metadata: { labels: { app } },
    spec: {
      nodeSelector: nodeLabel,
      terminationGracePeriodSeconds: 1,
      containers: [container],
      topologySpreadConstraints: [
        {
          maxSkew: 1,
          topologyKey: 'kubernetes.io/hostname',
          whenUnsatisfiable: 'ScheduleAnyway',
          labelSelector: { matchLabels: { app } },
        },
      ],
    },
  });
  const deployment = (name: string, replicas: number) => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: { replicas, selector: { matchLabels: { app: name } }, template: pod(name) },
  });
  const webReplicas = nodes;
  const webMinAvailable = Math.max(1, nodes - 1);
  await post(`/apis/apps/v1/namespaces/${ns}/deployments`, deployment('web', webReplicas));
  await post(`/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets`, {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: { name: 'web' },
    spec: { minAvailable: webMinAvailable, selector: { matchLabels: { app: 'web' } } },
  });
  await post(`/apis/apps/v1/namespaces/${ns}/deployments`, deployment('worker', 2));
  await post(`/apis/apps/v1/namespaces/${ns}/daemonsets`, {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'log-shipper' },
    spec: {
      selector: { matchLabels: { app: 'log-shipper' } },
      template: {
        metadata: { labels: { app: 'log-shipper' } },
        spec: { nodeSelector: nodeLabel, containers: [container] },
      },
    },
  });
  return { ns, webMinAvailable, webReplicas };
}
