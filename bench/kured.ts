// kured's agent measured with the agent bench's method (issue #17: "measure kured's too if you can build it"). kured
// is not served by the Go module proxy, so CI cannot build it; a binary built elsewhere from kured's source
// (KREBOOT_KURED_BIN) is run against the same quiet API server, idle, and its RSS sampled as the agent's is.
// kured only knows in-cluster credentials, so it runs in a mount namespace of its own with a tmpfs over /run that
// holds a service-account token (TokenRequest) and the CA; nothing on this machine is changed.
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { kubectl } from '../testkit/world/install.ts';

export interface KuredRun {
  child: ChildProcess;
  stop(): Promise<void>;
}

const ns = 'kube-system';

/**
 * kured 1.23's own install (kured-ds.yaml and kured-rbac.yaml of its repository) as one YAML stream: its service
 * account and RBAC, and its DaemonSet with `image` and its reboot command made harmless, plus `args`.
 */
export function kuredManifests(image: string, args: string[]): string {
  const manifests = [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'kured', namespace: ns } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'kured' },
      rules: [
        { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'patch'] },
        { apiGroups: [''], resources: ['pods'], verbs: ['list', 'delete', 'get'] },
        { apiGroups: ['apps'], resources: ['daemonsets'], verbs: ['get'] },
        { apiGroups: [''], resources: ['pods/eviction'], verbs: ['create'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'kured' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'kured' },
      subjects: [{ kind: 'ServiceAccount', name: 'kured', namespace: ns }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'kured', namespace: ns },
      rules: [
        { apiGroups: ['apps'], resources: ['daemonsets'], resourceNames: ['kured'], verbs: ['update'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'kured', namespace: ns },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'kured' },
      subjects: [{ kind: 'ServiceAccount', name: 'kured', namespace: ns }],
    },
    {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: 'kured', namespace: ns },
      spec: {
        selector: { matchLabels: { name: 'kured' } },
        template: {
          metadata: { labels: { name: 'kured' } },
          spec: {
            serviceAccountName: 'kured',
            hostPID: true,
            volumes: [{ name: 'sentinel', hostPath: { path: '/var/run', type: 'Directory' } }],
            containers: [
              {
                name: 'kured',
                image,
                imagePullPolicy: 'Never',
                securityContext: { privileged: true, readOnlyRootFilesystem: true },
                env: [{ name: 'KURED_NODE_ID', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }],
                volumeMounts: [{ mountPath: '/sentinel', name: 'sentinel', readOnly: true }],
                command: ['/usr/bin/kured', '--reboot-command=/bin/true', ...args],
              },
            ],
          },
        },
      },
    },
  ];
  return manifests.map((m) => stringify(m)).join('---\n');
}

/** Starts kured as its DaemonSet would run it on `nodeName` (check period 1 h, harmless reboot command). */
export async function startKured(opts: {
  bin: string;
  kubeconfig: string;
  server: string;
  caFile: string;
  dir: string;
  nodeName: string;
  metricsPort: number;
}): Promise<KuredRun> {
  // Objects only on the bench's quiet API server (no controllers there): the lock's DaemonSet and kured's RBAC.
  await kubectl(opts.kubeconfig, ['apply', '-f', '-'], kuredManifests('kreboot.test/kured:1', []));
  const jwt = (
    await kubectl(opts.kubeconfig, ['create', 'token', 'kured', '-n', ns, '--duration=1h'])
  ).trim();
  const sa = join(opts.dir, 'sa');
  mkdirSync(sa, { recursive: true });
  writeFileSync(join(sa, 'token'), jwt);
  writeFileSync(join(sa, 'namespace'), ns);
  copyFileSync(opts.caFile, join(sa, 'ca.crt'));
  const url = new URL(opts.server);
  const script = [
    'set -e',
    'mount -t tmpfs kured-run /run',
    'mkdir -p /run/secrets/kubernetes.io/serviceaccount',
    `cp ${sa}/* /run/secrets/kubernetes.io/serviceaccount/`,
    `exec "$0" --node-id=${opts.nodeName} --period=1h --reboot-command=/bin/true --metrics-host=127.0.0.1 --metrics-port=${opts.metricsPort} --reboot-sentinel=/run/reboot-required`,
  ].join('\n');
  const child = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, opts.bin], {
    env: { PATH: process.env.PATH, KUBERNETES_SERVICE_HOST: url.hostname, KUBERNETES_SERVICE_PORT: url.port },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr!.on('data', (d: Buffer) => {
    log = (log + d.toString()).slice(-4000);
  });
  // kured is ready when its metrics answer (it serves them last, after its client is built).
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`kured exited ${child.exitCode}: ${log}`);
    try {
      const r = await fetch(`http://127.0.0.1:${opts.metricsPort}/metrics`);
      if (r.ok) break;
    } catch {}
    if (Date.now() > deadline) throw new Error(`kured did not serve metrics within 30 s: ${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    child,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
