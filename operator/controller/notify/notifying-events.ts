// Notifications ride on the controller's Events: the steps already say what happened to which node, once, on the
// leader. This EventSink passes every Event on and, for the few a person wants pushed to them (a reboot started or
// done, a node that failed, a halted rollout), hands a notification to the Notifier, which never blocks.
import type { EventSink, Regarding } from '../events.ts';
import type { Notifier } from './notifier.ts';
import type { RolloutEvent } from './targets.ts';

const KIND_OF: Record<string, RolloutEvent['kind']> = {
  Cordoned: 'started',
  Rebooted: 'rebooted',
  DrainTimeout: 'failed',
  DrainForced: 'failed',
  RolloutHalted: 'halted',
};

const SAYS: Record<RolloutEvent['kind'], (node: string, note: string) => string> = {
  started: (node, note) => `Reboot of node ${node} started: ${note}`,
  rebooted: (node, note) => `Node ${node} ${note}`,
  failed: (node, note) => `Reboot of node ${node} failed: ${note}`,
  halted: (node, note) => `Rollout HALTED at node ${node}: ${note}`,
  blocked: (node, note) => `Node ${node} is blocked: ${note}`,
};

export class NotifyingEventSink implements EventSink {
  constructor(
    private readonly inner: EventSink,
    private readonly notifier: Notifier,
    private readonly cluster?: string,
    private readonly now: () => number = Date.now,
  ) {}

  emit(
    node: { name: string; uid: string; bootId?: string },
    type: 'Normal' | 'Warning',
    reason: string,
    note: string,
  ): void {
    this.inner.emit(node, type, reason, note);
    const kind = KIND_OF[reason];
    if (kind) this.send(kind, node.name, note);
  }

  emitFor(regarding: Regarding, type: 'Normal' | 'Warning', reason: string, note: string): void {
    this.inner.emitFor(regarding, type, reason, note);
  }

  /** A node waiting (not for its turn) longer than --notify-blocked-after: from the reporter. */
  blocked(node: string, note: string): void {
    this.send('blocked', node, note);
  }

  private send(kind: RolloutEvent['kind'], node: string, note: string): void {
    this.notifier.notify({
      kind,
      node,
      message: SAYS[kind](node, note),
      time: this.now(),
      ...(this.cluster ? { cluster: this.cluster } : {}),
    });
  }
}
