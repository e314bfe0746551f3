// `kreboot migrate-kured`: kured's configuration as kreboot's. Input: a kured DaemonSet manifest or the kured
// chart's values (`-f FILE`, `-f -` for stdin), or kured's flags after `--`. Output on stdout, YAML documents:
// kreboot's Helm values (default) or a kustomize patch over deploy/base (`--output kustomize`), then the
// MaintenanceWindow objects; on stderr one line `kured flag --NAME: unsupported: REASON` per flag that has no
// kreboot equivalent. Exit 0 when the input was read (unsupported flags included), 2 on bad input.
import { readFileSync } from 'node:fs';
import { parseAllDocuments, stringify } from 'yaml';
import { z } from 'zod';
import { agentOptions } from '../agent/config.ts';
import { ConfigError, helpText, type OptionSpecs, parseOptions } from '../config/options.ts';
import { boolString, durationString } from '../config/zod-values.ts';
import { controllerOptions } from '../controller/config.ts';
import { clientOptions, connectClient } from '../runtime/client-connect.ts';
import { VERSION } from '../version.ts';
import { CliHttp } from './http.ts';
import { applySwitch } from './migrate/apply.ts';
import { flagsFromArgs, flagsFromDaemonSet, type KuredSource, kuredSourceOf } from './migrate/kured-input.ts';
import { KURED_LOCK_ANNOTATION } from './migrate/kured-lock.ts';
import { type KrebootConfig, mapKured } from './migrate/kured-map.ts';

export const migrateOptions = {
  file: {
    flag: 'file',
    help: 'a kured DaemonSet manifest or the kured chart values (helm get values kured -a); - reads stdin; also -f',
    schema: z.string().optional(),
    example: 'kured-ds.yaml',
  },
  output: {
    flag: 'output',
    help: 'helm (kreboot chart values, default) or kustomize (patches over deploy/base); also -o',
    schema: z.enum(['helm', 'kustomize'], { error: 'must be "helm" or "kustomize"' }).default('helm'),
    example: 'kustomize',
  },
  windowName: {
    flag: 'window-name',
    help: "name of the MaintenanceWindow(s) written for kured's time flags (default kured-migrated)",
    schema: z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS label like kured-migrated')
      .default('kured-migrated'),
    example: 'nightly',
  },
  apply: {
    flag: 'apply',
    help: "make the switch: wait for kured's node in flight (or --adopt it), hold kured's lock, retire kured; reads the live kured DaemonSet unless -f is given",
    schema: boolString.default(false),
    boolean: true,
    example: 'true',
  },
  adopt: {
    flag: 'adopt',
    help: "with --apply: instead of waiting, hand the nodes kured is rebooting to kreboot's controller (it finishes and uncordons them)",
    schema: boolString.default(false),
    boolean: true,
    example: 'true',
  },
  deleteKured: {
    flag: 'delete-kured',
    help: 'with --apply: delete the kured DaemonSet instead of scaling it to no nodes',
    schema: boolString.default(false),
    boolean: true,
    example: 'true',
  },
  kuredNamespace: {
    flag: 'kured-namespace',
    help: "with --apply: kured's namespace (default kube-system)",
    schema: z.string().min(1).default('kube-system'),
    example: 'kube-system',
  },
  kuredName: {
    flag: 'kured-name',
    help: "with --apply: kured's DaemonSet (default kured)",
    schema: z.string().min(1).default('kured'),
    example: 'kured',
  },
  namespace: {
    flag: 'namespace',
    help: "with --apply --adopt: kreboot's namespace, where its lock lives (default kreboot-system)",
    schema: z.string().min(1).default('kreboot-system'),
    example: 'kreboot-system',
  },
  waitTimeout: {
    flag: 'wait-timeout',
    help: 'with --apply: how long to wait for kured to finish its node in flight (default 30m)',
    schema: durationString.default(1_800_000),
    example: '1h',
  },
  ...clientOptions,
} satisfies OptionSpecs;

