// The demo under load: `npm run demo -- --ci --nodes 6 --pending 6 --concurrency 2` run N times in a row while
// busy loops hold every core (the stall the simulator's missing pod-status sync caused showed up under load).
// Reports passes and makespans; a run that fails is reported with the lines it printed to say why.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { cpus } from 'node:os';

const RUNS = Number(process.env.KREBOOT_DEMO_RUNS ?? 10);
const DEMO = ['run', '-s', 'demo', '--', '--ci', '--nodes', '6', '--pending', '6', '--concurrency', '2'];

export async function benchDemoLoad(): Promise<string[]> {
  const busy: ChildProcess[] = [];
  for (let i = 0; i < cpus().length; i++)
    busy.push(spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
  const rows: string[] = [];
  let passed = 0;
  const makespans: number[] = [];
  try {
    for (let i = 1; i <= RUNS; i++) {
      const t0 = Date.now();
      const r = spawnSync('npm', DEMO, { encoding: 'utf8', timeout: 900_000 });
      const wall = (Date.now() - t0) / 1000;
      const last = r.stdout.trim().split('\n').pop() ?? '';
      const m = /makespan (\d+\.\d)s, ideal (\d+\.\d)s/.exec(last);
      const ok = r.status === 0;
      if (ok) passed++;
      if (m) makespans.push(Number(m[1]));
      rows.push(
        `| ${i} | ${ok ? 'pass' : 'FAIL'} | ${m?.[1] ?? '-'} | ${m?.[2] ?? '-'} | ${wall.toFixed(0)} |`,
      );
      process.stderr.write(`bench demo-load: run ${i}: ${last}\n`);
      if (!ok)
        process.stderr.write(
          `${r.stderr
            .split('\n')
            .filter((l) => l.startsWith('demo:'))
            .join('\n')}\n`,
        );
    }
  } finally {
    for (const b of busy) b.kill('SIGKILL');
  }
  const sorted = [...makespans].sort((a, b) => a - b);
  return [
    `### demo under load (${cpus().length} busy loops, ${RUNS} runs in a row)`,
    '',
    '| run | result | makespan s | ideal s | wall s |',
    '|---|---|---|---|---|',
    ...rows,
    '',
    `demo-load: ${passed}/${RUNS} passed, makespan min ${sorted[0] ?? '-'} s, median ${sorted[Math.floor(sorted.length / 2)] ?? '-'} s, max ${sorted.at(-1) ?? '-'} s`,
  ];
}
