// `npm test`: lint, typecheck, build, then every vitest project (unit, integration on the real control plane, e2e).
// Stops at the first failing step. Ends with one plain "tests: N passed, N failed, N skipped" line.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const tmp = mkdtempSync(join(tmpdir(), 'kreboot-test-'));
const report = join(tmp, 'vitest.json');
const steps = [
  ['lint', ['npm', 'run', '-s', 'lint']],
  ['typecheck', ['npm', 'run', '-s', 'typecheck']],
  ['build', ['npm', 'run', '-s', 'build']],
  ['control plane build', ['npm', 'run', '-s', 'cluster:build']],
  [
    'tools build (helm, prometheus-operator CRDs, Prometheus 3, Alertmanager)',
    ['npm', 'run', '-s', 'tools:build'],
  ],
  ['real-node build (VM, kubelet, containerd, image)', ['npm', 'run', '-s', 'node:build']],
  [
    'tests',
    [
      'npx',
      'vitest',
      'run',
      '--reporter=default',
      '--reporter=json',
      `--outputFile.json=${report}`,
      ...process.argv.slice(2),
    ],
  ],
];
let code = 0;
for (const [name, [cmd, ...args]] of steps) {
  const t0 = Date.now();
  process.stderr.write(`\n== ${name}: ${cmd} ${args.join(' ')}\n`);
  const res = spawnSync(cmd, args, { stdio: 'inherit' });
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  if (res.status !== 0) {
    process.stderr.write(`== ${name} FAILED after ${secs} s (exit ${res.status ?? res.signal})\n`);
    code = res.status ?? 1;
    break;
  }
  process.stderr.write(`== ${name} ok (${secs} s)\n`);
}
if (existsSync(report)) {
  const r = JSON.parse(readFileSync(report, 'utf8'));
  const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  process.stdout.write(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped\n`);
  if (r.numTotalTests === 0 && code === 0) code = 1;
} else if (code === 0) {
  code = 1;
}
rmSync(tmp, { recursive: true, force: true });
process.exit(code);
