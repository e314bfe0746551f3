// Performing one step of the state machine (step.ts) on one node: each step is a small method, idempotent, and
// written so that a crash between any two writes leaves state the next pass (or the next leader) repairs. Node
// writes go through the NodeWriter (compare-and-swap), lock writes through the ClusterLock.
import type { Logger } from 'pino';
import { encodeLastReboot } from '../domain/last-reboot.ts';
import type { NodeView } from '../domain/node.ts';
import { Annotations, Leases, type Phase } from '../protocol.ts';
import type { Drains } from './drains.ts';
import type { EventSink } from './events.ts';
import type { ClusterLock } from './lock.ts';
import type { ControllerMetrics } from './metrics.ts';
import type { AnnotationPatch, NodeExtras, NodeWriter } from './node-writer.ts';
import type { ReconcilerSettings } from './settings.ts';
import { bootToLeave, cleanupPatch, cordonPatch, type Step, withPreferNoSchedule } from './step.ts';

type StepOf<K extends Step['kind']> = Extract<Step, { kind: K }>;

/** How many of the writes the passes queue run at once (jobs.ts); lock writes still go one at a time. */
export const STEP_PARALLELISM = 16;

export class Actions {
  constructor(
    private readonly lock: ClusterLock,
    private readonly writer: NodeWriter,
    private readonly drains: Drains,
    private readonly events: EventSink,
    private readonly metrics: ControllerMetrics,
    private readonly settings: ReconcilerSettings,
    private readonly log: Logger,
    private readonly now: () => number,
  ) {}

  /**
   * Performs one step. `firing` is the alerts firing when it was decided (an approval records them, to spot new
   * ones after the reboot); a queued step holds only that, not the pass it was decided in.
   */
  async perform(step: Step, n: NodeView, firing: readonly string[], term: AbortSignal): Promise<void> {
    switch (step.kind) {
      case 'wait':
        return;
      case 'cordon':
        return this.cordon(n, term);
      case 'drain':
        return this.drain(n, term);
      case 'approve':
        return this.approveDrained(n, step.bootId, firing, term);
      case 'drain-timeout':
        return this.drainTimeout(n, step, firing, term);
      case 'advance':
        return this.advance(n, step, term);
      case 'timeout':
        return this.haltOnTimeout(n, step, term);
      case 'finish':
        return this.finish(n, term);
      case 'abort':
        return this.abort(n, step, term);
      case 'release':
        await this.lock.remove((e) => e.node === n.name, term);
        this.logFor(n).info({ reason: 'released' }, step.why);
        return;
    }
  }

  /**
   * Takes lock entries for the nodes the planner started, in one compare-and-swap (all or none: a conflict means
   * someone changed the lock, and the next pass re-plans). Their cordons follow, each a step of its own node.
   */
  async take(nodes: NodeView[], term: AbortSignal): Promise<void> {
    if (nodes.length === 0) return;
    await this.lock.add(
      nodes.map((n) => ({ node: n.name, uid: n.uid })),
      term,
    );
    for (const n of nodes) this.logFor(n).info({ reason: 'planned' }, 'took a lock entry; starting');
  }

  /** The phase annotations for a move to `to` (null: out of any phase); observes the time spent in the old one. */
  phaseChange(n: NodeView, to: Phase | null): AnnotationPatch {
    if (n.phase && n.phaseSince !== undefined) {
      this.metrics.phaseDuration.observe({ phase: n.phase }, (this.now() - n.phaseSince) / 1000);
    }
    return {
      [Annotations.phase]: to,
      [Annotations.phaseSince]: to ? new Date(this.now()).toISOString() : null,
    };
  }

  private logFor(n: NodeView) {
    return this.log.child({ node: n.name, phase: n.phase ?? 'start' });
  }

  private async cordon(n: NodeView, term: AbortSignal): Promise<void> {
    this.phaseChange(n, 'cordoned');
    const adopted = this.lock.entryOf(n.name)?.adopted;
    const was = adopted ? adopted.wasUnschedulable : n.unschedulable;
    const patch = cordonPatch(n, this.now(), was);
    const key = this.settings.preferNoScheduleTaint;
    await this.writer.patch(n, patch.annotations, patch.unschedulable, term, {
      labels: this.settings.preRebootLabels,
      ...(key ? { taints: withPreferNoSchedule(n, key, true) } : {}),
    });
    this.logFor(n).info({ reason: was ? 'already-cordoned' : 'cordon' }, 'cordoned');
    const note = adopted
      ? `taken over from ${adopted.from} for its reboot${was ? '; it was unschedulable before, and stays so' : ''}`
      : was
        ? 'node was already unschedulable; kreboot will leave it so'
        : 'cordoned for a reboot';
    this.events.emit(n, 'Normal', 'Cordoned', note);
  }

