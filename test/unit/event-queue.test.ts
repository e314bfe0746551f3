// The controller's Event queue: the same Event within 60 s is written once, writes are rate limited (token
// bucket), the queue is bounded, and every drop is counted by why.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ApiEventSink } from '../../operator/controller/events.ts';
import type { KubeHttp } from '../../operator/kube/http.ts';

function sink(now: () => number, o: { perSecond?: number; burst?: number; maxQueued?: number } = {}) {
  const posts: Array<{
    path: string;
    body: { reason: string; note: string; metadata: { namespace: string } };
  }> = [];
  const drops: string[] = [];
  const http = {
    request: async (path: string, init: { body: never }) => {
      posts.push({ path, body: init.body });
      return {};
    },
  } as unknown as KubeHttp;
  const s = new ApiEventSink(http, 'test', pino({ level: 'silent' }), {
    ...o,
    now,
    onDrop: (w) => drops.push(w),
  });
  return { s, posts, drops };
}

const node = (name: string) => ({ name, uid: `u-${name}` });

describe('ApiEventSink', () => {
  it('drops a duplicate within 60 s and writes it again after', () => {
    let t = 0;
    const { s, posts, drops } = sink(() => t);
    s.emit(node('a'), 'Warning', 'WriteRejected', 'same');
    s.emit(node('a'), 'Warning', 'WriteRejected', 'same');
    s.emit(node('a'), 'Warning', 'WriteRejected', 'other note');
    s.emit(node('b'), 'Warning', 'WriteRejected', 'same');
    expect(posts).toHaveLength(3);
    expect(drops).toEqual(['duplicate']);
    t = 60_001;
    s.emit(node('a'), 'Warning', 'WriteRejected', 'same');
    expect(posts).toHaveLength(4);
  });

  it('the same step of the next reboot (a new boot) within 60 s is written: it is news, not a retry', () => {
    const t = 0;
    const { s, posts, drops } = sink(() => t);
    s.emit({ ...node('a'), bootId: 'boot-1' }, 'Normal', 'Cordoned', 'cordoned for a reboot');
    s.emit({ ...node('a'), bootId: 'boot-1' }, 'Normal', 'Cordoned', 'cordoned for a reboot');
    s.emit({ ...node('a'), bootId: 'boot-2' }, 'Normal', 'Cordoned', 'cordoned for a reboot');
    expect(posts).toHaveLength(2);
    expect(drops).toEqual(['duplicate']);
  });

  it('writes a burst at once, then at the rate; a full queue drops and counts', async () => {
    let t = 0;
    const { s, posts, drops } = sink(() => t, { perSecond: 10, burst: 3, maxQueued: 5 });
    for (let i = 0; i < 10; i++) s.emit(node(`n${i}`), 'Normal', 'Cordoned', 'cordoned for a reboot');
    expect(posts).toHaveLength(3);
    expect(s.queued).toBe(5);
    expect(drops).toEqual(['rate', 'rate']);
    t = 300; // 3 tokens more
    await new Promise((r) => setTimeout(r, 150));
    expect(posts.length).toBeGreaterThanOrEqual(6);
    expect(posts.length).toBeLessThanOrEqual(8);
  });

  it('an Event about a namespaced object goes to its namespace', () => {
    const { s, posts } = sink(() => 0);
    s.emitFor(
      {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        name: 'kreboot-lock',
        namespace: 'kreboot-system',
        uid: 'u',
      },
      'Warning',
      'WriteRejected',
      'x',
    );
    s.emit(node('a'), 'Normal', 'Cordoned', 'y');
    expect(posts.map((p) => [p.path, p.body.metadata.namespace])).toEqual([
      ['/apis/events.k8s.io/v1/namespaces/kreboot-system/events', 'kreboot-system'],
      ['/apis/events.k8s.io/v1/namespaces/default/events', 'default'],
    ]);
  });
});
