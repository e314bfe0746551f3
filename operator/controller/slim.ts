// What the controller's caches keep of each object: only the fields its decisions read, so a cluster's pods fit
// in a small controller (a typical pod is several KiB of JSON; its slim form a few hundred bytes). The drain
// filters, the blocking-pod and PDB gates and the drain itself decide the same on the slim form (tested on a
// corpus of real pod shapes).
import { MIRROR_ANNOTATION as MIRROR, type PodLike } from './drain-filters.ts';
import type { PdbLike } from './observe.ts';

export type SlimPod = PodLike & {
  metadata: { name?: string; namespace?: string; uid?: string; resourceVersion?: string };
};

/**
 * One copy of each repeated string and label set: JSON.parse gives every pod its own copy of its namespace, node
 * name, owner and labels, though most pods share them with their siblings (a ReplicaSet's pods have the same
 * labels). Bounded: past POOL_LIMIT distinct values the pools start over (old objects keep their copies).
 */
const POOL_LIMIT = 50_000;
const strings = new Map<string, string>();
const labelSets = new Map<string, Readonly<Record<string, string>>>();

function intern(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  const hit = strings.get(v);
  if (hit !== undefined) return hit;
  if (strings.size >= POOL_LIMIT) strings.clear();
  strings.set(v, v);
  return v;
}

function internLabels(l: Record<string, string>): Readonly<Record<string, string>> {
  const key = JSON.stringify(l);
  const hit = labelSets.get(key);
  if (hit) return hit;
  if (labelSets.size >= POOL_LIMIT) labelSets.clear();
  const shared = Object.freeze({ ...l });
  labelSets.set(key, shared);
  return shared;
}

/** namespace, name, uid, labels, the mirror annotation, the controller reference, deletion, node, emptyDir volumes, phase. */
export function slimPod(p: SlimPod): SlimPod {
  const m = p.metadata ?? {};
  const controller = m.ownerReferences?.find((o) => o.controller);
  const mirror = m.annotations?.[MIRROR];
  const emptyDirs = p.spec?.volumes
    ?.filter((v) => v.emptyDir !== undefined)
    .map((v) => ({ name: v.name, emptyDir: {} }));
  return {
    metadata: {
      name: m.name,
      namespace: intern(m.namespace),
      uid: m.uid,
      resourceVersion: m.resourceVersion,
      ...(m.labels && { labels: internLabels(m.labels) as Record<string, string> }),
      ...(mirror !== undefined && { annotations: { [MIRROR]: mirror } }),
      ...(controller && {
        ownerReferences: [
          { kind: intern(controller.kind)!, name: intern(controller.name)!, controller: true },
        ],
      }),
      ...(m.deletionTimestamp && { deletionTimestamp: m.deletionTimestamp }),
    },
    spec: {
      ...(p.spec?.nodeName && { nodeName: intern(p.spec.nodeName) }),
      ...(emptyDirs?.length && { volumes: emptyDirs }),
    },
    status: { ...(p.status?.phase && { phase: p.status.phase }) },
  };
}

export type SlimPdb = PdbLike & { metadata: { name?: string; namespace?: string; resourceVersion?: string } };

/** name, namespace, selector, disruptionsAllowed. */
export function slimPdb(b: SlimPdb): SlimPdb {
  return {
    metadata: {
      name: b.metadata?.name,
      namespace: b.metadata?.namespace,
      resourceVersion: b.metadata?.resourceVersion,
    },
    spec: { selector: b.spec?.selector },
    status: { disruptionsAllowed: b.status?.disruptionsAllowed ?? 0 },
  };
}
