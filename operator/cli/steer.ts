// The SRE's write commands (`kreboot pause|resume|request|cancel|exclude|include|clear-halt`, also as `kubectl
// kreboot …`): each one merge-patch of one annotation of the protocol (protocol.ts) on the lock Lease or a Node,
// decided by steer-decide.ts from the object as it is (idempotent: a second run changes nothing and says so),
// checked by the API server first with --dry-run (RBAC and admission included, nothing written), and recorded
// in an Event naming who (from the API server's own SelfSubjectReview) and why (--reason).
import { z } from 'zod';
import { ConfigError, helpText, type OptionSpecs, parseOptions } from '../config/options.ts';
import { boolString } from '../config/zod-values.ts';
import { ApiError, type KubeHttp } from '../kube/http.ts';
import { microTime } from '../kube/time.ts';
import { Annotations, GROUP, Leases } from '../protocol.ts';
import { clientOptions, connectClient } from '../runtime/client-connect.ts';
import { VERSION } from '../version.ts';
import { CliHttp } from './http.ts';
import { BREAK_GLASS_GROUP, breakGlass, type Identity, whoAmI } from './identity.ts';
import { type SteerCommand, SteerCommands } from './steer-commands.ts';
import { type Current, type Decision, decideLock, decideNode, SteerEventReasons } from './steer-decide.ts';

export const steerOptions = {
  namespace: {
    flag: 'namespace',
    help: "the controller's namespace, where the lock lives (default kreboot-system)",
    schema: z.string().min(1).default('kreboot-system'),
    example: 'kreboot-system',
  },
  reason: {
    flag: 'reason',
    help: 'why: recorded with the change and in its Event (required for pause)',
    schema: z.string().trim().min(1).max(500).optional(),
    example: 'change freeze until Monday',
  },
  outsideWindow: {
    flag: 'outside-window',
    help: 'request: let the node reboot outside its maintenance windows, this once (budgets, alerts and PDBs still apply)',
    schema: boolString.default(false),
    boolean: true,
    example: 'true',
  },
  dryRun: {
    flag: 'dry-run',
    help: 'ask the API server to check the change (RBAC, admission) without making it',
    schema: boolString.default(false),
    boolean: true,
    example: 'true',
  },
  ...clientOptions,
} satisfies OptionSpecs;

interface Meta {
  metadata: { name: string; uid: string; namespace?: string; annotations?: Record<string, string> };
}

const lockPath = (ns: string) => `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`;

async function readOrUndefined<T>(http: KubeHttp, path: string): Promise<T | undefined> {
  try {
    return await http.request<T>(path);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return undefined;
    throw err;
  }
}

function explain(err: unknown, d: Decision): Error {
  if (!(err instanceof ApiError)) return err as Error;
  if (err.status === 403 && d.breakGlass)
    return new Error(
      `${err.message} — this key is the controller's alone; a person changes it through the group ${BREAK_GLASS_GROUP}, ` +
        `which needs RBAC to impersonate it (verbs [impersonate] on groups "${BREAK_GLASS_GROUP}" and your own groups, and on users "<you>")`,
    );
  return new Error(err.message);
}

async function recordEvent(
  http: KubeHttp,
  cmd: SteerCommand,
  obj: Meta,
  kind: 'Lease' | 'Node',
  note: string,
  me: Identity,
): Promise<void> {
  const ns = obj.metadata.namespace ?? 'default';
  const regarding = {
    apiVersion: kind === 'Lease' ? 'coordination.k8s.io/v1' : 'v1',
    kind,
    name: obj.metadata.name,
    uid: obj.metadata.uid,
    ...(obj.metadata.namespace && { namespace: obj.metadata.namespace }),
  };
  try {
    await http.request(`/apis/events.k8s.io/v1/namespaces/${ns}/events`, {
      method: 'POST',
      body: {
        apiVersion: 'events.k8s.io/v1',
        kind: 'Event',
        metadata: { generateName: `${obj.metadata.name}.kreboot-cli-`, namespace: ns },
        eventTime: microTime(new Date()),
        reportingController: `${GROUP}/cli`,
        reportingInstance: `kreboot-cli/${me.user}`.slice(0, 128),
        action: cmd,
        reason: SteerEventReasons[cmd],
        type: 'Normal',
        note: note.slice(0, 1024),
        regarding,
      },
    });
  } catch (err) {
    process.stderr.write(
      `warning: the change is made, but its Event could not be written (${(err as Error).message}); ` +
        'grant create on events.events.k8s.io so that changes are attributed\n',
    );
  }
}

