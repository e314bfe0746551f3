// The hand-written Prometheus alert-list validator (written for memory: see operator/alerts/sources.ts) accepts
// and rejects exactly what the schema it replaced did, and returns the same alerts.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { promAlertList } from '../../operator/alerts/sources.ts';

// The zod schema the controller used before, kept here as the reference.
const reference = z.object({
  status: z.literal('success'),
  data: z.object({
    alerts: z.array(
      z.object({
        labels: z.record(z.string(), z.string()),
        state: z.enum(['pending', 'firing', 'inactive']),
      }),
    ),
  }),
});

const label = fc.oneof(fc.string({ maxLength: 6 }), fc.constant(1), fc.constant(null));
const alert = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      labels: fc.dictionary(fc.constantFrom('alertname', 'node', 'x'), fc.string({ maxLength: 5 })),
      state: fc.constantFrom('pending', 'firing', 'inactive'),
      value: fc.string(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      labels: fc.dictionary(fc.constantFrom('a', 'b'), label),
      state: fc.constantFrom('firing', 'exploding', 5),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(null, 3, 'x', [], { state: 'firing' }, { labels: [], state: 'firing' }),
  },
);
const body = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      status: fc.constant('success'),
      data: fc.record({ alerts: fc.array(alert, { maxLength: 6 }) }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      status: fc.constantFrom('success', 'error'),
      data: fc.constantFrom(null, {}, { alerts: {} }),
    }),
  },
  { weight: 1, arbitrary: fc.constantFrom(null, [], 'x', 1) },
);

describe('Prometheus alert list', () => {
  it('agrees with the schema it replaced on what is valid, and returns the same alerts', () => {
    let valid = 0;
    let invalid = 0;
    fc.assert(
      fc.property(body, (b) => {
        const ref = reference.safeParse(b);
        let got: ReturnType<typeof promAlertList> | Error;
        try {
          got = promAlertList(b, 'P');
        } catch (err) {
          got = err as Error;
        }
        if (ref.success) {
          valid++;
          expect(got).not.toBeInstanceOf(Error);
          const want = ref.data.data.alerts
            .filter((a) => a.state !== 'inactive')
            .map((a) => ({ name: a.labels.alertname ?? '(unnamed)', labels: a.labels, state: a.state }));
          expect(got).toEqual(want);
        } else {
          invalid++;
          expect(got).toBeInstanceOf(Error);
          expect((got as Error).message).toMatch(/^P: unexpected answer at \S+: /);
        }
      }),
      { numRuns: 3000 },
    );
    // Coverage guard: both sides of the question were asked often.
    expect(valid).toBeGreaterThan(500);
    expect(invalid).toBeGreaterThan(500);
  });

  it('names the first wrong field', () => {
    expect(() =>
      promAlertList({ status: 'success', data: { alerts: [{ labels: {}, state: 'exploding' }] } }, 'P'),
    ).toThrow(/unexpected answer at data\.alerts\.0\.state/);
    expect(() =>
      promAlertList({ status: 'success', data: { alerts: [{ labels: { a: 1 }, state: 'firing' }] } }, 'P'),
    ).toThrow(/data\.alerts\.0\.labels\.a: expected a string/);
    expect(() => promAlertList({ status: 'error' }, 'P')).toThrow(/at status: expected "success"/);
  });
});
