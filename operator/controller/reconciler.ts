// The controller's reconcile loop: observe (caches, the lock, the alert verdict), decide (plan.ts, step.ts: pure),
// act (one step per node, each idempotent), repeat on every change. It acts only while it leads: every call
// carries the term's signal, so losing the lease aborts what is in flight.
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
import { Actions, eachLimited, STEP_PARALLELISM } from './actions.ts';
import { type Demand, demandFor } from './demand.ts';
import { Drains } from './drains.ts';
import type { EventSink } from './events.ts';
import { gatesFor } from './gates.ts';
import { LeaseClient } from './lease.ts';
import { ClusterLock, parseLock } from './lock.ts';
import type { ControllerMetrics } from './metrics.ts';
import { ApiNodeWriter, type NodeWriter } from './node-writer.ts';
import { Observer } from './observe.ts';
import { Pass } from './pass.ts';
import type { Plan } from './plan.ts';
import { encodeSettings } from './published-settings.ts';
import { Repairs } from './repairs.ts';
import { Reporter } from './report.ts';
import type { AlertSettings, ReconcilerSettings } from './settings.ts';
import { nextStep, wantsWaitTaint, withPreferNoSchedule } from './step.ts';
import { WindowStatusWriter, type WindowsNow } from './window-status.ts';
import { WriteError } from './write-error.ts';

