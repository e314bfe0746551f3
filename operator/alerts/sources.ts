// Alert sources behind one interface. fetch + zod rather than the prometheus-query package: three GET endpoints,
// each answer validated, every failure a clear reason (ARCHITECTURE.md).
import { z } from 'zod';
import { getJson, type HttpAuth, SourceError } from './http-json.ts';
import type { Alert, AlertSource } from './model.ts';

const labels = z.record(z.string(), z.string());

const amAlerts = z.array(
  z.object({
    labels,
    status: z.object({ state: z.enum(['active', 'suppressed', 'unprocessed']) }),
  }),
);

const promQuery = z.object({
  status: z.literal('success'),
  data: z.object({ resultType: z.string(), result: z.array(z.unknown()) }),
});

function check<T>(schema: z.ZodType<T>, body: unknown, what: string): T {
  const r = schema.safeParse(body);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new SourceError(`${what}: unexpected answer at ${i.path.join('.') || '(root)'}: ${i.message}`);
  }
  return r.data;
}

const join = (base: string, path: string) => new URL(path, base.endsWith('/') ? base : `${base}/`);

/**
 * Prometheus /api/v1/alerts, validated by hand and in place, keeping only labels and state. The answer can hold
 * tens of thousands of alerts (up to --alert-max-response-bytes), and a schema library copies every one: with zod
 * the controller peaked at 314 MiB on a 7.9 MiB answer (32,000 alerts); see BENCHMARKS.md for this version's
 * figure. The error messages keep zod's form: the path of the first thing that is wrong.
 */
export function promAlertList(body: unknown, what: string): Alert[] {
  const bad = (path: string, msg: string) => new SourceError(`${what}: unexpected answer at ${path}: ${msg}`);
  const obj = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!obj(body)) throw bad('(root)', 'expected an object');
  if (body.status !== 'success') throw bad('status', 'expected "success"');
  if (!obj(body.data)) throw bad('data', 'expected an object');
  const list = body.data.alerts;
  if (!Array.isArray(list)) throw bad('data.alerts', 'expected an array');
  const out: Alert[] = [];
  for (let i = 0; i < list.length; i++) {
    const a: unknown = list[i];
    if (!obj(a)) throw bad(`data.alerts.${i}`, 'expected an object');
    const { labels, state } = a;
    if (!obj(labels)) throw bad(`data.alerts.${i}.labels`, 'expected an object');
    for (const k in labels) {
      if (typeof labels[k] !== 'string') throw bad(`data.alerts.${i}.labels.${k}`, 'expected a string');
    }
    if (state !== 'pending' && state !== 'firing' && state !== 'inactive')
      throw bad(`data.alerts.${i}.state`, 'expected one of "pending", "firing", "inactive"');
    if (state === 'inactive') continue;
    const l = labels as Record<string, string>;
    out.push({ name: l.alertname ?? '(unnamed)', labels: l, state });
  }
  return out;
}

export function prometheusAlerts(base: string, auth: HttpAuth): AlertSource {
  const url = join(base, 'api/v1/alerts');
  return {
    description: `Prometheus ${base}`,
    async fetch(signal) {
      return promAlertList(await getJson(url, auth, signal), `Prometheus ${url}`);
    },
  };
}

/** Alertmanager API v2: only active alerts that are neither silenced nor inhibited. */
export function alertmanagerAlerts(base: string, auth: HttpAuth): AlertSource {
  const url = join(base, 'api/v2/alerts');
  url.search = new URLSearchParams({ active: 'true', silenced: 'false', inhibited: 'false' }).toString();
  return {
    description: `Alertmanager ${base}`,
    async fetch(signal) {
      const body = check(amAlerts, await getJson(url, auth, signal), `Alertmanager ${url}`);
      return body
        .filter((a) => a.status.state === 'active')
        .map((a): Alert => ({ name: a.labels.alertname ?? '(unnamed)', labels: a.labels, state: 'firing' }));
    },
  };
}

/** A custom PromQL gate: blocks while the expression returns a non-empty result. */
export function promqlGate(base: string, expr: string, auth: HttpAuth): AlertSource {
  const url = join(base, 'api/v1/query');
  url.search = new URLSearchParams({ query: expr }).toString();
  return {
    description: `PromQL gate ${JSON.stringify(expr)}`,
    async fetch(signal) {
      const body = check(
        promQuery,
        await getJson(url, auth, signal),
        `Prometheus query ${JSON.stringify(expr)}`,
      );
      const n = body.data.result.length;
      if (body.data.resultType === 'scalar' || body.data.resultType === 'string') {
        throw new SourceError(
          `PromQL gate ${JSON.stringify(expr)} must return a vector, not a ${body.data.resultType}`,
        );
      }
      return n ? [{ name: `PromQLGate`, labels: { expr }, state: 'firing' }] : [];
    },
  };
}