  private async drain(n: NodeView, term: AbortSignal): Promise<void> {
    if (n.phase === 'cordoned') {
      await this.writer.patch(n, this.phaseChange(n, 'draining'), undefined, term);
      this.events.emit(n, 'Normal', 'Draining', 'evicting pods');
    }
    this.drains.ensure(n.name, term);
  }

  /** Approval: the boot the agent must leave, and the alerts firing now (to spot new ones after the reboot). */
  private async approve(
    n: NodeView,
    bootId: string,
    firing: readonly string[],
    term: AbortSignal,
  ): Promise<void> {
    await this.writer.patch(
      n,
      {
        ...this.phaseChange(n, 'approved'),
        [Annotations.approvedBootId]: bootId,
        [Annotations.alertsBefore]: JSON.stringify(firing.slice(0, 50)),
      },
      undefined,
      term,
    );
  }

  private async approveDrained(
    n: NodeView,
    bootId: string,
    firing: readonly string[],
    term: AbortSignal,
  ): Promise<void> {
    this.drains.stop(n.name);
    if (!this.lock.entryOf(n.name)) return;
    await this.approve(n, bootId, firing, term);
    this.logFor(n).info({ reason: 'drained', bootId }, 'drained; reboot approved');
    this.events.emit(n, 'Normal', 'RebootApproved', `drained; the agent may reboot out of boot ${bootId}`);
  }

  private async drainTimeout(
    n: NodeView,
    step: StepOf<'drain-timeout'>,
    firing: readonly string[],
    term: AbortSignal,
  ): Promise<void> {
    const blockedBy = this.drains.blockedBy(n.name);
    this.drains.stop(n.name);
    const why = `drain did not finish within ${this.settings.drainTimeoutMs / 1000}s${blockedBy ? `: ${blockedBy}` : ''}`;
    const log = this.logFor(n);
    if (step.policy === 'force') {
      const deleted = await this.drains.forceDelete(n.name, term);
      log.error(
        { reason: 'drain-forced', deleted },
        `${why}; FORCE policy: deleted ${deleted.length} pod(s) and rebooting anyway`,
      );
      const note = `${why}; --drain-timeout-policy=force deleted: ${deleted.join(', ') || 'nothing left'}`;
      this.events.emit(n, 'Warning', 'DrainForced', note);
      const boot = bootToLeave(n);
      if (!boot) return;
      await this.approve(n, boot, firing, term);
      this.events.emit(
        n,
        'Normal',
        'RebootApproved',
        `force-drained; the agent may reboot out of boot ${boot}`,
      );
      return;
    }
    log.warn({ reason: 'drain-timeout' }, `${why}; abort policy: uncordoning and trying later`);
    const retry = this.settings.retryAfterFailureMs / 1000;
    this.events.emit(
      n,
      'Warning',
      'DrainTimeout',
      `${why}; rollout of this node aborted, retried after ${retry}s`,
    );
    this.metrics.reboots.inc({ result: 'drain-aborted' });
    await this.lock.markFinishing(n.name, term);
    await this.cleanup(
      n,
      {
        [Annotations.lastFailureAt]: new Date(this.now()).toISOString(),
        [Annotations.lastFailure]: why.slice(0, 250),
      },
      term,
    );
    n.lastFailureAt = this.now();
    n.lastFailure = why;
    await this.releaseNow(n, term);
  }

  private async advance(n: NodeView, step: StepOf<'advance'>, term: AbortSignal): Promise<void> {
    await this.writer.patch(n, this.phaseChange(n, step.to), undefined, term);
    this.logFor(n).info({ reason: step.to }, step.why);
    this.events.emit(n, 'Normal', step.to === 'rebooting' ? 'Rebooting' : 'RebootObserved', step.why);
  }

