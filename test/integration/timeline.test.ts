// `kreboot plan --timeline` against reality: 12 simulated nodes in 2 zones, each zone with its own
// MaintenanceWindow (zone b's opens a little later), the real controller at concurrency 2. The prediction is made
// with no flags (the controller's published settings) and durations from the cluster's own history (a warm-up
// reboot of two nodes writes kreboot.io/last-reboot); then the controller runs the rollout, and each node's actual
// start (its lock entry's time, recorded in last-reboot) is compared with the prediction.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { decodeLastReboot } from '../../operator/domain/last-reboot.ts';
import { Annotations } from '../../operator/protocol.ts';
import { krebootCli } from './cli.ts';
import { applyWindowCrd, eventually, kubectlSync } from './kube.ts';
import { Rollout } from './rollout.ts';

const kubeconfig = inject('kubeconfig');
const root = mkdtempSync(join(tmpdir(), 'kreboot-timeline-'));
let r: Rollout | undefined;
const kreboot = krebootCli(kubeconfig, () => r!.ns);
const kubectl = (args: string[], input?: string) => kubectlSync(kubeconfig, args, input);
const ZONE = 'topology.kubernetes.io/zone';

beforeAll(() => applyWindowCrd(kubeconfig));
afterEach((ctx) => {
  if (ctx.task.result?.state === 'fail' && r) process.stderr.write(r.logs().slice(-20_000));
});
afterAll(async () => {
  if (r) kubectl(['delete', 'mw', '-l', `kreboot.test/group=${r.group}`, '--wait=false']);
  await r?.stop();
  rmSync(root, { recursive: true, force: true });
});

/** A daily window opening at `start` (a whole minute, UTC) for `duration`, over one zone of this group. */
function applyWindow(g: Rollout, name: string, zone: string, start: number, duration: string) {
  const d = new Date(start);
  const obj = {
    apiVersion: 'kreboot.io/v1alpha1',
    kind: 'MaintenanceWindow',
    metadata: { name: `${g.group}-${name}`, labels: { 'kreboot.test/group': g.group } },
    spec: {
      schedule: `${d.getUTCMinutes()} ${d.getUTCHours()} * * *`,
      duration,
      timeZone: 'UTC',
      nodeSelector: { matchLabels: { 'kreboot.test/group': g.group, [ZONE]: zone } },
    },
  };
  const res = kubectl(['apply', '-f', '-'], JSON.stringify(obj));
  expect(res.status, res.stderr).toBe(0);
}

const lastReboot = async (g: Rollout) =>
  new Map(
    (await g.list()).flatMap((n) => {
      const rec = decodeLastReboot(n.metadata?.annotations?.[Annotations.lastReboot]);
      return rec?.ok ? [[n.metadata!.name!, rec] as const] : [];
    }),
  );

const sleep = (ms: number) => new Promise((res) => setTimeout(res, Math.max(0, ms)));

