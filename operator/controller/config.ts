// `kreboot controller` configuration: flags and KREBOOT_* env vars, one zod schema per option.
import { hostname } from 'node:os';
import { z } from 'zod';
import { commonOptions } from '../cli/runtime.ts';
import { durationString, type OptionSpecs, type OptionValues } from '../config/options.ts';
import { parseSelector } from '../kube/selector.ts';

const limit = z
  .string()
  .regex(/^(\d+|\d+(\.\d+)?%)$/, 'must be a whole number or a percentage like 10%')
  .transform((s) => (s.endsWith('%') ? s : Number(s)))
  .refine((v) => v !== 0 && v !== '0%', 'must be at least 1 (pause reboots with the lock instead)');

const duration = (def: number, min = 0) =>
  durationString.default(def).pipe(z.number().min(min, `must be at least ${min / 1000}s`));

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
  concurrency: {
    flag: 'concurrency',
    help: 'nodes disrupted at once, counting nodes already NotReady or cordoned: a number or a % of nodes (rounded down, at least 1); default 1',
    schema: limit.default(1),
    example: '10%',
  },
  zoneConcurrency: {
    flag: 'zone-concurrency',
    help: `at most this many disrupted nodes per topology.kubernetes.io/zone (number or %); default: no zone limit`,
    schema: limit.optional(),
    example: '1',
  },
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
  retryAfterFailure: {
    flag: 'retry-after-failure',
    help: 'after an aborted drain, wait this long before trying the node again (default 10m)',
    schema: duration(600_000),
    example: '10m',
  },
  nodeSelector: {
    flag: 'node-selector',
    help: 'manage only nodes matching this label selector (e.g. one node pool); default all nodes',
    schema: z
      .string()
      .default('')
      .superRefine((s, ctx) => {
        try {
          parseSelector(s);
        } catch (err) {
          ctx.addIssue({ code: 'custom', message: (err as Error).message });
        }
      }),
    example: 'pool=general',
  },
  defaultWindow: {
    flag: 'default-window',
    help: 'with no MaintenanceWindow at all: always (reboot any time, as kured) or never; default always',
    schema: z.enum(['always', 'never'], { error: 'must be "always" or "never"' }).default('always'),
    example: 'never',
  },
  windowSelector: {
    flag: 'window-selector',
    help: 'consider only MaintenanceWindows with these labels (one controller per node pool); default all',
    schema: z
      .string()
      .default('')
      .superRefine((s, ctx) => {
        try {
          parseSelector(s);
        } catch (err) {
          ctx.addIssue({ code: 'custom', message: (err as Error).message });
        }
      }),
    example: 'pool=general',
  },
  windowEndMargin: {
    flag: 'window-end-margin',
    help: 'do not start a reboot when less than this is left of the window (default 0s)',
    schema: duration(0),
    example: '15m',
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
    example: '"app=batch;critical=true"',
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
  resyncPeriod: {
    flag: 'resync-period',
    help: 'reconcile at least this often (default 30s)',
    schema: duration(30_000, 1000),
    example: '30s',
  },
  ...commonOptions(9747),
} satisfies OptionSpecs;

export type ControllerConfig = OptionValues<typeof controllerOptions>;
