// Every kured flag onto kreboot: an agent or controller option (by its camelCase name, as the Helm chart's values
// and the option tables spell it), a MaintenanceWindow (the time flags), something kreboot does by itself, or
// "unsupported" with the reason. Pure: flags in, kreboot configuration out. The values are then checked against
// kreboot's own option schemas, so what this prints is what `kreboot agent|controller` accepts.
import { agentOptions } from '../../agent/config.ts';
import { parseOptions } from '../../config/options.ts';
import { controllerOptions } from '../../controller/config.ts';
import { parseKuredFlags, toMaintenanceWindows } from '../../windows/migrate-kured.ts';
import { KURED_FLAGS, type KuredFlag } from './kured-input.ts';

export interface KrebootConfig {
  /** agent.config.<key> / controller.config.<key> in the chart's values: each one a flag of that command. */
  agent: Record<string, string | number | boolean>;
  controller: Record<string, string | number | boolean>;
  /** The chart's own settings (agent.rebootMethod, agent.hostRunPath), outside `config`. */
  agentChart: Record<string, string>;
  windows: Array<Record<string, unknown>>;
  /** Mapped, with what kreboot does differently (YAML comments in the output). */
  notes: string[];
  /** `kured flag --NAME: unsupported: REASON`, one per flag (stderr). */
  unsupported: Array<{ flag: string; reason: string }>;
  /** What became of each kured flag given: nothing is dropped without a trace. */
  disposition: Map<string, 'mapped' | 'window' | 'note' | 'kured default' | 'unsupported'>;
}

type Rule = (
  values: string[],
  all: ReadonlyMap<string, string[]>,
) => Partial<Omit<KrebootConfig, 'windows' | 'unsupported'>> & { unsupported?: string; note?: string };

const last = (v: string[]) => v[v.length - 1]!;
const goDuration = (s: string) => s.trim();
const isZero = (s: string) => /^(0+(\.0+)?(ns|us|µs|ms|s|m|h)?)+$/.test(s.trim()) || s.trim() === '';
const WINDOW = { note: '' }; // handled together by the window conversion

const FIXED_MESSAGES =
  "kreboot's messages are fixed sentences naming the node and what happened (started, rebooted, failed, halted, blocked); for your own wording send to a generic webhook with --notify-template";

/** kured's Slack webhook and shoutrrr URLs, together: kreboot takes them all in --notify-url. */
const notifyUrls = (all: ReadonlyMap<string, string[]>) => ({
  controller: {
    notifyUrl: [...(all.get('slack-hook-url') ?? []), ...(all.get('notify-url') ?? [])].join(' '),
  },
  note: 'notifyUrl holds webhook tokens: better in a Secret, mounted with controller.notifyCredentials.secretName and read with config.notifyUrlFile',
});

