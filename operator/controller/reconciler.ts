// The controller's reconcile loop: observe (caches, the lock, the alert verdict), decide (plan.ts, step.ts: pure),
// act (one step per node, each idempotent), repeat on every change. A pass decides from the caches without waiting
// on the API server and hands its writes to a queue (jobs.ts): one job per node at a time, the lock's additions
// one at a time, and a node just written is left alone until the watch shows the write (its echo). It acts only
// while it leads: every call carries the term's signal, so losing the lease aborts what is in flight.
import type { Logger } from 'pino';
import { AlertPoller, OPEN_VERDICT } from '../alerts/poller.ts';
import { budgetsFor, isInFlight } from '../domain/budget.ts';
import { type NodeView, needsReboot } from '../domain/node.ts';
import { classify, describeApiError, RetryPolicy } from '../kube/errors.ts';
import type { KubeHttp } from '../kube/http.ts';
import { parseSelector } from '../kube/selector.ts';
import { Annotations } from '../protocol.ts';
import { sleep } from '../util/sleep.ts';
import { Trigger } from '../util/trigger.ts';
import { VERSION } from '../version.ts';
import { WindowEvaluator, WindowIndex, windowBudgets, windowGate } from '../windows/evaluate.ts';
import { Actions, STEP_PARALLELISM } from './actions.ts';
import { type Demand, demandFor } from './demand.ts';
import { Drains } from './drains.ts';
import type { EventSink } from './events.ts';
import { gatesFor } from './gates.ts';
import { type JobOutcome, Jobs } from './jobs.ts';
import { LeaseClient } from './lease.ts';
import { ClusterLock, type LockEntry, parseLock } from './lock.ts';
import type { ControllerMetrics } from './metrics.ts';
import { ApiNodeWriter, type NodeWriter } from './node-writer.ts';
import { Observer } from './observe.ts';
import { Pass } from './pass.ts';
import type { Plan } from './plan.ts';
import { encodeSettings } from './published-settings.ts';
import { Repairs } from './repairs.ts';
import { Reporter } from './report.ts';
import type { AlertSettings, ReconcilerSettings } from './settings.ts';
import { nextStep, type Step, wantsWaitTaint, withPreferNoSchedule } from './step.ts';
import { WindowStatusWriter, type WindowsNow } from './window-status.ts';
import { WriteError } from './write-error.ts';

export type { AlertSettings, ReconcilerSettings } from './settings.ts';

/** Job keys besides node names: the lock's additions and re-reads, the published settings, entries' lookups. */
const LOCK = '\u0000lock';
const SETTINGS = '\u0000settings';
const ENTRIES = '\u0000entries';
const WINDOW_STATUS = '\u0000window-status';
/** Passes start at least this far apart (a burst of events is one pass). */
const MIN_PASS_GAP_MS = 100;
/** A node written is decided on again after its echo, or after this long without one (the CAS still guards). */
const SETTLE_MAX_MS = 30_000;

export interface ReconcilerDeps {
  http: KubeHttp;
  namespace: string;
  identity: string;
  settings: ReconcilerSettings;
  log: Logger;
  metrics: ControllerMetrics;
  events: EventSink;
  alerts?: AlertSettings;
  now?: () => number;
  /** Notify once about a node blocked (not by its turn) longer than afterMs (--notify-blocked-after). */
  blocked?: { afterMs: number; notify: (node: string, note: string) => void };
  /** Node writes (default: the API, compare-and-swap); tests wrap it to record what a pass writes. */
  writer?: (defaultWriter: NodeWriter) => NodeWriter;
}

