// `kreboot status` start to finish on a small cluster (a control plane with 10 kwok nodes): what a person waits
// for at the prompt, for the bundle and for the single executable (with and without its code cache). KREBOOT_OLD_BUNDLE adds a column for another build (e.g. the one before client-node's
// credential loading), run the same way.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { kubeconfigConnection } from '../operator/kube/connection.ts';
import { KubeHttp } from '../operator/kube/http.ts';
import { ControlPlane } from '../testkit/cluster/controlplane.ts';
import { kwokNode } from '../testkit/cluster/nodes.ts';
import { KREBOOT_BUNDLE, NODE_BIN } from '../testkit/sim/agent-process.ts';
import { summary } from './stats.ts';

function timeStatus(cmd: string[], kubeconfig: string, runs: number): { ms: number[]; rssMiB: number[] } {
  const ms: number[] = [];
  const rssMiB: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync('/usr/bin/time', ['-f', '%M', ...cmd, 'status', `--kubeconfig=${kubeconfig}`], {
      encoding: 'utf8',
    });
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (r.status !== 0) throw new Error(`kreboot status failed: ${r.stderr}`);
    rssMiB.push(Number(r.stderr.trim().split('\n').pop()) / 1024);
  }
  return { ms, rssMiB };
}

function timeVersion(cmd: string[], runs: number): number[] {
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd[0]!, [...cmd.slice(1), 'version'], { encoding: 'utf8' });
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (r.status !== 0) throw new Error(`kreboot version failed: ${r.stderr}`);
  }
  return ms;
}

/** The bundle's JavaScript (entry and chunks, no source maps): what the npm package carries. */
function bundleBytes(): number {
  const dir = dirname(KREBOOT_BUNDLE);
  const chunks = join(dir, 'chunks');
  return (
    statSync(KREBOOT_BUNDLE).size +
    readdirSync(chunks)
      .filter((f) => f.endsWith('.mjs'))
      .reduce((n, f) => n + statSync(join(chunks, f)).size, 0)
  );
}

export async function benchCli(): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'kreboot-bench-cli-'));
  const cp = await ControlPlane.start({ dir: join(dir, 'cluster') });
  const http = new KubeHttp(await kubeconfigConnection(cp.kubeconfig));
  try {
    for (let i = 0; i < 10; i++)
      await http.request('/api/v1/nodes', { method: 'POST', body: kwokNode(`cli-${i}`) });
    // The single executable, with and without V8's code cache (scripts/build-sea.mjs), next to the bundle.
    const sea = join(dir, 'sea');
    const seaNoCache = join(dir, 'sea-no-cache');
    for (const [out, cache] of [
      [sea, '1'],
      [seaNoCache, '0'],
    ] as const)
      execFileSync(NODE_BIN, ['scripts/build-sea.mjs'], {
        env: { ...process.env, KREBOOT_SEA_OUT: out, KREBOOT_SEA_CODE_CACHE: cache },
        stdio: 'ignore',
      });
    const mb = (f: string) => (statSync(f).size / 1e6).toFixed(1);
    const builds: Array<[string, string[], string]> = [
      [
        'bundle (`node dist/kreboot.mjs`)',
        [NODE_BIN, KREBOOT_BUNDLE],
        `${(bundleBytes() / 1e6).toFixed(1)} + Node`,
      ],
      [
        'single executable, code cache',
        [join(sea, 'kubectl-kreboot')],
        `${mb(join(sea, 'kubectl-kreboot'))} (${mb(join(sea, 'kubectl-kreboot_linux_amd64.tar.gz'))} gzipped)`,
      ],
      [
        'single executable, no code cache',
        [join(seaNoCache, 'kubectl-kreboot')],
        mb(join(seaNoCache, 'kubectl-kreboot')),
      ],
    ];
    if (process.env.KREBOOT_OLD_BUNDLE)
      builds.push([process.env.KREBOOT_OLD_BUNDLE, [NODE_BIN, process.env.KREBOOT_OLD_BUNDLE], '']);
    const rows = builds.map(([name, cmd, size]) => {
      timeStatus(cmd, cp.kubeconfig, 2); // warm the page cache
      const r = timeStatus(cmd, cp.kubeconfig, 15);
      const v = timeVersion(cmd, 15);
      const t = summary(r.ms);
      const m = summary(r.rssMiB);
      return `| ${name} | ${size} | ${summary(v).median.toFixed(0)} | ${t.median.toFixed(0)} | ${t.p95.toFixed(0)} | ${m.median.toFixed(0)} |`;
    });
    return [
      '### `kreboot version` and `kreboot status` on 10 nodes (15 runs each, wall time from spawn to exit)',
      '',
      '| build | size MB | version median ms | status median ms | status p95 ms | status peak RSS MiB |',
      '|---|---|---|---|---|---|',
      ...rows,
    ];
  } finally {
    http.close();
    await cp.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
