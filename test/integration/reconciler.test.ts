// The reconciler in process on the real control plane: constructed here (no child process), driven pass by pass,
// with the test playing the agent's part (its reports, its reboot record, the new boot). Each step is checked for
// idempotence: the same pass run again on the same state (restored, as after a crash, by a new leader) writes
// exactly the same, and ends in the same API state.
import type { V1Node } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { EventSink, Regarding } from '../../operator/controller/events.ts';
import { controllerMetrics } from '../../operator/controller/metrics.ts';
import type { NodeWriter } from '../../operator/controller/node-writer.ts';
import { Reconciler } from '../../operator/controller/reconciler.ts';
import { kubeconfigConnection } from '../../operator/kube/connection.ts';
import { classify } from '../../operator/kube/errors.ts';
import { KubeHttp } from '../../operator/kube/http.ts';
import { Annotations, Conditions, Leases } from '../../operator/protocol.ts';
import { kwokNode } from '../../testkit/cluster/nodes.ts';
import { clients, createNamespace, eventually, uniq } from './kube.ts';

interface Write {
  node: string;
  annotations: Record<string, string | null>;
  unschedulable?: boolean;
}
interface Recorded {
  writes: Write[];
  events: string[];
}

const group = uniq('rc');
const ns = group;
const names = [0, 1, 2].map((i) => `${group}-n${i}`);
const c = clients();
let http: KubeHttp;
/** The controller's clock: fixed within a pass, advanced by the test. */
let clock = Date.now();

class Recorder implements EventSink {
  current: Recorded = { writes: [], events: [] };
  emit(node: { name: string }, type: string, reason: string, note: string) {
    this.current.events.push(`${node.name} ${type} ${reason}: ${note}`);
  }
  emitFor(r: Regarding, type: string, reason: string, note: string) {
    this.current.events.push(`${r.name} ${type} ${reason}: ${note}`);
  }
  writer(inner: NodeWriter): NodeWriter {
    return {
      patch: async (n, annotations, unschedulable, term, extras) => {
        await inner.patch(n, annotations, unschedulable, term, extras);
        this.current.writes.push({
          node: n.name,
          annotations,
          ...(unschedulable !== undefined && { unschedulable }),
        });
      },
      setFailed: (n, ...rest) => inner.setFailed(n, ...rest),
    };
  }
}

/** Each reconciler has its own connection, as each controller process does (its watches hold sockets). */
async function newReconciler(rec: Recorder): Promise<Reconciler> {
  return new Reconciler({
    http: new KubeHttp(await kubeconfigConnection(inject('kubeconfig'))),
    namespace: ns,
    identity: `${group}-in-process`,
    settings: {
      concurrency: 1,
      drain: { emptyDir: 'evict', unmanaged: 'evict' },
      blockingPodSelectors: [],
      retryAfterFailureMs: 600_000,
      resyncMs: 30_000,
      drainTimeoutMs: 600_000,
      drainTimeoutPolicy: 'abort',
      rebootTimeoutMs: 900_000,
      soakMs: 0,
      nodeSelector: `kreboot.test/group=${group}`,
      windows: { defaultWindow: 'always', endMarginMs: 0, selector: `kreboot.test/group=${group}` },
    },
    log: pino({ level: 'silent' }),
    metrics: controllerMetrics(),
    events: rec,
    now: () => clock,
    writer: (w) => rec.writer(w),
  });
}

/** What kreboot keeps in the API server: kreboot's node keys, cordons, and the lock's entries. */
async function apiState() {
  const nodes = (await c.core.listNode({ labelSelector: `kreboot.test/group=${group}` })).items;
  const lease = await c.coordination
    .readNamespacedLease({ name: Leases.lock, namespace: ns })
    .catch(() => undefined);
  const entries = JSON.parse(lease?.metadata?.annotations?.[Annotations.lockEntries] ?? '[]') as Array<{
    node: string;
    finishing?: boolean;
  }>;
  return {
    nodes: Object.fromEntries(
      nodes.map((n) => [
        n.metadata!.name!,
        {
          unschedulable: n.spec?.unschedulable === true,
          keys: Object.fromEntries(
            Object.entries(n.metadata?.annotations ?? {}).filter(([k]) => k.startsWith('kreboot.io/')),
          ),
        },
      ]),
    ),
    lock: entries.map((e) => ({ node: e.node, finishing: e.finishing === true })),
    rawLock: lease?.metadata?.annotations ?? {},
  };
}
type State = Awaited<ReturnType<typeof apiState>>;

