// The acceptance scenarios, end to end: kreboot installed from the repo's files on a real control plane, real
// agents (their own bound tokens) on kwok nodes with the reboot simulator, two real controller replicas (the
// controller service account's token), workloads with PDBs, the example MaintenanceWindow, and a real
// Prometheus scraping all of it. Every scenario's World checks the invariants on every watch event throughout.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  Annotations,
  Conditions,
  ControllerConditions,
  RebootRequiredReasons,
} from '../operator/protocol.ts';
import { dashboardExprs } from '../scripts/dashboard.ts';
import { ControlPlane } from '../testkit/cluster/controlplane.ts';
import { Exporter } from '../testkit/prom/prometheus.ts';
import { ruleExprs, selectorsOf } from '../testkit/prom/promql-check.ts';
import { prometheusReleases } from '../testkit/prom/releases.ts';
import { isReady } from '../testkit/sim/pods.ts';
import type { SimulatedNode } from '../testkit/sim/simulated-node.ts';
import { installKreboot, kubectl } from '../testkit/world/install.ts';
import { World, type WorldOptions } from '../testkit/world/world.ts';

const root = mkdtempSync(join(tmpdir(), 'kreboot-e2e-'));
let cp: ControlPlane;
let world: World | undefined;
let count = 0;

beforeAll(async () => {
  cp = await ControlPlane.start({ dir: join(root, 'cluster') });
  await installKreboot(cp.kubeconfig);
});

afterEach(async (ctx) => {
  if (world) {
    const w = world;
    process.stderr.write(
      `[e2e] ${ctx.task.name.split(':')[0]}: ${w.monitor.events} events checked, longest blind ${w.monitor.maxBlindMs} ms, max disrupted ${w.maxDisrupted}/${w.budget}, lowest ready web pods ${w.minWebReady}, violations ${w.violations.length}\n`,
    );
  }
  if (ctx.task.result?.state === 'fail' && world) {
    // What the cluster looked like: pods (node, phase, ready) and nodes (schedulable, taints).
    const pods = await world.pods().catch(() => []);
    const nodes = await world.nodes().catch(() => []);
    process.stderr.write(
      `pods:\n${pods.map((p) => `  ${p.metadata.name} on ${p.spec.nodeName ?? '-'} ${p.status?.phase} ready=${isReady(p)}${p.metadata.deletionTimestamp ? ' terminating' : ''} ${JSON.stringify((p.status as { conditions?: unknown[] })?.conditions ?? [])}`).join('\n')}\n` +
        `nodes:\n${nodes.map((n) => `  ${n.metadata.name} unschedulable=${n.spec?.unschedulable ?? false} taints=${JSON.stringify((n.spec as { taints?: unknown })?.taints ?? [])}`).join('\n')}\n`,
    );
    const why = await world.explain().catch((err: Error) => [`explain failed: ${err.message}`]);
    process.stderr.write(`${why.join('\n')}\n`);
    process.stderr.write(`violations: ${world.violations.join('\n')}\n${world.logs().slice(-30_000)}\n`);
  }
  await world?.stop();
  world = undefined;
});

afterAll(async () => {
  await cp?.stop();
  rmSync(root, { recursive: true, force: true });
});

