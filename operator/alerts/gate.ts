// Asks every alert source once per reconcile and turns the answers into a verdict. Errors, timeouts and
// malformed answers fail closed (every node blocked, with the reason) unless --alert-fail-open.
import { type AlertFilter, verdict } from './filter.ts';
import type { AlertSource, AlertVerdict } from './model.ts';

export interface AlertGateOptions {
  sources: AlertSource[];
  promql: AlertSource[];
  filter: AlertFilter;
  failOpen: boolean;
  onError?: (source: string, err: Error) => void;
}

export class AlertGate {
  constructor(private readonly o: AlertGateOptions) {}

  get enabled(): boolean {
    return this.o.sources.length + this.o.promql.length > 0;
  }

  async evaluate(nodes: ReadonlySet<string>, signal?: AbortSignal): Promise<AlertVerdict> {
    const result: AlertVerdict = { perNode: new Map(), firing: [] };
    const reasons: string[] = [];
    const alerting: string[] = [];
    const answers = await Promise.all(
      [...this.o.sources, ...this.o.promql].map(async (s) => {
        try {
          return { s, alerts: await s.fetch(signal) };
        } catch (err) {
          return { s, err: err as Error };
        }
      }),
    );
    for (const a of answers) {
      if (a.err) {
        this.o.onError?.(a.s.description, a.err);
        if (!this.o.failOpen) reasons.push(`${a.s.description} failed (failing closed): ${a.err.message}`);
        continue;
      }
      if (this.o.promql.includes(a.s)) {
        if (a.alerts!.length) {
          reasons.push(`${a.s.description} returned a non-empty result`);
          alerting.push(`${a.s.description} returned a non-empty result`);
        }
        continue;
      }
      const v = verdict(a.alerts!, this.o.filter, nodes, a.s.description);
      if (v.all) {
        reasons.push(v.all);
        alerting.push(v.all);
      }
      for (const [n, why] of v.perNode) if (!result.perNode.has(n)) result.perNode.set(n, why);
      result.firing.push(...v.firing);
    }
    if (reasons.length) result.all = reasons.join('; ');
    if (alerting.length) result.alerting = alerting.join('; ');
    result.firing = [...new Set(result.firing)].sort();
    return result;
  }
}
