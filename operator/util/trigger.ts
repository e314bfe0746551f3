// Coalescing triggers: many "something changed" signals, one run at a time, never a lost signal. The reconcile
// loop waits on a Trigger; the agent's check and reconcile runs are coalesced with `serialize`; the controller's
// pod events are rate-limited with `throttle`.

/** A level-triggered wake-up: `fire` sets it, `wait` takes it (or times out). Never leaves a listener behind. */
export class Trigger {
  private pending = false;
  private wake: (() => void) | undefined;

  fire(): void {
    this.pending = true;
    this.wake?.();
  }

  /** Resolves at once if fired since the last wait, else on the next fire, after `ms`, or when `signal` aborts. */
  wait(ms: number, signal: AbortSignal): Promise<void> {
    if (this.pending || signal.aborted) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.wake = undefined;
        this.pending = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
      this.wake = done;
    });
  }
}

/**
 * Wraps `run` so that calls while it runs coalesce into one more run after it ends: every call is followed by a
 * run that started after it, and runs never overlap.
 */
export function serialize(run: () => Promise<void>, stopped: () => boolean = () => false): () => void {
  let running = false;
  let again = false;
  const kick = (): void => {
    if (stopped()) return;
    if (running) {
      again = true;
      return;
    }
    running = true;
    again = false;
    void run()
      .catch(() => {})
      .finally(() => {
        running = false;
        if (again) kick();
      });
  };
  return kick;
}

/** Calls `fn` at most once per `ms` (the first call at once, later ones folded into one at the end of the period). */
export function throttle(fn: () => void, ms: number): () => void {
  let last = 0;
  let scheduled = false;
  return () => {
    const wait = last + ms - Date.now();
    if (wait <= 0) {
      last = Date.now();
      fn();
    } else if (!scheduled) {
      scheduled = true;
      setTimeout(() => {
        scheduled = false;
        last = Date.now();
        fn();
      }, wait).unref();
    }
  };
}
