// The controller's slim pod and PDB copies decide exactly as the full objects do: drain filters (both policies),
// the blocking-pod selector and the PDB match, on a corpus of real pod shapes; and they are much smaller. Siblings
// share everything but their name, uid and deletion time. A slim Node reads the same to the planner and the writer.
import { describe, expect, it } from 'vitest';
import { classifyPod, type DrainPolicy } from '../../operator/controller/drain-filters.ts';
import type { NodeObject } from '../../operator/controller/observe.ts';
import { type SlimPod, slimNode, slimPdb, slimPod } from '../../operator/controller/slim.ts';
import { viewOf, writerOf } from '../../operator/domain/node.ts';
import { fromObject, matches, parseSelector } from '../../operator/kube/selector.ts';

const managedFields = [
  {
    manager: 'kube-controller-manager',
    operation: 'Update',
    apiVersion: 'v1',
    time: '2026-11-29T10:00:00Z',
    fieldsType: 'FieldsV1',
    fieldsV1: { 'f:metadata': { 'f:labels': {} } },
  },
  {
    manager: 'kubelet',
    operation: 'Update',
    subresource: 'status',
    apiVersion: 'v1',
    time: '2026-11-29T10:00:05Z',
    fieldsType: 'FieldsV1',
    fieldsV1: { 'f:status': { 'f:conditions': {} } },
  },
];
const container = (name: string) => ({
  name,
  image: `registry.example.com/${name}:1.2.3`,
  resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
  env: [{ name: 'LOG_LEVEL', value: 'info' }],
  volumeMounts: [
    { name: 'kube-api-access', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true },
  ],
});
function pod(
  name: string,
  o: {
    owner?: string;
    mirror?: boolean;
    emptyDir?: boolean;
    phase?: string;
    deleting?: boolean;
    labels?: Record<string, string>;
  } = {},
) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'apps',
      uid: `uid-${name}`,
      resourceVersion: '12345',
      labels: o.labels ?? { app: name.split('-')[0]!, 'pod-template-hash': '7d9f8' },
      annotations: {
        'kubectl.kubernetes.io/restartedAt': '2026-11-01T00:00:00Z',
        ...(o.mirror && { 'kubernetes.io/config.mirror': 'abc123' }),
      },
      ...(o.owner && {
        ownerReferences: [
          {
            apiVersion: 'apps/v1',
            kind: o.owner,
            name: `${name}-owner`,
            uid: 'u',
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      }),
      ...(o.deleting && { deletionTimestamp: '2026-11-29T10:10:00Z', deletionGracePeriodSeconds: 30 }),
      managedFields,
    },
    spec: {
      nodeName: 'node-1',
      containers: [container('app'), container('sidecar')],
      volumes: [
        { name: 'kube-api-access', projected: { sources: [{ serviceAccountToken: { path: 'token' } }] } },
        ...(o.emptyDir ? [{ name: 'cache', emptyDir: { sizeLimit: '1Gi' } }] : []),
        { name: 'config', configMap: { name: 'app-config' } },
      ],
      tolerations: [
        {
          key: 'node.kubernetes.io/not-ready',
          operator: 'Exists',
          effect: 'NoExecute',
          tolerationSeconds: 300,
        },
      ],
    },
    status: {
      phase: o.phase ?? 'Running',
      conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2026-11-29T10:00:05Z' }],
      containerStatuses: [
        {
          name: 'app',
          ready: true,
          restartCount: 0,
          image: 'x',
          imageID: 'sha256:abc',
          state: { running: { startedAt: '2026-11-29T10:00:04Z' } },
        },
      ],
      podIP: '10.244.1.7',
    },
  };
}

const corpus = [
  pod('log-shipper-x1', { owner: 'DaemonSet' }),
  pod('etcd-node-1', { mirror: true, owner: 'Node' }),
  pod('cache-5f-abc', { owner: 'ReplicaSet', emptyDir: true }),
  pod('debug', {}),
  pod('web-7d9f8-qq', { owner: 'ReplicaSet' }),
  pod('job-1-xyz', { owner: 'Job', phase: 'Succeeded' }),
  pod('web-7d9f8-zz', { owner: 'ReplicaSet', deleting: true }),
  pod('db-0', { owner: 'StatefulSet', emptyDir: true, labels: { app: 'db', critical: 'true' } }),
];
const policies: DrainPolicy[] = [
  { emptyDir: 'evict', unmanaged: 'evict' },
  { emptyDir: 'block', unmanaged: 'block' },
];

