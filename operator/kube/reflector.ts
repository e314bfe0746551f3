// A list-then-watch cache of one resource (client-go's reflector + store, reduced): paginated list, watch from
// the list's resourceVersion with bookmarks, relist on 410 or a silent watch, backoff on errors.
import { sleep } from '../util/sleep.ts';
import { ApiError, type KubeHttp } from './http.ts';

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
    } = {},
  ) {}

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
        limit: '500',
        ...(cont ? { continue: cont } : {}),
      });
      const page = await this.http.request<ListResponse<T>>(`${this.path}?${q}`, {
        signal,
        timeoutMs: 60_000,
      });
      for (const item of page.items) fresh.set(keyOf(item), item);
      cont = page.metadata.continue || undefined;
      rv = page.metadata.resourceVersion;
    } while (cont);
    this.items.clear();
    for (const [k, v] of fresh) this.items.set(k, v);
    this.synced = true;
    for (const w of this.syncWaiters.splice(0)) w();
    this.onChange('SYNC');
    return rv;
  }

  async run(signal: AbortSignal): Promise<void> {
    let rv: string | undefined;
    let backoff = 500;
    while (!signal.aborted) {
      try {
        if (rv === undefined) rv = await this.relist(signal);
        const watchCtl = new AbortController();
        const stop = () => watchCtl.abort();
        signal.addEventListener('abort', stop, { once: true });
        let timer: NodeJS.Timeout | undefined;
        let silent = false;
        const arm = () => {
          clearTimeout(timer);
          timer = setTimeout(() => {
            silent = true;
            watchCtl.abort();
          }, this.opts.silenceMs ?? 180_000);
        };
        arm();
        const q = new URLSearchParams({
          ...this.opts.query,
          watch: 'true',
          allowWatchBookmarks: 'true',
          resourceVersion: rv,
        });
        try {
          await this.http.watch<T>(
            `${this.path}?${q}`,
            (ev) => {
              if (ev.type === 'ERROR') {
                const s = ev.object as unknown as { code?: number; message?: string };
                throw new ApiError(s.code ?? 500, 'WatchError', s.message ?? 'watch error');
              }
              rv = ev.object.metadata.resourceVersion ?? rv;
              if (ev.type === 'BOOKMARK') return;
              const k = keyOf(ev.object);
              if (ev.type === 'DELETED') this.items.delete(k);
              else this.items.set(k, ev.object);
              this.onChange(ev.type, ev.object);
            },
            { signal: watchCtl.signal, onData: arm },
          );
          backoff = 500;
        } catch (err) {
          if (silent && !signal.aborted) rv = undefined;
          else throw err;
        } finally {
          clearTimeout(timer);
          signal.removeEventListener('abort', stop);
        }
      } catch (err) {
        if (signal.aborted) return;
        rv = undefined;
        if (this.opts.optional && err instanceof ApiError && err.status === 404) {
          if (this.items.size || !this.synced) {
            this.items.clear();
            this.synced = true;
            for (const w of this.syncWaiters.splice(0)) w();
            this.onChange('SYNC');
          }
          await sleep(30_000, signal);
          continue;
        }
        if (!(err instanceof ApiError && err.status === 410)) {
          this.opts.onError?.(err as Error);
          await sleep(backoff, signal);
          backoff = Math.min(backoff * 2, 30_000);
        }
      }
    }
  }
}
