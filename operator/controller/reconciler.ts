// The controller's reconcile loop: observe (node and pod caches, the lock), decide (plan.ts, step.ts: pure),
// act (one step per node, each idempotent), repeat on every change. It acts only while it leads: every call
// carries the term's signal, so losing the lease aborts what is in flight.
import type { Logger } from 'pino';
import type { AlertGate } from '../alerts/gate.ts';
import type { AlertVerdict } from '../alerts/model.ts';
import type { KubeHttp } from '../kube/http.ts';
import { type Obj, Reflector } from '../kube/reflector.ts';
import { fromObject, matches, parseSelector, type Requirement } from '../kube/selector.ts';
import type { NodeLite } from '../kube/types.ts';
import {
  Annotations,
  ControllerConditions,
  MaintenanceWindowResource,
  type Phase,
  Phases,
  WaitReasons,
} from '../protocol.ts';
import { sleep } from '../util/sleep.ts';
import {
  desiredStatus,
  type EvaluatedWindow,
  sameStatus,
  WindowEvaluator,
  WindowIndex,
  type WindowObject,
  type WindowPolicy,
  windowBudgets,
  windowGate,
} from '../windows/evaluate.ts';
import { Drainer } from './drain.ts';
import { classifyPod, type DrainPolicy, type PodLike, podName } from './drain-filters.ts';
import type { EventSink } from './events.ts';
import { isConflict, type Lease, LeaseClient } from './lease.ts';
import { ClusterLock, type LockEntry, type LockState } from './lock.ts';
import type { ControllerMetrics } from './metrics.ts';
import { type NodeView, needsReboot, viewOf } from './model.ts';
import { budgetsFor, type Gates, isInFlight, type Plan, plan } from './plan.ts';
import { bootToLeave, cleanupPatch, cordonPatch, nextStep, type Step, type StepConfig } from './step.ts';

export interface ReconcilerSettings extends StepConfig {
  concurrency: number | string;
  zoneConcurrency?: number | string;
  drain: DrainPolicy;
  blockingPodSelectors: string[];
  retryAfterFailureMs: number;
  resyncMs: number;
  /** Only nodes matching this label selector are managed (and counted); empty = all nodes. */
  nodeSelector: string;
  windows: WindowPolicy;
}

/** Gates that other parts plug in (MaintenanceWindow, alerts); the defaults let everything through. */
export interface ExternalGates {
  /** Prometheus/Alertmanager/PromQL gates, asked at most every alertPollMs. */
  alertGate?: AlertGate;
  alertPollMs?: number;
  window?: (n: NodeView, now: number) => string | undefined;
  alert?: (n: NodeView) => string | undefined;
  /** After a reboot, before releasing the node: undefined when clear. */
  postReboot?: (n: NodeView) => string | undefined;
}

interface PdbLike {
  metadata?: { name?: string; namespace?: string };
  spec?: { selector?: Parameters<typeof fromObject>[0] };
  status?: { disruptionsAllowed?: number };
}

interface DrainTask {
  ctl: AbortController;
  done: boolean;
  blockedBy?: string;
}

const WINDOWS_PATH = `/apis/${MaintenanceWindowResource.group}/${MaintenanceWindowResource.version}/${MaintenanceWindowResource.plural}`;

export class Reconciler {
  readonly nodes: Reflector<NodeLite & { metadata: { uid?: string } }>;
  readonly pods: Reflector<PodLike & { metadata: { name?: string } }>;
  readonly windows: Reflector<WindowObject & Obj>;
  private readonly invalidReported = new Set<string>();
  private readonly windowEvaluator = new WindowEvaluator();
  private readonly lock: ClusterLock;
  private readonly drainer: Drainer;
  private readonly drains = new Map<string, DrainTask>();
  private readonly blocking: Requirement[][];
  private wake: (() => void) | undefined;
  private pending = false;
  /** The last plan, for logs and the status view. */
  lastPlan: Plan | undefined;

