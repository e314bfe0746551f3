// A real node (issue #11): kreboot's image built from the Dockerfile, its agent DaemonSet from deploy/base running
// under a real kubelet and containerd in a QEMU VM, and real reboots of that VM: once with the `command` method
// (nsenter + systemctl reboot, deploy/base) and once with the `signal` method (SIGRTMIN+5 to PID 1, the Helm
// chart's render). The controller runs as a local process on its service account's token, as in the e2e world.
// `npm run e2e:node` runs only this file; it prints one summary line when every check held.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { kubeconfigConnection } from '../../operator/kube/connection.ts';
import { KubeHttp } from '../../operator/kube/http.ts';
import { Annotations } from '../../operator/protocol.ts';
import { ControlPlane } from '../cluster/controlplane.ts';
import { freePort } from '../prom/prometheus.ts';
import { ControllerProcess } from '../sim/controller-process.ts';
import { helmTemplate } from '../tools/tools.ts';
import { eventually } from '../util/eventually.ts';
import { kubectl, requestToken, SYSTEM_NS, tokenKubeconfig } from '../world/install.ts';
import { Vm } from './vm.ts';

const NODE = 'kreboot-vm-0';
const dir = mkdtempSync(join(tmpdir(), 'kreboot-node-e2e-'));
let cp: ControlPlane;
let vm: Vm;
let admin: KubeHttp;
let controller: ControllerProcess | undefined;
let imageRef = '';

interface NodeObj {
  metadata: { annotations?: Record<string, string>; labels?: Record<string, string> };
  spec?: { unschedulable?: boolean };
  status?: { conditions?: Array<{ type: string; status: string }>; nodeInfo?: { bootID?: string } };
}
interface PodObj {
  metadata: { name: string; uid: string; labels?: Record<string, string>; deletionTimestamp?: string };
  spec?: { nodeName?: string };
  status?: {
    phase?: string;
    containerStatuses?: Array<{ restartCount: number; ready: boolean; image?: string }>;
  };
}

const getNode = () => admin.request<NodeObj>(`/api/v1/nodes/${NODE}`);
const ready = (n: NodeObj) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
const pods = async (ns: string, selector: string) =>
  (
    await admin.request<{ items: PodObj[] }>(
      `/api/v1/namespaces/${ns}/pods?labelSelector=${encodeURIComponent(selector)}`,
    )
  ).items.filter((p) => !p.metadata.deletionTimestamp);
const agentPod = async () =>
  (await pods(SYSTEM_NS, 'app.kubernetes.io/component=agent')).find((p) => p.spec?.nodeName === NODE);

