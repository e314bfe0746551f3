// A minimal Kubernetes HTTP client on node:https: JSON requests and streamed watches.
// The agent uses only this (not the generated client) to stay within its memory budget; see ARCHITECTURE.md.

import type { IncomingMessage } from 'node:http';
import { Agent, request as httpsRequest, type RequestOptions } from 'node:https';
import type { Connection } from './connection.ts';

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export interface RequestInit {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export class KubeHttp {
  private readonly agent: Agent;
  private readonly base: URL;

  constructor(
    readonly conn: Connection,
    private readonly userAgent = 'kreboot',
  ) {
    this.base = new URL(conn.server);
    this.agent = new Agent({
      keepAlive: true,
      maxSockets: 4,
      ca: conn.ca,
      cert: conn.cert,
      key: conn.key,
      rejectUnauthorized: !conn.insecureSkipTLSVerify,
    });
  }

  private options(method: string, path: string, headers: Record<string, string>): RequestOptions {
    const token = this.conn.token?.();
    const url = new URL(path, this.base);
    return {
      method,
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: url.port || 443,
      path: url.pathname + url.search,
      agent: this.agent,
      headers: {
        Accept: 'application/json',
        'User-Agent': this.userAgent,
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
        ...headers,
      },
    };
  }

  /** One JSON request; non-2xx answers become ApiError with the API's own reason and message. */
  async request<T>(path: string, init: RequestInit = {}): Promise<T> {
    const method = init.method ?? 'GET';
    const payload = init.body === undefined ? undefined : JSON.stringify(init.body);
    const headers: Record<string, string> = {};
    if (payload !== undefined) {
      headers['Content-Type'] = init.contentType ?? 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(payload));
    }
    const res = await this.send(method, path, headers, payload, init);
    const text = await readAll(res);
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) throw toApiError(status, text);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  private send(
    method: string,
    path: string,
    headers: Record<string, string>,
    payload: string | undefined,
    init: { signal?: AbortSignal; timeoutMs?: number },
  ): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest(this.options(method, path, headers), resolve);
      if (init.timeoutMs) {
        req.setTimeout(init.timeoutMs, () =>
          req.destroy(new Error(`${method} ${path}: no answer in ${init.timeoutMs} ms`)),
        );
      }
      if (init.signal) {
        if (init.signal.aborted) return req.destroy(new Error('aborted'));
        init.signal.addEventListener('abort', () => req.destroy(new Error('aborted')), { once: true });
      }
      req.on('error', reject);
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
    const res = await this.send('GET', path, {}, undefined, { signal: opts.signal });
    const status = res.statusCode ?? 0;
    if (status !== 200) throw toApiError(status, await readAll(res));
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
  }

  close(): void {
    this.agent.destroy();
  }
}

async function readAll(res: IncomingMessage): Promise<string> {
  res.setEncoding('utf8');
  let text = '';
  for await (const chunk of res as AsyncIterable<string>) text += chunk;
  return text;
}

function toApiError(status: number, text: string): ApiError {
  try {
    const s = JSON.parse(text) as { reason?: string; message?: string };
    return new ApiError(status, s.reason ?? String(status), s.message ?? text);
  } catch {
    return new ApiError(status, String(status), text.slice(0, 500) || `HTTP ${status}`);
  }
}
