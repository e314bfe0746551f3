// A real node (issue #11): kreboot's image built from the Dockerfile, its agent DaemonSet from deploy/base running
// under a real kubelet and containerd in a QEMU VM, and real reboots of that VM: once with the `command` method
// (nsenter + systemctl reboot, deploy/base) and once with the `signal` method (SIGRTMIN+5 to PID 1, the Helm
// chart's render). The world (e2e/node/world.ts) is shared with `npm run bench -- node`.
// `npm run e2e:node` runs only this file; the summary line is written only when every check held.
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Annotations } from '../../operator/protocol.ts';
import { eventually } from '../../testkit/eventually.ts';
import { type Cycle, RealNodeWorld } from './world.ts';

let w: RealNodeWorld;
const cycles: Cycle[] = [];

beforeAll(async () => {
  w = await new RealNodeWorld().start();
  process.stderr.write(`[node-e2e] boot timings: ${JSON.stringify(w.bootTimings)}\n`);
}, 30 * 60_000);

afterAll(async () => {
  await w?.stop();
});

/** Every check of one real reboot, with its reason when it fails. */
function expectGoodCycle(c: Cycle) {
  process.stderr.write(`[node-e2e] ${c.method}: ${JSON.stringify(c)}\n`);
  expect(c.bootChanged, 'a new status.nodeInfo.bootID').toBe(true);
  expect(c.kernelBoots[1], 'one kernel boot per approval (banners on the console)').toBe(
    c.kernelBoots[0] + 1,
  );
  expect(c.guestBootId, "the guest's own boot ID is the one the kubelet reports").toBe(c.bootAfter);
  expect(c.agentReportedBoot, 'the agent reported the new boot').toBe(c.bootAfter);
  expect(c.sentinelCleared, 'the sentinel went with /run').toBe(true);
  expect(c.agentRestarted, 'the kubelet restarted the agent container once').toBe(true);
  expect(c.uncordoned, 'uncordoned by the controller').toBe(true);
  expect(c.workloadEvicted, "the node's workload pod was evicted (a new pod replaced it)").toBe(true);
  // Each step of the rollout, as the controller recorded it on the node (a phase can be shorter than sampling).
  for (const r of ['Cordoned', 'Draining', 'RebootApproved', 'RebootObserved', 'Rebooted'])
    expect(c.events, `Event ${r}`).toContain(r);
  cycles.push(c);
}

/** The agent's memory trim worked in its container: no madvise refused, the executable's pages mostly handed back. */
function expectTrimmed(t: { msg: string; fileMiB: number[]; errnos?: unknown }) {
  expect(t.msg).toBe('memory trimmed');
  expect(t.errnos).toBeUndefined();
  expect(t.fileMiB[1]!, 'file-backed MiB after the trim').toBeLessThan(t.fileMiB[0]! / 2);
}

