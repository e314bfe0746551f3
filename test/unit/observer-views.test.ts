// The observer parses each version of a Node once, but every pass gets views of its own: a pass writes to its
// views (a phase's first-seen time, a release it made), and nothing of that may leak into the next pass. A new
// version of a Node is parsed again; a view whose times depend on the clock is parsed every time.
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { type NodeObject, Observer } from '../../operator/controller/observe.ts';
import type { KubeHttp } from '../../operator/kube/http.ts';
import { Annotations, Conditions } from '../../operator/protocol.ts';

const NOW = Date.parse('2026-12-06T10:00:00Z');

function node(name: string, annotations: Record<string, string> = {}): NodeObject {
  return {
    metadata: { name, uid: `uid-${name}`, resourceVersion: '1', annotations },
    spec: {},
    status: {
      conditions: [
        { type: 'Ready', status: 'True' },
        {
          type: Conditions.rebootRequired,
          status: 'True',
          reason: 'SentinelFilePresent',
          lastTransitionTime: '2026-12-06T09:00:00Z',
        },
      ],
      nodeInfo: { bootID: 'b1' },
    },
  } as NodeObject;
}

/** A KubeHttp that lists these nodes (and nothing else) and holds every watch open until aborted. */
function fakeHttp(nodes: NodeObject[]): KubeHttp {
  return {
    request: async (path: string) => ({
      metadata: { resourceVersion: '1' },
      items: path.startsWith('/api/v1/nodes') ? nodes : [],
    }),
    watch: (_path: string, _onEvent: unknown, opts: { signal?: AbortSignal }) =>
      new Promise<void>((resolve) => opts.signal?.addEventListener('abort', () => resolve())),
  } as unknown as KubeHttp;
}

const ctl = new AbortController();
afterAll(() => ctl.abort());

describe('Observer.views', () => {
  it('gives each pass its own views of the same parse, and parses again what depends on the clock', async () => {
    const future = new Date(NOW + 10 * 60_000).toISOString();
    const nodes = [
      node('a'),
      node('b', { [Annotations.phaseSince]: future, [Annotations.phase]: 'cordoned' }),
    ];
    const o = new Observer(
      fakeHttp(nodes),
      { nodes: '', windows: '' },
      'kreboot-system',
      () => {},
      pino({ level: 'silent' }),
    );
    await o.start(ctl.signal);

    const first = o.views(NOW);
    const a1 = first.find((v) => v.name === 'a')!;
    expect(a1.required).toBe('True');
    expect(a1.requiredSince).toBe(Date.parse('2026-12-06T09:00:00Z'));
    // A pass writes to its views…
    a1.phase = 'verifying';
    a1.unschedulable = true;
    const second = o.views(NOW);
    const a2 = second.find((v) => v.name === 'a')!;
    // …and the next pass does not see it.
    expect(a2).not.toBe(a1);
    expect([a2.phase, a2.unschedulable]).toEqual([undefined, false]);

    // b's phase-since is in the future: invalid now, valid once the clock passes it.
    const b1 = first.find((v) => v.name === 'b')!;
    expect(b1.phaseSince).toBeUndefined();
    expect(Object.keys(b1.invalidTimes ?? {})).toEqual([Annotations.phaseSince]);
    const later = o.views(NOW + 20 * 60_000).find((v) => v.name === 'b')!;
    expect(later.phaseSince).toBe(Date.parse(future));
    expect(later.invalidTimes).toEqual({});
  });
});
