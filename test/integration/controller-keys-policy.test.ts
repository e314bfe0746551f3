// Issue #12, item 1: the keys that steer a rollout are the controller's alone, at admission. The policy is the one
// in deploy/base; its binding here is scoped to this test's objects (a label), so the other test files sharing the
// control plane, whose controllers run as the admin, are not affected. Production's binding has no scope.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { kubeconfigConnection } from '../../operator/kube/connection.ts';
import { type ApiError, KubeHttp } from '../../operator/kube/http.ts';
import { Annotations } from '../../operator/protocol.ts';
import { createKwokNodes } from '../../testkit/cluster/nodes.ts';
import { KREBOOT_BUNDLE, NODE_BIN } from '../../testkit/sim/agent-process.ts';
import { requestToken } from '../../testkit/world/install.ts';
import { applyFromBase, serviceAccountClient } from './identity.ts';
import { clients, createNamespace, eventually, uniq } from './kube.ts';

const kubeconfig = inject('kubeconfig');
const { core } = clients();
const tag = uniq('keys');
const LABEL = 'kreboot.test/keys-policy';
const node = uniq('keys-node');
const ns = uniq('keys-ns');
let admin: KubeHttp;
let controller: KubeHttp;

function kubectl(args: string[], input?: string) {
  const r = spawnSync('kubectl', ['--kubeconfig', kubeconfig, ...args], { encoding: 'utf8', input });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
}
const breakGlass = ['--as=sre-on-call', '--as-group=system:masters', '--as-group=kreboot:break-glass'];

beforeAll(async () => {
  admin = new KubeHttp(await kubeconfigConnection(kubeconfig));
  const docs = parseAllDocuments(
    spawnSync('kubectl', ['kustomize', 'deploy/base'], { encoding: 'utf8' }).stdout,
  ).map((d) => d.toJSON());
  const policy = docs.find(
    (o) => o.kind === 'ValidatingAdmissionPolicy' && o.metadata.name === 'kreboot-controller-keys',
  );
  expect(policy).toBeDefined();
  const binding = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicyBinding',
    metadata: { name: `kreboot-controller-keys-${tag}` },
    spec: {
      policyName: 'kreboot-controller-keys',
      validationActions: ['Deny'],
      matchResources: { objectSelector: { matchLabels: { [LABEL]: tag } } },
    },
  };
  const r = kubectl(['apply', '-f', '-'], [policy, binding].map((o) => stringify(o)).join('---\n'));
  expect(r.ok, r.out).toBe(true);
  // The controller's identity as deploy/base installs it (service account, cluster role, binding).
  applyFromBase(
    kubeconfig,
    (o) =>
      o.metadata.name === 'kreboot-controller' &&
      ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind),
    3,
  );
  controller = await serviceAccountClient(admin, kubeconfig, 'kreboot-controller');
  await createKwokNodes(core, [node]);
  expect(kubectl(['label', 'node', node, `${LABEL}=${tag}`]).ok).toBe(true);
  await createNamespace(core, ns);
  const lease = {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: 'kreboot-lock', namespace: ns, labels: { [LABEL]: tag } },
    spec: {},
  };
  expect(kubectl(['apply', '-f', '-'], stringify(lease)).ok).toBe(true);
  // Wait until the binding is in force (admission caches refresh asynchronously).
  await eventually(
    'policy in force',
    async () => !kubectl(['annotate', '--dry-run=server', 'node', node, `${Annotations.phase}=cordoned`]).ok,
    30_000,
  );
});

afterAll(async () => {
  kubectl(['delete', 'validatingadmissionpolicybinding', `kreboot-controller-keys-${tag}`]);
  await core.deleteNode({ name: node }).catch(() => {});
  await core.deleteNamespace({ name: ns }).catch(() => {});
  admin?.close();
  controller?.close();
});

