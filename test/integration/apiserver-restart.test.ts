// The API server goes away in the middle of a rollout and comes back: agents and controllers recover, and every
// node is still rebooted exactly once. Its own control plane, since it restarts the API server.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubeconfigConnection } from '../../operator/kube/connection.ts';
import { KubeHttp } from '../../operator/kube/http.ts';
import type { NodeLite } from '../../operator/kube/types.ts';
import { Annotations } from '../../operator/protocol.ts';
import { ControlPlane } from '../../testkit/cluster/controlplane.ts';
import { ControllerProcess } from '../../testkit/sim/controller-process.ts';
import { SimulatedNode } from '../../testkit/sim/simulated-node.ts';
import { eventually } from './kube.ts';

const root = mkdtempSync(join(tmpdir(), 'kreboot-apirestart-'));
let cp: ControlPlane;
let http: KubeHttp;
const sims: SimulatedNode[] = [];
const controllers: ControllerProcess[] = [];

beforeAll(async () => {
  cp = await ControlPlane.start({ dir: join(root, 'cp') });
  http = new KubeHttp(await kubeconfigConnection(cp.kubeconfig));
});
afterAll(async () => {
  await Promise.all(controllers.map((c) => c.stop('SIGKILL')));
  for (const s of sims) await s.destroy().catch(() => {});
  http?.close();
  await cp?.stop();
  rmSync(root, { recursive: true, force: true });
});

const nodes = () => http.request<{ items: NodeLite[] }>('/api/v1/nodes').then((l) => l.items);

describe('API server restarted mid-rollout', () => {
  it('everything recovers and each node is rebooted exactly once', async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfig);
    const core = kc.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: 'kreboot-system' } } });
    for (let i = 0; i < 3; i++) {
      const s = new SimulatedNode({
        name: `n${i}`,
        dir: join(root, `n${i}`),
        kubeconfig: cp.kubeconfig,
        http,
        downMs: 1500,
      });
      await s.create();
      sims.push(s);
    }
    await eventually('agents reported', async () =>
      (await nodes()).every((n) => n.status?.conditions?.some((c) => c.type === 'RebootRequired')),
    );
    for (const s of sims) s.needReboot();
    for (const i of [0, 1]) {
      controllers.push(
        new ControllerProcess({
          identity: `c${i}`,
          kubeconfig: cp.kubeconfig,
          namespace: 'kreboot-system',
          nodeSelector: '',
          args: ['--min-phase-time=1s'],
        }).start(),
      );
    }
    await eventually(
      'a node in progress',
      async () => (await nodes()).some((n) => n.metadata.annotations?.[Annotations.phase]),
      60_000,
      50,
    );
    await cp.restart('kube-apiserver', 4000);
    await eventually(
      'all rebooted and released',
      async () =>
        sims.every((s) => s.rebootsDone === 1) &&
        (await nodes()).every((n) => !n.metadata.annotations?.[Annotations.phase] && !n.spec?.unschedulable),
      180_000,
      250,
    );
    expect(sims.map((s) => s.agent.reboots())).toEqual([1, 1, 1]);
    expect(controllers.every((c) => c.running)).toBe(true);
  });
});
