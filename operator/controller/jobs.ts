// The writes a reconcile pass decides, run outside the pass: the pass reads the caches, decides, hands each node's
// step (and the lock's changes) to this queue and returns; the next pass does not wait for the API server. A key
// (a node name, or the lock) has at most one job at a time, and a pass skips a key that is busy, so nothing is
// decided twice on the same state. At most `limit` jobs run at once; the rest wait their turn, still busy.

export interface JobOutcome {
  keys: readonly string[];
  error?: unknown;
}

interface Job {
  /** Released when the job ends, less those it handed on. */
  keys: string[];
  run: (job: JobHandle) => Promise<void>;
}

/** What a running job may do with its keys. */
export interface JobHandle {
  /**
   * Queues a follow-up job under one of this job's keys: the key stays busy from this job to the next with no
   * gap in which a pass could decide on it (a start takes the lock entries, then each node's cordon follows).
   */
  handOn(key: string, run: () => Promise<void>): void;
}

export class Jobs {
  private readonly busyKeys = new Set<string>();
  private readonly waiting: Job[] = [];
  private running = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly limit: number,
    /** Called after every job, with its error if it failed (the caller's error policy decides what follows). */
    private readonly done: (o: JobOutcome) => void,
  ) {}

  /** Whether any of these keys has a job queued or running. */
  busy(...keys: string[]): boolean {
    return keys.some((k) => this.busyKeys.has(k));
  }

  /** Jobs queued or running. */
  get size(): number {
    return this.running + this.waiting.length;
  }

  /** Queues `run` under `keys`; false (and nothing queued) when one of them is busy. */
  dispatch(keys: readonly string[], run: (job: JobHandle) => Promise<void>): boolean {
    if (this.busy(...keys)) return false;
    for (const k of keys) this.busyKeys.add(k);
    this.waiting.push({ keys: [...keys], run });
    this.pump();
    return true;
  }

  /** Resolves once no job is queued or running. */
  idle(): Promise<void> {
    return this.size === 0 ? Promise.resolve() : new Promise((r) => this.idleWaiters.push(r));
  }

  private pump(): void {
    while (this.running < this.limit && this.waiting.length) {
      const job = this.waiting.shift()!;
      this.running++;
      void this.start(job);
    }
  }

  private async start(job: Job): Promise<void> {
    let error: unknown;
    const handle: JobHandle = {
      handOn: (key, run) => {
        const at = job.keys.indexOf(key);
        if (at < 0) throw new Error(`job does not hold ${key}`);
        job.keys.splice(at, 1);
        this.waiting.push({ keys: [key], run: () => run() });
        this.pump();
      },
    };
    try {
      await job.run(handle);
    } catch (err) {
      error = err ?? new Error('job failed');
    }
    this.running--;
    for (const k of job.keys) this.busyKeys.delete(k);
    this.pump();
    this.done(error === undefined ? { keys: job.keys } : { keys: job.keys, error });
    if (this.size === 0) for (const w of this.idleWaiters.splice(0)) w();
  }
}
