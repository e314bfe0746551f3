import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { maintenanceWindowSpecSchema } from '../../operator/windows/crd-schema.ts';
import { CRD_FILE, renderCrd } from '../../scripts/gen-crd.ts';
import { WINDOW_CASES } from '../fixtures/windows.ts';

describe('MaintenanceWindow CRD', () => {
  it('is the one generated from the zod schema (run npm run gen:crd after changing it)', () => {
    expect(readFileSync(CRD_FILE, 'utf8')).toBe(renderCrd());
  });

  it('is structural: no type inside anyOf, int-or-string for maxConcurrent, CEL rules present', () => {
    const crd = parse(readFileSync(CRD_FILE, 'utf8'));
    const spec = crd.spec.versions[0].schema.openAPIV3Schema.properties.spec;
    expect(spec.properties.maxConcurrent).toEqual({
      'x-kubernetes-int-or-string': true,
      'x-kubernetes-validations': expect.any(Array),
    });
    expect(JSON.stringify(crd)).not.toContain('$schema');
    expect(spec.properties.exclusions.items['x-kubernetes-validations'][0].rule).toContain(
      'timestamp(self.end)',
    );
  });

  for (const c of WINDOW_CASES) {
    it(`zod ${c.rejectedFor ? 'rejects' : 'accepts'} ${c.name}${c.rejectedFor ? `, naming ${c.rejectedFor}` : ''}`, () => {
      const res = maintenanceWindowSpecSchema.safeParse(c.spec);
      expect(res.success).toBe(c.rejectedFor === undefined);
      if (!res.success) {
        const paths = res.error.issues.map((i) =>
          ['spec', ...i.path]
            .map((p) => (typeof p === 'number' ? `[${p}]` : p))
            .join('.')
            .replaceAll('.[', '['),
        );
        expect(paths.some((p) => p.startsWith(c.rejectedFor!))).toBe(true);
      }
    });
  }
});
