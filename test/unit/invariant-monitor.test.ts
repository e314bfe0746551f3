// The invariant monitor checks every event: a violation shorter than any sampling period is caught, and the
// counts say how many events were checked.
import { describe, expect, it } from 'vitest';
import type { NodeLite } from '../../operator/kube/types.ts';
import { Annotations } from '../../operator/protocol.ts';
import { InvariantMonitor } from '../../testkit/invariants/monitor.ts';
import type { PodLite } from '../../testkit/sim/pods.ts';

let rv = 100;
const node = (
  name: string,
  o: { phase?: string; cordoned?: boolean; ready?: boolean; boot?: string } = {},
): NodeLite => ({
  metadata: {
    name,
    resourceVersion: String(rv++),
    annotations: o.phase ? { [Annotations.phase]: o.phase } : {},
  },
  spec: { unschedulable: o.cordoned ?? false },
  status: {
    conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }],
    nodeInfo: { bootID: o.boot ?? 'b1' },
  },
});
const pod = (name: string, ready: boolean): PodLite => ({
  metadata: { name, namespace: 'apps', uid: name, resourceVersion: String(rv++), labels: { app: 'web' } },
  spec: { nodeName: 'a' },
  status: { phase: 'Running', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
});

describe('InvariantMonitor', () => {
  it('catches two nodes cordoned for 50 ms under a budget of 1, and counts the events it checked', async () => {
    const m = new InvariantMonitor({ budget: 1 });
    for (const n of ['a', 'b', 'c']) m.node('ADDED', node(n));
    m.node('MODIFIED', node('a', { phase: 'cordoned', cordoned: true }));
    m.node('MODIFIED', node('b', { phase: 'cordoned', cordoned: true }));
    await new Promise((r) => setTimeout(r, 50));
    m.node('MODIFIED', node('b'));
    m.node('MODIFIED', node('a'));
    expect(m.events).toBe(7);
    expect(m.maxDisrupted).toBe(2);
    expect(m.violations).toHaveLength(1);
    expect(m.violations[0]).toMatch(/2 nodes disrupted at once, budget 1 \(a, b\)$/);
    expect(m.cordons.get('a')).toBe(1);
  });

  it('counts a NotReady node as disrupted, and stays quiet within the budget', () => {
    const m = new InvariantMonitor({ budget: 2 });
    m.node('ADDED', node('a', { ready: false }));
    m.node('ADDED', node('b', { phase: 'draining', cordoned: true }));
    m.node('ADDED', node('c'));
    expect(m.maxDisrupted).toBe(2);
    expect(m.violations).toEqual([]);
  });

  it('records start and done: done is back Ready, out of its phase, in a new boot', () => {
    let t = 1000;
    const m = new InvariantMonitor({ budget: 1 }, () => t);
    m.node('ADDED', node('a'));
    t = 2000;
    m.node('MODIFIED', node('a', { phase: 'cordoned', cordoned: true }));
    t = 3000;
    m.node('MODIFIED', node('a', { phase: 'verifying', boot: 'b2' }));
    expect(m.doneAt.has('a')).toBe(false);
    t = 4000;
    m.node('MODIFIED', node('a', { boot: 'b2' }));
    expect([m.startedAt.get('a'), m.doneAt.get('a')]).toEqual([2000, 4000]);
  });

  it('a PDB minimum broken for one event is caught', () => {
    const m = new InvariantMonitor({ budget: 1, minReady: { label: ['app', 'web'], min: 2 } });
    m.pod('ADDED', pod('w1', true));
    m.pod('ADDED', pod('w2', true));
    m.pod('MODIFIED', pod('w1', false));
    m.pod('MODIFIED', pod('w1', true));
    expect(m.minReady).toBe(1);
    expect(m.violations[0]).toMatch(/app=web has 1 ready pods, its PDB wants 2$/);
  });

  it('an event older than the last one seen on its stream is reported', () => {
    const m = new InvariantMonitor({ budget: 5 });
    const late = node('a');
    m.node('ADDED', node('b'));
    m.node('MODIFIED', late);
    expect(m.violations[0]).toMatch(/nodes event \d+ arrived after \d+: out of order$/);
  });
});
