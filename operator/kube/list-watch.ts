// The one list-then-watch loop (client-go's reflector loop, reduced), shared by the controller's caches and the
// agent's watch on its own Node: list, watch from the list's resourceVersion with bookmarks, resume from the last
// version when the server ends a watch, relist on 410 or when the watch stays silent past `silenceMs`, and back
// off with jitter on errors (0.5 s doubling to 30 s). What a list or an event means is the caller's (hooks).
import { sleep } from '../util/sleep.ts';
import { ApiError, type WatchEvent } from './http.ts';

interface Versioned {
  metadata?: { resourceVersion?: string };
}

export interface ListWatchSource<T> {
  /** Reads the whole state (the caller keeps it); resolves to the resourceVersion to watch from. */
  list(signal: AbortSignal): Promise<string>;
  /** Streams changes from `resourceVersion`; resolves when the server ends the stream. */
  watch(
    resourceVersion: string,
    onEvent: (ev: WatchEvent<T>) => void,
    opts: { signal: AbortSignal; onData: () => void },
  ): Promise<void>;
}

export interface ListWatchHooks<T> {
  /** An ADDED/MODIFIED/DELETED event. Returning 'relist' ends the watch and lists again. */
  onEvent(type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: T): undefined | 'relist';
  /** A list or a whole watch round succeeded. */
  onHealthy?(): void;
  /** The loop is alive (a list, any bytes on the watch, a backoff ended): for liveness probes. */
  onProgress?(): void;
  /** An API or network error; the loop retries after `retryInMs`. */
  onError?(err: Error, retryInMs: number): void;
  onSilent?(): void;
  onExpired?(): void;
  /** A 404 from list or watch: how long to wait before trying again, or undefined to treat it as an error. */
  onNotFound?(): number | undefined;
}

export interface ListWatchOptions {
  /** Relist when the watch sends nothing (not even a bookmark) for this long. */
  silenceMs: number;
  signal: AbortSignal;
}

const MIN_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;

/** Runs until `signal` aborts; never rejects. */
export async function listWatch<T extends Versioned>(
  src: ListWatchSource<T>,
  hooks: ListWatchHooks<T>,
  { silenceMs, signal }: ListWatchOptions,
): Promise<void> {
  let rv: string | undefined;
  let backoff = MIN_BACKOFF_MS;
  while (!signal.aborted) {
    hooks.onProgress?.();
    try {
      if (rv === undefined) {
        rv = await src.list(signal);
        hooks.onHealthy?.();
      }
      const outcome = await watchOnce(src, hooks, rv, silenceMs, signal, (v) => {
        rv = v;
      });
      if (outcome === 'ended') {
        // The server ended the watch (its own timeout): resume from where we were, no relist needed.
        hooks.onHealthy?.();
        backoff = MIN_BACKOFF_MS;
      } else {
        if (outcome === 'silent') hooks.onSilent?.();
        rv = undefined;
      }
    } catch (err) {
      if (signal.aborted) return;
      rv = undefined;
      if (err instanceof ApiError && err.status === 410) {
        hooks.onExpired?.();
        continue;
      }
      const wait = err instanceof ApiError && err.status === 404 ? hooks.onNotFound?.() : undefined;
      if (wait !== undefined) {
        await sleep(wait, signal);
        continue;
      }
      const retryIn = Math.round(backoff + Math.random() * backoff * 0.2);
      hooks.onError?.(err as Error, retryIn);
      await sleep(retryIn, signal);
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  }
}

/** One watch stream: 'ended' by the server, 'silent' (our watchdog) or 'relist' (asked by a hook). */
async function watchOnce<T extends Versioned>(
  src: ListWatchSource<T>,
  hooks: ListWatchHooks<T>,
  from: string,
  silenceMs: number,
  signal: AbortSignal,
  setRv: (rv: string) => void,
): Promise<'ended' | 'silent' | 'relist'> {
  const ctl = new AbortController();
  const stop = () => ctl.abort();
  signal.addEventListener('abort', stop, { once: true });
  let outcome: 'ended' | 'silent' | 'relist' = 'ended';
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    hooks.onProgress?.();
    clearTimeout(timer);
    timer = setTimeout(() => {
      outcome = 'silent';
      ctl.abort();
    }, silenceMs);
  };
  arm();
  try {
    await src.watch(
      from,
      (ev) => {
        if (outcome !== 'ended') return;
        if (ev.type === 'ERROR') {
          const s = ev.object as unknown as { code?: number; message?: string };
          throw new ApiError(s.code ?? 500, 'WatchError', s.message ?? 'watch error');
        }
        const rv = ev.object.metadata?.resourceVersion;
        if (rv) setRv(rv);
        if (ev.type === 'BOOKMARK') return;
        if (hooks.onEvent(ev.type, ev.object) === 'relist') {
          outcome = 'relist';
          ctl.abort();
        }
      },
      { signal: ctl.signal, onData: arm },
    );
  } catch (err) {
    // Our own abort (watchdog or a relist) is not an error; the caller's abort ends the loop.
    if (outcome === 'ended' || signal.aborted) throw err;
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', stop);
  }
  return outcome;
}