export class Reconciler {
  readonly observer: Observer;
  readonly lock: ClusterLock;
  private readonly trigger = new Trigger();
  /** Fired with every cache change, for the replica waiting for work while it does not lead. */
  private readonly changes = new Trigger();
  private readonly poller: AlertPoller | undefined;
  private readonly drains: Drains;
  private readonly actions: Actions;
  private readonly repairs: Repairs;
  private readonly reporter: Reporter;
  private readonly windowStatus: WindowStatusWriter;
  private readonly windowEvaluator = new WindowEvaluator();
  private readonly settings: ReconcilerSettings;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly blocking: ReturnType<typeof parseSelector>[];
  private nextWake = Number.POSITIVE_INFINITY;
  private readonly retry = new RetryPolicy();
  private readonly metrics: ControllerMetrics;
  private readonly events: EventSink;
  private readonly writer: NodeWriter;
  private readonly jobs: Jobs;
  /** The current term, for the jobs' error policy. */
  private term: AbortSignal = new AbortController().signal;
  /** Nothing is decided on a lock not read in this term, nor after a conflict on it, until it is read again. */
  private lockFresh = false;
  /** Halts decided and not yet written: no start is planned meanwhile (a halt stops new starts). */
  private halting = 0;
  /** Node → the resourceVersion its queued step was decided on: the step's write is a compare-and-swap on it. */
  private readonly decidedOn = new Map<string, string>();
  /** Node → the version kreboot last wrote it from: the node is not decided on again until the cache moves on. */
  private readonly settling = new Map<string, { rv: string; at: number }>();
  /** Job key → no new job before this time (a failed write backs off). */
  private readonly notBefore = new Map<string, number>();
  /** Job key → its backoff after consecutive failures. */
  private readonly retries = new Map<string, RetryPolicy>();
  /** reconcileOnce collects the errors of the jobs it waits for, to throw the first. */
  private collected: unknown[] | undefined;

  constructor(d: ReconcilerDeps) {
    const { http, settings, log } = d;
    this.settings = settings;
    this.log = log;
    this.metrics = d.metrics;
    this.events = d.events;
    this.now = d.now ?? Date.now;
    const kick = () => this.kick();
    this.observer = new Observer(
      http,
      { nodes: settings.nodeSelector, windows: settings.windows.selector },
      d.namespace,
      kick,
      log,
    );
    this.lock = new ClusterLock(new LeaseClient(http, d.namespace), d.identity);
    const api = new ApiNodeWriter(
      http,
      (name) => this.decidedOn.get(name) ?? this.observer.raw(name)?.metadata.resourceVersion,
      log,
      this.now,
    );
    const writer = this.settleAfterWrites(d.writer ? d.writer(api) : api);
    this.writer = writer;
    this.jobs = new Jobs(STEP_PARALLELISM, (o) => this.jobDone(o));
    this.drains = new Drains(http, settings.drain, log, kick, (node) => this.observer.podsOn(node));
    this.actions = new Actions(this.lock, writer, this.drains, d.events, d.metrics, settings, log, this.now);
    this.repairs = new Repairs(this.observer, this.lock, writer, this.actions, this.drains, d.events, log);
    this.reporter = new Reporter(d.metrics, d.events, d.blocked);
    this.windowStatus = new WindowStatusWriter(http, d.events, log);
    this.blocking = settings.blockingPodSelectors.map(parseSelector);
    const nodeNames = () => new Set(this.observer.nodes.list().map((n) => n.metadata.name));
    this.poller = d.alerts
      ? new AlertPoller(d.alerts.gate, d.alerts, nodeNames, log, kick, this.now)
      : undefined;
  }

  /** Starts the caches; they run for the life of the process, leader or not, so a new leader acts at once. */
  startCaches(signal: AbortSignal): Promise<void> {
    return this.observer.start(signal);
  }

  kick(): void {
    this.trigger.fire();
    this.changes.fire();
  }

  /** Whether a leader is needed now, from the caches (no request). */
  demand(now = this.now()): Demand {
    return demandFor({
      lock: parseLock(this.observer.lockLease.list()[0]),
      views: () => this.observer.views(now),
      windows: () => {
        const objects = this.observer.windows.list();
        const evaluated = this.windowEvaluator.evaluate(objects, now);
        return { objects, evaluated, index: new WindowIndex(evaluated) };
      },
      now,
    });
  }

  /**
   * Resolves with the reason once there is work: re-checked on every cache change (at most every 100 ms, so a
   * burst of pod events costs one check) and at the next window boundary.
   */
  async waitForWork(signal: AbortSignal): Promise<string | undefined> {
    let last = 0;
    while (!signal.aborted) {
      const gap = last + 100 - this.now();
      if (gap > 0) await sleep(gap, signal);
      last = this.now();
      const d = this.demand(last);
      if (d.reason) return d.reason;
      await this.changes.wait(Math.min(Math.max(d.wakeAt - last, 50), 600_000), signal);
    }
    return undefined;
  }

