// Alert gates against a real Prometheus (1 s scrape and evaluation) and a real Alertmanager.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AlertFilter, parseMatchers } from '../../operator/alerts/filter.ts';
import { AlertGate } from '../../operator/alerts/gate.ts';
import { alertmanagerAlerts, prometheusAlerts, promqlGate } from '../../operator/alerts/sources.ts';
import { Exporter, PromStack } from '../../testkit/prom/prometheus.ts';
import { prometheusReleases } from '../../testkit/prom/releases.ts';
import { eventually } from './kube.ts';

const dir = mkdtempSync(join(tmpdir(), 'kreboot-prom-'));
const auth = { timeoutMs: 2000 };
const NODES = new Set(['node-a', 'node-b']);
const base: AlertFilter = { matchOnly: false, firingOnly: false, matchers: [], includeOwn: false };
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function until(
  g: AlertGate,
  pred: (v: Awaited<ReturnType<AlertGate['evaluate']>>) => boolean,
  what: string,
) {
  return eventually(
    what,
    async () => {
      const v = await g.evaluate(NODES);
      return pred(v) && v;
    },
    30_000,
    250,
  );
}

// Every Prometheus and Alertmanager release under test (the pinned 3.x build, and Debian's 2.x where installed).
for (const rel of prometheusReleases()) {
  describe(rel.name, () => {
    const exporter = new Exporter();
    let stack: PromStack;

    beforeAll(async () => {
      for (const k of ['critical', 'warning', 'pending', 'own']) exporter.set(`test_value{kind="${k}"}`, 0);
      exporter.set('test_node_broken{node="node-a"}', 0);
      await exporter.start();
      stack = new PromStack(join(dir, `stack-${rel.major}`), exporter.port, true, rel);
      await stack.start();
    });
    afterAll(async () => {
      await stack?.stop();
      await exporter.stop();
    });

    const gate = (filter: Partial<AlertFilter> = {}, promql: string[] = [], failOpen = false) =>
      new AlertGate({
        sources: [prometheusAlerts(stack.promUrl, auth)],
        promql: promql.map((e) => promqlGate(stack.promUrl, e, auth)),
        filter: { ...base, ...filter },
        failOpen,
      });

    describe('alert gates on a real Prometheus', () => {
      it('does not block without alerts; blocks on a firing alert, naming it; unblocks when it clears', async () => {
        const g = gate();
        await until(g, (v) => v.all === undefined, 'no alert');
        exporter.set('test_value{kind="critical"}', 1);
        const v = await until(g, (v) => v.all !== undefined, 'blocked');
        expect(v.all).toMatch(/alert TestCritical \(Prometheus http/);
        expect(v.firing.some((k) => k.startsWith('TestCritical{') && k.includes('severity="critical"'))).toBe(
          true,
        );
        exporter.set('test_value{kind="critical"}', 0);
        await until(g, (v) => v.all === undefined, 'cleared');
      });

      it('applies kured-style regexp filters and label matchers', async () => {
        exporter.set('test_value{kind="warning"}', 1);
        await until(gate(), (v) => /TestWarning/.test(v.all ?? ''), 'warning firing');
        expect((await gate({ regexp: /^TestWarning$/ }).evaluate(NODES)).all).toBeUndefined();
        expect(
          (await gate({ regexp: /^TestCritical$/, matchOnly: true }).evaluate(NODES)).all,
        ).toBeUndefined();
        expect((await gate({ regexp: /^TestWarning$/, matchOnly: true }).evaluate(NODES)).all).toMatch(
          /TestWarning/,
        );
        expect(
          (await gate({ matchers: parseMatchers('severity=~"critical"') }).evaluate(NODES)).all,
        ).toBeUndefined();
        expect(
          (await gate({ matchers: parseMatchers('severity=~"critical|warning"') }).evaluate(NODES)).all,
        ).toMatch(/TestWarning/);
        exporter.set('test_value{kind="warning"}', 0);
        await until(gate(), (v) => v.all === undefined, 'warning cleared');
      });

      it('counts a pending alert unless --alert-firing-only', async () => {
        exporter.set('test_value{kind="pending"}', 1);
        await until(gate(), (v) => /pending alert|TestPending/.test(v.all ?? ''), 'pending blocks');
        expect((await gate({ firingOnly: true }).evaluate(NODES)).all).toBeUndefined();
        exporter.set('test_value{kind="pending"}', 0);
        await until(gate(), (v) => v.all === undefined, 'pending cleared');
      });

      it('a node-scoped alert blocks only its node', async () => {
        exporter.set('test_node_broken{node="node-a"}', 1);
        const v = await until(gate({ nodeLabel: 'node' }), (v) => v.perNode.size > 0, 'node alert');
        expect(v.all).toBeUndefined();
        expect([...v.perNode.keys()]).toEqual(['node-a']);
        expect(v.perNode.get('node-a')).toMatch(/TestNodeBroken/);
        // Without a node label, the same alert blocks everything.
        expect((await gate().evaluate(NODES)).all).toMatch(/TestNodeBroken/);
        exporter.set('test_node_broken{node="node-a"}', 0);
        await until(gate({ nodeLabel: 'node' }), (v) => v.perNode.size === 0 && !v.all, 'node alert cleared');
      });

      it("ignores kreboot's own alerts unless asked", async () => {
        exporter.set('test_value{kind="own"}', 1);
        await until(
          gate({ includeOwn: true }),
          (v) => /KrebootRolloutHalted/.test(v.all ?? ''),
          'own alert firing',
        );
        expect((await gate().evaluate(NODES)).all).toBeUndefined();
        exporter.set('test_value{kind="own"}', 0);
      });

      it('blocks while a custom PromQL gate returns a result', async () => {
        const expr = 'test_value{kind="warning"} > 0';
        expect((await gate({}, [expr]).evaluate(NODES)).all).toBeUndefined();
        exporter.set('test_value{kind="warning"}', 1);
        const v = await until(gate({ regexp: /.*/ }, [expr]), (v) => v.all !== undefined, 'promql blocks');
        expect(v.all).toMatch(
          /PromQL gate "test_value\{kind=\\"warning\\"\} > 0" returned a non-empty result/,
        );
        exporter.set('test_value{kind="warning"}', 0);
        await until(gate({ regexp: /.*/ }, [expr]), (v) => v.all === undefined, 'promql clears');
      });

      it('fails closed while Prometheus is down, and opens again when it is back', async () => {
        await stack.stopPrometheus();
        const v = await gate().evaluate(NODES);
        expect(v.all).toMatch(/failed \(failing closed\)/);
        expect((await gate({}, [], true).evaluate(NODES)).all).toBeUndefined();
        await stack.start();
        await until(gate(), (v) => v.all === undefined, 'back');
      });
    });

    describe('Alertmanager', () => {
      it('a silenced alert does not block', async () => {
        // Only TestCritical counts here: alerts resolved by earlier tests may linger in Alertmanager until they expire.
        const g = new AlertGate({
          sources: [alertmanagerAlerts(stack.amUrl, auth)],
          promql: [],
          filter: { ...base, regexp: /^TestCritical$/, matchOnly: true },
          failOpen: false,
        });
        exporter.set('test_value{kind="critical"}', 1);
        await until(g, (v) => /TestCritical/.test(v.all ?? ''), 'alert reaches Alertmanager');
        const now = new Date();
        const res = await fetch(`${stack.amUrl}/api/v2/silences`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({
            matchers: [{ name: 'alertname', value: 'TestCritical', isRegex: false, isEqual: true }],
            startsAt: now.toISOString(),
            endsAt: new Date(now.getTime() + 3_600_000).toISOString(),
            createdBy: 'kreboot-test',
            comment: 'known issue',
          }),
        });
        expect(res.ok).toBe(true);
        await until(g, (v) => v.all === undefined, 'silenced');
        exporter.set('test_value{kind="critical"}', 0);
      });
    });
  });
}

