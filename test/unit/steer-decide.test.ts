// The write commands' decisions: idempotent (the same command on the object it produced changes nothing),
// inverses undo each other, nothing to do is said (exit 0), and only the controller's key goes through break-glass.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applied, type Current, decideLock, decideNode } from '../../operator/cli/steer-decide.ts';
import { Annotations } from '../../operator/protocol.ts';

const who = {
  user: 'alice@example.com',
  reason: 'kernel CVE-2026-1234',
  now: Date.parse('2026-12-06T03:00:00Z'),
};
const keys = [
  Annotations.paused,
  Annotations.halted,
  Annotations.rebootRequested,
  Annotations.exclude,
  Annotations.outsideWindow,
  'other/x',
];
const annotations = fc.option(
  fc.dictionary(fc.constantFrom(...keys), fc.constantFrom('true', 'false', 'x', 'freeze (by bob)')),
  { nil: undefined },
);
const phase = fc.option(fc.constantFrom('cordoned', 'draining', 'rebooting'), { nil: undefined });
const lockCmd = fc.constantFrom('pause' as const, 'resume' as const, 'clear-halt' as const);
const nodeCmd = fc.constantFrom(
  'request' as const,
  'cancel' as const,
  'exclude' as const,
  'include' as const,
);

describe('write command decisions', () => {
  it('twice is once: on the object the first run produced, the second changes nothing and says so', () => {
    fc.assert(
      fc.property(lockCmd, annotations, (cmd, a) => {
        const cur: Current = { annotations: a };
        const d = decideLock(cmd, cur, who);
        const again = decideLock(cmd, applied(cur, d), who);
        expect(again.patch).toBeUndefined();
        expect(again.say).toMatch(/nothing changed/);
      }),
    );
    fc.assert(
      fc.property(nodeCmd, annotations, phase, fc.boolean(), (cmd, a, p, outside) => {
        const cur: Current = { annotations: a ?? {}, phase: p };
        const d = decideNode(cmd, 'n1', cur, who, outside);
        const again = decideNode(cmd, 'n1', applied(cur, d), who, outside);
        expect(again.patch).toBeUndefined();
        expect(again.say).toMatch(/^n1: .*nothing changed$/);
      }),
    );
  });

  it("inverse pairs undo each other's key and touch no other", () => {
    // request (with or without --outside-window) and cancel: cancel withdraws both of request's keys.
    const pairs = [
      ['request', 'cancel', [Annotations.rebootRequested, Annotations.outsideWindow]],
      ['exclude', 'include', [Annotations.exclude]],
    ] as const;
    fc.assert(
      fc.property(annotations, fc.boolean(), (a, outside) => {
        for (const [on, off, keys] of pairs) {
          const start: Current = { annotations: a ?? {} };
          const after = applied(start, decideNode(on, 'n', start, who, outside));
          const back = applied(after, decideNode(off, 'n', after, who));
          const rest = Object.fromEntries(
            Object.entries(start.annotations!).filter(([k]) => !(keys as readonly string[]).includes(k)),
          );
          expect(back.annotations).toEqual(rest);
        }
        const lock: Current = { annotations: a };
        const paused = applied(lock, decideLock('pause', lock, who));
        const resumed = applied(paused, decideLock('resume', paused, who));
        const { [Annotations.paused]: _p, ...others } = a ?? {};
        expect(resumed.annotations).toEqual(others);
      }),
    );
  });

  it('each change records who and why; only clear-halt needs the break-glass group', () => {
    const pause = decideLock('pause', { annotations: {} }, who);
    expect(pause.patch).toEqual({
      [Annotations.paused]: 'kernel CVE-2026-1234 (by alice@example.com at 2026-12-06T03:00:00.000Z)',
    });
    expect(pause.event).toBe('paused by alice@example.com at 2026-12-06T03:00:00.000Z: kernel CVE-2026-1234');
    expect(pause.breakGlass).toBeFalsy();
    // No lock yet (only crds/ and deploy/base installed): pause creates it.
    expect(decideLock('pause', { annotations: undefined }, who).create).toBe(true);
    const halted = { annotations: { [Annotations.halted]: 'node n7: did not come back within 10m' } };
    const clear = decideLock('clear-halt', halted, who);
    expect(clear).toMatchObject({ patch: { [Annotations.halted]: null }, breakGlass: true });
    expect(clear.say).toBe(
      'halt cleared: the rollout goes on (it had halted: node n7: did not come back within 10m)',
    );
    for (const cmd of ['request', 'cancel', 'exclude', 'include'] as const) {
      const d = decideNode(
        cmd,
        'n',
        {
          annotations: {
            [Annotations.rebootRequested]: 'x',
            [Annotations.exclude]: cmd === 'include' ? 'true' : 'false',
          },
        },
        who,
      );
      if (d.patch) expect(d.event).toContain('by alice@example.com');
      expect(d.breakGlass).toBeFalsy();
    }
  });

  it('says what a change does not do', () => {
    expect(decideLock('resume', { annotations: {} }, who).say).toBe('not paused; nothing changed');
    const excluded = { annotations: { [Annotations.exclude]: 'true' } };
    expect(decideNode('request', 'n3', excluded, who).note).toMatch(/excluded .* until `kreboot include n3`/);
    const inFlight = { annotations: { [Annotations.rebootRequested]: 'by bob' }, phase: 'draining' };
    expect(decideNode('cancel', 'n3', inFlight, who).note).toMatch(
      /already in phase draining: a reboot that has started finishes/,
    );
    expect(decideNode('exclude', 'n3', { annotations: {}, phase: 'rebooting' }, who).note).toMatch(
      /that reboot finishes/,
    );
    // A request value of "false" is no request (the agent reads it so).
    expect(
      decideNode('cancel', 'n3', { annotations: { [Annotations.rebootRequested]: 'false' } }, who).patch,
    ).toBeUndefined();
  });
});
