// A controller leading for 200,000 API requests: its heap and RSS after 10k, 50k, 100k and 200k, which must stay
// flat (a request that leaves a listener on the leader's long-lived signal grows the heap by KiBs per request).
// The cluster is a fast in-process stand-in for the API server (https on loopback): one node that needs a
// reboot but is excluded, so every pass reads the lock and lists PDBs; a MODIFIED event on it every 2 ms drives
// the passes. The controller is the real bundle (`dist/kreboot.mjs controller`); KREBOOT_SOAK_BUNDLE runs another.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Annotations, Conditions } from '../operator/protocol.ts';
import { issueCert, makeCa } from '../testkit/cluster/pki.ts';
import { freePort } from '../testkit/prom/prometheus.ts';
import { KREBOOT_BUNDLE, NODE_BIN } from '../testkit/sim/agent-process.ts';

const CHECKPOINTS = [10_000, 50_000, 100_000, 200_000];

function node(rv: number, flip: boolean) {
  const now = new Date().toISOString();
  return {
    metadata: {
      name: 'soak-0',
      uid: 'u-soak-0',
      resourceVersion: String(rv),
      labels: { flip: String(flip) },
      annotations: { [Annotations.exclude]: 'true', [Annotations.bootId]: 'b1' },
    },
    spec: {},
    status: {
      nodeInfo: { bootID: 'b1' },
      conditions: [
        { type: 'Ready', status: 'True', lastTransitionTime: now },
        {
          type: Conditions.rebootRequired,
          status: 'True',
          reason: 'SentinelFilePresent',
          lastTransitionTime: now,
        },
      ],
    },
  };
}

/** The stand-in API server: counts requests; answers what one leading controller asks. */
async function fakeApi(dir: string) {
  await makeCa(dir, 'ca', '/CN=soak-ca', 2);
  writeFileSync(join(dir, 'serving.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  await issueCert(dir, { name: 'server', subject: '/CN=soak', ca: 'ca', extFile: 'serving.ext', days: 2 });
  let rv = 1000;
  let requests = 0;
  const leases = new Map<string, Record<string, unknown>>();
  const watchers = new Set<ServerResponse>();
  const json = (res: ServerResponse, status: number, body: unknown) =>
    res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
  const server = createServer(
    { cert: readFileSync(join(dir, 'server.crt')), key: readFileSync(join(dir, 'server.key')) },
    (req, res) => {
      requests++;
      const url = new URL(req.url ?? '/', 'https://x');
      const p = url.pathname;
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        const watch = url.searchParams.get('watch') === 'true';
        if (p === '/api/v1/nodes' && watch) {
          res.writeHead(200, { 'Content-Type': 'application/json' });
          watchers.add(res);
          res.on('close', () => watchers.delete(res));
          return;
        }
        if (p === '/api/v1/pods' && watch) {
          res.writeHead(200, { 'Content-Type': 'application/json' });
          return;
        }
        if (p === '/api/v1/nodes')
          return json(res, 200, { metadata: { resourceVersion: String(rv) }, items: [node(rv, false)] });
        if (p === '/api/v1/pods' || p === '/apis/policy/v1/poddisruptionbudgets')
          return json(res, 200, { metadata: { resourceVersion: String(rv) }, items: [] });
        const lease = /^\/apis\/coordination\.k8s\.io\/v1\/namespaces\/soak\/leases(?:\/(.+))?$/.exec(p);
        if (lease) {
          const name = lease[1];
          if (req.method === 'GET')
            return leases.has(name!)
              ? json(res, 200, leases.get(name!))
              : json(res, 404, { reason: 'NotFound', message: 'not found' });
          const obj = JSON.parse(body);
          obj.metadata.resourceVersion = String(++rv);
          obj.metadata.namespace = 'soak';
          leases.set(obj.metadata.name, obj);
          return json(res, req.method === 'POST' ? 201 : 200, obj);
        }
        if (p.includes('/events')) return json(res, 201, {});
        return json(res, 404, { reason: 'NotFound', message: `${p} not served here` });
      });
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  let flip = false;
  const ticker = setInterval(() => {
    flip = !flip;
    const line = `${JSON.stringify({ type: 'MODIFIED', object: node(++rv, flip) })}\n`;
    for (const w of watchers) w.write(line);
  }, 2);
  return {
    port: (server.address() as AddressInfo).port,
    get requests() {
      return requests;
    },
    stop() {
      clearInterval(ticker);
      server.closeAllConnections();
      server.close();
    },
  };
}

/** RSS from /proc (any build), the heap from the controller's /metrics (builds that export it; else NaN). */
async function sample(pid: number, port: number): Promise<{ rss: number; heap: number }> {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rss = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? Number.NaN) * 1024;
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const heap = Number(/^nodejs_heap_size_used_bytes (\S+)$/m.exec(text)?.[1] ?? Number.NaN);
  return { rss, heap };
}

export async function benchClientSoak(): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'kreboot-soak-'));
  const api = await fakeApi(dir);
  const kubeconfig = join(dir, 'kubeconfig.json');
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'c',
          cluster: {
            server: `https://127.0.0.1:${api.port}`,
            'certificate-authority-data': readFileSync(join(dir, 'ca.crt')).toString('base64'),
          },
        },
      ],
      users: [{ name: 'u', user: { token: 'soak' } }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'x',
    }),
  );
  const metricsPort = await freePort();
  const bundle = process.env.KREBOOT_SOAK_BUNDLE ?? KREBOOT_BUNDLE;
  const ctl = spawn(
    NODE_BIN,
    [
      bundle,
      'controller',
      `--kubeconfig=${kubeconfig}`,
      '--namespace=soak',
      `--metrics-port=${metricsPort}`,
      '--metrics-address=127.0.0.1',
      '--log-level=error',
    ],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const rows: string[] = [];
  const t0 = Date.now();
  try {
    for (const at of CHECKPOINTS) {
      while (api.requests < at) await new Promise((r) => setTimeout(r, 200));
      // Five samples over 2 s, the median: the heap saws between collections.
      const s: Array<{ rss: number; heap: number }> = [];
      for (let i = 0; i < 5; i++) {
        s.push(await sample(ctl.pid!, metricsPort));
        await new Promise((r) => setTimeout(r, 400));
      }
      const med = (xs: number[]) => xs.sort((a, b) => a - b)[2]!;
      const mb = (b: number) => (Number.isNaN(b) ? '-' : (b / 2 ** 20).toFixed(1));
      rows.push(
        `| ${at.toLocaleString('en')} | ${mb(med(s.map((x) => x.heap)))} | ${mb(med(s.map((x) => x.rss)))} | ${((Date.now() - t0) / 1000).toFixed(0)} |`,
      );
      process.stderr.write(`bench client-soak: ${rows.at(-1)}\n`);
    }
  } finally {
    ctl.kill('SIGKILL');
    api.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return [
    `### a controller leading for 200,000 API requests (${bundle === KREBOOT_BUNDLE ? 'this build' : bundle})`,
    '',
    '| requests | heap used MiB | RSS MiB | s |',
    '|---|---|---|---|',
    ...rows,
  ];
}
