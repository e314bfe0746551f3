// `kreboot status` start to finish on a small cluster (a control plane with 10 kwok nodes): what a person waits
// for at the prompt. KREBOOT_OLD_BUNDLE adds a column for another build (e.g. the one before client-node's
// credential loading), run the same way.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kubeconfigConnection } from '../operator/kube/connection.ts';
import { KubeHttp } from '../operator/kube/http.ts';
import { ControlPlane } from '../testkit/cluster/controlplane.ts';
import { kwokNode } from '../testkit/cluster/nodes.ts';
import { KREBOOT_BUNDLE, NODE_BIN } from '../testkit/sim/agent-process.ts';
import { summary } from './stats.ts';

function timeStatus(bundle: string, kubeconfig: string, runs: number): { ms: number[]; rssMiB: number[] } {
  const ms: number[] = [];
  const rssMiB: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(
      '/usr/bin/time',
      ['-f', '%M', NODE_BIN, bundle, 'status', `--kubeconfig=${kubeconfig}`],
      {
        encoding: 'utf8',
      },
    );
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (r.status !== 0) throw new Error(`kreboot status failed: ${r.stderr}`);
    rssMiB.push(Number(r.stderr.trim().split('\n').pop()) / 1024);
  }
  return { ms, rssMiB };
}

export async function benchCli(): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'kreboot-bench-cli-'));
  const cp = await ControlPlane.start({ dir: join(dir, 'cluster') });
  const http = new KubeHttp(await kubeconfigConnection(cp.kubeconfig));
  try {
    for (let i = 0; i < 10; i++)
      await http.request('/api/v1/nodes', { method: 'POST', body: kwokNode(`cli-${i}`) });
    const builds: Array<[string, string]> = [['this build', KREBOOT_BUNDLE]];
    if (process.env.KREBOOT_OLD_BUNDLE)
      builds.push([process.env.KREBOOT_OLD_BUNDLE, process.env.KREBOOT_OLD_BUNDLE]);
    const rows = builds.map(([name, bundle]) => {
      timeStatus(bundle, cp.kubeconfig, 2); // warm the page cache
      const r = timeStatus(bundle, cp.kubeconfig, 15);
      const t = summary(r.ms);
      const m = summary(r.rssMiB);
      return `| ${name} | ${t.median.toFixed(0)} | ${t.p95.toFixed(0)} | ${m.median.toFixed(0)} |`;
    });
    return [
      '### `kreboot status` on 10 nodes (15 runs, wall time from spawn to exit)',
      '',
      '| build | median ms | p95 ms | peak RSS MiB |',
      '|---|---|---|---|',
      ...rows,
    ];
  } finally {
    http.close();
    await cp.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