/** `-f X`, `-fX`, `-o X` as their long forms. */
function shortFlags(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const m = /^-([fo])(?:=?(.+))?$/.exec(a);
    if (m) out.push(`--${m[1] === 'f' ? 'file' : 'output'}=${m[2] ?? argv[++i] ?? ''}`);
    else out.push(a);
  }
  return out;
}

function readInput(file: string): unknown[] {
  const text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
  const docs = parseAllDocuments(text);
  const bad = docs.find((d) => d.errors.length);
  if (bad) throw new ConfigError([`--file ${file}: not YAML: ${bad.errors[0]!.message.split('\n')[0]}`]);
  return docs
    .map((d) => d.toJS())
    .flatMap((d) => (d?.kind === 'List' && Array.isArray(d.items) ? d.items : [d]));
}

export function helmValues(c: KrebootConfig): Record<string, unknown> {
  const agent = { ...c.agentChart, ...(Object.keys(c.agent).length ? { config: c.agent } : {}) };
  return {
    ...(Object.keys(agent).length ? { agent } : {}),
    ...(Object.keys(c.controller).length ? { controller: { config: c.controller } } : {}),
  };
}

const flagOf = (specs: Record<string, { flag: string }>, key: string, v: unknown) =>
  `--${specs[key]!.flag}=${String(v)}`;

/** A Kustomization over deploy/base: JSON patches appending the converted flags (a repeated flag's last wins). */
export function kustomization(c: KrebootConfig): Record<string, unknown> {
  const patches: unknown[] = [];
  const agentArgs = Object.entries(c.agent).map(([k, v]) => flagOf(agentOptions, k, v));
  if (c.agentChart.rebootMethod) agentArgs.push(`--reboot-method=${c.agentChart.rebootMethod}`);
  const agentOps: unknown[] = [];
  // deploy/base's agent has no args: add the list.
  if (agentArgs.length)
    agentOps.push({ op: 'add', path: '/spec/template/spec/containers/0/args', value: agentArgs });
  if (c.agentChart.hostRunPath)
    agentOps.push({
      op: 'replace',
      path: '/spec/template/spec/volumes/0/hostPath/path',
      value: c.agentChart.hostRunPath,
    });
  if (agentOps.length)
    patches.push({ target: { kind: 'DaemonSet', name: 'kreboot-agent' }, patch: stringify(agentOps) });
  const controllerOps = Object.entries(c.controller).map(([k, v]) => ({
    op: 'add',
    path: '/spec/template/spec/containers/0/args/-',
    value: flagOf(controllerOptions, k, v),
  }));
  if (controllerOps.length)
    patches.push({
      target: { kind: 'Deployment', name: 'kreboot-controller' },
      patch: stringify(controllerOps),
    });
  return {
    apiVersion: 'kustomize.config.k8s.io/v1beta1',
    kind: 'Kustomization',
    resources: [
      'github.com/kreboot/kreboot/deploy/base',
      ...(c.windows.length ? ['maintenancewindows.yaml'] : []),
    ],
    ...(patches.length ? { patches } : {}),
  };
}

export function render(c: KrebootConfig, source: KuredSource, output: 'helm' | 'kustomize'): string {
  const from =
    source.kind === 'daemonset'
      ? `kured DaemonSet ${source.daemonSet?.namespace}/${source.daemonSet?.name}`
      : source.kind === 'helm-values'
        ? 'kured chart values'
        : "kured's flags";
  const header =
    output === 'helm'
      ? `# kreboot Helm values from ${from}: helm install kreboot deploy/helm/kreboot -n kreboot-system -f THIS_FILE\n`
      : `# A kustomize overlay over kreboot's deploy/base, from ${from}; the MaintenanceWindow documents after it go\n# in maintenancewindows.yaml next to it.\n`;
  const notes = [...source.notes, ...c.notes].map((n) => `# ${n}\n`).join('');
  const main = output === 'helm' ? helmValues(c) : kustomization(c);
  const body = Object.keys(main).length ? stringify(main) : '{}\n';
  const windows = c.windows.map((w) => `---\n${stringify(w)}`).join('');
  return `${header}${notes}${body}${windows}`;
}

