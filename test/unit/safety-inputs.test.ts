// Strict inputs and defence in depth, as pure functions: time annotations, foreign writes, the step machine's
// orderly aborts, and the alert verdict's age.
import { describe, expect, it } from 'vitest';
import { verdictAt } from '../../operator/alerts/poller.ts';
import { nextStep, type StepConfig } from '../../operator/controller/step.ts';
import { annotationPath, describeWriter, parseTime, viewOf, writerOf } from '../../operator/domain/node.ts';
import { Annotations } from '../../operator/protocol.ts';

const NOW = Date.parse('2026-11-29T12:00:00Z');
const cfg: StepConfig = {
  drainTimeoutMs: 60_000,
  drainTimeoutPolicy: 'abort',
  rebootTimeoutMs: 300_000,
  soakMs: 0,
};

describe('time annotations', () => {
  it('accept RFC 3339 with a zone, and nothing lenient', () => {
    expect(parseTime('2026-11-29T11:00:00Z').t).toBe(Date.parse('2026-11-29T11:00:00Z'));
    expect(parseTime('2026-11-29T12:00:00.123456789+01:00').t).toBe(Date.parse('2026-11-29T11:00:00.123Z'));
    for (const bad of [
      '-1',
      '1',
      '2001',
      '2026-11-29',
      '2026-11-29 11:00:00Z',
      '2026-11-29T11:00:00',
      'soon',
    ]) {
      const r = parseTime(bad);
      expect(r.t, bad).toBeUndefined();
      expect(r.invalid, bad).toMatch(/is not an RFC 3339 time/);
    }
  });

  it('treat a time in the future as invalid (beyond a minute of clock skew)', () => {
    expect(parseTime('2026-11-29T12:00:30Z', NOW).t).toBeDefined();
    const r = parseTime('2026-11-29T13:00:00Z', NOW);
    expect(r.t).toBeUndefined();
    expect(r.invalid).toMatch(/in the future/);
  });

  it('a view lists the invalid ones and counts them as absent', () => {
    const v = viewOf(
      {
        metadata: {
          name: 'a',
          annotations: {
            [Annotations.phase]: 'draining',
            [Annotations.phaseSince]: '2099-01-01T00:00:00Z',
            [Annotations.lastFailureAt]: '-1',
          },
        },
      },
      NOW,
    );
    expect(v.phaseSince).toBeUndefined();
    expect(v.lastFailureAt).toBeUndefined();
    expect(Object.keys(v.invalidTimes ?? {}).sort()).toEqual(
      [Annotations.lastFailureAt, Annotations.phaseSince].sort(),
    );
  });

  it('a malformed phase is kept for the controller to clear, never taken as a phase', () => {
    const v = viewOf({ metadata: { name: 'a', annotations: { [Annotations.phase]: 'Approved' } } });
    expect(v.phase).toBeUndefined();
    expect(v.malformedPhase).toBe('Approved');
  });
});

describe('who wrote a field', () => {
  it('reads the manager from managedFields', () => {
    const node = {
      metadata: {
        managedFields: [
          { manager: 'kubelet', operation: 'Update', fieldsV1: { 'f:status': {} } },
          {
            manager: 'kubectl-annotate',
            operation: 'Update',
            time: '2026-11-29T10:00:00Z',
            fieldsV1: { 'f:metadata': { 'f:annotations': { [`f:${Annotations.phase}`]: {} } } },
          },
        ],
      },
    };
    const w = writerOf(node, annotationPath(Annotations.phase));
    expect(describeWriter(w)).toBe('kubectl-annotate (Update, 2026-11-29T10:00:00Z)');
    expect(writerOf(node, annotationPath(Annotations.approvedBootId))).toBeUndefined();
    expect(describeWriter(undefined)).toMatch(/unknown writer/);
  });
});

describe('orderly aborts before the reboot', () => {
  const base = viewOf({
    metadata: {
      name: 'a',
      annotations: { [Annotations.phaseSince]: '2026-11-29T11:59:00Z', [Annotations.bootId]: 'b1' },
    },
    spec: { unschedulable: true },
    status: {
      conditions: [
        { type: 'Ready', status: 'True' },
        { type: 'RebootRequired', status: 'True', reason: 'SentinelFilePresent' },
      ],
      nodeInfo: { bootID: 'b1' },
    },
  });
  const step = (over: Partial<typeof base>) =>
    nextStep(
      { node: { ...base, ...over }, finishing: false, drained: false, postGatesClear: true, now: NOW },
      cfg,
    );

  it('an exclusion after the approval withdraws it instead of halting the rollout', () => {
    const s = step({ phase: 'approved', approvedBootId: 'b1', excluded: true });
    expect(s).toEqual({
      kind: 'abort',
      why: expect.stringMatching(/excluded .* after its approval; reboot withdrawn/),
    });
    // Once the agent has started the reboot, it is completed, not aborted.
    expect(
      step({ phase: 'approved', approvedBootId: 'b1', rebootingFromBootId: 'b1', excluded: true }).kind,
    ).toBe('advance');
    expect(
      step({ phase: 'rebooting', approvedBootId: 'b1', rebootingFromBootId: 'b1', excluded: true }).kind,
    ).toBe('wait');
  });

  it('an exclusion or a vanished need stops a cordoned or draining node', () => {
    expect(step({ phase: 'cordoned', excluded: true }).kind).toBe('abort');
    expect(step({ phase: 'draining', required: 'False' }).kind).toBe('abort');
    expect(step({ phase: 'draining', required: undefined }).kind).toBe('abort');
    // A failed check (Unknown) is not "no longer needed".
    expect(step({ phase: 'draining', required: 'Unknown' }).kind).toBe('drain');
  });
});

describe('the alert verdict off the hot path', () => {
  const v = { perNode: new Map(), firing: [] as string[] };
  it('blocks until the first answer and when the last one is stale', () => {
    expect(verdictAt(undefined, NOW, 30_000).all).toMatch(/no alert verdict yet/);
    expect(verdictAt({ at: NOW - 10_000, v }, NOW, 30_000).all).toBeUndefined();
    expect(verdictAt({ at: NOW - 31_000, v }, NOW, 30_000).all).toMatch(
      /stale: last answer 31s ago \(limit 30s\)/,
    );
  });
});
