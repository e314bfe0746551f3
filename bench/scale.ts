// npm run bench -- scale: the controller at cluster scale, on the real API server (etcd + kube-apiserver).
//
// 5,000 Nodes in 3 zones and 150,000 Pods bound to them (30 per node: one DaemonSet pod, the rest ReplicaSet pods)
// are created in bulk; the agents and kubelets are stood in (scale-fleet.ts: the real Agent class per node, a
// shared watch; evicted pods removed for good); two real `kreboot controller` processes (the built bundle) manage
// the nodes through a counting proxy. Measured: their RSS after the initial list and during a rollout, the
// reconcile pass times, their API requests idle and per node rebooted, and a rollout of 500 nodes at a 10% budget
// with a per-zone budget, every safety invariant checked on every node event.
//
// KREBOOT_SCALE_NODES (5000), KREBOOT_SCALE_PODS_PER_NODE (30), KREBOOT_SCALE_ROLLOUT (500),
// KREBOOT_SCALE_IDLE_SECONDS (120), KREBOOT_SCALE_CONCURRENCY (10%), KREBOOT_SCALE_ZONE_CONCURRENCY (3%);
// KREBOOT_SCALE_KEEP keeps the directory (etcd, the control plane's logs, each controller's log).
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONTROLLER_NODE_FLAGS } from '../operator/controller/config.ts';
import { kubeconfigConnection } from '../operator/kube/connection.ts';
import { KubeHttp } from '../operator/kube/http.ts';
import type { NodeLite } from '../operator/kube/types.ts';
import { Leases } from '../operator/protocol.ts';
import { ControlPlane } from '../testkit/cluster/controlplane.ts';
import { InvariantMonitor } from '../testkit/invariants/monitor.ts';
import { freePort } from '../testkit/prom/prometheus.ts';
import { ApiProxy } from '../testkit/sim/api-proxy.ts';
import { ControllerProcess } from '../testkit/sim/controller-process.ts';
import { installCrd } from './crd.ts';
import { createIdentity, writeProxiedKubeconfig } from './proxied-identity.ts';
import { AgentFleet, KubeletStandIn } from './scale-fleet.ts';
import { fmt, summary } from './stats.ts';

const env = process.env;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ZONE = 'topology.kubernetes.io/zone';
const SYSTEM = 'kreboot-system';

/** Runs fn over items with at most n in flight; retries a failed item a few times (429s, timeouts). */
async function pool<T>(items: T[], n: number, fn: (x: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const x = items[next++]!;
      for (let attempt = 0; ; attempt++) {
        try {
          await fn(x);
          break;
        } catch (err) {
          if (attempt >= 5) throw err;
          await sleep(200 * 2 ** attempt);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: n }, worker));
}

const rssMB = (pid: number) =>
  (Number(execFileSync('ps', ['-o', 'rss=', '-p', String(pid)], { encoding: 'utf8' }).trim()) * 1024) / 1e6;

function percent(spec: string, of: number): number {
  return spec.endsWith('%') ? Math.max(1, Math.floor((of * Number(spec.slice(0, -1))) / 100)) : Number(spec);
}

