// npm run bench -- node: the real node. Image size and build time (cold: an empty cache; warm: cached), the VM's
// boot under TCG (to the guest agent, to a Ready Node, to a Ready agent pod), one real reboot cycle per method
// split into its milestones, and the agent's memory as the kubelet counts it (its container's cgroup).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Cycle, RealNodeWorld } from '../e2e/node/world.ts';

const s = (ms: number | undefined) => (ms === undefined ? '–' : `${(ms / 1000).toFixed(1)} s`);

function timedImageBuild(cacheDir?: string): { ms: number; archive: string } {
  const t0 = Date.now();
  const out = execFileSync('bash', ['e2e/node/build-image.sh'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
    env: cacheDir ? { ...process.env, KREBOOT_CACHE_DIR: cacheDir } : process.env,
  });
  return { ms: Date.now() - t0, archive: out.trim().split('\n').pop()! };
}

export async function benchNode(): Promise<string[]> {
  const cold = mkdtempSync(join(tmpdir(), 'kreboot-bench-image-'));
  const c = timedImageBuild(cold);
  const size = statSync(c.archive).size;
  rmSync(cold, { recursive: true, force: true });
  const warm = timedImageBuild();
  const lines = [
    '| image (buildah, vfs, chroot isolation) | figure |',
    '| --- | --- |',
    `| OCI archive, uncompressed layers | ${(size / 2 ** 20).toFixed(1)} MiB |`,
    `| cold build: test base (mmdebstrap + Node + npm), \`npm ci\` + bundle stage, runtime stage, pause image | ${s(c.ms)} |`,
    `| warm build (cached archive) | ${s(warm.ms)} |`,
    '',
  ];
  const w = await new RealNodeWorld().start();
  try {
    lines.push(
      '| VM boot under TCG (2 vCPU, 2 GiB), from QEMU start | |',
      '| --- | --- |',
      `| guest agent answers (systemd up) | ${s(w.bootTimings.guestAgent)} |`,
      `| Node Ready (kubelet registered) | ${s(w.bootTimings.nodeReady)} |`,
      `| agent pod Ready (image imported, probes pass) | ${s(w.bootTimings.agentReady)} |`,
      '',
    );
    const mem: string[] = [];
    const cycles: Cycle[] = [];
    for (const method of ['command', 'signal']) {
      if (method === 'signal') await w.useSignalMethod();
      await new Promise((r) => setTimeout(r, 20_000)); // let the agent settle before reading its memory
      const g = await w.agentInGuest();
      mem.push(`| ${method} | ${(g.memoryBytes / 2 ** 20).toFixed(1)} MiB |`);
      cycles.push(await w.rebootCycle(method));
    }
    const keys = [
      'required',
      'cordoned',
      'draining',
      'approved',
      'rebooting',
      'notReady',
      'newBootId',
      'verifying',
      'readyAgain',
      'released',
      'agentReady',
    ];
    lines.push(
      `| reboot cycle, ms after the sentinel appears | ${cycles.map((c) => c.method).join(' | ')} |`,
      `| --- | ${cycles.map(() => '---').join(' | ')} |`,
      ...keys.map((k) => `| ${k} | ${cycles.map((c) => s(c.phases[k])).join(' | ')} |`),
      '',
      '| agent memory, cgroup memory.current of its container, 20 s after start | |',
      '| --- | --- |',
      ...mem,
    );
  } finally {
    await w.stop();
  }
  return lines;
}
