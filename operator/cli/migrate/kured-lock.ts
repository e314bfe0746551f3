// kured's lock, read and written the way kured (pkg/daemonsetlock) does: an annotation on its DaemonSet
// (default weave.works/kured-node-lock) holding one holder — {"nodeID","metadata":{"unschedulable"},"created","TTL"} —
// or, with --concurrency > 1, {"maxOwners": N, "locks": [holder…]}. A holder whose TTL (nanoseconds; 0 = none)
// has run out counts as gone, as for kured. Pure.

export const KURED_LOCK_ANNOTATION = 'weave.works/kured-node-lock';
/** The holder name `migrate-kured --apply` takes kured's lock with, so kured starts no node during the switch. */
export const MIGRATION_HOLDER = 'kreboot-migrate-kured';

export interface KuredHolder {
  node: string;
  /** Whether the node was unschedulable before kured cordoned it (kured leaves such a node cordoned). */
  wasUnschedulable: boolean;
  created: number;
}

export interface KuredLock {
  multi: boolean;
  maxOwners: number;
  /** Live holders that are nodes (not this migration's own placeholder). */
  holders: KuredHolder[];
  /** This migration already holds it. */
  ours: boolean;
}

interface RawHolder {
  nodeID?: string;
  metadata?: { unschedulable?: boolean };
  created?: string;
  TTL?: number;
}

function live(h: RawHolder, now: number): boolean {
  const created = Date.parse(h.created ?? '');
  const ttlMs = (h.TTL ?? 0) / 1e6;
  return !(ttlMs > 0 && !Number.isNaN(created) && now > created + ttlMs);
}

export function parseKuredLock(raw: string | undefined, now: number): KuredLock {
  if (raw === undefined || raw === '') return { multi: false, maxOwners: 1, holders: [], ours: false };
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw new Error(`kured's lock annotation is not JSON: ${raw.slice(0, 120)}`);
  }
  const o = v as { maxOwners?: number; locks?: RawHolder[] } & RawHolder;
  const multi = Array.isArray(o.locks) || typeof o.maxOwners === 'number';
  const all = (multi ? (o.locks ?? []) : [o]).filter((h) => h.nodeID && live(h, now));
  return {
    multi,
    maxOwners: multi ? (o.maxOwners ?? 1) : 1,
    holders: all
      .filter((h) => !h.nodeID!.startsWith(MIGRATION_HOLDER))
      .map((h) => ({
        node: h.nodeID!,
        wasUnschedulable: h.metadata?.unschedulable === true,
        created: Date.parse(h.created ?? '') || now,
      })),
    ours: all.some((h) => h.nodeID!.startsWith(MIGRATION_HOLDER)),
  };
}

/**
 * kured's lock with every free place taken by this migration (the holders kept): kured acquires nothing more.
 * Placeholders never expire (TTL 0) and are written the way kured writes holders.
 */
export function takeKuredLock(lock: KuredLock, keep: KuredHolder[], now: number): string {
  const holder = (nodeID: string, unschedulable: boolean, created: number) => ({
    nodeID,
    metadata: { unschedulable },
    created: new Date(created).toISOString(),
    TTL: 0,
  });
  const kept = keep.map((h) => holder(h.node, h.wasUnschedulable, h.created));
  if (!lock.multi) return JSON.stringify(kept[0] ?? holder(MIGRATION_HOLDER, false, now));
  const free = Math.max(1, lock.maxOwners - kept.length);
  const placeholders = Array.from({ length: free }, (_, i) =>
    holder(`${MIGRATION_HOLDER}-${i + 1}`, false, now),
  );
  return JSON.stringify({ maxOwners: lock.maxOwners, locks: [...kept, ...placeholders] });
}
