// What every long-running kreboot command shares: the API connection, the metrics/health server, the
// common flags, and waiting for SIGTERM.
import { createServer, type Server } from 'node:http';
import { int, oneOf, text } from '../config/flags.ts';
import { ConfigError, type OptionSpecs } from '../config/options.ts';
import { type Connection, loadConnection } from '../kube/connection.ts';

export function commonOptions(defaultPort: number) {
  return {
    metricsPort: {
      flag: 'metrics-port',
      help: `port for /metrics, /healthz and /readyz (default ${defaultPort}; 0 disables)`,
      schema: int({ min: 0, max: 65535 }).default(defaultPort),
      example: String(defaultPort),
    },
    metricsAddress: {
      flag: 'metrics-address',
      help: 'address the metrics server listens on (default 0.0.0.0)',
      schema: text().default('0.0.0.0'),
      example: '127.0.0.1',
    },
    kubeconfig: {
      flag: 'kubeconfig',
      help: 'kubeconfig file (default: in-cluster service account, then $KUBECONFIG, then ~/.kube/config)',
      schema: text().optional(),
      example: '/etc/kreboot/kubeconfig',
    },
    logLevel: {
      flag: 'log-level',
      help: 'debug, info, warn or error (default info)',
      schema: oneOf(['debug', 'info', 'warn', 'error'], 'must be debug, info, warn or error').default('info'),
      example: 'info',
    },
    logFormat: {
      flag: 'log-format',
      help: 'json (one JSON object per line, default) or text (logfmt, as kured writes: time="…" level=info msg="…")',
      schema: oneOf(['json', 'text'], 'must be "json" or "text"').default('json'),
      example: 'text',
    },
  } satisfies OptionSpecs;
}

export async function connect(kubeconfig: string | undefined): Promise<Connection> {
  try {
    return await loadConnection({ kubeconfig });
  } catch (err) {
    throw new ConfigError([`--kubeconfig: ${(err as Error).message}`]);
  }
}

export interface Endpoints {
  metrics: () => Promise<{ contentType: string; body: string }>;
  ready: () => { ok: boolean; why: string };
  /** /healthz: unhealthy only when a restart would help (default: always healthy while serving). */
  live?: () => { ok: boolean; why: string };
}

/** Serves /metrics, /healthz and /readyz; resolves once listening (port 0 = no server). */
export async function serve(port: number, address: string, e: Endpoints): Promise<Server> {
  const server = createServer(async (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      const m = await e.metrics();
      res.writeHead(200, { 'Content-Type': m.contentType }).end(m.body);
    } else if (path === '/healthz') {
      const l = e.live?.() ?? { ok: true, why: 'ok' };
      res.writeHead(l.ok ? 200 : 503).end(`${l.why}\n`);
    } else if (path === '/readyz') {
      const r = e.ready();
      res.writeHead(r.ok ? 200 : 503).end(`${r.why}\n`);
    } else {
      res.writeHead(404).end();
    }
  });
  if (port > 0) {
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) =>
        reject(new ConfigError([`--metrics-port: cannot listen on ${address}:${port}: ${err.message}`])),
      );
      server.listen(port, address, resolve);
    });
  }
  return server;
}

export function stopServer(server: Server): void {
  server.closeAllConnections();
  server.close();
}

export function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
}