describe('slim copies', () => {
  it('drain filters decide the same on every pod shape and policy', () => {
    for (const p of corpus)
      for (const policy of policies)
        expect(classifyPod(slimPod(p as SlimPod), policy), p.metadata.name).toEqual(
          classifyPod(p as SlimPod, policy),
        );
  });

  it('selectors, PDB matching, node and phase read the same', () => {
    const sels = ['app=web', 'critical=true', 'app in (db,cache)', '!critical'].map(parseSelector);
    const pdb = {
      metadata: { name: 'web', namespace: 'apps', uid: 'u', generation: 3, managedFields },
      spec: { selector: { matchLabels: { app: 'web' } }, minAvailable: 2 },
      status: { disruptionsAllowed: 0, currentHealthy: 2, desiredHealthy: 2, expectedPods: 2 },
    };
    const slim = slimPdb(pdb);
    expect(slim.status?.disruptionsAllowed).toBe(0);
    for (const p of corpus) {
      const s = slimPod(p as SlimPod);
      for (const sel of sels) expect(matches(sel, s.metadata.labels)).toBe(matches(sel, p.metadata.labels));
      expect(matches(fromObject(slim.spec?.selector), s.metadata.labels)).toBe(
        matches(fromObject(pdb.spec.selector), p.metadata.labels),
      );
      expect([s.spec?.nodeName, s.status?.phase, s.metadata.namespace, s.metadata.deletionTimestamp]).toEqual(
        [p.spec.nodeName, p.status.phase, p.metadata.namespace, p.metadata.deletionTimestamp],
      );
    }
  });

  it('is a fraction of the full object', () => {
    const full = corpus.reduce((n, p) => n + JSON.stringify(p).length, 0);
    const slim = corpus.reduce((n, p) => n + JSON.stringify(slimPod(p as SlimPod)).length, 0);
    expect(slim / full).toBeLessThan(0.25);
  });
});

/** A kubelet-reported node as the API serves it: images, addresses, capacity, volumes, the full nodeInfo. */
function realNode(i: number, extra: { unschedulable?: boolean; phase?: string } = {}): NodeObject {
  return {
    metadata: {
      name: `worker-${i}`,
      uid: `uid-${i}`,
      resourceVersion: String(1000 + i),
      labels: { 'kubernetes.io/hostname': `worker-${i}`, 'topology.kubernetes.io/zone': `z${i % 3}` },
      annotations: {
        'node.alpha.kubernetes.io/ttl': '0',
        ...(extra.phase && {
          'kreboot.io/phase': extra.phase,
          'kreboot.io/phase-since': '2026-11-29T10:00:00Z',
        }),
      },
      managedFields: [
        {
          manager: 'kreboot-controller',
          operation: 'Update',
          time: '2026-11-29T10:00:00Z',
          fieldsV1: { 'f:spec': { 'f:unschedulable': {} } },
        },
        { manager: 'kubelet', operation: 'Update', subresource: 'status', fieldsV1: { 'f:status': {} } },
      ],
    },
    spec: {
      ...(extra.unschedulable && { unschedulable: true }),
      taints: [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }],
      podCIDR: '10.244.1.0/24',
      providerID: `aws:///eu-west-1a/i-${i}`,
    },
    status: {
      capacity: { cpu: '8', memory: '32Gi', pods: '110' },
      allocatable: { cpu: '7910m', memory: '30Gi', pods: '110' },
      conditions: [
        { type: 'Ready', status: 'True', reason: 'KubeletReady', lastTransitionTime: '2026-11-29T09:00:00Z' },
        {
          type: 'RebootRequired',
          status: 'True',
          reason: 'SentinelPresent',
          lastTransitionTime: '2026-11-29T09:30:00Z',
        },
      ],
      addresses: [{ type: 'InternalIP', address: `10.0.0.${i}` }],
      nodeInfo: { bootID: `boot-${i}`, kernelVersion: '6.1.0-28-cloud-amd64', kubeletVersion: 'v1.37.2' },
      images: Array.from({ length: 50 }, (_, k) => ({
        names: [
          `registry.example.com/team/app-${k}@sha256:${'a'.repeat(64)}`,
          `registry.example.com/team/app-${k}:1.${k}`,
        ],
        sizeBytes: 10_000_000 + k,
      })),
      volumesInUse: ['kubernetes.io/csi/ebs.csi.aws.com^vol-1'],
    },
  } as NodeObject;
}

describe('slim nodes', () => {
  it('the planner and the writer read the same, in a small part of the size', () => {
    const nodes = [
      realNode(1),
      realNode(2, { unschedulable: true, phase: 'draining' }),
      realNode(3, { phase: 'x' }),
    ];
    const now = Date.parse('2026-11-29T10:05:00Z');
    for (const n of nodes) {
      const s = slimNode(n);
      expect(viewOf(s, now)).toEqual(viewOf(n, now));
      expect(s.metadata.resourceVersion).toBe(n.metadata.resourceVersion);
      for (const path of [['f:spec', 'f:unschedulable'], ['f:status']])
        expect(writerOf(s, path)).toEqual(writerOf(n, path));
      expect(JSON.stringify(s).length / JSON.stringify(n).length).toBeLessThan(0.2);
    }
  });
});

describe('sharing between siblings', () => {
  it("a ReplicaSet's pods on one node share labels, owner, spec and status; each keeps its own name and uid", () => {
    const sibling = (name: string) => {
      const p = pod(name, { owner: 'ReplicaSet' });
      p.metadata.ownerReferences![0]!.name = 'web-7d9f8';
      return slimPod(p as SlimPod);
    };
    const [a, b] = [sibling('web-7d9f8-aa'), sibling('web-7d9f8-bb')];
    expect(a.metadata.labels).toBe(b.metadata.labels);
    expect(a.metadata.ownerReferences).toBe(b.metadata.ownerReferences);
    expect(a.spec).toBe(b.spec);
    expect(a.status).toBe(b.status);
    expect([a.metadata.name, b.metadata.name]).toEqual(['web-7d9f8-aa', 'web-7d9f8-bb']);
    expect(a.metadata.uid).not.toBe(b.metadata.uid);
    // Shared values cannot be changed through one pod.
    expect(Object.isFrozen(a.spec) && Object.isFrozen(a.metadata.ownerReferences![0])).toBe(true);
  });
});
