// kured's options in kreboot, on the real control plane with the real controller and simulated nodes (kwok runs
// the pods): the drain and reboot delays seen in the phase timestamps, the drain options on real pods (grace period,
// pod selector, a pod stuck terminating), the pre/post-reboot labels and the PreferNoSchedule taint as the nodes
// go through the rollout, and the controller's logs in --log-format=text.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { decodeLastReboot } from '../../operator/domain/last-reboot.ts';
import { Annotations } from '../../operator/protocol.ts';
import { eventually } from './kube.ts';
import { Rollout } from './rollout.ts';

const root = mkdtempSync(join(tmpdir(), 'kreboot-kured-options-'));
let r: Rollout;
const LABEL = 'kreboot.test/reboot';
const TAINT = 'kreboot.test/pending';

beforeAll(async () => {
  r = await new Rollout({
    nodes: 2,
    root,
    controllers: 1,
    controllerArgs: [
      '--concurrency=1',
      '--drain-delay=3s',
      '--reboot-delay=4s',
      '--drain-grace-period=7',
      '--drain-pod-selector=app!=critical',
      '--skip-wait-for-delete-timeout=2s',
      `--pre-reboot-node-labels=${LABEL}=pre`,
      `--post-reboot-node-labels=${LABEL}=post`,
      `--prefer-no-schedule-taint=${TAINT}`,
      '--drain-timeout=60s',
      '--log-format=text',
    ],
  }).start();
}, 120_000);
afterEach((ctx) => {
  if (ctx.task.result?.state === 'fail') process.stderr.write(r.logs().slice(-20_000));
});
afterAll(async () => {
  await r?.stop();
  rmSync(root, { recursive: true, force: true });
});

interface PodObj {
  metadata: {
    name: string;
    deletionTimestamp?: string;
    deletionGracePeriodSeconds?: number;
    finalizers?: string[];
  };
}

describe("kured's options", () => {
  it('delays, drain options, labels and the wait taint, observed through a rollout of two nodes', async () => {
    const [a, b] = r.sims.map((s) => s.name) as [string, string];
    const pods = `/api/v1/namespaces/${r.ns}/pods`;
    const pod = (name: string, labels: Record<string, string>, finalizers?: string[]) =>
      r.http.request(pods, {
        method: 'POST',
        body: {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name, labels, ...(finalizers ? { finalizers } : {}) },
          spec: { nodeName: a, containers: [{ name: 'c', image: 'registry.invalid/app:1' }] },
        },
      });
    await pod('web', { app: 'web' });
    await pod('critical', { app: 'critical' });
    await pod('stuck', { app: 'web' }, ['kreboot.test/hold']);
    // "stuck" starts terminating now and never finishes (its finalizer stays): the drain must not wait for it.
    await r.http.request(`${pods}/stuck`, { method: 'DELETE' });

    // Everything the test wants to see, sampled every 100 ms: phases and their start times, labels, taints, pods.
    const phases = new Map<string, Map<string, number>>([
      [a, new Map()],
      [b, new Map()],
    ]);
    const labelsSeen: string[] = [];
    const taintedWhileWaiting = new Set<string>();
    let webGrace: number | undefined;
    const ctl = new AbortController();
    const sampler = (async () => {
      while (!ctl.signal.aborted) {
        for (const n of await r.list()) {
          const name = n.metadata!.name!;
          const ann = n.metadata?.annotations ?? {};
          const phase = ann[Annotations.phase];
          if (phase) phases.get(name)!.set(phase, Date.parse(ann[Annotations.phaseSince]!));
          if (name === a) labelsSeen.push(`${phase ?? '-'}:${n.metadata?.labels?.[LABEL] ?? ''}`);
          const tainted = (n.spec?.taints ?? []).some(
            (t) => t.key === TAINT && t.effect === 'PreferNoSchedule',
          );
          if (tainted && !phase) taintedWhileWaiting.add(name);
        }
        const web = await r.http.request<PodObj>(`${pods}/web`).catch(() => undefined);
        webGrace ??= web?.metadata.deletionGracePeriodSeconds;
        await new Promise((res) => setTimeout(res, 100));
      }
    })();

    r.sims[0]!.needReboot();
    await new Promise((res) => setTimeout(res, 1100)); // a before b: longest waiting first
    r.sims[1]!.needReboot();
    await r.startControllers();
    await eventually(
      'both rebooted',
      async () => {
        const nodes = await r.list();
        return nodes.every((n) => decodeLastReboot(n.metadata?.annotations?.[Annotations.lastReboot])?.ok);
      },
      180_000,
      250,
    );
    ctl.abort();
    await sampler;

    // --drain-delay=3s: cordoned → draining; --reboot-delay=4s: draining → approved (the drain itself is short).
    const pa = phases.get(a)!;
    expect(pa.get('draining')! - pa.get('cordoned')!).toBeGreaterThanOrEqual(3000);
    // (approved lasts only until the agent starts the reboot, often less than a sample: rebooting follows it.)
    expect((pa.get('approved') ?? pa.get('rebooting')!) - pa.get('draining')!).toBeGreaterThanOrEqual(4000);
    // The drain options on real pods: the grace period on the eviction, the critical pod left in place, the pod
    // stuck terminating not waited for (the node rebooted while it still terminates).
    expect(webGrace).toBe(7);
    const left = await r.http.request<{ items: PodObj[] }>(pods);
    const byName = new Map(left.items.map((p) => [p.metadata.name, p]));
    expect(byName.get('critical')?.metadata.deletionTimestamp).toBeUndefined();
    expect(byName.has('web')).toBe(false);
    expect(byName.get('stuck')?.metadata.deletionTimestamp).toBeDefined();
    // Labels: "pre" from the cordon on (never before it), "post" once released.
    const first = labelsSeen.findIndex((x) => x.endsWith(':pre'));
    expect(first).toBeGreaterThanOrEqual(0);
    expect(labelsSeen.slice(0, first).every((x) => x.endsWith(':'))).toBe(true);
    expect(labelsSeen[first]!.startsWith('-:')).toBe(false);
    expect(labelsSeen.at(-1)).toBe('-:post');
    // The wait taint: b carried it while it waited for a; nobody carries it at the end.
    expect(taintedWhileWaiting.has(b)).toBe(true);
    for (const n of await r.list())
      expect(
        (n.spec?.taints ?? []).filter((t) => t.key === TAINT),
        n.metadata!.name,
      ).toEqual([]);
    expect(r.maxDisrupted).toBe(1);
    // --log-format=text: logfmt lines, kured's look.
    expect(r.logs()).toMatch(
      /\ntime="[^"]+" level=info msg="controller up" component=controller identity=\S+ phase=start/,
    );
    expect(r.logs()).toMatch(
      /level=info msg="cordoned" component=controller .*node=\S+ phase=start reason=cordon/,
    );

    await r.http.request(`${pods}/stuck`, {
      method: 'PATCH',
      contentType: 'application/merge-patch+json',
      body: { metadata: { finalizers: null } },
    });
  }, 240_000);
});