/** Puts kreboot's keys, cordons and lock back as they were in `s` (as if the writes since had not happened). */
async function restore(s: State) {
  for (const [name, want] of Object.entries(s.nodes)) {
    const now = await c.core.readNode({ name });
    const annotations: Record<string, string | null> = {};
    for (const k of Object.keys(now.metadata?.annotations ?? {}))
      if (k.startsWith('kreboot.io/')) annotations[k] = null;
    Object.assign(annotations, want.keys);
    await http.request(`/api/v1/nodes/${name}`, {
      method: 'PATCH',
      contentType: 'application/merge-patch+json',
      body: { metadata: { annotations }, spec: { unschedulable: want.unschedulable } },
    });
  }
  const lease = await c.coordination.readNamespacedLease({ name: Leases.lock, namespace: ns });
  lease.metadata!.annotations = s.rawLock;
  await c.coordination.replaceNamespacedLease({ name: Leases.lock, namespace: ns, body: lease });
}

/** Waits until the reconciler's node cache shows what the API server has (no pass on a stale cache). */
async function synced(r: Reconciler) {
  await eventually('node cache in sync', async () => {
    const live = (await c.core.listNode({ labelSelector: `kreboot.test/group=${group}` })).items;
    return live.every(
      (n) => r.observer.raw(n.metadata!.name!)?.metadata.resourceVersion === n.metadata!.resourceVersion,
    );
  });
}

/**
 * Runs passes until one writes (a drain in flight writes nothing until it finishes), at most 20. A conflict (the
 * kubelet's heartbeat changed the node under the compare-and-swap) is handled as the run loop does: wait for the
 * cache, pass again; what the attempts wrote is recorded together.
 */
async function passThatWrites(r: Reconciler, rec: Recorder, term: AbortSignal): Promise<Recorded> {
  rec.current = { writes: [], events: [] };
  for (let i = 0; i < 20; i++) {
    await synced(r);
    try {
      await r.reconcileOnce(term);
    } catch (err) {
      if (classify(err) !== 'conflict') throw err;
      continue;
    }
    if (rec.current.writes.length) return rec.current;
    await new Promise((res) => setTimeout(res, 100));
  }
  return rec.current;
}

async function setStatus(name: string, status: Record<string, unknown>) {
  await http.request(`/api/v1/nodes/${name}/status`, {
    method: 'PATCH',
    contentType: 'application/strategic-merge-patch+json',
    body: { status },
  });
}

/** The agent's report in boot `boot`: its condition, then its boot ID. */
async function agentReports(name: string, boot: string, required: boolean) {
  const at = new Date(clock - 1000).toISOString();
  await setStatus(name, {
    nodeInfo: { bootID: boot },
    conditions: [
      {
        type: Conditions.rebootRequired,
        status: required ? 'True' : 'False',
        reason: required ? 'SentinelFilePresent' : 'NoRebootRequired',
        message: 'in-process test',
        lastTransitionTime: at,
        lastHeartbeatTime: at,
      },
    ],
  });
  await http.request(`/api/v1/nodes/${name}`, {
    method: 'PATCH',
    contentType: 'application/merge-patch+json',
    body: { metadata: { annotations: { [Annotations.bootId]: boot } } },
  });
}

const ctl = new AbortController();
const rec1 = new Recorder();
const rec2 = new Recorder();
let r1: Reconciler;
let r2: Reconciler;

beforeAll(async () => {
  http = new KubeHttp(await kubeconfigConnection(inject('kubeconfig')));
  await createNamespace(c.core, ns);
  for (const [i, name] of names.entries()) {
    await c.core.createNode({
      body: kwokNode(name, { labels: { 'kreboot.test/group': group }, bootID: `${name}-b1` }),
    });
    await agentReports(name, `${name}-b1`, i < 2);
  }
  await eventually('kwok nodes Ready', async () => {
    const nodes = (await c.core.listNode({ labelSelector: `kreboot.test/group=${group}` })).items;
    return (
      nodes.length === 3 &&
      nodes.every((n: V1Node) => n.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True'))
    );
  });
  r1 = await newReconciler(rec1);
  r2 = await newReconciler(rec2);
  await Promise.all([r1.startCaches(ctl.signal), r2.startCaches(ctl.signal)]);
}, 60_000);

afterAll(async () => {
  ctl.abort();
  for (const name of names) await c.core.deleteNode({ name }).catch(() => {});
  await c.core.deleteNamespace({ name: ns }).catch(() => {});
  http?.close();
});

/**
 * Runs the pass on r1, records writes, Events and the resulting state; restores the state from before and runs
 * the same pass on r2 (a new leader after a crash): same writes, same Events, same resulting state.
 */
async function twice(label: string): Promise<{ first: Recorded; after: State }> {
  const before = await apiState();
  const first = await passThatWrites(r1, rec1, ctl.signal);
  const after = await apiState();
  await restore(before);
  const second = await passThatWrites(r2, rec2, ctl.signal);
  const again = await apiState();
  // Nodes step in parallel within a pass: per node the order is fixed, across nodes it is not.
  const byNode = <T>(xs: T[], node: (x: T) => string) =>
    [...xs].sort((a, b) => node(a).localeCompare(node(b)));
  expect(
    byNode(second.writes, (w) => w.node),
    `${label}: writes`,
  ).toEqual(byNode(first.writes, (w) => w.node));
  // A refusal's Event quotes when the foreign write happened (the API server's managedFields, to the second); the
  // restore rewrites it, so the two runs may straddle a second: that time is not part of what must be equal.
  const stable = (events: string[]) =>
    byNode(events, (e) => e.split(' ')[0]!).map((e) =>
      e.replace(/, \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)/g, ', <time>)'),
    );
  expect(stable(second.events), `${label}: events`).toEqual(stable(first.events));
  expect(again.nodes, `${label}: nodes`).toEqual(after.nodes);
  expect(again.lock, `${label}: lock`).toEqual(after.lock);
  return { first, after };
}

