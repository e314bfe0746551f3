// The agent's loop: observe (own Node via one watch, sentinel via fs events + a period), decide (pure), write.
// All I/O comes in through AgentDeps so tests can run it against the real API server with their own sentinel,
// boot-ID file and reboot command.
import { type FSWatcher, watch as fsWatch } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Logger } from 'pino';
import { listWatch } from '../kube/list-watch.ts';
import type { OwnNodeApi } from '../kube/own-node.ts';
import type { NodeLite } from '../kube/types.ts';
import type { Counter, Gauge } from '../metrics/registry.ts';
import { Annotations } from '../protocol.ts';
import { serialize } from '../util/trigger.ts';
import { type CheckResult, decide } from './decide.ts';
import type { Rebooter } from './reboot.ts';

export interface AgentMetrics {
  rebootRequired: Gauge;
  checkErrors: Counter;
  lastCheck: Gauge;
  apiErrors: Counter;
  reboots: Counter;
}

const LIVENESS_TICK_MS = 1000;

export interface AgentDeps {
  api: OwnNodeApi;
  check: () => Promise<CheckResult>;
  bootId: string;
  rebooter: Rebooter;
  log: Logger;
  metrics: AgentMetrics;
  /** The sentinel file to watch for events, when the sentinel is a file. */
  watchFile?: string;
  checkPeriodMs: number;
  watchSilenceMs: number;
  /** The sentinel command's own timeout: a check running far past it is wedged (liveness). */
  checkTimeoutMs?: number;
  now?: () => Date;
}

export class Agent {
  private node: NodeLite | undefined;
  private check: CheckResult | undefined;
  private readonly stopCtl = new AbortController();
  private retryTimer: NodeJS.Timeout | undefined;
  private checkTimer: NodeJS.Timeout | undefined;
  private fsWatcher: FSWatcher | undefined;
  /** In-process guard on top of the durable annotation: this process never starts two reboots. */
  private rebootStarted = false;
  private reported = false;
  private lastRefusal: string | undefined;
  /** Liveness: when the watch loop last made progress, and when the running sentinel check began. */
  private loopProgressAt = Date.now();
  private checkStartedAt: number | undefined;
  private tickAt = Date.now();
  private tickTimer: NodeJS.Timeout | undefined;
  private apiHealthy = false;
  private loop: Promise<void> | undefined;
  private readonly now: () => Date;

  /** Runs a sentinel check; calls while one runs coalesce into one more. */
  private readonly runCheck: () => void;
  /** Schedules a reconcile; calls while one runs coalesce into one more. */
  private readonly kick: () => void;

  constructor(private readonly d: AgentDeps) {
    this.now = d.now ?? (() => new Date());
    const stopped = () => this.stopCtl.signal.aborted;
    this.runCheck = serialize(async () => {
      this.checkStartedAt = Date.now();
      const result = await this.d.check();
      this.checkStartedAt = undefined;
      this.record(result);
    }, stopped);
    this.kick = serialize(() => this.reconcile(), stopped);
  }

  /** Ready once the node says the truth at least once and the API is reachable now. */
  get ready(): boolean {
    return this.reported && this.apiHealthy;
  }

  /**
   * Liveness, for the kubelet's probe: false only when a restart would help. The API being down is not such a
   * case (the loop backs off and recovers), a wedged loop is: the watch loop made no progress for longer than its
   * own watchdog plus the longest backoff, the event loop stood still, or a sentinel check outlived its timeout.
   */
  liveness(): { ok: boolean; why: string } {
    const now = Date.now();
    const loopLimit = this.d.watchSilenceMs + 60_000;
    if (now - this.tickAt > LIVENESS_TICK_MS * 10)
      return { ok: false, why: `event loop stalled for ${now - this.tickAt} ms` };
    if (this.loop && now - this.loopProgressAt > loopLimit)
      return { ok: false, why: `watch loop made no progress for ${now - this.loopProgressAt} ms` };
    const checkLimit = (this.d.checkTimeoutMs ?? 30_000) * 2 + 10_000;
    if (this.checkStartedAt !== undefined && now - this.checkStartedAt > checkLimit)
      return { ok: false, why: `sentinel check running for ${now - this.checkStartedAt} ms (wedged)` };
    return { ok: true, why: 'ok' };
  }

