// The real-node world, shared by the real-node test and `npm run bench -- node`: a test control plane with
// kreboot installed from deploy/base (but for the image), one QEMU VM joined as a Node, a workload pod on it, and
// the controller as a local process on its service account's token (its own pods would land on the one real node
// and be drained by themselves). A reboot cycle touches the sentinel in the guest and follows the node until
// kreboot has rebooted it and let it go, recording what happened; callers assert or measure.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { kubeconfigConnection } from '../../operator/kube/connection.ts';
import { KubeHttp } from '../../operator/kube/http.ts';
import { Annotations } from '../../operator/protocol.ts';
import { type Resident, residentFromStatus } from '../../operator/util/proc-status.ts';
import { ControlPlane } from '../../testkit/cluster/controlplane.ts';
import { eventually } from '../../testkit/eventually.ts';
import { freePort } from '../../testkit/prom/prometheus.ts';
import { ControllerProcess } from '../../testkit/sim/controller-process.ts';
import { helmTemplate } from '../../testkit/tools/tools.ts';
import { kubectl, requestToken, SYSTEM_NS, tokenKubeconfig } from '../../testkit/world/install.ts';
import { Vm } from './vm.ts';

export const NODE = 'kreboot-vm-0';

export interface NodeObj {
  metadata: { annotations?: Record<string, string>; labels?: Record<string, string> };
  spec?: { unschedulable?: boolean };
  status?: { conditions?: Array<{ type: string; status: string }>; nodeInfo?: { bootID?: string } };
}
export interface PodObj {
  metadata: { name: string; uid: string; labels?: Record<string, string>; deletionTimestamp?: string };
  spec?: { nodeName?: string };
  status?: {
    phase?: string;
    containerStatuses?: Array<{ restartCount: number; ready: boolean; image?: string }>;
  };
}

export interface GuestMemory extends Resident {
  /** memory.current of the process's cgroup (its container). */
  memoryBytes: number;
}

export const isReady = (n: NodeObj) =>
  n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;

/** What one reboot cycle did, as observed from the API server and the guest. */
export interface Cycle {
  method: string;
  bootBefore: string;
  bootAfter: string;
  bootChanged: boolean;
  /** Kernel boots on the console before and after (one per approval). */
  kernelBoots: [number, number];
  /** The boot ID the guest printed last, from its own /proc. */
  guestBootId: string | undefined;
  agentReportedBoot: string | undefined;
  agentRestarted: boolean;
  sentinelCleared: boolean;
  uncordoned: boolean;
  workloadEvicted: boolean;
  /** Event reasons the controller recorded on the node during the cycle. */
  events: string[];
  /** Milliseconds from the sentinel's creation to each milestone first seen. */
  phases: Record<string, number>;
  totalMs: number;
}

