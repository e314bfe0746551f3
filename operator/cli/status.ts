// `kreboot status` and `kreboot plan` (also `kubectl kreboot status|plan`): read-only views for on-call engineers.
// status: every node kreboot knows about, the lock, the windows. plan: what the planner would do now and why each
// waiting node waits (window, budget, exclusion…), from the same pure functions the controller runs. Alerts, PDBs
// and blocking pods are evaluated by the controller only; the plan says so.
import { stringify } from 'yaml';
import { z } from 'zod';
import { ConfigError, helpText, type OptionSpecs, parseOptions } from '../config/options.ts';
import { boolString, durationString } from '../config/zod-values.ts';
import { parseLock } from '../controller/lock.ts';
import { OPEN_GATES, type Plan, plan } from '../controller/plan.ts';
import { plannerOptions } from '../controller/planner-options.ts';
import { decodeSettings, mergeSettings, type PlannerValues } from '../controller/published-settings.ts';
import { DEFAULT_HORIZON_MS, timeline } from '../controller/timeline.ts';
import { type Budget, budgetsFor } from '../domain/budget.ts';
import { type NodeView, needsReboot, viewOf } from '../domain/node.ts';
import { ApiError, type KubeHttp } from '../kube/http.ts';
import { Reflector } from '../kube/reflector.ts';
import type { NodeLite } from '../kube/types.ts';
import { Annotations, Leases, MaintenanceWindowResource } from '../protocol.ts';
import { clientOptions, connectClient } from '../runtime/client-connect.ts';
import { VERSION } from '../version.ts';
import {
  type EvaluatedWindow,
  evaluateWindow,
  WindowIndex,
  type WindowObject,
  windowBudgets,
  windowGate,
} from '../windows/evaluate.ts';
import { CliHttp } from './http.ts';
import { outputOption, shortOutput, table } from './output.ts';
import { controllerBlocks, estimates, renderTimeline, timelineData } from './timeline.ts';

export const statusOptions = {
  namespace: {
    flag: 'namespace',
    help: "the controller's namespace, where the lock lives (default kreboot-system)",
    schema: z.string().min(1).default('kreboot-system'),
    example: 'kreboot-system',
  },
  // `plan` plans as the controller does: pass it the controller's planner flags (same spec, same defaults).
  ...plannerOptions,
  watch: {
    flag: 'watch',
    help: 'status: keep showing it, redrawn from watches whenever something changes (Ctrl-C ends)',
    schema: boolString.default(false),
    boolean: true,
    example: 'true',
  },
  timeline: {
    flag: 'timeline',
    help: "plan: predict when each pending node starts and ends, running the planner forward over windows, budgets and zones with durations from this cluster's history (kreboot.io/last-reboot)",
    schema: boolString.default(false),
    boolean: true,
    example: 'true',
  },
  horizon: {
    flag: 'horizon',
    help: 'plan --timeline: how far ahead to predict (default 168h, at most 744h)',
    schema: durationString.default(DEFAULT_HORIZON_MS).pipe(
      z
        .number()
        .min(60_000, 'must be at least 1m')
        .max(744 * 3_600_000, 'must be at most 744h (31 days)'),
    ),
    example: '72h',
  },
  assumeDuration: {
    flag: 'assume-duration',
    help: 'plan --timeline: assume every node takes this long from start to release, instead of the history',
    schema: durationString.pipe(z.number().min(1000, 'must be at least 1s')).optional(),
    example: '8m',
  },
  ...outputOption,
  ...clientOptions,
} satisfies OptionSpecs;

interface Snapshot {
  nodes: NodeLite[];
  objects: WindowObject[];
  views: NodeView[];
  lock: ReturnType<typeof parseLock>;
  windows: EvaluatedWindow[];
  index: WindowIndex;
}

type LeaseObj = { metadata: { name: string; annotations?: Record<string, string> }; spec: object };

async function readLease(http: KubeHttp, ns: string): Promise<LeaseObj | undefined> {
  return http
    .request<LeaseObj>(`/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/${Leases.lock}`)
    .catch((err) => {
      if (err instanceof ApiError && err.status === 404) return undefined;
      throw err;
    });
}

async function snapshot(
  http: KubeHttp,
  lease: LeaseObj | undefined,
  nodeSelector: string,
  windowSelector: string,
  now: number,
): Promise<Snapshot> {
  const q = nodeSelector ? `?labelSelector=${encodeURIComponent(nodeSelector)}` : '';
  const nodes = (await http.request<{ items: NodeLite[] }>(`/api/v1/nodes${q}`)).items;
  let objs: WindowObject[] = [];
  try {
    const r = MaintenanceWindowResource;
    const wq = windowSelector ? `?labelSelector=${encodeURIComponent(windowSelector)}` : '';
    objs = (await http.request<{ items: WindowObject[] }>(`/apis/${r.group}/${r.version}/${r.plural}${wq}`))
      .items;
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) throw err;
  }
  return snapshotOf(nodes, lease, objs, now);
}

