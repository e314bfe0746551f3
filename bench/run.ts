// npm run bench [-- name ...]: runs the named benchmarks (all by default) and prints Markdown tables
// for BENCHMARKS.md. Benchmarks measure; they never fail a build on a figure.
import { cpus, totalmem } from 'node:os';
import { benchAgent } from './agent.ts';
import { benchAgentMemory } from './agent-memory.ts';
import { benchCli } from './cli.ts';
import { benchClientSoak } from './client-soak.ts';
import { benchCluster } from './cluster.ts';
import { benchController, benchPlanner } from './controller.ts';
import { benchDemoLoad } from './demo-load.ts';
import { benchFleet } from './fleet.ts';
import { benchIdle } from './idle.ts';
import { benchNode } from './node.ts';
import { benchPodCache } from './pod-cache.ts';
import { benchRuntimeFloor } from './runtime-floor.ts';
import { benchScale } from './scale.ts';
import { benchWindows } from './windows.ts';

const benches: Record<string, () => Promise<string[]>> = {
  cluster: () => benchCluster(),
  agent: () => benchAgent(),
  controller: () => benchController(),
  planner: async () => benchPlanner(),
  windows: async () => benchWindows(),
  node: () => benchNode(),
  'demo-load': () => benchDemoLoad(),
  'client-soak': () => benchClientSoak(),
  cli: () => benchCli(),
  'pod-cache': () => benchPodCache(),
  scale: () => benchScale(),
  fleet: () => benchFleet(),
  idle: () => benchIdle(),
  'runtime-floor': () => benchRuntimeFloor(),
  'agent-memory': () => benchAgentMemory(),
};

const wanted = process.argv.slice(2);
for (const name of wanted) {
  if (!benches[name]) {
    process.stderr.write(`bench: unknown benchmark "${name}"; known: ${Object.keys(benches).join(', ')}\n`);
    process.exit(2);
  }
}
process.stdout.write(
  `machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}\n\n`,
);
for (const name of wanted.length ? wanted : Object.keys(benches)) {
  process.stderr.write(`bench: ${name}…\n`);
  const lines = await benches[name]!();
  process.stdout.write(`${lines.join('\n')}\n\n`);
}