function built(script: string): string {
  const out = execFileSync('bash', [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return out.trim().split('\n').pop()!;
}

interface Cycle {
  method: string;
  bootChanged: boolean;
  agentRestarted: boolean;
  sentinelCleared: boolean;
  uncordoned: boolean;
  phases: Record<string, number>;
  totalMs: number;
}
const cycles: Cycle[] = [];

/** Touches the sentinel in the guest and follows the node until kreboot has rebooted it and let it go. */
async function rebootCycle(method: string): Promise<Cycle> {
  const before = await getNode();
  const bootBefore = before.status!.nodeInfo!.bootID!;
  const agentBefore = (await agentPod())!;
  const restartsBefore = agentBefore.status!.containerStatuses![0]!.restartCount;
  const bootsBefore = vm.boots();
  const webBefore = (await pods('default', 'app=web')).map((p) => p.metadata.uid);
  expect(webBefore).toHaveLength(1);
  const t0 = Date.now();
  await vm.sh('touch /var/run/reboot-required');
  const phases: Record<string, number> = {};
  let down = 0;
  const n = await eventually(
    `${method}: rebooted and released`,
    async () => {
      const n = await getNode().catch(() => undefined);
      if (!n) return undefined;
      const a = n.metadata.annotations ?? {};
      const phase = a[Annotations.phase];
      if (phase && phases[phase] === undefined) phases[phase] = Date.now() - t0;
      if (a[Annotations.rebootRequiredSince] && phases.required === undefined)
        phases.required = Date.now() - t0;
      if (!ready(n) && !down) down = Date.now() - t0;
      if (down && ready(n) && phases.readyAgain === undefined) phases.readyAgain = Date.now() - t0;
      const done = n.status?.nodeInfo?.bootID !== bootBefore && !phase && !n.spec?.unschedulable && ready(n);
      return done ? n : undefined;
    },
    15 * 60_000,
    250,
  );
  phases.released = Date.now() - t0;
  if (down) phases.notReady = down;
  // The agent pod: same pod, restarted by the kubelet after the boot, Ready again.
  const agentAfter = await eventually(
    `${method}: agent pod ready again`,
    async () => {
      const p = await agentPod();
      const cs = p?.status?.containerStatuses?.[0];
      return p && cs?.ready ? p : undefined;
    },
    5 * 60_000,
    500,
  );
  const sentinel = await vm.exec(['test', '-e', '/var/run/reboot-required']);
  // Exactly one boot for this approval, and no second one after a grace period.
  await new Promise((r) => setTimeout(r, 5000));
  const webAfter = (await pods('default', 'app=web')).map((p) => p.metadata.uid);
  const cycle: Cycle = {
    method,
    bootChanged: n.status!.nodeInfo!.bootID !== bootBefore,
    agentRestarted:
      agentAfter.metadata.uid === agentBefore.metadata.uid &&
      agentAfter.status!.containerStatuses![0]!.restartCount === restartsBefore + 1,
    sentinelCleared: sentinel.code !== 0,
    uncordoned: !n.spec?.unschedulable,
    phases,
    totalMs: Date.now() - t0,
  };
  expect(cycle.bootChanged).toBe(true);
  expect(vm.boots(), 'one boot per approval (kernel banners on the console)').toBe(bootsBefore + 1);
  expect(vm.bootIds().at(-1)).toBe(n.status!.nodeInfo!.bootID);
  expect(cycle.sentinelCleared, 'the sentinel went with /run').toBe(true);
  expect(cycle.agentRestarted, 'the kubelet restarted the agent container once').toBe(true);
  expect(cycle.uncordoned).toBe(true);
  expect(n.metadata.annotations?.[Annotations.bootId]).toBe(n.status!.nodeInfo!.bootID);
  // Each step of the rollout, as the controller recorded it on the node (phases can be too brief to sample).
  const events = await admin.request<{
    items: Array<{ reason?: string; metadata: { creationTimestamp?: string } }>;
  }>(`/api/v1/namespaces/default/events?fieldSelector=${encodeURIComponent(`involvedObject.name=${NODE}`)}`);
  const reasons = new Set(
    events.items
      .filter((e) => Date.parse(e.metadata.creationTimestamp ?? '') >= t0 - 2000)
      .map((e) => e.reason),
  );
  for (const r of ['Cordoned', 'Draining', 'RebootApproved', 'RebootObserved', 'Rebooted'])
    expect(reasons.has(r), `Event ${r} (saw ${[...reasons].join(', ')})`).toBe(true);
  // The workload pod was evicted (a new pod replaced it).
  expect(webAfter.some((u) => webBefore.includes(u))).toBe(false);
  cycles.push(cycle);
  process.stderr.write(`[node-e2e] ${method}: ${JSON.stringify(cycle)}\n`);
  return cycle;
}

/** The kreboot agent's process in the guest: its AppArmor confinement and its memory as the kubelet counts it. */
async function agentInGuest(): Promise<{ pid: string; confinement: string; memoryBytes: number }> {
  const pid = (await vm.sh("pgrep -f '/app/kreboot.mjs agent' | head -1")).trim();
  const confinement = (await vm.sh(`cat /proc/${pid}/attr/current`)).trim();
  const cg = (await vm.sh(`sed -n 's/^0:://p' /proc/${pid}/cgroup`)).trim();
  const memoryBytes = Number((await vm.sh(`cat /sys/fs/cgroup${cg}/memory.current`)).trim());
  return { pid, confinement, memoryBytes };
}

beforeAll(async () => {
  const vmDir = built('e2e/node/build-rootfs.sh');
  const kreboot = built('e2e/node/build-image.sh');
  const key = readFileSync(join(kreboot, '..', 'kreboot-latest.key'), 'utf8').trim();
  const pause = realpathSync(join(kreboot, '..', 'pause-latest.oci.tar'));
  imageRef = `kreboot.test/kreboot:${key}`;

  cp = await ControlPlane.start({ dir: join(dir, 'cluster') });
  admin = new KubeHttp(await kubeconfigConnection(cp.kubeconfig));
  // deploy/base unchanged but for the image; the controller runs as local processes (its pods would land on
  // the one real node and be drained by themselves), so its Deployment and PDB are left out.
  const base = parseAllDocuments(execFileSync('kubectl', ['kustomize', 'deploy/base'], { encoding: 'utf8' }))
    .map((d) => d.toJSON())
    .filter(
      (o) =>
        !(
          o.metadata?.name === 'kreboot-controller' && ['Deployment', 'PodDisruptionBudget'].includes(o.kind)
        ),
    );
  const rendered = base
    .map((o) => stringify(o).replaceAll('ghcr.io/kreboot/kreboot:0.1.0', imageRef))
    .join('---\n');
  expect(rendered).toContain(imageRef);
  await kubectl(cp.kubeconfig, ['apply', '--server-side', '-f', '-'], rendered);

  vm = new Vm({
    name: NODE,
    dir: join(dir, 'vm'),
    vmDir,
    images: [kreboot, pause],
    pki: cp.pki,
    apiPort: cp.ports.apiserver!,
  });
  await vm.prepare();
  vm.start();
  await vm.waitForAgent(5 * 60_000);
  await eventually(
    'the VM registered as a Ready node',
    async () => {
      const n = await getNode().catch(() => undefined);
      return n && ready(n);
    },
    5 * 60_000,
    1000,
  );

  // A workload the drain must move: a Deployment of one pod on the node.
  await kubectl(
    cp.kubeconfig,
    ['apply', '-f', '-'],
    stringify({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'default' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: {
            terminationGracePeriodSeconds: 5,
            containers: [{ name: 'web', image: 'kreboot.test/pause:1', imagePullPolicy: 'Never' }],
          },
        },
      },
    }),
  );
  const token = await requestToken(admin, 'kreboot-controller');
  controller = new ControllerProcess({
    identity: 'node-e2e-c0',
    kubeconfig: tokenKubeconfig(
      cp.kubeconfig,
      token,
      join(dir, 'controller.kubeconfig'),
      'kreboot-controller',
    ),
    namespace: SYSTEM_NS,
    nodeSelector: '',
    metricsPort: await freePort(),
    args: ['--concurrency=1', '--drain-timeout=5m', '--reboot-timeout=10m', '--soak-time=0s'],
  });
  controller.start();
}, 30 * 60_000);

