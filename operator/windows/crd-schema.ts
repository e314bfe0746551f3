// The MaintenanceWindow API, once: the zod schema the controller parses objects with, and the CRD's
// structural openAPIV3Schema generated from it (crds/ is written by `npm run gen:crd`, and a test fails if the
// committed CRD drifts from this file).
import { z } from 'zod';
import { MaintenanceWindowResource } from '../protocol.ts';
import { parseDuration } from '../util/duration.ts';
import { CRON_HELP, CRON_PATTERN, CronError, parseCron } from './cron.ts';
import { ZONE_HELP, zoneProblem } from './zone.ts';
import { CANONICAL_ZONES, LINK_ZONES } from './zones.ts';

export const MIN_DURATION_MS = 60_000;
export const MAX_DURATION_MS = 31 * 24 * 3_600_000;

const durationText = z
  .string()
  .regex(/^([0-9]+(\.[0-9]+)?(h|m|s))+$/, 'must be a duration like 90m, 4h or 1h30m')
  .refine((s) => {
    const ms = parseDuration(s);
    return ms !== undefined && ms >= MIN_DURATION_MS && ms <= MAX_DURATION_MS;
  }, 'must be between 1m and 744h (31 days)');

const rfc3339 = z.iso.datetime({
  offset: true,
  message: 'must be an RFC 3339 time with a zone, e.g. 2026-12-24T00:00:00+01:00',
});

export const labelSelectorSchema = z.object({
  matchLabels: z.record(z.string(), z.string()).optional(),
  matchExpressions: z
    .array(
      z
        .object({
          key: z.string().min(1),
          operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
          values: z.array(z.string()).optional(),
        })
        // As Kubernetes' own selectors: In/NotIn need values, Exists/DoesNotExist take none. An empty In would
        // select nothing (or, read leniently, everything): rejected rather than guessed.
        .refine(
          (e) =>
            e.operator === 'In' || e.operator === 'NotIn' ? (e.values?.length ?? 0) > 0 : !e.values?.length,
          {
            message: 'values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist',
            path: ['values'],
          },
        ),
    )
    .optional(),
});

export const exclusionSchema = z
  .object({
    start: rfc3339,
    end: rfc3339,
    reason: z.string().max(256).optional(),
  })
  .refine((x) => Date.parse(x.end) > Date.parse(x.start), {
    message: 'end must be after start',
    path: ['end'],
  });

export const maxConcurrentSchema = z.union([
  z.number().int().min(1, 'must be at least 1'),
  z.string().regex(/^([1-9][0-9]?|100)%$/, 'must be a percentage from 1% to 100%'),
]);

