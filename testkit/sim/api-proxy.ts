// A TLS-terminating proxy in front of the test API server, for tests of how kreboot's client behaves when the API
// server is slow or says no: it forwards every request (token auth only: client certificates end here), counts
// them by method and path, and applies rules that delay some or answer them itself (a 429 with Retry-After).
// It serves the API server's own certificate (same CA, SAN 127.0.0.1), so clients verify it as the API server.
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

export interface ProxyRule {
  match: (r: { method: string; path: string; query: URLSearchParams }) => boolean;
  /** Hold the request this long before forwarding it. */
  delayMs?: number;
  /** Answer it here instead (an API Status object is built from `reason` and `message`). */
  respond?: { status: number; reason: string; message: string; headers?: Record<string, string> };
}

export interface ProxiedRequest {
  method: string;
  path: string;
  watch: boolean;
  at: number;
  /** Time to the response's headers (ms), including any delay applied. */
  ms?: number;
  status?: number;
}

export class ApiProxy {
  rules: ProxyRule[] = [];
  readonly requests: ProxiedRequest[] = [];
  /** Watch streams open through the proxy now. */
  openWatches = 0;
  private server: Server | undefined;
  private readonly ca: Buffer;
  port = 0;

  constructor(
    private readonly upstream: string,
    private readonly pki: string,
  ) {
    this.ca = readFileSync(join(pki, 'ca.crt'));
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  /** Requests whose method and path (no query) match. */
  count(method: string, path: RegExp): number {
    return this.requests.filter((r) => r.method === method && path.test(r.path)).length;
  }

  async start(): Promise<this> {
    this.server = createServer(
      {
        cert: readFileSync(join(this.pki, 'apiserver.crt')),
        key: readFileSync(join(this.pki, 'apiserver.key')),
      },
      (req, res) => void this.handle(req, res),
    );
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://x');
    const method = req.method ?? 'GET';
    const rec: ProxiedRequest = {
      method,
      path: url.pathname,
      watch: url.searchParams.get('watch') === 'true',
      at: Date.now(),
    };
    this.requests.push(rec);
    const rule = this.rules.find((r) => r.match({ method, path: url.pathname, query: url.searchParams }));
    if (rule?.delayMs) await new Promise((r) => setTimeout(r, rule.delayMs));
    if (rule?.respond) {
      const { status, reason, message, headers } = rule.respond;
      rec.status = status;
      rec.ms = Date.now() - rec.at;
      req.resume();
      res.writeHead(status, { 'Content-Type': 'application/json', ...headers }).end(
        JSON.stringify({
          kind: 'Status',
          apiVersion: 'v1',
          status: 'Failure',
          reason,
          message,
          code: status,
        }),
      );
      return;
    }
    const up = new URL(this.upstream);
    const fwd = request(
      {
        host: up.hostname,
        port: up.port,
        method,
        path: req.url,
        headers: { ...req.headers, host: up.host },
        ca: this.ca,
      },
      (upRes) => {
        rec.status = upRes.statusCode;
        rec.ms = Date.now() - rec.at;
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      },
    );
    fwd.on('error', () => res.destroy());
    if (rec.watch) this.openWatches++;
    res.on('close', () => {
      if (rec.watch) this.openWatches--;
      fwd.destroy();
    });
    req.pipe(fwd);
  }
}