  /** Reconciles until the term ends (leadership lost or shutdown). */
  async run(term: AbortSignal): Promise<void> {
    this.term = term;
    this.lockFresh = false;
    // The alert sources are polled for this term only, on their own schedule (never awaited by a pass).
    void this.poller?.run(term);
    await this.poller?.first();
    this.kick();
    let last = Number.NEGATIVE_INFINITY;
    let lastMs = 0;
    while (!term.aborted) {
      await this.trigger.wait(this.nextWakeMs(), term);
      if (term.aborted) break;
      // A burst of watch events (thousands of agents, evictions) costs one pass: passes start MIN_PASS_GAP_MS
      // apart, or three times the last one's length, so deciding takes at most a third of the controller's time.
      const gap = last + Math.max(MIN_PASS_GAP_MS, 3 * lastMs) - performance.now();
      if (gap > 0) await sleep(gap, term);
      if (term.aborted) break;
      last = performance.now();
      try {
        const t0 = performance.now();
        const cpu0 = process.cpuUsage();
        const pass = this.decide(term);
        this.retry.reset();
        const ms = performance.now() - t0;
        lastMs = ms;
        const cpu = process.cpuUsage(cpu0);
        this.metrics.reconcileDuration.observe(ms / 1000);
        // A pass waits on nothing: its wall time is its own decisions. The writes it queued are counted apart.
        this.log.debug(
          {
            phase: 'pass',
            ms: Math.round(ms * 10) / 10,
            cpuMs: Math.round((cpu.user + cpu.system) / 100) / 10,
            nodes: pass.views.length,
            queued: this.jobs.size,
          },
          'pass',
        );
      } catch (err) {
        if (term.aborted) break;
        await this.failed(err, term);
        this.kick();
      }
    }
    this.drains.stopAll();
    // The term's signal ends every job's requests; none outlives the term into the next one.
    await this.jobs.idle();
  }

  /**
   * One pass and every write it queued, awaited (tests step the reconciler with this): the lock is read first,
   * and the first failed write is thrown.
   */
  async reconcileOnce(term: AbortSignal): Promise<Pass> {
    this.term = term;
    await this.lock.refresh(term);
    this.lockFresh = true;
    this.collected = [];
    try {
      const pass = this.decide(term, true);
      await this.jobs.idle();
      if (this.collected.length) throw this.collected[0];
      return pass;
    } finally {
      this.collected = undefined;
    }
  }

  /**
   * After a job: a failed write follows the error policy (kube/errors.ts) for its keys alone — a conflict
   * re-plans at once (and re-reads the lock if the lock was stale), anything else is logged with the API's own
   * message, counted, backed off (Retry-After honoured), and a rejected write is reported on its object as a
   * Warning Event. Other nodes' jobs go on meanwhile.
   */
  private jobDone(o: JobOutcome): void {
    // Backoff is per key (the first: a node, or the lock): one node's refused write is not retried sooner because
    // another node's write went through.
    const key = o.keys[0] ?? '';
    if (o.error === undefined) {
      this.retries.delete(key);
      if (o.keys.includes(LOCK)) this.kick();
      return;
    }
    const err = o.error;
    if (this.collected) {
      this.collected.push(err);
      return;
    }
    if (this.term.aborted) return;
    const cls = classify(err);
    this.metrics.apiErrors.inc({ class: cls });
    if (err instanceof WriteError && err.regarding.kind === 'Lease') this.lockFresh = false;
    const what = err instanceof WriteError ? `${err.what}: ` : '';
    if (cls === 'conflict') {
      this.log.debug(
        { reason: 'conflict', err: describeApiError(err), keys: o.keys.slice(0, 5) },
        `${what}state changed under us; re-planning`,
      );
      this.kick();
      return;
    }
    const retry = this.retries.get(key) ?? new RetryPolicy();
    this.retries.set(key, retry);
    const waitMs = retry.delayMs(err);
    const until = this.now() + waitMs;
    for (const k of o.keys) this.notBefore.set(k, until);
    this.log.warn(
      { reason: `api-${cls}`, err: describeApiError(err), retryInMs: waitMs, keys: o.keys.slice(0, 5) },
      `${what}reconcile failed (${cls}); retrying in ${waitMs} ms`,
    );
    if (cls === 'rejected' && err instanceof WriteError)
      this.events.emitFor(
        err.regarding,
        'Warning',
        'WriteRejected',
        `the API server refused kreboot's ${err.what}: ${describeApiError(err)}; retrying with backoff`,
      );
    this.nextWake = Math.min(this.nextWake, until + 10);
    this.kick();
  }

