// npm run bench -- fleet: what a fleet of real agents costs the API server. 100 real `kreboot agent` processes
// (the built bundle, the DaemonSet's runtime flags) on simulated hosts (testkit/sim: kwok nodes, reboots that kill
// the agent, flip Ready and change the boot ID) talk to the API server through a counting proxy, so every request
// counted is an agent's (the simulators and the controller talk to it directly). Idle: requests per agent-hour and
// the watches held; then a rollout of every node by a real controller: the agents' requests per node rebooted.
//
// KREBOOT_FLEET_AGENTS (100), KREBOOT_FLEET_IDLE_SECONDS (600).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kubeconfigConnection } from '../operator/kube/connection.ts';
import { KubeHttp } from '../operator/kube/http.ts';
import { ControlPlane } from '../testkit/cluster/controlplane.ts';
import { InvariantMonitor } from '../testkit/invariants/monitor.ts';
import { ApiProxy } from '../testkit/sim/api-proxy.ts';
import { ControllerProcess } from '../testkit/sim/controller-process.ts';
import { SimulatedNode } from '../testkit/sim/simulated-node.ts';
import { installCrd } from './crd.ts';
import { createIdentity, writeProxiedKubeconfig } from './proxied-identity.ts';
import { fmt } from './stats.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function benchFleet(): Promise<string[]> {
  const N = Number(process.env.KREBOOT_FLEET_AGENTS ?? 100);
  const IDLE_S = Number(process.env.KREBOOT_FLEET_IDLE_SECONDS ?? 600);
  const dir = mkdtempSync(join(tmpdir(), 'kreboot-bench-fleet-'));
  const say = (s: string) => process.stderr.write(`[fleet] ${s}\n`);
  const cp = await ControlPlane.start({ dir: join(dir, 'cp') });
  const http = new KubeHttp(await kubeconfigConnection(cp.kubeconfig), 'kreboot-bench', { work: 32 });
  const proxy = await new ApiProxy(cp.server, cp.pki).start();
  const sims: SimulatedNode[] = [];
  let controller: ControllerProcess | undefined;
  const monCtl = new AbortController();
  try {
    await installCrd(http);
    const ns = 'kreboot-system';
    await http.request('/api/v1/namespaces', { method: 'POST', body: { metadata: { name: ns } } });
    const who = {
      namespace: ns,
      serviceAccount: 'agent',
      adminKubeconfig: cp.kubeconfig,
      proxyUrl: proxy.url,
      path: join(dir, 'agent.json'),
    };
    await createIdentity(http, who);
    const kc = await writeProxiedKubeconfig(http, who);

    const t0 = Date.now();
    for (let i = 0; i < N; i++) {
      const name = `fleet-${String(i).padStart(3, '0')}`;
      const sim = new SimulatedNode({
        name,
        dir: join(dir, name),
        kubeconfig: kc,
        http,
        labels: { 'kreboot.bench/group': 'fleet' },
        downMs: 1000,
      });
      await sim.create();
      sims.push(sim);
    }
    const reported = async () => {
      const l = await http.request<{ items: Array<{ status?: { conditions?: Array<{ type: string }> } }> }>(
        '/api/v1/nodes?labelSelector=kreboot.bench%2Fgroup%3Dfleet',
      );
      return l.items.filter((n) => n.status?.conditions?.some((c) => c.type === 'RebootRequired')).length;
    };
    while ((await reported()) < N) await sleep(500);
    const startCalls = proxy.requests.filter((q) => !q.watch).length;
    say(`${N} agents reporting after ${fmt(Date.now() - t0)}; ${startCalls} requests to get there`);
    await sleep(10_000);

    // --- idle ---
    const tIdle = Date.now();
    await sleep(IDLE_S * 1000);
    const idle = proxy.requests.filter((q) => q.at >= tIdle && !q.watch);
    const watchReconnects = proxy.requests.filter((q) => q.at >= tIdle && q.watch).length;
    const perAgentHour = (idle.length / N) * (3600 / IDLE_S);
    const openIdle = proxy.openWatches;
    say(
      `idle ${IDLE_S} s: ${idle.length} requests, ${openIdle} watches open, ${watchReconnects} watch (re)connections`,
    );

    // --- a rollout of every node ---
    const monitor = new InvariantMonitor({ budget: 10 });
    void monitor.run(http, { nodeSelector: 'kreboot.bench/group=fleet' }, monCtl.signal);
    await monitor.synced();
    controller = new ControllerProcess({
      identity: 'fleet-c0',
      kubeconfig: cp.kubeconfig,
      namespace: ns,
      nodeSelector: 'kreboot.bench/group=fleet',
      args: ['--concurrency=10'],
    });
    controller.start();
    const tRoll = Date.now();
    for (const s of sims) s.needReboot();
    while (sims.some((s) => s.rebootsDone < 1 || !monitor.doneAt.has(s.name))) {
      if (Date.now() - tRoll > 30 * 60_000) throw new Error('rollout not done in 30 minutes');
      await sleep(500);
    }
    const tDone = Date.now();
    const roll = proxy.requests.filter((q) => q.at >= tRoll && q.at <= tDone && !q.watch);
    const byKind = new Map<string, number>();
    for (const q of roll) {
      const k = `${q.method} ${q.path.endsWith('/status') ? 'node status' : 'node'}`;
      byKind.set(k, (byKind.get(k) ?? 0) + 1);
    }
    const rollWatches = proxy.requests.filter((q) => q.at >= tRoll && q.at <= tDone && q.watch).length;
    const hours = (tDone - tRoll) / 3_600_000;
    return [
      `| fleet: ${N} real agents (built bundle, DaemonSet flags) through a counting proxy | figure | target |`,
      '|---|---|---|',
      `| start → every agent's first report; requests to get there | ${fmt(Date.now() - t0 - (Date.now() - tIdle) - 10_000)}; ${startCalls} (${(startCalls / N).toFixed(1)} per agent) | – |`,
      `| idle ${IDLE_S} s: requests (watches excluded) | ${idle.length} → ${perAgentHour.toFixed(2)} per agent-hour${idle.length ? ` (${[...new Set(idle.map((q) => `${q.method} ${q.path.replace(/fleet-\d+/, '*')}`))].join(', ')})` : ''} | ≤ 2 |`,
      `| idle: watches open at the end (through the proxy) / watch (re)connections in the window | ${openIdle} (${(openIdle / N).toFixed(2)} per agent) / ${watchReconnects} | 1 per agent |`,
      `| rollout of all ${N} nodes (--concurrency=10): agent requests, watches excluded | ${roll.length} in ${fmt(tDone - tRoll)} = ${(roll.length / N).toFixed(1)} per node rebooted, ${(roll.length / N / hours).toFixed(0)} per agent-hour while it ran (${[...byKind].map(([k, v]) => `${k} ${v}`).join(', ')}) | – |`,
      `| rollout: agent watch (re)connections (each reboot restarts its agent) / invariant violations | ${rollWatches} / ${monitor.violations.length} | ${N} / 0 |`,
    ];
  } finally {
    monCtl.abort();
    await controller?.stop('SIGTERM');
    await Promise.all(sims.map((s) => s.destroy().catch(() => {})));
    await proxy.stop();
    http.close();
    await cp.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
