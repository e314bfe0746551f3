// The identities kreboot runs with, for tests: objects picked from deploy/base applied for real, and API clients
// that authenticate with a service account's TokenRequest token (never the admin's certificate).
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { expect } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { kubeconfigConnection } from '../../operator/kube/connection.ts';
import { KubeHttp } from '../../operator/kube/http.ts';
import { requestToken, SYSTEM_NS } from '../../testkit/world/install.ts';

interface Manifest {
  kind: string;
  metadata: { name: string };
}

/** Applies the objects of deploy/base that `pick` selects (into kreboot-system, created if missing). */
export function applyFromBase(kubeconfig: string, pick: (o: Manifest) => boolean, expected: number): void {
  const kubectl = (args: string[], input?: string) =>
    spawnSync('kubectl', ['--kubeconfig', kubeconfig, ...args], { encoding: 'utf8', input });
  kubectl(['create', 'namespace', SYSTEM_NS]);
  const rendered = spawnSync('kubectl', ['kustomize', 'deploy/base'], { encoding: 'utf8' }).stdout;
  const wanted = parseAllDocuments(rendered)
    .map((d) => d.toJSON() as Manifest)
    .filter(pick);
  expect(wanted.map((o) => `${o.kind}/${o.metadata.name}`)).toHaveLength(expected);
  const r = kubectl(['apply', '-f', '-'], wanted.map((o) => stringify(o)).join('---\n'));
  expect(r.status, r.stderr).toBe(0);
}

/** A client authenticating as the service account, optionally with a token bound to a pod. */
export async function serviceAccountClient(
  admin: KubeHttp,
  kubeconfig: string,
  serviceAccount: string,
  boundPod?: { name: string; uid: string },
  namespace?: string,
): Promise<KubeHttp> {
  const token = await requestToken(admin, serviceAccount, boundPod, namespace);
  const conn = await kubeconfigConnection(kubeconfig);
  return new KubeHttp({
    server: conn.server,
    ca: conn.ca,
    token: () => token,
    source: `${serviceAccount} token`,
  });
}

/**
 * A cluster-admin service account in `namespace` and a kubeconfig carrying its token for `server` (the API
 * server, or a proxy in front of it serving the same certificate): what tests use when requests must carry a
 * token (a proxy cannot forward a client certificate) or come from a credential plugin.
 */
export async function adminTokenKubeconfig(
  admin: KubeHttp,
  adminKubeconfig: string,
  namespace: string,
  path: string,
  server?: string,
): Promise<{ token: string; kubeconfig: string }> {
  await admin.request(`/apis/rbac.authorization.k8s.io/v1/clusterrolebindings`, {
    method: 'POST',
    body: {
      metadata: { name: `${namespace}-admin` },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: [{ kind: 'ServiceAccount', name: 'default', namespace }],
    },
  });
  const token = await requestToken(admin, 'default', undefined, namespace);
  const cluster = parseAllDocuments(readFileSync(adminKubeconfig, 'utf8'))[0]!.toJSON().clusters[0].cluster;
  writeFileSync(
    path,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { ...cluster, ...(server && { server }) } }],
      users: [{ name: 'sa', user: { token } }],
      contexts: [{ name: 'sa', context: { cluster: 'c', user: 'sa' } }],
      'current-context': 'sa',
    }),
    { mode: 0o600 },
  );
  return { token, kubeconfig: path };
}
