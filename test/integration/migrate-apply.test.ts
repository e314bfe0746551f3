// kreboot migrate-kured --apply on the real control plane: a simulated kured (a DaemonSet kwok runs on this test's
// simulated nodes, with kured's lock annotation) holds its lock on a node it has cordoned. --apply --adopt holds
// kured's lock, retires kured (no pod left) and hands the node to kreboot; kreboot's controller, started after,
// reboots that node exactly once and uncordons it, and the other pending node after it. Without --adopt, --apply
// waits for kured to finish its node (and says so), or gives up after --wait-timeout.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { RETIRED_LABEL } from '../../operator/cli/migrate/apply.ts';
import { KURED_LOCK_ANNOTATION, MIGRATION_HOLDER } from '../../operator/cli/migrate/kured-lock.ts';
import { parseLock } from '../../operator/controller/lock.ts';
import { decodeLastReboot } from '../../operator/domain/last-reboot.ts';
import { Annotations, Leases } from '../../operator/protocol.ts';
import { KREBOOT_BUNDLE, NODE_BIN } from '../../testkit/sim/agent-process.ts';
import { eventually } from './kube.ts';
import { Rollout } from './rollout.ts';

const kubeconfig = inject('kubeconfig');
const root = mkdtempSync(join(tmpdir(), 'kreboot-migrate-apply-'));
let r: Rollout;

beforeAll(async () => {
  r = await new Rollout({ nodes: 2, root, controllers: 1, controllerArgs: ['--concurrency=1'] }).start();
}, 120_000);
afterEach((ctx) => {
  if (ctx.task.result?.state === 'fail') process.stderr.write(r.logs().slice(-20_000));
});
afterAll(async () => {
  await r?.stop();
  rmSync(root, { recursive: true, force: true });
});

const dsPath = (name: string) => `/apis/apps/v1/namespaces/${r.ns}/daemonsets/${name}`;

/** kured as its manifest runs it, on this test's nodes only, with its lock held by `holder` (if any). */
async function simulatedKured(name: string, holder?: { node: string; unschedulable: boolean }) {
  const labels = { app: `${name}-${r.group}` };
  await r.http.request(`/apis/apps/v1/namespaces/${r.ns}/daemonsets`, {
    method: 'POST',
    body: {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: {
        name,
        namespace: r.ns,
        ...(holder && {
          annotations: {
            [KURED_LOCK_ANNOTATION]: JSON.stringify({
              nodeID: holder.node,
              metadata: { unschedulable: holder.unschedulable },
              created: new Date(Date.now() - 60_000).toISOString(),
              TTL: 0,
            }),
          },
        }),
      },
      spec: {
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            nodeSelector: { 'kreboot.test/group': r.group },
            tolerations: [{ operator: 'Exists' }],
            containers: [
              {
                name: 'kured',
                image: 'ghcr.io/kubereboot/kured:1.23.0',
                command: [
                  '/usr/bin/kured',
                  '--reboot-days=mon,tue,wed,thu,fri',
                  '--start-time=22:00',
                  '--end-time=4:00',
                ],
              },
            ],
          },
        },
      },
    },
  });
  const q = new URLSearchParams({ labelSelector: `app=${labels.app}` });
  await eventually(`${name} pods running`, async () => {
    const pods = await r.http.request<{ items: Array<{ status?: { phase?: string } }> }>(
      `/api/v1/namespaces/${r.ns}/pods?${q}`,
    );
    return pods.items.length === 2 && pods.items.every((p) => p.status?.phase === 'Running');
  });
  return q;
}

const applyArgs = (args: string[]) => [
  KREBOOT_BUNDLE,
  'migrate-kured',
  '--apply',
  `--kubeconfig=${kubeconfig}`,
  `--kured-namespace=${r.ns}`,
  `--namespace=${r.ns}`,
  ...args,
];
const migrate = (args: string[]) => spawnSync(NODE_BIN, applyArgs(args), { encoding: 'utf8' });

