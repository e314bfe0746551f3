// The cluster lock: a Lease (`kreboot-lock`) whose annotations hold the nodes in a disruptive phase. It is durable
// in the API server, changed only with optimistic concurrency, and has no time-based expiry at all: an entry
// leaves when its node is done, or when its Node object is gone (kured #137/#847). A person or another tool
// pauses new reboots by setting `kreboot.io/paused` on it (kubectl annotate lease …).
import { z } from 'zod';
import { classify } from '../kube/errors.ts';
import { Annotations, Leases } from '../protocol.ts';
import type { Regarding } from './events.ts';
import type { Lease, LeaseClient } from './lease.ts';
import { writing } from './write-error.ts';

const entrySchema = z.object({
  node: z.string().min(1),
  uid: z.string(),
  since: z.string(),
  holder: z.string(),
  /** Cleanup began: the node's phase annotations may already be gone. */
  finishing: z.boolean().optional(),
  /**
   * Taken over from another reboot tool mid-flight (`kreboot migrate-kured --apply --adopt`): the node is already
   * cordoned (and maybe drained or rebooted) by it; kreboot finishes it whatever the planner says, and leaves it
   * cordoned at the end only if it was before that tool cordoned it.
   */
  adopted: z.object({ from: z.string(), wasUnschedulable: z.boolean() }).optional(),
});
export type LockEntry = z.infer<typeof entrySchema>;

export interface LockState {
  entries: LockEntry[];
  paused?: string;
  halted?: string;
  /** The controller's planner settings as published (published-settings.ts). */
  settings?: string;
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
    settings: a[Annotations.settings] || undefined,
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

/**
 * The lock as this replica last read or wrote it. Every change is a compare-and-swap on that version: a conflict
 * means someone else wrote in between, and the caller re-plans from a fresh read instead of acting on stale state.
 */
export class ClusterLock {
  private lease: Lease | undefined;
  private current: LockState = { entries: [] };
  private byNode = new Map<string, LockEntry>();
  /**
   * Versions of the Lease this replica read or wrote (the latest few): a watched version not among them is
   * someone else's write (a pause, a request, another replica), and the lock is read again before acting on it.
   */
  private readonly seen: string[] = [];
  /** Lock writes from one pass's parallel steps run one after another, each on the state the last one wrote. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly leases: LeaseClient,
    private readonly holder: string,
  ) {}

  get state(): LockState {
    return this.current;
  }

  /** Nodes holding an entry now. */
  locked(): Set<string> {
    return new Set(this.current.entries.map((e) => e.node));
  }

  entryOf(node: string): LockEntry | undefined {
    return this.byNode.get(node);
  }

  /** Records a version as known: one this replica has read past. */
  acknowledge(resourceVersion: string | undefined): void {
    if (resourceVersion === undefined || this.seen.includes(resourceVersion)) return;
    this.seen.push(resourceVersion);
    if (this.seen.length > 64) this.seen.shift();
  }

  /** Whether this replica read or wrote this version of the Lease (recently). */
  knows(resourceVersion: string | undefined): boolean {
    return resourceVersion !== undefined && this.seen.includes(resourceVersion);
  }

  /** The lock Lease, for Events about it. */
  regarding(): Regarding {
    const m = this.lease?.metadata as { uid?: string } | undefined;
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      name: Leases.lock,
      namespace: this.leases.namespace,
      uid: m?.uid ?? '',
    };
  }

  /** Reads the lock (creating it empty if absent). */
  refresh(signal?: AbortSignal): Promise<LockState> {
    return writing(this.regarding(), `read or create of lease ${this.leases.namespace}/${Leases.lock}`, () =>
      this.read(signal),
    );
  }

  private async read(signal?: AbortSignal): Promise<LockState> {
    let lease = await this.leases.get(Leases.lock, signal);
    if (!lease) {
      try {
        lease = await this.leases.create(
          { metadata: { name: Leases.lock, annotations: { [Annotations.lockEntries]: '[]' } }, spec: {} },
          signal,
        );
      } catch (err) {
        // Someone else created it first: read theirs. Anything else (403, 5xx) is the caller's error to handle.
        if (classify(err) !== 'conflict') throw err;
        lease = await this.leases.get(Leases.lock, signal);
        if (!lease) throw err;
      }
    }
    this.set(lease);
    return this.current;
  }

  /** Applies `change` to the state last read or written and writes it back (compare-and-swap), in turn. */
  update(change: (s: LockState) => LockState, signal?: AbortSignal): Promise<LockState> {
    const run = this.queue.then(() => this.write(change, signal));
    this.queue = run.catch(() => {});
    return run;
  }

  private async write(change: (s: LockState) => LockState, signal?: AbortSignal): Promise<LockState> {
    if (!this.lease) await this.refresh(signal);
    const lease = this.lease!;
    const state = parseLock(lease);
    if (state.corrupt) throw new Error(state.corrupt);
    const next = change(state);
    const annotations = { ...(lease.metadata.annotations ?? {}) };
    annotations[Annotations.lockEntries] = JSON.stringify(next.entries);
    if (next.halted) annotations[Annotations.halted] = next.halted;
    else delete annotations[Annotations.halted];
    if (next.settings) annotations[Annotations.settings] = next.settings;
    const written = await writing(
      this.regarding(),
      `update of lease ${this.leases.namespace}/${Leases.lock}`,
      () =>
        this.leases.replace(
          {
            metadata: { ...lease.metadata, annotations },
            // holderIdentity names the controller replica that last changed the lock, for people reading it.
            spec: { ...lease.spec, holderIdentity: next.entries.length ? this.holder : undefined },
          },
          signal,
        ),
    );
    this.set(written);
    return this.current;
  }

  /** Takes entries for these nodes in one write: all or none. */
  add(nodes: Array<{ node: string; uid: string }>, signal?: AbortSignal): Promise<LockState> {
    const since = new Date().toISOString();
    const entries: LockEntry[] = nodes.map(({ node, uid }) => ({ node, uid, since, holder: this.holder }));
    return this.update((s) => ({ ...s, entries: [...s.entries, ...entries] }), signal);
  }

  /** Removes the entries for which `gone` is true. */
  remove(gone: (e: LockEntry) => boolean, signal?: AbortSignal): Promise<LockState> {
    return this.update((s) => ({ ...s, entries: s.entries.filter((e) => !gone(e)) }), signal);
  }

  markFinishing(node: string, signal?: AbortSignal): Promise<LockState> {
    return this.update(
      (s) => ({ ...s, entries: s.entries.map((e) => (e.node === node ? { ...e, finishing: true } : e)) }),
      signal,
    );
  }

  /** Publishes the planner settings; no write when the lock already carries exactly these. */
  async publishSettings(settings: string, signal?: AbortSignal): Promise<void> {
    if (this.current.settings === settings) return;
    await this.update((s) => ({ ...s, settings }), signal);
  }

  halt(reason: string, signal?: AbortSignal): Promise<LockState> {
    return this.update((s) => ({ ...s, halted: reason }), signal);
  }

  private set(lease: Lease): void {
    this.lease = lease;
    this.current = parseLock(lease);
    this.byNode = new Map(this.current.entries.map((e) => [e.node, e]));
    this.acknowledge(lease.metadata.resourceVersion);
  }
}
