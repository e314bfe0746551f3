// kured's configuration, from wherever it lives, as the list of flags kured would see: its command line, its
// KURED_* environment variables, a DaemonSet manifest (file or live object) or the kured Helm chart's values
// (rendered the way the chart's template renders them). Pure; the command reads the files.

/** How kured's own flag parser (pflag) treats repeats: last wins, comma-split and append, or append. */
export type KuredKind = 'bool' | 'string' | 'int' | 'duration' | 'slice' | 'array';

/** Every flag of kured 1.23 (cmd/kured/main.go), with its kind. */
export const KURED_FLAGS: Record<string, KuredKind> = {
  'node-id': 'string',
  'force-reboot': 'bool',
  'metrics-host': 'string',
  'metrics-port': 'int',
  'drain-grace-period': 'int',
  'drain-pod-selector': 'string',
  'skip-wait-for-delete-timeout': 'int',
  'drain-delay': 'duration',
  'drain-timeout': 'duration',
  'reboot-delay': 'duration',
  'reboot-method': 'string',
  period: 'duration',
  'ds-namespace': 'string',
  'ds-name': 'string',
  'lock-annotation': 'string',
  'lock-ttl': 'duration',
  'lock-release-delay': 'duration',
  'prometheus-url': 'string',
  'alert-filter-regexp': 'string',
  'alert-filter-match-only': 'bool',
  'alert-firing-only': 'bool',
  'reboot-sentinel': 'string',
  'prefer-no-schedule-taint': 'string',
  'reboot-sentinel-command': 'string',
  'reboot-command': 'string',
  concurrency: 'int',
  'reboot-signal': 'int',
  'slack-hook-url': 'string',
  'slack-username': 'string',
  'slack-channel': 'string',
  'notify-url': 'string',
  'message-template-uncordon': 'string',
  'message-template-drain': 'string',
  'message-template-reboot': 'string',
  'blocking-pod-selector': 'array',
  'reboot-days': 'slice',
  'start-time': 'string',
  'end-time': 'string',
  'time-zone': 'string',
  'annotate-nodes': 'bool',
  'log-format': 'string',
  'pre-reboot-node-labels': 'slice',
  'post-reboot-node-labels': 'slice',
};

/** One occurrence of a flag, and where it was found (for messages). */
export interface KuredFlag {
  name: string;
  value: string;
  from: string;
}

/** `--name=value`, `--name value` and a bare boolean `--name`, as pflag reads them. */
export function flagsFromArgs(args: readonly string[], from = 'command line'): KuredFlag[] {
  const out: KuredFlag[] = [];
  for (let i = 0; i < args.length; i++) {
    const m = /^--?([A-Za-z0-9][A-Za-z0-9-]*)(?:=([\s\S]*))?$/.exec(args[i]!);
    if (!m) continue; // the program's path, or a stray positional
    const name = m[1]!;
    let value = m[2];
    if (value === undefined) {
      const next = args[i + 1];
      if (KURED_FLAGS[name] === 'bool' || next === undefined || next.startsWith('--')) value = 'true';
      else value = args[++i]!;
    }
    out.push({ name, value, from });
  }
  return out;
}

/** kured reads KURED_<FLAG IN UPPER SNAKE CASE> for every flag not given on the command line. */
export function flagsFromEnv(env: ReadonlyArray<{ name: string; value?: string }>): KuredFlag[] {
  const out: KuredFlag[] = [];
  for (const e of env) {
    if (!e.name.startsWith('KURED_') || e.value === undefined) continue;
    const name = e.name.slice('KURED_'.length).toLowerCase().replaceAll('_', '-');
    out.push({ name, value: e.value, from: `env ${e.name}` });
  }
  return out;
}

type Obj = Record<string, unknown>;
const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x);

interface Container {
  name?: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: Array<{ name: string; value?: string; valueFrom?: unknown }>;
}

/** kured's container in a DaemonSet: the one running kured (by command, image or name). */
function kuredContainer(ds: Obj): Container | undefined {
  const containers = ((ds.spec as Obj)?.template as Obj)?.spec as Obj | undefined;
  const list = (containers?.containers ?? []) as Container[];
  return (
    list.find((c) => [...(c.command ?? []), ...(c.args ?? [])].some((a) => /(^|\/)kured$/.test(a))) ??
    list.find((c) => /kured/.test(c.image ?? '')) ??
    list.find((c) => c.name === 'kured')
  );
}

export interface KuredSource {
  kind: 'daemonset' | 'helm-values' | 'flags';
  flags: KuredFlag[];
  /** Things about the input itself worth saying (e.g. an env var taken from a Secret). */
  notes: string[];
  /** For the switch: where kured runs and where its lock lives. */
  daemonSet?: { namespace: string; name: string };
}

