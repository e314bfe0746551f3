// Alert verdicts off the reconcile path: the sources are asked on their own schedule, each round under a hard
// deadline, and the reconciler reads the last verdict with its age. A verdict that is missing or older than
// `staleMs` blocks every node (fail closed), so a slow or silent Prometheus stalls new starts, never the pass that
// steps in-flight nodes through their timeouts, halts and releases.
import type { Logger } from 'pino';
import { sleep } from '../util/sleep.ts';
import type { AlertGate } from './gate.ts';
import type { AlertVerdict } from './model.ts';

export interface PollerOptions {
  pollMs: number;
  /** One round (every source) must end within this; past it the round's verdict is "blocked: no answer". */
  deadlineMs: number;
}

export const OPEN_VERDICT: AlertVerdict = { perNode: new Map(), firing: [] };

/** The verdict to act on now: the last one if fresh enough, else blocked with the reason. Pure. */
export function verdictAt(
  last: { at: number; v: AlertVerdict } | undefined,
  now: number,
  staleMs: number,
): AlertVerdict {
  if (!last)
    return { perNode: new Map(), firing: [], all: 'no alert verdict yet (first poll still running)' };
  const age = now - last.at;
  if (age > staleMs) {
    return {
      perNode: new Map(),
      firing: [],
      all: `alert verdict is stale: last answer ${Math.round(age / 1000)}s ago (limit ${Math.round(staleMs / 1000)}s)`,
    };
  }
  return last.v;
}

export class AlertPoller {
  private last: { at: number; v: AlertVerdict } | undefined;
  private lastBlock: string | undefined;

  constructor(
    private readonly gate: AlertGate,
    private readonly o: PollerOptions,
    private readonly nodes: () => ReadonlySet<string>,
    private readonly log: Logger,
    private readonly onVerdict: () => void,
    private readonly now: () => number = Date.now,
  ) {}

  get enabled(): boolean {
    return this.gate.enabled;
  }

  /** Two missed rounds plus one deadline: a verdict older than this is not trusted. */
  get staleMs(): number {
    return this.o.pollMs * 2 + this.o.deadlineMs;
  }

  current(now: number): AlertVerdict {
    if (!this.gate.enabled) return OPEN_VERDICT;
    return verdictAt(this.last, now, this.staleMs);
  }

  /** When the current verdict turns stale, so the reconciler can wake then. */
  staleAt(): number | undefined {
    return this.last ? this.last.at + this.staleMs + 1 : undefined;
  }

  private firstRound: Promise<void> = Promise.resolve();
  private firstDone: () => void = () => {};

  /**
   * Resolves once the term's first round has a verdict (each round ends within its deadline), so a new leader's
   * first pass plans on real answers rather than on "no verdict yet" (which would be reported as a wait reason).
   */
  first(): Promise<void> {
    return this.firstRound;
  }

  /** Polls until `signal` aborts (the leader's term). */
  async run(signal: AbortSignal): Promise<void> {
    if (!this.gate.enabled) return;
    this.last = undefined;
    this.firstRound = new Promise<void>((resolve) => {
      this.firstDone = resolve;
    });
    signal.addEventListener('abort', () => this.firstDone(), { once: true });
    while (!signal.aborted) {
      const round = AbortSignal.any([signal, AbortSignal.timeout(this.o.deadlineMs)]);
      let v: AlertVerdict;
      try {
        v = await this.gate.evaluate(this.nodes(), round);
      } catch (err) {
        v = { perNode: new Map(), firing: [], all: `alert gate failed: ${(err as Error).message}` };
      }
      if (signal.aborted) return;
      this.last = { at: this.now(), v };
      this.firstDone();
      if (v.all !== this.lastBlock) {
        this.lastBlock = v.all;
        this.log.info(
          { reason: v.all ? 'alert-gate-blocked' : 'alert-gate-clear' },
          v.all ?? 'alert gates clear',
        );
      }
      this.onVerdict();
      await sleep(this.o.pollMs, signal);
    }
  }
}
