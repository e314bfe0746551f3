// MaintenanceWindows with the controller on the real control plane.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { Annotations } from '../../operator/protocol.ts';
import { krebootCli } from './cli.ts';
import { applyWindowCrd, eventually, kubectlSync } from './kube.ts';
import { kreebotKeysLeft, Rollout } from './rollout.ts';

const root = mkdtempSync(join(tmpdir(), 'kreboot-mw-it-'));
const kubeconfig = inject('kubeconfig');
let current: Rollout | undefined;

const kubectl = (args: string[], input?: string) => kubectlSync(kubeconfig, args, input);

beforeAll(() => applyWindowCrd(kubeconfig));
afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail' && current) process.stderr.write(current.logs().slice(-20_000));
  if (current) kubectl(['delete', 'mw', '-l', `kreboot.test/group=${current.group}`, '--wait=false']);
  await current?.stop();
  current = undefined;
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function applyWindow(r: Rollout, name: string, spec: Record<string, unknown>) {
  const obj = {
    apiVersion: 'kreboot.io/v1alpha1',
    kind: 'MaintenanceWindow',
    metadata: { name: `${r.group}-${name}`, labels: { 'kreboot.test/group': r.group } },
    spec: { nodeSelector: { matchLabels: { 'kreboot.test/group': r.group } }, ...spec },
  };
  const res = kubectl(['apply', '-f', '-'], JSON.stringify(obj));
  expect(res.status, res.stderr).toBe(0);
  return obj.metadata.name;
}

function windowStatus(name: string) {
  const res = kubectl(['get', 'mw', name, '-o', 'json']);
  return JSON.parse(res.stdout).status ?? {};
}

async function start(nodes: number, args: string[] = []) {
  current = await new Rollout({ root, nodes, controllerArgs: args }).start();
  return current;
}

const FAR = '0 3 29 2 1'; // 03:00 on a Monday 29 February: years away
const blocked = async (r: Rollout, reason: string) =>
  eventually(`blocked by ${reason}`, async () =>
    new RegExp(`kreboot_blocked_nodes\\{reason="${reason}"\\} [1-9]`).test(await r.metrics()),
  );