export const maintenanceWindowSpecSchema = z.object({
  schedule: z
    .string()
    .trim()
    .min(1, 'must not be empty')
    .max(128)
    .superRefine((s, ctx) => {
      try {
        parseCron(s);
      } catch (err) {
        if (!(err instanceof CronError)) throw err;
        ctx.addIssue({ code: 'custom', message: err.message });
      }
    }),
  duration: durationText,
  timeZone: z
    .string()
    .min(1)
    .max(64)
    .default('UTC')
    .superRefine((s, ctx) => {
      const problem = zoneProblem(s);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
  nodeSelector: labelSelectorSchema.optional(),
  maxConcurrent: maxConcurrentSchema.optional(),
  exclusions: z.array(exclusionSchema).max(100).optional(),
  suspend: z.boolean().default(false),
});

export type MaintenanceWindowSpec = z.output<typeof maintenanceWindowSpecSchema>;

const windowTimes = z.object({ start: z.string(), end: z.string() });

export const maintenanceWindowStatusSchema = z.object({
  observedGeneration: z.number().int().optional(),
  active: z.boolean().optional(),
  currentWindow: windowTimes.optional(),
  nextWindow: windowTimes.optional(),
  nodes: z
    .object({ selected: z.number().int(), pending: z.number().int(), rebooting: z.number().int() })
    .optional(),
  conditions: z
    .array(
      z.object({
        type: z.string(),
        status: z.enum(['True', 'False', 'Unknown']),
        reason: z.string(),
        message: z.string(),
        lastTransitionTime: z.string(),
        observedGeneration: z.number().int().optional(),
      }),
    )
    .optional(),
});

export type MaintenanceWindowStatus = z.output<typeof maintenanceWindowStatusSchema>;

/** CEL rules the API server enforces at admission, by property path (zod enforces the same in the controller). */
const CEL: Record<string, Array<{ rule: string; message: string }>> = {
  'spec.schedule': [
    { rule: "self.trim() != ''", message: 'schedule must not be empty' },
    // The same grammar the controller parses with (cron.ts); a range running backwards and a schedule that can
    // never fire pass here and are marked Valid=False by the controller, with an Event.
    { rule: `self.matches(r'(?i)${CRON_PATTERN}')`, message: `schedule must be ${CRON_HELP}` },
  ],
  'spec.timeZone': [
    {
      rule: `self in ${JSON.stringify([...CANONICAL_ZONES, ...LINK_ZONES])}`,
      message: `timeZone must be ${ZONE_HELP}`,
    },
  ],
  'spec.duration': [
    {
      rule: "duration(self) >= duration('1m') && duration(self) <= duration('744h')",
      message: 'duration must be between 1m and 744h (31 days)',
    },
  ],
  'spec.maxConcurrent': [
    {
      rule: "type(self) == int ? self >= 1 : self.matches('^([1-9][0-9]?|100)%$')",
      message: 'maxConcurrent must be an integer of at least 1 or a percentage from 1% to 100%',
    },
  ],
  'spec.nodeSelector.matchExpressions[]': [
    {
      rule: "self.operator in ['In', 'NotIn'] ? has(self.values) && size(self.values) > 0 : !has(self.values) || size(self.values) == 0",
      message: 'values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist',
    },
  ],
  'spec.exclusions[]': [
    { rule: 'timestamp(self.end) > timestamp(self.start)', message: 'exclusion end must be after start' },
  ],
};

type Json = Record<string, unknown>;

/** Turns zod's JSON Schema into a Kubernetes structural schema and adds the CEL rules. */
function structural(node: Json, path: string): Json {
  const out: Json = {};
  if (node.anyOf && path === 'spec.maxConcurrent') {
    out['x-kubernetes-int-or-string'] = true;
  } else {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$schema' || k === 'propertyNames' || (k === 'pattern' && node.format === 'date-time'))
        continue;
      if (k === 'maximum' && v === Number.MAX_SAFE_INTEGER) continue;
      if (k === 'properties') {
        out.properties = Object.fromEntries(
          Object.entries(v as Record<string, Json>).map(([name, child]) => [
            name,
            structural(child, path ? `${path}.${name}` : name),
          ]),
        );
      } else if (k === 'items') {
        out.items = structural(v as Json, `${path}[]`);
      } else if (k === 'additionalProperties' && typeof v === 'object') {
        out.additionalProperties = structural(v as Json, `${path}{}`);
      } else if (k !== 'additionalProperties') {
        out[k] = v;
      }
    }
  }
  const rules = CEL[path];
  if (rules) out['x-kubernetes-validations'] = rules;
  return out;
}

export function crdManifest(): Json {
  const spec = structural(z.toJSONSchema(maintenanceWindowSpecSchema, { io: 'input' }) as Json, 'spec');
  const status = structural(z.toJSONSchema(maintenanceWindowStatusSchema, { io: 'input' }) as Json, 'status');
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${MaintenanceWindowResource.plural}.${MaintenanceWindowResource.group}` },
    spec: {
      group: MaintenanceWindowResource.group,
      scope: 'Cluster',
      names: {
        kind: MaintenanceWindowResource.kind,
        listKind: `${MaintenanceWindowResource.kind}List`,
        plural: MaintenanceWindowResource.plural,
        singular: MaintenanceWindowResource.kind.toLowerCase(),
        shortNames: [MaintenanceWindowResource.shortName],
        categories: ['kreboot'],
      },
      versions: [
        {
          name: MaintenanceWindowResource.version,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Schedule', type: 'string', jsonPath: '.spec.schedule' },
            { name: 'Duration', type: 'string', jsonPath: '.spec.duration' },
            { name: 'Time Zone', type: 'string', jsonPath: '.spec.timeZone' },
            { name: 'Active', type: 'boolean', jsonPath: '.status.active' },
            { name: 'Next Start', type: 'string', jsonPath: '.status.nextWindow.start' },
            { name: 'Pending', type: 'integer', jsonPath: '.status.nodes.pending' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: 'When kreboot may reboot the nodes it selects, and how many at once.',
              required: ['spec'],
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: spec,
                status: status,
              },
            },
          },
        },
      ],
    },
  };
}
