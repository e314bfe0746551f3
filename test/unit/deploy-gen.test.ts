// deploy/ files derived from the code are current, and the chart's values name every flag.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { agentOptions } from '../../operator/agent/config.ts';
import { controllerOptions } from '../../operator/controller/config.ts';
import { dashboard, dashboardExprs, PANELS } from '../../scripts/dashboard.ts';
import { CHART_OWNED, GENERATED } from '../../scripts/gen-deploy.ts';

describe('generated deploy files', () => {
  for (const [file, render] of Object.entries(GENERATED)) {
    it(`${file} is up to date (npm run gen:deploy)`, () => {
      expect(readFileSync(file, 'utf8')).toBe(render());
    });
  }

  it('the Helm values have one config key per flag, each rendered as that flag', () => {
    const values = parse(readFileSync('deploy/helm/kreboot/values.yaml', 'utf8'));
    for (const [component, specs] of [
      ['agent', agentOptions],
      ['controller', controllerOptions],
    ] as const) {
      const keys = Object.keys(values[component].config).sort();
      const flags = Object.entries(specs)
        .filter(([k]) => !CHART_OWNED.has(k))
        .map(([k, s]) => {
          // The template turns a key into its flag with Sprig's kebabcase.
          expect(
            k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`),
            `${component}.config.${k}`,
          ).toBe(s.flag);
          return k;
        })
        .sort();
      expect(keys).toEqual(flags);
    }
  });

  it('the dashboard has the panels on-call needs, each with a query', () => {
    const d = dashboard() as { panels: Array<{ title: string; targets: unknown[] }> };
    expect(d.panels.length).toBe(PANELS.length);
    const titles = d.panels.map((p) => p.title).join('\n');
    for (const t of [/needing a reboot/, /progress/, /durations/, /Blocked/, /timeline/])
      expect(titles).toMatch(t);
    expect(dashboardExprs().every((e) => !e.includes('$'))).toBe(true);
  });
});