describe('maintenance windows gate the controller', () => {
  it('a node outside every window does not start; it starts once a window opens; status says so', async () => {
    const r = await start(1);
    const name = applyWindow(r, 'w', { schedule: FAR, duration: '1h', timeZone: 'Europe/Berlin' });
    r.sims[0]!.needReboot();
    await r.startControllers();
    await blocked(r, 'window');
    const closed = await eventually('status written', async () => {
      const s = windowStatus(name);
      return s.observedGeneration && s;
    });
    expect(closed.active).toBe(false);
    expect(closed.nodes).toEqual({ selected: 1, pending: 1, rebooting: 0 });
    expect(closed.conditions.find((c: { type: string }) => c.type === 'Valid').status).toBe('True');
    expect(Date.parse(closed.nextWindow.start)).toBeGreaterThan(Date.now());
    expect(annotationsPhase(await r.node(r.sims[0]!.name))).toBeUndefined();
    // Written only on change: several resyncs (2 s each) later the object is untouched.
    const rv = JSON.parse(kubectl(['get', 'mw', name, '-o', 'json']).stdout).metadata.resourceVersion;
    await new Promise((res) => setTimeout(res, 5000));
    expect(JSON.parse(kubectl(['get', 'mw', name, '-o', 'json']).stdout).metadata.resourceVersion).toBe(rv);

    applyWindow(r, 'w', { schedule: '* * * * *', duration: '1h' });
    await eventually('rebooted', async () => r.sims[0]!.rebootsDone === 1, 60_000);
    await eventually('status active', async () => windowStatus(name).active === true);
  });

  it('request --outside-window: a node outside every window reboots now, once; the leave is used up', async () => {
    const r = await start(2);
    applyWindow(r, 'w', { schedule: FAR, duration: '1h', timeZone: 'UTC' });
    const [a, b] = r.sims as [(typeof r.sims)[0], (typeof r.sims)[0]];
    b.needReboot();
    await r.startControllers();
    await blocked(r, 'window');
    const kreboot = krebootCli(kubeconfig, () => r.ns);
    const res = kreboot(['request', a.name, '--outside-window', '--reason', 'kernel CVE-2026-1234']);
    expect(res.code, res.err).toBe(0);
    expect(res.out).toBe(
      `${a.name}: reboot requested outside its maintenance windows (budgets and alerts still apply); the controller schedules it now\n`,
    );
    await eventually('a rebooted and released', async () => {
      const n = await r.node(a.name);
      return a.rebootsDone === 1 && !annotationsPhase(n) && !n.spec?.unschedulable;
    });
    const after = (await r.node(a.name)).metadata?.annotations ?? {};
    expect(after[Annotations.outsideWindow]).toBeUndefined();
    // b, with no such leave, still waits for its window; so would a again.
    expect(annotationsPhase(await r.node(b.name))).toBeUndefined();
    expect(b.rebootsDone).toBe(0);
    expect(kreboot(['exclude', a.name, '--outside-window']).err).toMatch(
      /--outside-window: only for request/,
    );
  });

  it('an exclusion blocks, and suspend blocks', async () => {
    const r = await start(1);
    const now = Date.now();
    const excl = [
      {
        start: new Date(now - 60_000).toISOString(),
        end: new Date(now + 3_600_000).toISOString(),
        reason: 'release freeze',
      },
    ];
    const name = applyWindow(r, 'w', { schedule: '* * * * *', duration: '1h', exclusions: excl });
    r.sims[0]!.needReboot();
    await r.startControllers();
    await blocked(r, 'window');
    await eventually('Active=False Excluded', async () =>
      windowStatus(name).conditions?.some(
        (c: { type: string; reason: string }) => c.type === 'Active' && c.reason === 'Excluded',
      ),
    );
    applyWindow(r, 'w', { schedule: '* * * * *', duration: '1h', suspend: true });
    await eventually('Active=False Suspended', async () =>
      windowStatus(name).conditions?.some(
        (c: { type: string; reason: string }) => c.type === 'Active' && c.reason === 'Suspended',
      ),
    );
    await new Promise((res) => setTimeout(res, 2000));
    expect(r.sims[0]!.rebootsDone).toBe(0);
    applyWindow(r, 'w', { schedule: '* * * * *', duration: '1h', suspend: false });
    await eventually('rebooted', async () => r.sims[0]!.rebootsDone === 1, 60_000);
  });

  it("a window's maxConcurrent bounds its nodes even when the global concurrency is higher", async () => {
    const r = await start(4, ['--concurrency=4']);
    applyWindow(r, 'w', { schedule: '* * * * *', duration: '1h', maxConcurrent: 1 });
    for (const s of r.sims) s.needReboot();
    await r.startControllers();
    await eventually(
      'all rebooted',
      async () => {
        const nodes = await r.list();
        return (
          r.sims.every((s) => s.rebootsDone === 1) && nodes.every((n) => kreebotKeysLeft(n).length === 0)
        );
      },
      120_000,
    );
    expect(r.maxDisrupted).toBe(1);
  });

  it('a window that can never fire passes admission, then is Valid=False with an Event, blocks its nodes (fails closed) and does not crash the controller', async () => {
    const r = await start(1);
    // Admission cannot decide it (CEL); the controller's validating step does.
    const name = applyWindow(r, 'w', { schedule: '0 0 30 2 *', duration: '1h', timeZone: 'UTC' });
    r.sims[0]!.needReboot();
    await r.startControllers();
    const s = await eventually('Valid=False', async () => {
      const st = windowStatus(name);
      return st.conditions?.find(
        (c: { type: string; status: string }) => c.type === 'Valid' && c.status === 'False',
      );
    });
    expect(s.message).toMatch(/^spec\.schedule: "0 0 30 2 \*" never fires: no day it names exists in FEB/);
    await blocked(r, 'window');
    expect(r.controllers.every((c) => c.running)).toBe(true);
    const events = kubectl([
      'get',
      'events',
      '-n',
      'default',
      '--field-selector',
      `involvedObject.name=${name}`,
      '-o',
      'json',
    ]);
    expect(
      JSON.parse(events.stdout).items.some((e: { reason: string }) => e.reason === 'InvalidWindow'),
    ).toBe(true);
    expect(r.sims[0]!.rebootsDone).toBe(0);
  });

  it('status follows the clock: a window open on even minutes turns Active and back by itself', async () => {
    const r = await start(1);
    const name = applyWindow(r, 'w', { schedule: '*/2 * * * *', duration: '1m' });
    await r.startControllers();
    const first = await eventually('status', async () => {
      const s = windowStatus(name);
      return s.observedGeneration !== undefined && s;
    });
    const flipped = await eventually(
      'Active flips',
      async () => {
        const s = windowStatus(name);
        return s.active !== first.active && s;
      },
      130_000,
      500,
    );
    expect(typeof flipped.active).toBe('boolean');
  });
});

function annotationsPhase(n: { metadata?: { annotations?: Record<string, string> } }) {
  return n.metadata?.annotations?.[Annotations.phase];
}
