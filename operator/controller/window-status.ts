// MaintenanceWindow status and validity reports, written by the leader only and only when they changed (no write
// storms): an invalid window gets one Warning Event per generation; status is a merge patch of the whole object.
import type { Logger } from 'pino';
import type { NodeView } from '../domain/node.ts';
import type { KubeHttp } from '../kube/http.ts';
import { MaintenanceWindowResource } from '../protocol.ts';
import {
  desiredStatus,
  type EvaluatedWindow,
  sameStatus,
  type WindowIndex,
  type WindowObject,
} from '../windows/evaluate.ts';
import type { EventSink } from './events.ts';
import { WINDOWS_PATH } from './observe.ts';

export interface WindowsNow {
  objects: WindowObject[];
  evaluated: EvaluatedWindow[];
  index: WindowIndex;
}

export class WindowStatusWriter {
  private readonly invalidReported = new Set<string>();

  constructor(
    private readonly http: KubeHttp,
    private readonly events: EventSink,
    private readonly log: Logger,
  ) {}

  async write(
    w: WindowsNow,
    views: NodeView[],
    locked: ReadonlySet<string>,
    now: number,
    term: AbortSignal,
  ): Promise<void> {
    for (const [i, obj] of w.objects.entries()) {
      const ev = w.evaluated[i]!;
      if (!ev.valid) this.reportInvalid(ev);
      const status = desiredStatus(obj, ev, w.index, views, locked, now);
      if (sameStatus(obj.status, status)) continue;
      // Replacing whole fields: a merge patch with the full status object, absent windows as null.
      const body = {
        status: {
          ...status,
          currentWindow: status.currentWindow ?? null,
          nextWindow: status.nextWindow ?? null,
        },
      };
      try {
        await this.http.request(`${WINDOWS_PATH}/${ev.name}/status`, {
          method: 'PATCH',
          contentType: 'application/merge-patch+json',
          body,
          signal: term,
          timeoutMs: 15_000,
        });
      } catch (err) {
        if (!term.aborted)
          this.log.warn(
            { window: ev.name, reason: 'status-failed', err: (err as Error).message },
            'could not write window status',
          );
      }
    }
  }

  private reportInvalid(w: EvaluatedWindow): void {
    const id = `${w.name}/${w.generation}`;
    if (this.invalidReported.has(id)) return;
    this.invalidReported.add(id);
    this.log.warn(
      { window: w.name, reason: 'invalid-window', err: w.invalidReason },
      'MaintenanceWindow is invalid; its nodes are blocked',
    );
    const r = MaintenanceWindowResource;
    this.events.emitFor(
      { apiVersion: `${r.group}/${r.version}`, kind: r.kind, name: w.name, uid: w.uid ?? '' },
      'Warning',
      'InvalidWindow',
      `${w.invalidReason}; the nodes it selects will not be rebooted until it is fixed`,
    );
  }
}
