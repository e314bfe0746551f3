// The invariant monitor on the real API server: fed by watches, it sees a violation that lasts 50 ms (two nodes
// in a kreboot phase under a budget of 1), which a 100 ms sampler would see only by luck.
import { afterAll, expect, inject, it } from 'vitest';
import { kubeconfigConnection } from '../../operator/kube/connection.ts';
import { KubeHttp } from '../../operator/kube/http.ts';
import type { NodeLite } from '../../operator/kube/types.ts';
import { Annotations } from '../../operator/protocol.ts';
import { kwokNode } from '../../testkit/cluster/nodes.ts';
import { disruptedNow, InvariantMonitor } from '../../testkit/invariants/monitor.ts';
import { eventually, uniq } from './kube.ts';

const group = uniq('mon');
const names = [`${group}-a`, `${group}-b`];
const ctl = new AbortController();
let http: KubeHttp;

afterAll(async () => {
  ctl.abort();
  for (const name of names) await http.request(`/api/v1/nodes/${name}`, { method: 'DELETE' }).catch(() => {});
  http.close();
});

const phase = (name: string, value: string | null) =>
  http.request(`/api/v1/nodes/${name}`, {
    method: 'PATCH',
    contentType: 'application/merge-patch+json',
    body: {
      metadata: { annotations: { [Annotations.phase]: value } },
      spec: { unschedulable: value !== null },
    },
  });

it('catches two nodes cordoned for 50 ms, from watch events in resourceVersion order', async () => {
  http = new KubeHttp(await kubeconfigConnection(inject('kubeconfig')));
  for (const name of names)
    await http.request('/api/v1/nodes', {
      method: 'POST',
      body: kwokNode(name, { labels: { 'kreboot.test/group': group } }),
    });
  await eventually('both nodes Ready (kwok)', async () => {
    const l = await http.request<{ items: NodeLite[] }>(
      `/api/v1/nodes?labelSelector=kreboot.test/group=${group}`,
    );
    return l.items.length === 2 && l.items.every((n) => !disruptedNow(n));
  });
  const m = new InvariantMonitor({ budget: 1 });
  void m.run(http, { nodeSelector: `kreboot.test/group=${group}` }, ctl.signal);
  await m.synced();
  expect(m.violations).toEqual([]);
  const before = m.events;
  await Promise.all(names.map((n) => phase(n, 'cordoned')));
  await new Promise((r) => setTimeout(r, 50));
  await Promise.all(names.map((n) => phase(n, null)));
  await eventually(
    'the four writes seen',
    async () => (m.events >= before + 4 ? true : undefined),
    10_000,
    20,
  );
  expect(m.violations).toHaveLength(1);
  expect(m.violations[0]).toMatch(/2 nodes disrupted at once, budget 1/);
  expect(m.cordons.get(names[0]!)).toBe(1);
});
