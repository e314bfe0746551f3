import { describe, expect, it } from 'vitest';
import { serialize, Trigger } from '../../operator/util/trigger.ts';

describe('Trigger', () => {
  it('a fire before the wait is not lost; a wait takes it once', async () => {
    const t = new Trigger();
    const ctl = new AbortController();
    t.fire();
    const t0 = Date.now();
    await t.wait(10_000, ctl.signal);
    expect(Date.now() - t0).toBeLessThan(100);
    const late = t.wait(30, ctl.signal);
    const t1 = Date.now();
    await late;
    expect(Date.now() - t1).toBeGreaterThanOrEqual(25);
  });

  it('a fire during the wait ends it; the abort listener is removed every time', async () => {
    const t = new Trigger();
    const ctl = new AbortController();
    let listeners = 0;
    const add = ctl.signal.addEventListener.bind(ctl.signal);
    const remove = ctl.signal.removeEventListener.bind(ctl.signal);
    ctl.signal.addEventListener = ((...a: Parameters<typeof add>) => {
      listeners++;
      add(...a);
    }) as typeof add;
    ctl.signal.removeEventListener = ((...a: Parameters<typeof remove>) => {
      listeners--;
      remove(...a);
    }) as typeof remove;
    for (let i = 0; i < 100; i++) {
      const w = t.wait(10_000, ctl.signal);
      t.fire();
      await w;
    }
    expect(listeners).toBe(0);
    const w = t.wait(10_000, ctl.signal);
    ctl.abort();
    await w;
  });
});

describe('serialize', () => {
  it('never overlaps runs and follows every call with a run that started after it', async () => {
    let active = 0;
    let maxActive = 0;
    const starts: number[] = [];
    let calls = 0;
    const kick = serialize(async () => {
      starts.push(calls);
      active++;
      maxActive = Math.max(maxActive, active);
      await new Promise((r) => setTimeout(r, 5));
      active--;
    });
    for (let i = 0; i < 20; i++) {
      calls++;
      kick();
      await new Promise((r) => setTimeout(r, i % 3));
    }
    await new Promise((r) => setTimeout(r, 50));
    expect(maxActive).toBe(1);
    expect(starts.at(-1)).toBe(20);
    expect(starts.length).toBeLessThan(20);
  });
});