function snapshotOf(
  nodes: NodeLite[],
  lease: LeaseObj | undefined,
  objs: WindowObject[],
  now: number,
): Snapshot {
  const windows = objs.map((o) => evaluateWindow(o, now));
  return {
    nodes,
    objects: objs,
    views: nodes.map((n) => viewOf(n as never)),
    lock: parseLock(lease as never),
    windows,
    index: new WindowIndex(windows),
  };
}

/**
 * `status --watch`: the same view, redrawn whenever a watched object changes (nodes, the lock, windows: list then
 * watch, no polling), and every 30 s for the ages. Runs until interrupted.
 */
async function watchStatus(
  http: KubeHttp,
  ns: string,
  selectors: { nodes: string; windows: string },
  output: 'table' | 'json' | 'yaml',
  settingsLine: (lease: LeaseObj | undefined) => string,
): Promise<number> {
  const ctl = new AbortController();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => ctl.abort());
  let timer: NodeJS.Timeout | undefined;
  const draw = () => {
    timer ??= setTimeout(() => {
      timer = undefined;
      if (!nodes.hasSynced || !leases.hasSynced || !windows.hasSynced) return;
      const now = Date.now();
      const lease = leases.list().find((l) => l.metadata.name === Leases.lock);
      const snap = snapshotOf(nodes.list(), lease, windows.list(), now);
      if (output === 'table')
        process.stdout.write(
          `\x1b[H\x1b[2J${new Date(now).toISOString()}\n\n${renderStatus(snap, now)}${settingsLine(lease)}\n`,
        );
      // One document per change: a line of JSON (or a YAML document) for tools that follow the stream.
      else if (output === 'json') process.stdout.write(`${JSON.stringify(statusData(snap))}\n`);
      else process.stdout.write(`---\n${stringify(statusData(snap))}`);
    }, 100);
  };
  const onError = (err: Error) => process.stderr.write(`watch: ${err.message} (retrying)\n`);
  const r = MaintenanceWindowResource;
  const nodes = new Reflector<NodeLite>(http, '/api/v1/nodes', draw, {
    query: selectors.nodes ? { labelSelector: selectors.nodes } : {},
    onError,
  });
  const leases = new Reflector<LeaseObj & { metadata: { resourceVersion?: string } }>(
    http,
    `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`,
    draw,
    { query: { fieldSelector: `metadata.name=${Leases.lock}` }, onError },
  );
  const windows = new Reflector<WindowObject>(http, `/apis/${r.group}/${r.version}/${r.plural}`, draw, {
    query: selectors.windows ? { labelSelector: selectors.windows } : {},
    optional: true,
    onError,
  });
  const ages = setInterval(draw, 30_000);
  await Promise.all([nodes.run(ctl.signal), leases.run(ctl.signal), windows.run(ctl.signal)]);
  clearInterval(ages);
  if (timer) clearTimeout(timer);
  return 0;
}

const ago = (now: number, t: number | undefined) => {
  if (t === undefined) return '';
  const s = Math.max(0, Math.round((now - t) / 1000));
  return s < 120
    ? `${s}s`
    : s < 7200
      ? `${Math.round(s / 60)}m`
      : s < 172800
        ? `${Math.round(s / 3600)}h`
        : `${Math.round(s / 86400)}d`;
};

