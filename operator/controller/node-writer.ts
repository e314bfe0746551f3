// The controller's writes to Node objects, behind a small interface: the actions and repairs say what to write,
// this says how (a compare-and-swap merge patch under kreboot's field manager). Tests wrap it to record writes.
import type { Logger } from 'pino';
import { CONTROLLER_FIELD_MANAGER, type NodeView, type Taint } from '../domain/node.ts';
import type { KubeHttp } from '../kube/http.ts';
import { ControllerConditions } from '../protocol.ts';
import { writing } from './write-error.ts';

export type AnnotationPatch = Record<string, string | null>;

/** What else one node write may carry: labels to merge (null deletes), the whole taint list to set. */
export interface NodeExtras {
  labels?: Record<string, string | null>;
  taints?: Taint[];
}

export interface NodeWriter {
  /** Merge-patches annotations (null deletes) and, when given, spec.unschedulable; fails with 409 if stale. */
  patch(
    n: NodeView,
    annotations: AnnotationPatch,
    unschedulable: boolean | undefined,
    term: AbortSignal,
    extras?: NodeExtras,
  ): Promise<void>;
  /** Sets kreboot's KrebootRebootFailed condition (best effort: a failure is logged, not thrown). */
  setFailed(
    n: NodeView,
    status: 'True' | 'False',
    reason: string,
    message: string,
    term: AbortSignal,
  ): Promise<void>;
}

export class ApiNodeWriter implements NodeWriter {
  constructor(
    private readonly http: KubeHttp,
    /** The resourceVersion the controller's decision was made on (from its cache). */
    private readonly resourceVersionOf: (node: string) => string | undefined,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  async patch(
    n: NodeView,
    annotations: AnnotationPatch,
    unschedulable: boolean | undefined,
    term: AbortSignal,
    extras: NodeExtras = {},
  ): Promise<void> {
    const body: Record<string, unknown> = {
      metadata: {
        resourceVersion: this.resourceVersionOf(n.name),
        annotations,
        ...(extras.labels && Object.keys(extras.labels).length ? { labels: extras.labels } : {}),
      },
    };
    // A merge patch replaces a list whole: the taints are the node's as observed, changed by one entry; the
    // resourceVersion makes sure nobody else's taint is lost in between.
    const spec = {
      ...(unschedulable !== undefined ? { unschedulable } : {}),
      ...(extras.taints ? { taints: extras.taints } : {}),
    };
    if (Object.keys(spec).length) body.spec = spec;
    // The resourceVersion makes this a compare-and-swap: a node changed since we looked is re-planned, not
    // overwritten. The field manager marks kreboot's own writes in managedFields (how a foreign cordon is told
    // from ours).
    const regarding = { apiVersion: 'v1', kind: 'Node', name: n.name, uid: n.uid };
    await writing(regarding, `patch of node ${n.name}`, () =>
      this.http.request(`/api/v1/nodes/${n.name}?fieldManager=${CONTROLLER_FIELD_MANAGER}`, {
        method: 'PATCH',
        contentType: 'application/merge-patch+json',
        body,
        signal: term,
        timeoutMs: 15_000,
      }),
    );
  }

  async setFailed(
    n: NodeView,
    status: 'True' | 'False',
    reason: string,
    message: string,
    term: AbortSignal,
  ): Promise<void> {
    const at = new Date(this.now()).toISOString();
    const condition = {
      type: ControllerConditions.rebootFailed,
      status,
      reason,
      message,
      lastTransitionTime: at,
      lastHeartbeatTime: at,
    };
    await this.http
      .request(`/api/v1/nodes/${n.name}/status?fieldManager=${CONTROLLER_FIELD_MANAGER}`, {
        method: 'PATCH',
        contentType: 'application/strategic-merge-patch+json',
        body: { status: { conditions: [condition] } },
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
}
