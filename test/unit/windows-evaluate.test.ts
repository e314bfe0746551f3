import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../operator/config/options.ts';
import { viewOf } from '../../operator/domain/node.ts';
import {
  desiredStatus,
  evaluateWindow,
  WindowIndex,
  windowBudgets,
  windowGate,
} from '../../operator/windows/evaluate.ts';
import { parseKuredFlags } from '../../operator/windows/migrate-kured.ts';

const NOW = Date.parse('2026-11-28T12:00:00Z'); // a Saturday
const node = (name: string, labels: Record<string, string> = {}) =>
  viewOf({
    metadata: { name, labels, annotations: { 'kreboot.io/boot-id': 'b' } },
    status: {
      conditions: [
        { type: 'Ready', status: 'True' },
        { type: 'RebootRequired', status: 'True', reason: 'SentinelFilePresent' },
      ],
      nodeInfo: { bootID: 'b' },
    },
  });
const mw = (name: string, spec: Record<string, unknown>) => ({ metadata: { name, generation: 1 }, spec });
const policy = { defaultWindow: 'always' as const, endMarginMs: 0, selector: '' };

describe('window gate', () => {
  it('uses --default-window when no window exists', () => {
    const idx = new WindowIndex([]);
    expect(windowGate(idx, policy, NOW)(node('a'))).toBeUndefined();
    expect(windowGate(idx, { ...policy, defaultWindow: 'never' }, NOW)(node('a'))).toMatch(
      /--default-window=never/,
    );
  });

  it('opens only inside a valid, non-suspended window that selects the node, respecting the end margin', () => {
    const open = evaluateWindow(mw('open', { schedule: '0 11 * * *', duration: '2h' }), NOW);
    const pool = evaluateWindow(
      mw('pool', { schedule: '0 11 * * *', duration: '2h', nodeSelector: { matchLabels: { pool: 'x' } } }),
      NOW,
    );
    const idx = new WindowIndex([pool]);
    expect(windowGate(idx, policy, NOW)(node('a', { pool: 'x' }))).toBeUndefined();
    expect(windowGate(idx, policy, NOW)(node('b'))).toBe('no MaintenanceWindow selects this node');
    const both = new WindowIndex([open]);
    expect(windowGate(both, { ...policy, endMarginMs: 30 * 60_000 }, NOW)(node('a'))).toBeUndefined();
    expect(windowGate(both, { ...policy, endMarginMs: 90 * 60_000 }, NOW)(node('a'))).toMatch(
      /within the end margin/,
    );
  });

  it('gives the reason: closed with the next start, suspended, excluded, invalid', () => {
    const closed = evaluateWindow(mw('night', { schedule: '0 22 * * *', duration: '2h' }), NOW);
    expect(windowGate(new WindowIndex([closed]), policy, NOW)(node('a'))).toBe(
      'outside every window: night opens at 2026-11-28T22:00:00.000Z',
    );
    const susp = evaluateWindow(mw('s', { schedule: '0 11 * * *', duration: '2h', suspend: true }), NOW);
    expect(windowGate(new WindowIndex([susp]), policy, NOW)(node('a'))).toMatch(/s is suspended/);
    const excl = evaluateWindow(
      mw('x', {
        schedule: '0 11 * * *',
        duration: '2h',
        exclusions: [{ start: '2026-11-28T00:00:00Z', end: '2026-11-29T00:00:00Z', reason: 'freeze' }],
      }),
      NOW,
    );
    expect(windowGate(new WindowIndex([excl]), policy, NOW)(node('a'))).toMatch(
      /in exclusion "freeze" until 2026-11-29/,
    );
    const bad = evaluateWindow(mw('bad', { schedule: '61 * * * *', duration: '1h' }), NOW);
    expect(bad.valid).toBe(false);
    const reason = windowGate(
      new WindowIndex([bad, evaluateWindow(mw('ok', { schedule: '* * * * *', duration: '1h' }), NOW)]),
      policy,
      NOW,
    )(node('a'));
    expect(reason).toMatch(/MaintenanceWindow bad is invalid \(fails closed\): spec.schedule/);
  });

  it('never throws on garbage, and reports it as Valid=False', () => {
    for (const spec of [
      undefined,
      null,
      5,
      { schedule: 1 },
      {
        schedule: '@daily',
        duration: '1h',
        nodeSelector: { matchExpressions: [{ key: 'a', operator: 'Near' }] },
      },
    ]) {
      const w = evaluateWindow({ metadata: { name: 'g' }, spec }, NOW);
      expect(w.valid).toBe(false);
      expect(w.invalidReason).toBeTruthy();
    }
  });

  it('builds per-window budgets over the nodes each window selects, percentages of those', () => {
    const w = evaluateWindow(
      mw('w', {
        schedule: '* * * * *',
        duration: '1h',
        maxConcurrent: '50%',
        nodeSelector: { matchLabels: { pool: 'x' } },
      }),
      NOW,
    );
    const nodes = [
      node('a', { pool: 'x' }),
      node('b', { pool: 'x' }),
      node('c', { pool: 'x' }),
      node('d'),
      node('e'),
    ];
    const [b] = windowBudgets(new WindowIndex([w]), nodes);
    expect(b!.limit).toBe(1);
    expect(nodes.filter((n) => b!.selects(n)).map((n) => n.name)).toEqual(['a', 'b', 'c']);
  });

  it('writes status with counts and conditions, keeping transition times while nothing changes', () => {
    const obj = mw('w', { schedule: '0 11 * * *', duration: '2h' });
    const w = evaluateWindow(obj, NOW);
    const idx = new WindowIndex([w]);
    const s1 = desiredStatus(obj, w, idx, [node('a'), node('b')], new Set(['b']), NOW);
    expect(s1).toMatchObject({
      active: true,
      nodes: { selected: 2, pending: 1, rebooting: 1 },
      observedGeneration: 1,
    });
    const s2 = desiredStatus(
      { ...obj, status: s1 },
      w,
      idx,
      [node('a'), node('b')],
      new Set(['b']),
      NOW + 1000,
    );
    expect(s2).toEqual(s1);
  });
});

describe('kured migration', () => {
  it('names the bad flag', () => {
    expect(() => parseKuredFlags(['--reboot-days=funday'])).toThrow(ConfigError);
    expect(() => parseKuredFlags(['--start-time=25:00'])).toThrow(/--start-time/);
    expect(() => parseKuredFlags(['--time-zone=Nowhere/Land'])).toThrow(/--time-zone/);
    expect(() => parseKuredFlags(['--time-zone=europe/berlin'])).toThrow(/write "Europe\/Berlin"/);
  });
});