describe('migrate-kured --apply', () => {
  it('--adopt: the node kured holds cordoned is rebooted exactly once by kreboot and uncordoned', async () => {
    const [a, b] = r.sims as [(typeof r.sims)[0], (typeof r.sims)[0]];
    // kured took its lock on a, cordoned it (as kured: its own field manager) and drained it; b needs one too.
    a.needReboot();
    b.needReboot();
    await r.http.request(`/api/v1/nodes/${a.name}?fieldManager=kured`, {
      method: 'PATCH',
      contentType: 'application/merge-patch+json',
      body: { spec: { unschedulable: true } },
    });
    const pods = await simulatedKured('kured', { node: a.name, unschedulable: false });

    const res = migrate(['--kured-name=kured', '--adopt']);
    expect(res.status, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/^# kreboot Helm values from kured DaemonSet /);
    expect(res.stdout).toContain('schedule: "* 0-3,22-23 * * 1,2,3,4,5"');
    expect(res.stderr).toContain(
      `apply: kured: its lock ${KURED_LOCK_ANNOTATION} is held for ${MIGRATION_HOLDER} (with ${a.name})`,
    );
    expect(res.stderr).toContain(`apply: kured: scaled to no nodes (nodeSelector ${RETIRED_LABEL}=true`);
    expect(res.stderr).toContain('apply: kured: no pod left');
    expect(res.stderr).toContain(`apply: adopt: ${a.name} is kreboot's now`);
    const ds = await r.http.request<{
      spec: { template: { spec: { nodeSelector: Record<string, string> } } };
    }>(dsPath('kured'));
    expect(ds.spec.template.spec.nodeSelector[RETIRED_LABEL]).toBe('true');
    expect(
      (await r.http.request<{ items: unknown[] }>(`/api/v1/namespaces/${r.ns}/pods?${pods}`)).items,
    ).toEqual([]);
    const lease = await r.c.coordination.readNamespacedLease({ name: Leases.lock, namespace: r.ns });
    expect(parseLock(lease as never).entries).toMatchObject([
      { node: a.name, holder: MIGRATION_HOLDER, adopted: { from: 'kured', wasUnschedulable: false } },
    ]);
    // Run again: nothing left to do, nothing changes.
    const again = migrate(['--kured-name=kured', '--adopt']);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).not.toContain('adopt:');

    // kreboot's controller takes over: a first (it holds the lock), then b; each rebooted once, both uncordoned.
    await r.startControllers();
    await eventually(
      'both rebooted and released',
      async () =>
        (await r.list()).every(
          (n) =>
            decodeLastReboot(n.metadata?.annotations?.[Annotations.lastReboot])?.ok &&
            !n.metadata?.annotations?.[Annotations.phase],
        ),
      180_000,
      250,
    );
    expect(a.rebootsDone).toBe(1);
    expect(b.rebootsDone).toBe(1);
    const order = [...r.monitor.doneAt.entries()].sort((x, y) => x[1] - y[1]).map(([n]) => n);
    expect(order).toEqual([a.name, b.name]);
    for (const n of await r.list()) expect(n.spec?.unschedulable ?? false, n.metadata!.name).toBe(false);
    expect(r.maxDisrupted).toBe(1);
  }, 300_000);

  it('without --adopt: waits for kured to finish its node, or stops after --wait-timeout saying what to do', async () => {
    const [a] = r.sims;
    await simulatedKured('kured-b', { node: a!.name, unschedulable: false });
    const timedOut = migrate(['--kured-name=kured-b', '--wait-timeout=2s']);
    expect(timedOut.status).toBe(1);
    expect(timedOut.stderr).toContain(`apply: kured is rebooting ${a!.name} (since `);
    expect(timedOut.stderr).toMatch(
      /kured still holds its lock on .* after 2s: run again later, or with --adopt/,
    );

    // kured finishes (releases its lock) while --apply waits: the switch goes on, nothing is adopted.
    const child = spawn(NODE_BIN, applyArgs(['--kured-name=kured-b']), { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    await eventually('waiting', async () => err.includes('waiting for it to finish'));
    await r.http.request(dsPath('kured-b'), {
      method: 'PATCH',
      contentType: 'application/merge-patch+json',
      body: { metadata: { annotations: { [KURED_LOCK_ANNOTATION]: null } } },
    });
    const code = await new Promise<number | null>((res) => child.on('exit', res));
    expect(code, err).toBe(0);
    expect(err).toContain(
      `apply: kured: its lock ${KURED_LOCK_ANNOTATION} is held for ${MIGRATION_HOLDER}: kured starts no other node`,
    );
    expect(err).not.toContain('adopt:');
  }, 120_000);
});
