// The Helm chart (helm built from its Go module): lints, renders the same objects as deploy/base, covers every
// flag, offers the "signal" reboot method without privilege, and its renders (and the prometheus-operator
// overlay's) are accepted by the real API server.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { agentOptions } from '../../operator/agent/config.ts';
import { parseOptions } from '../../operator/config/options.ts';
import { controllerOptions } from '../../operator/controller/config.ts';
import { CHART_OWNED } from '../../scripts/gen-deploy.ts';
import { helmBin, helmTemplate, helmTemplateResult, promOperatorCrds } from '../../testkit/tools/tools.ts';

const kubeconfig = inject('kubeconfig');
const kubectl = (args: string[], input?: string) =>
  spawnSync('kubectl', ['--kubeconfig', kubeconfig, ...args], { encoding: 'utf8', input });

type Obj = {
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: rendered manifests are untyped YAML
  [k: string]: any;
};
const docs = (yaml: string): Obj[] =>
  parseAllDocuments(yaml)
    .map((d) => d.toJSON() as Obj)
    .filter(Boolean);

const HELM_LABELS = ['app.kubernetes.io/instance', 'app.kubernetes.io/managed-by', 'helm.sh/chart'];
function normalize(o: Obj): Obj {
  const c = structuredClone(o);
  for (const l of HELM_LABELS) delete c.metadata.labels?.[l];
  if (c.metadata.labels && !Object.keys(c.metadata.labels).length) delete c.metadata.labels;
  // kustomize does not know these kinds are cluster-scoped and stamps its namespace on them; the API ignores it.
  if (c.kind.startsWith('ValidatingAdmissionPolicy')) delete c.metadata.namespace;
  return c;
}
const key = (o: Obj) => `${o.kind}/${o.metadata.name}`;

const containerArgs = (objs: Obj[], kind: string): string[] =>
  objs.find((o) => o.kind === kind)!.spec.template.spec.containers[0].args ?? [];

