// Safety against anyone with node access (issue #12), on the real control plane with real agents and two real
// controller replicas. Each test names the item it proves; each failed on the code before the fix.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { Annotations } from '../../operator/protocol.ts';
import { clients, eventually } from './kube.ts';
import { annotationsOf, kreebotKeysLeft, Rollout } from './rollout.ts';

const root = mkdtempSync(join(tmpdir(), 'kreboot-safety-it-'));
const kubeconfig = inject('kubeconfig');
const { core } = clients();
let current: Rollout | undefined;
const servers: Server[] = [];

afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail' && current) {
    process.stderr.write(current.logs().slice(-20_000));
    for (const s of current.sims) process.stderr.write(`--- agent ${s.name}\n${s.agent.log.slice(-3000)}`);
  }
  await current?.stop();
  current = undefined;
  for (const s of servers.splice(0)) s.close();
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function rollout(opts: Partial<ConstructorParameters<typeof Rollout>[0]> & { nodes: number }) {
  current = await new Rollout({ root, ...opts }).start();
  return current;
}

/** kubectl as the cluster-admin of the test control plane (managedFields then name kubectl's manager). */
function kubectl(...args: string[]) {
  const r = spawnSync('kubectl', ['--kubeconfig', kubeconfig, ...args], { encoding: 'utf8' });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
}

/** kubectl with a manifest on stdin. */
function kubectlIn(input: string, ...args: string[]) {
  const r = spawnSync('kubectl', ['--kubeconfig', kubeconfig, ...args], { encoding: 'utf8', input });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
}

