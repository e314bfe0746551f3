// A list-then-watch cache of one resource (client-go's reflector + store, reduced): paginated list, watch from
// the list's resourceVersion with bookmarks, relist on 410 or a silent watch, backoff on errors (list-watch.ts).
import type { KubeHttp } from './http.ts';
import { listWatch } from './list-watch.ts';

export interface Obj {
  metadata: { name?: string; namespace?: string; resourceVersion?: string; uid?: string };
}

interface ListResponse<T> {
  metadata: { resourceVersion: string; continue?: string };
  items: T[];
}

const keyOf = (o: Obj) =>
  o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name!;

export class Reflector<T extends Obj> {
  private readonly items = new Map<string, T>();
  /** How long to wait before looking again for an optional resource that is absent (doubles to 15 min). */
  private absentDelayMs = 30_000;
  /** index value → (key → object), when opts.indexBy is set (pods by node: a drain reads its node's pods). */
  private readonly index = new Map<string, Map<string, T>>();
  private synced = false;
  private syncWaiters: Array<() => void> = [];

  constructor(
    private readonly http: KubeHttp,
    /** Collection path, e.g. /api/v1/nodes */
    private readonly path: string,
    private readonly onChange: (type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'SYNC', obj?: T) => void,
    private readonly opts: {
      query?: Record<string, string>;
      silenceMs?: number;
      onError?: (err: Error) => void;
      /** The resource may not exist (a CRD not installed): a 404 counts as an empty, synced list. */
      optional?: boolean;
      /** Keeps only what the caller reads: what is stored and handed to onChange (the cache's memory). */
      transform?: (o: T) => T;
      /** Keeps an index by this value (undefined: not indexed). */
      indexBy?: (o: T) => string | undefined;
      /** Items per list page (default 500). */
      pageSize?: number;
    } = {},
  ) {}

  /** The objects whose indexBy value is v (empty without an index). */
  indexed(v: string): T[] {
    const m = this.index.get(v);
    return m ? [...m.values()] : [];
  }

  private put(k: string, obj: T | undefined): void {
    const by = this.opts.indexBy;
    if (by) {
      const old = this.items.get(k);
      const ov = old && by(old);
      if (ov !== undefined) {
        const m = this.index.get(ov);
        m?.delete(k);
        if (m?.size === 0) this.index.delete(ov);
      }
      const nv = obj && by(obj);
      if (nv !== undefined) {
        const m = this.index.get(nv) ?? new Map<string, T>();
        this.index.set(nv, m);
        m.set(k, obj!);
      }
    }
    if (obj) this.items.set(k, obj);
    else this.items.delete(k);
  }

  list(): T[] {
    return [...this.items.values()];
  }
  get(key: string): T | undefined {
    return this.items.get(key);
  }
  get hasSynced(): boolean {
    return this.synced;
  }
  waitForSync(): Promise<void> {
    return this.synced ? Promise.resolve() : new Promise((r) => this.syncWaiters.push(r));
  }

  private async relist(signal: AbortSignal): Promise<string> {
    const fresh = new Map<string, T>();
    let cont: string | undefined;
    let rv = '';
    do {
      const q = new URLSearchParams({
        ...this.opts.query,
        limit: String(this.opts.pageSize ?? 500),
        ...(cont ? { continue: cont } : {}),
      });
      const page = await this.http.request<ListResponse<T>>(`${this.path}?${q}`, {
        signal,
        timeoutMs: 60_000,
      });
      const t = this.opts.transform;
      for (const item of page.items) fresh.set(keyOf(item), t ? t(item) : item);
      cont = page.metadata.continue || undefined;
      rv = page.metadata.resourceVersion;
    } while (cont);
    this.items.clear();
    this.index.clear();
    for (const [k, v] of fresh) this.put(k, v);
    this.absentDelayMs = 30_000;
    this.markSynced();
    return rv;
  }

  /** Lists and watches until `signal` aborts (the shared loop in list-watch.ts). */
  run(signal: AbortSignal): Promise<void> {
    return listWatch<T>(
      {
        list: (sig) => this.relist(sig),
        watch: (rv, onEvent, opts) => {
          const q = new URLSearchParams({
            ...this.opts.query,
            watch: 'true',
            allowWatchBookmarks: 'true',
            resourceVersion: rv,
          });
          return this.http.watch<T>(`${this.path}?${q}`, onEvent, opts);
        },
      },
      {
        onEvent: (type, raw) => {
          const obj = this.opts.transform ? this.opts.transform(raw) : raw;
          const k = keyOf(obj);
          this.put(k, type === 'DELETED' ? undefined : obj);
          this.onChange(type, obj);
          return undefined;
        },
        onError: (err) => this.opts.onError?.(err),
        // An optional resource that does not exist (CRD not installed) is an empty, synced list; look again
        // later, less and less often (30 s doubling to 15 min): an idle controller without the CRD stays quiet.
        onNotFound: this.opts.optional
          ? () => {
              if (this.items.size || !this.synced) {
                this.items.clear();
                this.index.clear();
                this.markSynced();
              }
              const wait = this.absentDelayMs;
              this.absentDelayMs = Math.min(wait * 2, 900_000);
              return wait;
            }
          : undefined,
      },
      { silenceMs: this.opts.silenceMs ?? 180_000, signal },
    );
  }

  private markSynced(): void {
    this.synced = true;
    for (const w of this.syncWaiters.splice(0)) w();
    this.onChange('SYNC');
  }
}