  /**
   * A pass failed before it queued anything (a bug, a corrupt input): logged, counted, backed off like a
   * failed write.
   */
  private async failed(err: unknown, term: AbortSignal): Promise<void> {
    const cls = classify(err);
    this.metrics.apiErrors.inc({ class: cls });
    const waitMs = this.retry.delayMs(err);
    this.log.warn(
      { reason: `api-${cls}`, err: describeApiError(err), retryInMs: waitMs },
      `reconcile failed (${cls}); retrying in ${waitMs} ms`,
    );
    await sleep(waitMs, term);
  }

  /** Every successful node write leaves the node settling until the cache shows a newer version (its echo). */
  private settleAfterWrites(w: NodeWriter): NodeWriter {
    const settle = (name: string) => {
      const rv = this.decidedOn.get(name) ?? this.observer.raw(name)?.metadata.resourceVersion;
      if (rv !== undefined) this.settling.set(name, { rv, at: this.now() });
    };
    return {
      patch: async (n, annotations, unschedulable, term, extras) => {
        await w.patch(n, annotations, unschedulable, term, extras);
        settle(n.name);
      },
      setFailed: (n, status, reason, message, term) => w.setFailed(n, status, reason, message, term),
    };
  }

  /** Whether a pass may decide on this key now: no job queued, no write awaiting its echo, no backoff. */
  private free(key: string, now: number): boolean {
    if (this.jobs.busy(key)) return false;
    const until = this.notBefore.get(key);
    if (until !== undefined) {
      if (until > now) return false;
      this.notBefore.delete(key);
    }
    const s = this.settling.get(key);
    if (s === undefined) return true;
    // The echo came (the cache moved on), or never will (a watch that missed it is relisted long before this):
    // the compare-and-swap keeps a step on a stale view from doing harm either way.
    if (this.observer.raw(key)?.metadata.resourceVersion !== s.rv || now - s.at > SETTLE_MAX_MS) {
      this.settling.delete(key);
      return true;
    }
    return false;
  }

  /** Records the cached version a node's queued step is decided on: its write is a compare-and-swap on it. */
  private decideOn(name: string): void {
    const rv = this.observer.raw(name)?.metadata.resourceVersion;
    if (rv !== undefined) this.decidedOn.set(name, rv);
  }

  /** Queues a node's write; its compare-and-swap is on the version the decision was made on. */
  private dispatchNode(name: string, run: () => Promise<void>, opts: { halts?: boolean } = {}): void {
    if (this.jobs.busy(name)) return;
    // Recorded before the job can start: it may reach its write before its first await.
    this.decideOn(name);
    if (opts.halts) this.halting++;
    this.jobs.dispatch([name], async () => {
      try {
        await run();
      } finally {
        this.decidedOn.delete(name);
        if (opts.halts) this.halting--;
      }
    });
  }

  private nextWakeMs(): number {
    const resync = this.settings.resyncMs;
    const until = this.nextWake - this.now();
    return Math.max(50, Math.min(resync, Number.isFinite(until) ? until : resync));
  }

  // --- one pass ------------------------------------------------------------------------------------------
  //
  // Named steps, each idempotent: a crash between any two leaves state the next pass (or leader) repairs. The
  // pass itself makes no request: what it decides to write is queued (jobs.ts) and it returns.

  private decide(term: AbortSignal, lockJustRead = false): Pass {
    const pass = this.observe();
    if (!lockJustRead && !this.lockIsCurrent(term)) {
      this.nextWake = Number.POSITIVE_INFINITY;
      return pass;
    }
    this.publishSettings(term);
    const accounted = this.accountForEntries(pass, term);
    this.repairs.checkTimes(pass);
    this.clearForeignWrites(pass, term);
    const windows = this.prepareGates(pass);
    const deciding = this.stepInFlight(pass, term);
    const plan = this.startNew(pass, term, accounted && !deciding);
    this.waitTaints(pass, term);
    this.report(pass, plan, windows, term);
    for (const until of this.notBefore.values()) pass.wakeBy(until + 10);
    this.nextWake = pass.nextWake;
    return pass;
  }

