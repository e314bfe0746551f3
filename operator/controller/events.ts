// events.k8s.io/v1 Events about a Node, so `kubectl describe node` and `kubectl events` show each step.
import type { Logger } from 'pino';
import type { NodeView } from '../domain/node.ts';
import type { KubeHttp } from '../kube/http.ts';
import { microTime } from '../kube/time.ts';

export interface Regarding {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
}

export interface EventSink {
  emit(node: Pick<NodeView, 'name' | 'uid'>, type: 'Normal' | 'Warning', reason: string, note: string): void;
  emitFor(regarding: Regarding, type: 'Normal' | 'Warning', reason: string, note: string): void;
}

export class ApiEventSink implements EventSink {
  constructor(
    private readonly http: KubeHttp,
    private readonly instance: string,
    private readonly log: Logger,
  ) {}

  emit(node: Pick<NodeView, 'name' | 'uid'>, type: 'Normal' | 'Warning', reason: string, note: string): void {
    this.emitFor({ apiVersion: 'v1', kind: 'Node', name: node.name, uid: node.uid }, type, reason, note);
  }

  emitFor(regarding: Regarding, type: 'Normal' | 'Warning', reason: string, note: string): void {
    const node = regarding;
    const now = new Date();
    const body = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      // Node events live in "default", where kubectl describe node looks for them.
      metadata: { generateName: `${node.name}.kreboot-`, namespace: 'default' },
      eventTime: microTime(now),
      reportingController: 'kreboot.io/controller',
      reportingInstance: this.instance,
      action: reason,
      reason,
      type,
      note: note.slice(0, 1024),
      regarding,
    };
    this.http
      .request('/apis/events.k8s.io/v1/namespaces/default/events', {
        method: 'POST',
        body,
        timeoutMs: 10_000,
      })
      .catch((err: Error) =>
        this.log.warn(
          { node: node.name, reason: 'event-failed', err: err.message },
          'could not record event',
        ),
      );
  }
}