  start(): void {
    this.tickTimer = setInterval(() => {
      this.tickAt = Date.now();
    }, LIVENESS_TICK_MS);
    this.tickTimer.unref();
    const log = this.d.log.child({ phase: 'start' });
    log.info({ bootId: this.d.bootId, rebooter: this.d.rebooter.description }, 'agent starting');
    this.startSentinelWatch();
    this.runCheck();
    this.checkTimer = setInterval(() => this.runCheck(), this.d.checkPeriodMs);
    this.loop = this.watchLoop();
  }

  /** Checks the sentinel now, as a file event does; coalesces with a check already running. */
  checkNow(): void {
    this.runCheck();
  }

  async stop(): Promise<void> {
    this.stopCtl.abort();
    clearInterval(this.checkTimer);
    clearInterval(this.tickTimer);
    clearTimeout(this.retryTimer);
    this.fsWatcher?.close();
    await this.loop?.catch(() => {});
  }

  // --- sentinel ---------------------------------------------------------------------------------------

  private startSentinelWatch(): void {
    const file = this.d.watchFile;
    if (!file) return;
    const name = basename(file);
    try {
      // Watch the directory: the file itself comes and goes.
      this.fsWatcher = fsWatch(dirname(file), { persistent: false }, (_event, changed) => {
        if (changed === null || changed === name) this.runCheck();
      });
      this.fsWatcher.on('error', (err) => {
        this.d.log.warn(
          { phase: 'sentinel', reason: 'fs-watch-failed', err: err.message },
          'file events stopped; period only',
        );
        this.fsWatcher?.close();
        this.fsWatcher = undefined;
      });
    } catch (err) {
      this.d.log.warn(
        { phase: 'sentinel', reason: 'fs-watch-unavailable', err: (err as Error).message },
        `cannot watch ${dirname(file)}; checking every ${this.d.checkPeriodMs} ms only`,
      );
    }
  }

  private record(result: CheckResult): void {
    const m = this.d.metrics;
    const labels = { node: this.d.api.name };
    if (result.kind === 'ok') {
      m.rebootRequired.set(labels, result.required ? 1 : 0);
      m.lastCheck.set({}, this.now().getTime() / 1000);
    } else {
      m.checkErrors.inc();
      this.d.log.warn(
        { phase: 'sentinel', reason: 'check-failed', err: result.message },
        'sentinel check failed',
      );
    }
    const before = this.check;
    this.check = result;
    if (JSON.stringify(before) !== JSON.stringify(result)) {
      this.d.log.info(
        {
          phase: 'sentinel',
          reason: result.kind === 'ok' ? (result.required ? 'required' : 'not-required') : 'error',
        },
        result.kind === 'ok' ? result.detail : result.message,
      );
      this.kick();
    }
  }

  // --- API: one watch on this node --------------------------------------------------------------------

  private watchLoop(): Promise<void> {
    const log = this.d.log.child({ phase: 'watch' });
    return listWatch<NodeLite>(
      {
        list: async (signal) => {
          const node = await this.d.api.get(signal);
          this.onNode(node);
          return node.metadata.resourceVersion ?? '';
        },
        watch: (rv, onEvent, opts) => this.d.api.watch(rv, onEvent, opts),
      },
      {
        onEvent: (type, node) => {
          if (type !== 'DELETED') {
            this.onNode(node);
            return undefined;
          }
          log.warn({ reason: 'node-deleted' }, 'this node was deleted; waiting for it to come back');
          this.node = undefined;
          return 'relist';
        },
        onHealthy: () => {
          this.apiHealthy = true;
        },
        onProgress: () => {
          this.loopProgressAt = Date.now();
        },
        onError: (err, retryInMs) => {
          this.apiHealthy = false;
          this.d.metrics.apiErrors.inc();
          log.warn({ reason: 'api-error', err: err.message, retryInMs }, 'API call failed; retrying');
        },
        onSilent: () =>
          log.warn({ reason: 'watch-silent' }, `watch silent for ${this.d.watchSilenceMs} ms; relisting`),
        onExpired: () => log.info({ reason: 'watch-expired' }, 'watch resourceVersion expired; relisting'),
      },
      { silenceMs: this.d.watchSilenceMs, signal: this.stopCtl.signal },
    );
  }

