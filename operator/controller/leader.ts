// Leader election on a coordination.k8s.io Lease with client-go's fields and rules, so `kubectl describe lease`
// reads naturally and client-go tools understand it. Expiry is judged by how long *this* process has seen the
// record unchanged (client-go's observedTime), never by comparing another machine's clock with ours.
import type { Logger } from 'pino';
import { classify } from '../kube/errors.ts';
import { microTime } from '../kube/time.ts';
import { sleep } from '../util/sleep.ts';
import type { Lease, LeaseClient } from './lease.ts';

export interface LeaderConfig {
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

/** Leadership on demand: campaign only while there is work, release the Lease once idle. */
export interface LeadershipDemand {
  /** Whether a leader is needed now (from caches: no request). */
  wanted(): boolean;
  /** Resolves once a leader is needed, with why; on abort, with undefined. */
  waitForWork(signal: AbortSignal): Promise<string | undefined>;
  /** How long a leader with nothing to do keeps the Lease before releasing it. */
  idleReleaseMs: number;
}

export class LeaderElector {
  private observed: { record: string; at: number } | undefined;
  private leading: AbortController | undefined;
  private lease: Lease | undefined;

  constructor(
    private readonly leases: LeaseClient,
    private readonly cfg: LeaderConfig,
    private readonly log: Logger,
  ) {}

  /** The signal of the current term; aborted the moment leadership is lost. */
  get term(): AbortSignal | undefined {
    return this.leading?.signal;
  }
  get isLeader(): boolean {
    return this.leading !== undefined && !this.leading.signal.aborted;
  }

  private async tryAcquireOrRenew(signal: AbortSignal): Promise<boolean> {
    const now = new Date();
    const mine = (l: Lease): Lease => ({
      metadata: {
        name: this.cfg.name,
        resourceVersion: l.metadata.resourceVersion,
        annotations: l.metadata.annotations,
      },
      spec: {
        holderIdentity: this.cfg.identity,
        leaseDurationSeconds: Math.ceil(this.cfg.leaseDurationMs / 1000),
        acquireTime: l.spec.holderIdentity === this.cfg.identity ? l.spec.acquireTime : microTime(now),
        renewTime: microTime(now),
        leaseTransitions:
          (l.spec.leaseTransitions ?? 0) +
          (l.spec.holderIdentity && l.spec.holderIdentity !== this.cfg.identity ? 1 : 0),
      },
    });
    const current = await this.leases.get(this.cfg.name, signal);
    if (!current) {
      this.lease = await this.leases.create(mine({ metadata: { name: this.cfg.name }, spec: {} }), signal);
      return true;
    }
    const record = JSON.stringify(current.spec);
    if (!this.observed || this.observed.record !== record) this.observed = { record, at: Date.now() };
    const holder = current.spec.holderIdentity;
    const duration = (current.spec.leaseDurationSeconds ?? 15) * 1000;
    if (holder && holder !== this.cfg.identity && Date.now() < this.observed.at + duration) return false;
    this.lease = await this.leases.replace(mine(current), signal);
    this.observed = { record: JSON.stringify(this.lease.spec), at: Date.now() };
    return true;
  }

  /**
   * Campaigns until `signal` aborts. While leading, `onLead(term)` runs; `term` aborts as soon as a renewal
   * fails past the renew deadline, and the elector goes back to campaigning. With `demand`, it campaigns (and
   * polls the Lease) only while there is work, and a leader idle for `demand.idleReleaseMs` ends its term and
   * releases the Lease; the caches' watches wake it when work appears.
   */
  async run(
    signal: AbortSignal,
    onLead: (term: AbortSignal) => void,
    demand?: LeadershipDemand,
  ): Promise<void> {
    const log = this.log.child({ phase: 'leader-election' });
    while (!signal.aborted) {
      if (demand && !demand.wanted()) {
        log.info({ reason: 'idle' }, 'nothing to do: not campaigning (watching only)');
        const why = await demand.waitForWork(signal);
        if (signal.aborted) break;
        log.info({ reason: 'work', why }, 'work to do: campaigning');
      }
      let acquired = false;
      try {
        acquired = await this.tryAcquireOrRenew(signal);
      } catch (err) {
        // Two replicas woken by the same watch event race for a released Lease: one write wins, the other
        // conflicts and finds the winner on its next look.
        if (!signal.aborted && classify(err) !== 'conflict')
          log.warn({ reason: 'lease-error', err: (err as Error).message }, 'lease call failed');
      }
      if (!acquired) {
        await sleep(this.cfg.retryPeriodMs, signal);
        continue;
      }
      const term = new AbortController();
      this.leading = term;
      log.info({ reason: 'acquired', identity: this.cfg.identity }, 'became the leader');
      onLead(term.signal);
      let lastRenew = Date.now();
      let idleSince: number | undefined;
      let idle = false;
      while (!signal.aborted && !term.signal.aborted) {
        await sleep(this.cfg.retryPeriodMs, signal);
        if (signal.aborted) break;
        if (demand) {
          if (demand.wanted()) idleSince = undefined;
          else {
            idleSince ??= Date.now();
            if (Date.now() - idleSince >= demand.idleReleaseMs) {
              idle = true;
              break;
            }
          }
        }
        try {
          if (await this.tryAcquireOrRenew(term.signal)) lastRenew = Date.now();
          else break;
        } catch (err) {
          log.warn({ reason: 'renew-failed', err: (err as Error).message }, 'lease renewal failed');
        }
        if (Date.now() - lastRenew > this.cfg.renewDeadlineMs) break;
      }
      // The term ends before the Lease is given up: nothing this replica does outlives its leadership.
      term.abort();
      this.leading = undefined;
      if (idle) {
        await this.release();
        log.info({ reason: 'idle' }, 'released the leadership: nothing to do');
      } else if (!signal.aborted) log.warn({ reason: 'lost' }, 'lost the leadership; stopped acting');
    }
  }

  /** On a clean shutdown: hand the lease over at once instead of making the other replica wait it out. */
  async release(): Promise<void> {
    const l = this.lease;
    if (!l) return;
    this.lease = undefined;
    try {
      const current = await this.leases.get(this.cfg.name);
      if (current?.spec.holderIdentity !== this.cfg.identity) return;
      await this.leases.replace({
        metadata: current.metadata,
        spec: {
          ...current.spec,
          holderIdentity: '',
          leaseDurationSeconds: 1,
          renewTime: microTime(new Date()),
        },
      });
    } catch {
      // the lease expires on its own
    }
  }
}