async function nodeEvents(name: string, reason: string): Promise<string[]> {
  const list = await core.listNamespacedEvent({
    namespace: 'default',
    fieldSelector: `involvedObject.name=${name},reason=${reason}`,
  });
  return list.items.map((e) => e.message ?? '');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('1. controller-owned keys: hostile writes reboot nothing (defence in depth, no admission policy)', () => {
  it('phase=cordoned on three idle nodes under --concurrency=1: refused, cleared, Warning Events, no reboot', async () => {
    const r = await rollout({ nodes: 3, controllerArgs: ['--concurrency=1'] });
    await r.startControllers();
    // Idle: neither replica leads (--leadership=on-demand); the hostile write itself is the work that wakes one.
    await eventually('controllers synced and idle', async () =>
      r.controllers.every((c) => c.log.includes('nothing to do: not campaigning')),
    );
    const names = r.sims.map((s) => s.name);
    expect(kubectl('annotate', 'node', ...names, `${Annotations.phase}=cordoned`).ok).toBe(true);
    await eventually(
      'phases cleared',
      async () => (await r.list()).every((n) => kreebotKeysLeft(n).length === 0),
      20_000,
    );
    for (const name of names) {
      const ev = await eventually(
        'Warning Event',
        async () => (await nodeEvents(name, 'ForeignPhaseRefused'))[0],
      );
      expect(ev).toMatch(/kreboot.io\/phase=cordoned written by kubectl-annotate .*refused \(not-needed/);
    }
    await sleep(3000);
    expect(r.sims.map((s) => s.agent.reboots())).toEqual([0, 0, 0]);
    // Never cordoned, never drained (the sampler counts the hostile annotation itself, so it is not asked).
    expect([...r.cordons.values()]).toEqual([]);
    for (const n of await r.list()) expect(n.spec?.unschedulable ?? false).toBe(false);
  });

  it('with the lock paused, phase=draining on a node that needs a reboot: refused, not drained, not rebooted', async () => {
    const r = await rollout({ nodes: 2, controllerArgs: ['--concurrency=1'] });
    // Paused before any replica leads (idle controllers hold no Lease and write no lock): an SRE's freeze set on
    // a fresh install, as `kubectl create` of the lock with the open `paused` key.
    const lock = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'kreboot-lock', namespace: r.ns, annotations: { [Annotations.paused]: 'freeze' } },
      spec: {},
    };
    expect(kubectlIn(JSON.stringify(lock), 'create', '-f', '-').ok).toBe(true);
    await r.startControllers();
    r.sims[0]!.needReboot();
    await eventually('paused reported', async () => /reason="paused"\} 1/.test(await r.metrics()));
    expect(kubectl('annotate', 'node', r.sims[0]!.name, `${Annotations.phase}=draining`).ok).toBe(true);
    const ev = await eventually(
      'refused',
      async () => (await nodeEvents(r.sims[0]!.name, 'ForeignPhaseRefused'))[0],
      20_000,
    );
    expect(ev).toMatch(/refused \(paused: freeze\)/);
    await sleep(2000);
    expect(r.sims[0]!.agent.reboots()).toBe(0);
    expect(kreebotKeysLeft(await r.node(r.sims[0]!.name))).toEqual([]);
    expect(JSON.parse((await r.lockAnnotations())[Annotations.lockEntries] ?? '[]')).toEqual([]);
  });

  it('a copied approval (own boot-id into approved-boot-id) reboots nothing; the controller clears it', async () => {
    const r = await rollout({ nodes: 1 });
    await r.startControllers();
    const s = r.sims[0]!;
    const boot = annotationsOf(await r.node(s.name))[Annotations.bootId]!;
    expect(kubectl('annotate', 'node', s.name, `${Annotations.approvedBootId}=${boot}`).ok).toBe(true);
    await eventually('agent refused at warn level', async () =>
      /"level":40.*approval-refused.*without the controller's approved phase/.test(s.agent.log),
    );
    const ev = await eventually(
      'cleared',
      async () => (await nodeEvents(s.name, 'ForeignWriteRefused'))[0],
      20_000,
    );
    expect(ev).toMatch(/approved-boot-id=.* written by kubectl-annotate/);
    expect(annotationsOf(await r.node(s.name))[Annotations.approvedBootId]).toBeUndefined();
    expect(s.agent.reboots()).toBe(0);
  });

  it('a malformed phase is cleared with a Warning Event, never silently ignored', async () => {
    const r = await rollout({ nodes: 1 });
    await r.startControllers();
    const s = r.sims[0]!;
    expect(kubectl('annotate', 'node', s.name, `${Annotations.phase}=Approved`).ok).toBe(true);
    const ev = await eventually(
      'cleared',
      async () => (await nodeEvents(s.name, 'ForeignWriteRefused'))[0],
      20_000,
    );
    expect(ev).toMatch(/kreboot.io\/phase="Approved" is not a phase/);
    expect(annotationsOf(await r.node(s.name))[Annotations.phase]).toBeUndefined();
  });
});

/** Both nodes need a reboot, the first longest; resolves once the controllers have approved the first. */
async function firstOfTwoApproved(r: Rollout) {
  const [a, b] = r.sims as [(typeof r.sims)[0], (typeof r.sims)[0]];
  a.needReboot();
  await sleep(1100);
  b.needReboot();
  await r.startControllers();
  await eventually(
    'first node approved',
    async () =>
      ['approved', 'rebooting'].includes(annotationsOf(await r.node(a.name))[Annotations.phase] ?? ''),
    30_000,
    100,
  );
  return [a, b] as const;
}

