// The shipped alert rules parse, and each alert fires (and only fires) when it should: promtool's own unit tests.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { requireBinary } from '../../e2e/prom/prometheus.ts';

const promtool = () => requireBinary('promtool', 'prometheus');

describe('deploy/monitoring alert rules', () => {
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
});