const RULES: Record<string, Rule> = {
  'node-id': () => ({
    note: "--node-id: the agent takes its node name from the downward API (NODE_NAME), as kured's chart does",
  }),
  'force-reboot': (v) => (last(v) === 'true' ? { controller: { drainTimeoutPolicy: 'force' } } : {}),
  'metrics-host': (v) => ({
    note: `--metrics-host=${last(v)}: kreboot's agent and controller serve metrics on all addresses by default (--metrics-address)`,
  }),
  'metrics-port': (v) => ({
    note: `--metrics-port=${last(v)}: kreboot's own ports (agent 9746, controller 9747) are kept: its Services, ServiceMonitors and dashboards are set up for them`,
  }),
  'drain-grace-period': (v) =>
    Number(last(v)) < 0 ? {} : { controller: { drainGracePeriod: Number(last(v)) } },
  'drain-pod-selector': (v) => (last(v) === '' ? {} : { controller: { drainPodSelector: last(v) } }),
  'skip-wait-for-delete-timeout': (v) =>
    Number(last(v)) > 0 ? { controller: { skipWaitForDeleteTimeout: `${Number(last(v))}s` } } : {},
  'drain-delay': (v) => (isZero(last(v)) ? {} : { controller: { drainDelay: goDuration(last(v)) } }),
  'reboot-delay': (v) => (isZero(last(v)) ? {} : { controller: { rebootDelay: goDuration(last(v)) } }),
  'drain-timeout': (v) =>
    isZero(last(v))
      ? {
          note: '--drain-timeout=0 (kured: wait forever): kreboot always bounds a drain; its --drain-timeout default (10m) applies, then --drain-timeout-policy',
        }
      : { controller: { drainTimeout: goDuration(last(v)) } },
  'reboot-method': (v) => ({ agentChart: { rebootMethod: last(v) } }),
  period: (v) => ({
    agent: { checkPeriod: goDuration(last(v)) },
    note: '--period: the agent also sees the sentinel file appear at once (file-system events); the period is its fallback',
  }),
  'ds-namespace': () => ({
    note: "--ds-namespace, --ds-name: where kured's lock lives; `migrate-kured --apply` reads it there",
  }),
  'ds-name': () => ({ note: '' }),
  'lock-annotation': () => ({
    note: "--lock-annotation: kured's lock key; `migrate-kured --apply` reads it; kreboot's lock is the Lease kreboot-lock",
  }),
  'lock-ttl': (v) =>
    isZero(last(v))
      ? {}
      : {
          unsupported:
            "kreboot's lock never expires by time: an entry means a node is between cordon and uncordon, and expiring it is how two nodes go down at once; a node deleted from the cluster releases its entry, and a node that does not come back halts the rollout for a person (--reboot-timeout)",
        },
  'lock-release-delay': (v) => (isZero(last(v)) ? {} : { controller: { soakTime: goDuration(last(v)) } }),
  'prometheus-url': (v) => ({ controller: { prometheusUrl: last(v) } }),
  'alert-filter-regexp': (v) => ({ controller: { alertFilterRegexp: last(v) } }),
  'alert-filter-match-only': (v) => ({ controller: { alertFilterMatchOnly: last(v) === 'true' } }),
  'alert-firing-only': (v) => ({ controller: { alertFiringOnly: last(v) === 'true' } }),
  'reboot-sentinel': (v) => {
    const path = last(v);
    const i = path.lastIndexOf('/');
    const dir = i > 0 ? path.slice(0, i) : '/';
    const base = path.slice(i + 1);
    return {
      ...(dir !== '/var/run' && dir !== '/run' ? { agentChart: { hostRunPath: dir } } : {}),
      ...(base !== 'reboot-required' ? { agent: { sentinelFile: `/host/var/run/${base}` } } : {}),
    };
  },
  'prefer-no-schedule-taint': (v) =>
    last(v) === '' ? {} : { controller: { preferNoScheduleTaint: last(v) } },
  'reboot-sentinel-command': (v) => ({ agent: { sentinelCommand: last(v) } }),
  'reboot-command': (v) => (last(v) === '/bin/systemctl reboot' ? {} : { agent: { rebootCommand: last(v) } }),
  concurrency: (v) => ({ controller: { concurrency: Number(last(v)) } }),
  'reboot-signal': (v) =>
    last(v) === '39'
      ? {}
      : {
          unsupported: `kreboot's signal method sends SIGRTMIN+5 (39), the signal systemd reboots on; ${last(v)} is not supported`,
        },
  'slack-hook-url': (_, all) => notifyUrls(all),
  'slack-username': () => ({
    unsupported:
      "kreboot posts as the webhook's own app to the channel the webhook was made for; make the webhook for that channel",
  }),
  'slack-channel': () => ({
    unsupported:
      "kreboot posts as the webhook's own app to the channel the webhook was made for; make the webhook for that channel",
  }),
  'notify-url': (_, all) => notifyUrls(all),
  'message-template-uncordon': () => ({ unsupported: FIXED_MESSAGES }),
  'message-template-drain': () => ({ unsupported: FIXED_MESSAGES }),
  'message-template-reboot': () => ({ unsupported: FIXED_MESSAGES }),
  'blocking-pod-selector': (v) => ({ controller: { blockingPodSelector: v.join(';') } }),
  'reboot-days': () => WINDOW,
  'start-time': () => WINDOW,
  'end-time': () => WINDOW,
  'time-zone': () => WINDOW,
  'annotate-nodes': () => ({
    note: '--annotate-nodes: kreboot always records its progress on the node (kreboot.io/phase, kreboot.io/phase-since) and the last reboot (kreboot.io/last-reboot)',
  }),
  'log-format': (v) => ({ agent: { logFormat: last(v) }, controller: { logFormat: last(v) } }),
  'pre-reboot-node-labels': (v) => ({ controller: { preRebootNodeLabels: v.join(',') } }),
  'post-reboot-node-labels': (v) => ({ controller: { postRebootNodeLabels: v.join(',') } }),
};

