// Notifications against real local HTTP receivers: each format (Slack, Teams, generic) as its service expects it,
// a receiver answering 500, one that hangs, one that is slow. Then the real controller rolling out 3 simulated nodes
// with those receivers configured: the rollout does not wait for any of them (it ends while the hanging receiver
// still has messages queued), and its makespan is printed next to the same rollout without notifications.
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { Notifier } from '../../operator/controller/notify/notifier.ts';
import type { RolloutEvent, Target } from '../../operator/controller/notify/targets.ts';
import { Metrics } from '../../operator/protocol.ts';
import { eventually } from './kube.ts';
import { Rollout } from './rollout.ts';

type Mode = 'ok' | 'fail-twice' | 'always-500' | 'hang' | 'slow';

class Receiver {
  readonly bodies: Array<{ path: string; body: unknown; auth?: string }> = [];
  requests = 0;
  private readonly server: Server;
  private readonly hanging: Array<() => void> = [];

  constructor(readonly mode: Mode) {
    this.server = createServer((req, res) => {
      let data = '';
      req.on('data', (c) => (data += c));
      req.on('end', () => {
        this.requests++;
        const n = this.requests;
        const record = () =>
          this.bodies.push({ path: req.url ?? '', body: JSON.parse(data), auth: req.headers.authorization });
        if (mode === 'hang') {
          this.hanging.push(() => res.destroy());
          return;
        }
        if (mode === 'always-500' || (mode === 'fail-twice' && n <= 2))
          return void res.writeHead(500).end('no');
        if (mode === 'slow')
          return void setTimeout(() => {
            record();
            res.writeHead(200).end('ok');
          }, 600); // slower than the others, within the notifier's deadline
        record();
        res.writeHead(200).end('ok');
      });
    });
  }

