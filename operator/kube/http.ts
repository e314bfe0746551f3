// A minimal Kubernetes HTTP client on node:https: JSON requests and streamed watches.
// Every kreboot command uses it; credentials come from connection.ts (agent) or kubeconfig.ts (controller, CLI).
// Three connection pools (watches, the leader Lease, the rest), a total deadline on every request, and abort
// handling that leaves nothing behind on a long-lived signal.

import type { IncomingMessage } from 'node:http';
import { Agent, request as httpsRequest, type RequestOptions } from 'node:https';
import type { Connection } from './connection.ts';

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    /** From a 429's or 503's Retry-After header. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/**
 * Which connection pool a request uses, so that one kind never queues behind another: long-running watches, the
 * leader Lease (its renewals have a deadline), and everything else.
 */
export type Pool = 'watch' | 'lease' | 'work';

export interface RequestInit {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
  /** Total deadline, connect to last byte (default 30 s; every request has one). */
  timeoutMs?: number;
  pool?: Pool;
  /** Extra request headers, e.g. Impersonate-User and Impersonate-Group (a list: one header line each). */
  headers?: Record<string, string | string[]>;
}

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

const DEFAULT_TIMEOUT_MS = 30_000;

export class KubeHttp {
  private readonly agents: Record<Pool, Agent>;
  private readonly base: URL;
  /** Requests sent (watches included), for benchmarks and the soak test. */
  requests = 0;

  constructor(
    readonly conn: Connection,
    private readonly userAgent = 'kreboot',
    sockets: Partial<Record<Pool, number>> = {},
  ) {
    this.base = new URL(conn.server);
    // Node's Agent lets its own options override a request's: with per-request credentials (authorize) the
    // agents carry no TLS options at all, else the static ones (only those that are set).
    const tls = conn.authorize
      ? {}
      : Object.fromEntries(
          Object.entries({
            ca: conn.ca,
            cert: conn.cert,
            key: conn.key,
            rejectUnauthorized: !conn.insecureSkipTLSVerify,
          }).filter(([, v]) => v !== undefined),
        );
    const agent = (maxSockets: number) => new Agent({ keepAlive: true, maxSockets, ...tls });
    // A watch holds its socket for minutes: each gets its own. The Lease pool is never shared with work.
    this.agents = {
      watch: agent(sockets.watch ?? Number.POSITIVE_INFINITY),
      lease: agent(sockets.lease ?? 2),
      work: agent(sockets.work ?? 8),
    };
  }

  private async options(
    method: string,
    path: string,
    headers: Record<string, string | string[]>,
    pool: Pool,
  ): Promise<RequestOptions> {
    const url = new URL(path, this.base);
    const auth = this.conn.authorize ? await this.conn.authorize() : undefined;
    const token = auth ? undefined : this.conn.token?.();
    return {
      method,
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: url.port || 443,
      path: url.pathname + url.search,
      agent: this.conn.proxyAgent ?? this.agents[pool],
      ...(auth && {
        ca: auth.ca ?? this.conn.ca,
        cert: auth.cert,
        key: auth.key,
        servername: auth.servername,
        rejectUnauthorized: auth.rejectUnauthorized ?? !this.conn.insecureSkipTLSVerify,
        auth: auth.auth,
      }),
      headers: {
        Accept: 'application/json',
        'User-Agent': this.userAgent,
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
        ...(auth?.headers ?? {}),
        ...headers,
      },
    };
  }

  /** One JSON request; non-2xx answers become ApiError with the API's own reason and message. */
  async request<T>(path: string, init: RequestInit = {}): Promise<T> {
    const method = init.method ?? 'GET';
    const payload = init.body === undefined ? undefined : JSON.stringify(init.body);
    const headers: Record<string, string | string[]> = { ...init.headers };
    if (payload !== undefined) {
      headers['Content-Type'] = init.contentType ?? 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(payload));
    }
    const timeoutMs = init.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const { res, done } = await this.send(
      method,
      path,
      headers,
      payload,
      init.signal,
      init.pool ?? 'work',
      timeoutMs,
    );
    try {
      const text = await readAll(res);
      const status = res.statusCode ?? 0;
      if (status < 200 || status >= 300) throw toApiError(status, text, res.headers['retry-after']);
      return (text ? JSON.parse(text) : undefined) as T;
    } finally {
      done();
    }
  }

  /**
   * Sends one request. The abort listener and the deadline timer are removed when the request closes (so a
   * long-lived signal, such as a leader's term, collects nothing however many requests it carries); `done` also
   * removes them, for callers that stop reading early.
   */
  private async send(
    method: string,
    path: string,
    headers: Record<string, string | string[]>,
    payload: string | undefined,
    signal: AbortSignal | undefined,
    pool: Pool,
    deadlineMs: number | undefined,
  ): Promise<{ res: IncomingMessage; done: () => void }> {
    if (signal?.aborted) throw new Error('aborted');
    const options = await this.options(method, path, headers, pool);
    this.requests++;
    return new Promise((resolve, reject) => {
      const req = httpsRequest(options);
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => req.destroy(new Error('aborted'));
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      req.once('close', done);
      if (deadlineMs)
        timer = setTimeout(
          () => req.destroy(new Error(`${method} ${path}: no complete answer in ${deadlineMs} ms`)),
          deadlineMs,
        );
      signal?.addEventListener('abort', onAbort, { once: true });
      req.once('response', (res) => resolve({ res, done }));
      req.on('error', (err) => {
        done();
        reject(err);
      });
      req.end(payload);
    });
  }

  /**
   * Streams a watch. Resolves when the server ends the stream (a normal timeout) and rejects on errors.
   * Events are handed over in order; `onEvent` may be async and is awaited before the next one.
   */
  async watch<T>(
    path: string,
    onEvent: (ev: WatchEvent<T>) => void | Promise<void>,
    opts: { signal?: AbortSignal; onData?: () => void } = {},
  ): Promise<void> {
    const { res, done } = await this.send('GET', path, {}, undefined, opts.signal, 'watch', undefined);
    try {
      const status = res.statusCode ?? 0;
      if (status !== 200) throw toApiError(status, await readAll(res), res.headers['retry-after']);
      res.setEncoding('utf8');
      let buf = '';
      for await (const chunk of res as AsyncIterable<string>) {
        opts.onData?.();
        buf += chunk;
        let nl = buf.indexOf('\n');
        while (nl !== -1) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line) await onEvent(JSON.parse(line) as WatchEvent<T>);
          nl = buf.indexOf('\n');
        }
      }
    } finally {
      done();
    }
  }

  close(): void {
    for (const a of Object.values(this.agents)) a.destroy();
  }
}

async function readAll(res: IncomingMessage): Promise<string> {
  res.setEncoding('utf8');
  let text = '';
  for await (const chunk of res as AsyncIterable<string>) text += chunk;
  return text;
}

/** Retry-After in seconds (the API server's form) or an HTTP date. */
export function retryAfterMs(header: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(header) ? header[0] : header;
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

function toApiError(status: number, text: string, retryAfter?: string | string[]): ApiError {
  const after = retryAfterMs(retryAfter);
  try {
    const s = JSON.parse(text) as { reason?: string; message?: string };
    return new ApiError(status, s.reason ?? String(status), s.message ?? text, after);
  } catch {
    return new ApiError(status, String(status), text.slice(0, 500) || `HTTP ${status}`, after);
  }
}
