// kreboot migrate-kured round trips: the built CLI converts each kured configuration in test/fixtures/kured/; its
// Helm values render through kreboot's chart (helm built from its Go module) into flags kreboot's own parsers take
// with the converted values; its kustomize overlay builds over deploy/base (kubectl kustomize) into the same
// flags; its MaintenanceWindows are accepted by the API server (dry run); stderr has one line per unsupported flag.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { agentOptions } from '../../operator/agent/config.ts';
import { parseOptions } from '../../operator/config/options.ts';
import { controllerOptions } from '../../operator/controller/config.ts';
import { KREBOOT_BUNDLE, NODE_BIN } from '../../testkit/sim/agent-process.ts';
import { helmTemplate } from '../../testkit/tools/tools.ts';
import { applyWindowCrd, kubectlSync } from './kube.ts';

const kubeconfig = inject('kubeconfig');
const root = mkdtempSync(join(tmpdir(), 'kreboot-migrate-'));
beforeAll(() => applyWindowCrd(kubeconfig));
afterAll(() => rmSync(root, { recursive: true, force: true }));

// biome-ignore lint/suspicious/noExplicitAny: rendered manifests are untyped YAML
type Obj = Record<string, any>;
const docsOf = (yaml: string): Obj[] =>
  parseAllDocuments(yaml)
    .map((d) => d.toJS() as Obj)
    .filter(Boolean);

function migrate(args: string[], input?: string) {
  const r = spawnSync(NODE_BIN, [KREBOOT_BUNDLE, 'migrate-kured', ...args], { encoding: 'utf8', input });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** The agent's and the controller's args in rendered manifests, parsed by the programs' own option parsers. */
function parsedArgs(objs: Obj[]) {
  const args = (kind: string) =>
    (objs.find((o) => o.kind === kind)!.spec.template.spec.containers[0].args ?? []) as string[];
  return {
    agent: parseOptions(agentOptions, args('DaemonSet'), { KREBOOT_NODE_NAME: 'n1' }).values,
    controller: parseOptions(controllerOptions, args('Deployment'), {}).values,
    agentArgs: args('DaemonSet'),
  };
}

const FIXTURES = [
  'chart-6.1.0-values.yaml',
  'kured-ds-1.23.yaml',
  'prod-weeknights-ds.yaml',
  'signal-weekend-values.yaml',
  'tokyo-teams-ds.yaml',
] as const;

describe('kreboot migrate-kured -f FILE', () => {
  for (const f of FIXTURES) {
    it(`${f}: Helm values render into flags kreboot takes; windows accepted; unsupported flags on stderr`, () => {
      const res = migrate(['-f', `test/fixtures/kured/${f}`]);
      expect(res.code, res.err).toBe(0);
      for (const line of res.err.split('\n').filter(Boolean))
        expect(line).toMatch(/^kured flag --[a-z][a-z-]*: unsupported: \S.*$/);
      const [values, ...windows] = docsOf(res.out);
      const valuesFile = join(root, `${f}.values.yaml`);
      writeFileSync(valuesFile, stringify(values));
      const rendered = parsedArgs(docsOf(helmTemplate(['-f', valuesFile])));
      // What the converted values mean to kreboot, straight from its option tables, against what the chart renders.
      for (const [which, specs] of [
        ['agent', agentOptions],
        ['controller', controllerOptions],
      ] as const) {
        const config: Obj = values?.[which]?.config ?? {};
        const direct = Object.entries(config).map(
          ([k, v]) => `--${(specs as Record<string, { flag: string }>)[k]!.flag}=${String(v)}`,
        );
        const expected = parseOptions(specs, direct, { KREBOOT_NODE_NAME: 'n1' }).values as Obj;
        for (const k of Object.keys(config))
          expect((rendered[which] as Obj)[k], `${which}.${k}`).toEqual(expected[k]);
      }
      if (values?.agent?.rebootMethod) expect(rendered.agent.rebootMethod).toBe(values.agent.rebootMethod);
      for (const w of windows) {
        expect(w.kind).toBe('MaintenanceWindow');
        const applied = kubectlSync(kubeconfig, ['apply', '--dry-run=server', '-f', '-'], JSON.stringify(w));
        expect(applied.status, applied.stderr).toBe(0);
      }
    });
  }

  it('-o kustomize: the overlay builds over deploy/base into the same flags', () => {
    const res = migrate(['-f', 'test/fixtures/kured/prod-weeknights-ds.yaml', '-o', 'kustomize']);
    expect(res.code, res.err).toBe(0);
    const [kust, ...windows] = docsOf(res.out);
    expect(kust).toMatchObject({ kind: 'Kustomization' });
    // The overlay as a user keeps it, with the repo's deploy/base where the published one would be.
    // deploy/base names ../../crds: the same layout under the temporary directory.
    const dir = join(root, 'deploy', 'overlay');
    cpSync(resolve('deploy/base'), join(root, 'deploy', 'base'), { recursive: true });
    cpSync(resolve('crds'), join(root, 'crds'), { recursive: true });
    mkdirSync(dir);
    kust!.resources = kust!.resources.map((r: string) => (r.startsWith('github.com/') ? '../base' : r));
    writeFileSync(join(dir, 'kustomization.yaml'), stringify(kust));
    writeFileSync(join(dir, 'maintenancewindows.yaml'), windows.map((w) => stringify(w)).join('---\n'));
    const built = kubectlSync(kubeconfig, ['kustomize', dir]);
    expect(built.status, built.stderr).toBe(0);
    const objs = docsOf(built.stdout);
    const { agent, controller } = parsedArgs(objs);
    expect(agent.checkPeriod).toBe(600_000);
    expect(agent.logFormat).toBe('json');
    expect(controller).toMatchObject({
      concurrency: 2,
      drainTimeout: 900_000,
      drainTimeoutPolicy: 'force',
      soakTime: 300_000,
      prometheusUrl: 'http://prometheus-operated.monitoring.svc:9090',
      blockingPodSelector: ['runtime=long,cost=expensive', 'name=temperamental'],
    });
    expect(objs.filter((o) => o.kind === 'MaintenanceWindow')).toHaveLength(1);
  });

  it('-f - reads stdin; kured flags after --; bad input named with the fix, exit 2', () => {
    const fromStdin = migrate(['-f', '-'], 'configuration:\n  concurrency: 3\n  rebootDays: [mon]\n');
    expect(fromStdin.code, fromStdin.err).toBe(0);
    expect(docsOf(fromStdin.out)[0]).toEqual({ controller: { config: { concurrency: 3 } } });
    const flags = migrate([
      '--',
      '--reboot-days=mon,tue',
      '--start-time=22:00',
      '--end-time=04:00',
      '--time-zone=Europe/Berlin',
    ]);
    expect(flags.code, flags.err).toBe(0);
    expect(flags.out).toContain('schedule: "* 0-3,22-23 * * 1,2"');
    const none = migrate([]);
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/nothing to convert: give -f FILE/);
    const notKured = migrate(['-f', '-'], 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n');
    expect(notKured.code).toBe(2);
    expect(notKured.err).toMatch(
      /no kured configuration found \(documents: ConfigMap\): give a kured DaemonSet manifest/,
    );
    const notYaml = migrate(['-f', '-'], 'a: [\n');
    expect(notYaml.code).toBe(2);
    expect(notYaml.err).toMatch(/--file -: not YAML/);
  });
});
