// Two real controller replicas, simulated nodes with real agents, on the real control plane.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Annotations, Conditions, ControllerConditions } from '../../operator/protocol.ts';
import { eventually, statusOf } from './kube.ts';
import { annotationsOf, kreebotKeysLeft, Rollout } from './rollout.ts';

const root = mkdtempSync(join(tmpdir(), 'kreboot-ctrl-it-'));
let current: Rollout | undefined;

afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail' && current) process.stderr.write(current.logs().slice(-20_000));
  await current?.stop();
  current = undefined;
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function rollout(opts: Partial<ConstructorParameters<typeof Rollout>[0]> & { nodes: number }) {
  current = await new Rollout({ root, ...opts }).start();
  return current;
}

async function allDone(r: Rollout, timeoutMs = 90_000) {
  await eventually(
    'every node rebooted, released and uncordoned as found',
    async () => {
      const nodes = await r.list();
      const lock = await r.lockAnnotations();
      return (
        r.sims.every((s) => s.rebootsDone >= 1) &&
        nodes.every((n) => kreebotKeysLeft(n).length === 0) &&
        JSON.parse(lock[Annotations.lockEntries] ?? '[]').length === 0
      );
    },
    timeoutMs,
    250,
  );
}

describe('controller rollout', () => {
  it('reboots every pending node exactly once, one at a time, and uncordons each', async () => {
    const r = await rollout({ nodes: 3 });
    for (const s of r.sims) s.needReboot();
    await r.startControllers();
    await allDone(r);
    expect(r.sims.map((s) => s.rebootsDone)).toEqual([1, 1, 1]);
    expect(r.sims.map((s) => s.agent.reboots())).toEqual([1, 1, 1]);
    expect(r.maxDisrupted).toBe(1);
    for (const n of await r.list()) {
      expect(n.spec?.unschedulable ?? false).toBe(false);
      expect(r.cordons.get(n.metadata!.name!)).toBe(1);
    }
    const m = await r.metrics();
    expect(m).toMatch(/kreboot_reboots_total\{result="success"\} 3/);
  });

  it('leaves a node that a person cordoned beforehand cordoned after its reboot', async () => {
    const r = await rollout({ nodes: 2, preCordoned: [0] });
    for (const s of r.sims) s.needReboot();
    await r.startControllers();
    await allDone(r);
    const [pre, other] = await Promise.all(r.sims.map((s) => r.node(s.name)));
    expect(pre!.spec?.unschedulable).toBe(true);
    expect(other!.spec?.unschedulable ?? false).toBe(false);
    expect(r.sims.map((s) => s.rebootsDone)).toEqual([1, 1]);
  });

  it('passes over a node whose PDB allows no disruption, and reboots it once the PDB allows', async () => {
    const r = await rollout({ nodes: 2 });
    const [guarded, free] = r.sims as [(typeof r.sims)[0], (typeof r.sims)[0]];
    await podOn(r, 'guarded', guarded.name, { app: 'guarded' });
    await r.c.policy.createNamespacedPodDisruptionBudget({
      namespace: r.ns,
      body: {
        metadata: { name: 'guard' },
        spec: { minAvailable: 1, selector: { matchLabels: { app: 'guarded' } } },
      },
    });
    await eventually('PDB at 0 disruptions', async () => {
      const b = await r.c.policy.readNamespacedPodDisruptionBudgetStatus({ name: 'guard', namespace: r.ns });
      return (
        b.status?.observedGeneration === b.metadata?.generation &&
        b.status?.disruptionsAllowed === 0 &&
        b.status?.expectedPods === 1
      );
    });
    guarded.needReboot(); // waits longest: would go first
    await new Promise((res) => setTimeout(res, 1100));
    free.needReboot();
    await r.startControllers();
    await eventually(
      'the free node rebooted',
      async () => free.rebootsDone === 1 && kreebotKeysLeft(await r.node(free.name)).length === 0,
    );
    const g = await r.node(guarded.name);
    expect(annotationsOf(g)[Annotations.phase]).toBeUndefined();
    expect(g.spec?.unschedulable ?? false).toBe(false);
    expect(await r.metrics()).toMatch(/kreboot_blocked_nodes\{reason="pdb"\} 1/);
    await r.c.policy.patchNamespacedPodDisruptionBudget(
      { name: 'guard', namespace: r.ns, body: [{ op: 'replace', path: '/spec/minAvailable', value: 0 }] },
      undefined,
    );
    await allDone(r);
    expect(r.maxDisrupted).toBe(1);
  });

  it('aborts a drain that times out under the abort policy: uncordons, releases, records why, no reboot', async () => {
    const r = await rollout({
      nodes: 1,
      controllerArgs: ['--drain-unmanaged-pods=block', '--drain-timeout=3s', '--retry-after-failure=10m'],
    });
    const [s] = r.sims;
    await podOn(r, 'pet', s!.name, { app: 'pet' });
    s!.needReboot();
    await r.startControllers();
    const n = await eventually(
      'drain aborted',
      async () => {
        const n = await r.node(s!.name);
        return annotationsOf(n)[Annotations.lastFailureAt] !== undefined && kreebotKeysLeft(n).length === 0
          ? n
          : undefined;
      },
      30_000,
    );
    expect(n.spec?.unschedulable ?? false).toBe(false);
    expect(annotationsOf(n)[Annotations.lastFailure]).toMatch(
      /drain did not finish within 3s.*no controller/,
    );
    expect(s!.agent.reboots()).toBe(0);
    await eventually(
      'lock released',
      async () => JSON.parse((await r.lockAnnotations())[Annotations.lockEntries] ?? '[]').length === 0,
    );
    const pod = await r.c.core.readNamespacedPod({ name: 'pet', namespace: r.ns });
    expect(pod.metadata?.deletionTimestamp).toBeUndefined();
    await eventually('retry-later reported', async () =>
      /kreboot_blocked_nodes\{reason="retry-later"\} 1/.test(await r.metrics()),
    );
  });

  it('forces a drain that times out under the force policy, says so loudly, and reboots', async () => {
    const r = await rollout({
      nodes: 1,
      controllerArgs: ['--drain-unmanaged-pods=block', '--drain-timeout=2s', '--drain-timeout-policy=force'],
    });
    const [s] = r.sims;
    await podOn(r, 'pet', s!.name, { app: 'pet' });
    s!.needReboot();
    await r.startControllers();
    await allDone(r);
    expect(s!.rebootsDone).toBe(1);
    await eventually('pod deleted', async () => {
      try {
        await r.c.core.readNamespacedPod({ name: 'pet', namespace: r.ns });
        return false;
      } catch (err) {
        return statusOf(err) === 404;
      }
    });
    // Events are written asynchronously after the step (they never block a pass): wait for it.
    const forced = await eventually('DrainForced Event', async () =>
      (
        await r.c.core.listNamespacedEvent({
          namespace: 'default',
          fieldSelector: `involvedObject.name=${s!.name}`,
        })
      ).items.find((e) => e.reason === 'DrainForced'),
    );
    expect(forced.type).toBe('Warning');
    expect(forced.message).toContain(`${r.ns}/pet`);
    expect(r.logs()).toMatch(/FORCE policy: deleted 1 pod/);
  });

  it('releases the lock entry of a node that was deleted mid-rollout, and goes on with the next', async () => {
    const r = await rollout({
      nodes: 2,
      controllerArgs: ['--drain-unmanaged-pods=block', '--drain-timeout=10m'],
    });
    const [stuck, next] = r.sims as [(typeof r.sims)[0], (typeof r.sims)[0]];
    await podOn(r, 'pet', stuck.name, { app: 'pet' });
    stuck.needReboot();
    await new Promise((res) => setTimeout(res, 1100));
    next.needReboot();
    await r.startControllers();
    await eventually(
      'stuck node draining',
      async () => annotationsOf(await r.node(stuck.name))[Annotations.phase] === 'draining',
    );
    expect(next.rebootsDone).toBe(0);
    await stuck.destroy();
    await eventually(
      'next node rebooted',
      async () => next.rebootsDone === 1 && kreebotKeysLeft(await r.node(next.name)).length === 0,
      60_000,
    );
    const entries = JSON.parse((await r.lockAnnotations())[Annotations.lockEntries] ?? '[]') as Array<{
      node: string;
    }>;
    expect(entries.map((e) => e.node)).not.toContain(stuck.name);
  });

  it('halts the rollout when a node does not come back: condition, Event, metric, and nothing new starts', async () => {
    const r = await rollout({ nodes: 2, controllerArgs: ['--reboot-timeout=4s'] });
    const [lost, waiting] = r.sims as [(typeof r.sims)[0], (typeof r.sims)[0]];
    lost.neverComeBack = true;
    lost.needReboot();
    await new Promise((res) => setTimeout(res, 1100));
    waiting.needReboot();
    await r.startControllers();
    const halted = await eventually(
      'halted',
      async () => (await r.lockAnnotations())[Annotations.halted],
      40_000,
    );
    expect(halted).toContain(lost.name);
    // Halt first (the lock), then the condition, then the Event: each awaited, not read at the instant of the halt.
    await eventually(
      'KrebootRebootFailed=True',
      async () =>
        (await r.node(lost.name)).status?.conditions?.find(
          (c) => c.type === ControllerConditions.rebootFailed,
        )?.status === 'True',
    );
    await eventually('metric', async () => /kreboot_rollout_halted 1/.test(await r.metrics()));
    // The stuck node's time in its phase is exported for the KrebootNodeStuckInPhase alert.
    expect(await r.metrics()).toMatch(
      new RegExp(`kreboot_node_phase_age_seconds\\{node="${lost.name}",phase="(approved|rebooting)"\\} \\d`),
    );
    await eventually('RolloutHalted Warning Event', async () =>
      (
        await r.c.core.listNamespacedEvent({
          namespace: 'default',
          fieldSelector: `involvedObject.name=${lost.name}`,
        })
      ).items.some((e) => e.reason === 'RolloutHalted' && e.type === 'Warning'),
    );
    await new Promise((res) => setTimeout(res, 3000));
    expect(annotationsOf(await r.node(waiting.name))[Annotations.phase]).toBeUndefined();
    expect(waiting.rebootsDone).toBe(0);
    expect(await r.metrics()).toMatch(/kreboot_blocked_nodes\{reason="halted"\} 1/);
  });

  for (const phase of ['cordoned', 'draining', 'approved', 'rebooting', 'verifying'] as const) {
    it(`resumes on the other replica after SIGKILL of the leader in phase ${phase}, with exactly one reboot`, async () => {
      const r = await rollout({ nodes: 1, downMs: 3000, controllerArgs: ['--min-phase-time=1500ms'] });
      const [s] = r.sims;
      s!.needReboot();
      await r.startControllers();
      await eventually(
        `phase ${phase}`,
        async () => annotationsOf(await r.node(s!.name))[Annotations.phase] === phase,
        60_000,
        50,
      );
      const leader = await r.leader();
      expect(leader).toBeDefined();
      await leader!.stop('SIGKILL');
      await allDone(r);
      expect(s!.rebootsDone).toBe(1);
      expect(s!.agent.reboots()).toBe(1);
      const survivor = r.controllers.find((c) => c.running)!;
      expect(survivor.log).toContain('became the leader');
      const n = await r.node(s!.name);
      expect(n.status?.conditions?.find((c) => c.type === Conditions.rebootRequired)?.status).toBe('False');
      expect(r.cordons.get(s!.name)).toBe(1);
    });
  }
});

async function podOn(r: Rollout, name: string, node: string, labels: Record<string, string>) {
  // A bare pod (no controller): evicted under the default policy, a blocker under --drain-unmanaged-pods=block.
  const body: V1Pod = {
    metadata: { name, labels },
    spec: {
      nodeName: node,
      terminationGracePeriodSeconds: 1,
      containers: [{ name: 'c', image: 'registry.invalid/x:1' }],
    },
  };
  await r.c.core.createNamespacedPod({ namespace: r.ns, body });
  await eventually(
    `${name} running`,
    async () => (await r.c.core.readNamespacedPod({ name, namespace: r.ns })).status?.phase === 'Running',
  );
}