async function startWorld(opts: Partial<WorldOptions> & { nodes: number }): Promise<World> {
  const name = `s${++count}`;
  world = await new World({ kubeconfig: cp.kubeconfig, root: join(root, name), name, ...opts }).start();
  return world;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const phaseOf = async (w: World, s: SimulatedNode) =>
  (await w.node(s.name)).metadata.annotations?.[Annotations.phase];

/** The first node seen in the given phase (any phase when undefined), other than `except`. */
function nodeInPhase(w: World, phase?: string, except?: SimulatedNode): Promise<SimulatedNode> {
  return w.until(
    `a node ${phase ?? 'in a phase'}`,
    async () => {
      for (const s of w.sims) {
        const p = s === except ? undefined : await phaseOf(w, s);
        if (p && (!phase || p === phase)) return s;
      }
      return undefined;
    },
    60_000,
    50,
  );
}

/** What every scenario must show at the end: the invariants held, checked on enough events to mean it. */
function invariantsHeld(w: World) {
  expect(w.violations).toEqual([]);
  expect(w.maxDisrupted).toBeLessThanOrEqual(w.budget);
  expect(w.monitor.events).toBeGreaterThan(10);
  // Never without a watch for longer than 350 ms (the API-server restart of scenario 10 is allowed for there).
  expect(w.monitor.maxBlindMs).toBeLessThanOrEqual(350);
}

async function promValue(w: World, expr: string): Promise<number | undefined> {
  const r = await w.prom!.query(expr);
  return r.length ? Number(r[0]!.value[1]) : undefined;
}

describe('e2e scenarios', () => {
  it('1: every pending node is rebooted exactly once, cordoned once, schedulable again; Prometheus saw it all', async () => {
    const w = await startWorld({ nodes: 4 });
    const pending = w.sims.slice(0, 3);
    for (const s of pending) s.needReboot();
    // What on-call sees first: three agents saying so, in Prometheus.
    await w.until(
      'Prometheus sees 3 nodes needing a reboot',
      async () => (await promValue(w, 'sum(kreboot_reboot_required)')) === 3,
    );
    await w.startControllers();
    await w.allDone(pending);
    expect(w.sims.map((s) => s.agent.reboots())).toEqual([1, 1, 1, 0]);
    for (const s of pending) expect(w.cordons.get(s.name)).toBe(1);
    for (const n of await w.nodes()) expect(n.spec?.unschedulable ?? false).toBe(false);
    expect(w.maxDisrupted).toBe(1);
    expect(w.minWebReady).toBeGreaterThanOrEqual(w.workloads!.webMinAvailable);
    invariantsHeld(w);
    // What stayed on a rebooted node (the DaemonSet's pod) was restarted by the reboot and is ready again.
    await w.until('DaemonSet pods restarted on the rebooted nodes, ready again', async () => {
      const shippers = (await w.pods()).filter((p) => p.metadata.labels?.app === 'log-shipper');
      const restarts = (node: string) =>
        shippers
          .filter((p) => p.spec.nodeName === node)
          .map(
            (p) =>
              (p.status as { containerStatuses?: Array<{ restartCount: number }> })?.containerStatuses?.[0]
                ?.restartCount,
          );
      return (
        shippers.length === 4 &&
        shippers.every(isReady) &&
        pending.every((s) => restarts(s.name)[0] === 1) &&
        restarts(w.sims[3]!.name)[0] === 0
      );
    });
    // The real Prometheus scraped every agent (across their restarts) and both controllers.
    await w.until(
      'Prometheus counted 3 successful reboots',
      async () => (await promValue(w, 'sum(max by (pod) (kreboot_reboots_total{result="success"}))')) === 3,
    );
    // The last agent restarted moments ago (its host just came back): wait for its next scrape.
    await w.until('every agent and controller up in Prometheus', async () => {
      const agents = await promValue(w, 'count(up{job="kreboot-agent"} == 1)');
      const controllers = await promValue(w, 'count(up{job="kreboot-controller"} == 1)');
      return agents === 4 && controllers === 2;
    });
    // Never two leaders. With --leadership=on-demand the Deployment should go idle once the rollout is done (no
    // replica leads, none sees work): printed here, asserted in test/integration/leadership.test.ts and
    // test/unit/demand.test.ts (a window's status read back in the API server's field order is not "out of date").
    expect(await promValue(w, 'sum(kreboot_leader)')).toBeLessThanOrEqual(1);
    const idleBy = Date.now() + 60_000;
    let idle = false;
    while (!idle && Date.now() < idleBy) {
      idle =
        (await promValue(w, 'sum(kreboot_leader)')) === 0 && (await promValue(w, 'sum(kreboot_work)')) === 0;
      if (!idle) await new Promise((r) => setTimeout(r, 1000));
    }
    process.stderr.write(`[e2e] 1: Deployment idle after the rollout (no leader, no work): ${idle}\n`);
    // Each agent said "reboot required" until its reboot (the agent's own counters die with the host).
    expect(await promValue(w, 'count(max_over_time(kreboot_reboot_required[10m]) == 1)')).toBe(3);
    expect(await promValue(w, 'sum(kreboot_reboot_required)')).toBe(0);
  });

  it('2: never more disrupted nodes than the budget at concurrency 2, and the budget is used', async () => {
    const w = await startWorld({ nodes: 5, concurrency: 2 });
    const pending = w.sims.slice(0, 4);
    for (const s of pending) s.needReboot();
    await w.startControllers(['--min-phase-time=500ms']);
    await w.allDone(pending);
    expect(w.maxDisrupted).toBe(2);
    expect(w.sims.map((s) => s.agent.reboots())).toEqual([1, 1, 1, 1, 0]);
    invariantsHeld(w);
  });

  it('3: a node a person cordoned beforehand is rebooted and stays cordoned', async () => {
    // 4 nodes: with one cordoned by a person and one draining, the PDB-guarded pods still have two nodes to go to.
    const w = await startWorld({ nodes: 4, preCordoned: [0] });
    for (const s of w.sims) s.needReboot();
    await w.startControllers();
    await w.allDone(w.sims);
    const [pre, ...others] = await Promise.all(w.sims.map((s) => w.node(s.name)));
    expect(pre!.spec?.unschedulable).toBe(true);
    for (const n of others) expect(n.spec?.unschedulable ?? false).toBe(false);
    expect(w.sims.map((s) => s.agent.reboots())).toEqual([1, 1, 1, 1]);
    invariantsHeld(w);
  });

  it('4: a blocking pod blocks its node only; deleting it lets the node go', async () => {
    const w = await startWorld({ nodes: 3 });
    const [blocked, ...free] = w.sims as [SimulatedNode, ...SimulatedNode[]];
    const ns = w.workloads!.ns;
    await w.apply({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'nightly-backup', labels: { 'kreboot.e2e/blocks-reboot': 'true' } },
      spec: { nodeName: blocked.name, containers: [{ name: 'c', image: 'registry.invalid/backup:1' }] },
    });
    blocked.needReboot();
    await sleep(1100); // waits longest: it would go first
    for (const s of free) s.needReboot();
    await w.startControllers(['--blocking-pod-selector=kreboot.e2e/blocks-reboot=true']);
    await w.allDone(free);
    expect(blocked.agent.reboots()).toBe(0);
    expect(await phaseOf(w, blocked)).toBeUndefined();
    await w.until(
      'blocked reason exported',
      async () => (await promValue(w, 'max(kreboot_blocked_nodes{reason="blocking-pod"})')) === 1,
    );
    await kubectl(cp.kubeconfig, ['-n', ns, 'delete', 'pod', 'nightly-backup', '--wait=false']);
    await w.allDone([blocked]);
    expect(w.sims.map((s) => s.agent.reboots())).toEqual([1, 1, 1]);
    invariantsHeld(w);
  });

  it('5: a firing alert blocks everything; clearing it resumes', async () => {
    const exporter = new Exporter();
    const port = await exporter.start();
    exporter.set('storage_degraded', 1);
    try {
      const w = await startWorld({
        nodes: 3,
        exporter: {
          port,
          rules: `groups:
- name: cluster
  interval: 1s
  rules:
  - alert: StorageDegraded
    expr: storage_degraded > 0
    for: 0s
    labels: {severity: critical}
`,
        },
      });
      for (const s of w.sims) s.needReboot();
      await w.until(
        'alert firing in Prometheus',
        async () =>
          (await promValue(w, 'count(ALERTS{alertname="StorageDegraded",alertstate="firing"})')) === 1,
      );
      await w.startControllers([`--prometheus-url=${w.prom!.url}`, '--alert-poll-period=1s']);
      await w.until(
        'alert reason exported',
        async () => (await promValue(w, 'max(kreboot_blocked_nodes{reason="alert"})')) === 3,
      );
      await sleep(3000);
      expect(w.startedAt.size).toBe(0);
      expect(w.sims.map((s) => s.agent.reboots())).toEqual([0, 0, 0]);
      exporter.set('storage_degraded', 0);
      await w.allDone(w.sims);
      expect(w.sims.map((s) => s.agent.reboots())).toEqual([1, 1, 1]);
      invariantsHeld(w);
    } finally {
      await exporter.stop();
    }
  });

  it('6: window closed → nothing starts; suspended or excluded → nothing; open → starts', async () => {
    const w = await startWorld({ nodes: 2, window: false });
    const hour = (new Date().getUTCHours() + 12) % 24;
    const now = Date.now();
    const win = (spec: Record<string, unknown>) =>
      kubectl(
        cp.kubeconfig,
        ['apply', '-f', '-'],
        JSON.stringify({
          apiVersion: 'kreboot.io/v1alpha1',
          kind: 'MaintenanceWindow',
          metadata: { name: `${w.opts.name}-window`, labels: { 'kreboot.e2e/world': w.opts.name } },
          spec,
        }),
      );
    await win({ schedule: `0 ${hour} * * *`, duration: '1h', timeZone: 'UTC' });
    for (const s of w.sims) s.needReboot();
    await w.startControllers();
    const blockedBy = async (reason: string) =>
      w.until(
        `both nodes blocked by ${reason}`,
        async () => (await promValue(w, `max(kreboot_blocked_nodes{reason="${reason}"})`)) === 2,
      );
    await blockedBy('window');
    const open = { schedule: '@hourly', duration: '2h', timeZone: 'UTC' };
    await win({ ...open, suspend: true });
    await sleep(3000);
    await blockedBy('window');
    await win({
      ...open,
      exclusions: [
        {
          start: new Date(now - 3600_000).toISOString(),
          end: new Date(now + 3600_000).toISOString(),
          reason: 'freeze',
        },
      ],
    });
    await sleep(3000);
    await blockedBy('window');
    expect(w.startedAt.size).toBe(0);
    expect(w.sims.map((s) => s.agent.reboots())).toEqual([0, 0]);
    await win(open);
    await w.allDone(w.sims);
    expect(w.sims.map((s) => s.agent.reboots())).toEqual([1, 1]);
    invariantsHeld(w);
  });

  it('7: SIGKILL of the leader during a drain → the other replica finishes; no node rebooted twice', async () => {
    const w = await startWorld({ nodes: 3 });
    for (const s of w.sims) s.needReboot();
    await w.startControllers(['--min-phase-time=2s']);
    const first = await nodeInPhase(w, 'draining');
    const leader = await w.leader();
    expect(leader).toBeDefined();
    await leader!.stop('SIGKILL');
    // A kill that lands mid-eviction can leave the evicted pod in the PDB's status.disruptedPods without deleting
    // it (the API server records the disruption, then the deletion dies with the client's request). The PDB then
    // counts that running pod as disrupted and refuses every eviction until the disruption controller drops the
    // entry, two minutes later (its DeletionTimeout). Seen here: all three web pods ready, evictions refused for
    // 120 s. A real leader crash pays the same; the rollout resumes after it, so this scenario allows for it.
    await w.allDone(w.sims, 240_000);
    expect(first.agent.reboots()).toBe(1);
    expect(w.sims.map((s) => s.agent.reboots())).toEqual([1, 1, 1]);
    expect(w.controllers.find((c) => c.running)!.log).toContain('became the leader');
    invariantsHeld(w);
  });

  it('8: a node that never comes back halts the rollout, with condition, Event and metric', async () => {
    // Every Prometheus release under test scrapes this world (the pinned 3.x, and Debian's 2.x where installed):
    // the rules and the dashboard are checked on each.
    const releases = prometheusReleases();
    const w = await startWorld({ nodes: 3, prometheusReleases: releases });
    const [lost, ...waiting] = w.sims as [SimulatedNode, ...SimulatedNode[]];
    lost.neverComeBack = true;
    lost.needReboot();
    await sleep(1100);
    for (const s of waiting) s.needReboot();
    await w.startControllers(['--reboot-timeout=4s']);
    const halted = await w.until(
      'halted',
      async () => (await w.lockAnnotations())[Annotations.halted],
      60_000,
    );
    expect(halted).toContain(lost.name);
    // The controller halts first (the lock: nothing new starts), then sets the condition, then sends the Event
    // (Events are written asynchronously, never blocking a pass): each is awaited in that order, not read at once.
    await w.until(
      'KrebootRebootFailed=True',
      async () =>
        (await w.node(lost.name)).status?.conditions?.find(
          (c) => c.type === ControllerConditions.rebootFailed,
        )?.status === 'True',
    );
    await w.until('RolloutHalted Warning Event', async () =>
      (await w.events(lost.name)).some((e) => e.reason === 'RolloutHalted' && e.type === 'Warning'),
    );
    await w.until(
      'halted in Prometheus',
      async () => (await promValue(w, 'max(kreboot_rollout_halted)')) === 1,
    );
    // Nothing else starts while halted.
    await sleep(3000);
    for (const s of waiting) {
      expect(await phaseOf(w, s)).toBeUndefined();
      expect(s.agent.reboots()).toBe(0);
    }
    invariantsHeld(w);
    for (const [i, prom] of w.proms.entries()) {
      const rel = releases[i]!.name;
      const value = async (expr: string) => {
        const r = await prom.query(expr);
        return r.length ? Number(r[0]!.value[1]) : undefined;
      };
      // The repo's KrebootRolloutHalted alert fires from it.
      await w.until(
        `KrebootRolloutHalted alert (${rel})`,
        async () => (await value('count(ALERTS{alertname="KrebootRolloutHalted"})')) === 1,
      );
      // Everything we ship in PromQL works on what kreboot really exports (a halted rollout exports the most):
      // every series an alert rule selects exists, and every dashboard query returns data.
      const empty: string[] = [];
      for (const { alert, expr } of ruleExprs()) {
        for (const sel of selectorsOf(expr)) {
          if (!(await prom.query(`count(last_over_time(${sel}[10m]))`)).length)
            empty.push(`${alert}: ${sel}`);
        }
      }
      for (const expr of dashboardExprs('1m'))
        if (!(await prom.query(expr)).length) empty.push(`dashboard: ${expr}`);
      expect(empty, rel).toEqual([]);
      process.stderr.write(
        `scenario 8: rules and ${dashboardExprs('1m').length} dashboard queries answered by ${rel}\n`,
      );
    }
  });

  it('9: a PDB allowing no disruption → its node is passed over, then handled per the drain-timeout policy', async () => {
    const w = await startWorld({ nodes: 3 });
    const [guarded, ...others] = w.sims as [SimulatedNode, ...SimulatedNode[]];
    const ns = w.workloads!.ns;
    await w.apply({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'pinned' },
          spec: {
            replicas: 2,
            selector: { matchLabels: { app: 'pinned' } },
            template: {
              metadata: { labels: { app: 'pinned' } },
              spec: {
                nodeSelector: { 'kubernetes.io/hostname': guarded.name },
                terminationGracePeriodSeconds: 1,
                containers: [{ name: 'c', image: 'registry.invalid/db:1' }],
              },
            },
          },
        },
        {
          apiVersion: 'policy/v1',
          kind: 'PodDisruptionBudget',
          metadata: { name: 'pinned' },
          spec: { minAvailable: 2, selector: { matchLabels: { app: 'pinned' } } },
        },
      ],
    });
    await w.until('pinned PDB allows 0 with 2 healthy', async () => {
      const s = JSON.parse(
        await kubectl(cp.kubeconfig, ['-n', ns, 'get', 'pdb', 'pinned', '-o', 'json']),
      ).status;
      return s?.currentHealthy === 2 && s.disruptionsAllowed === 0;
    });
    guarded.needReboot();
    await sleep(1100);
    for (const s of others) s.needReboot();
    await w.startControllers([
      '--drain-timeout=3s',
      '--drain-timeout-policy=abort',
      '--retry-after-failure=10m',
    ]);
    await w.allDone(others);
    expect(guarded.agent.reboots()).toBe(0);
    expect(w.startedAt.has(guarded.name)).toBe(false);
    await w.until(
      'pdb reason exported',
      async () => (await promValue(w, 'max(kreboot_blocked_nodes{reason="pdb"})')) === 1,
    );
    // Now the PDB allows one: the drain starts, evicts one pod, and the second eviction is refused for as long as
    // its replacement cannot run (pinned to the cordoned node): the drain times out and the abort policy applies.
    await kubectl(cp.kubeconfig, [
      '-n',
      ns,
      'patch',
      'pdb',
      'pinned',
      '--type=merge',
      '-p',
      '{"spec":{"minAvailable":1}}',
    ]);
    const failure = await w.until(
      'drain aborted',
      async () => {
        const n = await w.node(guarded.name);
        const a = n.metadata.annotations ?? {};
        return a[Annotations.lastFailure] && !a[Annotations.phase] && !n.spec?.unschedulable
          ? a[Annotations.lastFailure]
          : undefined;
      },
      60_000,
    );
    expect(failure).toMatch(/drain did not finish within 3s/);
    expect(w.startedAt.has(guarded.name)).toBe(true);
    expect(guarded.agent.reboots()).toBe(0);
    await w.until('lock released', async () => (await w.lockEntries()).length === 0);
    invariantsHeld(w);
  });

  it('10: an agent restarted mid-way and the API server restarted mid-rollout → everything recovers', async () => {
    const w = await startWorld({ nodes: 3 });
    for (const s of w.sims) s.needReboot();
    await w.startControllers(['--min-phase-time=1500ms']);
    const first = await nodeInPhase(w, 'draining');
    await first.restartAgent(1000);
    await w.until('first node done', async () => w.doneAt.has(first.name), 60_000);
    const second = await nodeInPhase(w, undefined, first);
    await cp.restart('kube-apiserver', 2000);
    await w.allDone(w.sims, 180_000);
    expect(second.agent.reboots()).toBe(1);
    expect(w.sims.map((s) => s.agent.reboots())).toEqual([1, 1, 1]);
    expect(w.violations).toEqual([]);
    expect(w.maxDisrupted).toBeLessThanOrEqual(1);
  });

  it('11: the sentinel still present after a reboot → no reboot loop, and it is reported', async () => {
    const w = await startWorld({ nodes: 2 });
    const [stubborn, fine] = w.sims as [SimulatedNode, SimulatedNode];
    stubborn.keepSentinelAfterReboot = true;
    stubborn.needReboot();
    await sleep(1100);
    fine.needReboot();
    await w.startControllers();
    await w.allDone([stubborn, fine]);
    const c = (await w.node(stubborn.name)).status?.conditions?.find(
      (x) => x.type === Conditions.rebootRequired,
    );
    expect(c?.reason).toBe(RebootRequiredReasons.stillRequiredAfterReboot);
    await w.until(
      'reported in Prometheus',
      async () =>
        (await promValue(w, 'max(kreboot_blocked_nodes{reason="still-required-after-reboot"})')) === 1,
    );
    await sleep(4000);
    expect(stubborn.agent.reboots()).toBe(1);
    expect(fine.agent.reboots()).toBe(1);
    invariantsHeld(w);
  });
});
