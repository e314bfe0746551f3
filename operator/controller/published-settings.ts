// The controller's settings that change a plan (the planner options: one spec, planner-options.ts), published on
// the lock Lease (`kreboot.io/settings`) so that `kreboot plan` and `status` plan as the running controller does
// without the person re-typing its flags. Pure: encoding, decoding and merging with the CLI's own flags.
import { z } from 'zod';
import type { OptionValues } from '../config/options.ts';
import type { plannerOptions } from './planner-options.ts';

export type PlannerValues = OptionValues<typeof plannerOptions>;

const limit = z.union([z.number().int().positive(), z.string().regex(/^\d+(\.\d+)?%$/)]);
const schema = z.object({
  concurrency: limit,
  zoneConcurrency: limit.optional(),
  nodeSelector: z.string(),
  defaultWindow: z.enum(['always', 'never']),
  windowSelector: z.string(),
  windowEndMargin: z.number().int().nonnegative(),
  retryAfterFailure: z.number().int().nonnegative(),
});

/** What is written: the values (durations in ms) and the version that wrote them. Stable key order. */
export function encodeSettings(v: PlannerValues, version: string): string {
  const values = {
    concurrency: v.concurrency,
    ...(v.zoneConcurrency !== undefined && { zoneConcurrency: v.zoneConcurrency }),
    nodeSelector: v.nodeSelector,
    defaultWindow: v.defaultWindow,
    windowSelector: v.windowSelector,
    windowEndMargin: v.windowEndMargin,
    retryAfterFailure: v.retryAfterFailure,
  };
  return JSON.stringify({ version, values });
}

export type Decoded =
  | { ok: true; values: PlannerValues; version: string }
  | { ok: false; why: string }
  | { ok: false; absent: true; why: string };

export function decodeSettings(raw: string | undefined): Decoded {
  if (!raw) return { ok: false, absent: true, why: 'no controller has published its settings yet' };
  try {
    const parsed = z.object({ version: z.string(), values: schema }).parse(JSON.parse(raw));
    return { ok: true, values: parsed.values as PlannerValues, version: parsed.version };
  } catch (err) {
    return {
      ok: false,
      why: `the published settings are unreadable (${(err as Error).message.slice(0, 200)})`,
    };
  }
}

/**
 * The planner values the CLI uses: each flag the person gave wins; every other option comes from the controller's
 * published settings when they are readable, else the option's default.
 */
export function mergeSettings(
  cli: PlannerValues,
  given: ReadonlySet<string>,
  published: Decoded,
): { values: PlannerValues; source: string } {
  if (!published.ok) return { values: cli, source: `flags and defaults: ${published.why}` };
  const values = { ...published.values } as Record<string, unknown>;
  for (const [k, v] of Object.entries(cli)) if (given.has(k)) values[k] = v;
  const overridden = Object.keys(cli).filter((k) => given.has(k));
  return {
    values: values as PlannerValues,
    source: `the controller's (kreboot ${published.version})${overridden.length ? `, overridden here: ${overridden.join(', ')}` : ''}`,
  };
}