afterAll(async () => {
  if (controller && process.env.KREBOOT_NODE_E2E_LOGS) process.stderr.write(controller.log.slice(-20_000));
  await controller?.stop('SIGKILL');
  await vm?.stop();
  admin?.close();
  await cp?.stop();
  if (!process.env.KREBOOT_KEEP_LOGS) rmSync(dir, { recursive: true, force: true });
});

describe('a real node', () => {
  it(
    'runs the agent from the built image under the kubelet, with its probes and its bound token',
    async () => {
      const p = await eventually(
        'agent pod Ready on the VM',
        async () => {
          const p = await agentPod();
          return p?.status?.containerStatuses?.[0]?.ready ? p : undefined;
        },
        10 * 60_000,
        1000,
      );
      expect(p.status!.containerStatuses![0]!.image).toContain(imageRef);
      // The agent reported its boot with its pod-bound token (the admission policy let it, and only it).
      const n = await eventually('agent reported', async () => {
        const n = await getNode();
        return n.metadata.annotations?.[Annotations.bootId] === n.status?.nodeInfo?.bootID ? n : undefined;
      });
      expect(n.status?.conditions?.find((c) => c.type === 'RebootRequired')?.status).toBe('False');
      await eventually(
        'web pod running on the node',
        async () => {
          const w = await pods('default', 'app=web');
          return w.length === 1 && w[0]!.spec?.nodeName === NODE && w[0]!.status?.phase === 'Running';
        },
        5 * 60_000,
        1000,
      );
    },
    20 * 60_000,
  );

  it(
    'reboots the VM for real with the command method (deploy/base: privileged, root, nsenter + systemctl reboot)',
    async () => {
      const g = await agentInGuest();
      // A privileged container runs outside AppArmor confinement: the runtime's default profile does not apply.
      expect(g.confinement).toBe('unconfined');
      process.stderr.write(`[node-e2e] command agent: ${JSON.stringify(g)}\n`);
      await rebootCycle('command');
    },
    30 * 60_000,
  );

  it(
    'AppArmor: the runtime default profile may not signal an unconfined PID 1, which is why the signal method ships Unconfined',
    async () => {
      expect((await vm.sh('cat /sys/module/apparmor/parameters/enabled')).trim()).toBe('Y');
      // containerd loaded its default profile for the confined pods (the web pod's containers).
      expect(await vm.sh('cat /sys/kernel/security/apparmor/profiles')).toMatch(
        /cri-containerd\.apparmor\.d \(enforce\)/,
      );
      // Under that profile, SIGRTMIN+5 to an unconfined process (as PID 1 is) is refused; a harmless target here.
      const r = await vm.exec([
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
      const chart = helmTemplate([
        '--namespace',
        SYSTEM_NS,
        '--set',
        'agent.rebootMethod=signal',
        '--set',
        `image.repository=kreboot.test/kreboot`,
        '--set',
        `image.tag=${imageRef.split(':')[1]}`,
      ]);
      const ds = parseAllDocuments(chart)
        .map((d) => d.toJSON())
        .find((o) => o?.kind === 'DaemonSet');
      const sc = ds.spec.template.spec.containers[0].securityContext;
      expect(sc.privileged).toBeUndefined();
      expect(sc.capabilities).toEqual({ drop: ['ALL'] });
      const old = (await agentPod())!.metadata.uid;
      await kubectl(cp.kubeconfig, ['apply', '--server-side', '--force-conflicts', '-f', '-'], stringify(ds));
      await eventually(
        'signal agent pod Ready',
        async () => {
          const p = await agentPod();
          return p && p.metadata.uid !== old && p.status?.containerStatuses?.[0]?.ready ? p : undefined;
        },
        10 * 60_000,
        1000,
      );
      const g = await agentInGuest();
      process.stderr.write(`[node-e2e] signal agent: ${JSON.stringify(g)}\n`);
      expect(g.confinement).toBe('unconfined');
      expect((await vm.sh(`grep CapEff /proc/${g.pid}/status`)).trim()).toBe('CapEff:\t0000000000000000');
      await rebootCycle('signal');
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
