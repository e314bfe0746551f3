// The agent's footprint and latency, measured on a quiet API server (etcd + kube-apiserver only, so every
// request to the nodes resource in apiserver_request_total is the agent's).
import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { kubeconfigConnection } from '../operator/kube/connection.ts';
import { KubeHttp } from '../operator/kube/http.ts';
import type { NodeLite } from '../operator/kube/types.ts';
import { Conditions } from '../operator/protocol.ts';
import { apiGet, ControlPlane } from '../testkit/cluster/controlplane.ts';
import { kwokNode } from '../testkit/cluster/nodes.ts';
import { AgentProcess, ownNodeCopy } from '../testkit/sim/agent-process.ts';
import { startKured } from './kured.ts';
import { type IdleSample, idleRss, mib } from './rss.ts';
import { fmt, summary } from './stats.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sum of apiserver_request_total for resource="nodes", by verb (what the agent asked for). */
async function nodeRequests(cp: ControlPlane): Promise<Record<string, number>> {
  const { body } = await apiGet(cp.server, cp.pki, '/metrics', 10_000);
  const out: Record<string, number> = {};
  for (const line of body.split('\n')) {
    if (!line.startsWith('apiserver_request_total{') || !line.includes('resource="nodes"')) continue;
    const verb = /verb="([A-Z]+)"/.exec(line)?.[1] ?? '?';
    const sub = /subresource="([a-z]*)"/.exec(line)?.[1];
    const k = sub ? `${verb} ${sub}` : verb;
    out[k] = (out[k] ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return out;
}

async function openWatches(cp: ControlPlane): Promise<number> {
  const { body } = await apiGet(cp.server, cp.pki, '/metrics', 10_000);
  let n = 0;
  for (const line of body.split('\n')) {
    if (
      line.startsWith('apiserver_longrunning_requests{') &&
      line.includes('resource="nodes"') &&
      line.includes('verb="WATCH"')
    ) {
      n += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return n;
}

export async function benchAgent(): Promise<string[]> {
  const idleSeconds = Number(process.env.KREBOOT_BENCH_IDLE_SECONDS ?? 600);
  const trials = 20;
  const dir = mkdtempSync(join(tmpdir(), 'kreboot-bench-agent-'));
  const cp = await ControlPlane.start({ dir: join(dir, 'cp'), apiOnly: true });
  try {
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfig);
    const core = kc.makeApiClient(CoreV1Api);
    const nodeName = 'bench-node';
    await core.createNode({ body: kwokNode(nodeName) });
    const http = new KubeHttp(await kubeconfigConnection(cp.kubeconfig));
    // The DaemonSet's agent reads an in-cluster token; here a JSON kubeconfig keeps the YAML parser out of its
    // memory, as in the cluster.
    const json = join(dir, 'kubeconfig.json');
    const yaml = await import('yaml');
    writeFileSync(
      json,
      JSON.stringify(yaml.parse((await import('node:fs')).readFileSync(cp.kubeconfig, 'utf8'))),
    );

    // Watch the node from the bench to timestamp when each change becomes visible.
    const seen: Array<{ at: number; status?: string }> = [];
    const watchCtl = new AbortController();
    const start = await http.request<NodeLite>(`/api/v1/nodes/${nodeName}`);
    const watchesWithoutBench = await openWatches(cp);
    void http
      .watch<NodeLite>(
        `/api/v1/nodes?watch=true&fieldSelector=metadata.name%3D${nodeName}&resourceVersion=${start.metadata.resourceVersion}`,
        (ev) => {
          const c = ev.object.status?.conditions?.find((x) => x.type === Conditions.rebootRequired);
          seen.push({ at: performance.now(), status: c?.status });
        },
        { signal: watchCtl.signal },
      )
      .catch(() => {});
    const until = async (status: string, from: number) => {
      for (;;) {
        const hit = seen.find((s) => s.at >= from && s.status === status);
        if (hit) return hit.at;
        await sleep(5);
      }
    };

    // The agent runs its own copy of the Node executable, as it does from its image on a node (the bench itself
    // runs on the project's): the kernel trims no page that another process maps too.
    const nodeBin = ownNodeCopy(join(dir, 'agent-node'));
    const agent = new AgentProcess({
      nodeBin,
      nodeName,
      dir: join(dir, 'agent'),
      kubeconfig: json,
      bootId: 'bench-boot',
      logLevel: 'info',
      // Serve metrics as in the cluster: the HTTP server is part of the footprint.
      extraArgs: [
        `--metrics-port=${20000 + Math.floor(Math.random() * 20000)}`,
        '--metrics-address=127.0.0.1',
      ],
    });
    // The agent's watches are counted against a baseline that includes the bench's own watch, once it is open
    // (counting before it is would charge it to the agent).
    let watchesBefore = await openWatches(cp);
    for (let i = 0; watchesBefore <= watchesWithoutBench; i++) {
      if (i > 100) throw new Error("the bench's own node watch did not open within 10 s");
      await sleep(100);
      watchesBefore = await openWatches(cp);
    }
    const t0 = performance.now();
    agent.start();
    const firstReport = (await until('False', t0)) - t0;

    const detect = async () => {
      const out: number[] = [];
      for (let i = 0; i < trials; i++) {
        const t = performance.now();
        writeFileSync(agent.sentinel, '');
        out.push((await until('True', t)) - t);
        const u = performance.now();
        unlinkSync(agent.sentinel);
        await until('False', u);
        await sleep(50);
      }
      return out;
    };
    const latencies = await detect();

    await sleep(2000);
    const before = await nodeRequests(cp);
    const idle = await idleRss(agent.child!.pid!, idleSeconds);
    const after = await nodeRequests(cp);
    const watches = (await openWatches(cp)) - watchesBefore;
    // Detection again once idle: by now the agent has trimmed its start-up pages (trim.ts), so this is what a
    // node meets hours after the agent started, with the code the event needs faulted back in.
    const trim = agent.logLines().find((l) => l.phase === 'trim');
    const majorFaults = () =>
      Number(readFileSync(`/proc/${agent.child!.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[9]);
    const faultsBefore = majorFaults();
    const latenciesIdle = await detect();
    const faultsDuring = majorFaults() - faultsBefore;
    const delta: string[] = [];
    for (const k of new Set([...Object.keys(before), ...Object.keys(after)])) {
      const d = (after[k] ?? 0) - (before[k] ?? 0);
      if (d) delta.push(`${k}: ${d}`);
    }

    const tStop = performance.now();
    const code = await agent.stop('SIGTERM');
    const stopMs = performance.now() - tStop;
    watchCtl.abort();
    http.close();

    // kured on the same API server, idle for as long, sampled the same way (when a binary is given).
    let kured: { at60: IdleSample; end: IdleSample; max: IdleSample } | undefined;
    const kuredBin = process.env.KREBOOT_KURED_BIN;
    if (kuredBin) {
      const run = await startKured({
        bin: kuredBin,
        kubeconfig: cp.kubeconfig,
        server: cp.server,
        caFile: join(cp.pki, 'ca.crt'),
        dir: join(dir, 'kured'),
        nodeName,
        metricsPort: 20000 + Math.floor(Math.random() * 20000),
      });
      try {
        kured = await idleRss(run.child.pid!, idleSeconds);
      } finally {
        await run.stop();
      }
    }

    const lat = summary(latencies);
    const latIdle = summary(latenciesIdle);
    const trimText = !trim
      ? 'none logged'
      : trim.msg === 'memory trimmed'
        ? `RSS ${(trim.rssMiB as number[]).join(' → ')} MiB (file-backed ${(trim.fileMiB as number[]).join(' → ')}), ${trim.ranges} mappings`
        : `${trim.msg}: ${trim.reason}`;
    return [
      '| agent (one process, Node flags of the DaemonSet) | figure | target |',
      '|---|---|---|',
      `| idle RSS after 60 s | ${mib(idle.at60)} | ≤ kured's |`,
      `| idle RSS after ${idleSeconds} s | ${mib(idle.end)} | ≤ kured's |`,
      `| idle RSS, highest of the samples every 10 s over ${idleSeconds} s | ${mib(idle.max)} at ${idle.max.at.toFixed(0)} s | ≤ kured's |`,
      ...(kured
        ? [
            `| kured (${kuredBin}) idle RSS after 60 s, same server and method | ${mib(kured.at60)} | — |`,
            `| kured idle RSS after ${idleSeconds} s | ${mib(kured.end)} | — |`,
            `| kured idle RSS, highest sample over ${idleSeconds} s | ${mib(kured.max)} at ${kured.max.at.toFixed(0)} s | — |`,
          ]
        : ['| kured idle RSS | not measured (set KREBOOT_KURED_BIN to a kured binary) | — |']),
      `| start → first report visible on the Node | ${fmt(firstReport)} | ≤ 1 s |`,
      `| sentinel created → RebootRequired=True visible (${trials} trials) | median ${fmt(lat.median)}, p95 ${fmt(lat.p95)}, max ${fmt(lat.max)} | p95 ≤ 100 ms |`,
      `| memory trim (the agent's log, --memory-trim-after after ready) | ${trimText} | — |`,
      `| the same after ${idleSeconds} s idle, trimmed (${trials} trials) | median ${fmt(latIdle.median)}, p95 ${fmt(latIdle.p95)}, max ${fmt(latIdle.max)}; ${faultsDuring} major page faults | p95 ≤ 100 ms |`,
      `| API requests to nodes while idle for ${idleSeconds} s (apiserver_request_total delta) | ${delta.length ? delta.join(', ') : 'none'} | none beyond its watch |`,
      `| node watches the agent holds open at the end (apiserver_longrunning_requests delta) | ${watches} | 1 |`,
      `| SIGTERM → exit | ${fmt(stopMs)} (exit code ${code}) | ≤ 1 s |`,
    ];
  } finally {
    await cp.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
