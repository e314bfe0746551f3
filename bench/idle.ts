// npm run bench -- idle: what the controller Deployment (2 replicas) costs the API server with nothing to do, and
// how fast it takes the lead when a node turns pending. Both replicas reach the API server through a counting
// proxy (so every request counted is theirs), on the full local control plane with simulated nodes and real agents.
// First --leadership=always (the previous behaviour) for KREBOOT_IDLE_ALWAYS_SECONDS (300), then the default
// on-demand for KREBOOT_IDLE_SECONDS (1800); then KREBOOT_IDLE_ROUNDS (5) times: a node turns pending, the time
// until a replica holds the Lease, the rollout, and the release.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kubeconfigConnection } from '../operator/kube/connection.ts';
import { KubeHttp } from '../operator/kube/http.ts';
import type { NodeLite } from '../operator/kube/types.ts';
import { Leases } from '../operator/protocol.ts';
import { ControlPlane } from '../testkit/cluster/controlplane.ts';
import { ApiProxy } from '../testkit/sim/api-proxy.ts';
import { ControllerProcess } from '../testkit/sim/controller-process.ts';
import { SimulatedNode } from '../testkit/sim/simulated-node.ts';
import { installCrd } from './crd.ts';
import { createIdentity, writeProxiedKubeconfig } from './proxied-identity.ts';
import { fmt, summary } from './stats.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const NS = 'kreboot-system';
const GROUP = 'kreboot.bench/group=idle';

