// npm run e2e:node: only the real-node test (a QEMU VM with a real kubelet, container runtime and reboots).
// Builds what it needs (cached), runs the test, and ends with the test's one-line summary, which the test writes
// only when every check held.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const tmp = mkdtempSync(join(tmpdir(), 'kreboot-node-e2e-'));
const summary = join(tmp, 'summary');
const step = (cmd, args, env = process.env) => {
  const r = spawnSync(cmd, args, { stdio: 'inherit', env });
  if (r.status !== 0) {
    rmSync(tmp, { recursive: true, force: true });
    process.exit(r.status ?? 1);
  }
};
step('npm', ['run', '-s', 'cluster:build']);
step('npm', ['run', '-s', 'tools:build']);
step('npm', ['run', '-s', 'node:build']);
step('npx', ['vitest', 'run', '--project', 'e2e', 'e2e/node/real-node.test.ts'], {
  ...process.env,
  KREBOOT_NODE_E2E_SUMMARY: summary,
});
const line = existsSync(summary) ? readFileSync(summary, 'utf8').trim() : '';
rmSync(tmp, { recursive: true, force: true });
if (!line) {
  process.stderr.write('e2e:node: the test passed but wrote no summary\n');
  process.exit(1);
}
process.stdout.write(`${line}\n`);
