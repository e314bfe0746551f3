import { describe, expect, it } from 'vitest';
import { classifyPod, type PodLike } from '../../operator/controller/drain-filters.ts';
import { parseLock } from '../../operator/controller/lock.ts';
import { fromObject, matches, parseSelector } from '../../operator/kube/selector.ts';
import { Annotations } from '../../operator/protocol.ts';

const owned = (kind: string): PodLike['metadata'] => ({
  name: 'p',
  namespace: 'ns',
  ownerReferences: [{ kind, name: 'o', controller: true }],
});

describe('drain filters', () => {
  const evictAll = { emptyDir: 'evict', unmanaged: 'evict' } as const;
  const blockAll = { emptyDir: 'block', unmanaged: 'block' } as const;

  it('skips DaemonSet, mirror and finished pods whatever the policy', () => {
    for (const policy of [evictAll, blockAll]) {
      expect(classifyPod({ metadata: owned('DaemonSet') }, policy).action).toBe('skip');
      expect(
        classifyPod({ metadata: { annotations: { 'kubernetes.io/config.mirror': 'x' } } }, policy).action,
      ).toBe('skip');
      expect(
        classifyPod({ metadata: owned('ReplicaSet'), status: { phase: 'Succeeded' } }, policy).action,
      ).toBe('skip');
    }
  });

  it('evicts managed pods; unmanaged and emptyDir pods follow their policy', () => {
    expect(classifyPod({ metadata: owned('ReplicaSet') }, blockAll)).toEqual({ action: 'evict' });
    expect(classifyPod({ metadata: { name: 'bare' } }, evictAll)).toMatchObject({
      action: 'evict',
      warning: expect.stringMatching(/no controller/),
    });
    expect(classifyPod({ metadata: { name: 'bare' } }, blockAll).action).toBe('block');
    const withEmptyDir: PodLike = {
      metadata: owned('StatefulSet'),
      spec: { volumes: [{ name: 'v', emptyDir: {} }] },
    };
    expect(classifyPod(withEmptyDir, evictAll)).toMatchObject({
      action: 'evict',
      warning: expect.stringMatching(/emptyDir/),
    });
    expect(classifyPod(withEmptyDir, blockAll).action).toBe('block');
    // A block anywhere wins over an evict.
    const bareEmptyDir: PodLike = {
      metadata: { name: 'b' },
      spec: { volumes: [{ name: 'v', emptyDir: {} }] },
    };
    expect(classifyPod(bareEmptyDir, { emptyDir: 'block', unmanaged: 'evict' }).action).toBe('block');
  });

  it("kured's drain options: a pod selector leaves the others in place; a pod terminating too long is not waited for", () => {
    const policy = { ...evictAll, podSelector: parseSelector('app!=critical') };
    const pod = (labels: Record<string, string>): PodLike => ({
      metadata: { ...owned('ReplicaSet'), labels },
    });
    expect(classifyPod(pod({ app: 'web' }), policy)).toEqual({ action: 'evict' });
    expect(classifyPod(pod({ app: 'critical' }), policy)).toEqual({
      action: 'skip',
      why: 'not matched by --drain-pod-selector: stays through the reboot',
    });
    // Not matched beats a block: a pod the selector leaves alone cannot hold the drain.
    expect(
      classifyPod(
        { metadata: { name: 'bare', labels: { app: 'critical' } } },
        { ...blockAll, podSelector: policy.podSelector },
      ).action,
    ).toBe('skip');
    const now = Date.parse('2026-12-06T08:00:00Z');
    const terminating = (agoMs: number): PodLike => ({
      metadata: { ...owned('ReplicaSet'), deletionTimestamp: new Date(now - agoMs).toISOString() },
    });
    const skipAfter = { ...evictAll, skipDeletingAfterMs: 60_000 };
    expect(classifyPod(terminating(61_000), skipAfter, now)).toEqual({
      action: 'skip',
      why: 'terminating for more than 60s (--skip-wait-for-delete-timeout)',
    });
    expect(classifyPod(terminating(59_000), skipAfter, now).action).toBe('evict'); // still waited for
    expect(classifyPod(terminating(3_600_000), evictAll, now).action).toBe('evict'); // 0: wait for every pod
  });
});

describe('label selectors', () => {
  it('parses the string syntax and matches like the API server', () => {
    const sel = parseSelector('app=web, tier!=db,env in (prod, stage),!legacy,team');
    expect(matches(sel, { app: 'web', env: 'prod', team: 'a' })).toBe(true);
    expect(matches(sel, { app: 'web', env: 'prod', team: 'a', tier: 'db' })).toBe(false);
    expect(matches(sel, { app: 'web', env: 'dev', team: 'a' })).toBe(false);
    expect(matches(sel, { app: 'web', env: 'prod', team: 'a', legacy: '' })).toBe(false);
    expect(matches(sel, { app: 'web', env: 'prod' })).toBe(false);
    expect(matches(parseSelector(''), {})).toBe(true);
    expect(matches(parseSelector('x notin (a)'), {})).toBe(true);
  });

  it('says what is wrong', () => {
    expect(() => parseSelector('app=we b')).toThrow(/cannot parse "app=we b"/);
    expect(() => parseSelector('env in ()')).toThrow(/needs at least one value/);
    expect(() => parseSelector('Bad Key=1')).toThrow(/cannot parse/);
    expect(() => parseSelector('a=-x')).toThrow(/"-x" is not a valid label value/);
  });

  it('reads the structured form', () => {
    const reqs = fromObject({
      matchLabels: { a: '1' },
      matchExpressions: [{ key: 'b', operator: 'Exists' }],
    });
    expect(matches(reqs, { a: '1', b: '' })).toBe(true);
    expect(matches(reqs, { a: '1' })).toBe(false);
    expect(() => fromObject({ matchExpressions: [{ key: 'b', operator: 'Near' }] })).toThrow(
      /unknown selector operator/,
    );
  });
});

describe('lock object', () => {
  const lease = (annotations: Record<string, string>) => ({
    metadata: { name: 'kreboot-lock', annotations },
    spec: {},
  });

  it('reads entries, pause and halt', () => {
    const s = parseLock(
      lease({
        [Annotations.lockEntries]: JSON.stringify([{ node: 'n1', uid: 'u', since: 't', holder: 'c0' }]),
        [Annotations.paused]: 'freeze',
      }),
    );
    expect(s.entries.map((e) => e.node)).toEqual(['n1']);
    expect(s.paused).toBe('freeze');
    expect(s.halted).toBeUndefined();
  });

  it('fails closed on a corrupt entries annotation', () => {
    const s = parseLock(lease({ [Annotations.lockEntries]: '[{"node": 5}]' }));
    expect(s.corrupt).toMatch(/is not valid/);
    expect(s.entries).toEqual([]);
  });
});
