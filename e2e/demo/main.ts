// npm run demo [-- --nodes 5 --pending 3 --concurrency 1 --soak 0 --prometheus-port P --window FILE --ci --keep]
// kreboot's main job on an embedded default: a local control plane (kwok nodes) with kreboot installed from
// deploy/base, one real agent per node (its own service-account token) with the reboot simulator, two real
// controller replicas gated by a real Prometheus that scrapes them all, workloads with a PDB, the example
// MaintenanceWindow, and a live view of the rolling reboot.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NodeLite } from '../../operator/kube/types.ts';
import { Annotations } from '../../operator/protocol.ts';
import { ControlPlane } from '../../testkit/cluster/controlplane.ts';
import { ensurePrometheusBuilt } from '../../testkit/prom/releases.ts';
import { installKreboot, SYSTEM_NS } from '../../testkit/world/install.ts';
import { World } from '../../testkit/world/world.ts';

interface Args {
  nodes: number;
  pending: number;
  concurrency: number;
  ci: boolean;
  keep: boolean;
  downMs: number;
  /** The controllers' --soak-time in seconds: a settle time after each node is back, before it is released. */
  soak: number;
  /** A fixed port for the demo's Prometheus (a URL to keep open in a browser); a free one when not given. */
  prometheusPort?: number;
  /** A MaintenanceWindow manifest to gate the rollout with, instead of deploy/examples' always-open one. */
  window?: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { nodes: 5, pending: 3, concurrency: 1, ci: false, keep: false, downMs: 4000, soak: 0 };
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
    else if (k === '--soak') a.soak = num(k);
    else if (k === '--prometheus-port') {
      a.prometheusPort = num(k);
      if (a.prometheusPort > 65535) {
        process.stderr.write(
          `demo: --prometheus-port needs a port number 1-65535, e.g. --prometheus-port 9090\n`,
        );
        process.exit(2);
      }
    } else if (k === '--window') {
      const f = argv[++i];
      if (!f) {
        process.stderr.write(
          'demo: --window needs a file, e.g. --window deploy/examples/maintenancewindow-weeknights.yaml\n',
        );
        process.exit(2);
      }
      a.window = f;
    } else if (k === '--ci') a.ci = true;
    else if (k === '--keep') a.keep = true;
    else {
      process.stderr.write(
        `demo: unknown argument ${k}; use --nodes N --pending K --concurrency C --soak S --prometheus-port P --window FILE --ci --keep\n`,
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

/** What this run started, so that every exit path (an error, Ctrl-C, SIGTERM) stops it and removes `root`. */
const started: { cp?: ControlPlane; world?: World } = {};
let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await started.world?.stop().catch(() => {});
    await started.cp?.stop().catch(() => {});
    rmSync(root, { recursive: true, force: true });
  })();
  return cleaning;
}
/** With --keep, the signal that ends the wait (then the normal clean-up runs). */
let keepWaiting: (() => void) | undefined;
for (const [sig, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const)
  process.on(sig, () => {
    if (keepWaiting) return keepWaiting();
    say(`${sig}: stopping what the demo started and removing ${root}`);
    void cleanup().then(() => process.exit(code));
  });

async function run(): Promise<number> {
  say(`working in ${root} (removed at the end, whatever happens)`);
  say('preparing Prometheus and Alertmanager (the first run builds them from Go modules: ~6 min on 2 cores)');
  const release = await ensurePrometheusBuilt();
  say(release.name);
  say('starting the local control plane (the first run builds it from Go modules: ~8 min on 2 cores)');
  const cp = await ControlPlane.start({ dir: join(root, 'cluster') });
  started.cp = cp;
  say('installing kreboot from crds/ and deploy/base (RBAC, admission policy, agent DaemonSet)');
  await installKreboot(cp.kubeconfig);
  const world = new World({
    kubeconfig: cp.kubeconfig,
    root,
    name: 'demo',
    nodes: args.nodes,
    concurrency: args.concurrency,
    downMs: args.downMs,
    nodeName: (i) => `node-${i}`,
    prometheusReleases: [release],
    prometheusPort: args.prometheusPort,
    windowFile: args.window,
  });
  started.world = world;
  await world.start();
  const prom = world.prom!;
  say(
    `${args.nodes} simulated nodes with workloads, each with a real kreboot agent; Prometheus at ${prom.url}`,
  );
  const pending = world.sims.slice(0, args.pending);
  for (const s of pending) s.needReboot();
  say(
    `${args.pending} nodes need a reboot (/var/run/reboot-required created); starting 2 controller replicas`,
  );
  await world.startControllers([
    `--prometheus-url=${prom.url}`,
    '--log-level=warn',
    ...(args.soak ? [`--soak-time=${args.soak}s`] : []),
  ]);

  const t0 = Date.now();

  function render(nodes: NodeLite[], lockHolder: string, leader: string, blocked: string): string {
    const now = Date.now();
    const rows = nodes
      .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))
      .map((n) => {
        const a = n.metadata.annotations ?? {};
        const phase = a[Annotations.phase] ?? (world.doneAt.has(n.metadata.name) ? 'rebooted' : '-');
        const since = a[Annotations.phaseSince] ? secs(now - Date.parse(a[Annotations.phaseSince]!)) : '';
        const ready =
          n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? 'Ready' : 'NotReady';
        const rr = n.status?.conditions?.find((c) => c.type === 'RebootRequired');
        const need = rr?.status === 'True' ? 'yes' : rr?.status === 'False' ? 'no' : '?';
        const sched = n.spec?.unschedulable ? 'cordoned' : '';
        return `  ${n.metadata.name.padEnd(8)} ${need.padEnd(6)} ${phase.padEnd(10)} ${since.padStart(6)}  ${ready.padEnd(9)} ${sched.padEnd(9)} ${(n.status?.nodeInfo?.bootID ?? '').slice(-6)}`;
      });
    const done = world.doneAt.size;
    const width = 30;
    const filled = Math.round((done / args.pending) * width);
    const elapsed = now - t0;
    const eta =
      done > 0 && done < args.pending ? ` ETA ${secs((elapsed / done) * (args.pending - done))}` : '';
    return [
      `kreboot demo — ${args.nodes} nodes, ${args.pending} need a reboot, concurrency ${args.concurrency}     ${secs(elapsed)}`,
      '',
      `  ${'NODE'.padEnd(8)} ${'REBOOT'.padEnd(6)} ${'PHASE'.padEnd(10)} ${'IN'.padStart(6)}  ${'READY'.padEnd(9)} ${'SCHED'.padEnd(9)} BOOT`,
      ...rows,
      '',
      `  lock: ${lockHolder || '(free)'}   leader: ${leader}`,
      `  gates: window ${args.window ?? 'demo-anytime (deploy/examples)'}, alerts from Prometheus; waiting: ${blocked || 'none'}`,
      `  web pods ready (PDB min ${world.workloads?.webMinAvailable}): lowest ${world.minWebReady}   max disrupted ${world.maxDisrupted}, violations ${world.violations.length}`,
      `  [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${args.pending}${eta}`,
    ].join('\n');
  }

  const deadline = t0 + Math.max(180_000, args.pending * (args.downMs + 20_000));
  async function draw(): Promise<void> {
    const nodes = await world.nodes().catch(() => [] as NodeLite[]);
    const entries = await world.lockEntries().catch(() => []);
    const leader = await world
      .leader()
      .then((c) => c?.opts.identity ?? '…')
      .catch(() => '…');
    const blocked = await prom
      .query('max by (reason) (kreboot_blocked_nodes) > 0')
      .then((r) => r.map((x) => `${x.metric.reason} ${x.value[1]}`).join(', '))
      .catch(() => '');
    const frame = render(nodes, entries.map((e) => e.node).join(', '), leader, blocked);
    process.stdout.write(`\x1b[H\x1b[2J${frame}\n`);
  }

  while (world.doneAt.size < args.pending && Date.now() < deadline) {
    if (!args.ci) await draw();
    await sleep(250);
  }
  // Let the last release land before judging, then show the finished state (not the last frame of the loop).
  await world.allDone(pending, 30_000).catch(() => {});
  if (!args.ci) await draw();

  const { makespanMs, idealMs } = world.timings();
  const violations = [...world.violations];
  const rebooted = pending.filter((s) => s.agent.reboots() === 1 && world.doneAt.has(s.name)).length;
  if (!world.sims.slice(args.pending).every((s) => s.agent.reboots() === 0))
    violations.push('a node that needed no reboot was rebooted');
  for (const s of world.sims)
    if (s.agent.reboots() > 0 && (world.cordons.get(s.name) ?? 0) !== 1)
      violations.push(`${s.name} was cordoned ${world.cordons.get(s.name) ?? 0} times`);
  const ok = rebooted === args.pending && violations.length === 0;
  for (const n of violations) say(`VIOLATION ${n}`);
  if (!ok) for (const line of await world.explain(pending)) say(line);
  const summary = `demo: rebooted ${rebooted}/${args.pending} nodes, max disrupted ${world.maxDisrupted}, invariant violations ${violations.length}, makespan ${(makespanMs / 1000).toFixed(1)}s, ideal ${(idealMs / 1000).toFixed(1)}s`;

  if (args.keep) {
    process.stdout.write(`${summary}\n`);
    say(
      `still running. export KUBECONFIG=${cp.kubeconfig}; kubectl get nodes,mw; kubectl -n ${SYSTEM_NS} get lease; Prometheus: ${prom.url}; Ctrl-C to stop and clean up`,
    );
    await new Promise<void>((resolve) => {
      keepWaiting = resolve;
    });
  }
  await cleanup();
  if (!args.keep) process.stdout.write(`${summary}\n`);
  return ok ? 0 : 1;
}

try {
  process.exitCode = await run();
} catch (err) {
  say(`failed: ${(err as Error).message}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
