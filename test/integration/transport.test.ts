// kreboot's transport on the real API server: a long-lived signal (a leader's term) carries thousands of requests
// and keeps no listener; every request has a total deadline; a request held up in the work pool does not hold up
// the Lease pool.
import { getEventListeners } from 'node:events';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { kubeconfigConnection } from '../../operator/kube/connection.ts';
import { KubeHttp } from '../../operator/kube/http.ts';
import { ApiProxy } from '../../testkit/sim/api-proxy.ts';
import { adminTokenKubeconfig } from './identity.ts';
import { eventually, uniq } from './kube.ts';

let admin: KubeHttp;
let proxy: ApiProxy;
let viaProxy: KubeHttp;
const ns = uniq('tr');

beforeAll(async () => {
  admin = new KubeHttp(await kubeconfigConnection(inject('kubeconfig')));
  proxy = await new ApiProxy(admin.conn.server, join(inject('clusterDir'), 'pki')).start();
  await admin.request('/api/v1/namespaces', { method: 'POST', body: { metadata: { name: ns } } });
  await eventually('default ServiceAccount', () =>
    admin.request(`/api/v1/namespaces/${ns}/serviceaccounts/default`).then(() => true),
  );
  const { kubeconfig } = await adminTokenKubeconfig(
    admin,
    inject('kubeconfig'),
    ns,
    join(inject('clusterDir'), `${ns}.json`),
    proxy.url,
  );
  viaProxy = new KubeHttp(await kubeconfigConnection(kubeconfig));
});

afterAll(async () => {
  await admin
    .request(`/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${ns}-admin`, { method: 'DELETE' })
    .catch(() => {});
  await admin.request(`/api/v1/namespaces/${ns}`, { method: 'DELETE' }).catch(() => {});
  viaProxy.close();
  admin.close();
  await proxy.stop();
});

it('2,000 requests on one long-lived signal leave no abort listener behind', async () => {
  const term = new AbortController();
  for (let i = 0; i < 2000; i += 20)
    await Promise.all(
      Array.from({ length: 20 }, () => admin.request(`/api/v1/namespaces/${ns}`, { signal: term.signal })),
    );
  expect(getEventListeners(term.signal, 'abort')).toHaveLength(0);
  // Failed requests too (404): nothing left.
  for (let i = 0; i < 50; i++)
    await admin.request(`/api/v1/namespaces/${ns}-missing`, { signal: term.signal }).catch(() => {});
  expect(getEventListeners(term.signal, 'abort')).toHaveLength(0);
});

it('every request has a total deadline', async () => {
  proxy.rules = [{ match: (q) => q.path === `/api/v1/namespaces/${ns}`, delayMs: 3000 }];
  try {
    const t0 = Date.now();
    await expect(viaProxy.request(`/api/v1/namespaces/${ns}`, { timeoutMs: 500 })).rejects.toThrow(
      /no complete answer in 500 ms/,
    );
    expect(Date.now() - t0).toBeLessThan(1500);
  } finally {
    proxy.rules = [];
  }
});

it('requests stuck in the work pool do not hold up the Lease pool', async () => {
  proxy.rules = [{ match: (q) => q.path === '/api/v1/pods', delayMs: 2000 }];
  try {
    // Fill the work pool (8 sockets) twice over with slow requests.
    const slow = Array.from({ length: 16 }, () => viaProxy.request('/api/v1/pods', { timeoutMs: 10_000 }));
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    await viaProxy.request(`/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`, { pool: 'lease' });
    const leaseMs = Date.now() - t0;
    const t1 = Date.now();
    await viaProxy.request(`/api/v1/namespaces/${ns}`);
    const workMs = Date.now() - t1;
    await Promise.all(slow);
    process.stderr.write(
      `[transport] with 16 requests held 2 s in the work pool: lease pool ${leaseMs} ms, work pool ${workMs} ms\n`,
    );
    // The Lease request went straight through (it did not wait for a 2 s hold); a work request queued behind them.
    expect(leaseMs).toBeLessThan(1500);
    expect(workMs).toBeGreaterThan(1500);
  } finally {
    proxy.rules = [];
  }
});
