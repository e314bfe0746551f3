// The local control plane is a real Kubernetes: these prove the behaviours kreboot relies on.
import { readFileSync } from 'node:fs';
import type { V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKwokNodes, isReady } from '../../testkit/cluster/nodes.ts';
import { clients, createNamespace, eventually, statusOf, uniq } from './kube.ts';

const { core, apps, policy, coordination, version } = clients();
const pinned = /^KUBERNETES_VERSION=(\S+)$/m.exec(readFileSync('testkit/cluster/versions.env', 'utf8'))![1]!;

const group = uniq('cp');
const nodeNames = [0, 1, 2].map((i) => `${group}-node-${i}`);
const ns = group;

function pod(name: string, nodeName: string, labels: Record<string, string> = {}): V1Pod {
  return {
    metadata: { name, labels },
    spec: {
      nodeName,
      terminationGracePeriodSeconds: 5,
      containers: [{ name: 'app', image: 'registry.invalid/app:1' }],
    },
  };
}

beforeAll(async () => {
  await createNamespace(core, ns);
  await createKwokNodes(core, nodeNames, { labels: { 'kreboot.test/group': group } });
});

afterAll(async () => {
  await core.deleteNamespace({ name: ns }).catch(() => {});
  await Promise.all(nodeNames.map((name) => core.deleteNode({ name }).catch(() => {})));
});

describe('local control plane', () => {
  it('reports the pinned Kubernetes version on /version', async () => {
    const v = await version.getCode();
    expect(v.gitVersion).toBe(pinned);
    expect(`v${v.major}.${v.minor}`).toBe(pinned.replace(/\.\d+$/, ''));
  });

  it('makes three kwok nodes Ready', async () => {
    await eventually('3 Ready nodes', async () => {
      const list = await core.listNode({ labelSelector: `kreboot.test/group=${group}` });
      return list.items.length === 3 && list.items.every(isReady);
    });
  });

  it('runs a pod bound to a kwok node and completes its graceful delete', async () => {
    const name = 'bound';
    await core.createNamespacedPod({ namespace: ns, body: pod(name, nodeNames[0]!) });
    const running = await eventually('pod Running', async () => {
      const p = await core.readNamespacedPod({ name, namespace: ns });
      return p.status?.phase === 'Running' && p;
    });
    expect(running.status?.podIP).toBeTruthy();
    await core.deleteNamespacedPod({ name, namespace: ns, gracePeriodSeconds: 5 });
    await eventually('pod gone', async () => {
      try {
        await core.readNamespacedPod({ name, namespace: ns });
        return false;
      } catch (err) {
        return statusOf(err) === 404;
      }
    });
  });

  it('gives a DaemonSet one pod per kwok node (controller-manager and scheduler at work)', async () => {
    const labels = { app: 'ds' };
    await apps.createNamespacedDaemonSet({
      namespace: ns,
      body: {
        metadata: { name: 'ds' },
        spec: {
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: {
              nodeSelector: { 'kreboot.test/group': group },
              containers: [{ name: 'agent', image: 'registry.invalid/agent:1' }],
            },
          },
        },
      },
    });
    const pods = await eventually('3 running DaemonSet pods', async () => {
      const list = await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=ds' });
      const running = list.items.filter((p) => p.status?.phase === 'Running');
      return running.length === 3 && running;
    });
    expect(new Set(pods.map((p) => p.spec?.nodeName))).toEqual(new Set(nodeNames));
    const ds = await apps.readNamespacedDaemonSetStatus({ name: 'ds', namespace: ns });
    expect(ds.status?.desiredNumberScheduled).toBe(3);
  });

  it('refuses an eviction that a PDB forbids with 429, and allows it once the PDB does', async () => {
    const labels = { app: 'guarded' };
    await core.createNamespacedPod({ namespace: ns, body: pod('guarded', nodeNames[1]!, labels) });
    await eventually('guarded pod Running', async () => {
      const p = await core.readNamespacedPod({ name: 'guarded', namespace: ns });
      return p.status?.phase === 'Running';
    });
    await policy.createNamespacedPodDisruptionBudget({
      namespace: ns,
      // minAvailable (not maxUnavailable): the disruption controller can count bare pods only that way.
      body: { metadata: { name: 'guard' }, spec: { minAvailable: 1, selector: { matchLabels: labels } } },
    });
    await eventually('PDB observed by the disruption controller', async () => {
      const b = await policy.readNamespacedPodDisruptionBudgetStatus({ name: 'guard', namespace: ns });
      return (
        b.status?.observedGeneration === b.metadata?.generation &&
        b.status?.expectedPods === 1 &&
        b.status?.disruptionsAllowed === 0
      );
    });
    const evict = () =>
      core.createNamespacedPodEviction({
        name: 'guarded',
        namespace: ns,
        body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: 'guarded', namespace: ns } },
      });
    let refused: unknown;
    try {
      await evict();
    } catch (err) {
      refused = err;
    }
    expect(statusOf(refused)).toBe(429);

    await policy.patchNamespacedPodDisruptionBudget(
      { name: 'guard', namespace: ns, body: [{ op: 'replace', path: '/spec/minAvailable', value: 0 }] },
      undefined,
    );
    await eventually(
      'eviction allowed',
      async () => {
        try {
          await evict();
          return true;
        } catch (err) {
          if (statusOf(err) === 429) return false;
          throw err;
        }
      },
      30_000,
    );
    await eventually('evicted pod gone', async () => {
      const list = await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=guarded' });
      return list.items.length === 0;
    });
  });

  it('rejects a Lease replace with a stale resourceVersion with 409', async () => {
    const name = 'lock';
    const created = await coordination.createNamespacedLease({
      namespace: ns,
      body: { metadata: { name }, spec: { holderIdentity: 'a', leaseDurationSeconds: 15 } },
    });
    const stale = created.metadata!.resourceVersion!;
    await coordination.replaceNamespacedLease({
      name,
      namespace: ns,
      body: {
        metadata: { name, resourceVersion: stale },
        spec: { holderIdentity: 'b', leaseDurationSeconds: 15 },
      },
    });
    let conflict: unknown;
    try {
      await coordination.replaceNamespacedLease({
        name,
        namespace: ns,
        body: {
          metadata: { name, resourceVersion: stale },
          spec: { holderIdentity: 'c', leaseDurationSeconds: 15 },
        },
      });
    } catch (err) {
      conflict = err;
    }
    expect(statusOf(conflict)).toBe(409);
    const now = await coordination.readNamespacedLease({ name, namespace: ns });
    expect(now.spec?.holderIdentity).toBe('b');
  });
});
