import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createKwokNodes } from '../../e2e/cluster/nodes.ts';
import { kubeconfigConnection } from '../../operator/kube/connection.ts';
import { ApiError, KubeHttp } from '../../operator/kube/http.ts';
import { applyFromBase, serviceAccountClient } from './identity.ts';
import { clients, eventually, uniq } from './kube.ts';

const kubeconfig = inject('kubeconfig');
const { core } = clients();
const NS = 'kreboot-system';
const own = uniq('own');
const other = uniq('other');
let admin: KubeHttp;
let agent: KubeHttp;

async function status(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 200;
  } catch (err) {
    if (err instanceof ApiError) return err.status;
    throw err;
  }
}

const mergePatch = (h: KubeHttp, path: string, body: unknown) =>
  h.request(path, { method: 'PATCH', contentType: 'application/merge-patch+json', body });
const smp = (h: KubeHttp, path: string, body: unknown) =>
  h.request(path, { method: 'PATCH', contentType: 'application/strategic-merge-patch+json', body });

beforeAll(async () => {
  admin = new KubeHttp(await kubeconfigConnection(kubeconfig));
  // The agent's RBAC and policy, as deploy/base renders them.
  applyFromBase(
    kubeconfig,
    (o) =>
      /kreboot-agent/.test(o.metadata.name) &&
      [
        'ServiceAccount',
        'ClusterRole',
        'ClusterRoleBinding',
        'ValidatingAdmissionPolicy',
        'ValidatingAdmissionPolicyBinding',
      ].includes(o.kind),
    5,
  );
  await createKwokNodes(core, [own, other]);
  await core.createNamespacedPod({
    namespace: NS,
    body: {
      metadata: { name: `agent-${own}` },
      spec: {
        nodeName: own,
        serviceAccountName: 'kreboot-agent',
        containers: [{ name: 'agent', image: 'registry.invalid/kreboot:1' }],
      },
    },
  });
  const pod = await eventually('agent pod', async () =>
    core.readNamespacedPod({ name: `agent-${own}`, namespace: NS }),
  );
  agent = await serviceAccountClient(admin, kubeconfig, 'kreboot-agent', {
    name: pod.metadata!.name!,
    uid: pod.metadata!.uid!,
  });
  // The token carries the node claim.
  const review = await agent.request<{
    status: { userInfo: { username: string; extra?: Record<string, string[]> } };
  }>('/apis/authentication.k8s.io/v1/selfsubjectreviews', {
    method: 'POST',
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
  });
  expect(review.status.userInfo.username).toBe(`system:serviceaccount:${NS}:kreboot-agent`);
  expect(review.status.userInfo.extra?.['authentication.kubernetes.io/node-name']).toEqual([own]);
});

afterAll(async () => {
  await Promise.all([own, other].map((name) => core.deleteNode({ name }).catch(() => {})));
  await core.deleteNamespacedPod({ name: `agent-${own}`, namespace: NS }).catch(() => {});
  admin?.close();
  agent?.close();
});

describe('the agent identity', () => {
  it('may set its own boot-ID annotation and RebootRequired condition', async () => {
    await eventually(
      'policy active',
      async () =>
        (await status(
          mergePatch(agent, `/api/v1/nodes/${other}`, {
            metadata: { annotations: { 'kreboot.io/boot-id': 'x' } },
          }),
        )) === 403,
    );
    expect(
      await status(
        mergePatch(agent, `/api/v1/nodes/${own}`, {
          metadata: { annotations: { 'kreboot.io/boot-id': 'b1' } },
        }),
      ),
    ).toBe(200);
    expect(
      await status(
        smp(agent, `/api/v1/nodes/${own}/status`, {
          status: {
            conditions: [
              { type: 'RebootRequired', status: 'True', reason: 'SentinelFilePresent', message: 'm' },
            ],
          },
        }),
      ),
    ).toBe(200);
  });

  it('may not touch another node, the spec, other annotations, labels, controller keys or other conditions', async () => {
    const denied: Array<[string, () => Promise<unknown>, RegExp]> = [
      [
        'another node',
        () =>
          mergePatch(agent, `/api/v1/nodes/${other}`, {
            metadata: { annotations: { 'kreboot.io/boot-id': 'x' } },
          }),
        /only the Node its token is bound to/,
      ],
      [
        'cordon itself',
        () => mergePatch(agent, `/api/v1/nodes/${own}`, { spec: { unschedulable: true } }),
        /may not change a Node's spec/,
      ],
      [
        'foreign annotation',
        () =>
          mergePatch(agent, `/api/v1/nodes/${own}`, { metadata: { annotations: { 'example.com/x': '1' } } }),
        /only its own kreboot.io annotations/,
      ],
      [
        'approve itself',
        () =>
          mergePatch(agent, `/api/v1/nodes/${own}`, {
            metadata: { annotations: { 'kreboot.io/approved-boot-id': 'b1' } },
          }),
        /only its own kreboot.io annotations/,
      ],
      [
        'labels',
        () => mergePatch(agent, `/api/v1/nodes/${own}`, { metadata: { labels: { x: '1' } } }),
        /may not change a Node's labels/,
      ],
      [
        'Ready condition',
        () =>
          smp(agent, `/api/v1/nodes/${own}/status`, {
            status: { conditions: [{ type: 'Ready', status: 'False', reason: 'x', message: 'x' }] },
          }),
        /only its own RebootRequired condition/,
      ],
    ];
    for (const [what, call, msg] of denied) {
      try {
        await call();
        throw new Error(`${what}: allowed`);
      } catch (err) {
        expect(err, what).toBeInstanceOf(ApiError);
        expect((err as ApiError).status, what).toBe(403);
        expect((err as ApiError).message, what).toMatch(msg);
      }
    }
  });

  it('has no RBAC for pods, evictions or leases', async () => {
    expect(await status(agent.request(`/api/v1/pods`))).toBe(403);
    expect(
      await status(
        agent.request(`/api/v1/namespaces/${NS}/pods/agent-${own}/eviction`, {
          method: 'POST',
          body: {
            apiVersion: 'policy/v1',
            kind: 'Eviction',
            metadata: { name: `agent-${own}`, namespace: NS },
          },
        }),
      ),
    ).toBe(403);
    expect(await status(agent.request(`/apis/coordination.k8s.io/v1/namespaces/${NS}/leases`))).toBe(403);
    expect(await status(agent.request(`/api/v1/nodes/${own}`, { method: 'DELETE' }))).toBe(403);
  });
});
