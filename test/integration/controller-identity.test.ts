// The controller's real identity (a TokenRequest token for its service account, RBAC from deploy/base): it may do
// each thing its job needs and nothing else. Checked with SelfSubjectAccessReviews (what the authorizer says)
// and with real calls for the forbidden side (what the API server does).
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { kubeconfigConnection } from '../../operator/kube/connection.ts';
import { ApiError, KubeHttp } from '../../operator/kube/http.ts';
import { applyFromBase, serviceAccountClient } from './identity.ts';

const kubeconfig = inject('kubeconfig');
const NS = 'kreboot-system';
let admin: KubeHttp;
let controller: KubeHttp;

interface Access {
  verb: string;
  resource: string;
  group?: string;
  subresource?: string;
  namespace?: string;
}

async function allowed(a: Access): Promise<boolean> {
  const r = await controller.request<{ status: { allowed: boolean } }>(
    '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
    {
      method: 'POST',
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SelfSubjectAccessReview',
        spec: { resourceAttributes: { group: a.group ?? '', ...a } },
      },
    },
  );
  return r.status.allowed;
}

const show = (a: Access) =>
  `${a.verb} ${a.group ? `${a.group}/` : ''}${a.resource}${a.subresource ? `/${a.subresource}` : ''}${a.namespace ? ` in ${a.namespace}` : ''}`;

beforeAll(async () => {
  admin = new KubeHttp(await kubeconfigConnection(kubeconfig));
  applyFromBase(
    kubeconfig,
    (o) =>
      o.metadata.name === 'kreboot-controller' &&
      ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'].includes(o.kind),
    5,
  );
  controller = await serviceAccountClient(admin, kubeconfig, 'kreboot-controller');
});

afterAll(() => {
  admin?.close();
  controller?.close();
});

describe('the controller identity', () => {
  it('is the controller service account', async () => {
    const review = await controller.request<{ status: { userInfo: { username: string } } }>(
      '/apis/authentication.k8s.io/v1/selfsubjectreviews',
      { method: 'POST', body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } },
    );
    expect(review.status.userInfo.username).toBe(`system:serviceaccount:${NS}:kreboot-controller`);
  });

  it('may do every part of its job', async () => {
    const job: Access[] = [
      ...['get', 'list', 'watch', 'patch'].map((verb) => ({ verb, resource: 'nodes' })),
      { verb: 'patch', resource: 'nodes', subresource: 'status' },
      ...['get', 'list', 'watch'].map((verb) => ({ verb, resource: 'pods' })),
      { verb: 'delete', resource: 'pods', namespace: 'default' }, // --drain-timeout-policy=force only
      { verb: 'create', resource: 'pods', subresource: 'eviction', namespace: 'default' },
      { verb: 'list', resource: 'poddisruptionbudgets', group: 'policy' },
      ...['get', 'list', 'watch'].map((verb) => ({
        verb,
        resource: 'maintenancewindows',
        group: 'kreboot.io',
      })),
      { verb: 'patch', resource: 'maintenancewindows', group: 'kreboot.io', subresource: 'status' },
      { verb: 'create', resource: 'events', group: 'events.k8s.io', namespace: 'default' },
      ...['get', 'create', 'update'].map((verb) => ({
        verb,
        resource: 'leases',
        group: 'coordination.k8s.io',
        namespace: NS,
      })),
    ];
    const refused: string[] = [];
    for (const a of job) if (!(await allowed(a))) refused.push(show(a));
    expect(refused).toEqual([]);
  });

  it('is denied everything outside it', async () => {
    const outside: Access[] = [
      { verb: 'get', resource: 'secrets', namespace: NS },
      { verb: 'list', resource: 'secrets' },
      { verb: 'list', resource: 'configmaps' },
      { verb: 'create', resource: 'pods', namespace: 'default' },
      { verb: 'create', resource: 'pods', subresource: 'exec', namespace: 'default' },
      { verb: 'update', resource: 'pods', namespace: 'default' },
      { verb: 'delete', resource: 'nodes' },
      { verb: 'create', resource: 'nodes' },
      { verb: 'get', resource: 'nodes', subresource: 'proxy' },
      { verb: 'create', resource: 'serviceaccounts', subresource: 'token', namespace: NS },
      { verb: 'patch', resource: 'deployments', group: 'apps', namespace: NS },
      { verb: 'delete', resource: 'daemonsets', group: 'apps', namespace: NS },
      { verb: 'create', resource: 'poddisruptionbudgets', group: 'policy', namespace: 'default' },
      { verb: 'delete', resource: 'poddisruptionbudgets', group: 'policy', namespace: 'default' },
      { verb: 'create', resource: 'maintenancewindows', group: 'kreboot.io' },
      { verb: 'delete', resource: 'maintenancewindows', group: 'kreboot.io' },
      { verb: 'update', resource: 'maintenancewindows', group: 'kreboot.io' },
      { verb: 'get', resource: 'leases', group: 'coordination.k8s.io', namespace: 'kube-system' },
      { verb: 'delete', resource: 'leases', group: 'coordination.k8s.io', namespace: NS },
      { verb: 'create', resource: 'clusterrolebindings', group: 'rbac.authorization.k8s.io' },
      { verb: 'escalate', resource: 'clusterroles', group: 'rbac.authorization.k8s.io' },
      { verb: 'delete', resource: 'namespaces' },
      { verb: 'update', resource: 'customresourcedefinitions', group: 'apiextensions.k8s.io' },
      { verb: 'delete', resource: 'validatingadmissionpolicies', group: 'admissionregistration.k8s.io' },
      { verb: 'impersonate', resource: 'serviceaccounts' },
    ];
    const granted: string[] = [];
    for (const a of outside) if (await allowed(a)) granted.push(show(a));
    expect(granted).toEqual([]);
    // And the API server really refuses a sample of them.
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['list secrets', () => controller.request('/api/v1/secrets')],
      [
        'read a lease in kube-system',
        () => controller.request('/apis/coordination.k8s.io/v1/namespaces/kube-system/leases'),
      ],
      [
        'create a pod',
        () =>
          controller.request('/api/v1/namespaces/default/pods', {
            method: 'POST',
            body: {
              apiVersion: 'v1',
              kind: 'Pod',
              metadata: { name: 'x' },
              spec: { containers: [{ name: 'c', image: 'i' }] },
            },
          }),
      ],
      ['delete the namespace', () => controller.request(`/api/v1/namespaces/${NS}`, { method: 'DELETE' })],
    ];
    for (const [what, call] of calls) {
      const err = await call().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, what).toBeInstanceOf(ApiError);
      expect((err as ApiError).status, what).toBe(403);
    }
  });
});