/** The kreboot configuration on stdout, one line per unsupported kured flag on stderr. */
function printConversion(source: KuredSource, o: { windowName: string; output: 'helm' | 'kustomize' }): void {
  const c = mapKured(source.flags, o.windowName);
  process.stdout.write(render(c, source, o.output));
  for (const u of c.unsupported) process.stderr.write(`kured flag --${u.flag}: unsupported: ${u.reason}\n`);
}

export async function runMigrateKured(argv: string[]): Promise<number> {
  const dash = argv.indexOf('--');
  const own = dash === -1 ? argv : argv.slice(0, dash);
  const kuredArgs = dash === -1 ? [] : argv.slice(dash + 1);
  const { values: o, help } = parseOptions(migrateOptions, shortFlags(own), process.env);
  if (help) {
    process.stdout.write(
      helpText(
        'migrate-kured',
        "kured's configuration as kreboot's: kreboot migrate-kured -f kured-ds.yaml [-o kustomize], or kreboot migrate-kured -- --reboot-days=mon,tue --start-time=22:00 …",
        migrateOptions,
      ),
    );
    return 0;
  }
  if (!o.apply && (o.adopt || o.deleteKured))
    throw new ConfigError([
      '--adopt and --delete-kured go with --apply, e.g. kreboot migrate-kured --apply --adopt',
    ]);
  if (o.apply) return applyAndPrint(o, kuredArgs);
  let source: KuredSource;
  if (o.file !== undefined) {
    if (kuredArgs.length) throw new ConfigError(['give either --file or kured flags after --, not both']);
    try {
      source = kuredSourceOf(readInput(o.file));
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      throw new ConfigError([`--file ${o.file}: ${(err as Error).message}`]);
    }
  } else if (kuredArgs.length) {
    source = { kind: 'flags', flags: flagsFromArgs(kuredArgs), notes: [] };
  } else {
    throw new ConfigError([
      'nothing to convert: give -f FILE (a kured DaemonSet manifest or chart values, - for stdin) or kured flags after --',
    ]);
  }
  printConversion(source, o);
  return 0;
}

/** --apply: the kured DaemonSet read live (or -f), its configuration printed, then the switch made. */
async function applyAndPrint(
  o: ReturnType<typeof parseOptions<typeof migrateOptions>>['values'],
  kuredArgs: string[],
): Promise<number> {
  if (kuredArgs.length)
    throw new ConfigError(['--apply reads the live kured DaemonSet (or -f FILE): no kured flags after --']);
  const http = new CliHttp(await connectClient(o), `kreboot-cli/${VERSION}`);
  try {
    let source: KuredSource;
    if (o.file !== undefined) source = kuredSourceOf(readInput(o.file));
    else {
      const path = `/apis/apps/v1/namespaces/${o.kuredNamespace}/daemonsets/${o.kuredName}`;
      const ds = await http.request<Record<string, unknown>>(path).catch((err: Error) => {
        throw new Error(
          `reading kured's DaemonSet ${o.kuredNamespace}/${o.kuredName}: ${err.message} (--kured-namespace, --kured-name)`,
        );
      });
      source = flagsFromDaemonSet(ds);
    }
    printConversion(source, o);
    const lockAnnotation =
      [...source.flags].reverse().find((f) => f.name === 'lock-annotation')?.value || KURED_LOCK_ANNOTATION;
    await applySwitch(
      http,
      {
        kuredNamespace: source.daemonSet?.namespace ?? o.kuredNamespace,
        kuredName: source.daemonSet?.name ?? o.kuredName,
        lockAnnotation,
        namespace: o.namespace,
        adopt: o.adopt,
        deleteKured: o.deleteKured,
        waitTimeoutMs: o.waitTimeout,
      },
      (line) => process.stderr.write(`apply: ${line}\n`),
    );
    process.stderr.write(
      'apply: done: kured is retired; install or upgrade kreboot with the configuration above\n',
    );
    return 0;
  } finally {
    http.close();
  }
}