export type { AlertSettings, ReconcilerSettings } from './settings.ts';

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
      (name) => this.observer.raw(name)?.metadata.resourceVersion,
      log,
      this.now,
    );
    const writer = d.writer ? d.writer(api) : api;
    this.writer = writer;
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
    // The alert sources are polled for this term only, on their own schedule (never awaited by a pass).
    void this.poller?.run(term);
    await this.poller?.first();
    this.kick();
    while (!term.aborted) {
      await this.trigger.wait(this.nextWakeMs(), term);
      if (term.aborted) break;
      try {
        const t0 = performance.now();
        const cpu0 = process.cpuUsage();
        const pass = await this.reconcileOnce(term);
        const ms = performance.now() - t0;
        const cpu = process.cpuUsage(cpu0);
        this.metrics.reconcileDuration.observe(ms / 1000);
        // Wall time includes waiting on the API server; CPU time is this process's work meanwhile (the pass's
        // own decisions, plus whatever watch events it handled in between).
        this.log.debug(
          {
            phase: 'pass',
            ms: Math.round(ms * 10) / 10,
            cpuMs: Math.round((cpu.user + cpu.system) / 100) / 10,
            nodes: pass.views.length,
          },
          'pass',
        );
        this.retry.reset();
      } catch (err) {
        if (term.aborted) break;
        await this.failed(err, term);
        this.kick();
      }
    }
    this.drains.stopAll();
  }

  /**
   * One policy per error class (kube/errors.ts): a conflict re-plans at once; anything else is logged with the
   * API's own message, counted, backed off (Retry-After honoured), and a rejected write is reported on its
   * object as a Warning Event (de-duplicated by the Event queue).
   */
  private async failed(err: unknown, term: AbortSignal): Promise<void> {
    const cls = classify(err);
    this.metrics.apiErrors.inc({ class: cls });
    const waitMs = this.retry.delayMs(err);
    const what = err instanceof WriteError ? `${err.what}: ` : '';
    if (cls === 'conflict') {
      this.log.debug(
        { reason: 'conflict', err: describeApiError(err) },
        `${what}state changed under us; re-planning`,
      );
      return;
    }
    this.log.warn(
      { reason: `api-${cls}`, err: describeApiError(err), retryInMs: waitMs },
      `${what}reconcile failed (${cls}); retrying in ${waitMs} ms`,
    );
    if (cls === 'rejected' && err instanceof WriteError)
      this.events.emitFor(
        err.regarding,
        'Warning',
        'WriteRejected',
        `the API server refused kreboot's ${err.what}: ${describeApiError(err)}; retrying with backoff`,
      );
    await sleep(waitMs, term);
  }

  private nextWakeMs(): number {
    const resync = this.settings.resyncMs;
    const until = this.nextWake - this.now();
    return Math.max(50, Math.min(resync, Number.isFinite(until) ? until : resync));
  }

  // --- one pass ------------------------------------------------------------------------------------------
  //
  // Named steps, each idempotent: a crash between any two leaves state the next pass (or leader) repairs.

  async reconcileOnce(term: AbortSignal): Promise<Pass> {
    const pass = await this.observe(term);
    await this.publishSettings(term);
    await this.repairs.releaseGoneEntries(pass, term);
    this.repairs.checkTimes(pass);
    await this.repairs.clearForeignWrites(pass, term);
    const windows = this.prepareGates(pass);
    const inFlight = this.lock.locked();
    await this.stepInFlight(pass, term);
    const plan = await this.startNew(pass, term);
    await this.waitTaints(pass, new Set([...inFlight, ...plan.start]), term);
    await this.report(pass, plan, windows, term);
    this.nextWake = pass.nextWake;
    return pass;
  }

  /** This controller's planner settings on the lock, for `kreboot plan` and `status` (a write only when they differ). */
  private async publishSettings(term: AbortSignal): Promise<void> {
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
    if (!this.lock.state.corrupt) await this.lock.publishSettings(published, term);
  }

  /** The lock (read fresh: it is the source of truth), the node views and the alert verdict, at one instant. */
  private async observe(term: AbortSignal): Promise<Pass> {
    const now = this.now();
    await this.lock.refresh(term);
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

  /** One step for each node in flight. A phase or entry kreboot did not write is adopted only as a repair. */
  private async stepInFlight(pass: Pass, term: AbortSignal): Promise<void> {
    const inFlight = pass.views.filter((n) => this.lock.entryOf(n.name) || n.phase !== undefined);
    // A node the planner must admit (a phase without an entry, an entry without a started rollout) is decided
    // one at a time, after the others, each on the lock as the previous decision left it: the budget holds.
    const planned = (n: NodeView) => {
      const e = this.lock.entryOf(n.name);
      return !e || (n.phase === undefined && !e.finishing && n.required === 'True' && !n.excluded);
    };
    // The others step independently, a few at a time: at scale a pass with a hundred nodes in flight must not
    // wait for a hundred writes in a row. A failed step fails the pass after the others ran (the error policy).
    // Partitioned once, on the lock as the pass read it: a node its own step releases is not revisited.
    const decide = inFlight.filter(planned);
    const rest = inFlight.filter((n) => !decide.includes(n));
    await eachLimited(rest, STEP_PARALLELISM, (n) => this.stepOne(n, pass, term));
    for (const n of decide) await this.stepOne(n, pass, term);
  }

  private async stepOne(n: NodeView, pass: Pass, term: AbortSignal): Promise<void> {
    const entry = this.lock.entryOf(n.name);
    if (term.aborted) return;
    if (!entry) {
      if (!this.lock.state.corrupt) await this.repairs.adoptOrRefusePhase(n, pass.refusal(n), term);
      return;
    }
    if (entry.adopted && n.phase === undefined && !entry.finishing) {
      // Adopted from kured: its cordon is kured's, its state before kured is in the entry. A node kured already
      // rebooted (it needs none now) is only uncordoned and released; any other goes on from the cordon below,
      // whatever the planner would say: it is disrupted already, and finishing it is the safe way out.
      n.wasUnschedulable = entry.adopted.wasUnschedulable;
      if (n.required !== 'True' || n.excluded) {
        const why = n.excluded
          ? `adopted from ${entry.adopted.from}, but excluded (${Annotations.exclude}): not rebooted`
          : `adopted from ${entry.adopted.from}, which already rebooted it (it needs no reboot now)`;
        await this.actions.perform({ kind: 'abort', why }, n, pass, term);
        return;
      }
    } else if (n.phase === undefined && !entry.finishing && n.required === 'True' && !n.excluded) {
      // An entry without a phase: a start whose cordon did not happen (a crash), or a lock edited by hand.
      // Cordon only if the planner would start the node now; otherwise give the slot back.
      const why = pass.refusal(n);
      if (why) {
        const release = `lock entry without a started rollout, not resumed: ${why.detail}`;
        await this.actions.perform({ kind: 'release', why: release }, n, pass, term);
        return;
      }
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
    await this.actions.perform(step, n, pass, term);
    this.wakeForTimeouts(pass, n);
  }

  /** Plans on the lock as it is after the in-flight steps (released slots count) and starts what it admits. */
  private async startNew(pass: Pass, term: AbortSignal): Promise<Plan> {
    const p = pass.plan();
    for (const w of p.waiting) {
      const failedAt = pass.byName.get(w.node)?.lastFailureAt;
      if (w.reason === 'retry-later' && failedAt !== undefined)
        pass.wakeBy(failedAt + this.settings.retryAfterFailureMs);
    }
    if (!term.aborted)
      await this.actions.start(
        p.start.map((name) => pass.byName.get(name)!),
        term,
      );
    return p;
  }

  /**
   * --prefer-no-schedule-taint: nodes waiting for their reboot carry a PreferNoSchedule taint (new pods prefer
   * other nodes, so fewer are evicted twice), taken off when the need goes. Nodes in flight get and lose it with
   * their cordon and their release; nodes written in this pass are left to the next (their version moved on).
   */
  private async waitTaints(pass: Pass, written: ReadonlySet<string>, term: AbortSignal): Promise<void> {
    const key = this.settings.preferNoScheduleTaint;
    if (!key) return;
    const changes = pass.views.flatMap((n) => {
      if (written.has(n.name) || n.phase !== undefined) return [];
      const taints = withPreferNoSchedule(n, key, wantsWaitTaint(n, needsReboot(n)));
      return taints ? [{ n, taints }] : [];
    });
    await eachLimited(changes, STEP_PARALLELISM, ({ n, taints }) =>
      this.writer.patch(n, {}, undefined, term, { taints }),
    );
  }

  /** Metrics, wait-reason Events, window status. */
  private async report(pass: Pass, p: Plan, windows: WindowsNow, term: AbortSignal): Promise<void> {
    this.reporter.gauges(pass.views, this.lock.state, p, pass.now);
    this.reporter.waits(pass.views, p, pass.now);
    await this.windowStatus.write(windows, pass.views, this.lock.locked(), pass.now, term);
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
