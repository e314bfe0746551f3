export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export function summary(values: number[]): {
  n: number;
  min: number;
  median: number;
  p95: number;
  max: number;
} {
  const s = [...values].sort((a, b) => a - b);
  return { n: s.length, min: s[0]!, median: quantile(s, 0.5), p95: quantile(s, 0.95), max: s[s.length - 1]! };
}

export function fmt(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`;
}
