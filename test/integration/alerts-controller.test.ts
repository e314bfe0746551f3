// The alert gates inside the controller, with a real Prometheus and the simulated cluster.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Annotations } from '../../operator/protocol.ts';
import { Exporter, PromStack } from '../../testkit/prom/prometheus.ts';
import { eventually } from './kube.ts';
import { kreebotKeysLeft, Rollout } from './rollout.ts';

const root = mkdtempSync(join(tmpdir(), 'kreboot-alerts-it-'));
const exporter = new Exporter();
let stack: PromStack;
let current: Rollout | undefined;

beforeAll(async () => {
  exporter.set('test_value{kind="critical"}', 0);
  await exporter.start();
  stack = new PromStack(join(root, 'prom'), exporter.port);
  await stack.start();
});
afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail' && current) process.stderr.write(current.logs().slice(-20_000));
  await current?.stop();
  current = undefined;
  exporter.set('test_value{kind="critical"}', 0);
});
afterAll(async () => {
  await stack?.stop();
  await exporter.stop();
  rmSync(root, { recursive: true, force: true });
});

const firing = async () => {
  const r = await fetch(`${stack.promUrl}/api/v1/alerts`);
  return (
    (await r.json()) as { data: { alerts: Array<{ labels: { alertname: string }; state: string }> } }
  ).data.alerts.some((a) => a.labels.alertname === 'TestCritical' && a.state === 'firing');
};

describe('controller with alert gates', () => {
  it('a firing alert blocks every node; clearing it resumes', async () => {
    exporter.set('test_value{kind="critical"}', 1);
    await eventually('alert firing', firing);
    current = await new Rollout({
      root,
      nodes: 2,
      controllerArgs: [`--prometheus-url=${stack.promUrl}`, '--alert-poll-period=1s'],
    }).start();
    const r = current;
    for (const s of r.sims) s.needReboot();
    await r.startControllers();
    await eventually('blocked by the alert', async () =>
      /kreboot_blocked_nodes\{reason="alert"\} 2/.test(await r.metrics()),
    );
    expect(r.sims.every((s) => s.rebootsDone === 0)).toBe(true);
    // Each node says why in its Events, once: not again on every pass (resync is 2 s here).
    const waits = (name: string) =>
      r.c.core
        .listNamespacedEvent({ namespace: 'default', fieldSelector: `involvedObject.name=${name}` })
        .then((l) => l.items.filter((e) => e.reason === 'RebootWaiting'));
    for (const s of r.sims)
      await eventually(`RebootWaiting event on ${s.name}`, async () => (await waits(s.name)).length > 0);
    await new Promise((res) => setTimeout(res, 5000));
    for (const s of r.sims) {
      const w = await waits(s.name);
      expect(w).toHaveLength(1);
      expect(w[0]!.message).toMatch(/reboot waits \(alert\): .*TestCritical/);
    }
    exporter.set('test_value{kind="critical"}', 0);
    await eventually(
      'all rebooted',
      async () =>
        r.sims.every((s) => s.rebootsDone === 1) &&
        (await r.list()).every((n) => kreebotKeysLeft(n).length === 0),
      90_000,
    );
  });

  it('an alert that starts firing after a reboot halts the rollout (stop the line)', async () => {
    current = await new Rollout({
      root,
      nodes: 2,
      controllerArgs: [`--prometheus-url=${stack.promUrl}`, '--alert-poll-period=1s', '--soak-time=6s'],
    }).start();
    const r = current;
    const [first, second] = r.sims as [(typeof r.sims)[0], (typeof r.sims)[0]];
    first.needReboot();
    await new Promise((res) => setTimeout(res, 1100));
    second.needReboot();
    await r.startControllers();
    await eventually('first node rebooted', async () => first.rebootsDone === 1, 60_000, 50);
    exporter.set('test_value{kind="critical"}', 1); // the reboot "broke" something
    const halted = await eventually(
      'halted',
      async () => (await r.lockAnnotations())[Annotations.halted],
      60_000,
    );
    expect(halted).toMatch(/new alert after the reboot \(stop the line\): TestCritical/);
    await new Promise((res) => setTimeout(res, 2000));
    expect(second.rebootsDone).toBe(0);
  });
});