describe('plan --timeline predicts the rollout', () => {
  it('12 nodes, 2 zones, 2 windows, concurrency 2: same start order, each start within max(30 s, 10 %)', async () => {
    r = await new Rollout({
      nodes: 12,
      root,
      controllers: 1,
      downMs: 6000,
      labels: (i) => ({ [ZONE]: i % 2 ? 'b' : 'a' }),
      controllerArgs: ['--concurrency=2'],
    }).start();
    const g = r;

    // Warm-up, with no window (the default window, always): one node per zone, for the history.
    g.sims[0]!.needReboot();
    g.sims[1]!.needReboot();
    await g.startControllers();
    const warm = await eventually(
      'warm-up reboots recorded',
      async () => {
        const m = await lastReboot(g);
        return m.size === 2 && m;
      },
      120_000,
      250,
    );
    const durations = [...warm.values()].map((x) => (x.ok ? x.durationMs! : 0));
    const d = durations.reduce((a, b) => a + b, 0) / durations.length;
    await Promise.all(g.controllers.map((c) => c.stop('SIGTERM')));
    g.controllers.length = 0;

    // Zone a's window is open from the current minute for an hour; zone b's opens at a minute boundary at least
    // 50 s away. The rollout begins 1.5 rounds before b's opening: zone a goes alone, then b's nodes (waiting
    // longer) take each slot that frees, and b's opening falls mid-way between two of a's pair starts (so no
    // predicted start is a coin toss between two nodes).
    const now = Date.now();
    const aOpen = Math.floor(now / 60_000) * 60_000;
    const bOpen = Math.ceil((now + 50_000) / 60_000) * 60_000;
    applyWindow(g, 'wa', 'a', aOpen, '1h');
    applyWindow(g, 'wb', 'b', bOpen, '1h');

    // Zone b's nodes have waited longest: when b's window opens they take each slot that frees.
    for (const s of g.sims.filter((_, i) => i % 2 === 1)) s.needReboot();
    await sleep(1100);
    for (const s of g.sims.filter((_, i) => i % 2 === 0)) s.needReboot();
    await eventually('all 12 pending', async () =>
      (await g.list()).every((n) =>
        n.status?.conditions?.some(
          (c) => c.type === 'RebootRequired' && c.status === 'True' && c.reason === 'SentinelFilePresent',
        ),
      ),
    );
    await sleep(bOpen - 1.5 * d - Date.now());

    const res = kreboot(['plan', '--timeline', '-o', 'json']);
    expect(res.code, res.err).toBe(0);
    const t0 = Date.now();
    await g.startControllers();
    // The same prediction as a person reads it.
    const table = kreboot(['plan', '--timeline']);
    expect(table.code, table.err).toBe(0);
    process.stdout.write(`$ kubectl kreboot plan --timeline\n${table.out}`);
    expect(table.out).toMatch(
      /^timeline from \S+ to \S+ \(--horizon\)\ndurations: from kreboot.io\/last-reboot on 2 node\(s\)/,
    );
    expect(table.out).toMatch(/\nNODE +ZONE +START +END +DURATION +NOTE\n/);
    expect(table.out.split('\n').filter((l) => l.startsWith(g.group)).length).toBe(12);
    const predicted = JSON.parse(res.out) as {
      durations: { samples: number; clusterMedianSeconds: number };
      nodes: Array<{ node: string; start: string | null; end: string | null; estimate: string }>;
      settings: { values: { concurrency: number } };
    };
    expect(predicted.settings.values.concurrency).toBe(2);
    expect(predicted.durations.samples).toBe(2);
    expect(predicted.nodes).toHaveLength(12);
    expect(predicted.nodes.every((n) => n.start !== null)).toBe(true);

    const actual = await eventually(
      'all 12 rebooted',
      async () => {
        const m = await lastReboot(g);
        const fresh = [...m].filter(([, x]) => x.ok && x.value.started! >= t0 - 5000);
        return fresh.length === 12 && new Map(fresh.map(([n, x]) => [n, x.ok ? x.value : undefined!]));
      },
      300_000,
      500,
    );
    const end = Math.max(...[...actual.values()].map((x) => x.finished));
    const elapsed = end - t0;
    const tolerance = Math.max(30_000, 0.1 * elapsed);
    const rows = predicted.nodes.map((p) => {
      const a = actual.get(p.node)!;
      return {
        node: p.node,
        predicted: Date.parse(p.start!),
        actual: a.started!,
        error: a.started! - Date.parse(p.start!),
      };
    });
    // Nodes started in one pass share their lock entry's time: among those, the order is the planner's pick.
    const actualOrder = rows.map((x, i) => ({ ...x, i })).sort((x, y) => x.actual - y.actual || x.i - y.i);
    process.stdout.write(
      `timeline check: ${rows.length} nodes, history ${durations.map((x) => (x / 1000).toFixed(1)).join(', ')} s, rollout ${(
        elapsed / 1000
      ).toFixed(
        1,
      )} s, tolerance ${(tolerance / 1000).toFixed(1)} s, b opens at +${((bOpen - t0) / 1000).toFixed(1)} s\n` +
        rows
          .map(
            (x) =>
              `  ${x.node}: predicted +${((x.predicted - t0) / 1000).toFixed(1)} s, actual +${((x.actual - t0) / 1000).toFixed(1)} s, error ${(x.error / 1000).toFixed(1)} s`,
          )
          .join('\n') +
        `\n  max |error| ${(Math.max(...rows.map((x) => Math.abs(x.error))) / 1000).toFixed(1)} s\n`,
    );
    // The predicted table lists nodes in the order the planner starts them (a pair starting together in its
    // pick order, longest waiting first), as the lock entries' times order them in reality.
    expect(actualOrder.map((x) => x.node)).toEqual(rows.map((x) => x.node));
    for (const x of rows) expect(Math.abs(x.error), x.node).toBeLessThanOrEqual(tolerance);
    expect(g.maxDisrupted).toBeLessThanOrEqual(2);
  }, 600_000);
});
