// The SRE's write commands (`kreboot pause|resume|request|cancel|exclude|include|clear-halt`, the built bundle)
// against the real API server with two real controllers steering simulated nodes (real agents): each effect is
// observed, each change leaves an Event naming who and why, twice is once, --dry-run changes nothing, and an
// identity without the right gets the API's refusal in one line.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Annotations, Conditions, Leases } from '../../operator/protocol.ts';
import type { SimulatedNode } from '../../testkit/sim/simulated-node.ts';
import { krebootCli } from './cli.ts';
import { createNamespace, eventually } from './kube.ts';
import { Rollout } from './rollout.ts';

const kubeconfig = inject('kubeconfig');
const root = mkdtempSync(join(tmpdir(), 'kreboot-steer-'));
let r: Rollout;

const kreboot = krebootCli(kubeconfig, () => r.ns);

/** Events the CLI wrote about an object, oldest first: "Reason: note". */
async function cliEvents(kind: 'Lease' | 'Node', name: string): Promise<string[]> {
  const ns = kind === 'Lease' ? r.ns : 'default';
  const list = await r.http.request<{
    items: Array<{
      reason: string;
      note: string;
      reportingController: string;
      regarding: { kind: string; name: string };
      eventTime: string;
    }>;
  }>(`/apis/events.k8s.io/v1/namespaces/${ns}/events`);
  return list.items
    .filter(
      (e) =>
        e.reportingController === 'kreboot.io/cli' && e.regarding.kind === kind && e.regarding.name === name,
    )
    .sort((a, b) => a.eventTime.localeCompare(b.eventTime))
    .map((e) => `${e.reason}: ${e.note}`);
}

const phase = async (s: SimulatedNode) => (await r.node(s.name)).metadata?.annotations?.[Annotations.phase];
const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