describe('3. lock entries follow the Node object, not the selector', () => {
  it('a node relabelled out of --node-selector mid-reboot keeps its entry; the budget holds; it is finished', async () => {
    const r = await rollout({ nodes: 2, downMs: 4000, controllerArgs: ['--concurrency=1'] });
    const [a, b] = await firstOfTwoApproved(r);
    expect(kubectl('label', 'node', a.name, 'kreboot.test/group-').ok).toBe(true);
    // Sample both nodes by name (the rollout's sampler only sees the selector).
    let both = 0;
    let entryKept = 0;
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      // The lock first, then the nodes: the controller cleans a node up before it releases its entry, so an
      // entry missing at t0 with the phase still there at t1 > t0 is a real early release.
      const entries = JSON.parse((await r.lockAnnotations())[Annotations.lockEntries] ?? '[]') as Array<{
        node: string;
      }>;
      const [na, nb] = await Promise.all([r.node(a.name), r.node(b.name)]);
      const disrupted = [na, nb].filter(
        (n) =>
          annotationsOf(n)[Annotations.phase] ||
          !n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      ).length;
      if (disrupted > 1) both++;
      if (annotationsOf(na)[Annotations.phase] && entries.some((e) => e.node === a.name)) entryKept++;
      if (annotationsOf(na)[Annotations.phase] && !entries.some((e) => e.node === a.name))
        throw new Error(
          `lock entry of ${a.name} released while it is in phase ${annotationsOf(na)[Annotations.phase]}`,
        );
      if (kreebotKeysLeft(na).length === 0 && b.rebootsDone === 1 && kreebotKeysLeft(nb).length === 0) break;
      await sleep(100);
    }
    expect(both).toBe(0);
    expect(entryKept).toBeGreaterThan(0);
    expect(a.rebootsDone).toBe(1);
    expect(b.rebootsDone).toBe(1);
    const na = await r.node(a.name);
    expect(na.spec?.unschedulable ?? false).toBe(false);
    expect(kreebotKeysLeft(na)).toEqual([]);
    kubectl('label', 'node', a.name, `kreboot.test/group=${r.group}`);
  });
});

/** A hostile "Prometheus": answers well until told otherwise, then drips, redirects or floods. */
function hostilePrometheus(): Promise<{ url: string; mode: { v: 'ok' | 'drip' | 'redirect' } }> {
  const mode = { v: 'ok' as 'ok' | 'drip' | 'redirect' };
  const server = createServer((req, res) => {
    if (mode.v === 'redirect') {
      res.writeHead(302, { Location: 'http://127.0.0.1:1/elsewhere', 'Content-Type': 'application/json' });
      res.end('{"status":"success","data":{"alerts":[]}}');
      return;
    }
    if (mode.v === 'drip') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      const body = '{"status":"success","data":{"alerts":[]}}';
      let i = 0;
      const t = setInterval(() => {
        if (i < body.length && !res.destroyed) res.write(body[i++]!);
        else clearInterval(t);
      }, 500);
      req.on('close', () => clearInterval(t));
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end('{"status":"success","data":{"alerts":[]}}');
  });
  servers.push(server);
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, mode }),
    ),
  );
}

describe('4. alert gates off the hot path, with hard limits', () => {
  it('a drip-feeding Prometheus blocks new starts with a reason within the deadline; the in-flight node completes', async () => {
    const prom = await hostilePrometheus();
    const r = await rollout({
      nodes: 2,
      downMs: 3000,
      controllerArgs: [
        '--concurrency=1',
        `--prometheus-url=${prom.url}`,
        '--alert-timeout=2s',
        '--alert-poll-period=1s',
      ],
    });
    const [a, b] = await firstOfTwoApproved(r);
    prom.mode.v = 'drip';
    const t0 = Date.now();
    await eventually(
      'blocked with the deadline named',
      async () => /no complete answer within 2000 ms/.test(r.logs()),
      20_000,
      100,
    );
    // One poll period plus the deadline plus a pass: the reason is out within seconds, not never.
    expect(Date.now() - t0).toBeLessThan(10_000);
    await eventually(
      'the in-flight node finished (uncordoned, released)',
      async () => a.rebootsDone === 1 && kreebotKeysLeft(await r.node(a.name)).length === 0,
      60_000,
      200,
    );
    await sleep(3000);
    expect(b.rebootsDone).toBe(0);
    expect(annotationsOf(await r.node(b.name))[Annotations.phase]).toBeUndefined();
    expect(await r.metrics()).toMatch(/kreboot_blocked_nodes\{reason="alert"\} 1/);
  });

  it('a 302 whose body looks like an empty alert list blocks', async () => {
    const prom = await hostilePrometheus();
    prom.mode.v = 'redirect';
    const r = await rollout({
      nodes: 1,
      controllerArgs: [`--prometheus-url=${prom.url}`, '--alert-poll-period=1s'],
    });
    r.sims[0]!.needReboot();
    await r.startControllers();
    await eventually('blocked by the redirect', async () =>
      /HTTP 302 redirect to http:\/\/127.0.0.1:1\/elsewhere: redirects are not followed/.test(r.logs()),
    );
    await eventually('alert wait reported', async () =>
      /kreboot_blocked_nodes\{reason="alert"\} 1/.test(await r.metrics()),
    );
    expect(r.sims[0]!.agent.reboots()).toBe(0);
    expect(annotationsOf(await r.node(r.sims[0]!.name))[Annotations.phase]).toBeUndefined();
  });
});

