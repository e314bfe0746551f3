// The e2e scenarios run the built bundle, as the container image does.
import { execFileSync } from 'node:child_process';
import { prometheusReleases } from '../testkit/prom/releases.ts';

export default function setup() {
  execFileSync('npm', ['run', '-s', 'build'], { stdio: 'inherit' });
  // The worlds' Prometheus is the first; scenario 8 checks the rules and the dashboard on each.
  for (const r of prometheusReleases()) process.stderr.write(`[e2e] Prometheus under test: ${r.name}\n`);
}
