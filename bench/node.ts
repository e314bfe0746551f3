// npm run bench -- node: the real node. Image size and build time (cold: an empty cache; warm: cached), the VM's
// boot under TCG (to the guest agent, to a Ready Node, to a Ready agent pod), one real reboot cycle per method
// split into its milestones, and the agent's memory as the kubelet counts it (its container's cgroup).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Cycle, type GuestMemory, RealNodeWorld } from '../e2e/node/world.ts';
import { eventually } from '../testkit/eventually.ts';
import { kubectl } from '../testkit/world/install.ts';
import { kuredManifests } from './kured.ts';

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
  const kuredBin = process.env.KREBOOT_KURED_BIN;
  const kuredImage = kuredBin
    ? execFileSync('bash', ['e2e/node/build-kured-image.sh', kuredBin], { encoding: 'utf8' })
        .trim()
        .split('\n')
        .pop()!
    : undefined;
  const w = await new RealNodeWorld({ extraImages: kuredImage ? [kuredImage] : [] }).start();
  try {
    if (kuredImage) lines.push(...(await kuredSideBySide(w)), '');
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
      // Past the agent's memory trim (10 s after ready) and the regrowth after it, which levels off within about
      // 100 s (npm run bench -- agent-memory).
      await new Promise((r) => setTimeout(r, 120_000));
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
      '| agent memory, cgroup memory.current of its container, after 120 s idle | |',
      '| --- | --- |',
      ...mem,
    );
  } finally {
    await w.stop();
  }
  return lines;
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
const memRow = (name: string, m: GuestMemory) =>
  `| ${name} | ${mib(m.memoryBytes)} | ${mib(m.rssBytes)} (anon ${mib(m.rssAnonBytes)}, file ${mib(m.rssFileBytes)}) |`;

/**
 * kured's agent next to kreboot's on the same real node, both idle under the same kubelet: kured 1.23's own
 * DaemonSet and RBAC (its manifests, the image replaced; the reboot command made harmless; no sentinel exists while
 * it runs), measured 60 s after its pod runs, then removed before kreboot's reboot cycles.
 */
async function kuredSideBySide(w: RealNodeWorld): Promise<string[]> {
  const ns = 'kube-system';
  const yaml = kuredManifests('kreboot.test/kured:1', ['--reboot-sentinel=/sentinel/reboot-required']);
  await kubectl(w.cp.kubeconfig, ['apply', '-f', '-'], yaml);
  try {
    await eventually(
      'kured running on the VM',
      async () => (await w.pods(ns, 'name=kured'))[0]?.status?.containerStatuses?.[0]?.ready === true,
      5 * 60_000,
      1000,
    );
    await new Promise((r) => setTimeout(r, 60_000)); // kured idle a minute; kreboot's agent has run for longer
    const kuredPid = (await w.vm.sh('pgrep -x kured | head -1')).trim();
    if (!kuredPid) throw new Error('kured runs in a pod but no kured process was found in the guest');
    const kured = await w.memoryInGuest(kuredPid);
    const agent = await w.agentInGuest();
    return [
      '| both agents idle on the same real node, 60 s after kured started | cgroup memory.current | RSS |',
      '| --- | --- | --- |',
      memRow('kreboot agent (deploy/base)', agent),
      memRow('kured 1.23.0 (its DaemonSet)', kured),
    ];
  } finally {
    await kubectl(w.cp.kubeconfig, ['delete', '--wait=true', '-f', '-'], yaml);
  }
}