/** Runs one decision against the API server: checked with dryRun=All first, then made (unless --dry-run). */
async function carryOut(
  http: KubeHttp,
  d: Decision,
  path: { create: string; patch: string },
  name: string,
  me: Identity,
  dryRun: boolean,
): Promise<Meta | undefined> {
  const headers = d.breakGlass ? breakGlass(me) : undefined;
  const send = (dry: boolean) =>
    d.create
      ? http.request<Meta>(`${path.create}${dry ? '?dryRun=All' : ''}`, {
          method: 'POST',
          headers,
          body: {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name, annotations: d.patch },
            spec: {},
          },
        })
      : http.request<Meta>(`${path.patch}${dry ? '?dryRun=All' : ''}`, {
          method: 'PATCH',
          contentType: 'application/merge-patch+json',
          headers,
          body: { metadata: { annotations: d.patch } },
        });
  try {
    await send(true);
    if (dryRun) return undefined;
    return await send(false);
  } catch (err) {
    throw explain(err, d);
  }
}

export async function runSteer(cmd: SteerCommand, argv: string[]): Promise<number> {
  const spec = SteerCommands[cmd];
  const { values: cfg, help, positionals } = parseOptions(steerOptions, argv, process.env);
  if (help) {
    const args =
      spec.target === 'node'
        ? `\nArguments: NODE… (one or more node names, e.g. kreboot ${cmd} worker-3)`
        : '';
    process.stdout.write(
      helpText(cmd, `${spec.summary[0]!.toUpperCase()}${spec.summary.slice(1)}.${args}`, steerOptions),
    );
    return 0;
  }
  if (spec.target === 'node' && positionals.length === 0)
    throw new ConfigError([`${cmd} needs at least one node name, e.g. kreboot ${cmd} worker-3`]);
  if (spec.target === 'lock' && positionals.length)
    throw new ConfigError([
      `${cmd} takes no node names (got ${positionals.join(' ')}): it acts on the whole rollout`,
    ]);
  if (cmd === 'pause' && !cfg.reason)
    throw new ConfigError(['--reason: pause needs one, e.g. --reason "change freeze until Monday"']);
  if (cfg.outsideWindow && cmd !== 'request')
    throw new ConfigError([
      '--outside-window: only for request, e.g. kreboot request node-1 --outside-window',
    ]);

  const http = new CliHttp(await connectClient(cfg), `kreboot-cli/${VERSION}`);
  const dry = cfg.dryRun ? ' (dry run: checked by the API server, nothing changed)' : '';
  try {
    const me = await whoAmI(http);
    const who = { user: me.user, reason: cfg.reason, now: Date.now() };
    if (spec.target === 'lock') {
      const ns = cfg.namespace;
      const lease = await readOrUndefined<Meta>(http, `${lockPath(ns)}/${Leases.lock}`);
      const cur: Current = { annotations: lease ? (lease.metadata.annotations ?? {}) : undefined };
      if (!lease && cmd !== 'pause') {
        process.stdout.write(
          `${cmd === 'resume' ? 'not paused' : 'not halted'}; nothing changed (no lock yet: lease ${ns}/${Leases.lock} does not exist)\n`,
        );
        return 0;
      }
      const d = decideLock(cmd as 'pause' | 'resume' | 'clear-halt', cur, who);
      if (!d.patch) {
        process.stdout.write(`${d.say}\n`);
        return 0;
      }
      let written: Meta | undefined;
      try {
        written = await carryOut(
          http,
          d,
          { create: lockPath(ns), patch: `${lockPath(ns)}/${Leases.lock}` },
          Leases.lock,
          me,
          cfg.dryRun,
        );
      } catch (err) {
        if (d.create && /namespaces? .*not found/i.test((err as Error).message))
          throw new Error(
            `namespace ${ns} does not exist: install kreboot first (kubectl apply -k deploy/base), or pass --namespace`,
          );
        throw err;
      }
      process.stdout.write(`${d.say}${dry}\n`);
      if (d.note && !cfg.dryRun) process.stderr.write(`note: ${d.note}\n`);
      if (written && d.event) await recordEvent(http, cmd, written, 'Lease', d.event, me);
      return 0;
    }

    let failed = 0;
    for (const name of positionals) {
      const node = await readOrUndefined<Meta>(http, `/api/v1/nodes/${encodeURIComponent(name)}`);
      if (!node) {
        process.stderr.write(`${name}: no such node (kubectl get nodes lists them)\n`);
        failed++;
        continue;
      }
      const a = node.metadata.annotations ?? {};
      const d = decideNode(
        cmd as 'request' | 'cancel' | 'exclude' | 'include',
        name,
        { annotations: a, phase: a[Annotations.phase] },
        who,
        cfg.outsideWindow,
      );
      if (!d.patch) {
        process.stdout.write(`${d.say}\n`);
        continue;
      }
      try {
        const path = `/api/v1/nodes/${encodeURIComponent(name)}`;
        const written = await carryOut(http, d, { create: path, patch: path }, name, me, cfg.dryRun);
        process.stdout.write(`${d.say}${dry}\n`);
        if (d.note && !cfg.dryRun) process.stderr.write(`note: ${d.note}\n`);
        if (written && d.event) await recordEvent(http, cmd, written, 'Node', d.event, me);
      } catch (err) {
        process.stderr.write(`${name}: ${(err as Error).message}\n`);
        failed++;
      }
    }
    return failed ? 1 : 0;
  } finally {
    http.close();
  }
}
