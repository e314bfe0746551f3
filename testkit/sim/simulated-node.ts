// A simulated host: a kwok Node plus a real agent process. When the agent runs its reboot command, the host
// "reboots" as a real one would: the agent dies, the node goes NotReady and the pods left on it stop, time
// passes, a new boot ID appears (boot-ID file and status.nodeInfo.bootID), the sentinel is gone (or kept, to
// model "the reboot did not fix it"), the node turns Ready again, its pods' containers start again (one more
// restart each) and the agent starts again. While up, it also does what a kubelet's pod status sync does:
// a running pod on a Ready node that someone marked not ready (the node-lifecycle controller, acting late on an
// earlier NotReady) gets its readiness back on the next sync.
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import type { KubeHttp } from '../../operator/kube/http.ts';
import { kwokNode } from '../cluster/nodes.ts';
import { AgentProcess } from './agent-process.ts';
import { type PodLite, podsOnNode } from './pods.ts';

export const POWER_ANNOTATION = 'sim.kreboot.io/power';
const STATUS_SYNC_MS = 1000;

export interface SimulatedNodeOptions {
  name: string;
  dir: string;
  kubeconfig: string;
  /** The API client: node create/delete, and the patches a kubelet makes (strategic merge on status). */
  http: KubeHttp;
  labels?: Record<string, string>;
  unschedulable?: boolean;
  /** How long the host stays down. */
  downMs?: number;
  agentArgs?: string[];
  agentMetricsPort?: number;
  /**
   * The agent's identity, fetched before each start as a kubelet projects a fresh service-account token into
   * the restarted container: returns the kubeconfig path to use. Without it the agent uses `kubeconfig`.
   */
  credentials?: () => Promise<string>;
  /** Called when the host powers off, before anything else changes: lets a test check what was left on it. */
  onPowerOff?: (sim: SimulatedNode, pods: PodLite[]) => Promise<void> | void;
}

export class SimulatedNode {
  readonly agent: AgentProcess;
  boot = 1;
  /** Reboots the simulator carried out. */
  rebootsDone = 0;
  keepSentinelAfterReboot = false;
  /** When true the host never comes back from its next reboot. */
  neverComeBack = false;
  private destroyed = false;
  private rebooting: Promise<void> | undefined;
  private handled = 0;
  private timer: NodeJS.Timeout | undefined;
  private syncTimer: NodeJS.Timeout | undefined;
  private busy = false;
  /** Powered on and booted (the kubelet runs). */
  private up = true;
  private syncing = false;
  /** Pod readiness restored by the status sync (for tests and the demo's diagnosis). */
  readinessRestored = 0;

  constructor(readonly opts: SimulatedNodeOptions) {
    this.agent = new AgentProcess({
      nodeName: opts.name,
      dir: opts.dir,
      kubeconfig: opts.kubeconfig,
      bootId: this.bootId,
      extraArgs: opts.agentArgs,
      logLevel: 'info',
      metricsPort: opts.agentMetricsPort,
    });
  }

  get name(): string {
    return this.opts.name;
  }
  get bootId(): string {
    return `${this.opts.name}-boot-${this.boot}`;
  }

  async create(): Promise<void> {
    await this.opts.http.request('/api/v1/nodes', {
      method: 'POST',
      body: kwokNode(this.name, {
        labels: this.opts.labels,
        bootID: this.bootId,
        unschedulable: this.opts.unschedulable,
      }),
    });
    await this.setBootIdStatus();
    await this.startAgent();
    this.timer = setInterval(() => void this.poll(), 50);
    this.syncTimer = setInterval(() => void this.syncPodStatus(), STATUS_SYNC_MS);
  }