  constructor(
    private readonly http: KubeHttp,
    namespace: string,
    identity: string,
    private readonly settings: ReconcilerSettings,
    private readonly log: Logger,
    private readonly metrics: ControllerMetrics,
    private readonly events: EventSink,
    private readonly gates: ExternalGates = {},
    private readonly now: () => number = Date.now,
  ) {
    const kick = () => this.kick();
    const onError = (err: Error) =>
      log.warn({ reason: 'watch-error', err: err.message }, 'cache watch failed; retrying');
    this.nodes = new Reflector(http, '/api/v1/nodes', kick, {
      onError,
      query: settings.nodeSelector ? { labelSelector: settings.nodeSelector } : undefined,
    });
    this.pods = new Reflector(http, '/api/v1/pods', kick, { onError });
    this.windows = new Reflector(http, WINDOWS_PATH, kick, {
      onError,
      optional: true,
      query: settings.windows.selector ? { labelSelector: settings.windows.selector } : undefined,
    });
    this.lock = new ClusterLock(new LeaseClient(http, namespace), identity);
    this.drainer = new Drainer(http, settings.drain, log);
    this.blocking = settings.blockingPodSelectors.map(parseSelector);
  }

  /** Starts the caches; they run for the life of the process, leader or not, so a new leader acts at once. */
  startCaches(signal: AbortSignal): Promise<void> {
    void this.nodes.run(signal);
    void this.pods.run(signal);
    void this.windows.run(signal);
    return Promise.all([this.nodes.waitForSync(), this.pods.waitForSync(), this.windows.waitForSync()]).then(
      () => {},
    );
  }

  kick(): void {
    this.pending = true;
    this.wake?.();
  }

