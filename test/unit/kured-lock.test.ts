// kured's lock as kured writes it (pkg/daemonsetlock): one holder, or several with --concurrency; TTLs; and the lock
// as migrate-kured --apply takes it so that kured starts nothing during the switch.
import { describe, expect, it } from 'vitest';
import { MIGRATION_HOLDER, parseKuredLock, takeKuredLock } from '../../operator/cli/migrate/kured-lock.ts';

const NOW = Date.parse('2026-12-06T08:00:00Z');
const holder = (node: string, created: string, ttlMinutes = 0, unschedulable = false) => ({
  nodeID: node,
  metadata: { unschedulable },
  created,
  TTL: ttlMinutes * 60e9,
});

describe("kured's lock", () => {
  it('free, one holder, several holders; an expired TTL is free, as for kured', () => {
    expect(parseKuredLock(undefined, NOW)).toEqual({ multi: false, maxOwners: 1, holders: [], ours: false });
    const one = parseKuredLock(JSON.stringify(holder('n1', '2026-12-06T07:50:00Z', 0, true)), NOW);
    expect(one.holders).toEqual([
      { node: 'n1', wasUnschedulable: true, created: Date.parse('2026-12-06T07:50:00Z') },
    ]);
    expect(parseKuredLock(JSON.stringify(holder('n1', '2026-12-06T07:00:00Z', 30)), NOW).holders).toEqual([]);
    const multi = parseKuredLock(
      JSON.stringify({
        maxOwners: 3,
        locks: [holder('n1', '2026-12-06T07:59:00Z'), holder('n2', '2026-12-06T06:00:00Z', 10)],
      }),
      NOW,
    );
    expect(multi).toMatchObject({ multi: true, maxOwners: 3, ours: false });
    expect(multi.holders.map((h) => h.node)).toEqual(['n1']);
    expect(() => parseKuredLock('{not json', NOW)).toThrow(/not JSON/);
  });

  it('taken by the migration: every free place filled, the holders kept, and read back as ours', () => {
    const free = parseKuredLock(undefined, NOW);
    const single = takeKuredLock(free, [], NOW);
    expect(JSON.parse(single)).toEqual({
      nodeID: MIGRATION_HOLDER,
      metadata: { unschedulable: false },
      created: '2026-12-06T08:00:00.000Z',
      TTL: 0,
    });
    expect(parseKuredLock(single, NOW)).toMatchObject({ holders: [], ours: true });
    const multi = parseKuredLock(
      JSON.stringify({ maxOwners: 3, locks: [holder('n1', '2026-12-06T07:59:00Z')] }),
      NOW,
    );
    const taken = JSON.parse(takeKuredLock(multi, multi.holders, NOW));
    expect(taken.maxOwners).toBe(3);
    expect(taken.locks.map((l: { nodeID: string }) => l.nodeID)).toEqual([
      'n1',
      `${MIGRATION_HOLDER}-1`,
      `${MIGRATION_HOLDER}-2`,
    ]);
    // kured's own check (canAcquireMultiple): no free place, and nothing expires.
    expect(taken.locks).toHaveLength(taken.maxOwners);
    expect(taken.locks.every((l: { TTL: number }) => l.TTL === 0)).toBe(true);
    expect(parseKuredLock(JSON.stringify(taken), NOW)).toMatchObject({
      ours: true,
      holders: [{ node: 'n1' }],
    });
  });
});
