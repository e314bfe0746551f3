// npm run demo [-- --nodes 5 --pending 3 --concurrency 1 --ci --keep]
// kreboot's main job on an embedded default: a local control plane (kwok nodes), one real agent per node, the
// reboot simulator, two real controller replicas, and a live view of the rolling reboot.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { kubeconfigConnection } from '../../operator/kube/connection.ts';
import { KubeHttp } from '../../operator/kube/http.ts';
import type { NodeLite } from '../../operator/kube/types.ts';
import { Annotations } from '../../operator/protocol.ts';
import { ControlPlane } from '../cluster/controlplane.ts';
import { ControllerProcess } from '../sim/controller-process.ts';
import { SimulatedNode } from '../sim/simulated-node.ts';

interface Args {
  nodes: number;
  pending: number;
  concurrency: number;
  ci: boolean;
  keep: boolean;
  downMs: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { nodes: 5, pending: 3, concurrency: 1, ci: false, keep: false, downMs: 4000 };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const num = (name: string) => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 1) {
        process.stderr.write(`demo: ${name} needs a whole number >= 1, e.g. ${name} 3\n`);
        process.exit(2);
      }
      return v;
    };
    if (k === '--nodes') a.nodes = num(k);
    else if (k === '--pending') a.pending = num(k);
    else if (k === '--concurrency') a.concurrency = num(k);
    else if (k === '--ci') a.ci = true;
    else if (k === '--keep') a.keep = true;
    else {
      process.stderr.write(
        `demo: unknown argument ${k}; use --nodes N --pending K --concurrency C --ci --keep\n`,
      );
      process.exit(2);
    }
  }
  if (a.pending > a.nodes) {
    process.stderr.write(`demo: --pending (${a.pending}) cannot exceed --nodes (${a.nodes})\n`);
    process.exit(2);
  }
  return a;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const secs = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

const args = parseArgs(process.argv.slice(2));
const root = mkdtempSync(join(tmpdir(), 'kreboot-demo-'));
const say = (s: string) => process.stderr.write(`demo: ${s}\n`);
say('starting the local control plane (the first run builds it from Go modules: ~8 min on 2 cores)');
const cp = await ControlPlane.start({ dir: join(root, 'cluster') });
const kc = new KubeConfig();
kc.loadFromFile(cp.kubeconfig);
const core = kc.makeApiClient(CoreV1Api);
const http = new KubeHttp(await kubeconfigConnection(cp.kubeconfig));
await core.createNamespace({ body: { metadata: { name: 'kreboot-system' } } });

const sims: SimulatedNode[] = [];
for (let i = 0; i < args.nodes; i++) {
  const sim = new SimulatedNode({
    name: `node-${i}`,
    dir: join(root, `node-${i}`),
    kubeconfig: cp.kubeconfig,
    core,
    http,
    labels: { 'kreboot.demo/node': 'true' },
    downMs: args.downMs,
  });
  await sim.create();
  sims.push(sim);
}
say(`${args.nodes} simulated nodes, each with a real kreboot agent; waiting for their first reports`);
for (;;) {
  const list = await http.request<{ items: NodeLite[] }>('/api/v1/nodes');
  if (list.items.every((n) => n.status?.conditions?.some((c) => c.type === 'RebootRequired'))) break;
  await sleep(200);
}
const pending = sims.slice(0, args.pending);
for (const s of pending) s.needReboot();
say(`${args.pending} nodes need a reboot (/var/run/reboot-required created); starting 2 controller replicas`);
const controllers = [0, 1].map((i) =>
  new ControllerProcess({
    identity: `controller-${i}`,
    kubeconfig: cp.kubeconfig,
    namespace: 'kreboot-system',
    nodeSelector: 'kreboot.demo/node=true',
    args: [`--concurrency=${args.concurrency}`, '--log-level=warn'],
  }).start(),
);

// Observe: the table, invariants sampled every 250 ms, per-node timings.
const t0 = Date.now();
const cordonedAt = new Map<string, number>();
const doneAt = new Map<string, number>();
let maxDisrupted = 0;
let violations = 0;
const violationNotes: string[] = [];
const startBoot = new Map(sims.map((s) => [s.name, s.bootId]));
let frame = '';

async function sample(): Promise<NodeLite[]> {
  const nodes = (await http.request<{ items: NodeLite[] }>('/api/v1/nodes')).items;
  let disrupted = 0;
  const now = Date.now();
  for (const n of nodes) {
    const a = n.metadata.annotations ?? {};
    const phase = a[Annotations.phase];
    const ready = n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    if (phase || !ready) disrupted++;
    if (phase && !cordonedAt.has(n.metadata.name)) cordonedAt.set(n.metadata.name, now);
    if (
      !phase &&
      cordonedAt.has(n.metadata.name) &&
      !doneAt.has(n.metadata.name) &&
      n.status?.nodeInfo?.bootID !== startBoot.get(n.metadata.name)
    ) {
      doneAt.set(n.metadata.name, now);
    }
  }
  maxDisrupted = Math.max(maxDisrupted, disrupted);
  if (disrupted > args.concurrency) {
    violations++;
    violationNotes.push(
      `${new Date(now).toISOString()}: ${disrupted} nodes disrupted, budget ${args.concurrency}`,
    );
  }
  for (const s of sims) {
    if (s.agent.reboots() > 1) {
      violations++;
      violationNotes.push(`${s.name} rebooted ${s.agent.reboots()} times`);
    }
  }
  return nodes;
}

