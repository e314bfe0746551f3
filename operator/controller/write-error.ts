// An API error on one of the controller's writes, with the object it was about: a rejected write (403, 422, …)
// is reported on that object as a Warning Event, so `kubectl describe` shows why kreboot is stuck.
import { ApiError } from '../kube/http.ts';
import type { Regarding } from './events.ts';

export class WriteError extends ApiError {
  constructor(
    readonly regarding: Regarding,
    readonly what: string,
    cause: ApiError,
  ) {
    super(cause.status, cause.reason, cause.message, cause.retryAfterMs);
  }
}

/** Runs a write; an ApiError comes back as a WriteError naming the object and the write. */
export async function writing<T>(regarding: Regarding, what: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (err) {
    if (err instanceof ApiError && !(err instanceof WriteError)) throw new WriteError(regarding, what, err);
    throw err;
  }
}
