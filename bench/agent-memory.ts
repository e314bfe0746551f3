// The agent's resident memory over time, untrimmed and trimmed (operator/agent/trim.ts), on a quiet API server:
// one real agent at a time, each on its own copy of the Node executable (as from its own image layer on a node),
// sampled every 10 s from /proc. Shows when the trim happens and how much of the executable comes back.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { ControlPlane } from '../testkit/cluster/controlplane.ts';
import { kwokNode } from '../testkit/cluster/nodes.ts';
import { AgentProcess, ownNodeCopy } from '../testkit/sim/agent-process.ts';
import { highest, idleRss, mib } from './rss.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function benchAgentMemory(): Promise<string[]> {
  const seconds = Number(process.env.KREBOOT_BENCH_IDLE_SECONDS ?? 300);
  const dir = mkdtempSync(join(tmpdir(), 'kreboot-bench-agent-memory-'));
  const cp = await ControlPlane.start({ dir: join(dir, 'cp'), apiOnly: true });
  try {
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfig);
    const core = kc.makeApiClient(CoreV1Api);
    const yaml = await import('yaml');
    const json = join(dir, 'kubeconfig.json');
    writeFileSync(json, JSON.stringify(yaml.parse(readFileSync(cp.kubeconfig, 'utf8'))));
    const rows: string[] = [];
    const variants: Array<[string, string[]]> = [
      ['untrimmed (--memory-trim-after=0)', ['--memory-trim-after=0']],
      ['trimmed (default: 10 s after ready)', []],
    ];
    for (const [i, [name, args]] of variants.entries()) {
      const nodeName = `mem-${i}`;
      await core.createNode({ body: kwokNode(nodeName) });
      const nodeBin = ownNodeCopy(join(dir, `node-${i}`));
      const agent = new AgentProcess({
        nodeBin,
        nodeName,
        dir: join(dir, nodeName),
        kubeconfig: json,
        bootId: 'bench-boot',
        logLevel: 'info',
        extraArgs: args,
      });
      agent.start();
      try {
        await sleep(100);
        const samples = await idleRss(agent.child!.pid!, seconds);
        // The highest once the trim is done (it runs 10 s after ready; the first sample is before it).
        const after30 = highest(samples.samples.filter((x) => x.at >= 30));
        const trim = agent.logLines().find((l) => l.phase === 'trim' && l.msg === 'memory trimmed');
        rows.push(
          `| ${name} | ${mib(samples.samples[0]!)} | ${mib(samples.at60)} | ${mib(after30)} at ${after30.at.toFixed(0)} s | ${mib(samples.end)} | ${
            trim ? `${(trim.rssMiB as number[]).join(' → ')} MiB` : '—'
          } |`,
        );
      } finally {
        await agent.stop();
      }
    }
    return [
      `| agent, RSS (anonymous, file-backed) from start, sampled every 10 s | at 10 s | at 60 s | highest from 30 s on | at ${seconds} s | the trim's own log line |`,
      '| --- | --- | --- | --- | --- | --- |',
      ...rows,
    ];
  } finally {
    await cp.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
