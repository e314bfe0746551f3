// Which alerts block which nodes: kured-compatible filters plus label matchers and node-scoped alerts. Pure.
import { type Alert, type AlertVerdict, alertKey } from './model.ts';

export interface Matcher {
  label: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
  re?: RegExp;
}

export class MatcherError extends Error {
  override name = 'MatcherError';
}

/** Parses `severity=~"critical|warning",team!="db"` (Prometheus matcher syntax). */
export function parseMatchers(text: string): Matcher[] {
  const out: Matcher[] = [];
  const re = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(,|$)/y;
  let pos = 0;
  const s = text.trim();
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) {
      throw new MatcherError(
        `--alert-matchers: cannot parse "${s.slice(pos)}"; write label="value", label!="v", label=~"re" or label!~"re", comma-separated`,
      );
    }
    const value = m[3]!.replace(/\\(.)/g, '$1');
    const op = m[2] as Matcher['op'];
    let rx: RegExp | undefined;
    if (op === '=~' || op === '!~') {
      try {
        rx = new RegExp(`^(?:${value})$`);
      } catch (err) {
        throw new MatcherError(`--alert-matchers: ${m[1]}${op}"${value}": ${(err as Error).message}`);
      }
    }
    out.push({ label: m[1]!, op, value, re: rx });
    pos = re.lastIndex;
  }
  return out;
}

function matchOne(m: Matcher, labels: Record<string, string>): boolean {
  const v = labels[m.label] ?? '';
  switch (m.op) {
    case '=':
      return v === m.value;
    case '!=':
      return v !== m.value;
    case '=~':
      return m.re!.test(v);
    default:
      return !m.re!.test(v);
  }
}

export interface AlertFilter {
  /** kured --alert-filter-regexp: alerts whose name matches are ignored (or, with matchOnly, the only ones counted). */
  regexp?: RegExp;
  matchOnly: boolean;
  firingOnly: boolean;
  matchers: Matcher[];
  /** Label whose value names the node an alert is about; such an alert blocks only that node. */
  nodeLabel?: string;
  /** kreboot's own alerts never block kreboot (kured's deadlock) unless this is set. */
  includeOwn: boolean;
}

const OWN = /^Kreboot/;

export function counts(a: Alert, f: AlertFilter): boolean {
  if (f.firingOnly && a.state !== 'firing') return false;
  if (!f.includeOwn && (OWN.test(a.name) || a.labels.app === 'kreboot')) return false;
  if (f.regexp) {
    const hit = f.regexp.test(a.name);
    if (f.matchOnly ? !hit : hit) return false;
  }
  return f.matchers.every((m) => matchOne(m, a.labels));
}

/** Turns the alerts into a verdict for the planner; `nodes` are the managed node names. */
export function verdict(
  alerts: Alert[],
  f: AlertFilter,
  nodes: ReadonlySet<string>,
  source: string,
): AlertVerdict {
  const perNode = new Map<string, string>();
  const global: string[] = [];
  const firing: string[] = [];
  for (const a of alerts) {
    if (!counts(a, f)) continue;
    if (a.state === 'firing') firing.push(alertKey(a));
    const node = f.nodeLabel ? a.labels[f.nodeLabel] : undefined;
    const what = `${a.state} alert ${a.name}`;
    if (node !== undefined && nodes.has(node)) {
      if (!perNode.has(node)) perNode.set(node, `${what} (${source}) is about this node`);
    } else {
      global.push(a.name);
    }
  }
  const uniq = [...new Set(global)];
  return {
    all: uniq.length
      ? `${uniq.length === 1 ? 'alert' : 'alerts'} ${uniq.slice(0, 5).join(', ')}${uniq.length > 5 ? ', …' : ''} (${source})`
      : undefined,
    perNode,
    firing,
  };
}
