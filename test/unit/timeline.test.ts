// The timeline (plan --timeline): the planner run forward in time. Examples worked out by hand, and properties over
// random clusters, windows and durations: no moment over a budget, every start inside an open window of its node,
// every pending node either scheduled once or told why not.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type TimelineInput, timeline } from '../../operator/controller/timeline.ts';
import { resolveLimit } from '../../operator/domain/budget.ts';
import type { NodeView } from '../../operator/domain/node.ts';
import {
  evaluateWindow,
  WindowIndex,
  type WindowObject,
  windowGate,
} from '../../operator/windows/evaluate.ts';
import { nodeView } from '../fixtures/node-view.ts';

const NOW = Date.parse('2026-12-07T08:00:00Z'); // a Monday
const MIN = 60_000;

const view = (name: string, over: Partial<NodeView> = {}) => nodeView(NOW, name, over);

const window = (name: string, schedule: string, duration: string, matchLabels: Record<string, string>) =>
  ({
    metadata: { name },
    spec: { schedule, duration, timeZone: 'UTC', nodeSelector: { matchLabels } },
  }) satisfies WindowObject;

const base = (over: Partial<TimelineInput>): TimelineInput => ({
  nodes: [],
  locked: new Map(),
  windows: [],
  defaultWindow: 'always',
  endMarginMs: 0,
  concurrency: 1,
  zoneConcurrency: undefined,
  retryAfterFailureMs: 10 * MIN,
  now: NOW,
  horizonMs: 7 * 24 * 60 * MIN,
  durationOf: () => 10 * MIN,
  ...over,
});

const summary = (t: ReturnType<typeof timeline>) =>
  t.entries.map((e) => [
    e.node,
    e.start === undefined ? e.unscheduled?.reason : new Date(e.start).toISOString().slice(11, 16),
  ]);

