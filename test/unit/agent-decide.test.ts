import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type CheckResult, currentCondition, decide } from '../../operator/agent/decide.ts';
import type { Condition, NodeLite } from '../../operator/kube/types.ts';
import { Annotations as A, Conditions, RebootRequiredReasons as R } from '../../operator/protocol.ts';

const now = new Date('2026-11-28T10:00:00Z');
const present: CheckResult = {
  kind: 'ok',
  required: true,
  source: 'file',
  detail: 'sentinel file /s is present',
};
const absent: CheckResult = {
  kind: 'ok',
  required: false,
  source: 'file',
  detail: 'sentinel file /s is absent',
};

function node(
  annotations: Record<string, string> = {},
  conditions: Condition[] = [],
  unschedulable = false,
): NodeLite {
  return { metadata: { name: 'n1', annotations }, spec: { unschedulable }, status: { conditions } };
}

/** A node as the controller leaves it when it approves: cordoned, phase approved, approval for `boot`. */
function approvedNode(boot: string, extra: Record<string, string> = {}): NodeLite {
  return node({ [A.phase]: 'approved', [A.approvedBootId]: boot, ...extra }, [], true);
}

/** Applies a decision to a node the way the API server would (merge patch + condition merge by type). */
function apply(n: NodeLite, d: ReturnType<typeof decide>): NodeLite {
  const annotations = { ...(n.metadata.annotations ?? {}) };
  for (const [k, v] of Object.entries(d.annotations)) {
    if (v === null) delete annotations[k];
    else annotations[k] = v;
  }
  const conditions = (n.status?.conditions ?? []).filter((c) => c.type !== d.condition?.type);
  if (d.condition) conditions.push(d.condition);
  return { metadata: { ...n.metadata, annotations }, spec: n.spec, status: { conditions } };
}

