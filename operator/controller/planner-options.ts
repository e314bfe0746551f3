// The planner's options: one spec for the controller's flags and for `kreboot plan`, which must plan as the
// controller does (same limits, windows, selectors), so the two cannot drift apart.
import { z } from 'zod';
import type { OptionSpecs } from '../config/options.ts';
import { durationString } from '../config/zod-values.ts';
import { parseSelector } from '../kube/selector.ts';

const limit = z
  .string()
  .regex(/^(\d+|\d+(\.\d+)?%)$/, 'must be a whole number or a percentage like 10%')
  .transform((s) => (s.endsWith('%') ? s : Number(s)))
  .refine((v) => v !== 0 && v !== '0%', 'must be at least 1 (pause reboots with the lock instead)');

/** A label selector in kubectl's string syntax; empty selects everything. */
const selectorString = z
  .string()
  .default('')
  .superRefine((s, ctx) => {
    try {
      parseSelector(s);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
    }
  });

export const duration = (def: number, min = 0) =>
  durationString.default(def).pipe(z.number().min(min, `must be at least ${min / 1000}s`));

export const plannerOptions = {
  concurrency: {
    flag: 'concurrency',
    help: 'nodes disrupted at once, counting nodes kreboot has in a phase and nodes already NotReady (not nodes a person cordoned): a number or a % of nodes (rounded down, at least 1); default 1',
    schema: limit.default(1),
    example: '10%',
  },
  zoneConcurrency: {
    flag: 'zone-concurrency',
    help: `at most this many disrupted nodes per topology.kubernetes.io/zone (number or %); default: no zone limit`,
    schema: limit.optional(),
    example: '1',
  },
  nodeSelector: {
    flag: 'node-selector',
    help: 'manage only nodes matching this label selector (e.g. one node pool); default all nodes',
    schema: selectorString,
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
    schema: selectorString,
    example: 'pool=general',
  },
  windowEndMargin: {
    flag: 'window-end-margin',
    help: 'do not start a reboot when less than this is left of the window (default 0s)',
    schema: duration(0),
    example: '15m',
  },
  retryAfterFailure: {
    flag: 'retry-after-failure',
    help: 'after an aborted drain, wait this long before trying the node again (default 10m)',
    schema: duration(600_000),
    example: '10m',
  },
} satisfies OptionSpecs;
