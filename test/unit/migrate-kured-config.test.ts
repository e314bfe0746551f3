// kreboot migrate-kured on kured's whole configuration: the kured chart's default values, kured's own manifest, and
// three realistic configurations (test/fixtures/kured/, written from kured's documentation). Every flag given ends
// somewhere — an option, a window, a note, "kured's default" or an unsupported line — none silently.
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { flagsFromArgs, KURED_FLAGS, kuredSourceOf } from '../../operator/cli/migrate/kured-input.ts';
import { groupFlags, mapKured } from '../../operator/cli/migrate/kured-map.ts';

const fixture = (name: string) =>
  kuredSourceOf(parseAllDocuments(readFileSync(`test/fixtures/kured/${name}`, 'utf8')).map((d) => d.toJS()));

const unsupported = (c: ReturnType<typeof mapKured>) => c.unsupported.map((u) => u.flag).sort();

describe('migrate-kured: whole configurations', () => {
  it("the kured chart's default values (6.1.0): log format and concurrency carried, nothing unsupported", () => {
    const src = fixture('chart-6.1.0-values.yaml');
    expect(src.kind).toBe('helm-values');
    const c = mapKured(src.flags);
    expect(c.agent).toEqual({ logFormat: 'text' });
    expect(c.controller).toEqual({ logFormat: 'text', concurrency: 1 });
    expect(c.windows).toEqual([]);
    expect(c.unsupported).toEqual([]);
    expect(c.notes.join('\n')).toMatch(/--metrics-port=8080: kreboot's own ports/);
    // The chart renders rebootSentinel and rebootCommand (non-empty defaults), metricsPort and logFormat.
    expect([...c.disposition.keys()].sort()).toEqual([
      'concurrency',
      'log-format',
      'metrics-port',
      'reboot-command',
      'reboot-sentinel',
    ]);
  });

  it("kured's own manifest (kured-ds.yaml 1.23): the sentinel through the /sentinel mount is kreboot's default", () => {
    const src = fixture('kured-ds-1.23.yaml');
    expect(src).toMatchObject({ kind: 'daemonset', daemonSet: { namespace: 'kube-system', name: 'kured' } });
    expect(src.flags).toEqual([
      { name: 'reboot-sentinel', value: '/var/run/reboot-required', from: 'container kured args' },
    ]);
    const c = mapKured(src.flags);
    expect(c.disposition.get('reboot-sentinel')).toBe('kured default');
    expect(c.agent).toEqual({});
    expect(c.agentChart).toEqual({});
  });

  it('a production DaemonSet: windows, alerts, both blocking selectors, forced drains; lock-ttl and Slack reported', () => {
    const src = fixture('prod-weeknights-ds.yaml');
    const c = mapKured(src.flags);
    expect(c.agent).toEqual({ checkPeriod: '10m', logFormat: 'json' });
    expect(c.controller).toEqual({
      prometheusUrl: 'http://prometheus-operated.monitoring.svc:9090',
      alertFilterRegexp: '^(RebootRequired|Watchdog)$',
      alertFiringOnly: true,
      // kured allows the flag several times: all of them, joined the way kreboot's flag takes a list.
      blockingPodSelector: 'runtime=long,cost=expensive;name=temperamental',
      concurrency: 2,
      drainTimeout: '15m',
      drainTimeoutPolicy: 'force',
      soakTime: '5m',
      logFormat: 'json',
      notifyUrl: 'https://hooks.slack.com/services/T000/B000/XXXX',
    });
    // --reboot-days given twice: kured appends (mon,tue,wed + thu).
    expect(c.windows).toHaveLength(1);
    expect(c.windows[0]).toMatchObject({
      spec: { schedule: '* 0-3,22-23 * * 1,2,3,4', timeZone: 'Europe/Berlin' },
    });
    expect(unsupported(c)).toEqual(['lock-ttl']);
    expect(c.notes.join('\n')).toMatch(/notifyUrl holds webhook tokens: better in a Secret/);
    expect(c.unsupported.find((u) => u.flag === 'lock-ttl')!.reason).toMatch(/never expires by time/);
    // KURED_CONCURRENCY=5 loses to --concurrency=2, and says so.
    expect(src.notes.join('\n')).toMatch(
      /KURED_CONCURRENCY=5 is not used: --concurrency on the command line wins/,
    );
    for (const f of src.flags) expect(c.disposition.has(f.name), f.name).toBe(true);
  });

  it('chart values with the signal method, a weekend window, shoutrrr notifications and a message template (named)', () => {
    const src = fixture('signal-weekend-values.yaml');
    const c = mapKured(src.flags);
    expect(c.agentChart).toEqual({ rebootMethod: 'signal' });
    expect(c.agent).toEqual({
      sentinelCommand: 'sh -c "! needs-restarting --reboothint"',
      logFormat: 'text',
    });
    expect(c.controller).toEqual({
      drainGracePeriod: 120,
      drainPodSelector: 'app!=critical',
      drainTimeout: '30m',
      logFormat: 'text',
      concurrency: 1,
      skipWaitForDeleteTimeout: '60s',
      rebootDelay: '2m',
      preferNoScheduleTaint: 'weave.works/kured-node-reboot',
      notifyUrl: 'slack://xoxb:TOKEN@C0123',
    });
    expect(c.windows[0]).toMatchObject({ spec: { schedule: '* 1-4 * * 0,6', timeZone: 'America/New_York' } });
    expect(c.controller.preferNoScheduleTaint).toBe('weave.works/kured-node-reboot');
    expect(unsupported(c)).toEqual(['message-template-drain']);
    expect(c.unsupported[0]!.reason).toMatch(/--notify-template/);
    expect(c.disposition.get('reboot-signal')).toBe('kured default');
    expect(c.disposition.get('lock-ttl')).toBeUndefined(); // 0 is empty for the chart: not rendered, not a flag
  });

  it('a third DaemonSet: Tokyo weekends, three at a time, Teams, labels, a delay; only the message template refused', () => {
    const src = fixture('tokyo-teams-ds.yaml');
    expect(src.daemonSet).toEqual({ namespace: 'kured', name: 'kured' });
    const c = mapKured(src.flags);
    expect(c.agent).toEqual({
      checkPeriod: '30m',
      sentinelCommand: '/usr/bin/needs-restarting -r',
      logFormat: 'text',
    });
    expect(c.controller).toEqual({
      concurrency: 3,
      notifyUrl: 'teams://group@tenant/altid/owner?host=corp.webhook.office.com',
      preRebootNodeLabels: 'example.com/kured=rebooting',
      postRebootNodeLabels: 'example.com/kured=done',
      drainDelay: '1m',
      drainGracePeriod: 300,
      blockingPodSelector: 'app=etl',
      logFormat: 'text',
    });
    expect(c.windows.length).toBeGreaterThanOrEqual(1);
    expect(c.windows.every((w) => (w.spec as { timeZone: string }).timeZone === 'Asia/Tokyo')).toBe(true);
    expect(unsupported(c)).toEqual(['message-template-reboot']);
    expect(c.disposition.get('reboot-signal')).toBe('kured default');
    expect(c.disposition.get('lock-annotation')).toBe('note');
    for (const f of src.flags) expect(c.disposition.has(f.name), f.name).toBe(true);
  });

  it('flags on a command line: a custom reboot command, another signal, a misspelt flag, an unusable zone', () => {
    const c = mapKured(
      flagsFromArgs([
        '--reboot-command=/usr/bin/systemctl reboot --force',
        '--reboot-signal=15',
        '--reboot-dayz=mon',
        '--time-zone=Mars/Olympus',
        '--start-time=2am',
      ]),
    );
    expect(c.agent).toEqual({ rebootCommand: '/usr/bin/systemctl reboot --force' });
    expect(c.unsupported).toEqual([
      { flag: 'reboot-signal', reason: expect.stringMatching(/SIGRTMIN\+5 \(39\)/) },
      { flag: 'reboot-dayz', reason: 'not a flag of kured 1.23' },
      { flag: 'start-time', reason: expect.stringMatching(/--time-zone/) },
      { flag: 'time-zone', reason: expect.stringMatching(/Mars\/Olympus/) },
    ]);
  });
});

describe('migrate-kured: nothing dropped', () => {
  const sample: Record<string, fc.Arbitrary<string>> = {
    bool: fc.constantFrom('true', 'false'),
    int: fc.integer({ min: 0, max: 120 }).map(String),
    duration: fc.constantFrom('0', '0s', '90s', '5m', '1h'),
    string: fc.constantFrom('x', 'weave.works/kured-node-reboot', 'http://p:9090', 'text', 'json', 'signal'),
    slice: fc.constantFrom('mon,tue', 'sat', 'a=b,c=d'),
    array: fc.constantFrom('app=batch', 'tier in (db)'),
  };
  it('every flag given, any values, repeated or not: a disposition each, and an unsupported line for each refused', () => {
    const arbFlag = fc
      .constantFrom(...Object.keys(KURED_FLAGS))
      .chain((name) => sample[KURED_FLAGS[name]!]!.map((value) => `--${name}=${value}`));
    fc.assert(
      fc.property(fc.array(arbFlag, { maxLength: 30 }), (args) => {
        const flags = flagsFromArgs(args);
        const c = mapKured(flags);
        const names = new Set(flags.map((f) => f.name));
        expect(new Set(c.disposition.keys())).toEqual(names);
        for (const [name, d] of c.disposition)
          expect(d === 'unsupported', name).toBe(c.unsupported.some((u) => u.flag === name));
        // Repeated array flags are all kept.
        const selectors = groupFlags(flags).get('blocking-pod-selector') ?? [];
        if (selectors.length && c.controller.blockingPodSelector !== undefined)
          expect(String(c.controller.blockingPodSelector).split(';')).toEqual(selectors);
      }),
      { numRuns: 300 },
    );
  });
});