describe('Helm chart deploy/helm/kreboot', () => {
  beforeAll(() => {
    kubectl(['create', 'namespace', 'kreboot-system']);
  });

  it('passes helm lint', () => {
    const r = spawnSync(helmBin(), ['lint', 'deploy/helm/kreboot', '--kube-version', '1.37.2'], {
      encoding: 'utf8',
    });
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });

  it('renders the same objects as deploy/base with default values', () => {
    const helm = docs(helmTemplate(['--include-crds'])).map(normalize);
    const base = docs(execFileSync('kubectl', ['kustomize', 'deploy/base'], { encoding: 'utf8' }))
      .map(normalize)
      .filter(
        (o) => o.kind !== 'Namespace', // Helm installs into a namespace (--create-namespace), it does not own it
      );
    expect(helm.map(key).sort()).toEqual(base.map(key).sort());
    for (const b of base)
      expect(
        helm.find((h) => key(h) === key(b)),
        key(b),
      ).toEqual(b);
  });

  it('has a value for every flag, and renders each so that the program accepts it', () => {
    // A values file, as a person would write one: every config value set to its flag's example.
    const values: Record<string, { config: Record<string, string> }> = {};
    for (const [component, specs] of [
      ['agent', agentOptions],
      ['controller', controllerOptions],
    ] as const) {
      values[component] = { config: {} };
      for (const [k, s] of Object.entries(specs))
        if (!CHART_OWNED.has(k)) values[component].config[k] = s.example!;
    }
    const file = join(mkdtempSync(join(tmpdir(), 'kreboot-helm-')), 'values.yaml');
    writeFileSync(file, stringify(values));
    const objs = docs(helmTemplate(['-f', file]));
    for (const [kind, specs] of [
      ['DaemonSet', agentOptions],
      ['Deployment', controllerOptions],
    ] as const) {
      const args = containerArgs(objs, kind);
      const expected = Object.entries(specs).filter(([k]) => !CHART_OWNED.has(k));
      expect(args).toHaveLength(expected.length);
      for (const [, s] of expected) expect(args, s.flag).toContain(`--${s.flag}=${s.example}`);
      // The program's own parser takes every rendered flag (examples are valid values).
      const parsed = parseOptions(specs, args, { KREBOOT_NODE_NAME: 'n1' });
      expect(parsed.help).toBe(false);
    }
    // Metrics ports follow the value.
    const ds = objs.find((o) => o.kind === 'DaemonSet')!;
    expect(ds.spec.template.spec.containers[0].ports[0].containerPort).toBe(
      Number(agentOptions.metricsPort.example),
    );
  });

  it('offers the signal reboot method without a privileged container', () => {
    const ds = docs(helmTemplate(['--set', 'agent.rebootMethod=signal'])).find(
      (o) => o.kind === 'DaemonSet',
    )!;
    const pod = ds.spec.template.spec;
    const c = pod.containers[0];
    expect(pod.hostPID).toBe(true);
    expect(c.args).toContain('--reboot-method=signal');
    expect(c.securityContext.privileged).toBeUndefined();
    expect(c.securityContext).toMatchObject({
      runAsUser: 0,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      readOnlyRootFilesystem: true,
      // The runtime's default AppArmor profile refuses signals to unconfined PID 1 (the real-node test shows it).
      appArmorProfile: { type: 'Unconfined' },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    // The command method: privileged, and root (the image's user is 65532).
    const cmd = docs(helmTemplate([])).find((o) => o.kind === 'DaemonSet')!.spec.template.spec.containers[0];
    expect(cmd.securityContext).toMatchObject({ privileged: true, runAsUser: 0 });
    const bad = helmTemplateResult(['--set', 'agent.rebootMethod=sysrq']);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain('agent.rebootMethod: "sysrq" is not a reboot method; use command or signal');
  });

  it('mounts a Secret for the alert credential flags (CA, bearer token, basic auth) when asked', () => {
    const plain = docs(helmTemplate([])).find((o) => o.kind === 'Deployment')!.spec.template.spec;
    expect(plain.volumes).toBeUndefined();
    const set = [
      '--set',
      'controller.alertCredentials.secretName=prom-creds',
      '--set',
      'controller.config.alertCaFile=/etc/kreboot/alerts/ca.crt',
      '--set',
      'controller.config.alertBearerTokenFile=/etc/kreboot/alerts/token',
    ];
    const rendered = helmTemplate(set);
    const pod = docs(rendered).find((o) => o.kind === 'Deployment')!.spec.template.spec;
    expect(pod.volumes).toEqual([
      { name: 'alert-credentials', secret: { secretName: 'prom-creds', defaultMode: 0o400 } },
    ]);
    const c = pod.containers[0];
    expect(c.volumeMounts).toEqual([
      { name: 'alert-credentials', mountPath: '/etc/kreboot/alerts', readOnly: true },
    ]);
    expect(c.args).toEqual(
      expect.arrayContaining([
        '--alert-ca-file=/etc/kreboot/alerts/ca.crt',
        '--alert-bearer-token-file=/etc/kreboot/alerts/token',
      ]),
    );
    const r = kubectl(['apply', '--dry-run=server', '-f', '-'], rendered);
    expect(r.status, r.stderr).toBe(0);
  });

  it('renders are accepted by the API server, with and without the prometheus-operator objects', () => {
    const crds = kubectl(['apply', '--server-side', '-f', promOperatorCrds()]);
    expect(crds.status, crds.stderr).toBe(0);
    kubectl(['wait', '--for=condition=Established', '--timeout=60s', '-f', promOperatorCrds()]);
    kubectl(['apply', '--server-side', '-f', 'crds/maintenancewindows.kreboot.io.yaml']);
    for (const extra of [
      [],
      ['--set', 'monitoring.serviceMonitor=true,monitoring.podMonitor=true,monitoring.prometheusRule=true'],
    ]) {
      const r = kubectl(['apply', '--dry-run=server', '-f', '-'], helmTemplate(extra));
      expect(r.status, r.stderr).toBe(0);
    }
    const overlay = execFileSync('kubectl', ['kustomize', 'deploy/prometheus-operator'], {
      encoding: 'utf8',
    });
    const r = kubectl(['apply', '--dry-run=server', '-f', '-'], overlay);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /prometheusrule.monitoring.coreos.com\/kreboot (created|configured|unchanged) \(server dry run\)/,
    );
    expect(r.stdout).toMatch(
      /servicemonitor.monitoring.coreos.com\/kreboot-agent (created|configured|unchanged)/,
    );
  });

  it('ships the same alert rules in the chart and the overlay as deploy/monitoring', () => {
    const rules = readFileSync('deploy/monitoring/kreboot-rules.yml', 'utf8');
    const pr = docs(helmTemplate(['--set', 'monitoring.prometheusRule=true'])).find(
      (o) => o.kind === 'PrometheusRule',
    )!;
    expect(pr.spec).toEqual(parseAllDocuments(rules)[0]!.toJSON());
  });
});