  private async haltOnTimeout(n: NodeView, step: StepOf<'timeout'>, term: AbortSignal): Promise<void> {
    const reason = `node ${n.name}: ${step.why}`;
    if (this.lock.state.halted === reason) return;
    this.logFor(n).error(
      { reason: 'reboot-timeout' },
      `${step.why}; halting the rollout: nothing new starts until a person clears it`,
    );
    await this.lock.halt(reason, term);
    await this.writer.setFailed(n, 'True', 'RebootTimedOut', `${step.why}; rollout halted`, term);
    const note = `${step.why}; no other node will start until ${Annotations.halted} is removed from lease ${Leases.lock}`;
    this.events.emit(n, 'Warning', 'RolloutHalted', note);
    this.metrics.reboots.inc({ result: 'timeout' });
  }

  private async finish(n: NodeView, term: AbortSignal): Promise<void> {
    if (!this.lock.entryOf(n.name)?.finishing) await this.lock.markFinishing(n.name, term);
    const rebooted = n.phase === 'verifying';
    const key = this.settings.preferNoScheduleTaint;
    await this.cleanup(
      n,
      rebooted ? { [Annotations.lastReboot]: this.lastReboot(n) } : {},
      term,
      rebooted
        ? {
            labels: this.settings.postRebootLabels,
            ...(key ? { taints: withPreferNoSchedule(n, key, false) } : {}),
          }
        : {},
    );
    if (rebooted) {
      this.metrics.reboots.inc({ result: 'success' });
      this.logFor(n).info(
        { reason: 'rebooted', bootId: n.bootId },
        n.wasUnschedulable ? 'rebooted; left cordoned as found' : 'rebooted and uncordoned',
      );
      const note = n.wasUnschedulable
        ? `rebooted into boot ${n.bootId}; left unschedulable as it was found`
        : `rebooted into boot ${n.bootId}; uncordoned`;
      this.events.emit(n, 'Normal', 'Rebooted', note);
      if (this.lock.state.halted?.startsWith(`node ${n.name}:`))
        await this.writer.setFailed(n, 'False', 'RebootCompleted', 'the node came back', term);
    }
    await this.releaseNow(n, term);
  }

  /** The record kept on the node after release: its history, for `kreboot plan --timeline`'s estimates. */
  private lastReboot(n: NodeView): string {
    const now = this.now();
    const since = Date.parse(this.lock.entryOf(n.name)?.since ?? '');
    const started = Number.isNaN(since) ? undefined : since;
    return encodeLastReboot({
      started,
      finished: now,
      fromBootId: n.approvedBootId ?? n.rebootingFromBootId,
      toBootId: n.bootId,
    });
  }

  private async abort(n: NodeView, step: StepOf<'abort'>, term: AbortSignal): Promise<void> {
    this.drains.stop(n.name);
    this.logFor(n).warn(
      { reason: 'aborted' },
      `${step.why}; uncordoning if kreboot cordoned it and releasing`,
    );
    this.events.emit(
      n,
      'Normal',
      'RebootAborted',
      `${step.why}; rollout of this node stopped before its reboot`,
    );
    this.metrics.reboots.inc({ result: 'aborted' });
    await this.lock.markFinishing(n.name, term);
    await this.cleanup(n, {}, term);
    await this.releaseNow(n, term);
  }

  /** Removes kreboot's controller keys; uncordons only if kreboot was the one that cordoned. */
  private async cleanup(
    n: NodeView,
    extra: AnnotationPatch,
    term: AbortSignal,
    extras: NodeExtras = {},
  ): Promise<void> {
    this.phaseChange(n, null);
    const patch = cleanupPatch(n, extra);
    await this.writer.patch(n, patch.annotations, patch.unschedulable, term, extras);
  }

  /**
   * The cleanup patch succeeded (a compare-and-swap on the node), so the entry can go in this same pass; the
   * local view is updated to match, so the planner can hand the slot to the next node without waiting for the
   * watch to echo our own write. A crash before this line leaves `finishing` for the next leader.
   */
  private async releaseNow(n: NodeView, term: AbortSignal): Promise<void> {
    await this.lock.remove((e) => e.node === n.name, term);
    if (!n.wasUnschedulable) n.unschedulable = false;
    n.phase = undefined;
    n.phaseSince = undefined;
    n.approvedBootId = undefined;
    n.wasUnschedulable = false;
  }
}
