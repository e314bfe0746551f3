// Leadership on demand (--leadership=on-demand, the default): two real controller replicas, their every request
// counted by a proxy in front of the API server. Idle, neither holds the leader Lease nor makes a request beyond
// its watches; a node turning pending wakes both (a watch event), one wins the Lease, the rollout runs, and the
// leader releases the Lease once idle. The safety invariants hold across every hand-over (the monitor watches).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { kubeconfigConnection } from '../../operator/kube/connection.ts';
import { KubeHttp } from '../../operator/kube/http.ts';
import { Leases } from '../../operator/protocol.ts';
import { ApiProxy } from '../../testkit/sim/api-proxy.ts';
import { adminTokenKubeconfig } from './identity.ts';
import { eventually, uniq } from './kube.ts';
import { Rollout } from './rollout.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let admin: KubeHttp;
let proxy: ApiProxy;
let kubeconfig: string;
const ns = uniq('ld');
const root = mkdtempSync(join(tmpdir(), 'kreboot-leadership-'));
const rollout = (o: { nodes: number; args: string[] }) =>
  new Rollout({ nodes: o.nodes, root, controllerKubeconfig: kubeconfig, controllerArgs: o.args }).start();

beforeAll(async () => {
  admin = new KubeHttp(await kubeconfigConnection(inject('kubeconfig')));
  proxy = await new ApiProxy(admin.conn.server, join(inject('clusterDir'), 'pki')).start();
  await admin.request('/api/v1/namespaces', { method: 'POST', body: { metadata: { name: ns } } });
  await eventually('default ServiceAccount', () =>
    admin.request(`/api/v1/namespaces/${ns}/serviceaccounts/default`).then(() => true),
  );
  ({ kubeconfig } = await adminTokenKubeconfig(
    admin,
    inject('kubeconfig'),
    ns,
    join(inject('clusterDir'), `${ns}.json`),
    proxy.url,
  ));
});

afterAll(async () => {
  await admin
    .request(`/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${ns}-admin`, { method: 'DELETE' })
    .catch(() => {});
  await admin.request(`/api/v1/namespaces/${ns}`, { method: 'DELETE' }).catch(() => {});
  admin.close();
  await proxy.stop();
});

async function leaseHolder(r: Rollout): Promise<string> {
  const lease = await r.c.coordination
    .readNamespacedLease({ name: Leases.leader, namespace: r.ns })
    .catch(() => undefined);
  return lease?.spec?.holderIdentity ?? '';
}

const acquisitions = (r: Rollout) =>
  r.controllers.reduce((n, c) => n + c.log.split('became the leader').length - 1, 0);
const idleLines = (r: Rollout) =>
  r.controllers.map((c) => c.log.split('nothing to do: not campaigning').length - 1);

describe('leadership on demand', () => {
  it('idle: no Lease held and no request beyond the watches; pending: led, rolled out, released again', async () => {
    const r = await rollout({ nodes: 2, args: ['--idle-release=1s'] });
    await r.startControllers();
    await eventually('both replicas idle', async () => idleLines(r).every((n) => n >= 1));
    expect(await leaseHolder(r)).toBe('');

    const t0 = Date.now();
    await sleep(15_000);
    const during = proxy.requests.filter((q) => q.at >= t0);
    const calls = during.filter((q) => !q.watch).map((q) => `${q.method} ${q.path}`);
    process.stderr.write(
      `[leadership] idle 15 s, two replicas: ${calls.length} requests, ${during.length - calls.length} watch (re)connections\n`,
    );
    expect(calls).toEqual([]);
    expect(await leaseHolder(r)).toBe('');

    // A node turns pending: a watch event wakes both replicas; one takes the Lease.
    r.sims[0]!.needReboot();
    const seen = await eventually(
      'RebootRequired=True visible',
      async () => {
        const n = await r.node(r.sims[0]!.name);
        return (
          n.status?.conditions?.some((c) => c.type === 'RebootRequired' && c.status === 'True') && Date.now()
        );
      },
      30_000,
      20,
    );
    const led = await eventually(
      'a replica leads',
      async () => (await leaseHolder(r)) !== '' && Date.now(),
      30_000,
      20,
    );
    process.stderr.write(
      `[leadership] Lease held ≤ ${led - seen} ms after the condition was visible to a 20 ms poll\n`,
    );
    await eventually('rebooted', async () => r.sims[0]!.rebootsDone === 1, 90_000);
    await eventually('released once idle', async () => (await leaseHolder(r)) === '', 60_000);
    expect(r.cordons.get(r.sims[0]!.name)).toBe(1);
    expect(r.maxDisrupted).toBe(1);
    await r.stop();
  });

  it('nodes turning pending while both replicas race for the released Lease: one leads each time, each node rebooted once', async () => {
    const rounds = 4;
    const r = await rollout({ nodes: rounds, args: ['--idle-release=1s'] });
    await r.startControllers();
    for (let i = 0; i < rounds; i++) {
      await eventually(
        `idle before round ${i}`,
        async () => (await leaseHolder(r)) === '' && idleLines(r).every((n) => n >= i + 1),
        60_000,
      );
      const before = acquisitions(r);
      r.sims[i]!.needReboot();
      await eventually(`round ${i}: rebooted`, async () => r.sims[i]!.rebootsDone === 1, 90_000);
      await eventually(`round ${i}: released`, async () => (await leaseHolder(r)) === '', 60_000);
      // Both replicas woke for the same event; exactly one acquired (the other's write conflicted or found it held).
      expect(acquisitions(r) - before, `round ${i}`).toBe(1);
    }
    for (const s of r.sims) expect(r.cordons.get(s.name), s.name).toBe(1);
    expect(r.sims.map((s) => s.rebootsDone)).toEqual(new Array(rounds).fill(1));
    expect(r.maxDisrupted).toBe(1);
    await r.stop();
  });
});