  private onNode(node: NodeLite): void {
    this.node = node;
    this.kick();
  }

  // --- reconcile ----------------------------------------------------------------------------------------

  private async reconcile(): Promise<void> {
    const signal = this.stopCtl.signal;
    const log = this.d.log.child({ phase: 'reconcile' });
    try {
      for (let i = 0; i < 4 && this.node && !signal.aborted; i++) {
        const decision = decide({
          node: this.node,
          bootId: this.d.bootId,
          check: this.check,
          now: this.now(),
        });
        let wrote = false;
        if (decision.condition) {
          this.node = await this.d.api.patchCondition(decision.condition, signal);
          log.info(
            { reason: decision.condition.reason, status: decision.condition.status },
            `RebootRequired=${decision.condition.status}: ${decision.condition.message}`,
          );
          wrote = true;
        }
        // Annotations after the condition: once the controller sees this boot's ID, the condition it reads in
        // the same object already speaks for this boot (it never acts on a stale "reboot required").
        if (Object.keys(decision.annotations).length) {
          this.node = await this.d.api.patchAnnotations(decision.annotations, signal);
          log.debug({ annotations: decision.annotations }, 'annotations written');
          wrote = true;
        }
        if (!wrote && this.check !== undefined) this.reported = true;
        // A refused approval is either a stale one (harmless, the controller is about to clear it) or a forged
        // one: either way a person should see it, once per distinct refusal rather than per event.
        if (decision.refusal && !decision.reboot && decision.refusal !== this.lastRefusal) {
          this.lastRefusal = decision.refusal;
          log.warn({ reason: 'approval-refused' }, decision.refusal);
        } else if (!decision.refusal) this.lastRefusal = undefined;
        if (decision.reboot) {
          await this.reboot();
          return;
        }
        if (!wrote) return;
      }
    } catch (err) {
      if (signal.aborted) return;
      this.d.metrics.apiErrors.inc();
      log.warn(
        { reason: 'write-failed', err: (err as Error).message },
        'could not update the node; retrying',
      );
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => this.kick(), 2000);
    }
  }

  private async reboot(): Promise<void> {
    const log = this.d.log.child({ phase: 'reboot' });
    if (this.rebootStarted) return;
    // Durable record first: a restarted agent in this same boot sees it and never reboots a second time.
    // If this write fails nothing has happened yet, and the next reconcile tries again. It is a compare-and-swap
    // on the node the decision was made on: if the controller withdrew the approval (or anyone changed the node)
    // in between, the write fails with a conflict and the agent decides again on the fresh node.
    this.node = await this.d.api.patchAnnotations(
      { [Annotations.rebootingFromBootId]: this.d.bootId },
      this.stopCtl.signal,
      this.node?.metadata.resourceVersion,
    );
    this.rebootStarted = true;
    log.warn(
      { reason: 'approved', bootId: this.d.bootId, method: this.d.rebooter.description },
      'reboot approved for this boot; rebooting the host now',
    );
    this.d.metrics.reboots.inc({ result: 'started' });
    try {
      await this.d.rebooter.reboot();
    } catch (err) {
      this.d.metrics.reboots.inc({ result: 'failed' });
      log.error(
        { reason: 'reboot-failed', err: (err as Error).message },
        'the reboot did not start; not retrying in this boot (the controller will time out and halt)',
      );
    }
  }
}