/** The flags grouped by name, repeats kept in order (kured's slices and arrays append; a plain flag's last wins). */
export function groupFlags(flags: KuredFlag[]): Map<string, string[]> {
  const by = new Map<string, string[]>();
  for (const f of flags) {
    const kind = KURED_FLAGS[f.name];
    const values =
      kind === 'slice'
        ? f.value
            .split(',')
            .map((x) => x.trim())
            .filter(Boolean)
        : [f.value];
    by.set(f.name, [...(by.get(f.name) ?? []), ...values]);
  }
  return by;
}

export function mapKured(flags: KuredFlag[], windowName = 'kured-migrated'): KrebootConfig {
  const out: KrebootConfig = {
    agent: {},
    controller: {},
    agentChart: {},
    windows: [],
    notes: [],
    unsupported: [],
    disposition: new Map(),
  };
  const by = groupFlags(flags);
  const origin = new Map<string, string>();
  for (const [name, values] of by) {
    const rule = RULES[name];
    if (!rule) {
      out.unsupported.push({ flag: name, reason: 'not a flag of kured 1.23' });
      out.disposition.set(name, 'unsupported');
      continue;
    }
    const r = rule(values, by);
    out.disposition.set(
      name,
      r === WINDOW
        ? 'window'
        : r.unsupported
          ? 'unsupported'
          : r.agent || r.controller || r.agentChart
            ? 'mapped'
            : r.note !== undefined
              ? 'note'
              : 'kured default',
    );
    if (r.unsupported) out.unsupported.push({ flag: name, reason: r.unsupported });
    for (const k of Object.keys(r.agent ?? {})) origin.set(`agent.${k}`, name);
    for (const k of Object.keys(r.controller ?? {})) origin.set(`controller.${k}`, name);
    Object.assign(out.agent, r.agent);
    Object.assign(out.controller, r.controller);
    Object.assign(out.agentChart, r.agentChart);
    if (r.note) out.notes.push(r.note);
  }
  // The time flags, together: one window (or a few) open exactly when kured would reboot.
  const timeFlags = ['reboot-days', 'start-time', 'end-time', 'time-zone'];
  const windowArgs = timeFlags.flatMap((f) => (by.get(f) ?? []).map((v) => `--${f}=${v}`));
  try {
    const merged = [...(by.get('reboot-days') ?? [])].join(',');
    const w = parseKuredFlags([
      ...windowArgs.filter((a) => !a.startsWith('--reboot-days=')),
      ...(merged ? [`--reboot-days=${merged}`] : []),
    ]);
    const m = toMaintenanceWindows(w, windowName);
    out.windows = m.objects;
    out.notes.push(...m.notes);
  } catch (err) {
    for (const f of timeFlags.filter((x) => by.has(x))) {
      out.unsupported.push({
        flag: f,
        reason: (err as Error).message.replace(/^invalid configuration:\s*/, ''),
      });
      out.disposition.set(f, 'unsupported');
    }
  }
  // Checked against kreboot's own schemas: a value kreboot would refuse is reported, not printed.
  check(out, origin, 'agent', agentOptions);
  check(out, origin, 'controller', controllerOptions);
  return out;
}

function check(
  out: KrebootConfig,
  origin: ReadonlyMap<string, string>,
  which: 'agent' | 'controller',
  specs: typeof agentOptions | typeof controllerOptions,
) {
  const byKey = specs as Record<string, { flag: string }>;
  for (const [key, value] of Object.entries(out[which])) {
    const spec = byKey[key];
    if (!spec) throw new Error(`migrate-kured: ${which} has no option ${key}`);
    const argv = [`--${spec.flag}=${String(value)}`];
    if (which === 'agent') argv.push('--node-name=x');
    try {
      parseOptions(specs, argv, {});
    } catch (err) {
      delete out[which][key];
      const kured = origin.get(`${which}.${key}`) ?? spec.flag;
      out.disposition.set(kured, 'unsupported');
      out.unsupported.push({
        flag: kured,
        reason: `kreboot refuses the converted value: ${(err as Error).message.replace(/^invalid configuration:\s*/, '')}`,
      });
    }
  }
}
