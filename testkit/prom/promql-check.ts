// Checks that PromQL we ship (alert rules, dashboard panels) means something against real kreboot metrics.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

/** The series selectors in an expression that name kreboot's metrics or `up`: what must exist for it to work. */
export function selectorsOf(expr: string): string[] {
  const out = new Set<string>();
  for (const m of expr.matchAll(/\b(kreboot_[a-z_]+|up)\b(\{[^}]*\})?/g)) out.add(m[0]);
  return [...out];
}

export function ruleExprs(
  file = 'deploy/monitoring/kreboot-rules.yml',
): Array<{ alert: string; expr: string }> {
  const doc = parse(readFileSync(file, 'utf8')) as {
    groups: Array<{ rules: Array<{ alert?: string; record?: string; expr: string }> }>;
  };
  return doc.groups.flatMap((g) =>
    g.rules.map((r) => ({ alert: r.alert ?? r.record ?? '?', expr: String(r.expr) })),
  );
}