describe('a real node', () => {
  it(
    'runs the agent from the built image under the kubelet, with its probes and its bound token',
    async () => {
      const p = (await w.agentPod())!;
      expect(p.status!.containerStatuses![0]!.ready).toBe(true);
      expect(p.status!.containerStatuses![0]!.image).toContain(w.imageRef);
      // The agent reported its boot with its pod-bound token (the admission policy let it, and only it).
      const n = await eventually('agent reported', async () => {
        const n = await w.node();
        return n.metadata.annotations?.[Annotations.bootId] === n.status?.nodeInfo?.bootID ? n : undefined;
      });
      expect(n.status?.conditions?.find((c) => c.type === 'RebootRequired')?.status).toBe('False');
    },
    20 * 60_000,
  );

  it(
    'reboots the VM for real with the command method (deploy/base: privileged, root, nsenter + systemctl reboot)',
    async () => {
      const trim = await w.agentTrim();
      expectTrimmed(trim);
      const g = await w.agentInGuest();
      process.stderr.write(`[node-e2e] command agent: ${JSON.stringify(g)}; trim ${JSON.stringify(trim)}\n`);
      // A privileged container runs outside AppArmor confinement: the runtime's default profile does not apply.
      expect(g.confinement).toBe('unconfined');
      expectGoodCycle(await w.rebootCycle('command'));
    },
    30 * 60_000,
  );

  it(
    "the image's own user cannot nsenter into PID 1 even in a privileged container: why the command method runs as root",
    async () => {
      // The same image and the same call the agent makes, in a privileged container of the node's containerd,
      // once as the image's user (65532) and once as root.
      const probe = (user: string) =>
        w.vm.exec(
          [
            'ctr',
            '-n',
            'k8s.io',
            'run',
            '--rm',
            '--privileged',
            '--user',
            user,
            w.imageRef,
            `nsenter-probe-${user}`,
          ].concat([
            'nsenter',
            '--target',
            '1',
            '--mount',
            '--uts',
            '--ipc',
            '--net',
            '--pid',
            '--',
            '/bin/true',
          ]),
          120_000,
        );
      const asImageUser = await probe('65532');
      expect(asImageUser.code).not.toBe(0);
      expect(asImageUser.out).toMatch(/Operation not permitted/);
      const asRoot = await probe('0');
      expect(asRoot.code, asRoot.out).toBe(0);
    },
    5 * 60_000,
  );

  it(
    'AppArmor: the runtime default profile may not signal an unconfined PID 1, which is why the signal method ships Unconfined',
    async () => {
      expect((await w.vm.sh('cat /sys/module/apparmor/parameters/enabled')).trim()).toBe('Y');
      // containerd loaded its default profile for the confined pods (the web pod's containers).
      expect(await w.vm.sh('cat /sys/kernel/security/apparmor/profiles')).toMatch(
        /cri-containerd\.apparmor\.d \(enforce\)/,
      );
      // Under that profile, SIGRTMIN+5 to an unconfined process (as PID 1 is) is refused; a harmless target here.
      const r = await w.vm.exec([
        '/bin/sh',
        '-c',
        'sleep 600 & p=$!; aa-exec -p cri-containerd.apparmor.d -- kill -s RTMIN+5 $p; rc=$?; kill $p; exit $rc',
      ]);
      expect(r.code).not.toBe(0);
      expect(r.out).toMatch(/Permission denied|Operation not permitted/);
    },
    5 * 60_000,
  );

  it(
    'reboots the VM for real with the signal method (the Helm chart: root, no capabilities, not privileged)',
    async () => {
      const sc = await w.useSignalMethod();
      expect(sc.privileged).toBeUndefined();
      expect(sc.capabilities).toEqual({ drop: ['ALL'] });
      expect(sc.appArmorProfile).toEqual({ type: 'Unconfined' });
      const trim = await w.agentTrim();
      expectTrimmed(trim);
      const g = await w.agentInGuest();
      process.stderr.write(`[node-e2e] signal agent: ${JSON.stringify(g)}; trim ${JSON.stringify(trim)}\n`);
      expect(g.confinement).toBe('unconfined');
      expect(g.capEff, 'no effective capabilities').toBe('0000000000000000');
      expectGoodCycle(await w.rebootCycle('signal'));
    },
    30 * 60_000,
  );

  it('sums up', () => {
    expect(cycles.map((c) => c.method)).toEqual(['command', 'signal']);
    const count = (f: (c: Cycle) => boolean) => cycles.filter(f).length;
    const line = `node e2e: real reboots ${cycles.length}/2 (${cycles.map((c) => c.method).join(', ')}), boot IDs changed ${count((c) => c.bootChanged)}, agent restarts ${count((c) => c.agentRestarted)}, sentinel cleared ${count((c) => c.sentinelCleared)}, uncordoned ${count((c) => c.uncordoned)}`;
    expect(line).toBe(
      'node e2e: real reboots 2/2 (command, signal), boot IDs changed 2, agent restarts 2, sentinel cleared 2, uncordoned 2',
    );
    process.stdout.write(`${line}\n`);
    if (process.env.KREBOOT_NODE_E2E_SUMMARY)
      writeFileSync(process.env.KREBOOT_NODE_E2E_SUMMARY, `${line}\n`);
  });
});
