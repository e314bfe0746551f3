import { describe, expect, it } from 'vitest';
import { Registry } from '../../operator/metrics/registry.ts';

describe('metrics registry', () => {
  it('renders the Prometheus text format with escaped labels', () => {
    const r = new Registry();
    const g = r.gauge('kreboot_test', 'A test\nwith newline.');
    const c = r.counter('kreboot_total', 'Counts.');
    g.set({ node: 'n"1', z: 'a\\b' }, 1);
    c.inc();
    c.inc({}, 2);
    expect(r.render()).toBe(
      [
        '# HELP kreboot_test A test\\nwith newline.',
        '# TYPE kreboot_test gauge',
        'kreboot_test{node="n\\"1",z="a\\\\b"} 1',
        '# HELP kreboot_total Counts.',
        '# TYPE kreboot_total counter',
        'kreboot_total 3',
        '',
      ].join('\n'),
    );
  });

  it('refuses bad names, duplicate registrations and decreasing counters', () => {
    const r = new Registry();
    expect(() => r.gauge('bad-name', 'x')).toThrow(/invalid metric name/);
    r.gauge('ok', 'x');
    expect(() => r.counter('ok', 'y')).toThrow(/twice/);
    expect(() => r.counter('c', 'x').inc({}, -1)).toThrow(/only go up/);
  });

  it('removes gauge series and touches counters at zero', () => {
    const r = new Registry();
    const g = r.gauge('g', 'x');
    g.set({ a: '1' }, 5);
    g.remove({ a: '1' });
    const c = r.counter('c_total', 'x');
    c.touch({ result: 'ok' });
    expect(r.render()).toContain('c_total{result="ok"} 0');
    expect(r.render()).not.toContain('g{');
  });
});