  /**
   * The lock as last read or written is what the pass decides on, unless the watch shows a version this replica
   * neither read nor wrote (someone else's change) or a write to it conflicted: then it is read again (queued)
   * and nothing is decided until it has been.
   */
  private lockIsCurrent(term: AbortSignal): boolean {
    const watched = this.observer.lockLease.list()[0]?.metadata.resourceVersion;
    if (this.lockFresh && (watched === undefined || this.lock.knows(watched))) return true;
    if (this.free(LOCK, this.now()))
      this.jobs.dispatch([LOCK], async () => {
        await this.lock.refresh(term);
        // Read after the watch showed `watched`: what was read is that version or newer.
        this.lock.acknowledge(watched);
        this.lockFresh = true;
      });
    return false;
  }

  /** This controller's planner settings on the lock, for `kreboot plan` and `status` (a write only when they differ). */
  private publishSettings(term: AbortSignal): void {
    const s = this.settings;
    const published = encodeSettings(
      {
        concurrency: s.concurrency,
        zoneConcurrency: s.zoneConcurrency,
        nodeSelector: s.nodeSelector,
        defaultWindow: s.windows.defaultWindow,
        windowSelector: s.windows.selector,
        windowEndMargin: s.windows.endMarginMs,
        retryAfterFailure: s.retryAfterFailureMs,
      },
      VERSION,
    );
    if (this.lock.state.corrupt || this.lock.state.settings === published) return;
    if (this.free(SETTINGS, this.now()))
      this.jobs.dispatch([SETTINGS], () => this.lock.publishSettings(published, term));
  }

  /** The node views and the alert verdict, at one instant (no request). */
  private observe(): Pass {
    const now = this.now();
    const alerts = this.poller?.current(now) ?? OPEN_VERDICT;
    const pass = new Pass(
      now,
      this.observer.views(now),
      alerts,
      this.lock,
      this.settings.retryAfterFailureMs,
    );
    if (this.poller?.enabled) pass.wakeBy(this.poller.staleAt());
    return pass;
  }

  /** Lock entries whose node the cache does not show: from the last direct GET, refreshed outside the pass. */
  private accountForEntries(pass: Pass, term: AbortSignal): boolean {
    const { complete, missing } = this.repairs.accountForEntries(pass);
    if (missing.length && this.free(ENTRIES, pass.now))
      this.jobs.dispatch([ENTRIES], () => this.repairs.refreshEntries(missing, term));
    return complete;
  }

  private clearForeignWrites(pass: Pass, term: AbortSignal): void {
    for (const w of this.repairs.foreignWrites(pass))
      if (this.free(w.n.name, pass.now))
        this.dispatchNode(w.n.name, () => this.repairs.clearForeign(w, term));
  }

  /** Gates and budgets from the caches (no request); window edges wake us. */
  private prepareGates(pass: Pass): WindowsNow {
    const objects = this.observer.windows.list();
    const evaluated = this.windowEvaluator.evaluate(objects, pass.now);
    const index = new WindowIndex(evaluated);
    const locked = this.lock.locked();
    const candidates = pass.views.some((n) => !isInFlight(n, locked) && needsReboot(n));
    pass.gates = gatesFor({
      alerts: pass.alerts,
      window: windowGate(index, this.settings.windows, pass.now),
      podsByNode: this.observer.podsByNode(),
      exhaustedPdbs: candidates ? this.observer.exhaustedPdbs() : [],
      blocking: this.blocking,
      drain: this.settings.drain,
    });
    const { concurrency, zoneConcurrency } = this.settings;
    pass.budgets = () => [
      ...budgetsFor(pass.views, concurrency, zoneConcurrency),
      ...windowBudgets(index, pass.views),
    ];
    const margin = this.settings.windows.endMarginMs;
    for (const w of evaluated) {
      if (w.current) pass.wakeBy(Math.min(w.current.end - margin + 10, w.current.end + 10));
      if (w.next) pass.wakeBy(w.next.start + 10);
      if (w.exclusion) pass.wakeBy(w.exclusion.end + 10);
    }
    return { objects, evaluated, index };
  }