describe('controller-owned keys at admission', () => {
  it("refuses a cluster-admin's hostile phase, approval and lock writes, naming the keys and the way out", () => {
    const bootId = 'b-1';
    for (const args of [
      ['annotate', 'node', node, `${Annotations.phase}=cordoned`],
      ['annotate', 'node', node, `${Annotations.phase}=approved`, `${Annotations.approvedBootId}=${bootId}`],
      ['annotate', 'node', node, `${Annotations.approvedBootId}=${bootId}`],
      ['annotate', 'node', node, `${Annotations.wasUnschedulable}=true`],
      ['annotate', 'lease', '-n', ns, 'kreboot-lock', `${Annotations.lockEntries}=[{"node":"${node}"}]`],
      ['annotate', 'lease', '-n', ns, 'kreboot-lock', `${Annotations.halted}=x`],
    ]) {
      const r = kubectl(args);
      expect(r.ok, args.join(' ')).toBe(false);
      expect(r.out).toMatch(/denied request: only the kreboot controller may change kreboot\.io\//);
      expect(r.out).toMatch(/kreboot:break-glass/);
    }
    // Creating the lock anew with entries is a write too.
    const forged = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        name: 'kreboot-lock',
        namespace: `${ns}`,
        labels: { [LABEL]: tag },
        annotations: { [Annotations.lockEntries]: '[]' },
      },
      spec: {},
    };
    expect(kubectl(['delete', 'lease', '-n', ns, 'kreboot-lock']).ok).toBe(true);
    const c = kubectl(['create', '-f', '-'], stringify(forged));
    expect(c.ok).toBe(false);
    expect(c.out).toMatch(/only the kreboot controller may change kreboot.io\/lock-entries/);
    expect(
      kubectl(
        ['create', '-f', '-'],
        stringify({ ...forged, metadata: { ...forged.metadata, annotations: {} } }),
      ).ok,
    ).toBe(true);
  });

  it('leaves the rest open: pausing, a person asking for a reboot or excluding a node', () => {
    expect(kubectl(['annotate', 'lease', '-n', ns, 'kreboot-lock', `${Annotations.paused}=freeze`]).ok).toBe(
      true,
    );
    expect(kubectl(['annotate', 'node', node, `${Annotations.rebootRequested}=true`]).ok).toBe(true);
    expect(kubectl(['annotate', 'node', node, `${Annotations.exclude}=true`]).ok).toBe(true);
    expect(kubectl(['annotate', 'node', node, 'example.com/anything=1']).ok).toBe(true);
  });

  it('lets the break-glass group repair state', () => {
    const set = kubectl(['annotate', 'node', node, `${Annotations.phase}=cordoned`, ...breakGlass]);
    expect(set.ok, set.out).toBe(true);
    expect(kubectl(['annotate', 'node', node, `${Annotations.phase}-`, ...breakGlass]).ok).toBe(true);
    expect(
      kubectl(['annotate', 'lease', '-n', ns, 'kreboot-lock', `${Annotations.halted}=x`, ...breakGlass]).ok,
    ).toBe(true);
    expect(
      kubectl(['annotate', 'lease', '-n', ns, 'kreboot-lock', `${Annotations.halted}-`, ...breakGlass]).ok,
    ).toBe(true);
  });

  it('`kreboot clear-halt` goes through break-glass; without the right to impersonate it, one line says what to grant', async () => {
    const halt = () =>
      expect(
        kubectl([
          'annotate',
          'lease',
          '-n',
          ns,
          'kreboot-lock',
          `${Annotations.halted}=node x: gone`,
          ...breakGlass,
        ]).ok,
      ).toBe(true);
    const cli = (args: string[]) => {
      const r = spawnSync(
        NODE_BIN,
        [KREBOOT_BUNDLE, 'clear-halt', `--kubeconfig=${kubeconfig}`, `--namespace=${ns}`, ...args],
        {
          encoding: 'utf8',
        },
      );
      return { code: r.status, out: r.stdout, err: r.stderr };
    };
    halt();
    // A cluster-admin (system:masters): kubectl annotate is refused (first test); the CLI's break-glass write is not.
    const ok = cli(['--as=sre-on-call', '--as-group=system:masters']);
    expect(ok.code, ok.err).toBe(0);
    expect(ok.out).toBe('halt cleared: the rollout goes on (it had halted: node x: gone)\n');
    expect(
      kubectl(['get', 'lease', '-n', ns, 'kreboot-lock', '-o', 'jsonpath={.metadata.annotations}']).out,
    ).not.toContain(Annotations.halted);
    // Someone who may edit the lock but not impersonate the group: a service account with only that Role.
    halt();
    const role = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'lease-editor', namespace: ns },
      rules: [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'patch'] }],
    };
    const binding = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'lease-editor', namespace: ns },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'lease-editor' },
      subjects: [{ kind: 'ServiceAccount', name: 'lease-editor', namespace: ns }],
    };
    expect(kubectl(['create', 'serviceaccount', '-n', ns, 'lease-editor']).ok).toBe(true);
    expect(kubectl(['apply', '-f', '-'], [role, binding].map((o) => stringify(o)).join('---\n')).ok).toBe(
      true,
    );
    const token = await requestToken(admin, 'lease-editor', undefined, ns);
    const cluster = parseAllDocuments(readFileSync(kubeconfig, 'utf8'))[0]!.toJSON().clusters[0].cluster;
    const editorConfig = join(tmpdir(), `${tag}-lease-editor.kubeconfig`);
    writeFileSync(
      editorConfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'c', cluster }],
        users: [{ name: 'u', user: { token } }],
        contexts: [{ name: 'u', context: { cluster: 'c', user: 'u' } }],
        'current-context': 'u',
      }),
      { mode: 0o600 },
    );
    const denied = cli([`--kubeconfig=${editorConfig}`]);
    rmSync(editorConfig, { force: true });
    expect(denied.code).toBe(1);
    expect(denied.err.trim().split('\n')).toHaveLength(1);
    expect(denied.err).toMatch(/cannot impersonate/);
    expect(denied.err).toMatch(/through the group kreboot:break-glass, which needs RBAC to impersonate it/);
    expect(
      kubectl(['get', 'lease', '-n', ns, 'kreboot-lock', '-o', 'jsonpath={.metadata.annotations}']).out,
    ).toContain(Annotations.halted);
    expect(
      kubectl(['annotate', 'lease', '-n', ns, 'kreboot-lock', `${Annotations.halted}-`, ...breakGlass]).ok,
    ).toBe(true);
  });

  it("lets the controller's service account write them", async () => {
    await controller.request(`/api/v1/nodes/${node}`, {
      method: 'PATCH',
      contentType: 'application/merge-patch+json',
      body: {
        metadata: { annotations: { [Annotations.phase]: 'cordoned', [Annotations.approvedBootId]: null } },
      },
    });
    await controller.request(`/api/v1/nodes/${node}`, {
      method: 'PATCH',
      contentType: 'application/merge-patch+json',
      body: { metadata: { annotations: { [Annotations.phase]: null } } },
    });
    // The same write with the admin's own credentials is refused.
    let refused: ApiError | undefined;
    try {
      await admin.request(`/api/v1/nodes/${node}`, {
        method: 'PATCH',
        contentType: 'application/merge-patch+json',
        body: { metadata: { annotations: { [Annotations.phase]: 'draining' } } },
      });
    } catch (err) {
      refused = err as ApiError;
    }
    expect(refused?.status).toBe(403);
  });
});
