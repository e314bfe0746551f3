// What the read commands share about output.
import { z } from 'zod';
import type { OptionSpecs } from '../config/options.ts';

export const outputOption = {
  output: {
    flag: 'output',
    help: 'table (default), json or yaml; also -o json',
    schema: z.enum(['table', 'json', 'yaml']).default('table'),
    example: 'json',
  },
} satisfies OptionSpecs;

/** kubectl's `-o X`, `-oX` and `-o=X` as `--output=X`. */
export function shortOutput(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-o' && i + 1 < argv.length) out.push(`--output=${argv[++i]}`);
    else if (a.startsWith('-o') && !a.startsWith('--')) out.push(`--output=${a.slice(a[2] === '=' ? 3 : 2)}`);
    else out.push(a);
  }
  return out;
}

/** Columns padded to their widest cell, two spaces apart, the last one unpadded (kubectl's look). */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