export function renderStatus(s: Snapshot, now: number): string {
  const rows = [['NODE', 'REBOOT', 'SINCE', 'PHASE', 'IN PHASE', 'READY', 'CORDONED', 'BOOT', 'NOTE']];
  for (const n of [...s.views].sort((a, b) => a.name.localeCompare(b.name))) {
    const note = n.excluded
      ? 'excluded'
      : n.requiredReason === 'StillRequiredAfterReboot'
        ? 'sentinel survived the reboot'
        : n.lastFailure
          ? `last failure: ${n.lastFailure}`
          : '';
    rows.push([
      n.name,
      n.required === 'True'
        ? 'yes'
        : n.required === 'False'
          ? 'no'
          : n.required === 'Unknown'
            ? 'unknown'
            : '-',
      n.required === 'True' ? ago(now, n.requiredSince) : '',
      n.phase ?? '-',
      ago(now, n.phaseSince),
      n.ready ? 'yes' : 'NO',
      n.unschedulable ? (n.wasUnschedulable ? 'yes (by a person)' : 'yes') : 'no',
      (n.bootId ?? '').slice(0, 8),
      note,
    ]);
  }
  const lines = [table(rows), ''];
  lines.push(`lock: ${s.lock.entries.length ? s.lock.entries.map((e) => e.node).join(', ') : '(free)'}`);
  if (s.lock.paused) lines.push(`PAUSED: ${s.lock.paused}`);
  if (s.lock.halted)
    lines.push(`HALTED: ${s.lock.halted} (remove kreboot.io/halted from the ${Leases.lock} Lease to resume)`);
  if (s.lock.corrupt) lines.push(`LOCK UNREADABLE: ${s.lock.corrupt}`);
  if (s.windows.length) {
    lines.push(
      '',
      table([
        ['WINDOW', 'VALID', 'ACTIVE', 'UNTIL / NEXT', 'NOTE'],
        ...s.windows.map((w) => [
          w.name,
          w.valid ? 'yes' : 'NO',
          w.valid && !w.suspended && w.active ? 'yes' : 'no',
          w.current
            ? new Date(w.current.end).toISOString()
            : w.next
              ? new Date(w.next.start).toISOString()
              : '-',
          !w.valid
            ? (w.invalidReason ?? '')
            : w.suspended
              ? 'suspended'
              : w.exclusion
                ? `exclusion: ${w.exclusion.reason ?? ''}`
                : '',
        ]),
      ]),
    );
  } else {
    lines.push("windows: none (the controller's --default-window decides)");
  }
  return `${lines.join('\n')}\n`;
}

const iso = (t: number | undefined) => (t === undefined ? undefined : new Date(t).toISOString());
const interval = (i: { start: number; end: number; openEnd?: boolean } | undefined) =>
  i && { start: iso(i.start), end: iso(i.end), ...(i.openEnd ? { openEnd: true } : {}) };

/** `status -o json|yaml`: the same facts as the table, with full values and times in RFC 3339. */
export function statusData(s: Snapshot) {
  return {
    nodes: [...s.views]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((n) => ({
        name: n.name,
        rebootRequired: n.required ?? null,
        reason: n.requiredReason ?? null,
        requiredSince: iso(n.requiredSince) ?? null,
        phase: n.phase ?? null,
        phaseSince: iso(n.phaseSince) ?? null,
        ready: n.ready,
        cordoned: n.unschedulable,
        cordonedByPerson: n.unschedulable && n.wasUnschedulable,
        excluded: n.excluded,
        requested: n.requested,
        bootId: n.bootId ?? null,
        lastFailure: n.lastFailure ?? null,
      })),
    lock: {
      inFlight: s.lock.entries.map((e) => e.node),
      paused: s.lock.paused ?? null,
      halted: s.lock.halted ?? null,
      unreadable: s.lock.corrupt ?? null,
    },
    windows: s.windows.map((w) => ({
      name: w.name,
      valid: w.valid,
      invalidReason: w.invalidReason ?? null,
      suspended: w.suspended,
      active: w.valid && !w.suspended && w.active,
      current: interval(w.current) ?? null,
      next: interval(w.next) ?? null,
      exclusion: w.exclusion ? { ...interval(w.exclusion), reason: w.exclusion.reason ?? null } : null,
    })),
  };
}

export function renderPlan(p: Plan): string {
  const lines: string[] = [];
  lines.push(p.start.length ? `would start now: ${p.start.join(', ')}` : 'would start now: nothing');
  if (p.inFlight.length) lines.push(`in progress: ${p.inFlight.join(', ')}`);
  if (p.waiting.length)
    lines.push(
      '',
      table([['WAITING', 'REASON', 'DETAIL'], ...p.waiting.map((w) => [w.node, w.reason, w.detail])]),
    );
  lines.push('', 'not evaluated here (the controller does): alerts, PodDisruptionBudgets, blocking pods.');
  return `${lines.join('\n')}\n`;
}

/** The planner settings a plan was made with, and where they came from (the controller's, or flags). */
function settingsLine(source: string, o: PlannerValues): string {
  const zone = o.zoneConcurrency !== undefined ? `, zone concurrency ${o.zoneConcurrency}` : '';
  const margin = o.windowEndMargin ? `, window end margin ${o.windowEndMargin / 1000}s` : '';
  return `settings: ${source}: concurrency ${o.concurrency}${zone}, default window ${o.defaultWindow}${margin}\n`;
}

function emit(format: 'table' | 'json' | 'yaml', data: unknown, table: () => string): void {
  if (format === 'json') process.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
  else if (format === 'yaml') process.stdout.write(stringify(data));
  else process.stdout.write(table());
}

