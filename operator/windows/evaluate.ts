// MaintenanceWindow objects → what the planner needs (a window gate and per-window budgets) and what their
// status should say. Pure: objects, nodes and the time in; decisions out. An object that fails to parse or
// evaluate is Valid=False and blocks the nodes it selects (fails closed); it never throws.

import type { z } from 'zod';
import { type Budget, isInFlight, resolveLimit } from '../domain/budget.ts';
import type { NodeView } from '../domain/node.ts';
import { needsReboot } from '../domain/node.ts';
import { fromObject, matches, type Requirement } from '../kube/selector.ts';
import { parseDuration } from '../util/duration.ts';
import { type MaintenanceWindowStatus, maintenanceWindowSpecSchema } from './crd-schema.ts';
import { type Exclusion, type Interval, Schedule, SEARCH_HORIZON_TEXT } from './schedule.ts';

export interface WindowObject {
  metadata: { name: string; generation?: number; uid?: string; resourceVersion?: string };
  spec?: unknown;
  status?: MaintenanceWindowStatus;
}

export interface EvaluatedWindow {
  name: string;
  uid?: string;
  generation: number;
  valid: boolean;
  invalidReason?: string;
  suspended: boolean;
  /** undefined when the selector itself is invalid: then it selects every node (fail closed). */
  selector: Requirement[] | undefined;
  maxConcurrent?: number | string;
  active: boolean;
  current?: Interval;
  next?: Interval;
  exclusion?: Exclusion;
  /** Label keys the selector reads (for caching matches across nodes). */
  keys: string[];
}

const iso = (t: number) => new Date(t).toISOString();
/** What status says when the search found no start: it searched the whole Gregorian cycle, not "ever". */
const noWindow = `no window within ${SEARCH_HORIZON_TEXT} (its times are all skipped by DST changes)`;
const until = (i: Interval) =>
  i.openEnd ? `beyond ${iso(i.end)} (the merged window does not close before then)` : `until ${iso(i.end)}`;

type WindowSpec = z.output<typeof maintenanceWindowSpecSchema>;

function scheduleOf(spec: WindowSpec): Schedule {
  return new Schedule({
    schedule: spec.schedule,
    durationMs: parseDuration(spec.duration)!,
    timeZone: spec.timeZone,
    exclusions: (spec.exclusions ?? []).map((x) => ({
      start: Date.parse(x.start),
      end: Date.parse(x.end),
      reason: x.reason,
    })),
  });
}

/**
 * The window's next `count` active intervals from `now` (the current one first, if open), exclusions cut out,
 * for `kreboot windows --next N`. A window that never closes ends the list (its interval is openEnd).
 */
export function upcomingWindows(
  obj: WindowObject,
  now: number,
  count: number,
): { ok: true; timeZone: string; intervals: Interval[] } | { ok: false; why: string } {
  const parsed = maintenanceWindowSpecSchema.safeParse(obj.spec ?? {});
  if (!parsed.success)
    return {
      ok: false,
      why: parsed.error.issues.map((i) => `spec.${i.path.join('.')}: ${i.message}`).join('; '),
    };
  try {
    const schedule = scheduleOf(parsed.data);
    const intervals: Interval[] = [];
    let next = schedule.currentWindow(now) ?? schedule.nextWindow(now);
    while (next && intervals.length < count) {
      intervals.push(next);
      if (next.openEnd) break;
      next = schedule.nextWindow(next.end);
    }
    return { ok: true, timeZone: parsed.data.timeZone, intervals };
  } catch (err) {
    return { ok: false, why: (err as Error).message };
  }
}

export function evaluateWindow(obj: WindowObject, now: number): EvaluatedWindow {
  const base = { name: obj.metadata.name, uid: obj.metadata.uid, generation: obj.metadata.generation ?? 0 };
  const parsed = maintenanceWindowSpecSchema.safeParse(obj.spec ?? {});
  if (!parsed.success) {
    const why = parsed.error.issues.map((i) => `spec.${i.path.join('.')}: ${i.message}`).join('; ');
    return {
      ...base,
      valid: false,
      invalidReason: why,
      suspended: false,
      selector: undefined,
      active: false,
      keys: [],
    };
  }
  const spec = parsed.data;
  let selector: Requirement[] | undefined;
  try {
    selector = fromObject(spec.nodeSelector);
  } catch (err) {
    return {
      ...base,
      valid: false,
      invalidReason: `spec.nodeSelector: ${(err as Error).message}`,
      suspended: spec.suspend,
      selector: undefined,
      active: false,
      keys: [],
    };
  }
  const keys = [...new Set(selector.map((r) => r.key))];
  try {
    const schedule = scheduleOf(spec);
    const current = schedule.currentWindow(now);
    return {
      ...base,
      valid: true,
      suspended: spec.suspend,
      selector,
      maxConcurrent: spec.maxConcurrent,
      active: current !== undefined,
      current,
      next: schedule.nextWindow(now),
      exclusion: schedule.exclusionAt(now),
      keys,
    };
  } catch (err) {
    return {
      ...base,
      valid: false,
      invalidReason: (err as Error).message,
      suspended: spec.suspend,
      selector,
      active: false,
      keys,
    };
  }
}

