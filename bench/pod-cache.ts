// The controller's pod cache at the same pod count, full objects against slim copies: heap retained by a Map of
// N pods parsed from JSON (as a watch delivers them), after a full GC. The pod is a typical workload pod (two
// containers, managedFields, a projected token volume, status): about 3.5 KiB of JSON.
import { spawnSync } from 'node:child_process';
import { type SlimPod, slimPod } from '../operator/controller/slim.ts';

const N = Number(process.env.KREBOOT_POD_CACHE_N ?? 50_000);

function podJson(i: number): string {
  const c = (name: string) => ({
    name,
    image: `registry.example.com/team/${name}:1.2.${i % 10}`,
    resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
    env: [
      { name: 'LOG_LEVEL', value: 'info' },
      { name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    ],
    ports: [{ containerPort: 8080, protocol: 'TCP' }],
    volumeMounts: [
      { name: 'kube-api-access', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true },
    ],
  });
  return JSON.stringify({
    metadata: {
      name: `web-7d9f8-${i}`,
      namespace: `team-${i % 50}`,
      uid: `0f3c${i}-aaaa-bbbb-cccc-${i}`,
      resourceVersion: String(100000 + i),
      labels: { app: 'web', 'pod-template-hash': '7d9f8', tier: 'frontend' },
      annotations: { 'kubectl.kubernetes.io/restartedAt': '2026-11-01T00:00:00Z' },
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          name: 'web-7d9f8',
          uid: 'u',
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
      managedFields: [
        {
          manager: 'kube-controller-manager',
          operation: 'Update',
          apiVersion: 'v1',
          time: '2026-11-29T10:00:00Z',
          fieldsType: 'FieldsV1',
          fieldsV1: {
            'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} }, 'f:ownerReferences': {} },
            'f:spec': { 'f:containers': {} },
          },
        },
        {
          manager: 'kubelet',
          operation: 'Update',
          subresource: 'status',
          apiVersion: 'v1',
          time: '2026-11-29T10:00:05Z',
          fieldsType: 'FieldsV1',
          fieldsV1: { 'f:status': { 'f:conditions': {}, 'f:containerStatuses': {}, 'f:podIP': {} } },
        },
      ],
    },
    spec: {
      nodeName: `node-${i % 5000}`,
      containers: [c('app'), c('proxy')],
      volumes: [
        {
          name: 'kube-api-access',
          projected: {
            sources: [
              { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
              { configMap: { name: 'kube-root-ca.crt' } },
            ],
          },
        },
      ],
      tolerations: [
        {
          key: 'node.kubernetes.io/not-ready',
          operator: 'Exists',
          effect: 'NoExecute',
          tolerationSeconds: 300,
        },
      ],
      serviceAccountName: 'default',
      schedulerName: 'default-scheduler',
    },
    status: {
      phase: 'Running',
      conditions: [
        'PodReadyToStartContainers',
        'Initialized',
        'Ready',
        'ContainersReady',
        'PodScheduled',
      ].map((type) => ({ type, status: 'True', lastTransitionTime: '2026-11-29T10:00:05Z' })),
      containerStatuses: ['app', 'proxy'].map((name) => ({
        name,
        ready: true,
        restartCount: 0,
        started: true,
        image: 'x',
        imageID: 'sha256:0123456789abcdef',
        containerID: 'containerd://0123456789abcdef',
        state: { running: { startedAt: '2026-11-29T10:00:04Z' } },
      })),
      hostIP: '10.0.0.5',
      podIP: `10.244.${i % 250}.${i % 200}`,
      qosClass: 'Burstable',
      startTime: '2026-11-29T10:00:00Z',
    },
  });
}

function measure(slim: boolean): { mib: number; bytesJson: number } {
  const gc = (globalThis as { gc?: () => void }).gc!;
  gc();
  const before = process.memoryUsage().heapUsed;
  const cache = new Map<string, unknown>();
  let bytesJson = 0;
  for (let i = 0; i < N; i++) {
    const text = podJson(i);
    bytesJson += text.length;
    const p = JSON.parse(text) as SlimPod;
    cache.set(`${p.metadata.namespace}/${p.metadata.name}`, slim ? slimPod(p) : p);
  }
  gc();
  const mib = (process.memoryUsage().heapUsed - before) / 2 ** 20;
  if (cache.size !== N) throw new Error('lost pods');
  return { mib, bytesJson };
}

export async function benchPodCache(): Promise<string[]> {
  if (!(globalThis as { gc?: unknown }).gc) {
    const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', import.meta.filename], {
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(r.stderr);
    return r.stdout.trim().split('\n');
  }
  return [];
}

if (process.argv[1] === import.meta.filename) {
  const full = measure(false);
  const slim = measure(true);
  const kib = (mib: number) => ((mib * 1024) / N).toFixed(2);
  process.stdout.write(
    [
      `### the controller's pod cache at ${N.toLocaleString('en')} pods (heap retained after a full GC)`,
      '',
      '| pods kept as | heap MiB | KiB per pod |',
      '|---|---|---|',
      `| full objects (before) | ${full.mib.toFixed(1)} | ${kib(full.mib)} |`,
      `| slim copies (after) | ${slim.mib.toFixed(1)} | ${kib(slim.mib)} |`,
      '',
      `JSON per pod: ${(full.bytesJson / N / 1024).toFixed(2)} KiB; at 150,000 pods: ${((full.mib * 150_000) / N).toFixed(0)} MiB → ${((slim.mib * 150_000) / N).toFixed(0)} MiB.`,
      '',
    ].join('\n'),
  );
}
