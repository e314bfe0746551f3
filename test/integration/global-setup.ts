// One real control plane for the whole integration project; tests isolate by unique names.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { ControlPlane } from '../../testkit/cluster/controlplane.ts';
import { prometheusReleases } from '../../testkit/prom/releases.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    kubeconfig: string;
    clusterDir: string;
  }
}

export default async function setup(project: TestProject) {
  // Agent tests run the built bundle, as the DaemonSet does.
  execFileSync('npm', ['run', '-s', 'build'], { stdio: 'inherit' });
  // The Prometheus-facing tests run against each of these (built first if the cache lacks the pinned one).
  for (const r of prometheusReleases())
    process.stderr.write(`[integration] Prometheus under test: ${r.name}\n`);
  const dir = mkdtempSync(join(tmpdir(), 'kreboot-it-'));
  const t0 = Date.now();
  const cp = await ControlPlane.start({ dir, verbose: !!process.env.KREBOOT_VERBOSE });
  process.stderr.write(`[integration] control plane up in ${Date.now() - t0} ms at ${dir}\n`);
  project.provide('kubeconfig', cp.kubeconfig);
  project.provide('clusterDir', dir);
  return async () => {
    await cp.stop();
    // Keep logs of a failed run for debugging; CI sets KREBOOT_KEEP_LOGS to inspect them.
    if (!process.env.KREBOOT_KEEP_LOGS) rmSync(dir, { recursive: true, force: true });
  };
}
