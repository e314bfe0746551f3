// Warm start of the test control plane: start() to API ready and to every component ready, and stop time.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlPlane } from '../testkit/cluster/controlplane.ts';
import { fmt, summary } from './stats.ts';

export async function benchCluster(runs = 5): Promise<string[]> {
  const api: number[] = [];
  const all: number[] = [];
  const stop: number[] = [];
  await ControlPlane.start({ dir: mkdtempSync(join(tmpdir(), 'kreboot-bench-warmup-')) }).then((cp) =>
    cp.stop(),
  );
  for (let i = 0; i < runs; i++) {
    const dir = mkdtempSync(join(tmpdir(), 'kreboot-bench-cp-'));
    const cp = await ControlPlane.start({ dir });
    api.push(cp.timings.apiserver!);
    all.push(cp.timings.all!);
    const t0 = Date.now();
    await cp.stop();
    stop.push(Date.now() - t0);
    rmSync(dir, { recursive: true, force: true });
  }
  const row = (name: string, v: number[]) => {
    const s = summary(v);
    return `| ${name} | ${s.n} | ${fmt(s.min)} | ${fmt(s.median)} | ${fmt(s.max)} |`;
  };
  return [
    '| control plane (warm cache) | runs | min | median | max |',
    '|---|---|---|---|---|',
    row('start → kube-apiserver /readyz 200', api),
    row('start → all 5 components healthy', all),
    row('cluster:down (stop, no process left)', stop),
  ];
}
