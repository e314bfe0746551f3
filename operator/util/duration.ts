// Go-style durations ("90s", "5m", "1h30m", "250ms"), as kured's flags and Kubernetes write them.

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds, or undefined when `s` is not a duration. */
export function parseDuration(s: string): number | undefined {
  const text = s.trim();
  if (text === '' || text === '0') return text === '0' ? 0 : undefined;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  while (pos < text.length) {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (!m) return undefined;
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    pos = re.lastIndex;
  }
  return total;
}

/** Milliseconds as a short Go-style duration, to the second: 90_000 → "1m30s", 3_600_000 → "1h", 0 → "0s". */
export function formatDuration(ms: number): string {
  let s = Math.round(ms / 1000);
  if (s <= 0) return '0s';
  const d = Math.floor(s / 86_400);
  s -= d * 86_400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  return `${d ? `${d}d` : ''}${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s ? `${s}s` : ''}`;
}
