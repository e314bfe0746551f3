import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { kubeconfigConnection } from '../../operator/kube/connection.ts';
import { ApiError, KubeHttp } from '../../operator/kube/http.ts';
import { createKwokNodes } from '../../testkit/cluster/nodes.ts';
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

/** Each call is refused with 403 and a message naming the rule. */
async function expectDenied(denied: Array<[string, () => Promise<unknown>, RegExp]>): Promise<void> {
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
    await expectDenied(denied);
  });

  it('may change no other status field, finalizers or owner references (the whole object is compared)', async () => {
    const node = await admin.request<{ metadata: { uid: string } }>(`/api/v1/nodes/${own}`);
    const denied: Array<[string, () => Promise<unknown>, RegExp]> = [
      [
        'bootID (the controller proof of a reboot)',
        () => smp(agent, `/api/v1/nodes/${own}/status`, { status: { nodeInfo: { bootID: 'forged' } } }),
        /no Node status field but its RebootRequired condition/,
      ],
      [
        'capacity',
        () => smp(agent, `/api/v1/nodes/${own}/status`, { status: { capacity: { cpu: '512' } } }),
        /no Node status field/,
      ],
      [
        'allocatable',
        () => smp(agent, `/api/v1/nodes/${own}/status`, { status: { allocatable: { pods: '1000' } } }),
        /no Node status field/,
      ],
      [
        'addresses',
        () =>
          smp(agent, `/api/v1/nodes/${own}/status`, {
            status: { addresses: [{ type: 'InternalIP', address: '192.0.2.66' }] },
          }),
        /no Node status field/,
      ],
      [
        'finalizers',
        () => mergePatch(agent, `/api/v1/nodes/${own}`, { metadata: { finalizers: ['example.com/hold'] } }),
        /finalizers, owner references/,
      ],
      [
        'ownerReferences (the garbage collector would delete the Node)',
        () =>
          mergePatch(agent, `/api/v1/nodes/${own}`, {
            metadata: {
              ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: other, uid: node.metadata.uid }],
            },
          }),
        /finalizers, owner references/,
      ],
    ];
    await expectDenied(denied);
    expect((await admin.request<{ metadata: { uid: string } }>(`/api/v1/nodes/${own}`)).metadata.uid).toBe(
      node.metadata.uid,
    );
  });

  it("compares every NodeStatus and ObjectMeta field the API server's schema has", async () => {
    const spec = await admin.request<{
      components: { schemas: Record<string, { properties: Record<string, unknown> }> };
    }>('/openapi/v3/api/v1');
    const statusProps = Object.keys(spec.components.schemas['io.k8s.api.core.v1.NodeStatus']!.properties);
    const policy = parse(readFileSync('deploy/base/agent-policy.yaml', 'utf8').split('\n---\n')[0]!);
    const listed = (policy.spec.variables as Array<{ name: string; expression: string }>)
      .find((v) => v.name === 'statusFields')!
      .expression.match(/'([a-zA-Z]+)'/g)!
      .map((x) => x.slice(1, -1));
    expect([...listed, 'conditions'].sort()).toEqual(statusProps.sort());
    const metaProps = Object.keys(
      spec.components.schemas['io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta']!.properties,
    );
    const compared = ['annotations', 'labels', 'finalizers', 'ownerReferences', 'generateName'];
    const serverOwned = [
      'name',
      'namespace',
      'uid',
      'resourceVersion',
      'generation',
      'creationTimestamp',
      'deletionTimestamp',
      'deletionGracePeriodSeconds',
      'selfLink',
      'managedFields',
    ];
    for (const p of metaProps) expect([...compared, ...serverOwned], `ObjectMeta.${p}`).toContain(p);
  });

  it('stays confined when kreboot is installed into another namespace with a kustomize overlay', async () => {
    const ns = uniq('kreboot-alt');
    const dir = mkdtempSync(join(tmpdir(), 'kreboot-overlay-'));
    try {
      symlinkSync(resolve('deploy/base'), join(dir, 'base'));
      writeFileSync(
        join(dir, 'kustomization.yaml'),
        stringify({
          apiVersion: 'kustomize.config.k8s.io/v1beta1',
          kind: 'Kustomization',
          namespace: ns,
          resources: ['base'],
        }),
      );
      const rendered = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8' });
      expect(rendered.status, rendered.stderr).toBe(0);
      const agentObjs = parseAllDocuments(rendered.stdout)
        .map((d) => d.toJSON() as { kind: string; metadata: { name: string; namespace?: string } })
        .filter(
          (o) =>
            ['ServiceAccount', 'ClusterRoleBinding'].includes(o.kind) &&
            /kreboot-agent/.test(o.metadata.name),
        )
        .map((o) =>
          o.kind === 'ClusterRoleBinding' ? { ...o, metadata: { ...o.metadata, name: `${ns}-agent` } } : o,
        );
      expect(agentObjs.map((o) => o.kind).sort()).toEqual(['ClusterRoleBinding', 'ServiceAccount']);
      expect(agentObjs.find((o) => o.kind === 'ServiceAccount')!.metadata.namespace).toBe(ns);
      await core.createNamespace({ body: { metadata: { name: ns } } });
      const kc = spawnSync('kubectl', ['--kubeconfig', kubeconfig, 'apply', '-f', '-'], {
        encoding: 'utf8',
        input: agentObjs.map((o) => stringify(o)).join('---\n'),
      });
      expect(kc.status, kc.stderr).toBe(0);
      await core.createNamespacedPod({
        namespace: ns,
        body: {
          metadata: { name: 'agent' },
          spec: {
            nodeName: own,
            serviceAccountName: 'kreboot-agent',
            containers: [{ name: 'agent', image: 'registry.invalid/kreboot:1' }],
          },
        },
      });
      const pod = await eventually('pod', async () =>
        core.readNamespacedPod({ name: 'agent', namespace: ns }),
      );
      const alt = await serviceAccountClient(
        admin,
        kubeconfig,
        'kreboot-agent',
        { name: 'agent', uid: pod.metadata!.uid! },
        ns,
      );
      try {
        // Its RBAC works (own keys; the new binding takes a moment to reach the authorizer) …
        let last = '';
        await eventually(
          'own keys writable',
          async () => {
            try {
              await mergePatch(alt, `/api/v1/nodes/${own}`, {
                metadata: { annotations: { 'kreboot.io/boot-id': 'alt' } },
              });
              return true;
            } catch (err) {
              last = (err as Error).message;
              return false;
            }
          },
          20_000,
        ).catch((err) => {
          throw new Error(`${(err as Error).message}: ${last}`);
        });
        // … and the policy still confines it.
        for (const [what, call] of [
          [
            'another node',
            () =>
              mergePatch(alt, `/api/v1/nodes/${other}`, {
                metadata: { annotations: { 'kreboot.io/boot-id': 'x' } },
              }),
          ],
          [
            'approve itself',
            () =>
              mergePatch(alt, `/api/v1/nodes/${own}`, {
                metadata: { annotations: { 'kreboot.io/approved-boot-id': 'b1' } },
              }),
          ],
          [
            'bootID',
            () => smp(alt, `/api/v1/nodes/${own}/status`, { status: { nodeInfo: { bootID: 'forged' } } }),
          ],
        ] as const) {
          expect(await status(call()), what).toBe(403);
        }
      } finally {
        alt.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await core.deleteNamespace({ name: ns }).catch(() => {});
      spawnSync('kubectl', ['--kubeconfig', kubeconfig, 'delete', 'clusterrolebinding', `${ns}-agent`]);
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