describe('timeline: examples', () => {
  it('two zones, two windows, concurrency 2 and one per zone: zone a alone until b’s window opens', () => {
    const nodes = [
      ...[0, 1, 2].map((i) => view(`a${i}`, { zone: 'a', labels: { zone: 'a' }, requiredSince: NOW - i })),
      ...[0, 1, 2].map((i) => view(`b${i}`, { zone: 'b', labels: { zone: 'b' }, requiredSince: NOW - i })),
    ];
    const t = timeline(
      base({
        nodes,
        concurrency: 2,
        zoneConcurrency: 1,
        // a: 08:00–12:00 every day; b: 08:25–09:25 every day.
        windows: [
          window('wa', '0 8 * * *', '4h', { zone: 'a' }),
          window('wb', '25 8 * * *', '1h', { zone: 'b' }),
        ],
      }),
    );
    // Longest waiting first within each zone (a2 waited longest), one per zone, b from 08:25.
    expect(summary(t)).toEqual([
      ['a2', '08:00'],
      ['a1', '08:10'],
      ['a0', '08:20'],
      ['b2', '08:25'],
      ['b1', '08:35'],
      ['b0', '08:45'],
    ]);
    expect(t.entries.every((e) => e.end === e.start! + 10 * MIN)).toBe(true);
  });

  it('the end margin: no start in the last minutes of a window; the rest goes to the next day', () => {
    const nodes = [0, 1, 2].map((i) => view(`n${i}`, { requiredSince: NOW - 10 + i }));
    const t = timeline(base({ nodes, windows: [window('w', '0 8 * * *', '25m', {})], endMarginMs: 6 * MIN }));
    // 08:00 and 08:10 start; at 08:20 only 5 minutes are left (< 6m margin): n2 waits for tomorrow.
    expect(summary(t)).toEqual([
      ['n0', '08:00'],
      ['n1', '08:10'],
      ['n2', '08:00'],
    ]);
    expect(new Date(t.entries[2]!.start!).toISOString()).toBe('2026-12-08T08:00:00.000Z');
  });

  it('in-progress nodes keep their slot until their predicted end; an overdue one ends "now"', () => {
    const nodes = [
      view('busy', { phase: 'draining', phaseSince: NOW - 2 * MIN }),
      view('late', { phase: 'rebooting', phaseSince: NOW - 60 * MIN }),
      view('next'),
    ];
    const t = timeline(
      base({
        nodes,
        concurrency: 2,
        locked: new Map([
          ['busy', NOW - 3 * MIN],
          ['late', NOW - 60 * MIN],
        ]),
      }),
    );
    const e = Object.fromEntries(t.entries.map((x) => [x.node, x]));
    expect(e.busy).toMatchObject({ inProgress: true, start: NOW - 3 * MIN, end: NOW + 7 * MIN });
    expect(e.late).toMatchObject({ inProgress: true, end: NOW });
    expect(e.next).toMatchObject({ inProgress: false, start: NOW, end: NOW + 10 * MIN });
  });

  it('says why a node is not scheduled: excluded, no window, paused, blocked by a PDB, beyond the horizon', () => {
    const nodes = [
      view('ex', { excluded: true }),
      view('nowin', { labels: { pool: 'none' } }),
      view('pdb', { labels: { pool: 'x' } }),
      view('ok', { labels: { pool: 'x' } }),
    ];
    const windows = [window('w', '0 8 * * *', '1h', { pool: 'x' })];
    const t = timeline(
      base({
        nodes,
        windows,
        blocked: new Map([
          ['pdb', { reason: 'pdb', detail: 'PodDisruptionBudget shop/web allows 0 disruptions' }],
        ]),
      }),
    );
    const why = Object.fromEntries(t.entries.map((x) => [x.node, x.unscheduled]));
    expect(why.ex?.reason).toBe('excluded');
    expect(why.nowin).toMatchObject({ reason: 'window', detail: 'no MaintenanceWindow selects this node' });
    expect(why.pdb?.reason).toBe('pdb');
    expect(why.pdb?.detail).toContain('shop/web');
    expect(why.ok).toBeUndefined();

    const paused = timeline(base({ nodes: [view('a')], paused: 'freeze' }));
    expect(paused.entries[0]!.unscheduled).toEqual({ reason: 'paused', detail: 'freeze' });

    // One node at a time, 10 minutes each, a window of 20 minutes a week: the third is beyond a 1-day horizon.
    const three = [0, 1, 2].map((i) => view(`h${i}`, { requiredSince: NOW - 10 + i }));
    const short = timeline(
      base({ nodes: three, windows: [window('w', '0 8 * * 1', '20m', {})], horizonMs: 24 * 60 * MIN }),
    );
    expect(summary(short)).toEqual([
      ['h0', '08:00'],
      ['h1', '08:10'],
      ['h2', 'window'],
    ]);
    expect(short.entries[2]!.unscheduled!.detail).toContain('opens at 2026-12-14T08:00:00');
  });

  it('a node that failed its drain waits out --retry-after-failure', () => {
    const t = timeline(
      base({
        nodes: [view('f', { lastFailureAt: NOW - 4 * MIN, lastFailure: 'drain timeout' })],
        retryAfterFailureMs: 10 * MIN,
      }),
    );
    expect(t.entries[0]!.start).toBe(NOW + 6 * MIN);
  });

  it('control-plane nodes go after every worker, one at a time', () => {
    const t = timeline(
      base({
        concurrency: 3,
        nodes: [
          view('cp1', { controlPlane: true }),
          view('cp2', { controlPlane: true }),
          view('w1'),
          view('w2'),
        ],
      }),
    );
    expect(summary(t)).toEqual([
      ['w1', '08:00'],
      ['w2', '08:00'],
      ['cp1', '08:10'],
      ['cp2', '08:20'],
    ]);
  });
});