function render(nodes: NodeLite[], lockHolder: string, leader: string): string {
  const now = Date.now();
  const rows = nodes
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))
    .map((n) => {
      const a = n.metadata.annotations ?? {};
      const phase = a[Annotations.phase] ?? (doneAt.has(n.metadata.name) ? 'rebooted' : '-');
      const since = a[Annotations.phaseSince] ? secs(now - Date.parse(a[Annotations.phaseSince]!)) : '';
      const ready =
        n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? 'Ready' : 'NotReady';
      const rr = n.status?.conditions?.find((c) => c.type === 'RebootRequired');
      const need = rr?.status === 'True' ? 'yes' : rr?.status === 'False' ? 'no' : '?';
      const sched = n.spec?.unschedulable ? 'cordoned' : '';
      return `  ${n.metadata.name.padEnd(8)} ${need.padEnd(6)} ${phase.padEnd(10)} ${since.padStart(6)}  ${ready.padEnd(9)} ${sched.padEnd(9)} ${(n.status?.nodeInfo?.bootID ?? '').slice(-6)}`;
    });
  const done = doneAt.size;
  const width = 30;
  const filled = Math.round((done / args.pending) * width);
  const elapsed = now - t0;
  const eta = done > 0 && done < args.pending ? ` ETA ${secs((elapsed / done) * (args.pending - done))}` : '';
  return [
    `kreboot demo — ${args.nodes} nodes, ${args.pending} need a reboot, concurrency ${args.concurrency}     ${secs(elapsed)}`,
    '',
    `  ${'NODE'.padEnd(8)} ${'REBOOT'.padEnd(6)} ${'PHASE'.padEnd(10)} ${'IN'.padStart(6)}  ${'READY'.padEnd(9)} ${'SCHED'.padEnd(9)} BOOT`,
    ...rows,
    '',
    `  lock: ${lockHolder || '(free)'}   leader: ${leader}`,
    `  gates: window always (no MaintenanceWindow), alerts none   max disrupted ${maxDisrupted}, violations ${violations}`,
    `  [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${args.pending}${eta}`,
  ].join('\n');
}

const deadline = t0 + Math.max(180_000, args.pending * (args.downMs + 20_000));
while (doneAt.size < args.pending && Date.now() < deadline) {
  const nodes = await sample();
  if (!args.ci) {
    const lock = await http
      .request<{ metadata: { annotations?: Record<string, string> } }>(
        '/apis/coordination.k8s.io/v1/namespaces/kreboot-system/leases/kreboot-lock',
      )
      .catch(() => undefined);
    const entries = JSON.parse(lock?.metadata.annotations?.[Annotations.lockEntries] ?? '[]') as Array<{
      node: string;
    }>;
    const leader = await http
      .request<{ spec: { holderIdentity?: string } }>(
        '/apis/coordination.k8s.io/v1/namespaces/kreboot-system/leases/kreboot-controller',
      )
      .catch(() => undefined);
    frame = render(nodes, entries.map((e) => e.node).join(', '), leader?.spec.holderIdentity ?? '…');
    process.stdout.write(`\x1b[H\x1b[2J${frame}\n`);
  }
  await sleep(250);
}
await sample();

const makespan = Math.max(...[...doneAt.values()]) - Math.min(...[...cordonedAt.values()]);
const busy = [...doneAt.entries()].reduce((s, [n, t]) => s + (t - cordonedAt.get(n)!), 0);
const ideal = busy / args.concurrency;
const rebooted = pending.filter((s) => s.agent.reboots() === 1 && doneAt.has(s.name)).length;
const untouched = sims.slice(args.pending).every((s) => s.agent.reboots() === 0);
if (!untouched) {
  violations++;
  violationNotes.push('a node that needed no reboot was rebooted');
}
const ok = rebooted === args.pending && violations === 0;
for (const n of violationNotes) say(`VIOLATION ${n}`);
const summary = `demo: rebooted ${rebooted}/${args.pending} nodes, max disrupted ${maxDisrupted}, invariant violations ${violations}, makespan ${(makespan / 1000).toFixed(1)}s, ideal ${(ideal / 1000).toFixed(1)}s`;

if (args.keep) {
  process.stdout.write(`${summary}\n`);
  say(`still running. export KUBECONFIG=${cp.kubeconfig}; kubectl get nodes; Ctrl-C to stop and clean up`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}
await Promise.all(controllers.map((c) => c.stop('SIGTERM')));
await Promise.all(sims.map((s) => s.destroy()));
http.close();
await cp.stop();
rmSync(root, { recursive: true, force: true });
if (!args.keep) process.stdout.write(`${summary}\n`);
process.exitCode = ok ? 0 : 1;