  /** Reconciles until the term ends (leadership lost or shutdown). */
  async run(term: AbortSignal): Promise<void> {
    this.kick();
    while (!term.aborted) {
      if (!this.pending) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, this.nextWakeMs());
          this.wake = () => {
            clearTimeout(t);
            resolve();
          };
          term.addEventListener(
            'abort',
            () => {
              clearTimeout(t);
              resolve();
            },
            { once: true },
          );
        });
        this.wake = undefined;
      }
      if (term.aborted) break;
      this.pending = false;
      try {
        await this.reconcileOnce(term);
      } catch (err) {
        if (term.aborted) break;
        const e = err as Error;
        if (isConflict(e)) {
          this.log.debug({ reason: 'conflict', err: e.message }, 'state changed under us; re-planning');
        } else {
          this.log.warn({ reason: 'reconcile-failed', err: e.message }, 'reconcile failed; retrying');
          await sleep(1000, term);
        }
        this.pending = true;
      }
    }
    for (const d of this.drains.values()) d.ctl.abort();
    this.drains.clear();
  }

  private nextWake = Number.POSITIVE_INFINITY;
  private currentAlerts: AlertVerdict | undefined;
  private nextWakeMs(): number {
    const until = this.nextWake - this.now();
    return Math.max(
      50,
      Math.min(this.settings.resyncMs, Number.isFinite(until) ? until : this.settings.resyncMs),
    );
  }

  private alertCache: { at: number; v: AlertVerdict } | undefined;
  private lastAlertBlock: string | undefined;

  /** The alert verdict, asked of the sources at most every alertPollMs; open when no source is configured. */
  private async alerts(views: NodeView[], now: number, term: AbortSignal): Promise<AlertVerdict> {
    const g = this.gates.alertGate;
    if (!g?.enabled) return { perNode: new Map(), firing: [] };
    const poll = this.gates.alertPollMs ?? 10_000;
    if (!this.alertCache || now - this.alertCache.at >= poll) {
      const v = await g.evaluate(new Set(views.map((n) => n.name)), term);
      this.alertCache = { at: now, v };
      if (v.all !== this.lastAlertBlock) {
        this.lastAlertBlock = v.all;
        this.log.info(
          { reason: v.all ? 'alert-gate-blocked' : 'alert-gate-clear' },
          v.all ?? 'alert gates clear',
        );
      }
    }
    this.nextWake = Math.min(this.nextWake, this.alertCache.at + poll + 10);
    return this.alertCache.v;
  }

  // --- one pass --------------------------------------------------------------------------------------

  async reconcileOnce(term: AbortSignal): Promise<void> {
    const now = this.now();
    let { lease, state } = await this.lock.read(term);
    const views = this.nodes.list().map(viewOf);
    const byName = new Map(views.map((v) => [v.name, v]));
    this.nextWake = Number.POSITIVE_INFINITY;

    // Entries whose Node is gone (or was replaced by a new object of the same name) are released.
    const stale = state.entries.filter((e) => byName.get(e.node)?.uid !== e.uid || !byName.has(e.node));
    if (stale.length && !state.corrupt) {
      ({ lease, state } = await this.lock.update(
        lease,
        (s) => ({
          ...s,
          entries: s.entries.filter((e) => !stale.some((x) => x.node === e.node && x.uid === e.uid)),
        }),
        term,
      ));
      for (const e of stale) {
        this.drains.get(e.node)?.ctl.abort();
        this.drains.delete(e.node);
        this.log.warn({ node: e.node, reason: 'node-deleted' }, 'released the lock entry of a deleted node');
      }
    }

    const alerts = await this.alerts(views, now, term);
    this.currentAlerts = alerts;

    // In-flight nodes: one step each.
    const entries = new Map(state.entries.map((e) => [e.node, e]));
    for (const n of views) {
      const entry = entries.get(n.name);
      if (!entry && n.phase === undefined) continue;
      if (term.aborted) return;
      if (!entry) {
        // A phase without a lock entry (the lock object was edited or recreated): take the entry back first.
        if (state.corrupt) continue;
        ({ lease, state } = await this.lock.update(
          lease,
          (s) => ({ ...s, entries: [...s.entries, this.lock.entry(n.name, n.uid)] }),
          term,
        ));
        this.log.warn(
          { node: n.name, phase: n.phase, reason: 'lock-entry-restored' },
          'node in progress had no lock entry; restored it',
        );
        continue;
      }
      const step = nextStep(
        {
          node: n,
          finishing: entry.finishing === true,
          drained: this.drains.get(n.name)?.done === true,
          postGatesClear:
            this.gates.postReboot?.(n) === undefined && !alerts.all && !alerts.perNode.has(n.name),
          newAlerts: alerts.firing.filter((k) => !n.alertsBefore.includes(k)),
          now,
        },
        this.settings,
      );
      ({ lease, state } = await this.perform(step, n, entry, lease, state, term));
      this.scheduleTimeout(n);
    }

    // New starts.
    const locked = new Set(state.entries.map((e) => e.node));
    const windowObjs = this.windows.list();
    const evaluated = this.windowEvaluator.evaluate(windowObjs, now);
    const index = new WindowIndex(evaluated);
    const gates = await this.gateFunctions(views, locked, now);
    gates.window = windowGate(index, this.settings.windows, now);
    for (const w of evaluated) {
      if (w.current)
        this.nextWake = Math.min(
          this.nextWake,
          w.current.end - this.settings.windows.endMarginMs + 10,
          w.current.end + 10,
        );
      if (w.next) this.nextWake = Math.min(this.nextWake, w.next.start + 10);
      if (w.exclusion) this.nextWake = Math.min(this.nextWake, w.exclusion.end + 10);
    }
    const p = plan({
      nodes: views,
      locked,
      budgets: [
        ...budgetsFor(views, this.settings.concurrency, this.settings.zoneConcurrency),
        ...windowBudgets(index, views),
      ],
      gates,
      now,
      paused: state.paused ?? state.corrupt,
      halted: state.halted,
      retryAfterFailureMs: this.settings.retryAfterFailureMs,
    });
    this.lastPlan = p;
    for (const w of p.waiting) {
      const v = byName.get(w.node);
      if (w.reason === 'retry-later' && v?.lastFailureAt !== undefined) {
        this.nextWake = Math.min(this.nextWake, v.lastFailureAt + this.settings.retryAfterFailureMs);
      }
    }
    for (const name of p.start) {
      if (term.aborted) return;
      const n = byName.get(name)!;
      ({ lease, state } = await this.lock.update(
        lease,
        (s) => ({ ...s, entries: [...s.entries, this.lock.entry(n.name, n.uid)] }),
        term,
      ));
      this.log.info({ node: n.name, phase: 'start', reason: 'planned' }, 'took a lock entry; starting');
      const entry = state.entries.find((e) => e.node === n.name)!;
      ({ lease, state } = await this.perform({ kind: 'cordon' }, n, entry, lease, state, term));
    }
    this.updateMetrics(views, state, p, now);
    this.reportWaits(views, p);
    await this.writeWindowStatus(
      windowObjs,
      evaluated,
      index,
      views,
      new Set(state.entries.map((e) => e.node)),
      now,
      term,
    );
  }

  /** Status written by the leader only, and only when it changed (no write storms). */
  private async writeWindowStatus(
    objs: WindowObject[],
    evaluated: EvaluatedWindow[],
    index: WindowIndex,
    views: NodeView[],
    locked: ReadonlySet<string>,
    now: number,
    term: AbortSignal,
  ): Promise<void> {
    for (const [i, obj] of objs.entries()) {
      const w = evaluated[i]!;
      if (!w.valid && !this.invalidReported.has(`${w.name}/${w.generation}`)) {
        this.invalidReported.add(`${w.name}/${w.generation}`);
        this.log.warn(
          { window: w.name, reason: 'invalid-window', err: w.invalidReason },
          'MaintenanceWindow is invalid; its nodes are blocked',
        );
        this.events.emitFor(
          {
            apiVersion: `${MaintenanceWindowResource.group}/${MaintenanceWindowResource.version}`,
            kind: 'MaintenanceWindow',
            name: w.name,
            uid: w.uid ?? '',
          },
          'Warning',
          'InvalidWindow',
          `${w.invalidReason}; the nodes it selects will not be rebooted until it is fixed`,
        );
      }
      const status = desiredStatus(obj, w, index, views, locked, now);
      if (sameStatus(obj.status, status)) continue;
      try {
        await this.http.request(`${WINDOWS_PATH}/${w.name}/status`, {
          method: 'PATCH',
          contentType: 'application/merge-patch+json',
          // Replacing whole fields: a merge patch with the full status object.
          body: {
            status: {
              ...status,
              currentWindow: status.currentWindow ?? null,
              nextWindow: status.nextWindow ?? null,
            },
          },
          signal: term,
          timeoutMs: 15_000,
        });
      } catch (err) {
        if (!term.aborted)
          this.log.warn(
            { window: w.name, reason: 'status-failed', err: (err as Error).message },
            'could not write window status',
          );
      }
    }
  }

  private scheduleTimeout(n: NodeView): void {
    if (n.phaseSince === undefined) return;
    const s = this.settings;
    const limit =
      n.phase === 'draining'
        ? s.drainTimeoutMs
        : n.phase === 'verifying'
          ? s.rebootTimeoutMs + s.soakMs
          : s.rebootTimeoutMs;
    const soakEnd = n.phase === 'verifying' ? n.phaseSince + s.soakMs : Number.POSITIVE_INFINITY;
    const hold = s.minPhaseMs ? n.phaseSince + s.minPhaseMs : Number.POSITIVE_INFINITY;
    this.nextWake = Math.min(this.nextWake, n.phaseSince + limit + 10, soakEnd + 10, hold + 10);
  }

  private async gateFunctions(views: NodeView[], locked: Set<string>, now: number): Promise<Gates> {
    const candidates = views.filter((n) => !isInFlight(n, locked) && needsReboot(n));
    let pdbs: PdbLike[] = [];
    if (candidates.length) {
      pdbs = (
        await this.http.request<{ items: PdbLike[] }>('/apis/policy/v1/poddisruptionbudgets', {
          timeoutMs: 30_000,
        })
      ).items.filter((b) => (b.status?.disruptionsAllowed ?? 0) <= 0);
    }
    const podsByNode = new Map<string, PodLike[]>();
    for (const p of this.pods.list()) {
      const node = p.spec?.nodeName;
      if (!node) continue;
      if (!podsByNode.has(node)) podsByNode.set(node, []);
      podsByNode.get(node)!.push(p);
    }
    return {
      window: (n) => this.gates.window?.(n, now),
      alert: (n) =>
        this.gates.alert?.(n) ?? this.currentAlerts?.perNode.get(n.name) ?? this.currentAlerts?.all,
      blockingPod: (n) => {
        if (!this.blocking.length) return undefined;
        const hit = (podsByNode.get(n.name) ?? []).find(
          (p) =>
            p.status?.phase !== 'Succeeded' &&
            p.status?.phase !== 'Failed' &&
            this.blocking.some((sel) => matches(sel, p.metadata?.labels)),
        );
        return hit ? `blocking pod ${podName(hit)} is on the node` : undefined;
      },
      pdb: (n) => {
        for (const p of podsByNode.get(n.name) ?? []) {
          if (classifyPod(p, this.settings.drain).action !== 'evict') continue;
          const b = pdbs.find(
            (b) =>
              b.metadata?.namespace === p.metadata?.namespace &&
              matches(fromObject(b.spec?.selector), p.metadata?.labels),
          );
          if (b)
            return `PodDisruptionBudget ${b.metadata?.namespace}/${b.metadata?.name} allows no disruption now (pod ${podName(p)})`;
        }
        return undefined;
      },
    };
  }

  // --- steps ------------------------------------------------------------------------------------------

  private async patchNode(
    n: NodeView,
    annotations: Record<string, string | null>,
    unschedulable: boolean | undefined,
    term: AbortSignal,
  ): Promise<void> {
    const rv = this.nodes.get(n.name)?.metadata.resourceVersion;
    const body: Record<string, unknown> = { metadata: { resourceVersion: rv, annotations } };
    if (unschedulable !== undefined) body.spec = { unschedulable };
    // The resourceVersion makes this a compare-and-swap: a node changed since we looked is re-planned, not overwritten.
    await this.http.request(`/api/v1/nodes/${n.name}`, {
      method: 'PATCH',
      contentType: 'application/merge-patch+json',
      body,
      signal: term,
      timeoutMs: 15_000,
    });
  }

  private phaseChange(n: NodeView, to: Phase | null): Record<string, string | null> {
    if (n.phase && n.phaseSince !== undefined) {
      this.metrics.phaseDuration.observe({ phase: n.phase }, (this.now() - n.phaseSince) / 1000);
    }
    return {
      [Annotations.phase]: to,
      [Annotations.phaseSince]: to ? new Date(this.now()).toISOString() : null,
    };
  }

  private async perform(
    step: Step,
    n: NodeView,
    entry: LockEntry,
    lease: Lease,
    state: LockState,
    term: AbortSignal,
  ): Promise<{ lease: Lease; state: LockState }> {
    const log = this.log.child({ node: n.name, phase: n.phase ?? 'start' });
    const ev = (type: 'Normal' | 'Warning', reason: string, note: string) =>
      this.events.emit(n, type, reason, note);
    switch (step.kind) {
      case 'wait':
        return { lease, state };
      case 'cordon': {
        this.phaseChange(n, 'cordoned');
        const patch = cordonPatch(n, this.now());
        await this.patchNode(n, patch.annotations, patch.unschedulable, term);
        log.info({ reason: n.unschedulable ? 'already-cordoned' : 'cordon' }, 'cordoned');
        ev(
          'Normal',
          'Cordoned',
          n.unschedulable
            ? 'node was already unschedulable; kreboot will leave it so'
            : 'cordoned for a reboot',
        );
        return { lease, state };
      }
      case 'drain': {
        if (n.phase === 'cordoned') {
          await this.patchNode(n, this.phaseChange(n, 'draining'), undefined, term);
          ev('Normal', 'Draining', 'evicting pods');
        }
        if (!this.drains.has(n.name)) this.startDrain(n, term);
        return { lease, state };
      }
      case 'approve': {
        this.drains.delete(n.name);
        if (!state.entries.some((e) => e.node === n.name)) return { lease, state };
        await this.patchNode(
          n,
          {
            ...this.phaseChange(n, 'approved'),
            [Annotations.approvedBootId]: step.bootId,
            [Annotations.alertsBefore]: JSON.stringify(this.currentAlerts?.firing.slice(0, 50) ?? []),
          },
          undefined,
          term,
        );
        log.info({ reason: 'drained', bootId: step.bootId }, 'drained; reboot approved');
        ev('Normal', 'RebootApproved', `drained; the agent may reboot out of boot ${step.bootId}`);
        return { lease, state };
      }
      case 'drain-timeout': {
        const task = this.drains.get(n.name);
        task?.ctl.abort();
        this.drains.delete(n.name);
        const why = `drain did not finish within ${this.settings.drainTimeoutMs / 1000}s${task?.blockedBy ? `: ${task.blockedBy}` : ''}`;
        if (step.policy === 'force') {
          const deleted = await this.drainer.forceDelete(n.name, term);
          log.error(
            { reason: 'drain-forced', deleted },
            `${why}; FORCE policy: deleted ${deleted.length} pod(s) and rebooting anyway`,
          );
          ev(
            'Warning',
            'DrainForced',
            `${why}; --drain-timeout-policy=force deleted: ${deleted.join(', ') || 'nothing left'}`,
          );
          const boot = bootToLeave(n);
          if (!boot) return { lease, state };
          await this.patchNode(
            n,
            {
              ...this.phaseChange(n, 'approved'),
              [Annotations.approvedBootId]: boot,
              [Annotations.alertsBefore]: JSON.stringify(this.currentAlerts?.firing.slice(0, 50) ?? []),
            },
            undefined,
            term,
          );
          ev('Normal', 'RebootApproved', `force-drained; the agent may reboot out of boot ${boot}`);
          return { lease, state };
        }
        log.warn({ reason: 'drain-timeout' }, `${why}; abort policy: uncordoning and trying later`);
        ev(
          'Warning',
          'DrainTimeout',
          `${why}; rollout of this node aborted, retried after ${this.settings.retryAfterFailureMs / 1000}s`,
        );
        this.metrics.reboots.inc({ result: 'drain-aborted' });
        const marked = await this.markFinishing(n, lease, term);
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
        return this.releaseNow(n, marked.lease, term);
      }
      case 'advance': {
        await this.patchNode(n, this.phaseChange(n, step.to), undefined, term);
        log.info({ reason: step.to }, step.why);
        ev('Normal', step.to === 'rebooting' ? 'Rebooting' : 'RebootObserved', step.why);
        return { lease, state };
      }
      case 'timeout': {
        const reason = `node ${n.name}: ${step.why}`;
        if (state.halted === reason) return { lease, state };
        log.error(
          { reason: 'reboot-timeout' },
          `${step.why}; halting the rollout: nothing new starts until a person clears it`,
        );
        const next = await this.lock.update(lease, (s) => ({ ...s, halted: reason }), term);
        await this.setFailedCondition(n, 'True', 'RebootTimedOut', `${step.why}; rollout halted`, term);
        ev(
          'Warning',
          'RolloutHalted',
          `${step.why}; no other node will start until kreboot.io/halted is removed from lease ${'kreboot-lock'}`,
        );
        this.metrics.reboots.inc({ result: 'timeout' });
        return next;
      }
      case 'finish': {
        const marked = entry.finishing ? { lease, state } : await this.markFinishing(n, lease, term);
        await this.cleanup(n, {}, term);
        if (n.phase === 'verifying') {
          this.metrics.reboots.inc({ result: 'success' });
          log.info(
            { reason: 'rebooted', bootId: n.bootId },
            n.wasUnschedulable ? 'rebooted; left cordoned as found' : 'rebooted and uncordoned',
          );
          ev(
            'Normal',
            'Rebooted',
            n.wasUnschedulable
              ? `rebooted into boot ${n.bootId}; left unschedulable as it was found`
              : `rebooted into boot ${n.bootId}; uncordoned`,
          );
          if (state.halted?.startsWith(`node ${n.name}:`))
            await this.setFailedCondition(n, 'False', 'RebootCompleted', 'the node came back', term);
        }
        return this.releaseNow(n, marked.lease, term);
      }
      case 'release': {
        const next = await this.lock.update(
          lease,
          (s) => ({ ...s, entries: s.entries.filter((e) => e.node !== n.name) }),
          term,
        );
        log.info({ reason: 'released' }, step.why);
        return next;
      }
    }
  }

  /**
   * The cleanup patch succeeded (a compare-and-swap on the node), so the entry can go in this same pass; the
   * local view is updated to match, so the planner below can hand the slot to the next node without waiting
   * for the watch to echo our own write. A crash before this line leaves `finishing` for the next leader.
   */
  private async releaseNow(
    n: NodeView,
    lease: Lease,
    term: AbortSignal,
  ): Promise<{ lease: Lease; state: LockState }> {
    const next = await this.lock.update(
      lease,
      (s) => ({ ...s, entries: s.entries.filter((e) => e.node !== n.name) }),
      term,
    );
    if (!n.wasUnschedulable) n.unschedulable = false;
    n.phase = undefined;
    n.phaseSince = undefined;
    n.approvedBootId = undefined;
    n.wasUnschedulable = false;
    return next;
  }

  private markFinishing(n: NodeView, lease: Lease, term: AbortSignal) {
    return this.lock.update(
      lease,
      (s) => ({ ...s, entries: s.entries.map((e) => (e.node === n.name ? { ...e, finishing: true } : e)) }),
      term,
    );
  }

  /** Removes kreboot's controller keys; uncordons only if kreboot was the one that cordoned. */
  private async cleanup(n: NodeView, extra: Record<string, string | null>, term: AbortSignal): Promise<void> {
    this.phaseChange(n, null);
    const patch = cleanupPatch(n, extra);
    await this.patchNode(n, patch.annotations, patch.unschedulable, term);
  }

  private async setFailedCondition(
    n: NodeView,
    status: 'True' | 'False',
    reason: string,
    message: string,
    term: AbortSignal,
  ) {
    const now = new Date(this.now()).toISOString();
    await this.http
      .request(`/api/v1/nodes/${n.name}/status`, {
        method: 'PATCH',
        contentType: 'application/strategic-merge-patch+json',
        body: {
          status: {
            conditions: [
              {
                type: ControllerConditions.rebootFailed,
                status,
                reason,
                message,
                lastTransitionTime: now,
                lastHeartbeatTime: now,
              },
            ],
          },
        },
        signal: term,
        timeoutMs: 15_000,
      })
      .catch((err: Error) =>
        this.log.warn(
          { node: n.name, reason: 'condition-failed', err: err.message },
          'could not set condition',
        ),
      );
  }

  private startDrain(n: NodeView, term: AbortSignal): void {
    const ctl = new AbortController();
    const task: DrainTask = { ctl, done: false };
    this.drains.set(n.name, task);
    const signal = AbortSignal.any([term, ctl.signal]);
    this.drainer
      .drain(n.name, signal, (p) => {
        if (p.blockedBy !== task.blockedBy) {
          task.blockedBy = p.blockedBy;
          if (p.blockedBy) this.log.info({ node: n.name, phase: 'draining', reason: 'blocked' }, p.blockedBy);
        }
      })
      .then((ok) => {
        task.done = ok;
        if (ok) this.kick();
      })
      .catch((err: Error) => {
        if (signal.aborted) return;
        this.log.warn(
          { node: n.name, phase: 'draining', reason: 'drain-error', err: err.message },
          'drain pass failed; retrying',
        );
        if (this.drains.get(n.name) === task) this.drains.delete(n.name);
        this.kick();
      });
  }

  // --- why nodes wait ---------------------------------------------------------------------------------

  /** Each node's last reported wait reason: an Event goes out when it changes, not on every pass. */
  private readonly lastWait = new Map<string, string>();

  /**
   * `kubectl describe node` shows why a node that needs a reboot is not getting one (alert, window, PDB, blocking
   * pod, halted, …). Waiting for a budget slot is the normal state of a rollout and is left to the metric.
   */
  private reportWaits(views: NodeView[], p: Plan): void {
    const byName = new Map(views.map((v) => [v.name, v]));
    const waiting = new Set<string>();
    for (const w of p.waiting) {
      waiting.add(w.node);
      if (this.lastWait.get(w.node) === w.reason) continue;
      this.lastWait.set(w.node, w.reason);
      const n = byName.get(w.node);
      if (w.reason === 'budget' || !n) continue;
      this.events.emit(n, 'Normal', 'RebootWaiting', `reboot waits (${w.reason}): ${w.detail}`);
    }
    for (const name of [...this.lastWait.keys()]) if (!waiting.has(name)) this.lastWait.delete(name);
  }

  // --- metrics ----------------------------------------------------------------------------------------

  private updateMetrics(views: NodeView[], state: LockState, p: Plan, now: number): void {
    const m = this.metrics;
    const counts: Record<string, number> = { pending: 0 };
    for (const ph of Phases) counts[ph] = 0;
    let oldest = 0;
    const inFlight = new Set(p.inFlight);
    for (const n of views) {
      if (n.phase) counts[n.phase]!++;
      else if (!inFlight.has(n.name) && needsReboot(n)) {
        counts.pending!++;
        if (n.requiredSince !== undefined) oldest = Math.max(oldest, (now - n.requiredSince) / 1000);
      }
    }
    for (const [phase, c] of Object.entries(counts)) m.nodes.set({ phase }, c);
    for (const r of WaitReasons) m.blocked.set({ reason: r }, 0);
    for (const w of p.waiting) m.blocked.inc({ reason: w.reason });
    m.lockHolders.set(state.entries.length);
    m.oldestPending.set(oldest);
    // Only this replica's view while it leads; series of nodes that left their phase disappear.
    m.phaseAge.reset();
    for (const n of views) {
      if (n.phase && n.phaseSince !== undefined)
        m.phaseAge.set({ node: n.name, phase: n.phase }, (now - n.phaseSince) / 1000);
    }
    m.halted.set(state.halted ? 1 : 0);
  }
}
