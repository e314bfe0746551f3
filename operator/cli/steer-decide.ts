// What each of the SRE's write commands changes, decided from the object as it is now: pure, so that "twice is
// once" (idempotence), "nothing to do says so" and every refusal are unit-tested without a cluster. steer.ts does
// the reading and the one write.
import { truthy } from '../domain/node.ts';
import { Annotations, Leases } from '../protocol.ts';
import type { SteerCommand } from './steer-commands.ts';

/** Event reasons of the write commands (on the lock Lease or on the Node). */
export const SteerEventReasons: Record<SteerCommand, string> = {
  pause: 'RolloutPaused',
  resume: 'RolloutResumed',
  request: 'RebootRequested',
  cancel: 'RebootRequestCancelled',
  exclude: 'NodeExcluded',
  include: 'NodeIncluded',
  'clear-halt': 'HaltCleared',
};

export interface Current {
  /** The object's annotations; undefined when the object does not exist (only the lock may be absent). */
  annotations: Record<string, string> | undefined;
  /** A node's rollout phase, when it has one. */
  phase?: string;
}

export interface Who {
  user: string;
  reason?: string;
  now: number;
}

export interface Decision {
  /** Annotations to merge (null removes); absent when there is nothing to change. */
  patch?: Record<string, string | null>;
  /** The lock Lease does not exist yet: create it carrying `patch`. */
  create?: boolean;
  /** One line for the person: what changed, or why nothing did. */
  say: string;
  /** Said on stderr after the change (a consequence worth knowing, not an error). */
  note?: string;
  /** The note of the Event that records the change (who and why). */
  event?: string;
  /** The key is the controller's alone: written through the break-glass group (controller-keys-policy.yaml). */
  breakGlass?: boolean;
}

const stamp = (w: Who) => `by ${w.user} at ${new Date(w.now).toISOString()}`;
const why = (w: Who) => (w.reason ? `: ${w.reason}` : '');

/** The command's effect on the lock Lease (pause, resume, clear-halt). */
export function decideLock(cmd: 'pause' | 'resume' | 'clear-halt', cur: Current, w: Who): Decision {
  const a = cur.annotations ?? {};
  const lock = `lease ${Leases.lock}`;
  switch (cmd) {
    case 'pause': {
      if (a[Annotations.paused]) return { say: `already paused: ${a[Annotations.paused]}; nothing changed` };
      const value = `${w.reason ?? ''} (${stamp(w)})`;
      return {
        patch: { [Annotations.paused]: value },
        create: cur.annotations === undefined,
        say: `paused: no new reboot starts until \`kreboot resume\` (${Annotations.paused} on ${lock})`,
        note: 'nodes already in progress finish their reboot',
        event: `paused ${stamp(w)}${why(w)}`,
      };
    }
    case 'resume':
      if (!a[Annotations.paused]) return { say: 'not paused; nothing changed' };
      return {
        patch: { [Annotations.paused]: null },
        say: `resumed: new reboots may start (was paused: ${a[Annotations.paused]})`,
        event: `resumed ${stamp(w)}${why(w)}; was paused: ${a[Annotations.paused]}`,
      };
    case 'clear-halt':
      if (!a[Annotations.halted]) return { say: 'not halted; nothing changed' };
      return {
        patch: { [Annotations.halted]: null },
        say: `halt cleared: the rollout goes on (it had halted: ${a[Annotations.halted]})`,
        event: `halt cleared ${stamp(w)}${why(w)}; it had halted: ${a[Annotations.halted]}`,
        breakGlass: true,
      };
  }
}

/** The command's effect on one Node (request, cancel, exclude, include). */
export function decideNode(
  cmd: 'request' | 'cancel' | 'exclude' | 'include',
  node: string,
  cur: Current,
  w: Who,
  /** request --outside-window: the node may start outside its MaintenanceWindows (this one reboot). */
  outsideWindow = false,
): Decision {
  const a = cur.annotations ?? {};
  const outside = truthy(a[Annotations.outsideWindow]);
  // Read as the agent and the controller read them (domain/node.ts): any value but "" and "false" counts.
  const requested = truthy(a[Annotations.rebootRequested]);
  const excluded = truthy(a[Annotations.exclude]);
  const inFlight = cur.phase ? `${node} is already in phase ${cur.phase}` : undefined;
  switch (cmd) {
    case 'request':
      if (requested && (outside || !outsideWindow))
        return {
          say: `${node}: reboot already requested (${a[Annotations.rebootRequested]})${outside ? ', outside its windows' : ''}; nothing changed`,
        };
      return {
        patch: {
          ...(requested ? {} : { [Annotations.rebootRequested]: `${stamp(w)}${why(w)}` }),
          ...(outsideWindow && !outside ? { [Annotations.outsideWindow]: `${stamp(w)}${why(w)}` } : {}),
        },
        say: outsideWindow
          ? `${node}: reboot requested outside its maintenance windows (budgets and alerts still apply); the controller schedules it now`
          : `${node}: reboot requested; its agent reports RebootRequired and the controller schedules it`,
        note: excluded
          ? `${node} is excluded (${Annotations.exclude}=true): it will not reboot until \`kreboot include ${node}\``
          : undefined,
        event: `reboot requested${outsideWindow ? ' outside the maintenance windows' : ''} ${stamp(w)}${why(w)}`,
      };
    case 'cancel':
      if (!requested && !outside) return { say: `${node}: no reboot request to cancel; nothing changed` };
      return {
        patch: { [Annotations.rebootRequested]: null, [Annotations.outsideWindow]: null },
        say: `${node}: reboot request withdrawn`,
        note: inFlight
          ? `${inFlight}: a reboot that has started finishes (kreboot never abandons a node mid-reboot)`
          : `${node} still reboots if its sentinel says so`,
        event: `reboot request withdrawn ${stamp(w)}${why(w)}`,
      };
    case 'exclude':
      if (excluded) return { say: `${node}: already excluded; nothing changed` };
      return {
        patch: { [Annotations.exclude]: 'true' },
        say: `${node}: excluded: kreboot will not reboot it until \`kreboot include ${node}\``,
        note: inFlight ? `${inFlight}: that reboot finishes; the exclusion holds from then on` : undefined,
        event: `excluded ${stamp(w)}${why(w)}`,
      };
    case 'include':
      if (!excluded) return { say: `${node}: not excluded; nothing changed` };
      return {
        patch: { [Annotations.exclude]: null },
        say: `${node}: included again: it reboots when it needs to`,
        event: `included again ${stamp(w)}${why(w)}`,
      };
  }
}

/** The annotations after a merge patch: what a second run of the same command sees. */
export function applied(cur: Current, d: Decision): Current {
  if (!d.patch) return cur;
  const next: Record<string, string> = { ...(cur.annotations ?? {}) };
  for (const [k, v] of Object.entries(d.patch)) {
    if (v === null) delete next[k];
    else next[k] = v;
  }
  return { ...cur, annotations: next };
}
