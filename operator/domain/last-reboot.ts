// `kreboot.io/last-reboot`: the record of a node's last completed kreboot reboot, written by the controller when
// it releases the node and kept afterwards. It is the cluster's own history of how long a reboot takes (lock
// taken → node uncordoned), which `kreboot plan --timeline` uses to predict when each pending node will reboot.
import { z } from 'zod';

export interface LastReboot {
  /** When the controller took the node's lock entry (ms); absent when the entry's time was unreadable. */
  started?: number;
  /** When it released the node after the reboot (ms). */
  finished: number;
  fromBootId?: string;
  toBootId?: string;
}

const rfc3339 = z.iso.datetime({ offset: true });
const recordSchema = z.object({
  started: rfc3339.optional(),
  finished: rfc3339,
  seconds: z.number().nonnegative().optional(),
  fromBootId: z.string().optional(),
  toBootId: z.string().optional(),
});

export function encodeLastReboot(r: LastReboot): string {
  const iso = (t: number) => new Date(t).toISOString();
  return JSON.stringify({
    ...(r.started !== undefined ? { started: iso(r.started) } : {}),
    finished: iso(r.finished),
    ...(r.started !== undefined ? { seconds: Math.round((r.finished - r.started) / 100) / 10 } : {}),
    ...(r.fromBootId ? { fromBootId: r.fromBootId } : {}),
    ...(r.toBootId ? { toBootId: r.toBootId } : {}),
  });
}

/** The record, or why it cannot be used (a hand-edited or foreign value counts as no history). */
export function decodeLastReboot(
  raw: string | undefined,
): { ok: true; value: LastReboot; durationMs?: number } | { ok: false; why: string } | undefined {
  if (raw === undefined || raw === '') return undefined;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { ok: false, why: 'not JSON' };
  }
  const parsed = recordSchema.safeParse(json);
  if (!parsed.success)
    return {
      ok: false,
      why: parsed.error.issues.map((i) => `${i.path.join('.') || '(record)'}: ${i.message}`).join('; '),
    };
  const v = parsed.data;
  const started = v.started === undefined ? undefined : Date.parse(v.started);
  const finished = Date.parse(v.finished);
  const durationMs = started !== undefined && finished >= started ? finished - started : undefined;
  return {
    ok: true,
    value: {
      ...(started !== undefined ? { started } : {}),
      finished,
      ...(v.fromBootId ? { fromBootId: v.fromBootId } : {}),
      ...(v.toBootId ? { toBootId: v.toBootId } : {}),
    },
    ...(durationMs !== undefined ? { durationMs } : {}),
  };
}