describe('agent decision', () => {
  it('reports a present sentinel as RebootRequired=True with the time it was first seen', () => {
    const d = decide({ node: node(), bootId: 'b1', check: present, now });
    expect(d.condition).toMatchObject({
      type: Conditions.rebootRequired,
      status: 'True',
      reason: R.sentinelFile,
    });
    expect(d.annotations).toEqual({ [A.bootId]: 'b1', [A.rebootRequiredSince]: now.toISOString() });
    expect(d.reboot).toBe(false);
  });

  it('is idempotent: deciding again on the result writes nothing', () => {
    for (const check of [present, absent, { kind: 'error', message: 'boom' } as CheckResult]) {
      const first = apply(node(), decide({ node: node(), bootId: 'b1', check, now }));
      const again = decide({ node: first, bootId: 'b1', check, now: new Date(now.getTime() + 60_000) });
      expect(again.annotations).toEqual({});
      expect(again.condition).toBeUndefined();
    }
  });

  it('re-asserts the condition when something erased it', () => {
    const reported = apply(node(), decide({ node: node(), bootId: 'b1', check: present, now }));
    const erased = { ...reported, status: { conditions: [] } };
    expect(decide({ node: erased, bootId: 'b1', check: present, now }).condition?.status).toBe('True');
  });

  it('clears the condition and the since-annotation when the sentinel goes away, keeping transition times honest', () => {
    const reported = apply(node(), decide({ node: node(), bootId: 'b1', check: present, now }));
    const later = new Date(now.getTime() + 5000);
    const d = decide({ node: reported, bootId: 'b1', check: absent, now: later });
    expect(d.condition).toMatchObject({
      status: 'False',
      reason: R.none,
      lastTransitionTime: later.toISOString(),
    });
    expect(d.annotations).toEqual({ [A.rebootRequiredSince]: null });
  });

  it('reports a failed check as Unknown and keeps the since-annotation', () => {
    const reported = apply(node(), decide({ node: node(), bootId: 'b1', check: present, now }));
    const d = decide({ node: reported, bootId: 'b1', check: { kind: 'error', message: 'exit 3' }, now });
    expect(d.condition).toMatchObject({ status: 'Unknown', reason: R.checkFailed, message: 'exit 3' });
    expect(d.annotations).toEqual({});
  });

  it('counts a manual request annotation as required', () => {
    const d = decide({ node: node({ [A.rebootRequested]: 'true' }), bootId: 'b1', check: absent, now });
    expect(d.condition).toMatchObject({ status: 'True', reason: R.manual });
    const off = decide({ node: node({ [A.rebootRequested]: 'false' }), bootId: 'b1', check: absent, now });
    expect(off.condition?.status).toBe('False');
  });

  it('reboots only when the approval names this boot, and never from the same boot twice', () => {
    const approvedOther = approvedNode('b0');
    expect(decide({ node: approvedOther, bootId: 'b1', check: present, now }).reboot).toBe(false);
    const approved = approvedNode('b1');
    expect(decide({ node: approved, bootId: 'b1', check: present, now }).reboot).toBe(true);
    const started = approvedNode('b1', { [A.rebootingFromBootId]: 'b1' });
    const d = decide({ node: started, bootId: 'b1', check: present, now });
    expect(d.reboot).toBe(false);
    expect(d.refusal).toMatch(/never twice/);
  });

  it('refuses an approved reboot on an excluded node', () => {
    const n = approvedNode('b1', { [A.exclude]: 'true' });
    expect(decide({ node: n, bootId: 'b1', check: present, now }).reboot).toBe(false);
  });

  it('refuses a copied approval: without the approved phase, or on a node that is not cordoned', () => {
    // The red team's one-liner: copy the node's own boot-id into approved-boot-id.
    const copied = node({ [A.bootId]: 'b1', [A.approvedBootId]: 'b1' });
    const d = decide({ node: copied, bootId: 'b1', check: present, now });
    expect(d.reboot).toBe(false);
    expect(d.refusal).toMatch(/without the controller's approved phase \(kreboot.io\/phase=none\)/);
    for (const phase of ['cordoned', 'draining', 'rebooting', 'verifying', 'bogus']) {
      const n = node({ [A.phase]: phase, [A.approvedBootId]: 'b1' }, [], true);
      expect(decide({ node: n, bootId: 'b1', check: present, now }).reboot, phase).toBe(false);
    }
    const uncordoned = node({ [A.phase]: 'approved', [A.approvedBootId]: 'b1' }, [], false);
    const u = decide({ node: uncordoned, bootId: 'b1', check: present, now });
    expect(u.reboot).toBe(false);
    expect(u.refusal).toMatch(/not cordoned/);
  });

  it('after the reboot: reports the new boot, fulfils a manual request, says when the sentinel survived', () => {
    const before = node({
      [A.approvedBootId]: 'b1',
      [A.rebootingFromBootId]: 'b1',
      [A.rebootRequested]: 'yes',
      [A.bootId]: 'b1',
    });
    const d = decide({ node: before, bootId: 'b2', check: present, now });
    expect(d.reboot).toBe(false);
    expect(d.annotations).toMatchObject({
      [A.bootId]: 'b2',
      [A.rebootRequested]: null,
      [A.stillRequiredAfterBoot]: 'b2',
    });
    expect(d.condition).toMatchObject({ status: 'True', reason: R.stillRequiredAfterReboot });
    // Fixed by the reboot: plain False, nothing sticky.
    const fixed = decide({ node: before, bootId: 'b2', check: absent, now });
    expect(fixed.condition?.status).toBe('False');
    expect(fixed.annotations[A.stillRequiredAfterBoot]).toBeUndefined();
  });

  it('drops its reboot record once the controller has withdrawn the approval', () => {
    const n = node({ [A.rebootingFromBootId]: 'b1', [A.bootId]: 'b2' });
    expect(decide({ node: n, bootId: 'b2', check: absent, now }).annotations).toEqual({
      [A.rebootingFromBootId]: null,
    });
  });

  it('property: over any history of observations, at most one reboot per boot ID, and only on approval', () => {
    const step = fc.record({
      check: fc.constantFrom<CheckResult | undefined>(
        present,
        absent,
        { kind: 'error', message: 'x' },
        undefined,
      ),
      approve: fc.constantFrom<string | null | undefined>('b1', 'b2', 'b3', null, undefined),
      newBoot: fc.boolean(),
      restart: fc.boolean(),
      manual: fc.boolean(),
      phase: fc.constantFrom<string | undefined>('approved', 'approved', 'draining', 'rebooting', undefined),
      cordoned: fc.boolean(),
    });
    let rebootsSeen = 0;
    let refusedUnsafe = 0;
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
        let n = node();
        let boot = 1;
        const rebootsPerBoot = new Map<string, number>();
        for (const s of steps) {
          const a = { ...(n.metadata.annotations ?? {}) };
          if (s.approve === null) delete a[A.approvedBootId];
          else if (s.approve !== undefined) a[A.approvedBootId] = s.approve;
          if (s.manual) a[A.rebootRequested] = 'true';
          if (s.phase === undefined) delete a[A.phase];
          else a[A.phase] = s.phase;
          n = { ...n, metadata: { ...n.metadata, annotations: a }, spec: { unschedulable: s.cordoned } };
          const bootId = `b${boot}`;
          const d = decide({ node: n, bootId, check: s.check, now });
          n = apply(n, d);
          const safe = s.phase === 'approved' && s.cordoned;
          if (!safe && a[A.approvedBootId] === bootId && a[A.rebootingFromBootId] !== bootId) refusedUnsafe++;
          if (d.reboot) {
            rebootsSeen++;
            // Only a cordoned node in the approved phase reboots.
            expect(safe).toBe(true);
            // What the agent does: record first, then reboot.
            expect(n.metadata.annotations?.[A.approvedBootId]).toBe(bootId);
            n = apply(n, {
              annotations: { [A.rebootingFromBootId]: bootId },
              condition: undefined,
              reboot: false,
            });
            rebootsPerBoot.set(bootId, (rebootsPerBoot.get(bootId) ?? 0) + 1);
            if (s.newBoot) boot++;
          } else if (s.newBoot && s.restart) {
            boot++; // an unrelated reboot (power loss): allowed, and not ours
          }
        }
        for (const count of rebootsPerBoot.values()) expect(count).toBe(1);
        // The condition always exists after the first decision, and its status is one of the three.
        if (steps.length) expect(['True', 'False', 'Unknown']).toContain(currentCondition(n)?.status);
      }),
      { numRuns: 500 },
    );
    // Coverage guard: the generator really produced both reboots and refused unsafe approvals.
    expect(rebootsSeen).toBeGreaterThan(50);
    expect(refusedUnsafe).toBeGreaterThan(50);
  });
});

describe('agent decision: the reboot record', () => {
  it('keeps the record in the same boot when the approval is withdrawn, so a re-approval cannot reboot twice', () => {
    const n = node({ [A.rebootingFromBootId]: 'b1', [A.bootId]: 'b1' });
    const d = decide({ node: n, bootId: 'b1', check: present, now });
    expect(d.annotations[A.rebootingFromBootId]).toBeUndefined();
    const again = decide({
      node: approvedNode('b1', n.metadata.annotations),
      bootId: 'b1',
      check: present,
      now,
    });
    expect(again.reboot).toBe(false);
  });
});
