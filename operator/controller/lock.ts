// The cluster lock: a Lease (`kreboot-lock`) whose annotations hold the nodes in a disruptive phase. It is durable
// in the API server, changed only with optimistic concurrency, and has no time-based expiry at all: an entry
// leaves when its node is done, or when its Node object is gone (kured #137/#847). A person or another tool
// pauses new reboots by setting `kreboot.io/paused` on it (kubectl annotate lease …).
import { z } from 'zod';
import { Annotations, Leases } from '../protocol.ts';
import { isConflict, type Lease, type LeaseClient } from './lease.ts';

const entrySchema = z.object({
  node: z.string().min(1),
  uid: z.string(),
  since: z.string(),
  holder: z.string(),
  /** Cleanup began: the node's phase annotations may already be gone. */
  finishing: z.boolean().optional(),
});
export type LockEntry = z.infer<typeof entrySchema>;

export interface LockState {
  entries: LockEntry[];
  paused?: string;
  halted?: string;
  /** Set when the entries annotation could not be parsed: the lock fails closed (nothing new starts). */
  corrupt?: string;
  resourceVersion?: string;
}

export function parseLock(lease: Lease | undefined): LockState {
  const a = lease?.metadata.annotations ?? {};
  const state: LockState = {
    entries: [],
    paused: a[Annotations.paused] || undefined,
    halted: a[Annotations.halted] || undefined,
    resourceVersion: lease?.metadata.resourceVersion,
  };
  const raw = a[Annotations.lockEntries];
  if (raw) {
    try {
      state.entries = z.array(entrySchema).parse(JSON.parse(raw));
    } catch (err) {
      state.corrupt = `lock annotation ${Annotations.lockEntries} is not valid: ${(err as Error).message.slice(0, 200)}`;
    }
  }
  return state;
}

export class ClusterLock {
  constructor(
    private readonly leases: LeaseClient,
    private readonly holder: string,
  ) {}

  async read(signal?: AbortSignal): Promise<{ lease: Lease; state: LockState }> {
    let lease = await this.leases.get(Leases.lock, signal);
    if (!lease) {
      try {
        lease = await this.leases.create(
          {
            metadata: {
              name: Leases.lock,
              annotations: { [Annotations.lockEntries]: '[]' },
            },
            spec: {},
          },
          signal,
        );
      } catch (err) {
        if (!isConflict(err) && !(err as { status?: number }).status) throw err;
        lease = (await this.leases.get(Leases.lock, signal))!;
      }
    }
    return { lease, state: parseLock(lease) };
  }

  /**
   * Applies `change` to the state read at `expected` (a resourceVersion) and writes it back; throws a conflict if
   * anyone wrote in between, so the caller re-plans from fresh state instead of acting on a stale one.
   */
  async update(
    lease: Lease,
    change: (s: LockState) => LockState,
    signal?: AbortSignal,
  ): Promise<{ lease: Lease; state: LockState }> {
    const state = parseLock(lease);
    if (state.corrupt) throw new Error(state.corrupt);
    const next = change(state);
    const annotations = { ...(lease.metadata.annotations ?? {}) };
    annotations[Annotations.lockEntries] = JSON.stringify(next.entries);
    if (next.halted) annotations[Annotations.halted] = next.halted;
    else delete annotations[Annotations.halted];
    const written = await this.leases.replace(
      {
        metadata: { ...lease.metadata, annotations },
        // holderIdentity names the controller replica that last changed the lock, for people reading it.
        spec: { ...lease.spec, holderIdentity: next.entries.length ? this.holder : undefined },
      },
      signal,
    );
    return { lease: written, state: parseLock(written) };
  }

  entry(node: string, uid: string): LockEntry {
    return { node, uid, since: new Date().toISOString(), holder: this.holder };
  }
}