  /**
   * One step for each node in flight (not busy, not settling). A node the planner must admit (a phase without an
   * entry, an entry without a started rollout) is decided in one lock job, one at a time, each on the lock as
   * the previous decision left it: the budget holds. True when such nodes exist (no new start in this pass).
   */
  private stepInFlight(pass: Pass, term: AbortSignal): boolean {
    const planned = (n: NodeView, e: LockEntry | undefined) =>
      !e || (n.phase === undefined && !e.finishing && n.required === 'True' && !n.excluded);
    const decide: NodeView[] = [];
    for (const n of pass.views) {
      const entry = this.lock.entryOf(n.name);
      if (!entry && n.phase === undefined) continue;
      if (!this.free(n.name, pass.now)) continue;
      if (planned(n, entry)) {
        decide.push(n);
        continue;
      }
      const step = this.stepFor(n, entry!, pass);
      if (step.kind === 'wait') continue;
      if (step.kind === 'drain' && n.phase === 'draining') {
        // The drain runs on its own (drains.ts); making sure it does is no write, so no job.
        this.drains.ensure(n.name, term);
        continue;
      }
      if (step.kind === 'timeout' && this.lock.state.halted === `node ${n.name}: ${step.why}`) continue;
      this.queueStep(n, step, pass.alerts.firing, term);
    }
    if (!decide.length) return false;
    if (this.free(LOCK, pass.now)) this.queueDecisions(decide, pass, term);
    return true;
  }

  // The jobs are made in methods of their own: a closure keeps its whole enclosing scope alive, and a queued step
  // must hold its step, view and firing alerts, not the pass it was decided in (thousands of views; at 5,000 nodes
  // a queue of 150 steps kept 150 passes alive, 1.1 GB).

  private queueStep(n: NodeView, step: Step, firing: readonly string[], term: AbortSignal): void {
    this.dispatchNode(n.name, () => this.actions.perform(step, n, firing, term), {
      halts: step.kind === 'timeout',
    });
  }

  /** One lock job decides the nodes the planner must admit, one after another (it holds this pass: one job). */
  private queueDecisions(decide: NodeView[], pass: Pass, term: AbortSignal): void {
    const names = decide.map((n) => n.name);
    for (const name of names) this.decideOn(name);
    this.jobs.dispatch([LOCK, ...names], async () => {
      try {
        for (const n of decide) await this.stepOne(n, pass, term);
      } finally {
        for (const name of names) this.decidedOn.delete(name);
      }
    });
  }

  /** A node the planner must admit, decided on the lock as it is now (in the lock job). */
  private async stepOne(n: NodeView, pass: Pass, term: AbortSignal): Promise<void> {
    const entry = this.lock.entryOf(n.name);
    if (term.aborted) return;
    if (!entry) {
      if (!this.lock.state.corrupt) await this.repairs.adoptOrRefusePhase(n, pass.refusal(n), term);
      return;
    }
    await this.actions.perform(this.stepFor(n, entry, pass), n, pass.alerts.firing, term);
  }

  /** The next step for a node holding a lock entry (pure, but for the drains' progress). */
  private stepFor(n: NodeView, entry: LockEntry, pass: Pass): Step {
    if (entry.adopted && n.phase === undefined && !entry.finishing) {
      // Adopted from kured: its cordon is kured's, its state before kured is in the entry. A node kured already
      // rebooted (it needs none now) is only uncordoned and released; any other goes on from the cordon below,
      // whatever the planner would say: it is disrupted already, and finishing it is the safe way out.
      n.wasUnschedulable = entry.adopted.wasUnschedulable;
      if (n.required !== 'True' || n.excluded) {
        const why = n.excluded
          ? `adopted from ${entry.adopted.from}, but excluded (${Annotations.exclude}): not rebooted`
          : `adopted from ${entry.adopted.from}, which already rebooted it (it needs no reboot now)`;
        return { kind: 'abort', why };
      }
    } else if (n.phase === undefined && !entry.finishing && n.required === 'True' && !n.excluded) {
      // An entry without a phase: a start whose cordon did not happen (a crash), or a lock edited by hand.
      // Cordon only if the planner would start the node now; otherwise give the slot back.
      const why = pass.refusal(n);
      if (why)
        return { kind: 'release', why: `lock entry without a started rollout, not resumed: ${why.detail}` };
    }
    const alerts = pass.alerts;
    const step = nextStep(
      {
        node: n,
        finishing: entry.finishing === true,
        drained: this.drains.done(n.name),
        drainedAt: this.drains.doneAt(n.name),
        // Only real alerts hold a rebooted node: an unreachable source blocks new starts, not this finish.
        postGatesClear: !alerts.alerting && !alerts.perNode.has(n.name),
        newAlerts: alerts.firing.filter((k) => !n.alertsBefore.includes(k)),
        now: pass.now,
      },
      this.settings,
    );
    this.wakeForTimeouts(pass, n);
    return step;
  }

