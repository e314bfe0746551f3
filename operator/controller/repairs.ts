// Repairs: inputs the controller cannot trust are reported and neutralised before anything is planned on them.
// Lock entries whose Node is gone, time annotations that are not times, controller keys written by someone else,
// and phases without a lock entry. Each repair is idempotent and announced once (log + Warning Event).
import type { Logger } from 'pino';
import {
  annotationPath,
  CONTROLLER_FIELD_MANAGER,
  describeWriter,
  type NodeView,
  UNSCHEDULABLE_PATH,
  viewOf,
  writerOf,
} from '../domain/node.ts';
import { Annotations } from '../protocol.ts';
import type { Actions } from './actions.ts';
import type { Drains } from './drains.ts';
import type { EventSink } from './events.ts';
import type { ClusterLock, LockEntry } from './lock.ts';
import type { NodeWriter } from './node-writer.ts';
import type { NodeObject, Observer } from './observe.ts';
import type { Pass, Refusal } from './pass.ts';

export interface ForeignWrite {
  n: NodeView;
  clear: Record<string, string | null>;
  notes: string[];
}

export class Repairs {
  /** Invalid time annotations already reported (node/key/value), so each gets one Warning Event. */
  private readonly reportedTimes = new Set<string>();
  /** When this replica first saw a node's phase without a usable phase-since: the phase's age counts from here. */
  private readonly phaseFirstSeen = new Map<string, { phase: string; at: number }>();

  constructor(
    private readonly observer: Observer,
    private readonly lock: ClusterLock,
    private readonly writer: NodeWriter,
    private readonly actions: Actions,
    private readonly drains: Drains,
    private readonly events: EventSink,
    private readonly log: Logger,
  ) {}

  /** Outside nodes already announced in the log (once each, not every pass). */
  private readonly announcedOutside = new Set<string>();

  /**
   * Lock entries follow their Node object. An entry whose Node the cache does not show as the same object joins
   * the pass from the last direct GET (a node that left --node-selector mid-reboot is stepped, counted in the
   * budget and finished like any other); true when every entry is accounted for that way. Entries not accounted
   * for are looked up again by `refreshEntries`, outside the pass.
   */
  accountForEntries(pass: Pass): { complete: boolean; missing: LockEntry[] } {
    const missing = this.lock.state.entries.filter((e) => pass.byName.get(e.node)?.uid !== e.uid);
    let complete = true;
    for (const e of missing) {
      const live = this.observer.outsideNode(e.node);
      if (live?.metadata.uid === e.uid && !pass.byName.has(e.node)) pass.add(viewOf(live, pass.now));
      else complete = false;
    }
    if (!missing.length) this.observer.keepOutside([]);
    return { complete, missing };
  }

  /** A direct GET for each entry: only a 404 or another uid releases it; a live node outside the cache is kept. */
  async refreshEntries(missing: LockEntry[], term: AbortSignal): Promise<void> {
    const gone: LockEntry[] = [];
    const outside: NodeObject[] = [];
    for (const e of missing) {
      const live = await this.observer.fetch(e.node, term);
      if (!live || live.metadata.uid !== e.uid) {
        gone.push(e);
        continue;
      }
      if (this.observer.nodes.get(e.node)?.metadata.uid === e.uid) continue;
      outside.push(live);
      if (!this.announcedOutside.has(e.node)) {
        this.announcedOutside.add(e.node);
        this.log.info(
          { node: e.node, phase: live.metadata.annotations?.[Annotations.phase], reason: 'outside-selector' },
          'node with a lock entry is outside --node-selector; finishing it anyway',
        );
      }
    }
    this.observer.keepOutside(outside);
    for (const n of this.announcedOutside)
      if (!outside.some((o) => o.metadata.name === n)) this.announcedOutside.delete(n);
    if (!gone.length || this.lock.state.corrupt) return;
    await this.lock.remove((e) => gone.some((x) => x.node === e.node && x.uid === e.uid), term);
    for (const e of gone) {
      this.drains.stop(e.node);
      this.log.warn(
        { node: e.node, reason: 'node-deleted' },
        'released the lock entry of a deleted (or replaced) node',
      );
    }
  }

  /** Time annotations must be RFC 3339 and not in the future; a bad one is reported once and counts as absent. */
  checkTimes(pass: Pass): void {
    const live = new Set<string>();
    for (const n of pass.views) {
      for (const [key, why] of Object.entries(n.invalidTimes ?? {})) {
        const id = `${n.name}/${key}/${why}`;
        live.add(id);
        if (this.reportedTimes.has(id)) continue;
        this.reportedTimes.add(id);
        this.log.warn({ node: n.name, phase: n.phase, reason: 'invalid-time', key }, `${key}: ${why}`);
        const effect =
          key === Annotations.phaseSince
            ? 'the phase timeout counts from when the controller first saw it'
            : 'treated as absent';
        const example = new Date(pass.now).toISOString();
        const note = `${key}: ${why}; write an RFC 3339 time no later than now (e.g. ${example}). Ignored; ${effect}`;
        this.events.emit(n, 'Warning', 'InvalidAnnotation', note);
      }
      // A phase without a usable phase-since would never time out: its age counts from when we first saw it.
      if (n.phase !== undefined && n.phaseSince === undefined) {
        const seen = this.phaseFirstSeen.get(n.name);
        if (seen?.phase === n.phase) n.phaseSince = seen.at;
        else {
          this.phaseFirstSeen.set(n.name, { phase: n.phase, at: pass.now });
          n.phaseSince = pass.now;
        }
      } else this.phaseFirstSeen.delete(n.name);
    }
    for (const id of this.reportedTimes) if (!live.has(id)) this.reportedTimes.delete(id);
  }

