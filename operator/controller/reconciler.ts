// The controller's reconcile loop: observe (node and pod caches, the lock), decide (plan.ts, step.ts: pure),
// act (one step per node, each idempotent), repeat on every change. It acts only while it leads: every call
// carries the term's signal, so losing the lease aborts what is in flight.
import type { Logger } from 'pino';
import type { AlertGate } from '../alerts/gate.ts';
import type { AlertVerdict } from '../alerts/model.ts';
import { AlertPoller, OPEN_VERDICT } from '../alerts/poller.ts';
import { type Budget, budgetsFor, isInFlight } from '../domain/budget.ts';
import {
  annotationPath,
  CONTROLLER_FIELD_MANAGER,
  describeWriter,
  type NodeLike,
  type NodeView,
  needsReboot,
  UNSCHEDULABLE_PATH,
  viewOf,
  writerOf,
} from '../domain/node.ts';
import { ApiError, type KubeHttp } from '../kube/http.ts';
import { type Obj, Reflector } from '../kube/reflector.ts';
import { fromObject, matches, parseSelector, type Requirement } from '../kube/selector.ts';
import type { NodeLite } from '../kube/types.ts';
import {
  Annotations,
  ControllerConditions,
  Leases,
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
import { type Gates, type Plan, plan } from './plan.ts';
import { bootToLeave, cleanupPatch, cordonPatch, nextStep, type Step, type StepConfig } from './step.ts';

/** Why the planner would not start a node now (a wait reason, or "not-needed"). */
interface Refusal {
  reason: string;
  detail: string;
}

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
  /** Prometheus/Alertmanager/PromQL gates, polled every alertPollMs off the reconcile path. */
  alertGate?: AlertGate;
  alertPollMs?: number;
  /** One polling round's hard deadline (default 5 s). */
  alertDeadlineMs?: number;
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
  private readonly poller: AlertPoller | undefined;
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
    this.poller = gates.alertGate
      ? new AlertPoller(
          gates.alertGate,
          { pollMs: gates.alertPollMs ?? 10_000, deadlineMs: gates.alertDeadlineMs ?? 5_000 },
          () => new Set(this.nodes.list().map((n) => n.metadata.name)),
          log,
          kick,
          now,
        )
      : undefined;
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
    // The alert sources are polled for this term only, on their own schedule (never awaited by a pass).
    void this.poller?.run(term);
    await this.poller?.first();
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
  private currentAlerts: AlertVerdict = OPEN_VERDICT;
  private nextWakeMs(): number {
    const until = this.nextWake - this.now();
    return Math.max(
      50,
      Math.min(this.settings.resyncMs, Number.isFinite(until) ? until : this.settings.resyncMs),
    );
  }

  /** Nodes with a lock entry that the cache does not show (outside --node-selector): fetched by a direct GET. */
  private readonly offCache = new Map<string, NodeLite & { metadata: { uid?: string } }>();
  /** Invalid time annotations already reported (node/key/value), so each gets one Warning Event. */
  private readonly invalidReportedTimes = new Set<string>();
  /** When this replica first saw a node's phase without a usable phase-since: the phase's age counts from here. */
  private readonly phaseFirstSeen = new Map<string, { phase: string; at: number }>();

  // --- one pass --------------------------------------------------------------------------------------
  //
  // Named steps, each idempotent: a crash between any two leaves state the next pass (or leader) repairs.

  async reconcileOnce(term: AbortSignal): Promise<void> {
    const now = this.now();
    let { lease, state } = await this.lock.read(term);
    this.nextWake = Number.POSITIVE_INFINITY;
    const views = this.nodes.list().map((n) => viewOf(n, now));

    // 1. Lock entries follow their Node object: an entry goes only when the API server says the Node is gone.
    ({ lease, state } = await this.releaseGoneEntries(views, lease, state, term));
    const byName = new Map(views.map((v) => [v.name, v]));

    // 2. Inputs that cannot be trusted are reported and neutralised (times, malformed phases, stray approvals).
    this.checkTimes(views, now);
    await this.repairForeignWrites(views, state, term);

    // 3. Gates for this pass, from caches only (alerts come from the poller: this pass never waits on them).
    const alerts = this.poller?.current(now) ?? OPEN_VERDICT;
    this.currentAlerts = alerts;
    const staleAt = this.poller?.enabled ? this.poller.staleAt() : undefined;
    if (staleAt !== undefined) this.nextWake = Math.min(this.nextWake, staleAt);
    const locked = () => new Set(state.entries.map((e) => e.node));
    const windowObjs = this.windows.list();
    const evaluated = this.windowEvaluator.evaluate(windowObjs, now);
    const index = new WindowIndex(evaluated);
    const gates = await this.gateFunctions(views, locked(), now);
    gates.window = windowGate(index, this.settings.windows, now);
    const budgets = (): Budget[] => [
      ...budgetsFor(views, this.settings.concurrency, this.settings.zoneConcurrency),
      ...windowBudgets(index, views),
    ];
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
    /** The planner on this pass's inputs (the lock as it is now); `only` asks about one node. */
    const planNow = (nodes: NodeView[], lockedNow: ReadonlySet<string>, only?: string) =>
      plan({
        nodes,
        locked: lockedNow,
        budgets: budgets(),
        gates,
        now,
        paused: state.paused ?? state.corrupt,
        halted: state.halted,
        retryAfterFailureMs: this.settings.retryAfterFailureMs,
        ...(only ? { only } : {}),
      });
    /** Would the planner start this node now, all else as it is? undefined = yes, else why not. */
    const refusal = (n: NodeView): Refusal | undefined => {
      const others = locked();
      others.delete(n.name);
      const p = planNow(
        views.map((v) => (v.name === n.name ? { ...v, phase: undefined } : v)),
        others,
        n.name,
      );
      if (p.start.includes(n.name)) return undefined;
      return (
        p.waiting.find((w) => w.node === n.name) ?? {
          reason: 'not-needed',
          detail: `the node does not need a reboot (RebootRequired=${n.required ?? 'unreported'})`,
        }
      );
    };

    // 4. In-flight nodes: one step each. A phase or entry kreboot did not write is adopted only as a repair.
    const entries = new Map(state.entries.map((e) => [e.node, e]));
    for (const n of views) {
      const entry = entries.get(n.name);
      if (!entry && n.phase === undefined) continue;
      if (term.aborted) return;
      if (!entry) {
        if (state.corrupt) continue;
        ({ lease, state } = await this.adoptOrRefusePhase(n, refusal(n), lease, state, term));
        continue;
      }
      if (n.phase === undefined && !entry.finishing && n.required === 'True' && !n.excluded) {
        // An entry without a phase: a start whose cordon did not happen (a crash), or a lock edited by hand.
        // Cordon only if the planner would start the node now; otherwise give the slot back.
        const why = refusal(n);
        if (why) {
          ({ lease, state } = await this.perform(
            { kind: 'release', why: `lock entry without a started rollout, not resumed: ${why.detail}` },
            n,
            entry,
            lease,
            state,
            term,
          ));
          continue;
        }
      }
      const step = nextStep(
        {
          node: n,
          finishing: entry.finishing === true,
          drained: this.drains.get(n.name)?.done === true,
          // Only real alerts hold a rebooted node: an unreachable source blocks new starts, not this finish.
          postGatesClear:
            this.gates.postReboot?.(n) === undefined && !alerts.alerting && !alerts.perNode.has(n.name),
          newAlerts: alerts.firing.filter((k) => !n.alertsBefore.includes(k)),
          now,
        },
        this.settings,
      );
      ({ lease, state } = await this.perform(step, n, entry, lease, state, term));
      this.scheduleTimeout(n);
    }

    // 5. New starts.
    const p = planNow(views, locked());
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

    // 6. Report: metrics, wait reasons, window status.
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

  /**
   * Entries whose Node the cache does not show as the same object are checked with a direct GET: only a 404 or
   * another uid releases them. A node that left --node-selector mid-reboot keeps its entry, is added to `views`
   * (so it is stepped and counted in the budget) and is finished like any other.
   */
  private async releaseGoneEntries(
    views: NodeView[],
    lease: Lease,
    state: LockState,
    term: AbortSignal,
  ): Promise<{ lease: Lease; state: LockState }> {
    const inCache = new Map(views.map((v) => [v.name, v]));
    const gone: LockEntry[] = [];
    const seen = new Set<string>();
    for (const e of state.entries) {
      if (inCache.get(e.node)?.uid === e.uid) continue;
      let live: (NodeLite & { metadata: { uid?: string } }) | undefined;
      try {
        live = await this.http.request(`/api/v1/nodes/${encodeURIComponent(e.node)}`, {
          signal: term,
          timeoutMs: 15_000,
        });
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 404)) throw err;
      }
      if (!live || live.metadata.uid !== e.uid) {
        gone.push(e);
        continue;
      }
      seen.add(e.node);
      if (!inCache.has(e.node)) {
        this.offCache.set(e.node, live);
        views.push(viewOf(live, this.now()));
        this.log.info(
          { node: e.node, phase: live.metadata.annotations?.[Annotations.phase], reason: 'outside-selector' },
          'node with a lock entry is outside --node-selector; finishing it anyway',
        );
      }
    }
    for (const name of this.offCache.keys()) if (!seen.has(name)) this.offCache.delete(name);
    if (!gone.length || state.corrupt) return { lease, state };
    const next = await this.lock.update(
      lease,
      (s) => ({
        ...s,
        entries: s.entries.filter((e) => !gone.some((x) => x.node === e.node && x.uid === e.uid)),
      }),
      term,
    );
    for (const e of gone) {
      this.drains.get(e.node)?.ctl.abort();
      this.drains.delete(e.node);
      this.log.warn(
        { node: e.node, reason: 'node-deleted' },
        'released the lock entry of a deleted (or replaced) node',
      );
    }
    return next;
  }

  /** Time annotations must be RFC 3339 and not in the future; a bad one is reported once and counts as absent. */
  private checkTimes(views: NodeView[], now: number): void {
    const live = new Set<string>();
    for (const n of views) {
      for (const [key, why] of Object.entries(n.invalidTimes ?? {})) {
        const id = `${n.name}/${key}/${why}`;
        live.add(id);
        if (this.invalidReportedTimes.has(id)) continue;
        this.invalidReportedTimes.add(id);
        this.log.warn({ node: n.name, phase: n.phase, reason: 'invalid-time', key }, `${key}: ${why}`);
        this.events.emit(
          n,
          'Warning',
          'InvalidAnnotation',
          `${key}: ${why}; write an RFC 3339 time no later than now (e.g. ${new Date(now).toISOString()}). Ignored; ${key === Annotations.phaseSince ? 'the phase timeout counts from when the controller first saw it' : 'treated as absent'}`,
        );
      }
      // A phase without a usable phase-since would never time out: its age counts from when we first saw it.
      if (n.phase !== undefined && n.phaseSince === undefined) {
        const seen = this.phaseFirstSeen.get(n.name);
        if (seen?.phase === n.phase) n.phaseSince = seen.at;
        else {
          this.phaseFirstSeen.set(n.name, { phase: n.phase, at: now });
          n.phaseSince = now;
        }
      } else this.phaseFirstSeen.delete(n.name);
    }
    for (const id of this.invalidReportedTimes) if (!live.has(id)) this.invalidReportedTimes.delete(id);
  }

  /**
   * Keys only the controller writes, written by someone else: a phase that is not a phase, or an approval on a
   * node that is not in an approved phase. Both are cleared (compare-and-swap) with a Warning Event naming the
   * field and its writer. The agent refuses such an approval on its own side too.
   */
  private async repairForeignWrites(views: NodeView[], state: LockState, term: AbortSignal): Promise<void> {
    const finishing = new Set(state.entries.filter((e) => e.finishing).map((e) => e.node));
    for (const n of views) {
      if (term.aborted) return;
      const raw = this.rawNode(n.name);
      const clear: Record<string, string | null> = {};
      const notes: string[] = [];
      if (n.malformedPhase !== undefined) {
        clear[Annotations.phase] = null;
        clear[Annotations.phaseSince] = null;
        notes.push(
          `${Annotations.phase}=${JSON.stringify(n.malformedPhase)} is not a phase (one of cordoned, draining, approved, rebooting, verifying), written by ${describeWriter(writerOf(raw ?? {}, annotationPath(Annotations.phase)))}`,
        );
      }
      const approvedPhase = n.phase === 'approved' || n.phase === 'rebooting' || n.phase === 'verifying';
      if (n.approvedBootId !== undefined && !approvedPhase && !finishing.has(n.name)) {
        clear[Annotations.approvedBootId] = null;
        notes.push(
          `${Annotations.approvedBootId}=${n.approvedBootId} on a node in phase ${n.phase ?? 'none'}, written by ${describeWriter(writerOf(raw ?? {}, annotationPath(Annotations.approvedBootId)))}; only the controller approves, and only a drained node`,
        );
      }
      if (!notes.length) continue;
      try {
        await this.patchNode(n, clear, undefined, term);
      } catch (err) {
        if (term.aborted) return;
        this.log.warn(
          { node: n.name, reason: 'repair-failed', err: (err as Error).message },
          'could not clear',
        );
        continue;
      }
      if (clear[Annotations.phase] === null) n.malformedPhase = undefined;
      if (clear[Annotations.approvedBootId] === null) n.approvedBootId = undefined;
      for (const note of notes) {
        this.log.warn({ node: n.name, phase: n.phase, reason: 'foreign-write' }, `${note}; cleared`);
        this.events.emit(n, 'Warning', 'ForeignWriteRefused', `${note}; cleared`);
      }
    }
  }

  /**
   * A node in a phase with no lock entry: the lock was edited or recreated, or someone wrote the phase. Adopted
   * when its reboot is already under way (the agent recorded leaving the approved boot: it must be finished), or
   * when the planner would start it now (budget, pause, halt, exclusion, need, gates): then it restarts from the
   * cordon. Otherwise the phase is cleared, the node uncordoned only if kreboot's controller cordoned it, and a
   * Warning Event names the field, its writer and why.
   */
  private async adoptOrRefusePhase(
    n: NodeView,
    refusal: Refusal | undefined,
    lease: Lease,
    state: LockState,
    term: AbortSignal,
  ): Promise<{ lease: Lease; state: LockState }> {
    const raw = this.rawNode(n.name) ?? {};
    const writer = describeWriter(writerOf(raw, annotationPath(Annotations.phase)));
    const cordonedByUs =
      n.unschedulable && writerOf(raw, UNSCHEDULABLE_PATH)?.manager === CONTROLLER_FIELD_MANAGER;
    const started = n.approvedBootId !== undefined && n.rebootingFromBootId === n.approvedBootId;
    if (started || !refusal) {
      const next = await this.lock.update(
        lease,
        (s) => ({ ...s, entries: [...s.entries, this.lock.entry(n.name, n.uid)] }),
        term,
      );
      const how = started
        ? 'its reboot is under way; finishing it'
        : 'the planner admits it now; restarting from the cordon';
      this.log.warn(
        { node: n.name, phase: n.phase, reason: 'lock-entry-restored' },
        `node in phase ${n.phase} had no lock entry (phase written by ${writer}); ${how}`,
      );
      this.events.emit(
        n,
        'Warning',
        'LockEntryRestored',
        `phase ${n.phase} without a lock entry (written by ${writer}); ${how}`,
      );
      if (!started) {
        // Restart from the cordon, remembering a cordon kreboot did not make.
        this.phaseChange(n, 'cordoned');
        const was = n.unschedulable && !(cordonedByUs && !n.wasUnschedulable);
        await this.patchNode(
          n,
          {
            [Annotations.phase]: 'cordoned',
            [Annotations.phaseSince]: new Date(this.now()).toISOString(),
            [Annotations.wasUnschedulable]: was ? 'true' : null,
            [Annotations.approvedBootId]: null,
          },
          true,
          term,
        );
      }
      return next;
    }
    const uncordon = cordonedByUs && !n.wasUnschedulable;
    await this.patchNode(
      n,
      {
        [Annotations.phase]: null,
        [Annotations.phaseSince]: null,
        [Annotations.approvedBootId]: null,
        [Annotations.alertsBefore]: null,
        [Annotations.wasUnschedulable]: null,
      },
      uncordon ? false : undefined,
      term,
    );
    const note = `${Annotations.phase}=${n.phase} written by ${writer} without a lock entry; refused (${refusal.reason}: ${refusal.detail}); phase cleared${uncordon ? ', uncordoned (kreboot had cordoned it)' : ''}`;
    this.log.warn({ node: n.name, phase: n.phase, reason: 'foreign-phase' }, note);
    this.events.emit(n, 'Warning', 'ForeignPhaseRefused', note);
    n.phase = undefined;
    return { lease, state };
  }

  private rawNode(name: string): (NodeLike & NodeLite) | undefined {
    return (this.nodes.get(name) ?? this.offCache.get(name)) as (NodeLike & NodeLite) | undefined;
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
    const rv = this.rawNode(n.name)?.metadata.resourceVersion;
    const body: Record<string, unknown> = { metadata: { resourceVersion: rv, annotations } };
    if (unschedulable !== undefined) body.spec = { unschedulable };
    // The resourceVersion makes this a compare-and-swap: a node changed since we looked is re-planned, not overwritten.
    // The field manager marks kreboot's own writes in managedFields (how a foreign cordon is told from ours).
    await this.http.request(`/api/v1/nodes/${n.name}?fieldManager=${CONTROLLER_FIELD_MANAGER}`, {
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
          `${step.why}; no other node will start until kreboot.io/halted is removed from lease ${Leases.lock}`,
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
      case 'abort': {
        this.drains.get(n.name)?.ctl.abort();
        this.drains.delete(n.name);
        log.warn({ reason: 'aborted' }, `${step.why}; uncordoning if kreboot cordoned it and releasing`);
        ev('Normal', 'RebootAborted', `${step.why}; rollout of this node stopped before its reboot`);
        this.metrics.reboots.inc({ result: 'aborted' });
        const marked = await this.markFinishing(n, lease, term);
        await this.cleanup(n, {}, term);
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
