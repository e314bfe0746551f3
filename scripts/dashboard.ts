// The Grafana dashboard, as data: every panel's PromQL in one list that tests parse with promtool and run
// against a real Prometheus scraping kreboot. `npm run gen:deploy` writes deploy/monitoring/kreboot-dashboard.json.

export interface PanelSpec {
  title: string;
  type: 'stat' | 'timeseries' | 'state-timeline' | 'bargauge';
  description: string;
  targets: Array<{ expr: string; legend?: string }>;
  unit?: string;
  w: number;
  h: number;
}

export const PANELS: PanelSpec[] = [
  {
    title: 'Nodes needing a reboot',
    type: 'stat',
    description: 'Agents reporting /var/run/reboot-required (or their sentinel command) right now.',
    targets: [{ expr: 'sum(kreboot_reboot_required)' }],
    w: 4,
    h: 4,
  },
  {
    title: 'Waiting to start',
    type: 'stat',
    description: 'Nodes that need a reboot and have not started (controller view).',
    targets: [{ expr: 'max(kreboot_nodes{phase="pending"})' }],
    w: 4,
    h: 4,
  },
  {
    title: 'In progress',
    type: 'stat',
    description: 'Nodes cordoned by kreboot through verified.',
    targets: [{ expr: 'sum(max by (phase) (kreboot_nodes{phase!="pending"}))' }],
    w: 4,
    h: 4,
  },
  {
    title: 'Rebooted (24 h)',
    type: 'stat',
    description: 'Successful reboots over the last day, all controller replicas.',
    targets: [{ expr: 'sum(increase(kreboot_reboots_total{result="success"}[1d]))' }],
    w: 4,
    h: 4,
  },
  {
    title: 'Rollout halted',
    type: 'stat',
    description: '1 when a node did not come back: nothing new starts until a person clears it.',
    targets: [{ expr: 'max(kreboot_rollout_halted)' }],
    w: 4,
    h: 4,
  },
  {
    title: 'Oldest pending',
    type: 'stat',
    description: 'How long the longest-waiting node has needed a reboot.',
    targets: [{ expr: 'max(kreboot_oldest_pending_seconds)' }],
    unit: 's',
    w: 4,
    h: 4,
  },
  {
    title: 'Rollout progress: nodes by phase',
    type: 'timeseries',
    description: 'pending → cordoned → draining → approved → rebooting → verifying.',
    targets: [{ expr: 'max by (phase) (kreboot_nodes)', legend: '{{phase}}' }],
    w: 12,
    h: 8,
  },
  {
    title: 'Reboots by result',
    type: 'timeseries',
    description: 'success, drain-aborted (drain timeout, abort policy), timeout (node did not come back).',
    targets: [
      { expr: 'sum by (result) (increase(kreboot_reboots_total[$__rate_interval]))', legend: '{{result}}' },
    ],
    w: 12,
    h: 8,
  },
  {
    title: 'Phase durations (p50, p95)',
    type: 'timeseries',
    description: 'How long each phase takes; drains and reboots dominate.',
    targets: [
      {
        expr: 'histogram_quantile(0.5, sum by (le, phase) (rate(kreboot_phase_duration_seconds_bucket[$__rate_interval])))',
        legend: 'p50 {{phase}}',
      },
      {
        expr: 'histogram_quantile(0.95, sum by (le, phase) (rate(kreboot_phase_duration_seconds_bucket[$__rate_interval])))',
        legend: 'p95 {{phase}}',
      },
    ],
    unit: 's',
    w: 12,
    h: 8,
  },
  {
    title: 'Blocked nodes by reason',
    type: 'timeseries',
    description: 'Why waiting nodes wait: window, alert, pdb, blocking-pod, budget, halted, …',
    targets: [
      {
        expr: 'max by (reason) (kreboot_blocked_nodes) > 0 or max by (reason) (kreboot_blocked_nodes) * 0',
        legend: '{{reason}}',
      },
    ],
    w: 12,
    h: 8,
  },
  {
    title: 'Per-node timeline: phase',
    type: 'state-timeline',
    description: 'Which node was in which phase when (seconds in phase).',
    targets: [
      { expr: 'max by (node, phase) (kreboot_node_phase_age_seconds)', legend: '{{node}} {{phase}}' },
    ],
    unit: 's',
    w: 12,
    h: 10,
  },
  {
    title: 'Per-node timeline: reboot required',
    type: 'state-timeline',
    description: "Each agent's report over time (1 = needs a reboot).",
    targets: [{ expr: 'max by (node) (kreboot_reboot_required)', legend: '{{node}}' }],
    w: 12,
    h: 10,
  },
  {
    title: 'Agents and controller replicas up',
    type: 'timeseries',
    description: 'Scrape health; the leader exports kreboot_leader 1.',
    targets: [
      { expr: 'count(up{job="kreboot-agent"} == 1)', legend: 'agents up' },
      { expr: 'count(up{job="kreboot-controller"} == 1)', legend: 'controllers up' },
      { expr: 'sum(kreboot_leader)', legend: 'leaders' },
    ],
    w: 24,
    h: 6,
  },
];

export function dashboard(): unknown {
  let x = 0;
  let y = 0;
  let rowH = 0;
  const panels = PANELS.map((p, i) => {
    if (x + p.w > 24) {
      x = 0;
      y += rowH;
      rowH = 0;
    }
    const gridPos = { x, y, w: p.w, h: p.h };
    x += p.w;
    rowH = Math.max(rowH, p.h);
    return {
      id: i + 1,
      type: p.type,
      title: p.title,
      description: p.description,
      datasource: { type: 'prometheus', uid: '$datasource' },
      gridPos,
      fieldConfig: { defaults: { unit: p.unit ?? 'short' }, overrides: [] },
      options: {},
      targets: p.targets.map((t, j) => ({
        refId: String.fromCharCode(65 + j),
        expr: t.expr,
        legendFormat: t.legend ?? '__auto',
        datasource: { type: 'prometheus', uid: '$datasource' },
      })),
    };
  });
  return {
    title: 'kreboot',
    uid: 'kreboot',
    description: 'Rolling node reboots: what needs a reboot, what is in progress, what blocks it.',
    tags: ['kreboot', 'kubernetes'],
    editable: true,
    schemaVersion: 39,
    time: { from: 'now-24h', to: 'now' },
    refresh: '30s',
    templating: {
      list: [
        { name: 'datasource', type: 'datasource', query: 'prometheus', label: 'Prometheus', current: {} },
      ],
    },
    panels,
  };
}

/** Every expression, with Grafana's variables replaced so Prometheus (and promtool) can evaluate it. */
export function dashboardExprs(rateInterval = '1m'): string[] {
  return PANELS.flatMap((p) => p.targets.map((t) => t.expr.replaceAll('$__rate_interval', rateInterval)));
}
