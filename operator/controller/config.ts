// `kreboot controller` configuration: flags and KREBOOT_* env vars, one zod schema per option.
import { hostname } from 'node:os';
import { z } from 'zod';
import { parseMatchers } from '../alerts/filter.ts';
import type { OptionSpecs, OptionValues } from '../config/options.ts';
import { boolString } from '../config/zod-values.ts';
import { parseSelector } from '../kube/selector.ts';
import { clientOptions } from '../runtime/client-connect.ts';
import { commonOptions } from '../runtime/command-runtime.ts';
import { parseTarget } from './notify/targets.ts';
import { duration, plannerOptions } from './planner-options.ts';

/**
 * V8 flags the controller runs with (Deployment, tests, benches), measured at 150,000 pods (BENCHMARKS.md,
 * "Scale"): a young generation of 4 MB semi-spaces instead of V8's default (up to 16–32 MB each, kept once the
 * initial list grew them): RSS after the list 377 → about 200 MB; and the old generation collected once it grows
 * 30 % past what survived the last full collection, instead of V8's dynamic factor (up to 4×, which let a
 * leader's heap of 120 MB in use reach 495 MB of RSS during a rollout: 249 MB with it). 2 MB semi-spaces used
 * about as little memory but promoted more of each pass's garbage (pass p95 122 ms against 94 ms).
 */
export const CONTROLLER_NODE_FLAGS: readonly string[] = [
  '--max-semi-space-size=4',
  '--heap-growing-percent=30',
];

/** A Kubernetes qualified name (label or taint key): an optional DNS prefix and a name of up to 63 characters. */
const QUALIFIED_NAME =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

/** "a=b,c=d" as labels; each key a qualified name, each value a label value. */
const labelList = z
  .string()
  .default('')
  .transform((s, ctx) => {
    const out: Record<string, string> = {};
    for (const item of s
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean)) {
      const i = item.indexOf('=');
      const key = i === -1 ? item : item.slice(0, i);
      const value = i === -1 ? '' : item.slice(i + 1);
      if (i === -1 || !QUALIFIED_NAME.test(key) || !LABEL_VALUE.test(value)) {
        ctx.addIssue({
          code: 'custom',
          message: `"${item}" is not a label; write key=value, e.g. kreboot.io/rebooting=true`,
        });
        return z.NEVER;
      }
      out[key] = value;
    }
    return out;
  });

