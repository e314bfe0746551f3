// Two real controller replicas, simulated nodes with real agents, on the real control plane.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Annotations } from '../../operator/protocol.ts';
import { eventually } from './kube.ts';
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
});
