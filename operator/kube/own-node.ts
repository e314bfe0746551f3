// The only API calls an agent makes: read, watch and patch its own Node (kreboot's keys only).
import type { KubeHttp, WatchEvent } from './http.ts';
import type { Condition, NodeLite } from './types.ts';

export interface OwnNodeApi {
  readonly name: string;
  get(signal?: AbortSignal): Promise<NodeLite>;
  /** Watches this node only (field selector) from resourceVersion; resolves when the server closes the stream. */
  watch(
    resourceVersion: string,
    onEvent: (ev: WatchEvent<NodeLite>) => void | Promise<void>,
    opts: { signal?: AbortSignal; onData?: () => void },
  ): Promise<void>;
  /**
   * Sets (string) or removes (null) annotations with a JSON merge patch. With `resourceVersion` it is a
   * compare-and-swap: a 409 when the node changed since that version.
   */
  patchAnnotations(
    changes: Record<string, string | null>,
    signal?: AbortSignal,
    resourceVersion?: string,
  ): Promise<NodeLite>;
  /** Sets one status condition with a strategic merge patch: conditions merge by type, others are untouched. */
  patchCondition(condition: Condition, signal?: AbortSignal): Promise<NodeLite>;
}

const TIMEOUT_MS = 15_000;

export function ownNodeApi(http: KubeHttp, name: string): OwnNodeApi {
  const path = `/api/v1/nodes/${encodeURIComponent(name)}`;
  return {
    name,
    get: (signal) => http.request<NodeLite>(path, { signal, timeoutMs: TIMEOUT_MS }),
    watch: (resourceVersion, onEvent, opts) => {
      const q = new URLSearchParams({
        watch: 'true',
        fieldSelector: `metadata.name=${name}`,
        resourceVersion,
        allowWatchBookmarks: 'true',
      });
      return http.watch<NodeLite>(`/api/v1/nodes?${q}`, onEvent, opts);
    },
    patchAnnotations: (changes, signal, resourceVersion) =>
      http.request<NodeLite>(path, {
        method: 'PATCH',
        contentType: 'application/merge-patch+json',
        body: { metadata: { annotations: changes, ...(resourceVersion ? { resourceVersion } : {}) } },
        signal,
        timeoutMs: TIMEOUT_MS,
      }),
    patchCondition: (condition, signal) =>
      http.request<NodeLite>(`${path}/status`, {
        method: 'PATCH',
        contentType: 'application/strategic-merge-patch+json',
        body: { status: { conditions: [condition] } },
        signal,
        timeoutMs: TIMEOUT_MS,
      }),
  };
}
