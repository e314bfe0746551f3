// `kreboot migrate-kured --apply`: the switch from kured to kreboot, made so that no node is rebooted twice and
// none is left cordoned. Named steps, each safe to run again after an interruption:
//   1. wait  — kured has a node in flight: wait until it is done (or, with --adopt, go on: kreboot takes it over);
//   2. hold  — take every free place in kured's own lock (compare-and-swap on its DaemonSet), so kured starts no
//              other node from here on;
//   3. retire — scale kured to no nodes (a nodeSelector no node has; reversible) or delete it (--delete-kured), and
//              wait until its pods are gone;
//   4. adopt — with --adopt: each node kured held becomes an entry in kreboot's lock, marked as adopted with its
//              state before kured cordoned it; kreboot's controller reboots it if it still needs it (or only
//              uncordons it if kured already had) and uncordons it. Written through the break-glass group: the lock
//              entries are the controller's keys.
import { ApiError, type KubeHttp } from '../../kube/http.ts';
import { Annotations, Leases } from '../../protocol.ts';
import { sleep } from '../../util/sleep.ts';
import { breakGlass, whoAmI } from '../identity.ts';
import { type KuredHolder, MIGRATION_HOLDER, parseKuredLock, takeKuredLock } from './kured-lock.ts';

export const RETIRED_LABEL = 'kreboot.io/kured-retired';

export interface ApplyOptions {
  kuredNamespace: string;
  kuredName: string;
  lockAnnotation: string;
  /** kreboot's namespace, where its lock lives. */
  namespace: string;
  adopt: boolean;
  deleteKured: boolean;
  waitTimeoutMs: number;
  pollMs?: number;
  now?: () => number;
}

interface DaemonSet {
  metadata: {
    name: string;
    namespace: string;
    resourceVersion?: string;
    annotations?: Record<string, string>;
  };
  spec: {
    selector: { matchLabels?: Record<string, string> };
    template: { spec: { nodeSelector?: Record<string, string> } };
  };
}

