// The reconciler's write queue: one job per key at a time, a busy key refused (the pass skips it), a bounded
// number running, a key handed on from a job to its follow-up without a gap, failures reported with their keys.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type JobOutcome, Jobs } from '../../operator/controller/jobs.ts';

const tick = () => new Promise((r) => setTimeout(r, 0));

function gate() {
  let open!: () => void;
  const p = new Promise<void>((r) => {
    open = r;
  });
  return { p, open };
}

describe('Jobs', () => {
  it('refuses a key while its job is queued or running, and frees it after', async () => {
    const done: JobOutcome[] = [];
    const jobs = new Jobs(1, (o) => done.push(o));
    const g = gate();
    expect(jobs.dispatch(['a'], () => g.p)).toBe(true);
    expect(jobs.dispatch(['b', 'c'], async () => {})).toBe(true); // queued behind a (limit 1)
    expect(jobs.busy('a')).toBe(true);
    expect(jobs.busy('c')).toBe(true);
    expect(jobs.dispatch(['a'], async () => {})).toBe(false);
    expect(jobs.dispatch(['x', 'c'], async () => {})).toBe(false);
    expect(jobs.size).toBe(2);
    g.open();
    await jobs.idle();
    expect(jobs.busy('a', 'b', 'c')).toBe(false);
    expect(done.map((o) => o.keys)).toEqual([['a'], ['b', 'c']]);
  });

  it('reports a failure with its keys, and goes on with the others', async () => {
    const done: JobOutcome[] = [];
    const jobs = new Jobs(2, (o) => done.push(o));
    jobs.dispatch(['a'], async () => {
      throw new Error('409');
    });
    jobs.dispatch(['b'], async () => {});
    await jobs.idle();
    expect(done.find((o) => o.keys[0] === 'a')?.error).toBeInstanceOf(Error);
    expect(done.find((o) => o.keys[0] === 'b')?.error).toBeUndefined();
  });

  it('hands a key on to a follow-up with no moment in which it is free', async () => {
    const jobs = new Jobs(4, () => {});
    const seen: boolean[] = [];
    const follow = gate();
    jobs.dispatch(['lock', 'n1', 'n2'], async (job) => {
      job.handOn('n1', () => follow.p);
      job.handOn('n2', async () => {});
    });
    for (let i = 0; i < 5; i++) {
      seen.push(jobs.busy('n1'));
      await tick();
    }
    expect(seen.every(Boolean)).toBe(true);
    expect(jobs.busy('lock')).toBe(false); // the parent's own key is released when it ends
    expect(jobs.busy('n2')).toBe(false);
    follow.open();
    await jobs.idle();
    expect(jobs.busy('n1')).toBe(false);
    expect(() =>
      jobs.dispatch(['a'], async (job) => {
        job.handOn('zzz', async () => {});
      }),
    ).not.toThrow(); // the error is the job's, reported by `done`, not the dispatcher's
  });

  it('property: never two jobs on one key at once, never more than the limit running, every job runs once', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.array(
          fc.tuple(
            fc.uniqueArray(fc.constantFrom('a', 'b', 'c', 'd', 'e'), { minLength: 1, maxLength: 3 }),
            fc.nat(3),
          ),
          {
            maxLength: 30,
          },
        ),
        async (limit, specs) => {
          const running = new Set<string>();
          let concurrent = 0;
          let peak = 0;
          let ran = 0;
          let accepted = 0;
          const errors: unknown[] = [];
          const jobs = new Jobs(limit, (o) => {
            if (o.error) errors.push(o.error);
          });
          for (const [keys, waits] of specs) {
            const ok = jobs.dispatch(keys, async () => {
              for (const k of keys) {
                if (running.has(k)) throw new Error(`two jobs on ${k}`);
                running.add(k);
              }
              concurrent++;
              peak = Math.max(peak, concurrent);
              for (let i = 0; i < waits; i++) await tick();
              concurrent--;
              for (const k of keys) running.delete(k);
              ran++;
            });
            if (ok) accepted++;
            if (waits === 0) await tick();
          }
          await jobs.idle();
          expect(errors).toEqual([]);
          expect(peak).toBeLessThanOrEqual(limit);
          expect(ran).toBe(accepted);
        },
      ),
      { numRuns: 200 },
    );
  });
});