beforeAll(async () => {
  r = await new Rollout({ nodes: 4, root, controllerArgs: ['--concurrency=1'] }).start();
}, 120_000);
afterAll(async () => {
  await r?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('kreboot write commands with the controller running', () => {
  it('pause lets the node in flight finish and starts no other; resume starts them; each attributed once', async () => {
    const [a, b] = r.sims as [SimulatedNode, SimulatedNode];
    a.needReboot();
    await sleep(1100); // a waits longest: it goes first
    b.needReboot();
    await r.startControllers();
    await eventually('a in flight', async () => (await phase(a)) !== undefined, 60_000, 100);

    const p = kreboot(['pause', '--reason', 'change freeze for the release']);
    expect(p.code, p.err).toBe(0);
    expect(p.out).toMatch(/^paused: no new reboot starts until `kreboot resume`/);
    expect(p.err).toContain('note: nodes already in progress finish their reboot');
    expect((await r.lockAnnotations())[Annotations.paused]).toMatch(
      /^change freeze for the release \(by .+ at \d{4}-/,
    );
    // Twice is once: nothing changes, no second Event.
    const again = kreboot(['pause', '--reason', 'another reason']);
    expect(again.code).toBe(0);
    expect(again.out).toMatch(/^already paused: change freeze for the release \(by .*\); nothing changed/);
    const events = await eventually('pause Event', async () => {
      const e = await cliEvents('Lease', Leases.lock);
      return e.length ? e : undefined;
    });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatch(/^RolloutPaused: paused by \S+ at .*: change freeze for the release$/);

    // a finishes; b, pending, does not start while paused.
    await eventually('a rebooted and released', async () => r.monitor.doneAt.has(a.name), 90_000, 200);
    await sleep(4000);
    expect(await phase(b)).toBeUndefined();
    expect(a.agent.reboots()).toBe(1);
    const status = kreboot(['status']);
    expect(status.out).toMatch(/PAUSED: change freeze for the release/);

    // --dry-run: checked by the API server, nothing written.
    const dry = kreboot(['resume', '--dry-run']);
    expect(dry.code, dry.err).toBe(0);
    expect(dry.out).toMatch(/^resumed: .*\(dry run: checked by the API server, nothing changed\)/);
    expect((await r.lockAnnotations())[Annotations.paused]).toBeDefined();

    const res = kreboot(['resume', '--reason', 'release shipped']);
    expect(res.code, res.err).toBe(0);
    expect(res.out).toMatch(/^resumed: new reboots may start \(was paused: change freeze/);
    expect(kreboot(['resume']).out).toBe('not paused; nothing changed\n');
    await eventually('b rebooted after resume', async () => r.monitor.doneAt.has(b.name), 90_000, 200);
    expect((await cliEvents('Lease', Leases.lock)).map((e) => e.split(':')[0])).toEqual([
      'RolloutPaused',
      'RolloutResumed',
    ]);
    expect(r.maxDisrupted).toBe(1);
  }, 300_000);

  it('request makes a node without a sentinel pending; exclude skips a node; include lets it go', async () => {
    const [, , c, d] = r.sims as [SimulatedNode, SimulatedNode, SimulatedNode, SimulatedNode];
    // d needs a reboot but is excluded first: it must not start.
    const ex = kreboot(['exclude', d.name, '--reason', 'runs the batch job']);
    expect(ex.code, ex.err).toBe(0);
    expect(ex.out).toBe(
      `${d.name}: excluded: kreboot will not reboot it until \`kreboot include ${d.name}\`\n`,
    );
    expect(kreboot(['exclude', d.name]).out).toBe(`${d.name}: already excluded; nothing changed\n`);
    d.needReboot();

    // c has no sentinel: a request makes its agent report RebootRequired, and the controller reboots it.
    expect(kreboot(['cancel', c.name]).out).toBe(`${c.name}: no reboot request to cancel; nothing changed\n`);
    const rq = kreboot(['request', c.name, '--reason', 'kernel CVE']);
    expect(rq.code, rq.err).toBe(0);
    expect(rq.out).toMatch(new RegExp(`^${c.name}: reboot requested`));
    await eventually('c reports RebootRequired', async () => {
      const cond = (await r.node(c.name)).status?.conditions?.find(
        (x) => x.type === Conditions.rebootRequired,
      );
      return cond?.status === 'True' && cond.reason === 'RebootRequested';
    });
    await eventually('c rebooted', async () => r.monitor.doneAt.has(c.name), 90_000, 200);
    await sleep(3000);
    expect(await phase(d)).toBeUndefined();
    expect(d.agent.reboots()).toBe(0);

    const inc = kreboot(['include', d.name]);
    expect(inc.code, inc.err).toBe(0);
    await eventually('d rebooted once included', async () => r.monitor.doneAt.has(d.name), 90_000, 200);
    expect(d.agent.reboots()).toBe(1);
    expect((await cliEvents('Node', c.name)).map((e) => e.split(':')[0])).toEqual(['RebootRequested']);
    expect((await cliEvents('Node', d.name)).map((e) => e.split(':')[0])).toEqual([
      'NodeExcluded',
      'NodeIncluded',
    ]);
    expect((await cliEvents('Node', d.name))[0]).toMatch(
      /^NodeExcluded: excluded by \S+ at .*: runs the batch job$/,
    );

    // cancel withdraws a request that has not started (paused, so it cannot).
    expect(kreboot(['pause', '--reason', 'cancel test']).code).toBe(0);
    expect(kreboot(['request', c.name]).code).toBe(0);
    const cancel = kreboot(['cancel', c.name]);
    expect(cancel.code, cancel.err).toBe(0);
    expect(cancel.out).toBe(`${c.name}: reboot request withdrawn\n`);
    expect((await r.node(c.name)).metadata?.annotations?.[Annotations.rebootRequested]).toBeUndefined();
    expect(kreboot(['resume']).code).toBe(0);
  }, 300_000);

  it('clear-halt shows why it halted and lets the rollout go on', async () => {
    const [a] = r.sims as [SimulatedNode];
    // The controller halts when a node does not come back; the admin's write stands in for that here.
    await r.http.request(`/apis/coordination.k8s.io/v1/namespaces/${r.ns}/leases/${Leases.lock}`, {
      method: 'PATCH',
      contentType: 'application/merge-patch+json',
      body: { metadata: { annotations: { [Annotations.halted]: 'node x: did not come back within 10m' } } },
    });
    a.needReboot();
    await sleep(4000);
    expect(await phase(a)).toBeUndefined();
    const c = kreboot(['clear-halt', '--reason', 'x replaced']);
    expect(c.code, c.err).toBe(0);
    expect(c.out).toBe(
      'halt cleared: the rollout goes on (it had halted: node x: did not come back within 10m)\n',
    );
    expect(kreboot(['clear-halt']).out).toBe('not halted; nothing changed\n');
    await eventually(
      'a rebooted again after the halt cleared',
      async () => a.agent.reboots() === 2,
      90_000,
      200,
    );
    expect((await cliEvents('Lease', Leases.lock)).pop()).toMatch(
      /^HaltCleared: halt cleared by \S+ at .*: x replaced; it had halted: node x: did not come back within 10m$/,
    );
  }, 300_000);

  it('before any controller ran (no lock yet): pause creates the lock, status -o json shows it, resume clears it', async () => {
    const ns = `${r.ns}-fresh`;
    await createNamespace(r.c.core, ns);
    try {
      const run = krebootCli(kubeconfig, () => ns);
      expect(run(['resume']).out).toBe(
        `not paused; nothing changed (no lock yet: lease ${ns}/${Leases.lock} does not exist)\n`,
      );
      const p = run(['pause', '--reason', 'before the controller']);
      expect(p.code, p.err).toBe(0);
      const paused = JSON.parse(run(['status', '-o', 'json', '--node-selector=kreboot.test/none=1']).out);
      expect(paused.lock.paused).toMatch(/^before the controller \(by \S+ at /);
      expect(paused.lock.inFlight).toEqual([]);
      expect(run(['resume']).code).toBe(0);
      const resumed = JSON.parse(run(['status', '-o=json', '--node-selector=kreboot.test/none=1']).out);
      expect(resumed.lock.paused).toBeNull();
      // And in YAML.
      expect(run(['status', '-oyaml', '--node-selector=kreboot.test/none=1']).out).toMatch(
        /^nodes: \[\]\nlock:\n {2}inFlight: \[\]\n {2}paused: null/,
      );
    } finally {
      await r.c.core.deleteNamespace({ name: ns }).catch(() => {});
    }
  });

  it('errors: no node, an unknown node, an identity without the right (the API refusal, one line)', () => {
    const none = kreboot(['request']);
    expect(none.code).toBe(2);
    expect(none.err).toContain('request needs at least one node name, e.g. kreboot request worker-3');
    const noReason = kreboot(['pause']);
    expect(noReason.code).toBe(2);
    expect(noReason.err).toContain('--reason: pause needs one');
    const unknown = kreboot(['exclude', 'no-such-node-xyz']);
    expect(unknown.code).toBe(1);
    expect(unknown.err).toBe('no-such-node-xyz: no such node (kubectl get nodes lists them)\n');
    const denied = kreboot(['pause', '--reason', 'x', '--as=nobody-at-all']);
    expect(denied.code).toBe(1);
    expect(denied.err.trim().split('\n')).toHaveLength(1);
    expect(denied.err).toMatch(/forbidden: User "nobody-at-all" cannot get resource "leases"/);
  });
});