/** A DaemonSet's kured container as flags: command line first, then KURED_* variables not already given. */
export function flagsFromDaemonSet(ds: Obj): KuredSource {
  const meta = (ds.metadata ?? {}) as Obj;
  const c = kuredContainer(ds);
  if (!c)
    throw new Error(
      'the DaemonSet has no kured container (none runs kured, uses a kured image or is named kured)',
    );
  const notes: string[] = [];
  const args = flagsFromArgs(
    [...(c.command ?? []).slice(1), ...(c.args ?? [])],
    `container ${c.name ?? 'kured'} args`,
  );
  // The chart mounts the sentinel's host directory at /sentinel: name the host path, which is what kreboot mounts.
  const mount = (c as { volumeMounts?: Array<{ name: string; mountPath: string }> }).volumeMounts?.find(
    (m) => m.mountPath === '/sentinel',
  );
  const podSpec = ((ds.spec as Obj)?.template as Obj)?.spec as {
    volumes?: Array<{ name: string; hostPath?: { path: string } }>;
  };
  const hostDir = podSpec?.volumes?.find((v) => v.name === mount?.name)?.hostPath?.path;
  for (const f of args)
    if (f.name === 'reboot-sentinel' && hostDir && f.value.startsWith('/sentinel/'))
      f.value = `${hostDir.replace(/\/$/, '')}/${f.value.slice('/sentinel/'.length)}`;
  const given = new Set(args.map((f) => f.name));
  const allEnv = flagsFromEnv((c.env ?? []).filter((e) => e.value !== undefined));
  const env = allEnv.filter((f) => !given.has(f.name));
  for (const f of allEnv.filter((x) => given.has(x.name)))
    notes.push(`${f.from}=${f.value} is not used: --${f.name} on the command line wins, in kured as here`);
  for (const e of c.env ?? []) {
    // KURED_NODE_ID is the downward API's node name: kreboot's agent gets its own the same way.
    if (e.name === 'KURED_NODE_ID' || !e.name.startsWith('KURED_') || e.value !== undefined) continue;
    notes.push(
      `${e.name} comes from ${JSON.stringify(e.valueFrom)}: not read; give its value with a flag if it matters`,
    );
  }
  return {
    kind: 'daemonset',
    flags: [...args, ...env],
    notes,
    daemonSet: { namespace: String(meta.namespace ?? 'kube-system'), name: String(meta.name ?? 'kured') },
  };
}

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/**
 * The kured chart's values (charts/kured/templates/daemonset.yaml): each non-empty `configuration.<camelCase>`
 * becomes `--<kebab-case>=value` (lists repeat the flag), `extraArgs` adds `--key=value`, `extraEnvVars` sets
 * variables. `useRebootSentinelHostPath` is the chart's own switch, not a flag.
 */
export function flagsFromHelmValues(values: Obj): KuredSource {
  const flags: KuredFlag[] = [];
  const conf = isObj(values.configuration) ? values.configuration : {};
  for (const [key, v] of Object.entries(conf)) {
    if (key === 'useRebootSentinelHostPath') continue;
    const name = kebab(key);
    const from = `values configuration.${key}`;
    if (Array.isArray(v)) for (const x of v) flags.push({ name, value: String(x), from });
    else if (v !== null && v !== undefined && v !== '' && v !== false && v !== 0)
      flags.push({ name, value: String(v), from });
  }
  if (isObj(values.extraArgs))
    for (const [k, v] of Object.entries(values.extraArgs))
      flags.push({
        name: k,
        value: v === null || v === undefined ? 'true' : String(v),
        from: `values extraArgs.${k}`,
      });
  const env = Array.isArray(values.extraEnvVars)
    ? (values.extraEnvVars as Array<{ name: string; value?: string }>)
    : [];
  const given = new Set(flags.map((f) => f.name));
  flags.push(...flagsFromEnv(env).filter((f) => !given.has(f.name)));
  return { kind: 'helm-values', flags, notes: [] };
}

/** Any of the inputs `migrate-kured -f` accepts: YAML documents already parsed. */
export function kuredSourceOf(docs: unknown[]): KuredSource {
  const objs = docs.filter(isObj);
  const ds = objs.find((d) => d.kind === 'DaemonSet' && kuredContainer(d));
  if (ds) return flagsFromDaemonSet(ds);
  const values = objs.find(
    (d) => !('kind' in d) && ('configuration' in d || 'extraArgs' in d || 'image' in d),
  );
  if (values) return flagsFromHelmValues(values);
  const kinds = objs.map((d) => String(d.kind ?? '(no kind)')).join(', ');
  throw new Error(
    `no kured configuration found (documents: ${kinds || 'none'}): give a kured DaemonSet manifest (kubectl get ds kured -n kube-system -o yaml) or the kured chart's values (helm get values kured -a)`,
  );
}
