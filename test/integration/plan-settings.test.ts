// `kreboot plan` with no flags plans as the running controller does: the controller publishes its planner settings
// on the lock Lease, the CLI reads them (a flag given on the command line still wins), and what the plan says
// would start is what the controller then starts.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { decodeSettings } from '../../operator/controller/published-settings.ts';
import { Annotations } from '../../operator/protocol.ts';
import { KREBOOT_BUNDLE, NODE_BIN } from '../../testkit/sim/agent-process.ts';
import { krebootCli } from './cli.ts';
import { eventually } from './kube.ts';
import { Rollout } from './rollout.ts';

const kubeconfig = inject('kubeconfig');
const root = mkdtempSync(join(tmpdir(), 'kreboot-plan-settings-'));
let r: Rollout;

const kreboot = krebootCli(kubeconfig, () => r.ns);

beforeAll(async () => {
  r = await new Rollout({
    nodes: 4,
    root,
    controllers: 1,
    // Not the defaults: the plan can only agree with the controller by reading these.
    controllerArgs: ['--concurrency=2', '--window-end-margin=1m', '--retry-after-failure=3m'],
  }).start();
}, 120_000);
afterAll(async () => {
  await r?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('plan with no flags uses the controller’s published settings', () => {
  it('agrees with what the controller starts; a flag given here overrides', async () => {
    // Paused, the controller leads (nodes are pending) and publishes its settings, but starts nothing.
    expect(kreboot(['pause', '--reason', 'settings test']).code).toBe(0);
    for (const s of r.sims) {
      s.needReboot();
      await new Promise((res) => setTimeout(res, 1100)); // a strict longest-waiting-first order
    }
    await r.startControllers();
    const published = await eventually('settings published', async () => {
      const raw = (await r.lockAnnotations())[Annotations.settings];
      return raw && decodeSettings(raw);
    });
    expect(published).toMatchObject({
      ok: true,
      values: {
        concurrency: 2,
        nodeSelector: r.selector,
        windowEndMargin: 60_000,
        retryAfterFailure: 180_000,
        defaultWindow: 'always',
      },
    });
    // The controller stops (as on a node drain of its own); its settings stay for the CLI.
    await Promise.all(r.controllers.map((c) => c.stop('SIGKILL')));
    expect(kreboot(['resume']).code).toBe(0);

    const [a, b, c, d] = r.sims.map((s) => s.name) as [string, string, string, string];
    const plan = kreboot(['plan']);
    expect(plan.code, plan.err).toBe(0);
    expect(plan.out).toContain(`would start now: ${a}, ${b}`);
    expect(plan.out).toMatch(
      /settings: the controller's \(kreboot .+\): concurrency 2, default window always, window end margin 60s/,
    );
    const json = JSON.parse(kreboot(['plan', '-o', 'json']).out);
    expect(json.startNow).toEqual([a, b]);
    expect(json.waiting.map((w: { node: string; reason: string }) => [w.node, w.reason])).toEqual([
      [c, 'budget'],
      [d, 'budget'],
    ]);
    const overridden = kreboot(['plan', '--concurrency=1']);
    expect(overridden.out).toContain(`would start now: ${a}\n`);
    expect(overridden.out).toMatch(/overridden here: concurrency/);

    // The controller again: the first two nodes it starts are the plan's two, and no other starts with them.
    await r.startControllers();
    await eventually('two started', async () => r.monitor.startedAt.size >= 2, 60_000, 100);
    const order = [...r.monitor.startedAt.entries()].sort((x, y) => x[1] - y[1]).map(([n]) => n);
    expect(order.slice(0, 2).sort()).toEqual([a, b]);
    await eventually('all four rebooted', async () => r.monitor.doneAt.size === 4, 120_000, 200);
    expect(r.maxDisrupted).toBe(2);
  }, 240_000);

  it('says where the settings come from when no controller published any', () => {
    const res = spawnSync(
      NODE_BIN,
      [
        KREBOOT_BUNDLE,
        'plan',
        `--kubeconfig=${kubeconfig}`,
        '--namespace=no-controller-here',
        '--node-selector=x=y',
      ],
      { encoding: 'utf8' },
    );
    expect(res.status, res.stderr).toBe(0);
    expect(res.stdout).toMatch(
      /settings: flags and defaults: no controller has published its settings yet: concurrency 1, default window always/,
    );
  });
});