  /**
   * The kubelet's pod status sync, reduced: it knows its containers run, so a Running pod the API shows as not
   * ready is set ready again. (The kubelet syncs every 10 s; 1 s here keeps tests short.)
   */
  private async syncPodStatus(): Promise<void> {
    if (!this.up || this.syncing) return;
    this.syncing = true;
    try {
      const pods = await podsOnNode(this.opts.http, this.name);
      const stale = pods.filter(
        (p) =>
          p.status?.phase === 'Running' &&
          !(p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
      );
      if (!stale.length || !this.up) return;
      await this.setPodsRunning(stale, true, false);
      this.readinessRestored += stale.length;
    } finally {
      this.syncing = false;
    }
  }

  private async startAgent(): Promise<void> {
    if (this.opts.credentials) this.agent.opts.kubeconfig = await this.opts.credentials();
    this.agent.start();
  }

  /** The agent process dies and comes back (an OOM kill, a DaemonSet rollout), the host stays up. */
  async restartAgent(gapMs = 500): Promise<void> {
    await this.agent.stop('SIGKILL');
    await new Promise((r) => setTimeout(r, gapMs));
    await this.startAgent();
  }

  needReboot(): void {
    writeFileSync(this.agent.sentinel, '');
  }
  get sentinelPresent(): boolean {
    return existsSync(this.agent.sentinel);
  }

  private patchStatus(status: unknown): Promise<unknown> {
    return this.opts.http.request(`/api/v1/nodes/${this.name}/status`, {
      method: 'PATCH',
      contentType: 'application/strategic-merge-patch+json',
      body: { status },
    });
  }

  private async setBootIdStatus(): Promise<void> {
    await this.patchStatus({ nodeInfo: { bootID: this.bootId } });
  }

  private async poll(): Promise<void> {
    if (this.busy) return;
    const ran = this.agent.reboots();
    if (ran <= this.handled) return;
    this.busy = true;
    this.handled = ran;
    this.rebooting = this.reboot();
    try {
      await this.rebooting;
    } catch (err) {
      // A test that ends mid-reboot destroys the node under it: that is the end, not a failure.
      if (!this.destroyed) throw err;
    } finally {
      this.busy = false;
      this.rebooting = undefined;
    }
  }

  private async setPower(on: boolean, ready: 'True' | 'Unknown'): Promise<void> {
    await this.opts.http.request(`/api/v1/nodes/${this.name}`, {
      method: 'PATCH',
      contentType: 'application/merge-patch+json',
      body: { metadata: { annotations: { [POWER_ANNOTATION]: on ? 'on' : 'off' } } },
    });
    if (!on) {
      const now = new Date().toISOString();
      await this.patchStatus({
        conditions: [
          {
            type: 'Ready',
            status: ready,
            reason: 'NodeStatusUnknown',
            message: 'simulated reboot in progress',
            lastTransitionTime: now,
            lastHeartbeatTime: now,
          },
        ],
      });
    }
  }

  /**
   * What the kubelet reports for the pods left on the node (DaemonSet pods; anything a forced drain left): their
   * containers die with the host (not ready), and after the boot it starts them again (ready, one more restart).
   * kwok only runs Pending pods, so without this they would look untouched by the reboot.
   */
  private async setPodsRunning(all: PodLite[], running: boolean, restarted = running): Promise<void> {
    const pods = all.filter((p) => p.status?.phase === 'Running');
    const now = new Date().toISOString();
    const status = running ? 'True' : 'False';
    await Promise.all(
      pods.map(
        (p) =>
          this.opts.http
            .request(`/api/v1/namespaces/${p.metadata.namespace}/pods/${p.metadata.name}/status`, {
              method: 'PATCH',
              contentType: 'application/strategic-merge-patch+json',
              body: {
                status: {
                  conditions: ['ContainersReady', 'Ready'].map((type) => ({
                    type,
                    status,
                    lastTransitionTime: now,
                    ...(!running && { reason: 'NodeRebooting' }),
                  })),
                  containerStatuses: (p.status?.containerStatuses ?? []).map((c) => ({
                    ...c,
                    ready: running,
                    started: running,
                    restartCount: (c.restartCount ?? 0) + (restarted ? 1 : 0),
                    state: running
                      ? restarted || !c.state
                        ? { running: { startedAt: now } }
                        : c.state
                      : { terminated: { exitCode: 137, reason: 'Error', finishedAt: now } },
                  })),
                },
              },
            })
            .catch(() => {}), // a pod deleted meanwhile is not the simulator's concern
      ),
    );
  }

  /** The host goes down and (unless told otherwise) comes back in a new boot. */
  async reboot(): Promise<void> {
    this.up = false;
    await this.agent.stop('SIGKILL');
    const pods = await podsOnNode(this.opts.http, this.name);
    await this.opts.onPowerOff?.(this, pods);
    await this.setPower(false, 'Unknown');
    await this.setPodsRunning(pods, false);
    if (this.neverComeBack) return;
    await new Promise((r) => setTimeout(r, this.opts.downMs ?? 500));
    this.boot++;
    this.agent.setBootId(this.bootId);
    if (!this.keepSentinelAfterReboot) rmSync(this.agent.sentinel, { force: true });
    await this.setBootIdStatus();
    // kwok's node-initialize stage turns it Ready again once power is back.
    await this.setPower(true, 'True');
    await this.setPodsRunning(await podsOnNode(this.opts.http, this.name), true);
    this.up = true;
    this.rebootsDone++;
    await this.startAgent();
  }

  async destroy(): Promise<void> {
    this.destroyed = true;
    clearInterval(this.timer);
    clearInterval(this.syncTimer);
    // Let a simulated reboot in progress finish its writes before the Node goes (it stops at the first error).
    await this.rebooting?.catch(() => {});
    this.up = false;
    await this.agent.stop('SIGKILL');
    await this.opts.http.request(`/api/v1/nodes/${this.name}`, { method: 'DELETE' }).catch(() => {});
  }
}
