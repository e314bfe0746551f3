// npm run cluster:up [-- --nodes N] | npm run cluster:down
// `up` prints the kubeconfig path as its last line so scripts can `export KUBECONFIG=$(npm run -s cluster:up | tail -1)`.
import { resolve } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { ControlPlane, readState, stopFromState } from './controlplane.ts';
import { createKwokNodes } from './nodes.ts';

const dir = resolve(process.env.KREBOOT_CLUSTER_DIR ?? '.kreboot/cluster');

async function up(nodes: number): Promise<void> {
  const t0 = Date.now();
  const cp = await ControlPlane.start({ dir, verbose: true });
  if (nodes > 0) {
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfig);
    const names = Array.from({ length: nodes }, (_, i) => `kwok-node-${i}`);
    await createKwokNodes(kc.makeApiClient(CoreV1Api), names);
    process.stderr.write(`[cluster] created ${nodes} kwok nodes: ${names.join(', ')}\n`);
  }
  process.stderr.write(
    `[cluster] up in ${((Date.now() - t0) / 1000).toFixed(1)} s; logs in ${dir}/logs; stop with: npm run cluster:down\n`,
  );
  process.stdout.write(`${cp.kubeconfig}\n`);
}

async function down(): Promise<void> {
  const state = readState(dir);
  if (!state) {
    process.stderr.write(`[cluster] nothing running (no state in ${dir})\n`);
    return;
  }
  await stopFromState(state);
  process.stderr.write('[cluster] stopped\n');
}

function usage(): never {
  process.stderr.write('usage: cli.ts up [--nodes N] | down\n');
  process.exit(2);
}

const [cmd, ...rest] = process.argv.slice(2);
let nodes = 3;
for (let i = 0; i < rest.length; i++) {
  if (rest[i] === '--nodes') {
    nodes = Number(rest[++i]);
    if (!Number.isInteger(nodes) || nodes < 0) {
      process.stderr.write('--nodes: expected a whole number >= 0, e.g. --nodes 3\n');
      process.exit(2);
    }
  } else usage();
}
try {
  if (cmd === 'up') await up(nodes);
  else if (cmd === 'down') await down();
  else usage();
} catch (err) {
  process.stderr.write(`[cluster] ${(err as Error).message}\n`);
  process.exit(1);
}