  /**
   * Plans on the lock as this pass sees it and queues what it admits: the lock entries in one job (no other
   * lock addition meanwhile), then each node's cordon as that node's job. No start is planned while a halt is
   * being written, a lock entry is unaccounted for, or a node awaits its admission decision.
   */
  private startNew(pass: Pass, term: AbortSignal, allowed: boolean): Plan {
    const p = pass.plan();
    for (const w of p.waiting) {
      const failedAt = pass.byName.get(w.node)?.lastFailureAt;
      if (w.reason === 'retry-later' && failedAt !== undefined)
        pass.wakeBy(failedAt + this.settings.retryAfterFailureMs);
    }
    if (!allowed || this.halting > 0 || term.aborted || !this.free(LOCK, pass.now)) return p;
    const nodes: NodeView[] = [];
    for (const name of p.start) {
      const n = pass.byName.get(name)!;
      if (this.free(name, pass.now)) nodes.push(n);
    }
    if (nodes.length) this.queueStarts(nodes, pass.alerts.firing, term);
    return p;
  }

  /** The plan's lock entries in one job; each node's cordon is handed on to that node's own job. */
  private queueStarts(nodes: NodeView[], firing: readonly string[], term: AbortSignal): void {
    const names = nodes.map((n) => n.name);
    for (const name of names) this.decideOn(name);
    this.jobs.dispatch([LOCK, ...names], async (job) => {
      try {
        await this.actions.take(nodes, term);
      } catch (err) {
        for (const name of names) this.decidedOn.delete(name);
        throw err;
      }
      for (const n of nodes)
        job.handOn(n.name, async () => {
          try {
            await this.actions.perform({ kind: 'cordon' }, n, firing, term);
          } finally {
            this.decidedOn.delete(n.name);
          }
        });
    });
  }

  /**
   * --prefer-no-schedule-taint: nodes waiting for their reboot carry a PreferNoSchedule taint (new pods prefer
   * other nodes, so fewer are evicted twice), taken off when the need goes. Nodes in flight get and lose it with
   * their cordon and their release; nodes with a write queued or awaiting its echo are left to a later pass.
   */
  private waitTaints(pass: Pass, term: AbortSignal): void {
    const key = this.settings.preferNoScheduleTaint;
    if (!key) return;
    for (const n of pass.views) {
      if (n.phase !== undefined || this.lock.entryOf(n.name) || !this.free(n.name, pass.now)) continue;
      const taints = withPreferNoSchedule(n, key, wantsWaitTaint(n, needsReboot(n)));
      if (taints) this.dispatchNode(n.name, () => this.writer.patch(n, {}, undefined, term, { taints }));
    }
  }

  /** Metrics, wait-reason Events, window status (written by a job of its own). */
  private report(pass: Pass, p: Plan, windows: WindowsNow, term: AbortSignal): void {
    this.reporter.gauges(pass.views, this.lock.state, p, pass.now);
    this.reporter.waits(pass.views, p, pass.now);
    if (this.free(WINDOW_STATUS, pass.now))
      this.queueWindowStatus(windows, pass.views, this.lock.locked(), pass.now, term);
  }

  private queueWindowStatus(
    windows: WindowsNow,
    views: NodeView[],
    locked: ReadonlySet<string>,
    now: number,
    term: AbortSignal,
  ): void {
    this.jobs.dispatch([WINDOW_STATUS], () => this.windowStatus.write(windows, views, locked, now, term));
  }

  /** The next pass comes no later than this node's phase timeout, soak end or slow-motion hold. */
  private wakeForTimeouts(pass: Pass, n: NodeView): void {
    if (n.phaseSince === undefined) return;
    const s = this.settings;
    const limit =
      n.phase === 'draining'
        ? s.drainTimeoutMs
        : n.phase === 'verifying'
          ? s.rebootTimeoutMs + s.soakMs
          : s.rebootTimeoutMs;
    pass.wakeBy(n.phaseSince + limit + 10);
    if (n.phase === 'verifying') pass.wakeBy(n.phaseSince + s.soakMs + 10);
    if (s.minPhaseMs) pass.wakeBy(n.phaseSince + s.minPhaseMs + 10);
    if (n.phase === 'cordoned' && s.drainDelayMs) pass.wakeBy(n.phaseSince + s.drainDelayMs + 10);
    const drainedAt = this.drains.doneAt(n.name);
    if (n.phase === 'draining' && s.rebootDelayMs && drainedAt !== undefined)
      pass.wakeBy(drainedAt + s.rebootDelayMs + 10);
  }
}
