// Simulated nodes: a Node object carrying kwok's annotation is "run" by kwok (Ready, heartbeats, pod lifecycles).
import type { CoreV1Api, V1Node } from '@kubernetes/client-node';

export const KWOK_ANNOTATION = 'kwok.x-k8s.io/node';

export interface KwokNodeOptions {
  labels?: Record<string, string>;
  bootID?: string;
  unschedulable?: boolean;
}

export function kwokNode(name: string, opts: KwokNodeOptions = {}): V1Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: { [KWOK_ANNOTATION]: 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: {
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        type: 'kwok',
        ...opts.labels,
      },
    },
    spec: { unschedulable: opts.unschedulable ?? false },
    status: {
      allocatable: { cpu: '32', memory: '256Gi', pods: '110' },
      capacity: { cpu: '32', memory: '256Gi', pods: '110' },
      nodeInfo: {
        architecture: 'amd64',
        bootID: opts.bootID ?? '',
        containerRuntimeVersion: 'kwok',
        kernelVersion: '6.1.0-kwok',
        kubeProxyVersion: '',
        kubeletVersion: 'kwok',
        machineID: '',
        operatingSystem: 'linux',
        osImage: 'kwok',
        systemUUID: '',
      },
    },
  };
}

export async function createKwokNodes(core: CoreV1Api, names: string[], opts: KwokNodeOptions = {}) {
  return Promise.all(names.map((name) => core.createNode({ body: kwokNode(name, opts) })));
}

export function isReady(node: V1Node): boolean {
  return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}
