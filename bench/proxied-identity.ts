// A bench's clients behind the counting proxy: the proxy terminates TLS, so they authenticate with a service
// account's token (cluster-admin: a bench measures requests, not permissions) instead of the admin's certificate.
import { readFileSync, writeFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { KubeHttp } from '../operator/kube/http.ts';
import { requestToken } from '../testkit/world/install.ts';

export interface ProxiedIdentity {
  namespace: string;
  serviceAccount: string;
  /** The admin kubeconfig whose cluster (CA) the new one keeps. */
  adminKubeconfig: string;
  proxyUrl: string;
  /** Where to write the kubeconfig (JSON). */
  path: string;
}

/** Creates the service account and its binding once. */
export async function createIdentity(http: KubeHttp, o: ProxiedIdentity): Promise<void> {
  await http.request(`/api/v1/namespaces/${o.namespace}/serviceaccounts`, {
    method: 'POST',
    body: { metadata: { name: o.serviceAccount } },
  });
  await http.request('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
    method: 'POST',
    body: {
      metadata: { name: `bench-${o.namespace}-${o.serviceAccount}` },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: [{ kind: 'ServiceAccount', name: o.serviceAccount, namespace: o.namespace }],
    },
  });
}

/** Writes a kubeconfig with a fresh token (1 h) that reaches the API server through the proxy; returns its path. */
export async function writeProxiedKubeconfig(http: KubeHttp, o: ProxiedIdentity): Promise<string> {
  const token = await requestToken(http, o.serviceAccount, undefined, o.namespace);
  const cluster = parse(readFileSync(o.adminKubeconfig, 'utf8')).clusters[0].cluster;
  writeFileSync(
    o.path,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { ...cluster, server: o.proxyUrl } }],
      users: [{ name: 'u', user: { token } }],
      contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'c',
    }),
  );
  return o.path;
}