interface Lease {
  metadata: { name: string; resourceVersion?: string; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
}

const dsPath = (o: ApplyOptions) => `/apis/apps/v1/namespaces/${o.kuredNamespace}/daemonsets/${o.kuredName}`;

async function readKured(http: KubeHttp, o: ApplyOptions): Promise<DaemonSet | undefined> {
  try {
    return await http.request<DaemonSet>(dsPath(o));
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return undefined;
    throw err;
  }
}

export async function applySwitch(
  http: KubeHttp,
  o: ApplyOptions,
  say: (line: string) => void,
): Promise<void> {
  const now = o.now ?? Date.now;
  const poll = o.pollMs ?? 2000;
  let ds = await readKured(http, o);
  if (!ds) {
    say(`kured: no DaemonSet ${o.kuredNamespace}/${o.kuredName} (already deleted?): nothing to retire`);
    return;
  }
  // 1–2. Wait (unless adopting), then hold kured's lock: compare-and-swap, re-read on a conflict.
  const deadline = now() + o.waitTimeoutMs;
  let held: KuredHolder[] = [];
  for (;;) {
    const lock = parseKuredLock(ds.metadata.annotations?.[o.lockAnnotation], now());
    if (lock.holders.length && !o.adopt) {
      const who = lock.holders
        .map((h) => `${h.node} (since ${new Date(h.created).toISOString()})`)
        .join(', ');
      if (now() > deadline)
        throw new Error(
          `kured still holds its lock on ${who} after ${o.waitTimeoutMs / 1000}s: run again later, or with --adopt to have kreboot finish it`,
        );
      say(`kured is rebooting ${who}: waiting for it to finish (--adopt hands it to kreboot instead)`);
      await sleep(poll);
      ds = (await readKured(http, o)) ?? ds;
      continue;
    }
    held = lock.holders;
    if (lock.ours && !lock.holders.length) break;
    try {
      await http.request(dsPath(o), {
        method: 'PATCH',
        contentType: 'application/merge-patch+json',
        body: {
          metadata: {
            resourceVersion: ds.metadata.resourceVersion,
            annotations: { [o.lockAnnotation]: takeKuredLock(lock, held, now()) },
          },
        },
      });
      say(
        `kured: its lock ${o.lockAnnotation} is held for ${MIGRATION_HOLDER}${held.length ? ` (with ${held.map((h) => h.node).join(', ')})` : ''}: kured starts no other node`,
      );
      break;
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 409)) throw err;
      ds = (await readKured(http, o)) ?? ds;
    }
  }

  // 3. Retire kured and wait for its pods to go.
  if (o.deleteKured) {
    await http.request(dsPath(o), { method: 'DELETE' }).catch((err) => {
      if (!(err instanceof ApiError && err.status === 404)) throw err;
    });
    say(`kured: DaemonSet ${o.kuredNamespace}/${o.kuredName} deleted`);
  } else if (ds.spec.template.spec.nodeSelector?.[RETIRED_LABEL] !== 'true') {
    await http.request(dsPath(o), {
      method: 'PATCH',
      contentType: 'application/merge-patch+json',
      body: { spec: { template: { spec: { nodeSelector: { [RETIRED_LABEL]: 'true' } } } } },
    });
    say(
      `kured: scaled to no nodes (nodeSelector ${RETIRED_LABEL}=true; remove it to bring kured back, or delete the DaemonSet)`,
    );
  }
  const selector = Object.entries(ds.spec.selector.matchLabels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  for (;;) {
    const q = new URLSearchParams({ labelSelector: selector });
    const pods = await http.request<{ items: unknown[] }>(`/api/v1/namespaces/${o.kuredNamespace}/pods?${q}`);
    if (pods.items.length === 0) break;
    if (now() > deadline + o.waitTimeoutMs)
      throw new Error(
        `kured: ${pods.items.length} pod(s) still running after the DaemonSet was retired; check them`,
      );
    await sleep(Math.min(poll, 1000));
  }
  say('kured: no pod left');

  // 4. Adopt what kured held.
  if (!o.adopt || held.length === 0) return;
  const me = await whoAmI(http);
  const headers = breakGlass(me);
  const leasePath = `/apis/coordination.k8s.io/v1/namespaces/${o.namespace}/leases`;
  for (let attempt = 0; ; attempt++) {
    let lease: Lease | undefined;
    try {
      lease = await http.request<Lease>(`${leasePath}/${Leases.lock}`);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) throw err;
    }
    const entries = JSON.parse(lease?.metadata.annotations?.[Annotations.lockEntries] || '[]') as Array<{
      node: string;
    }>;
    const adopted = [];
    for (const h of held) {
      if (entries.some((e) => e.node === h.node)) continue;
      const node = await http
        .request<{ metadata: { uid: string } }>(`/api/v1/nodes/${h.node}`)
        .catch((err) => (err instanceof ApiError && err.status === 404 ? undefined : Promise.reject(err)));
      if (!node) {
        say(`adopt: node ${h.node} no longer exists: nothing to take over`);
        continue;
      }
      adopted.push({
        node: h.node,
        uid: node.metadata.uid,
        since: new Date(now()).toISOString(),
        holder: MIGRATION_HOLDER,
        adopted: { from: 'kured', wasUnschedulable: h.wasUnschedulable },
      });
    }
    if (adopted.length === 0) return;
    const annotations = { [Annotations.lockEntries]: JSON.stringify([...entries, ...adopted]) };
    try {
      if (lease)
        await http.request(`${leasePath}/${Leases.lock}`, {
          method: 'PATCH',
          contentType: 'application/merge-patch+json',
          headers,
          body: { metadata: { resourceVersion: lease.metadata.resourceVersion, annotations } },
        });
      else
        await http.request(leasePath, {
          method: 'POST',
          headers,
          body: {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name: Leases.lock, namespace: o.namespace, annotations },
            spec: {},
          },
        });
    } catch (err) {
      if (err instanceof ApiError && err.status === 409 && attempt < 10) continue;
      if (err instanceof ApiError && err.status === 404)
        throw new Error(
          `adopt: kreboot's namespace ${o.namespace} does not exist: install kreboot first (crds/ and deploy/base, or the chart)`,
        );
      throw err;
    }
    for (const a of adopted)
      say(
        `adopt: ${a.node} is kreboot's now (lease ${o.namespace}/${Leases.lock}): its controller reboots it if it still needs it and uncordons it${a.adopted.wasUnschedulable ? ' (no: it was cordoned before kured, and stays so)' : ''}`,
      );
    return;
  }
}