describe('timeline: properties', () => {
  const arb = fc.record({
    nodes: fc.array(
      fc.record({
        zone: fc.constantFrom('a', 'b', 'c'),
        pool: fc.constantFrom('x', 'y'),
        minutes: fc.integer({ min: 1, max: 90 }),
        waited: fc.integer({ min: 0, max: 100 }),
        phase: fc.oneof(
          { weight: 6, arbitrary: fc.constant(undefined) },
          { weight: 1, arbitrary: fc.constant('draining' as const) },
        ),
        ready: fc.oneof(
          { weight: 9, arbitrary: fc.constant(true) },
          { weight: 1, arbitrary: fc.constant(false) },
        ),
      }),
      { minLength: 1, maxLength: 25 },
    ),
    concurrency: fc.oneof(fc.integer({ min: 1, max: 4 }), fc.constantFrom('25%', '50%')),
    zoneConcurrency: fc.option(fc.integer({ min: 1, max: 2 }), { nil: undefined }),
    windows: fc.subarray(
      [
        window('x-morning', '0 8 * * *', '3h', { pool: 'x' }),
        window('y-evening', '30 20 * * 1-5', '90m', { pool: 'y' }),
        window('y-weekend', '0 0 * * 6', '48h', { pool: 'y' }),
      ],
      { minLength: 0 },
    ),
    margin: fc.constantFrom(0, 5 * MIN, 30 * MIN),
  });

  it('no moment over a budget; every start in an open window; every pending node once, scheduled or explained', () => {
    fc.assert(
      fc.property(arb, (c) => {
        const nodes = c.nodes.map((n, i) =>
          view(`n${String(i).padStart(2, '0')}`, {
            zone: n.zone,
            labels: { pool: n.pool },
            requiredSince: NOW - n.waited * 1000,
            phase: n.phase,
            phaseSince: n.phase ? NOW - MIN : undefined,
            unschedulable: n.phase !== undefined,
            ready: n.ready,
          }),
        );
        const minutes = new Map(nodes.map((n, i) => [n.name, c.nodes[i]!.minutes * MIN]));
        const locked = new Map(nodes.filter((n) => n.phase).map((n) => [n.name, NOW - MIN]));
        const input = base({
          nodes,
          locked,
          concurrency: c.concurrency,
          zoneConcurrency: c.zoneConcurrency,
          windows: c.windows,
          endMarginMs: c.margin,
          defaultWindow: 'always',
          durationOf: (n) => minutes.get(n.name)!,
        });
        const t = timeline(input);

        // Every node that needs a reboot appears exactly once.
        expect(t.entries.map((e) => e.node).sort()).toEqual(nodes.map((n) => n.name).sort());
        for (const e of t.entries) {
          if (e.start === undefined) expect(e.unscheduled?.detail).toBeTruthy();
          else expect(e.end).toBe(Math.max(e.start + e.durationMs, e.inProgress ? NOW : 0));
        }
        // Listed in the order they start.
        const starts = t.entries.filter((e) => e.start !== undefined && !e.inProgress).map((e) => e.start!);
        expect(starts).toEqual([...starts].sort((a, b) => a - b));
        // At every start, the disrupted count (in progress, plus NotReady nodes never started) within budgets.
        const scheduled = t.entries.filter((e) => e.start !== undefined);
        const notReadyIdle = nodes.filter((n) => !n.ready && !scheduled.some((e) => e.node === n.name));
        const global = resolveLimit(c.concurrency, nodes.length);
        for (const s of scheduled) {
          const live = scheduled.filter((e) => e.start! <= s.start! && e.end! > s.start!);
          const disrupted = live.length + notReadyIdle.length;
          if (!s.inProgress) expect(disrupted).toBeLessThanOrEqual(Math.max(global, locked.size));
          if (c.zoneConcurrency !== undefined && !s.inProgress) {
            const zone = s.zone!;
            const zoneNodes = nodes.filter((n) => n.zone === zone).length;
            const inZone =
              live.filter((e) => e.zone === zone).length + notReadyIdle.filter((n) => n.zone === zone).length;
            expect(inZone).toBeLessThanOrEqual(
              Math.max(resolveLimit(c.zoneConcurrency, zoneNodes), [...locked.keys()].length),
            );
          }
        }
        // Every predicted start is at a moment the window gate lets that node go.
        for (const s of scheduled.filter((e) => !e.inProgress)) {
          const index = new WindowIndex(c.windows.map((w) => evaluateWindow(w, s.start!)));
          const gate = windowGate(
            index,
            { defaultWindow: 'always', endMarginMs: c.margin, selector: '' },
            s.start!,
          );
          expect(gate(nodes.find((n) => n.name === s.node)!)).toBeUndefined();
        }
      }),
      { numRuns: 150 },
    );
  });
});