  async start(): Promise<this> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return this;
  }
  url(path = '/hook'): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}${path}`;
  }
  close(): void {
    for (const h of this.hanging) h();
    this.server.closeAllConnections();
    this.server.close();
  }
}

const receivers: Receiver[] = [];
const receiver = async (mode: Mode) => {
  const r = await new Receiver(mode).start();
  receivers.push(r);
  return r;
};
const root = mkdtempSync(join(tmpdir(), 'kreboot-notify-'));
afterAll(() => {
  for (const r of receivers) r.close();
  rmSync(root, { recursive: true, force: true });
});

const ev = (i: number): RolloutEvent => ({
  kind: i % 2 ? 'rebooted' : 'started',
  node: `n${i}`,
  message: `message ${i}`,
  time: Date.parse('2026-12-06T07:00:00Z') + i,
});

describe('the notifier against real receivers', () => {
  it('each format; retries a 500; gives up on a hang after its deadline; a bad receiver delays no other', async () => {
    const [slack, teams, generic, flaky, broken, hang, slow] = await Promise.all(
      (['ok', 'ok', 'ok', 'fail-twice', 'always-500', 'hang', 'slow'] as const).map(receiver),
    );
    const t = (kind: Target['kind'], r: Receiver, extra: Partial<Target> = {}): Target => ({
      kind,
      url: r.url(),
      label: `${kind} ${r.mode}`,
      ...extra,
    });
    const results: string[] = [];
    const n = new Notifier(
      [
        t('slack-webhook', slack!),
        t('teams', teams!),
        t('generic', generic!),
        t('generic', flaky!),
        t('generic', broken!),
        t('slack-api', hang!, { token: 'xoxb-1', channel: 'C1' }),
        t('generic', slow!),
      ],
      pino({ level: 'silent' }),
      {
        timeoutMs: 1000,
        backoffMs: 50,
        attempts: 3,
        template: '{"text":"{{message}}","node":"{{node}}"}',
        onResult: (target, r) => results.push(`${target.label} ${r}`),
      },
    );
    // Enqueued, not sent: notify() returns nothing to wait for, and right after it every message is still queued
    // or in flight on every receiver (3 × 7); the caller (a reconcile pass) goes on at once.
    for (let i = 0; i < 3; i++) expect(n.notify(ev(i))).toBeUndefined();
    expect(n.pending).toBe(21);

    await eventually('the good receivers have all three', async () =>
      [slack, teams, generic].every((r) => r!.bodies.length === 3),
    );
    // The hanging receiver has not even had its second message yet (each waits out the 1 s deadline, 3 tries).
    expect(hang!.requests).toBeLessThan(3);
    expect(slack!.bodies.map((b) => (b.body as { text: string }).text)).toEqual([
      ':arrows_counterclockwise: message 0',
      ':white_check_mark: message 1',
      ':arrows_counterclockwise: message 2',
    ]);
    const card = teams!.bodies[0]!.body as {
      attachments: Array<{ contentType: string; content: { body: Array<{ text: string }> } }>;
    };
    expect(card.attachments[0]!.contentType).toBe('application/vnd.microsoft.card.adaptive');
    expect(card.attachments[0]!.content.body[0]!.text).toBe('message 0');
    expect(generic!.bodies.map((b) => b.body)).toEqual([
      { text: 'message 0', node: 'n0' },
      { text: 'message 1', node: 'n1' },
      { text: 'message 2', node: 'n2' },
    ]);

    await eventually('flaky, broken, slow and hanging settled', async () => n.pending === 0, 30_000, 100);
    expect(flaky!.bodies).toHaveLength(3); // two 500s, retried
    expect(results.filter((r) => r === 'generic fail-twice retried')).toHaveLength(2);
    expect(broken!.requests).toBe(9); // 3 messages × 3 attempts, then given up
    expect(results.filter((r) => r === 'generic always-500 failed')).toHaveLength(3);
    expect(hang!.requests).toBe(9);
    expect(results.filter((r) => r === 'slack-api hang failed')).toHaveLength(3);
    expect(slow!.bodies).toHaveLength(3);
    n.close();
  }, 60_000);
});

/** A rollout of 3 nodes, one at a time; makespan (first cordon → last release) and the handoffs between nodes. */
async function rollout(args: string[]) {
  const r = await new Rollout({
    nodes: 3,
    root,
    controllers: 1,
    controllerArgs: ['--concurrency=1', ...args],
  }).start();
  try {
    for (const s of r.sims) {
      s.needReboot();
      await new Promise((res) => setTimeout(res, 1100));
    }
    await r.startControllers();
    await eventually('all three rebooted', async () => r.monitor.doneAt.size === 3, 120_000, 100);
    const started = [...r.monitor.startedAt.values()].sort((a, b) => a - b);
    const done = [...r.monitor.doneAt.values()].sort((a, b) => a - b);
    return {
      r,
      makespan: done[2]! - started[0]!,
      handoffs: [started[1]! - done[0]!, started[2]! - done[1]!],
      metrics: await r.metrics(),
    };
  } finally {
    await r.stop();
  }
}

describe('notifications never hold up a rollout', () => {
  it('3 nodes with a hanging, a failing and a slow receiver: done while the hanging one still waits', async () => {
    const [ok, hang, broken, slow] = await Promise.all(
      (['ok', 'hang', 'always-500', 'slow'] as const).map(receiver),
    );
    const baseline = await rollout([]);
    // The URLs from a file, as from a mounted Secret.
    const file = join(root, 'urls');
    writeFileSync(
      file,
      `# kreboot notification targets\n${[ok, hang, broken, slow].map((r) => `generic+http://${r!.url().slice('http://'.length)}`).join('\n')}\n`,
    );
    const withNotify = await rollout([`--notify-url-file=${file}`, '--notify-cluster-name=test']);
    // The hanging receiver gets each message after the last one's 10 s deadline (and retries): the rollout
    // finished long before it got them all, so it never waited on a notification.
    expect(hang!.requests).toBeLessThan(6);
    await eventually('the good receiver has every notification', async () => ok!.bodies.length === 6, 30_000);
    const kinds = ok!.bodies.map((b) => (b.body as { kind: string; cluster: string }).kind);
    expect(kinds.filter((k) => k === 'started')).toHaveLength(3);
    expect(kinds.filter((k) => k === 'rebooted')).toHaveLength(3);
    expect((ok!.bodies[0]!.body as { cluster: string }).cluster).toBe('test');
    expect(withNotify.metrics).toMatch(
      new RegExp(
        `${Metrics.notifications}\\{target="webhook \\(127\\.0\\.0\\.1:\\d+\\)",result="sent"\\} [1-9]`,
      ),
    );
    process.stdout.write(
      `notify: makespan without notifications ${(baseline.makespan / 1000).toFixed(2)} s (handoffs ${baseline.handoffs.map((h) => `${h} ms`).join(', ')}), ` +
        `with a hanging, a failing (500) and a slow receiver ${(withNotify.makespan / 1000).toFixed(2)} s (handoffs ${withNotify.handoffs.map((h) => `${h} ms`).join(', ')})\n`,
    );
  }, 300_000);
});