/** Matches nodes against every window, caching by the values of the label keys the windows read. */
export class WindowIndex {
  private readonly cache = new Map<string, EvaluatedWindow[]>();
  private readonly keys: string[];

  constructor(readonly windows: EvaluatedWindow[]) {
    this.keys = [...new Set(windows.flatMap((w) => w.keys))].sort();
  }

  private readonly byNode = new Map<string, EvaluatedWindow[]>();

  /** The windows that select n. Nodes with the same values for the keys any selector reads share one array. */
  selecting(n: NodeView): EvaluatedWindow[] {
    const known = this.byNode.get(n.name);
    if (known) return known;
    const sig = this.keys.map((k) => (k in n.labels ? `=${n.labels[k]}` : '!')).join('\u0000');
    let hit = this.cache.get(sig);
    if (!hit) {
      hit = this.windows.filter((w) => w.selector === undefined || matches(w.selector, n.labels));
      this.cache.set(sig, hit);
    }
    this.byNode.set(n.name, hit);
    return hit;
  }
}

export interface WindowPolicy {
  defaultWindow: 'always' | 'never';
  endMarginMs: number;
  /** Label selector on MaintenanceWindow objects; empty = all. */
  selector: string;
}

/** The window gate: undefined when the node may start now, else why not. */
export function windowGate(
  index: WindowIndex,
  policy: WindowPolicy,
  now: number,
): (n: NodeView) => string | undefined {
  // The answer depends only on which windows select the node: compute it once per distinct set.
  const memo = new Map<EvaluatedWindow[], string | undefined>();
  return (n) => {
    // A person's one-off: `kreboot request NODE --outside-window` (kreboot.io/outside-window).
    if (n.outsideWindow) return undefined;
    if (index.windows.length === 0) {
      return policy.defaultWindow === 'always'
        ? undefined
        : 'no MaintenanceWindow exists and --default-window=never';
    }
    const selecting = index.selecting(n);
    if (memo.has(selecting)) return memo.get(selecting);
    const answer = gateFor(selecting, policy, now);
    memo.set(selecting, answer);
    return answer;
  };
}

function gateFor(selecting: EvaluatedWindow[], policy: WindowPolicy, now: number): string | undefined {
  if (selecting.length === 0) return 'no MaintenanceWindow selects this node';
  const invalid = selecting.find((w) => !w.valid);
  if (invalid) return `MaintenanceWindow ${invalid.name} is invalid (fails closed): ${invalid.invalidReason}`;
  const usable = selecting.filter((w) => !w.suspended);
  const end = mergedEnd(usable, now);
  if (end !== undefined && end - now > policy.endMarginMs) return undefined;
  const reasons: string[] = [];
  if (end !== undefined) reasons.push(`the window closes at ${iso(end)}, within the end margin`);
  for (const w of selecting) {
    if (w.suspended) {
      reasons.push(`${w.name} is suspended`);
    } else if (w.active) {
    } else if (w.exclusion) {
      reasons.push(`${w.name} is in exclusion "${w.exclusion.reason ?? ''}" until ${iso(w.exclusion.end)}`);
    } else {
      reasons.push(w.next ? `${w.name} opens at ${iso(w.next.start)}` : `${w.name} has ${noWindow}`);
    }
  }
  return `outside every window: ${reasons.slice(0, 3).join('; ')}${reasons.length > 3 ? '; …' : ''}`;
}

/**
 * When the open windows close, taken together: windows of different objects that overlap or touch count as one
 * for the end margin (a kured window migrated into several objects, or two teams' windows back to back).
 */
function mergedEnd(windows: EvaluatedWindow[], now: number): number | undefined {
  let end: number | undefined;
  for (const w of windows)
    if (w.active && w.current && w.current.start <= now) end = Math.max(end ?? 0, w.current.end);
  if (end === undefined) return undefined;
  for (let changed = true; changed; ) {
    changed = false;
    for (const w of windows) {
      for (const iv of [w.current, w.next]) {
        if (iv && iv.start <= end && iv.end > end) {
          end = iv.end;
          changed = true;
        }
      }
    }
  }
  return end;
}