/** A Prometheus answer with `n` firing alerts of realistic size (~200 bytes each). */
function alertsBody(n: number): string {
  const alerts = Array.from({ length: n }, (_, i) => ({
    labels: {
      alertname: `SyntheticAlert${i % 50}`,
      severity: 'warning',
      namespace: `team-${i % 97}`,
      pod: `app-${i}-7c9d5b8f6d-x2k4q`,
      instance: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:9100`,
    },
    annotations: { summary: 'synthetic' },
    state: 'firing',
    activeAt: '2026-11-29T10:00:00Z',
    value: '1e+00',
  }));
  return JSON.stringify({ status: 'success', data: { alerts } });
}

function servePrometheus(body: string): Promise<string> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(body);
  });
  servers.push(server);
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    ),
  );
}

/** Peak resident memory of a process (VmHWM), in MiB. */
function peakRssMiB(pid: number): number {
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
  return kb / 1024;
}

describe('4b. alert answers are size-capped: memory stays bounded', () => {
  // The Deployment's limit is 512Mi (deploy/base/controller.yaml).
  const LIMIT_MIB = 512;

  it('a 60k-alert answer (over the 8 MiB cap) blocks naming the cap; one just under the cap is read; RSS stays under the limit', async () => {
    const huge = alertsBody(60_000);
    const near = alertsBody(Math.floor(60_000 * ((8 * 1024 * 1024 - 64 * 1024) / huge.length)));
    expect(huge.length).toBeGreaterThan(12 * 1024 * 1024);
    expect(near.length).toBeLessThan(8 * 1024 * 1024);
    expect(near.length).toBeGreaterThan(7.5 * 1024 * 1024);
    const [hugeUrl, nearUrl] = await Promise.all([servePrometheus(huge), servePrometheus(near)]);
    const r = await rollout({
      nodes: 1,
      controllerArgs: [`--prometheus-url=${hugeUrl}`, '--alert-poll-period=1s'],
    });
    r.sims[0]!.needReboot();
    await r.startControllers(1);
    await eventually('blocked by the cap', async () =>
      /answer larger than 8388608 bytes \(--alert-max-response-bytes\)/.test(r.logs()),
    );
    await sleep(5000); // several more rounds of the same answer
    const pid = r.controllers[0]!.child!.pid!;
    const afterHuge = peakRssMiB(pid);
    expect(afterHuge).toBeLessThan(LIMIT_MIB);
    await r.controllers[0]!.stop('SIGKILL');

    const r2 = new Rollout({
      root,
      nodes: 1,
      controllerArgs: [`--prometheus-url=${nearUrl}`, '--alert-poll-period=1s'],
    });
    await current?.stop();
    current = await r2.start();
    r2.sims[0]!.needReboot();
    await r2.startControllers(1);
    await eventually(
      'the near-cap answer is read and its alerts block',
      async () => /kreboot_blocked_nodes\{reason="alert"\} 1/.test(await r2.metrics()),
      30_000,
    );
    expect(r2.logs()).toMatch(/SyntheticAlert/);
    await sleep(5000);
    const afterNear = peakRssMiB(r2.controllers[0]!.child!.pid!);
    expect(afterNear).toBeLessThan(LIMIT_MIB);
    process.stderr.write(
      `[safety] controller peak RSS: ${afterHuge.toFixed(0)} MiB with a ${(huge.length / 2 ** 20).toFixed(1)} MiB answer (refused), ${afterNear.toFixed(0)} MiB with a ${(near.length / 2 ** 20).toFixed(1)} MiB answer (read)\n`,
    );
    expect(r2.sims[0]!.agent.reboots()).toBe(0);
  });
});

describe('5. strict inputs', () => {
  /** A node approved by the controller whose agent is down, so the approval stands (nothing reboots). */
  async function approvedWithAgentDown(r: Rollout) {
    const a = r.sims[0]!;
    a.needReboot();
    await r.startControllers();
    await eventually(
      'cordoned',
      async () => annotationsOf(await r.node(a.name))[Annotations.phase] !== undefined,
      30_000,
      50,
    );
    await a.agent.stop('SIGKILL');
    await eventually(
      'approved',
      async () => annotationsOf(await r.node(a.name))[Annotations.phase] === 'approved',
      30_000,
      100,
    );
    return a;
  }

  it('a node excluded after its approval is withdrawn in order: no halt, uncordoned, released, no reboot', async () => {
    const r = await rollout({ nodes: 1, controllerArgs: ['--min-phase-time=2s', '--reboot-timeout=30s'] });
    const a = await approvedWithAgentDown(r);
    expect(kubectl('annotate', 'node', a.name, `${Annotations.exclude}=true`).ok).toBe(true);
    const ev = await eventually(
      'aborted',
      async () => (await nodeEvents(a.name, 'RebootAborted'))[0],
      20_000,
    );
    expect(ev).toMatch(/excluded .* after its approval; reboot withdrawn/);
    const n = await r.node(a.name);
    expect(kreebotKeysLeft(n)).toEqual([]);
    expect(n.spec?.unschedulable ?? false).toBe(false);
    expect((await r.lockAnnotations())[Annotations.halted]).toBeUndefined();
    a.agent.start();
    await sleep(2000);
    expect(a.agent.reboots()).toBe(0);
  });

  it('a phase-since in the future is reported and the phase timeout counts from when the controller saw it', async () => {
    const r = await rollout({ nodes: 1, controllerArgs: ['--min-phase-time=2s', '--reboot-timeout=6s'] });
    const a = await approvedWithAgentDown(r);
    expect(
      kubectl('annotate', '--overwrite', 'node', a.name, `${Annotations.phaseSince}=2099-01-01T00:00:00Z`).ok,
    ).toBe(true);
    const ev = await eventually(
      'reported',
      async () => (await nodeEvents(a.name, 'InvalidAnnotation'))[0],
      20_000,
    );
    expect(ev).toMatch(/phase-since: "2099-01-01T00:00:00Z" is in the future/);
    const halted = await eventually(
      'the reboot timeout still fires',
      async () => (await r.lockAnnotations())[Annotations.halted],
      30_000,
    );
    expect(halted).toMatch(/agent did not start the reboot within 6s/);
  });

  it('a lenient time ("-1") is not a time: reported, ignored', async () => {
    const r = await rollout({ nodes: 1 });
    await r.startControllers();
    const s = r.sims[0]!;
    expect(kubectl('annotate', 'node', s.name, `${Annotations.lastFailureAt}=-1`).ok).toBe(true);
    // On an idle node it changes nothing, so no replica leads for it (--leadership=on-demand); once the node
    // needs a reboot, the leader reports it and treats it as absent (no "retry-later").
    s.needReboot();
    const ev = await eventually(
      'reported',
      async () => (await nodeEvents(s.name, 'InvalidAnnotation'))[0],
      20_000,
    );
    expect(ev).toMatch(/last-failure-at: "-1" is not an RFC 3339 time/);
    await eventually('rebooted', async () => s.rebootsDone === 1, 30_000);
  });
});