  /**
   * Keys only the controller writes, written by someone else: a phase that is not a phase, or an approval on a
   * node that is not in an approved phase. Both are cleared (compare-and-swap, `clearForeign`) with a Warning
   * Event naming the field and its writer. The agent refuses such an approval on its own side too.
   */
  foreignWrites(pass: Pass): ForeignWrite[] {
    const finishing = new Set(this.lock.state.entries.filter((e) => e.finishing).map((e) => e.node));
    const found: ForeignWrite[] = [];
    for (const n of pass.views) {
      const approvedPhase = n.phase === 'approved' || n.phase === 'rebooting' || n.phase === 'verifying';
      const badApproval = n.approvedBootId !== undefined && !approvedPhase && !finishing.has(n.name);
      if (n.malformedPhase === undefined && !badApproval) continue;
      const raw = this.observer.raw(n.name) ?? {};
      const clear: Record<string, string | null> = {};
      const notes: string[] = [];
      if (n.malformedPhase !== undefined) {
        clear[Annotations.phase] = null;
        clear[Annotations.phaseSince] = null;
        const writer = describeWriter(writerOf(raw, annotationPath(Annotations.phase)));
        notes.push(
          `${Annotations.phase}=${JSON.stringify(n.malformedPhase)} is not a phase (one of cordoned, draining, approved, rebooting, verifying), written by ${writer}`,
        );
      }
      if (badApproval) {
        clear[Annotations.approvedBootId] = null;
        const writer = describeWriter(writerOf(raw, annotationPath(Annotations.approvedBootId)));
        notes.push(
          `${Annotations.approvedBootId}=${n.approvedBootId} on a node in phase ${n.phase ?? 'none'}, written by ${writer}; only the controller approves, and only a drained node`,
        );
      }
      found.push({ n, clear, notes });
    }
    return found;
  }

  async clearForeign({ n, clear, notes }: ForeignWrite, term: AbortSignal): Promise<void> {
    try {
      await this.writer.patch(n, clear, undefined, term);
    } catch (err) {
      if (term.aborted) return;
      this.log.warn(
        { node: n.name, reason: 'repair-failed', err: (err as Error).message },
        'could not clear',
      );
      return;
    }
    for (const note of notes) {
      this.log.warn({ node: n.name, phase: n.phase, reason: 'foreign-write' }, `${note}; cleared`);
      this.events.emit(n, 'Warning', 'ForeignWriteRefused', `${note}; cleared`);
    }
  }

  /**
   * A node in a phase with no lock entry: the lock was edited or recreated, or someone wrote the phase. Adopted
   * when its reboot is already under way (the agent recorded leaving the approved boot: it must be finished), or
   * when the planner would start it now (budget, pause, halt, exclusion, need, gates): then it restarts from the
   * cordon. Otherwise the phase is cleared, the node uncordoned only if kreboot's controller cordoned it, and a
   * Warning Event names the field, its writer and why.
   */
  async adoptOrRefusePhase(n: NodeView, refusal: Refusal | undefined, term: AbortSignal): Promise<void> {
    const raw = this.observer.raw(n.name) ?? {};
    const writer = describeWriter(writerOf(raw, annotationPath(Annotations.phase)));
    const cordonedByUs =
      n.unschedulable && writerOf(raw, UNSCHEDULABLE_PATH)?.manager === CONTROLLER_FIELD_MANAGER;
    const started = n.approvedBootId !== undefined && n.rebootingFromBootId === n.approvedBootId;
    if (started || !refusal) {
      await this.lock.add([{ node: n.name, uid: n.uid }], term);
      const how = started
        ? 'its reboot is under way; finishing it'
        : 'the planner admits it now; restarting from the cordon';
      const note = `phase ${n.phase} without a lock entry (written by ${writer}); ${how}`;
      this.log.warn({ node: n.name, phase: n.phase, reason: 'lock-entry-restored' }, `node in ${note}`);
      this.events.emit(n, 'Warning', 'LockEntryRestored', note);
      if (started) return;
      // Restart from the cordon, remembering a cordon kreboot did not make.
      const was = n.unschedulable && !(cordonedByUs && !n.wasUnschedulable);
      await this.writer.patch(
        n,
        {
          ...this.actions.phaseChange(n, 'cordoned'),
          [Annotations.wasUnschedulable]: was ? 'true' : null,
          [Annotations.approvedBootId]: null,
        },
        true,
        term,
      );
      return;
    }
    const uncordon = cordonedByUs && !n.wasUnschedulable;
    await this.writer.patch(
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
  }
}
