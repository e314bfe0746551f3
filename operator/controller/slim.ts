// What the controller's caches keep of each object: only the fields its decisions read, so a cluster's pods fit
// in a small controller (a typical pod is several KiB of JSON; its slim form a few hundred bytes). The drain
// filters, the blocking-pod and PDB gates and the drain itself decide the same on the slim form (tested on a
// corpus of real pod shapes).
import { MIRROR_ANNOTATION as MIRROR, type PodLike } from './drain-filters.ts';
import type { PdbLike } from './observe.ts';

export type SlimPod = PodLike & {
  metadata: { name?: string; namespace?: string; uid?: string; resourceVersion?: string };
};

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
      namespace: m.namespace,
      uid: m.uid,
      resourceVersion: m.resourceVersion,
      ...(m.labels && { labels: m.labels }),
      ...(mirror !== undefined && { annotations: { [MIRROR]: mirror } }),
      ...(controller && {
        ownerReferences: [{ kind: controller.kind, name: controller.name, controller: true }],
      }),
      ...(m.deletionTimestamp && { deletionTimestamp: m.deletionTimestamp }),
    },
    spec: {
      ...(p.spec?.nodeName && { nodeName: p.spec.nodeName }),
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
