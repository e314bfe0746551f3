// kured's agent measured with the agent bench's method (issue #17: "measure kured's too if you can build it"). kured
// is not served by the Go module proxy, so CI cannot build it; a binary built elsewhere from kured's source
// (KREBOOT_KURED_BIN) is run against the same quiet API server, idle, and its RSS sampled as the agent's is.
// kured only knows in-cluster credentials, so it runs in a mount namespace of its own with a tmpfs over /run that
// holds a service-account token (TokenRequest) and the CA; nothing on this machine is changed.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, type KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node';

export interface KuredRun {
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts kured as its DaemonSet would run it on `nodeName` (check period 1 h, harmless reboot command). */
export async function startKured(opts: {
  bin: string;
  kc: KubeConfig;
  server: string;
  caFile: string;
  dir: string;
  nodeName: string;
  metricsPort: number;
}): Promise<KuredRun> {
  const core = opts.kc.makeApiClient(CoreV1Api);
  const ns = 'kube-system';
  await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'kured' } } });
  // kured's own ClusterRole is narrower; authorization is not what is measured, so cluster-admin keeps this short.
  await opts.kc.makeApiClient(RbacAuthorizationV1Api).createClusterRoleBinding({
    body: {
      metadata: { name: 'bench-kured' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: [{ kind: 'ServiceAccount', name: 'kured', namespace: ns }],
    },
  });
  // The DaemonSet kured keeps its lock on (no controller-manager here: it is only an object).
  await opts.kc.makeApiClient(AppsV1Api).createNamespacedDaemonSet({
    namespace: ns,
    body: {
      metadata: { name: 'kured' },
      spec: {
        selector: { matchLabels: { name: 'kured' } },
        template: {
          metadata: { labels: { name: 'kured' } },
          spec: { containers: [{ name: 'kured', image: 'ghcr.io/kubereboot/kured:1.23.0' }] },
        },
      },
    },
  });
  const token = await core.createNamespacedServiceAccountToken({
    name: 'kured',
    namespace: ns,
    body: { spec: { expirationSeconds: 3600 } },
  });
  const sa = join(opts.dir, 'sa');
  mkdirSync(sa, { recursive: true });
  const jwt = token.status?.token;
  if (!jwt) throw new Error('TokenRequest for kube-system/kured returned no token');
  writeFileSync(join(sa, 'token'), jwt);
  writeFileSync(join(sa, 'namespace'), ns);
  execFileSync('cp', [opts.caFile, join(sa, 'ca.crt')]);
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
