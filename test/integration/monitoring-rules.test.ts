// The shipped alert rules parse, and each alert fires (and only fires) when it should: promtool's own unit tests.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { dashboardExprs } from '../../scripts/dashboard.ts';
import { prometheusReleases } from '../../testkit/prom/releases.ts';

for (const rel of prometheusReleases()) {
  describe(`deploy/monitoring alert rules (${rel.name})`, () => {
    const promtool = () => rel.promtool;
    it('pass promtool check rules', () => {
      const r = spawnSync(promtool(), ['check', 'rules', 'deploy/monitoring/kreboot-rules.yml'], {
        encoding: 'utf8',
      });
      expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
      expect(r.stdout).toContain('SUCCESS: 5 rules found');
    });

    it('pass promtool test rules (one test per alert)', () => {
      const r = spawnSync(promtool(), ['test', 'rules', 'kreboot-rules.test.yml'], {
        encoding: 'utf8',
        cwd: 'deploy/monitoring',
      });
      expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
      expect(r.stdout).toContain('SUCCESS');
    });

    it('the Grafana dashboard: every panel query parses (promtool, as recording rules)', () => {
      const exprs = dashboardExprs('5m');
      const dir = mkdtempSync(join(tmpdir(), 'kreboot-dash-'));
      try {
        const file = join(dir, 'dashboard-rules.yml');
        writeFileSync(
          file,
          stringify({
            groups: [
              { name: 'dashboard', rules: exprs.map((expr, i) => ({ record: `dashboard:q${i}`, expr })) },
            ],
          }),
        );
        const r = spawnSync(promtool(), ['check', 'rules', file], { encoding: 'utf8' });
        expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
        expect(r.stdout).toContain(`SUCCESS: ${exprs.length} rules found`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