export async function benchScale(): Promise<string[]> {
  const N = Number(env.KREBOOT_SCALE_NODES ?? 5000);
  const PER = Number(env.KREBOOT_SCALE_PODS_PER_NODE ?? 30);
  const ROLL = Math.min(N, Number(env.KREBOOT_SCALE_ROLLOUT ?? 500));
  const IDLE_S = Number(env.KREBOOT_SCALE_IDLE_SECONDS ?? 120);
  const CONC = env.KREBOOT_SCALE_CONCURRENCY ?? '10%';
  const ZCONC = env.KREBOOT_SCALE_ZONE_CONCURRENCY ?? '3%';
  const group = 'scale';
  const selector = `kreboot.bench/group=${group}`;
  const dir = mkdtempSync(join(tmpdir(), 'kreboot-bench-scale-'));
  const say = (s: string) => process.stderr.write(`[scale] ${s}\n`);
  const cp = await ControlPlane.start({ dir: join(dir, 'cp'), apiOnly: true });
  const http = new KubeHttp(await kubeconfigConnection(cp.kubeconfig), 'kreboot-bench', { work: 48 });
  const cleanup: Array<() => unknown> = [];
  try {
    await installCrd(http);
    const namespaces = Array.from({ length: 10 }, (_, i) => `scale-${i}`);
    for (const ns of [SYSTEM, ...namespaces]) {
      await http.request('/api/v1/namespaces', { method: 'POST', body: { metadata: { name: ns } } });
      // No controller-manager here: the ServiceAccount admission needs each namespace's default account.
      await http.request(`/api/v1/namespaces/${ns}/serviceaccounts`, {
        method: 'POST',
        body: { metadata: { name: 'default' } },
      });
    }

    // --- the cluster: nodes, then pods bound to them ---
    let t = performance.now();
    const names = Array.from({ length: N }, (_, i) => `node-${String(i).padStart(5, '0')}`);
    await pool(names, 32, (name) =>
      http.request('/api/v1/nodes', {
        method: 'POST',
        body: {
          metadata: {
            name,
            labels: {
              'kubernetes.io/hostname': name,
              [ZONE]: `zone-${Number(name.slice(5)) % 3}`,
              'kreboot.bench/group': group,
            },
          },
          status: {
            conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'stand-in' }],
            nodeInfo: { bootID: randomUUID() },
            capacity: { cpu: '32', memory: '256Gi', pods: '110' },
            allocatable: { cpu: '32', memory: '256Gi', pods: '110' },
          },
        },
      }),
    );
    const nodesS = (performance.now() - t) / 1000;
    say(`${N} nodes in ${nodesS.toFixed(0)} s`);
    t = performance.now();
    const owners = { ds: randomUUID(), rs: Array.from({ length: 20 }, () => randomUUID()) };
    const pods = Array.from({ length: N * PER }, (_, j) => j);
    let made = 0;
    await pool(pods, 48, async (j) => {
      const node = names[Math.floor(j / PER)]!;
      const k = j % PER;
      const ds = k === 0;
      await http.request(`/api/v1/namespaces/${namespaces[j % namespaces.length]}/pods`, {
        method: 'POST',
        body: {
          metadata: {
            name: `${ds ? 'ds' : `app-${k % 20}`}-${node}-${k}`,
            labels: { app: ds ? 'node-exporter' : `app-${k % 20}`, 'pod-template-hash': 'abc123' },
            ownerReferences: [
              {
                apiVersion: 'apps/v1',
                kind: ds ? 'DaemonSet' : 'ReplicaSet',
                name: ds ? 'node-exporter' : `app-${k % 20}-abc123`,
                uid: ds ? owners.ds : owners.rs[k % 20]!,
                controller: true,
              },
            ],
          },
          spec: {
            nodeName: node,
            containers: [
              {
                name: 'app',
                image: 'registry.k8s.io/pause:3.10',
                resources: { requests: { cpu: '10m', memory: '16Mi' } },
                env: [{ name: 'MODE', value: 'bench' }],
              },
            ],
            ...(k % 5 === 1 ? { volumes: [{ name: 'scratch', emptyDir: {} }] } : {}),
            terminationGracePeriodSeconds: 30,
          },
        },
      });
      if (++made % 25_000 === 0) say(`${made} pods (${((performance.now() - t) / 1000).toFixed(0)} s)`);
    });
    const podsS = (performance.now() - t) / 1000;
    say(`${N * PER} pods in ${podsS.toFixed(0)} s`);

    // --- the stand-ins ---
    const kubelet = new KubeletStandIn(http);
    await kubelet.start();
    cleanup.push(() => kubelet.stop());
    const fleet = new AgentFleet(http, selector, 2000);
    cleanup.push(() => fleet.stop());
    await fleet.start();
    const monitor = new InvariantMonitor({
      budget: percent(CONC, N),
      zoneBudget: percent(ZCONC, Math.ceil(N / 3)),
    });
    const monCtl = new AbortController();
    cleanup.push(() => monCtl.abort());
    void monitor.run(http, { nodeSelector: selector }, monCtl.signal);
    await monitor.synced();
    const reported = async () => {
      const l = await http.request<{ items: NodeLite[] }>(
        `/api/v1/nodes?labelSelector=${encodeURIComponent(selector)}`,
        { timeoutMs: 60_000 },
      );
      return l.items.filter((n) => n.status?.conditions?.some((c) => c.type === 'RebootRequired')).length;
    };
    while ((await reported()) < N) await sleep(1000);
    say('every stand-in agent reported');

    // --- two controllers through the counting proxy, on a token (the proxy terminates TLS) ---
    const proxy = await new ApiProxy(cp.server, cp.pki).start();
    cleanup.push(() => proxy.stop());
    const who = {
      namespace: SYSTEM,
      serviceAccount: 'bench',
      adminKubeconfig: cp.kubeconfig,
      proxyUrl: proxy.url,
      path: join(dir, 'controller.json'),
    };
    await createIdentity(http, who);
    const kc = await writeProxiedKubeconfig(http, who);
    const controllers: ControllerProcess[] = [];
    const tStart = performance.now();
    for (let i = 0; i < 2; i++) {
      const c = new ControllerProcess({
        identity: `scale-c${i}`,
        kubeconfig: kc,
        namespace: SYSTEM,
        nodeSelector: selector,
        metricsPort: await freePort(),
        args: [`--concurrency=${CONC}`, `--zone-concurrency=${ZCONC}`, '--log-level=debug'],
      });
      c.start();
      controllers.push(c);
      cleanup.push(() => c.stop('SIGTERM'));
      // With KREBOOT_SCALE_KEEP the directory stays, with each controller's log for a post-mortem.
      cleanup.push(() => env.KREBOOT_SCALE_KEEP && writeFileSync(join(dir, `controller-${i}.log`), c.log));
    }
    const synced: number[] = [];
    await Promise.all(
      controllers.map(async (c, i) => {
        while (!c.log.includes('nothing to do: not campaigning')) {
          if (!c.running) throw new Error(`controller ${i} exited: ${c.log.slice(-2000)}`);
          await sleep(100);
        }
        synced[i] = performance.now() - tStart;
      }),
    );
    await sleep(5000);
    const rssIdle = controllers.map((c) => rssMB(c.child!.pid!));
    // V8's view: the heap in use against the resident set (the rest is the runtime, code and the heap's slack).
    const heapInUse = () =>
      Promise.all(
        controllers.map(async (c) => {
          const res = await fetch(`http://127.0.0.1:${c.opts.metricsPort}/metrics`);
          const m = /^nodejs_heap_size_used_bytes (\S+)$/m.exec(await res.text());
          return m ? Number(m[1]) / 1e6 : Number.NaN;
        }),
      );
    const heapIdle = await heapInUse();
    say(
      `controllers synced in ${synced.map((s) => fmt(s)).join(', ')}; RSS ${rssIdle.map((r) => r.toFixed(0)).join(', ')} MB`,
    );

    // --- idle: nothing pending ---
    const tIdle = Date.now();
    await sleep(IDLE_S * 1000);
    const idleCalls = proxy.requests.filter((q) => q.at >= tIdle && !q.watch);
    const idlePerMin = (idleCalls.length * 60) / IDLE_S;
    say(
      `idle ${IDLE_S} s: ${idleCalls.length} requests (${idleCalls
        .slice(0, 5)
        .map((q) => `${q.method} ${q.path}`)
        .join(', ')})`,
    );

    // --- the rollout: ROLL nodes spread over the zones ---
    const chosen = Array.from({ length: ROLL }, (_, i) => names[Math.floor((i * N) / ROLL)]!);
    const rss: number[][] = [[], []];
    const sampler = setInterval(() => {
      controllers.forEach((c, i) => {
        if (c.running) rss[i]!.push(rssMB(c.child!.pid!));
      });
    }, 2000);
    cleanup.push(() => clearInterval(sampler));
    const tPending = Date.now();
    fleet.needReboot(chosen);
    const done = () =>
      chosen.every((n) => {
        const x = monitor.doneAt.has(n);
        return x && (fleet.reboots.get(n) ?? 0) >= 1;
      });
    const deadline = Date.now() + Number(env.KREBOOT_SCALE_TIMEOUT_S ?? 3600) * 1000;
    let lastSay = 0;
    while (!done()) {
      if (Date.now() > deadline)
        throw new Error(
          `rollout not done: ${chosen.filter((n) => !monitor.doneAt.has(n)).length} nodes left`,
        );
      if (Date.now() - lastSay > 30_000) {
        lastSay = Date.now();
        say(
          `rollout: ${chosen.filter((n) => monitor.doneAt.has(n)).length}/${ROLL} done, max disrupted ${monitor.maxDisrupted}`,
        );
      }
      await sleep(500);
    }
    const tDone = Date.now();
    clearInterval(sampler);
    // Ten seconds after: what is still resident and in use (retained) against the peak (the heap's slack).
    await sleep(10_000);
    const rssAfter = controllers.map((c) => rssMB(c.child!.pid!));
    const heapAfter = await heapInUse();
    const rolloutCalls = proxy.requests.filter((q) => q.at >= tPending && q.at <= tDone && !q.watch);

    // Which replica led, and its passes during the rollout.
    const lease = await http.request<{ spec: { holderIdentity?: string } }>(
      `/apis/coordination.k8s.io/v1/namespaces/${SYSTEM}/leases/${Leases.leader}`,
    );
    const leaderIdx = controllers.findIndex((c) => c.log.includes('became the leader'));
    const passes: number[] = [];
    const passCpu: number[] = [];
    let maxQueued = 0;
    let firstPassAt: number | undefined;
    for (const c of controllers) {
      for (const line of c.log.split('\n')) {
        if (!line.includes('"phase":"pass"')) continue;
        const o = JSON.parse(line) as { time: number; ms: number; cpuMs: number; queued?: number };
        if (o.time < tPending || o.time > tDone) continue;
        passes.push(o.ms);
        passCpu.push(o.cpuMs);
        maxQueued = Math.max(maxQueued, o.queued ?? 0);
        firstPassAt = Math.min(firstPassAt ?? o.time, o.time);
      }
    }
    const p = summary(passes);
    const pc = summary(passCpu);
    const firstStart = Math.min(...chosen.map((n) => monitor.startedAt.get(n) ?? Number.POSITIVE_INFINITY));
    const cycles = chosen.map((n) => monitor.doneAt.get(n)! - monitor.startedAt.get(n)!);
    const cyc = summary(cycles);
    const zoneBudget = percent(ZCONC, Math.ceil(N / 3));
    const perZone = Math.ceil(ROLL / 3);
    const ideal = Math.ceil(perZone / Math.min(zoneBudget, percent(CONC, N))) * cyc.median;
    const makespan = tDone - tPending;
    const twice = [...fleet.reboots.values()].filter((v) => v > 1).length;
    const leaderRss = Math.max(...(rss[leaderIdx] ?? [0]), rssIdle[leaderIdx] ?? 0);
    const standbyIdx = 1 - leaderIdx;
    const standbyRss = Math.max(...(rss[standbyIdx] ?? [0]), rssIdle[standbyIdx] ?? 0);
    const flags = ` (V8 flags: ${[...CONTROLLER_NODE_FLAGS, env.KREBOOT_CONTROLLER_NODE_FLAGS ?? ''].join(' ').trim() || 'none'})`;
    say(`controller RSS idle ${rssIdle.map((r) => r.toFixed(0)).join('/')} MB${flags}`);
    const line = `scale: nodes ${N}, pods ${N * PER}, leader rss ${leaderRss.toFixed(0)} MB, standby rss ${standbyRss.toFixed(0)} MB, reconcile p95 ${p.p95.toFixed(0)} ms, idle requests/min ${idlePerMin.toFixed(0)}`;
    return [
      `| scale (${N} nodes in 3 zones, ${N * PER} pods; ${ROLL} nodes rolled at --concurrency=${CONC} (${percent(CONC, N)}), --zone-concurrency=${ZCONC} (${zoneBudget} per zone)) | figure | target |`,
      '|---|---|---|',
      `| bulk creation: nodes / pods | ${nodesS.toFixed(0)} s / ${podsS.toFixed(0)} s | – |`,
      `| controller start → caches synced (nodes, ${N * PER} pods, PDBs, windows, lock): replica 0 / 1 | ${synced.map((s) => fmt(s)).join(' / ')} | – |`,
      `| RSS after the initial list, both idle: replica 0 / 1 (V8 heap in use) | ${rssIdle.map((r, i) => `${r.toFixed(0)} MB (${heapIdle[i]!.toFixed(0)} MB)`).join(' / ')} | ≤ 250 MB |`,
      `| RSS peak during the rollout: leader (${lease.spec.holderIdentity || `replica ${leaderIdx}`} at the end) / standby | ${leaderRss.toFixed(0)} MB / ${standbyRss.toFixed(0)} MB | ≤ 250 MB |`,
      `| 10 s after the rollout: RSS (V8 heap in use), replica 0 / 1 | ${rssAfter.map((r, i) => `${r.toFixed(0)} MB (${heapAfter[i]!.toFixed(0)} MB)`).join(' / ')} | – |`,
      `| idle, nothing pending: controller API requests (both replicas, watches excluded) | ${idleCalls.length} in ${IDLE_S} s (${idlePerMin.toFixed(1)}/min) | watches only |`,
      `| nodes turn pending → first reconcile pass (leadership taken on the way) | ${firstPassAt ? fmt(firstPassAt - tPending) : '–'} | – |`,
      `| nodes turn pending → first node cordoned | ${Number.isFinite(firstStart) ? fmt(firstStart - tPending) : '–'} | – |`,
      `| reconcile passes during the rollout (${passes.length}), wall time (a pass decides and queues its writes; it awaits no request): p50 / p95 / max | ${p.median.toFixed(0)} / ${p.p95.toFixed(0)} / ${p.max.toFixed(0)} ms | p95 ≤ 100 ms |`,
      `| the same passes, the controller's CPU time: p50 / p95 / max | ${pc.median.toFixed(0)} / ${pc.p95.toFixed(0)} / ${pc.max.toFixed(0)} ms | – |`,
      `| writes queued by the passes (node steps, lock changes), most at once | ${maxQueued} | – |`,
      `| controller API requests during the rollout (watches excluded) | ${rolloutCalls.length} (${(rolloutCalls.length / ROLL).toFixed(1)} per node rebooted) | – |`,
      `| rollout makespan / ideal (⌈${perZone} per zone ÷ ${Math.min(zoneBudget, percent(CONC, N))}⌉ waves × median node cycle ${fmt(cyc.median)}) | ${fmt(makespan)} / ${fmt(ideal)} = ${(makespan / ideal).toFixed(2)} | – |`,
      `| invariants: max disrupted / max in one zone / nodes rebooted twice / violations | ${monitor.maxDisrupted} / ${monitor.maxZoneDisrupted} / ${twice} / ${monitor.violations.length}${monitor.violations.length ? ` (${monitor.violations.slice(0, 2).join('; ')})` : ''} | ≤ ${percent(CONC, N)} / ≤ ${zoneBudget} / 0 / 0 |`,
      `| evicted pods removed by the kubelet stand-in / stand-in agent node events | ${kubelet.deleted} / ${fleet.watchEvents} | – |`,
      '',
      line,
    ];
  } finally {
    for (const f of cleanup.reverse()) {
      try {
        await f();
      } catch {
        // best effort
      }
    }
    http.close();
    await cp.stop();
    if (!env.KREBOOT_SCALE_KEEP) rmSync(dir, { recursive: true, force: true });
  }
}