describe('malformed answers', () => {
  let fake: Server;
  let url = '';
  let answer: (res: import('node:http').ServerResponse) => void = () => {};
  beforeAll(async () => {
    fake = createServer((_req, res) => answer(res));
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
    const a = fake.address();
    url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  });
  afterAll(() => new Promise<void>((r) => fake.close(() => r())));

  const cases: Array<[string, (res: import('node:http').ServerResponse) => void, RegExp]> = [
    ['garbage', (res) => res.writeHead(200).end('<html>oops</html>'), /not JSON/],
    ['empty', (res) => res.writeHead(200).end(''), /empty answer/],
    [
      'truncated',
      (res) => {
        res.writeHead(200, { 'Content-Length': '500' });
        res.write('{"status":"success","data":{"alerts":[{"labels":');
        setTimeout(() => res.destroy(), 50);
      },
      /truncated|cut off|not JSON|socket hang up|aborted/,
    ],
    [
      'wrong shape',
      (res) =>
        res.writeHead(200).end('{"status":"success","data":{"alerts":[{"labels":{},"state":"exploding"}]}}'),
      /unexpected answer at data\.alerts\.0\.state/,
    ],
    ['error status', (res) => res.writeHead(503).end('overloaded'), /HTTP 503: overloaded/],
    ['too slow', () => {}, /no complete answer within 300 ms \(--alert-timeout\)/],
    [
      'drip-fed (a byte at a time, never idle long enough for a socket timeout)',
      (res) => {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        const t = setInterval(() => (res.destroyed ? clearInterval(t) : res.write(' ')), 50);
        res.on('close', () => clearInterval(t));
      },
      /no complete answer within 300 ms/,
    ],
    [
      'a redirect whose body looks like an empty alert list',
      (res) =>
        res
          .writeHead(302, { Location: 'http://127.0.0.1:1/x' })
          .end('{"status":"success","data":{"alerts":[]}}'),
      /HTTP 302 redirect to http:\/\/127.0.0.1:1\/x: redirects are not followed/,
    ],
  ];
  for (const [name, fn, reason] of cases) {
    it(`${name}: blocked with a clear reason, no crash`, async () => {
      answer = fn;
      const g = new AlertGate({
        sources: [prometheusAlerts(url, { timeoutMs: 300 })],
        promql: [],
        filter: base,
        failOpen: false,
      });
      const v = await g.evaluate(NODES);
      expect(v.all).toMatch(/failed \(failing closed\)/);
      expect(v.all).toMatch(reason);
    });
  }
});

describe('credentials', () => {
  it('sends a bearer token or basic auth read from files, and names an unreadable file', async () => {
    let seen = '';
    const srv = createServer((req, res) => {
      seen = req.headers.authorization ?? '';
      res.writeHead(200).end('{"status":"success","data":{"alerts":[]}}');
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const a = srv.address();
    const url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
    const tokenFile = join(dir, 'token');
    const basicFile = join(dir, 'basic');
    writeFileSync(tokenFile, 's3cret\n');
    writeFileSync(basicFile, 'kreboot:pa55\n');
    try {
      await prometheusAlerts(url, { timeoutMs: 1000, bearerTokenFile: tokenFile }).fetch();
      expect(seen).toBe('Bearer s3cret');
      await prometheusAlerts(url, { timeoutMs: 1000, basicAuthFile: basicFile }).fetch();
      expect(seen).toBe(`Basic ${Buffer.from('kreboot:pa55').toString('base64')}`);
      await expect(
        prometheusAlerts(url, { timeoutMs: 1000, bearerTokenFile: join(dir, 'none') }).fetch(),
      ).rejects.toThrow(/cannot read credentials/);
    } finally {
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });
});
