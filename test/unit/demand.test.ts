// demandFor: when a controller replica needs the leader Lease (--leadership=on-demand), from the caches alone.
import { describe, expect, it } from 'vitest';
import { demandFor } from '../../operator/controller/demand.ts';
import type { LockState } from '../../operator/controller/lock.ts';
import { viewOf } from '../../operator/domain/node.ts';
import { Annotations } from '../../operator/protocol.ts';
import { desiredStatus, evaluateWindow, WindowIndex } from '../../operator/windows/evaluate.ts';

const NOW = Date.parse('2027-01-11T12:00:00Z'); // a Monday
const node = (name: string, required: 'True' | 'False', annotations: Record<string, string> = {}) =>
  viewOf(
    {
      metadata: { name, labels: {}, annotations: { [Annotations.bootId]: 'b', ...annotations } },
      status: {
        conditions: [
          { type: 'Ready', status: 'True' },
          { type: 'RebootRequired', status: required, reason: 'SentinelFilePresent' },
        ],
        nodeInfo: { bootID: 'b' },
      },
    },
    NOW,
  );
type Windows = ReturnType<Parameters<typeof demandFor>[0]['windows']>;
const noWindows: Windows = { objects: [], evaluated: [], index: new WindowIndex([]) };
const free: LockState = { entries: [] };
const demand = (views: ReturnType<typeof node>[], lock = free, windows: Windows = noWindows) =>
  demandFor({ views: () => views, lock, windows: () => windows, now: NOW });

describe('demandFor', () => {
  it('is idle when no node needs anything and the lock is empty', () => {
    expect(demand([node('a', 'False'), node('b', 'False')]).reason).toBeUndefined();
    expect(demand([]).reason).toBeUndefined();
  });

  it('wants a leader for a pending or requested node, not for an excluded one', () => {
    expect(demand([node('a', 'False'), node('b', 'True')]).reason).toBe('b needs a reboot');
    expect(demand([node('a', 'False', { [Annotations.rebootRequested]: 'true' })]).reason).toBe(
      'a needs a reboot',
    );
    expect(demand([node('a', 'True', { [Annotations.exclude]: 'true' })]).reason).toBeUndefined();
  });

  it('wants a leader for rollout state on a node, even a malformed or foreign one', () => {
    expect(demand([node('a', 'False', { [Annotations.phase]: 'draining' })]).reason).toMatch(
      /a carries rollout state \(draining\)/,
    );
    expect(demand([node('a', 'False', { [Annotations.phase]: 'bogus' })]).reason).toMatch(/\(bogus\)/);
    expect(demand([node('a', 'False', { [Annotations.approvedBootId]: 'b' })]).reason).toMatch(/an approval/);
  });

  it('wants a leader while the lock holds entries, is halted or unreadable', () => {
    const entry = { node: 'gone', uid: 'u', since: '2027-01-11T11:00:00Z', holder: 'c0' };
    expect(demand([], { entries: [entry] }).reason).toBe('the lock holds gone');
    expect(demand([], { entries: [], halted: 'node x did not come back' }).reason).toMatch(/halted: node x/);
    expect(demand([], { entries: [], corrupt: 'bad json' }).reason).toMatch(/needs repair/);
    // Decided from the lock alone: the nodes and windows are not even looked at (cheap at 5,000 nodes).
    const untouched = () => {
      throw new Error('looked at');
    };
    expect(
      demandFor({ lock: { entries: [entry] }, views: untouched, windows: untouched, now: NOW }).reason,
    ).toBe('the lock holds gone');
    // A pause alone is not work: nothing could start.
    expect(demand([], { entries: [], paused: 'freeze' }).reason).toBeUndefined();
  });

  it('wants a leader when a window status no longer matches the clock, and wakes at the next boundary', () => {
    const obj = { metadata: { name: 'w', generation: 1 }, spec: { schedule: '0 13 * * *', duration: '1h' } };
    const ev = evaluateWindow(obj, NOW);
    const index = new WindowIndex([ev]);
    // Never written: stale.
    expect(demand([], free, { objects: [obj], evaluated: [ev], index }).reason).toBe(
      'MaintenanceWindow w status is out of date',
    );
    // Written as of now — and read back from the API server, which returns the fields in sorted order: idle,
    // and look again when it opens at 13:00.
    const status = desiredStatus(obj, ev, index, [], new Set(), NOW);
    const sorted = Object.fromEntries(Object.entries(status).sort(([a], [b]) => a.localeCompare(b)));
    expect(Object.keys(sorted)).not.toEqual(Object.keys(status));
    const written = { ...obj, status: sorted as typeof status };
    const d = demand([], free, { objects: [written], evaluated: [ev], index });
    expect(d.reason).toBeUndefined();
    expect(new Date(d.wakeAt).toISOString()).toBe('2027-01-11T13:00:00.010Z');
  });
});
