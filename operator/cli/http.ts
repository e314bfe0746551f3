// The CLI's API client. A read the API server answers with 429 or 503 ("storage is (re)initializing" right after a
// CRD is created or changed, or priority-and-fairness throttling) is tried again after the Retry-After it sends, as
// kubectl does, up to 5 times and about 10 s in all; then the error is the person's. Writes are not retried here:
// the write commands check with dryRun first, and a person re-runs a refused one knowingly.
import { ApiError, KubeHttp, type RequestInit } from '../kube/http.ts';
import { sleep } from '../util/sleep.ts';

const ATTEMPTS = 6;
const MAX_WAIT_MS = 2000;

export class CliHttp extends KubeHttp {
  override async request<T>(path: string, init: RequestInit = {}): Promise<T> {
    if ((init.method ?? 'GET') !== 'GET') return super.request<T>(path, init);
    for (let attempt = 1; ; attempt++) {
      try {
        return await super.request<T>(path, init);
      } catch (err) {
        const busy = err instanceof ApiError && (err.status === 429 || err.status === 503);
        if (!busy || attempt >= ATTEMPTS) throw err;
        await sleep(Math.min(MAX_WAIT_MS, Math.max(100, err.retryAfterMs ?? 1000)));
      }
    }
  }
}