export async function runStatus(command: 'status' | 'plan', argv: string[]): Promise<number> {
  const { values: cfg, help, given } = parseOptions(statusOptions, shortOutput(argv), process.env);
  if (help) {
    process.stdout.write(
      helpText(
        command,
        command === 'status'
          ? 'Nodes, lock and windows as kreboot sees them.'
          : 'What the controller would do now, and why each waiting node waits.',
        statusOptions,
      ),
    );
    return 0;
  }
  const http = new CliHttp(await connectClient(cfg), `kreboot-cli/${VERSION}`);
  try {
    const now = Date.now();
    // Plan as the running controller does: its published settings, each overridden by a flag given here.
    const lease = await readLease(http, cfg.namespace);
    const planner = Object.fromEntries(
      Object.keys(plannerOptions).map((k) => [k, cfg[k as keyof typeof plannerOptions]]),
    ) as PlannerValues;
    const merged = mergeSettings(
      planner,
      given as Set<string>,
      decodeSettings(lease?.metadata.annotations?.[Annotations.settings]),
    );
    const o = merged.values;
    if (cfg.timeline && command !== 'plan')
      throw new ConfigError(['--timeline: only for plan, e.g. kreboot plan --timeline']);
    if (cfg.watch) {
      if (command !== 'status')
        throw new ConfigError(['--watch: only for status, e.g. kreboot status --watch']);
      return await watchStatus(
        http,
        cfg.namespace,
        { nodes: o.nodeSelector, windows: o.windowSelector },
        cfg.output,
        (l) => {
          const m = mergeSettings(
            planner,
            given as Set<string>,
            decodeSettings(l?.metadata.annotations?.[Annotations.settings]),
          );
          return `settings: ${m.source}`;
        },
      );
    }
    const s = await snapshot(http, lease, o.nodeSelector, o.windowSelector, now);
    if (command === 'status') {
      emit(
        cfg.output,
        { ...statusData(s), settings: { source: merged.source, values: o } },
        () => `${renderStatus(s, now)}settings: ${merged.source}\n`,
      );
      return 0;
    }
    if (cfg.timeline) {
      const est = estimates(s.nodes, cfg.assumeDuration);
      const reports = await controllerBlocks(http, s.views);
      const t = timeline({
        nodes: s.views,
        locked: new Map(s.lock.entries.map((e) => [e.node, Date.parse(e.since) || now])),
        windows: s.objects,
        defaultWindow: o.defaultWindow,
        endMarginMs: o.windowEndMargin,
        concurrency: o.concurrency,
        zoneConcurrency: o.zoneConcurrency,
        paused: s.lock.paused ?? s.lock.corrupt,
        halted: s.lock.halted,
        retryAfterFailureMs: o.retryAfterFailure,
        now,
        horizonMs: cfg.horizon,
        durationOf: est.durationOf,
        blocked: reports.blocked,
      });
      emit(
        cfg.output,
        {
          ...timelineData(t, now, est, s.views),
          notes: reports.note ? [reports.note] : [],
          settings: { source: merged.source, values: o },
        },
        () =>
          `timeline from ${new Date(now).toISOString()} to ${new Date(t.horizonEnd).toISOString()} (--horizon)\n` +
          `durations: ${est.summary}\n\n${renderTimeline(t, now, est, s.views)}\n` +
          `${reports.note ? `note: ${reports.note}\n` : ''}` +
          settingsLine(merged.source, o),
      );
      return 0;
    }
    const locked = new Set(s.lock.entries.map((e) => e.node));
    const gate = windowGate(
      s.index,
      { defaultWindow: o.defaultWindow, endMarginMs: o.windowEndMargin, selector: '' },
      now,
    );
    const budgets: Budget[] = [
      ...budgetsFor(s.views, o.concurrency, o.zoneConcurrency),
      ...windowBudgets(s.index, s.views),
    ];
    const p = plan({
      nodes: s.views,
      locked,
      budgets,
      gates: { ...OPEN_GATES, window: gate },
      now,
      paused: s.lock.paused ?? s.lock.corrupt,
      halted: s.lock.halted,
      retryAfterFailureMs: o.retryAfterFailure,
    });
    const pending = s.views.filter((n) => needsReboot(n) && !locked.has(n.name) && !n.phase).length;
    emit(
      cfg.output,
      {
        startNow: p.start,
        inProgress: p.inFlight,
        waiting: p.waiting,
        pending,
        notEvaluated: ['alerts', 'PodDisruptionBudgets', 'blocking pods'],
        settings: { source: merged.source, values: o },
      },
      () =>
        `${renderPlan(p)}${pending} node(s) need a reboot; ${Annotations.phase} set on ${s.views.filter((n) => n.phase).length}.\n` +
        settingsLine(merged.source, o),
    );
    return 0;
  } finally {
    http.close();
  }
}