/** One budget per valid window with maxConcurrent, over the nodes it selects (percentages of those). */
export function windowBudgets(index: WindowIndex, nodes: NodeView[]): Budget[] {
  const membersOf = new Map<EvaluatedWindow, Set<string>>();
  for (const n of nodes) {
    for (const w of index.selecting(n)) {
      let m = membersOf.get(w);
      if (!m) {
        m = new Set();
        membersOf.set(w, m);
      }
      m.add(n.name);
    }
  }
  const budgets: Budget[] = [];
  for (const w of index.windows) {
    if (!w.valid || w.maxConcurrent === undefined) continue;
    const members = membersOf.get(w) ?? new Set<string>();
    budgets.push({
      name: `MaintenanceWindow ${w.name} maxConcurrent`,
      selects: (n) => members.has(n.name),
      limit: resolveLimit(w.maxConcurrent, members.size),
    });
  }
  return budgets;
}

type Condition = NonNullable<MaintenanceWindowStatus['conditions']>[number];

function condition(
  prev: Condition[] | undefined,
  c: Omit<Condition, 'lastTransitionTime'>,
  now: number,
): Condition {
  const old = prev?.find((x) => x.type === c.type);
  return { ...c, lastTransitionTime: old && old.status === c.status ? old.lastTransitionTime : iso(now) };
}

/** The status a window should have now. */
export function desiredStatus(
  obj: WindowObject,
  w: EvaluatedWindow,
  index: WindowIndex,
  nodes: NodeView[],
  locked: ReadonlySet<string>,
  now: number,
): MaintenanceWindowStatus {
  const selected = nodes.filter((n) => index.selecting(n).includes(w));
  const prev = obj.status?.conditions;
  const active = w.valid && !w.suspended && w.active;
  return {
    observedGeneration: w.generation,
    active,
    ...(w.current ? { currentWindow: { start: iso(w.current.start), end: iso(w.current.end) } } : {}),
    ...(w.next ? { nextWindow: { start: iso(w.next.start), end: iso(w.next.end) } } : {}),
    nodes: {
      selected: selected.length,
      pending: selected.filter((n) => !isInFlight(n, locked) && needsReboot(n)).length,
      rebooting: selected.filter((n) => isInFlight(n, locked)).length,
    },
    conditions: [
      condition(
        prev,
        w.valid
          ? {
              type: 'Valid',
              status: 'True',
              reason: 'Valid',
              message: 'the window parses and evaluates',
              observedGeneration: w.generation,
            }
          : {
              type: 'Valid',
              status: 'False',
              reason: 'Invalid',
              message: w.invalidReason ?? 'invalid',
              observedGeneration: w.generation,
            },
        now,
      ),
      condition(
        prev,
        active
          ? {
              type: 'Active',
              status: 'True',
              reason: 'InWindow',
              message: `open ${until(w.current!)}`,
              observedGeneration: w.generation,
            }
          : {
              type: 'Active',
              status: 'False',
              reason: !w.valid
                ? 'Invalid'
                : w.suspended
                  ? 'Suspended'
                  : w.exclusion
                    ? 'Excluded'
                    : 'OutsideWindow',
              message: w.next ? `next window opens at ${iso(w.next.start)}` : noWindow,
              observedGeneration: w.generation,
            },
        now,
      ),
    ],
  };
}

/** JSON with object keys sorted: the API server returns a custom resource's fields in its own (sorted) order. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

/** Status equality for "write only on change", whatever order the fields come in. */
export function sameStatus(a: MaintenanceWindowStatus | undefined, b: MaintenanceWindowStatus): boolean {
  return canonical(a ?? {}) === canonical(b);
}

/**
 * Evaluates windows once per generation and time interval: an evaluation stays true until the next boundary
 * (the current window's end, the next start, an exclusion's end), so most reconciles reuse it and only the
 * first after a boundary pays for the cron arithmetic.
 */
export class WindowEvaluator {
  private readonly cache = new Map<
    string,
    { key: string; from: number; until: number; w: EvaluatedWindow }
  >();

  evaluate(objs: WindowObject[], now: number): EvaluatedWindow[] {
    const seen = new Set<string>();
    const out = objs.map((o) => {
      const name = o.metadata.name;
      seen.add(name);
      const key = `${o.metadata.uid ?? ''}/${o.metadata.generation ?? 0}/${o.metadata.generation === undefined ? JSON.stringify(o.spec) : ''}`;
      const hit = this.cache.get(name);
      if (hit && hit.key === key && now >= hit.from && now < hit.until) return hit.w;
      const w = evaluateWindow(o, now);
      const until = Math.min(
        w.current?.end ?? Number.POSITIVE_INFINITY,
        w.next?.start ?? Number.POSITIVE_INFINITY,
        w.exclusion?.end ?? Number.POSITIVE_INFINITY,
        now + 3_600_000,
      );
      this.cache.set(name, { key, from: now, until, w });
      return w;
    });
    for (const name of this.cache.keys()) if (!seen.has(name)) this.cache.delete(name);
    return out;
  }
}