export async function benchIdle(): Promise<string[]> {
  const env = process.env;
  const ALWAYS_S = Number(env.KREBOOT_IDLE_ALWAYS_SECONDS ?? 300);
  const IDLE_S = Number(env.KREBOOT_IDLE_SECONDS ?? 1800);
  const ROUNDS = Number(env.KREBOOT_IDLE_ROUNDS ?? 5);
  const say = (s: string) => process.stderr.write(`[idle] ${s}\n`);
  const dir = mkdtempSync(join(tmpdir(), 'kreboot-bench-idle-'));
  const cp = await ControlPlane.start({ dir: join(dir, 'cp') });
  const http = new KubeHttp(await kubeconfigConnection(cp.kubeconfig), 'kreboot-bench');
  const proxy = await new ApiProxy(cp.server, cp.pki).start();
  const sims: SimulatedNode[] = [];
  let controllers: ControllerProcess[] = [];
  try {
    await installCrd(http);
    await http.request('/api/v1/namespaces', { method: 'POST', body: { metadata: { name: NS } } });
    const who = {
      namespace: NS,
      serviceAccount: 'c',
      adminKubeconfig: cp.kubeconfig,
      proxyUrl: proxy.url,
      path: join(dir, 'controller.json'),
    };
    await createIdentity(http, who);
    const writeKc = () => writeProxiedKubeconfig(http, who);
    for (let i = 0; i < ROUNDS + 1; i++) {
      const name = `idle-${i}`;
      const sim = new SimulatedNode({
        name,
        dir: join(dir, name),
        kubeconfig: cp.kubeconfig,
        http,
        labels: { 'kreboot.bench/group': 'idle' },
        downMs: 1000,
      });
      await sim.create();
      sims.push(sim);
    }
    const start = async (leadership: string) => {
      await writeKc();
      controllers = [0, 1].map((i) =>
        new ControllerProcess({
          identity: `idle-c${i}`,
          kubeconfig: who.path,
          namespace: NS,
          nodeSelector: GROUP,
          // The Deployment's election timing, not the tests' fast one.
          args: [
            `--leadership=${leadership}`,
            '--lease-duration=15s',
            '--renew-deadline=10s',
            '--retry-period=2s',
            '--resync-period=30s',
          ],
        }).start(),
      );
      await sleep(15_000);
    };
    const stop = async () => {
      await Promise.all(controllers.map((c) => c.stop('SIGTERM')));
      controllers = [];
    };
    const count = async (seconds: number) => {
      const t0 = Date.now();
      await sleep(seconds * 1000);
      const calls = proxy.requests.filter((q) => q.at >= t0 && !q.watch);
      const kinds = new Map<string, number>();
      for (const q of calls) {
        const k = `${q.method} ${q.path.replace(/^\/apis?\/(.*\/)?(namespaces\/[^/]+\/)?/, '')}`;
        kinds.set(k, (kinds.get(k) ?? 0) + 1);
      }
      return { n: calls.length, perHour: (calls.length * 3600) / seconds, kinds };
    };

    say(`--leadership=always, idle ${ALWAYS_S} s`);
    await start('always');
    const always = await count(ALWAYS_S);
    await stop();
    say(`  ${always.n} requests (${always.perHour.toFixed(0)}/h)`);

    say(`--leadership=on-demand, idle ${IDLE_S} s`);
    await start('on-demand');
    const onDemand = await count(IDLE_S);
    say(`  ${onDemand.n} requests (${onDemand.perHour.toFixed(1)}/h)`);

    // Leadership on work: the node's condition turning True (seen on a watch) → the Lease written by a replica.
    const lags: number[] = [];
    const cycles: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const sim = sims[i]!;
      const seen = new AbortController();
      let conditionAt: number | undefined;
      const list = await http.request<{ metadata: { resourceVersion: string } }>(
        `/api/v1/nodes?fieldSelector=metadata.name%3D${sim.name}`,
      );
      void http
        .watch<NodeLite>(
          `/api/v1/nodes?watch=true&fieldSelector=metadata.name%3D${sim.name}&resourceVersion=${list.metadata.resourceVersion}`,
          (ev) => {
            const c = ev.object.status?.conditions?.find((x) => x.type === 'RebootRequired');
            if (c?.status === 'True') conditionAt ??= Date.now();
          },
          { signal: seen.signal },
        )
        .catch(() => {});
      const t0 = Date.now();
      sim.needReboot();
      let leaseAt: number | undefined;
      while (leaseAt === undefined) {
        leaseAt = proxy.requests.find(
          (q) =>
            q.at >= t0 &&
            q.method === 'PUT' &&
            q.path.endsWith(`/leases/${Leases.leader}`) &&
            q.status === 200,
        )?.at;
        await sleep(20);
      }
      while (sim.rebootsDone < 1) await sleep(200);
      cycles.push(Date.now() - t0);
      seen.abort();
      lags.push(leaseAt - (conditionAt ?? t0));
      const lease = () =>
        http.request<{ spec: { holderIdentity?: string } }>(
          `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/${Leases.leader}`,
        );
      while ((await lease()).spec.holderIdentity) await sleep(500);
      say(
        `  round ${i}: Lease ${lags.at(-1)} ms after the condition; released after ${fmt(Date.now() - t0)}`,
      );
    }
    await stop();
    const lag = summary(lags);
    const fmtKinds = (k: Map<string, number>) =>
      [...k].map(([what, n]) => `${what} ×${n}`).join(', ') || 'none';
    return [
      '| idle controller Deployment (2 replicas, nothing pending), requests through the counting proxy | figure | target |',
      '|---|---|---|',
      `| --leadership=always (before), ${ALWAYS_S} s | ${always.n} → ${always.perHour.toFixed(0)} per hour (${fmtKinds(always.kinds)}) | – |`,
      `| --leadership=on-demand (default), ${IDLE_S} s | ${onDemand.n} → ${onDemand.perHour.toFixed(1)} per hour (${fmtKinds(onDemand.kinds)}) | ≤ 120 per hour |`,
      `| a node turns pending → a replica holds the Lease (${ROUNDS} rounds: condition seen on a watch → Lease PUT answered) | median ${fmt(lag.median)}, max ${fmt(lag.max)} | ≤ 1 s |`,
      `| pending → rebooted (each round; then the Lease released when idle) | median ${fmt(summary(cycles).median)} | – |`,
    ];
  } finally {
    await Promise.all(controllers.map((c) => c.stop('SIGTERM')));
    await Promise.all(sims.map((s) => s.destroy().catch(() => {})));
    await proxy.stop();
    http.close();
    await cp.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
