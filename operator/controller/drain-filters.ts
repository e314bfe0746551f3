// Which pods a drain evicts, skips or is blocked by: small predicates composed, like kubectl drain's filters.
import { matches, type Requirement } from '../kube/selector.ts';

export interface PodLike {
  metadata?: {
    name?: string;
    namespace?: string;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
    ownerReferences?: Array<{ kind: string; name: string; controller?: boolean }>;
    deletionTimestamp?: string | Date;
  };
  spec?: { nodeName?: string; volumes?: Array<{ name: string; emptyDir?: unknown }> };
  status?: { phase?: string };
}

export interface DrainPolicy {
  /** Pods with emptyDir volumes (their data is lost): evict them, or let them block the drain. */
  emptyDir: 'evict' | 'block';
  /** Pods no controller will recreate: evict them (they are gone for good), or let them block. */
  unmanaged: 'evict' | 'block';
  /** Only pods this selector matches are evicted (kured --drain-pod-selector); empty or absent: all. */
  podSelector?: Requirement[];
  /** A pod terminating for longer than this is not waited for (kured --skip-wait-for-delete-timeout); 0: wait. */
  skipDeletingAfterMs?: number;
  /** Seconds each evicted pod gets to terminate; absent: the pod's own terminationGracePeriodSeconds. */
  gracePeriodSeconds?: number;
}

export type PodVerdict =
  | { action: 'skip'; why: string }
  | { action: 'evict'; warning?: string }
  | { action: 'block'; why: string };

/** Static (mirror) pods carry this annotation; the kubelet owns them, a drain skips them. */
export const MIRROR_ANNOTATION = 'kubernetes.io/config.mirror';

const controllerOf = (p: PodLike) => p.metadata?.ownerReferences?.find((o) => o.controller);

type Filter = (p: PodLike, policy: DrainPolicy, now: number) => PodVerdict | undefined;

const mirrorPod: Filter = (p) =>
  p.metadata?.annotations?.[MIRROR_ANNOTATION] !== undefined
    ? { action: 'skip', why: 'mirror (static) pod' }
    : undefined;
const daemonSetPod: Filter = (p) =>
  controllerOf(p)?.kind === 'DaemonSet'
    ? { action: 'skip', why: 'DaemonSet pod (would be recreated here)' }
    : undefined;
const notSelected: Filter = (p, policy) =>
  policy.podSelector?.length && !matches(policy.podSelector, p.metadata?.labels ?? {})
    ? { action: 'skip', why: 'not matched by --drain-pod-selector: stays through the reboot' }
    : undefined;
const stuckTerminating: Filter = (p, policy, now) => {
  const limit = policy.skipDeletingAfterMs ?? 0;
  const since = p.metadata?.deletionTimestamp ? new Date(p.metadata.deletionTimestamp).getTime() : undefined;
  return limit > 0 && since !== undefined && now - since > limit
    ? { action: 'skip', why: `terminating for more than ${limit / 1000}s (--skip-wait-for-delete-timeout)` }
    : undefined;
};
const finishedPod: Filter = (p) =>
  p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed'
    ? { action: 'skip', why: 'finished pod' }
    : undefined;
const unmanagedPod: Filter = (p, policy) =>
  controllerOf(p) === undefined
    ? policy.unmanaged === 'block'
      ? { action: 'block', why: 'pod has no controller and --drain-unmanaged-pods=block' }
      : { action: 'evict', warning: 'pod has no controller: it will not be recreated' }
    : undefined;
const emptyDirPod: Filter = (p, policy) =>
  p.spec?.volumes?.some((v) => v.emptyDir !== undefined)
    ? policy.emptyDir === 'block'
      ? { action: 'block', why: 'pod uses emptyDir and --drain-emptydir-pods=block' }
      : { action: 'evict', warning: 'pod uses emptyDir: its data is deleted' }
    : undefined;

const FILTERS: Filter[] = [
  mirrorPod,
  daemonSetPod,
  notSelected,
  stuckTerminating,
  finishedPod,
  unmanagedPod,
  emptyDirPod,
];

/** The first filter with an opinion decides; a block anywhere wins over an evict. `now` for terminating pods. */
export function classifyPod(p: PodLike, policy: DrainPolicy, now = Date.now()): PodVerdict {
  let evict: PodVerdict | undefined;
  for (const f of FILTERS) {
    const v = f(p, policy, now);
    if (!v) continue;
    if (v.action === 'skip' || v.action === 'block') return v;
    evict ??= v;
  }
  return evict ?? { action: 'evict' };
}

export const podName = (p: PodLike) => `${p.metadata?.namespace}/${p.metadata?.name}`;