function built(script: string): string {
  const out = execFileSync('bash', [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return out.trim().split('\n').pop()!;
}

export class RealNodeWorld {
  readonly dir = mkdtempSync(join(tmpdir(), 'kreboot-node-'));
  cp!: ControlPlane;
  vm!: Vm;
  admin!: KubeHttp;
  controller: ControllerProcess | undefined;
  imageRef = '';
  /** Milliseconds from VM start to: the guest agent answering, the Node Ready, the agent pod Ready. */
  readonly bootTimings: Record<string, number> = {};

  /** `extraImages`: more OCI archives for the guest's containerd (the bench's kured image). */
  constructor(private readonly opts: { extraImages?: string[] } = {}) {}

  async start(): Promise<this> {
    const vmDir = built('e2e/node/build-rootfs.sh');
    const kreboot = built('e2e/node/build-image.sh');
    const key = readFileSync(join(kreboot, '..', 'kreboot-latest.key'), 'utf8').trim();
    const pause = realpathSync(join(kreboot, '..', 'pause-latest.oci.tar'));
    this.imageRef = `kreboot.test/kreboot:${key}`;

    this.cp = await ControlPlane.start({ dir: join(this.dir, 'cluster') });
    this.admin = new KubeHttp(await kubeconfigConnection(this.cp.kubeconfig));
    const base = parseAllDocuments(
      execFileSync('kubectl', ['kustomize', 'deploy/base'], { encoding: 'utf8' }),
    )
      .map((d) => d.toJSON())
      .filter(
        (o) =>
          !(
            o.metadata?.name === 'kreboot-controller' &&
            ['Deployment', 'PodDisruptionBudget'].includes(o.kind)
          ),
      );
    const rendered = base
      .map((o) => stringify(o).replaceAll('ghcr.io/kreboot/kreboot:0.1.0', this.imageRef))
      .join('---\n');
    if (!rendered.includes(this.imageRef))
      throw new Error('deploy/base no longer names the image to replace');
    await kubectl(this.cp.kubeconfig, ['apply', '--server-side', '-f', '-'], rendered);

    this.vm = new Vm({
      name: NODE,
      dir: join(this.dir, 'vm'),
      vmDir,
      images: [kreboot, pause, ...(this.opts.extraImages ?? [])],
      pki: this.cp.pki,
      apiPort: this.cp.ports.apiserver!,
    });
    await this.vm.prepare();
    const t0 = Date.now();
    this.vm.start();
    await this.vm.waitForAgent(5 * 60_000);
    this.bootTimings.guestAgent = Date.now() - t0;
    await eventually(
      'the VM registered as a Ready node',
      async () => {
        const n = await this.node().catch(() => undefined);
        return n && isReady(n);
      },
      5 * 60_000,
      500,
    );
    this.bootTimings.nodeReady = Date.now() - t0;
    await this.agentReady(10 * 60_000);
    this.bootTimings.agentReady = Date.now() - t0;

    // A workload the drain must move: a Deployment of one pod on the node.
    await kubectl(
      this.cp.kubeconfig,
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
    const token = await requestToken(this.admin, 'kreboot-controller');
    this.controller = new ControllerProcess({
      identity: 'node-e2e-c0',
      kubeconfig: tokenKubeconfig(
        this.cp.kubeconfig,
        token,
        join(this.dir, 'controller.kubeconfig'),
        'kreboot-controller',
      ),
      namespace: SYSTEM_NS,
      nodeSelector: '',
      metricsPort: await freePort(),
      args: ['--concurrency=1', '--drain-timeout=5m', '--reboot-timeout=10m', '--soak-time=0s'],
    });
    this.controller.start();
    await eventually(
      'web pod running on the node',
      async () => {
        const w = await this.pods('default', 'app=web');
        return w.length === 1 && w[0]!.spec?.nodeName === NODE && w[0]!.status?.phase === 'Running';
      },
      5 * 60_000,
      1000,
    );
    return this;
  }

  async stop(): Promise<void> {
    if (this.controller && process.env.KREBOOT_NODE_E2E_LOGS)
      process.stderr.write(this.controller.log.slice(-20_000));
    await this.controller?.stop('SIGKILL');
    await this.vm?.stop();
    this.admin?.close();
    await this.cp?.stop();
    if (!process.env.KREBOOT_KEEP_LOGS) rmSync(this.dir, { recursive: true, force: true });
  }

  node(): Promise<NodeObj> {
    return this.admin.request<NodeObj>(`/api/v1/nodes/${NODE}`);
  }

  async pods(ns: string, selector: string): Promise<PodObj[]> {
    const l = await this.admin.request<{ items: PodObj[] }>(
      `/api/v1/namespaces/${ns}/pods?labelSelector=${encodeURIComponent(selector)}`,
    );
    return l.items.filter((p) => !p.metadata.deletionTimestamp);
  }

  async agentPod(): Promise<PodObj | undefined> {
    return (await this.pods(SYSTEM_NS, 'app.kubernetes.io/component=agent')).find(
      (p) => p.spec?.nodeName === NODE,
    );
  }

  /** Waits for a Ready agent pod (other than `notUid`, when a rollout replaces it). */
  agentReady(timeoutMs: number, notUid?: string): Promise<PodObj> {
    return eventually(
      'agent pod Ready on the VM',
      async () => {
        const p = await this.agentPod();
        return p && p.metadata.uid !== notUid && p.status?.containerStatuses?.[0]?.ready ? p : undefined;
      },
      timeoutMs,
      1000,
    );
  }

  /** Replaces the agent DaemonSet with the Helm chart's render for the signal method. */
  async useSignalMethod(): Promise<Record<string, unknown>> {
    const chart = helmTemplate([
      '--namespace',
      SYSTEM_NS,
      '--set',
      'agent.rebootMethod=signal',
      '--set',
      'image.repository=kreboot.test/kreboot',
      '--set',
      `image.tag=${this.imageRef.split(':')[1]}`,
    ]);
    const ds = parseAllDocuments(chart)
      .map((d) => d.toJSON())
      .find((o) => o?.kind === 'DaemonSet');
    const old = (await this.agentPod())!.metadata.uid;
    await kubectl(
      this.cp.kubeconfig,
      ['apply', '--server-side', '--force-conflicts', '-f', '-'],
      stringify(ds),
    );
    await this.agentReady(10 * 60_000, old);
    return ds.spec.template.spec.containers[0].securityContext;
  }

  /** The agent's process in the guest: its AppArmor confinement, capabilities and memory as the kubelet counts it. */
  async agentInGuest(): Promise<{ pid: string; confinement: string; capEff: string } & GuestMemory> {
    const vm = this.vm;
    const pid = (await vm.sh("pgrep -f '/app/kreboot.mjs agent' | head -1")).trim();
    const confinement = (await vm.sh(`cat /proc/${pid}/attr/current`)).trim();
    const capEff = (await vm.sh(`sed -n 's/^CapEff:\\t//p' /proc/${pid}/status`)).trim();
    return { pid, confinement, capEff, ...(await this.memoryInGuest(pid)) };
  }

  /**
   * The agent's memory trim as its own log reports it (operator/agent/trim.ts), once it has happened: in the real
   * container, under the runtime's seccomp profile and the method's privileges, the madvise calls must succeed.
   * Read from the container's log file in the guest (the API server cannot reach the kubelet behind QEMU's user
   * network, so `kubectl logs` cannot): CRI lines, `TIME STREAM TAG MESSAGE`.
   */
  async agentTrim(): Promise<{ msg: string; rssMiB: number[]; fileMiB: number[]; errnos?: unknown }> {
    const pod = (await this.agentPod())!;
    const dir = `/var/log/pods/${SYSTEM_NS}_${pod.metadata.name}_${pod.metadata.uid}/agent`;
    return eventually(
      'the agent logged its memory trim',
      async () =>
        (await this.vm.sh(`cat ${dir}/*.log`))
          .split('\n')
          .map((l) => l.split(' ').slice(3).join(' '))
          .filter((m) => m.startsWith('{'))
          .map((m) => JSON.parse(m) as { phase?: string; msg: string; rssMiB: number[]; fileMiB: number[] })
          .find((l) => l.phase === 'trim'),
      2 * 60_000,
      2000,
    );
  }

  /** A guest process's memory: its container cgroup's charge (what the kubelet counts) and its RSS split. */
  async memoryInGuest(pid: string): Promise<GuestMemory> {
    const vm = this.vm;
    const cg = (await vm.sh(`sed -n 's/^0:://p' /proc/${pid}/cgroup`)).trim();
    const memoryBytes = Number((await vm.sh(`cat /sys/fs/cgroup${cg}/memory.current`)).trim());
    return { memoryBytes, ...residentFromStatus(await vm.sh(`cat /proc/${pid}/status`)) };
  }

  /** Touches the sentinel in the guest and follows the node until kreboot has rebooted it and let it go. */
  async rebootCycle(method: string): Promise<Cycle> {
    const vm = this.vm;
    const before = await this.node();
    const bootBefore = before.status!.nodeInfo!.bootID!;
    const agentBefore = (await this.agentPod())!;
    const restartsBefore = agentBefore.status!.containerStatuses![0]!.restartCount;
    const bootsBefore = vm.boots();
    const webBefore = (await this.pods('default', 'app=web')).map((p) => p.metadata.uid);
    const t0 = Date.now();
    await vm.sh('touch /var/run/reboot-required');
    const phases: Record<string, number> = {};
    const seen = (k: string) => {
      if (phases[k] === undefined) phases[k] = Date.now() - t0;
    };
    const n = await eventually(
      `${method}: rebooted and released`,
      async () => {
        const n = await this.node().catch(() => undefined);
        if (!n) return undefined;
        const a = n.metadata.annotations ?? {};
        const phase = a[Annotations.phase];
        if (phase) seen(phase);
        if (a[Annotations.rebootRequiredSince]) seen('required');
        if (n.status?.nodeInfo?.bootID !== bootBefore) seen('newBootId');
        if (!isReady(n)) seen('notReady');
        if (phases.notReady !== undefined && isReady(n)) seen('readyAgain');
        const done =
          n.status?.nodeInfo?.bootID !== bootBefore && !phase && !n.spec?.unschedulable && isReady(n);
        return done ? n : undefined;
      },
      15 * 60_000,
      250,
    );
    seen('released');
    const agentAfter = await this.agentReady(5 * 60_000);
    seen('agentReady');
    const sentinel = await vm.exec(['test', '-e', '/var/run/reboot-required']);
    // A grace period: a second boot for the same approval would show up on the console by now.
    await new Promise((r) => setTimeout(r, 5000));
    const webAfter = (await this.pods('default', 'app=web')).map((p) => p.metadata.uid);
    const events = await this.admin.request<{
      items: Array<{ reason?: string; metadata: { creationTimestamp?: string } }>;
    }>(
      `/api/v1/namespaces/default/events?fieldSelector=${encodeURIComponent(`involvedObject.name=${NODE}`)}`,
    );
    return {
      method,
      bootBefore,
      bootAfter: n.status!.nodeInfo!.bootID!,
      bootChanged: n.status!.nodeInfo!.bootID !== bootBefore,
      kernelBoots: [bootsBefore, vm.boots()],
      guestBootId: vm.bootIds().at(-1),
      agentReportedBoot: n.metadata.annotations?.[Annotations.bootId],
      agentRestarted:
        agentAfter.metadata.uid === agentBefore.metadata.uid &&
        agentAfter.status!.containerStatuses![0]!.restartCount === restartsBefore + 1,
      sentinelCleared: sentinel.code !== 0,
      uncordoned: !n.spec?.unschedulable,
      workloadEvicted: webBefore.length > 0 && !webAfter.some((u) => webBefore.includes(u)),
      events: [
        ...new Set(
          events.items
            .filter((e) => Date.parse(e.metadata.creationTimestamp ?? '') >= t0 - 2000)
            .map((e) => e.reason ?? ''),
        ),
      ],
      phases,
      totalMs: Date.now() - t0,
    };
  }
}
