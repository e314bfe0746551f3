// Both metrics endpoints' text format, checked by Prometheus's own promtool.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { controllerMetrics } from '../../operator/controller/metrics.ts';
import { Registry } from '../../operator/metrics/registry.ts';
import { Metrics } from '../../operator/protocol.ts';
import { prometheusReleases } from '../../testkit/prom/releases.ts';

function promtoolCheck(promtool: string, text: string) {
  return spawnSync(promtool, ['check', 'metrics'], {
    input: text,
    encoding: 'utf8',
  });
}

for (const rel of prometheusReleases()) {
  describe(`metrics text format (promtool check metrics, ${rel.name})`, () => {
    it("the agent's registry", () => {
      const r = new Registry();
      r.gauge(Metrics.rebootRequired, 'Whether this node needs a reboot (1) or not (0).').set(
        { node: 'n"1\\x' },
        1,
      );
      r.counter(Metrics.checkErrors, 'Sentinel checks that failed.').inc();
      r.gauge(Metrics.lastCheck, 'Unix time of the last successful sentinel check.').set({}, 1795883243.051);
      r.counter(Metrics.agentReboots, 'Reboots this agent started, by result.').touch({ result: 'started' });
      const res = promtoolCheck(rel.promtool, r.render());
      expect(res.status, `${res.stdout}${res.stderr}`).toBe(0);
      expect(`${res.stdout}${res.stderr}`).toBe('');
    });

    it("the controller's registry", async () => {
      const m = controllerMetrics();
      m.phaseDuration.observe({ phase: 'draining' }, 12);
      const res = promtoolCheck(rel.promtool, await m.registry.metrics());
      expect(res.status, `${res.stdout}${res.stderr}`).toBe(0);
    });
  });
}