export const controllerOptions = {
  namespace: {
    flag: 'namespace',
    help: 'namespace of the leader-election Lease and the cluster lock (default $POD_NAMESPACE, else kreboot-system)',
    schema: z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a namespace name')
      .default(process.env.POD_NAMESPACE ?? 'kreboot-system'),
    example: 'kreboot-system',
  },
  identity: {
    flag: 'identity',
    help: 'this replica in the leader Lease (default $POD_NAME, else hostname-pid)',
    schema: z
      .string()
      .min(1)
      .default(process.env.POD_NAME ?? `${hostname()}-${process.pid}`),
    example: 'kreboot-controller-0',
  },
  ...plannerOptions,
  drainTimeout: {
    flag: 'drain-timeout',
    help: 'how long a drain may take before --drain-timeout-policy applies (default 10m)',
    schema: duration(600_000, 1000),
    example: '10m',
  },
  drainTimeoutPolicy: {
    flag: 'drain-timeout-policy',
    help: 'abort (uncordon if kreboot cordoned, release, retry later) or force (delete the pods left and reboot, loudly); default abort',
    schema: z.enum(['abort', 'force'], { error: 'must be "abort" or "force"' }).default('abort'),
    example: 'abort',
  },
  drainDelay: {
    flag: 'drain-delay',
    help: 'after cordoning, wait this long before draining (kured --drain-delay; default 0s)',
    schema: duration(0),
    example: '1m',
  },
  rebootDelay: {
    flag: 'reboot-delay',
    help: 'after the drain finishes, wait this long before approving the reboot (kured --reboot-delay; default 0s)',
    schema: duration(0),
    example: '90s',
  },
  drainGracePeriod: {
    flag: 'drain-grace-period',
    help: "seconds each evicted pod gets to terminate; -1 leaves each pod's own terminationGracePeriodSeconds (default -1)",
    schema: z.coerce
      .number({ error: 'must be a number of seconds' })
      .int('must be a whole number of seconds')
      .min(-1, "must be -1 (the pod's own) or more")
      .default(-1),
    example: '60',
  },
  drainPodSelector: {
    flag: 'drain-pod-selector',
    help: 'evict only the pods this label selector matches; the others stay through the reboot (default: all pods)',
    schema: z
      .string()
      .default('')
      .transform((s, ctx) => {
        try {
          return parseSelector(s);
        } catch (err) {
          ctx.addIssue({ code: 'custom', message: (err as Error).message });
          return z.NEVER;
        }
      }),
    example: 'app!=critical',
  },
  skipWaitForDeleteTimeout: {
    flag: 'skip-wait-for-delete-timeout',
    help: 'stop waiting for a pod that has been terminating longer than this (its node is gone from under it, a finalizer hangs); default 0s: wait for every pod',
    schema: duration(0),
    example: '5m',
  },
  preRebootNodeLabels: {
    flag: 'pre-reboot-node-labels',
    help: 'labels (key=value, comma-separated) set on a node just before kreboot cordons it (kured --pre-reboot-node-labels)',
    schema: labelList,
    example: 'kreboot.io/rebooting=true',
  },
  postRebootNodeLabels: {
    flag: 'post-reboot-node-labels',
    help: 'labels (key=value, comma-separated) set on a node when kreboot uncordons it after the reboot (kured --post-reboot-node-labels)',
    schema: labelList,
    example: 'kreboot.io/rebooting=false',
  },
  preferNoScheduleTaint: {
    flag: 'prefer-no-schedule-taint',
    help: 'taint key put with effect PreferNoSchedule on nodes waiting for their reboot, removed after it (kured --prefer-no-schedule-taint); default none',
    schema: z
      .string()
      .default('')
      .refine(
        (s) => s === '' || QUALIFIED_NAME.test(s),
        'must be a taint key like kreboot.io/reboot-pending',
      ),
    example: 'kreboot.io/reboot-pending',
  },
  notifyUrl: {
    flag: 'notify-url',
    help: "where to send rollout notifications (reboot started, done, failed, halted, node blocked): Slack, Teams or JSON webhook URLs, space-separated; kured's slack://, teams://, generic:// (shoutrrr) accepted. URLs hold secrets: prefer --notify-url-file",
    schema: z
      .string()
      .default('')
      .superRefine((s, ctx) => {
        s.split(/\s+/)
          .filter(Boolean)
          .forEach((url, i) => {
            try {
              parseTarget(url);
            } catch (err) {
              // The URL itself is not repeated: it may hold a token.
              ctx.addIssue({ code: 'custom', message: `URL ${i + 1}: ${(err as Error).message}` });
            }
          });
      }),
    example: 'https://hooks.slack.com/services/T000/B000/XXXX',
  },
  notifyUrlFile: {
    flag: 'notify-url-file',
    help: 'a file (a mounted Secret) with notification URLs, one per line (# comments); read at start, never logged',
    schema: z.string().min(1).optional(),
    example: '/etc/kreboot/notify/urls',
  },
  notifyTemplate: {
    flag: 'notify-template',
    help: 'the JSON body for generic webhooks, with {{kind}}, {{node}}, {{message}}, {{time}}, {{cluster}}; default: those fields as a JSON object',
    schema: z.string().optional(),
    example: '{"text":"{{message}}"}',
  },
  notifyBlockedAfter: {
    flag: 'notify-blocked-after',
    help: 'notify once about a node that has needed a reboot this long and waits for something else than its turn (window, alert, PDB…); default 24h',
    schema: duration(86_400_000, 60_000),
    example: '6h',
  },
  notifyClusterName: {
    flag: 'notify-cluster-name',
    help: 'a name put in front of every notification, for people who get them from several clusters',
    schema: z.string().optional(),
    example: 'prod-eu-1',
  },
  drainEmptydirPods: {
    flag: 'drain-emptydir-pods',
    help: 'evict pods with emptyDir volumes (data lost) or let them block the drain; default evict',
    schema: z.enum(['evict', 'block'], { error: 'must be "evict" or "block"' }).default('evict'),
    example: 'block',
  },
  drainUnmanagedPods: {
    flag: 'drain-unmanaged-pods',
    help: 'evict pods without a controller (never recreated) or let them block the drain; default evict',
    schema: z.enum(['evict', 'block'], { error: 'must be "evict" or "block"' }).default('evict'),
    example: 'block',
  },
  rebootTimeout: {
    flag: 'reboot-timeout',
    help: 'per phase (approved, rebooting, verifying): a node that does not progress in time halts the rollout (default 15m)',
    schema: duration(900_000, 1000),
    example: '15m',
  },
  soakTime: {
    flag: 'soak-time',
    help: 'wait this long after a node is back before releasing it (default 0s)',
    schema: duration(0),
    example: '1m',
  },
  prometheusUrl: {
    flag: 'prometheus-url',
    help: 'Prometheus to ask for alerts (/api/v1/alerts) and PromQL gates; default none',
    schema: z.url({ error: 'must be a URL like http://prometheus:9090' }).optional(),
    example: 'http://prometheus.monitoring:9090',
  },
  alertmanagerUrl: {
    flag: 'alertmanager-url',
    help: 'Alertmanager (API v2) to ask for active, unsilenced, uninhibited alerts; default none',
    schema: z.url({ error: 'must be a URL like http://alertmanager:9093' }).optional(),
    example: 'http://alertmanager.monitoring:9093',
  },
  alertFilterRegexp: {
    flag: 'alert-filter-regexp',
    help: 'as kured: alerts whose name matches are ignored (or, with --alert-filter-match-only, the only ones counted)',
    schema: z
      .string()
      .optional()
      .transform((s, ctx) => {
        if (!s) return undefined;
        try {
          return new RegExp(s);
        } catch (err) {
          ctx.addIssue({ code: 'custom', message: `not a regular expression: ${(err as Error).message}` });
          return z.NEVER;
        }
      }),
    example: '^(Watchdog|InfoInhibitor)$',
  },
  alertFilterMatchOnly: {
    flag: 'alert-filter-match-only',
    help: 'count only alerts matching --alert-filter-regexp (kured)',
    schema: boolString.default(false),
    boolean: true,
    example: 'true',
  },
  alertFiringOnly: {
    flag: 'alert-firing-only',
    help: 'ignore pending alerts (kured)',
    schema: boolString.default(false),
    boolean: true,
    example: 'true',
  },
  alertMatchers: {
    flag: 'alert-matchers',
    help: 'count only alerts matching these label matchers, e.g. severity=~"critical|warning"',
    schema: z
      .string()
      .default('')
      .transform((s, ctx) => {
        try {
          return parseMatchers(s);
        } catch (err) {
          ctx.addIssue({ code: 'custom', message: (err as Error).message });
          return z.NEVER;
        }
      }),
    example: 'severity=~"critical|warning"',
  },
  alertNodeLabel: {
    flag: 'alert-node-label',
    help: 'an alert whose label of this name names a node blocks only that node (e.g. node or instance); others block all',
    schema: z.string().min(1).optional(),
    example: 'node',
  },
  alertIncludeKreboot: {
    flag: 'alert-include-kreboot',
    help: "let kreboot's own alerts (Kreboot*, app=kreboot) block reboots too (default: they never do)",
    schema: boolString.default(false),
    boolean: true,
    example: 'true',
  },
  promqlGate: {
    flag: 'promql-gate',
    help: 'PromQL expressions (";"-separated) that block reboots while they return a non-empty result',
    schema: z
      .string()
      .default('')
      .transform((s) =>
        s
          .split(';')
          .map((x) => x.trim())
          .filter(Boolean),
      ),
    example: 'sum(kube_pod_status_ready{condition="false"}) > 5',
  },
  alertTimeout: {
    flag: 'alert-timeout',
    help: 'per alert-source request (default 5s)',
    schema: duration(5000, 100),
    example: '5s',
  },
  alertMaxResponseBytes: {
    flag: 'alert-max-response-bytes',
    help: 'largest alert-source answer read (default 8388608, 8 MiB); a larger one fails closed, memory stays bounded',
    schema: z.coerce
      .number({ error: 'must be a number of bytes' })
      .int('must be a whole number of bytes')
      .min(1024, 'must be at least 1024 bytes')
      .max(128 * 1024 * 1024, 'must be at most 134217728 (128 MiB): the controller parses the whole answer')
      .default(8 * 1024 * 1024),
    example: '8388608',
  },
  alertPollPeriod: {
    flag: 'alert-poll-period',
    help: 'ask the alert sources at most this often (default 10s)',
    schema: duration(10_000, 500),
    example: '10s',
  },
  alertFailOpen: {
    flag: 'alert-fail-open',
    help: 'treat an unreachable or malformed alert source as "no alerts" (default: fail closed, block everything)',
    schema: boolString.default(false),
    boolean: true,
    example: 'true',
  },
  alertBearerTokenFile: {
    flag: 'alert-bearer-token-file',
    help: 'bearer token for Prometheus/Alertmanager',
    schema: z.string().min(1).optional(),
    example: '/var/run/secrets/prom/token',
  },
  alertBasicAuthFile: {
    flag: 'alert-basic-auth-file',
    help: 'file holding user:password for Prometheus/Alertmanager',
    schema: z.string().min(1).optional(),
    example: '/etc/kreboot/prom-auth',
  },
  alertCaFile: {
    flag: 'alert-ca-file',
    help: 'CA bundle for https Prometheus/Alertmanager',
    schema: z.string().min(1).optional(),
    example: '/etc/kreboot/ca.crt',
  },
  alertInsecureSkipVerify: {
    flag: 'alert-insecure-skip-verify',
    help: 'do not verify their TLS certificates',
    schema: boolString.default(false),
    boolean: true,
    example: 'true',
  },
  minPhaseTime: {
    flag: 'min-phase-time',
    help: 'slow motion for demos and crash tests: stay at least this long in each phase (default 0s)',
    schema: duration(0),
    example: '2s',
  },
  blockingPodSelector: {
    flag: 'blocking-pod-selector',
    help: 'label selectors (";"-separated) of pods that block their node from rebooting',
    schema: z
      .string()
      .default('')
      .transform((s, ctx) => {
        const list = s
          .split(';')
          .map((x) => x.trim())
          .filter(Boolean);
        for (const sel of list) {
          try {
            parseSelector(sel);
          } catch (err) {
            ctx.addIssue({ code: 'custom', message: (err as Error).message });
          }
        }
        return list;
      }),
    example: 'app=batch;critical=true',
  },
  leaseDuration: {
    flag: 'lease-duration',
    help: 'leader Lease duration (default 15s)',
    schema: duration(15_000, 1000),
    example: '15s',
  },
  renewDeadline: {
    flag: 'renew-deadline',
    help: 'stop leading if not renewed within this (default 10s)',
    schema: duration(10_000, 500),
    example: '10s',
  },
  retryPeriod: {
    flag: 'retry-period',
    help: 'leader election retry/renew period (default 2s)',
    schema: duration(2_000, 100),
    example: '2s',
  },
  leadership: {
    flag: 'leadership',
    help: 'on-demand: hold the leader Lease only while there is work (a node pending or in flight, a halted rollout, a window status to update) and release it when idle, so an idle deployment makes no API requests beyond its watches; always: hold it all the time (default on-demand)',
    schema: z
      .enum(['on-demand', 'always'], { error: 'must be "on-demand" or "always"' })
      .default('on-demand'),
    example: 'always',
  },
  idleRelease: {
    flag: 'idle-release',
    help: 'with --leadership=on-demand, how long the leader stays after the last work before it releases the Lease (default 10s)',
    schema: duration(10_000, 0),
    example: '1m',
  },
  resyncPeriod: {
    flag: 'resync-period',
    help: 'reconcile at least this often (default 30s)',
    schema: duration(30_000, 1000),
    example: '30s',
  },
  context: clientOptions.context,
  ...commonOptions(9747),
} satisfies OptionSpecs;

export type ControllerConfig = OptionValues<typeof controllerOptions>;
