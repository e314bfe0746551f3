// Label selectors: the string syntax (`app=web,tier!=db,env in (a,b),!legacy`) and the API's structured form.
export type Requirement =
  | { key: string; op: 'In' | 'NotIn'; values: string[] }
  | { key: string; op: 'Exists' | 'DoesNotExist' };

export interface LabelSelectorObject {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
}

export class SelectorError extends Error {
  override name = 'SelectorError';
}

const KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

function checkKey(k: string, text: string): string {
  if (!KEY.test(k)) throw new SelectorError(`selector "${text}": "${k}" is not a valid label key`);
  return k;
}
function checkValue(v: string, text: string): string {
  if (!VALUE.test(v) || v.length > 63)
    throw new SelectorError(`selector "${text}": "${v}" is not a valid label value`);
  return v;
}

/** Splits on commas that are not inside parentheses. */
function terms(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.map((t) => t.trim()).filter((t) => t !== '');
}

export function parseSelector(text: string): Requirement[] {
  const reqs: Requirement[] = [];
  for (const t of terms(text)) {
    const set = /^(\S+?)\s+(in|notin)\s*\(([^)]*)\)$/.exec(t);
    const eq = set ? null : /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(t);
    const not = set || eq ? null : /^!\s*(\S+)$/.exec(t);
    if (set) {
      const values = set[3]!
        .split(',')
        .map((v) => v.trim())
        .filter((v) => v !== '')
        .map((v) => checkValue(v, text));
      if (!values.length) throw new SelectorError(`selector "${text}": "${t}" needs at least one value`);
      reqs.push({ key: checkKey(set[1]!, text), op: set[2] === 'in' ? 'In' : 'NotIn', values });
    } else if (eq) {
      reqs.push({
        key: checkKey(eq[1]!, text),
        op: eq[2] === '!=' ? 'NotIn' : 'In',
        values: [checkValue(eq[3]!, text)],
      });
    } else if (not) {
      reqs.push({ key: checkKey(not[1]!, text), op: 'DoesNotExist' });
    } else if (/^\S+$/.test(t)) {
      reqs.push({ key: checkKey(t, text), op: 'Exists' });
    } else {
      throw new SelectorError(
        `selector "${text}": cannot parse "${t}"; write key=value, key!=value, key in (a,b), key notin (a,b), key or !key`,
      );
    }
  }
  return reqs;
}

export function fromObject(sel: LabelSelectorObject | undefined): Requirement[] {
  const reqs: Requirement[] = [];
  for (const [k, v] of Object.entries(sel?.matchLabels ?? {})) reqs.push({ key: k, op: 'In', values: [v] });
  for (const e of sel?.matchExpressions ?? []) {
    if (e.operator === 'In' || e.operator === 'NotIn')
      reqs.push({ key: e.key, op: e.operator, values: e.values ?? [] });
    else if (e.operator === 'Exists' || e.operator === 'DoesNotExist')
      reqs.push({ key: e.key, op: e.operator });
    else throw new SelectorError(`unknown selector operator "${e.operator}"`);
  }
  return reqs;
}

/** An empty requirement list selects everything (as an empty LabelSelector does). */
export function matches(reqs: Requirement[], labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  return reqs.every((r) => {
    const has = Object.hasOwn(l, r.key);
    switch (r.op) {
      case 'Exists':
        return has;
      case 'DoesNotExist':
        return !has;
      case 'In':
        return has && r.values.includes(l[r.key]!);
      default:
        return !has || !r.values.includes(l[r.key]!);
    }
  });
}
