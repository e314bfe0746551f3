// deploy/base renders with kustomize, is accepted by the real API server (server-side dry run), and agrees with
// the code: the agent's Node flags and sentinel mount, the controller's flags.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { AGENT_NODE_FLAGS, DEFAULT_SENTINEL_FILE, HOST_RUN_MOUNT } from '../../operator/agent/config.ts';
import { CONTROLLER_NODE_FLAGS, controllerOptions } from '../../operator/controller/config.ts';

const kubeconfig = inject('kubeconfig');
const kubectl = (args: string[], input?: string) =>
  spawnSync('kubectl', ['--kubeconfig', kubeconfig, ...args], { encoding: 'utf8', input });

// biome-ignore lint/suspicious/noExplicitAny: rendered manifests are untyped YAML
type Obj = { kind: string; metadata: { name: string }; spec?: any };
let rendered = '';
let objs: Obj[] = [];

beforeAll(() => {
  const r = spawnSync('kubectl', ['kustomize', 'deploy/base'], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  rendered = r.stdout;
  objs = parseAllDocuments(rendered).map((d) => d.toJSON() as Obj);
  // Namespaced objects can be dry-run only into a namespace that exists.
  kubectl(['create', 'namespace', 'kreboot-system']);
});

const find = (kind: string, name: string) => objs.find((o) => o.kind === kind && o.metadata.name === name)!;

describe('deploy/base', () => {
  it('is accepted by the API server (kubectl apply --dry-run=server)', () => {
    const crd = kubectl(['apply', '--server-side', '-f', 'crds/maintenancewindows.kreboot.io.yaml']);
    expect(crd.status, crd.stderr).toBe(0);
    const r = kubectl(['apply', '--dry-run=server', '-f', '-'], rendered);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /daemonset.apps\/kreboot-agent (created|configured|unchanged) \(server dry run\)/,
    );
  });

  it('runs the agent with the Node flags its memory budget assumes, and mounts the sentinel where its default looks', () => {
    const ds = find('DaemonSet', 'kreboot-agent');
    const c = ds.spec.template.spec.containers[0];
    expect(c.command.slice(1, 1 + AGENT_NODE_FLAGS.length)).toEqual([...AGENT_NODE_FLAGS]);
    expect(c.volumeMounts).toContainEqual({ name: 'host-run', mountPath: HOST_RUN_MOUNT, readOnly: true });
    expect(DEFAULT_SENTINEL_FILE.startsWith(`${HOST_RUN_MOUNT}/`)).toBe(true);
    expect(ds.spec.template.spec.tolerations).toEqual([{ operator: 'Exists' }]);
    expect(ds.spec.template.spec.nodeSelector).toEqual({ 'kubernetes.io/os': 'linux' });
    expect(c.env).toContainEqual({
      name: 'KREBOOT_NODE_NAME',
      valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } },
    });
  });

  it('runs 2 controller replicas, non-root, read-only, no capabilities, with flags the controller knows', () => {
    const d = find('Deployment', 'kreboot-controller');
    expect(d.spec.replicas).toBe(2);
    const c = d.spec.template.spec.containers[0];
    expect(d.spec.template.spec.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(c.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    const known = new Set(Object.values(controllerOptions).map((o) => o.flag));
    for (const a of c.args as string[]) expect(known.has(a.slice(2).split('=')[0]!), a).toBe(true);
    // The Node flags its memory figures at 150,000 pods assume (BENCHMARKS.md, "Scale").
    expect(c.command).toEqual(['node', ...CONTROLLER_NODE_FLAGS, '/app/kreboot.mjs', 'controller']);
    expect(find('PodDisruptionBudget', 'kreboot-controller').spec.minAvailable).toBe(1);
  });

  it('uses the image of this version', () => {
    const version = JSON.parse(readFileSync('package.json', 'utf8')).version;
    const images = objs.flatMap((o) =>
      (o.spec?.template?.spec?.containers ?? []).map((c: { image: string }) => c.image),
    );
    expect(new Set(images)).toEqual(new Set([`ghcr.io/kreboot/kreboot:${version}`]));
  });

  it('e2e/kind (base + local image + signal method) renders and is accepted, unprivileged', () => {
    const r = spawnSync('kubectl', ['kustomize', 'e2e/kind'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const kind = parseAllDocuments(r.stdout).map((d) => d.toJSON() as Obj);
    const c = kind.find((o) => o.kind === 'DaemonSet')!.spec.template.spec.containers[0];
    expect(c.image).toBe('kreboot:dev');
    // The agent reads the boot ID the kind node's unit writes (its own /proc shows the host kernel's).
    expect(c.args).toEqual(['--reboot-method=signal', '--boot-id-file=/host/var/run/kreboot-boot-id']);
    expect(c.volumeMounts).toContainEqual({ name: 'host-run', mountPath: '/host/var/run', readOnly: true });
    expect(readFileSync('e2e/kind/fake-boot-id.service', 'utf8')).toContain('> /run/kreboot-boot-id &&');
    expect(c.securityContext.appArmorProfile).toEqual({ type: 'Unconfined' });
    expect(c.securityContext.privileged).toBeUndefined();
    expect(c.securityContext.capabilities).toEqual({ drop: ['ALL'] });
    const dry = kubectl(['apply', '--dry-run=server', '-f', '-'], r.stdout);
    expect(dry.status, dry.stderr).toBe(0);
    const script = readFileSync('e2e/kind/run.sh', 'utf8');
    expect(script).toContain('kubectl apply -f deploy/examples/maintenancewindow.yaml');
    expect(script).toContain('docker build -t kreboot:dev .');
  });
});