describe('reconciler in process, pass by pass', () => {
  const [n0, n1, n2] = names as [string, string, string];

  it('each step of a rollout: the same pass twice gives the same writes and the same state', async () => {
    // start: the longest-waiting node takes the lock and is cordoned (concurrency 1: only one).
    let s = await twice('start');
    expect(s.after.lock).toEqual([{ node: n0, finishing: false }]);
    expect(s.after.nodes[n0]).toMatchObject({
      unschedulable: true,
      keys: { [Annotations.phase]: 'cordoned' },
    });
    expect(s.after.nodes[n1]!.unschedulable).toBe(false);
    expect(s.first.events).toEqual([`${n0} Normal Cordoned: cordoned for a reboot`]);

    clock += 1000;
    s = await twice('drain');
    expect(s.after.nodes[n0]!.keys[Annotations.phase]).toBe('draining');

    clock += 1000;
    s = await twice('approve');
    expect(s.after.nodes[n0]!.keys).toMatchObject({
      [Annotations.phase]: 'approved',
      [Annotations.approvedBootId]: `${n0}-b1`,
    });

    // The agent records the boot it is leaving, then the host comes back in a new boot, sentinel gone.
    await http.request(`/api/v1/nodes/${n0}`, {
      method: 'PATCH',
      contentType: 'application/merge-patch+json',
      body: { metadata: { annotations: { [Annotations.rebootingFromBootId]: `${n0}-b1` } } },
    });
    clock += 1000;
    s = await twice('rebooting');
    expect(s.after.nodes[n0]!.keys[Annotations.phase]).toBe('rebooting');

    await agentReports(n0, `${n0}-b2`, false);
    clock += 1000;
    s = await twice('verifying');
    expect(s.after.nodes[n0]!.keys[Annotations.phase]).toBe('verifying');

    // finish: n0 cleaned up and uncordoned, its entry released. A pass plans starts on the lock as it read it
    // (its writes are queued, not awaited), so n1 starts in the next pass, on the lock without n0.
    clock += 1000;
    s = await twice('finish');
    expect(s.after.nodes[n0]!.unschedulable).toBe(false);
    expect(s.after.nodes[n0]!.keys[Annotations.phase]).toBeUndefined();
    expect(s.after.lock).toEqual([]);
    expect(s.first.events[0]).toBe(`${n0} Normal Rebooted: rebooted into boot ${n0}-b2; uncordoned`);
    clock += 1000;
    s = await twice('next start');
    expect(s.after.lock).toEqual([{ node: n1, finishing: false }]);
    expect(s.first.events).toEqual([`${n1} Normal Cordoned: cordoned for a reboot`]);
  }, 120_000);

  it('a settled state writes nothing: a second pass after the echo is a no-op', async () => {
    await passThatWrites(r1, rec1, ctl.signal);
    await synced(r1);
    rec1.current = { writes: [], events: [] };
    await r1.reconcileOnce(ctl.signal);
    // n1 is cordoned and its drain runs: the pass may only move it to draining, never re-cordon or touch others.
    expect(rec1.current.writes.filter((w) => w.node !== names[1])).toEqual([]);
  });

  it('a foreign phase on a node without a lock entry is refused the same way twice', async () => {
    // n1's drain (started by the test before) finishes in the background, in whichever pass it finishes: one leader
    // may see it done in the pass under test and the other not. Settle n1 first, so the refusal of n2 is the pass's
    // only change on either leader.
    const phaseOf = async (name: string) =>
      (await c.core.readNode({ name })).metadata?.annotations?.[Annotations.phase];
    for (let i = 0; i < 50 && (await phaseOf(n1)) !== 'approved'; i++)
      await passThatWrites(r1, rec1, ctl.signal);
    expect(await phaseOf(n1)).toBe('approved');
    await http.request(`/api/v1/nodes/${n2}`, {
      method: 'PATCH',
      contentType: 'application/merge-patch+json',
      body: { metadata: { annotations: { [Annotations.phase]: 'approved' } } },
    });
    clock += 1000;
    const s = await twice('foreign phase');
    expect(s.after.nodes[n2]!.keys[Annotations.phase]).toBeUndefined();
    expect(s.first.events.some((e) => e.startsWith(`${n2} Warning ForeignPhaseRefused`))).toBe(true);
  }, 60_000);
});
