// Alert sources behind one interface. fetch + zod rather than the prometheus-query package: three GET endpoints,
// each answer validated, every failure a clear reason (ARCHITECTURE.md).
import { z } from 'zod';
import { getJson, type HttpAuth, SourceError } from './http-json.ts';
import type { Alert, AlertSource } from './model.ts';

const labels = z.record(z.string(), z.string());

const promAlerts = z.object({
  status: z.literal('success'),
  data: z.object({
    alerts: z.array(z.object({ labels, state: z.enum(['pending', 'firing', 'inactive']) })),
  }),
});

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

export function prometheusAlerts(base: string, auth: HttpAuth): AlertSource {
  const url = join(base, 'api/v1/alerts');
  return {
    description: `Prometheus ${base}`,
    async fetch(signal) {
      const body = check(promAlerts, await getJson(url, auth, signal), `Prometheus ${url}`);
      return body.data.alerts
        .filter((a) => a.state !== 'inactive')
        .map(
          (a): Alert => ({
            name: a.labels.alertname ?? '(unnamed)',
            labels: a.labels,
            state: a.state as Alert['state'],
          }),
        );
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
