// `kreboot plan --timeline`: the I/O around the pure timeline (controller/timeline.ts). Durations come from this
// cluster's own history — each node's `kreboot.io/last-reboot` record, written by the controller on release — as
// the node's own last duration, else the median over the nodes managed, else DEFAULT_REBOOT_DURATION_MS; and
// what only the controller evaluates (alerts, PDBs, blocking pods) from its RebootWaiting Events.

import {
  DEFAULT_REBOOT_DURATION_MS,
  median,
  type Timeline,
  type TimelineEntry,
} from '../controller/timeline.ts';
import { decodeLastReboot } from '../domain/last-reboot.ts';
import type { NodeView } from '../domain/node.ts';
import { ApiError, type KubeHttp } from '../kube/http.ts';
import type { NodeLite } from '../kube/types.ts';
import { Annotations } from '../protocol.ts';
import { formatDuration } from '../util/duration.ts';
import { table } from './output.ts';

export type EstimateSource = 'flag' | 'own history' | 'cluster median' | 'default';

export interface Estimates {
  durationOf: (n: NodeView) => number;
  sourceOf: (n: NodeView) => EstimateSource;
  /** One line on where the durations come from. */
  summary: string;
  clusterMedianMs?: number;
  samples: number;
}

export function estimates(nodes: NodeLite[], assumeMs: number | undefined): Estimates {
  const own = new Map<string, number>();
  for (const n of nodes) {
    const r = decodeLastReboot(n.metadata.annotations?.[Annotations.lastReboot]);
    if (r?.ok && r.durationMs !== undefined) own.set(n.metadata.name, r.durationMs);
  }
  const clusterMedianMs = median([...own.values()]);
  if (assumeMs !== undefined)
    return {
      durationOf: () => assumeMs,
      sourceOf: () => 'flag',
      summary: `every node assumed to take ${formatDuration(assumeMs)} (--assume-duration)`,
      ...(clusterMedianMs !== undefined ? { clusterMedianMs } : {}),
      samples: own.size,
    };
  const fallback = clusterMedianMs ?? DEFAULT_REBOOT_DURATION_MS;
  return {
    durationOf: (n) => own.get(n.name) ?? fallback,
    sourceOf: (n) =>
      own.has(n.name) ? 'own history' : clusterMedianMs !== undefined ? 'cluster median' : 'default',
    summary:
      clusterMedianMs !== undefined
        ? `from ${Annotations.lastReboot} on ${own.size} node(s): each node's own last reboot, else their median ${formatDuration(clusterMedianMs)}`
        : `no reboot history yet (${Annotations.lastReboot}): every node assumed to take ${formatDuration(DEFAULT_REBOOT_DURATION_MS)}; --assume-duration sets another`,
    ...(clusterMedianMs !== undefined ? { clusterMedianMs } : {}),
    samples: own.size,
  };
}

type Blocked = Map<string, { reason: 'alert' | 'pdb' | 'blocking-pod'; detail: string }>;

interface CoreEvent {
  involvedObject?: { kind?: string; name?: string };
  message?: string;
  eventTime?: string | null;
  lastTimestamp?: string | null;
  metadata: { creationTimestamp?: string };
}

/**
 * The controller's latest RebootWaiting report per node, when it names a gate only the controller evaluates and
 * is newer than the node's current need. Unreadable Events (RBAC) are not an error: the plan then says so.
 */
export async function controllerBlocks(
  http: KubeHttp,
  views: NodeView[],
): Promise<{ blocked: Blocked; note?: string }> {
  let items: CoreEvent[];
  try {
    const q = new URLSearchParams({ fieldSelector: 'involvedObject.kind=Node,reason=RebootWaiting' });
    items = (await http.request<{ items: CoreEvent[] }>(`/api/v1/namespaces/default/events?${q}`)).items;
  } catch (err) {
    if (err instanceof ApiError && (err.status === 403 || err.status === 401))
      return {
        blocked: new Map(),
        note: "the controller's reports (Events in namespace default) could not be read: alerts, PDBs and blocking pods assumed clear",
      };
    throw err;
  }
  const byName = new Map(views.map((v) => [v.name, v]));
  const latest = new Map<string, { at: number; message: string }>();
  for (const e of items) {
    const name = e.involvedObject?.name;
    if (!name || !byName.has(name)) continue;
    const at = Date.parse(e.eventTime ?? e.lastTimestamp ?? e.metadata.creationTimestamp ?? '');
    if (Number.isNaN(at)) continue;
    const prev = latest.get(name);
    if (!prev || at > prev.at) latest.set(name, { at, message: e.message ?? '' });
  }
  const blocked: Blocked = new Map();
  for (const [name, { at, message }] of latest) {
    const m = /^reboot waits \((alert|pdb|blocking-pod)\): (.*)$/s.exec(message);
    const since = byName.get(name)!.requiredSince;
    if (!m || (since !== undefined && at < since)) continue;
    blocked.set(name, {
      reason: m[1] as 'alert' | 'pdb' | 'blocking-pod',
      detail: `${m[2]} (reported ${new Date(at).toISOString()})`,
    });
  }
  return { blocked };
}

const stamp = (t: number) => new Date(t).toISOString().replace(/\.\d+Z$/, 'Z');
const rel = (now: number, t: number) =>
  t <= now ? 'now' : `+${formatDuration(Math.round((t - now) / 1000) * 1000)}`;

export function renderTimeline(t: Timeline, now: number, est: Estimates, views: NodeView[]): string {
  const byName = new Map(views.map((v) => [v.name, v]));
  const rows = [['NODE', 'ZONE', 'START', 'END', 'DURATION', 'NOTE']];
  for (const e of t.entries) {
    const n = byName.get(e.node);
    rows.push([
      e.node,
      e.zone ?? '-',
      e.start === undefined ? '-' : `${stamp(e.start)} (${e.inProgress ? 'started' : rel(now, e.start)})`,
      e.end === undefined ? '-' : `${stamp(e.end)} (${rel(now, e.end)})`,
      `${formatDuration(e.durationMs)}${n ? ` (${est.sourceOf(n)})` : ''}`,
      e.unscheduled
        ? `not scheduled: ${e.unscheduled.reason}: ${e.unscheduled.detail}`
        : e.inProgress
          ? `in progress (${n?.phase ?? 'starting'})`
          : '',
    ]);
  }
  return `${table(rows)}\n`;
}

export function timelineData(t: Timeline, now: number, est: Estimates, views: NodeView[]) {
  const byName = new Map(views.map((v) => [v.name, v]));
  const iso = (x: number | undefined) => (x === undefined ? null : new Date(x).toISOString());
  return {
    generatedAt: iso(now),
    horizonEnd: iso(t.horizonEnd),
    durations: {
      summary: est.summary,
      samples: est.samples,
      clusterMedianSeconds: est.clusterMedianMs === undefined ? null : est.clusterMedianMs / 1000,
      defaultSeconds: DEFAULT_REBOOT_DURATION_MS / 1000,
    },
    nodes: t.entries.map((e: TimelineEntry) => ({
      node: e.node,
      zone: e.zone ?? null,
      start: iso(e.start),
      end: iso(e.end),
      inProgress: e.inProgress,
      durationSeconds: e.durationMs / 1000,
      estimate: byName.has(e.node) ? est.sourceOf(byName.get(e.node)!) : null,
      unscheduled: e.unscheduled ?? null,
    })),
  };
}
