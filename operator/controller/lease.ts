// Lease objects through the small client: read, create, and replace with optimistic concurrency.
import { ApiError, type KubeHttp, type Pool } from '../kube/http.ts';

export interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion?: string;
    annotations?: Record<string, string>;
  };
  spec: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

export class LeaseClient {
  constructor(
    private readonly http: KubeHttp,
    readonly namespace: string,
    /** Leader election uses its own pool: its renewals have a deadline and must not queue behind work. */
    private readonly pool: Pool = 'work',
  ) {}

  private path(name?: string) {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.namespace}/leases${name ? `/${name}` : ''}`;
  }

  async get(name: string, signal?: AbortSignal): Promise<Lease | undefined> {
    try {
      return await this.http.request<Lease>(this.path(name), { signal, timeoutMs: 10_000, pool: this.pool });
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  create(lease: Lease, signal?: AbortSignal): Promise<Lease> {
    return this.http.request<Lease>(this.path(), {
      method: 'POST',
      body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', ...lease },
      signal,
      timeoutMs: 10_000,
      pool: this.pool,
    });
  }

  /** PUT with the lease's resourceVersion: a concurrent change makes this fail with 409. */
  replace(lease: Lease, signal?: AbortSignal): Promise<Lease> {
    return this.http.request<Lease>(this.path(lease.metadata.name), {
      method: 'PUT',
      body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', ...lease },
      signal,
      timeoutMs: 10_000,
      pool: this.pool,
    });
  }
}
