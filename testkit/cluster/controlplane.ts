// A real Kubernetes control plane started as local processes: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and kwok (simulated nodes and pod lifecycles).
// Loopback only, free ports, generated certificates and kubeconfig, logs kept in the state dir.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { binDir } from './binaries.ts';
import { issueCert, makeCa, openssl } from './pki.ts';

const STAGES_FILE = fileURLToPath(new URL('./kwok-stages.yaml', import.meta.url));

export const COMPONENTS = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kwok',
] as const;
export type Component = (typeof COMPONENTS)[number];

/** What a running control plane leaves in its state dir (state.json), enough for another process to stop it. */
export interface ClusterState {
  dir: string;
  kubeconfig: string;
  server: string;
  pids: Partial<Record<Component, number>>;
  ports: Record<string, number>;
  startedAt: string;
}

export interface StartOptions {
  /** State directory: certs, etcd data, logs, kubeconfig. Wiped on start. */
  dir: string;
  /** Print progress lines to stderr. */
  verbose?: boolean;
  /** Extra kube-apiserver flags (tests of admission features, etc). */
  apiserverArgs?: string[];
  /** Start only etcd and kube-apiserver: a quiet API for measuring one client's requests. */
  apiOnly?: boolean;
}

const stateFile = (dir: string) => join(dir, 'state.json');

export function readState(dir: string): ClusterState | undefined {
  const f = stateFile(dir);
  if (!existsSync(f)) return undefined;
  return JSON.parse(readFileSync(f, 'utf8')) as ClusterState;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') return reject(new Error('no port'));
      srv.close(() => resolve(addr.port));
    });
  });
}

async function freePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

/** A CA, a serving cert for 127.0.0.1/localhost, an admin client cert (system:masters) and the SA key pair. */
async function makeCerts(pki: string): Promise<void> {
  mkdirSync(pki, { recursive: true });
  const ext = join(pki, 'serving.ext');
  writeFileSync(
    ext,
    [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      'subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc',
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(pki, 'client.ext'),
    'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n',
  );
  const days = 3650;
  await makeCa(pki, 'ca', '/CN=kreboot-test-ca', days);
  for (const [name, subject, extFile] of [
    ['apiserver', '/CN=kube-apiserver', 'serving.ext'],
    ['admin', '/O=system:masters/CN=kreboot-admin', 'client.ext'],
  ] as const) {
    await issueCert(pki, { name, subject, ca: 'ca', extFile, days });
  }
  await openssl(['genrsa', '-out', 'sa.key', '2048'], pki);
  await openssl(['rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], pki);
}

function kubeconfigYaml(server: string, pki: string): string {
  const b64 = (f: string) => readFileSync(join(pki, f)).toString('base64');
  return `apiVersion: v1
kind: Config
clusters:
- name: kreboot-test
  cluster:
    server: ${server}
    certificate-authority-data: ${b64('ca.crt')}
users:
- name: kreboot-admin
  user:
    client-certificate-data: ${b64('admin.crt')}
    client-key-data: ${b64('admin.key')}
contexts:
- name: kreboot-test
  context:
    cluster: kreboot-test
    user: kreboot-admin
current-context: kreboot-test
`;
}

/** GET a path on the API server with the admin identity; resolves with status and body. */
export function apiGet(
  server: string,
  pki: string,
  path: string,
  timeoutMs = 2000,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, server),
      {
        ca: readFileSync(join(pki, 'ca.crt')),
        cert: readFileSync(join(pki, 'admin.crt')),
        key: readFileSync(join(pki, 'admin.key')),
        timeout: timeoutMs,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class ControlPlane {
  readonly pids: Partial<Record<Component, number>> = {};
  /** Milliseconds from start() to each milestone; what `npm run bench` reports. */
  readonly timings: { certs?: number; etcd?: number; apiserver?: number; all?: number } = {};
  private constructor(
    readonly dir: string,
    readonly bin: string,
    readonly ports: Record<string, number>,
    readonly verbose: boolean,
  ) {}

  get kubeconfig(): string {
    return join(this.dir, 'kubeconfig');
  }
  get server(): string {
    return `https://127.0.0.1:${this.ports.apiserver}`;
  }
  get pki(): string {
    return join(this.dir, 'pki');
  }
  logFile(c: Component): string {
    return join(this.dir, 'logs', `${c}.log`);
  }

  private say(msg: string): void {
    if (this.verbose) process.stderr.write(`[cluster] ${msg}\n`);
  }

  static async start(opts: StartOptions): Promise<ControlPlane> {
    const bin = await binDir({ verbose: opts.verbose ?? false });
    const existing = readState(opts.dir);
    if (existing) await stopFromState(existing);
    rmSync(opts.dir, { recursive: true, force: true });
    mkdirSync(join(opts.dir, 'logs'), { recursive: true });
    const [etcdClient, etcdPeer, apiserver, kcm, scheduler, kwok] = await freePorts(6);
    const cp = new ControlPlane(
      opts.dir,
      bin,
      {
        etcdClient: etcdClient!,
        etcdPeer: etcdPeer!,
        apiserver: apiserver!,
        kcm: kcm!,
        scheduler: scheduler!,
        kwok: kwok!,
      },
      opts.verbose ?? false,
    );
    try {
      await cp.boot(opts);
    } catch (err) {
      await cp.stop();
      throw err;
    }
    return cp;
  }

  private readonly argsOf: Partial<Record<Component, string[]>> = {};
  private readonly crashes: Partial<Record<Component, number>> = {};
  private booted = false;
  private restarting = new Set<Component>();

  /** Stops one component and starts it again with the same flags (e.g. the API server going away mid-rollout). */
  async restart(c: Component, downMs = 0): Promise<void> {
    const pid = this.pids[c];
    const args = this.argsOf[c];
    if (pid === undefined || !args) throw new Error(`${c} is not running`);
    this.restarting.add(c);
    signalGroup(pid, 'SIGTERM');
    const deadline = Date.now() + 10_000;
    while (alive(pid) && Date.now() < deadline) await sleep(50);
    if (alive(pid)) signalGroup(pid, 'SIGKILL');
    while (alive(pid)) await sleep(20);
    await sleep(downMs);
    this.restarting.delete(c);
    this.spawn(c, args);
    if (c === 'kube-apiserver') {
      await this.waitFor(
        'kube-apiserver',
        60_000,
        async () => (await apiGet(this.server, this.pki, '/readyz')).status === 200,
        c,
      );
    }
  }

  private spawn(c: Component, args: string[]): void {
    this.argsOf[c] = args;
    const fd = openSync(this.logFile(c), 'a');
    // Own process group: stop() signals the whole group, so nothing is left behind.
    const child = spawn(join(this.bin, c), args, { stdio: ['ignore', fd, fd], detached: true });
    closeSync(fd);
    child.unref();
    if (child.pid === undefined) throw new Error(`could not start ${c}`);
    this.pids[c] = child.pid;
    child.on('exit', (code, signal) => {
      if (this.stopping || this.restarting.has(c) || this.pids[c] !== child.pid) return;
      const n = (this.crashes[c] ?? 0) + 1;
      this.crashes[c] = n;
      // Supervised like static pods under a kubelet: controllers exit when the API server goes away, and come
      // back. Start-up failures are reported by waitFor instead.
      const again = this.booted && n <= 10;
      process.stderr.write(
        `[cluster] ${c} exited unexpectedly (code ${code}, signal ${signal}); ${again ? 'restarting it' : 'not restarting'}; see ${this.logFile(c)}\n`,
      );
      // Backoff as a kubelet's CrashLoopBackOff does, so a long API outage is not a tight loop.
      if (again)
        setTimeout(
          () => !this.stopping && this.spawn(c, args),
          Math.min(1000 * 2 ** (n - 1), 30_000),
        ).unref();
    });
    this.saveState();
  }

  private stopping = false;

  private saveState(): void {
    const state: ClusterState = {
      dir: this.dir,
      kubeconfig: this.kubeconfig,
      server: this.server,
      pids: this.pids,
      ports: this.ports,
      startedAt: new Date().toISOString(),
    };
    writeFileSync(stateFile(this.dir), `${JSON.stringify(state, null, 2)}\n`);
  }

  private async waitFor(what: string, timeoutMs: number, probe: () => Promise<boolean>, c: Component) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const pid = this.pids[c];
      if (pid !== undefined && !alive(pid)) {
        throw new Error(`${c} exited during start-up; last log lines:\n${tail(this.logFile(c), 20)}`);
      }
      try {
        if (await probe()) return;
      } catch {
        // not up yet
      }
      await sleep(100);
    }
    throw new Error(
      `${what} not ready after ${timeoutMs} ms; see ${this.logFile(c)}:\n${tail(this.logFile(c), 20)}`,
    );
  }

  private async boot(opts: StartOptions): Promise<void> {
    const t0 = Date.now();
    await makeCerts(this.pki);
    this.timings.certs = Date.now() - t0;
    this.say(`certificates ready (${this.timings.certs} ms)`);
    const p = this.ports;
    const etcdUrl = `http://127.0.0.1:${p.etcdClient}`;
    this.spawn('etcd', [
      '--name=default',
      `--data-dir=${join(this.dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${p.etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${p.etcdPeer}`,
      `--initial-cluster=default=http://127.0.0.1:${p.etcdPeer}`,
      // A throwaway test store: durability is not worth the fsync latency here.
      '--unsafe-no-fsync',
      '--quota-backend-bytes=4294967296',
      '--log-level=warn',
    ]);
    await this.waitFor(
      'etcd',
      30_000,
      async () => {
        const res = await fetch(`${etcdUrl}/health`);
        return res.ok && ((await res.json()) as { health?: string }).health === 'true';
      },
      'etcd',
    );
    this.timings.etcd = Date.now() - t0;
    this.say(`etcd ready (${this.timings.etcd} ms)`);

    const pki = this.pki;
    this.spawn('kube-apiserver', [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${p.apiserver}`,
      `--tls-cert-file=${join(pki, 'apiserver.crt')}`,
      `--tls-private-key-file=${join(pki, 'apiserver.key')}`,
      `--client-ca-file=${join(pki, 'ca.crt')}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${join(pki, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(pki, 'sa.key')}`,
      '--service-cluster-ip-range=10.96.0.0/16',
      '--authorization-mode=Node,RBAC',
      '--allow-privileged=true',
      // One API server, no kube-proxy: the endpoints of the kubernetes Service are irrelevant here.
      '--endpoint-reconciler-type=none',
      '--v=1',
      ...(opts.apiserverArgs ?? []),
    ]);
    await this.waitFor(
      'kube-apiserver',
      60_000,
      async () => (await apiGet(this.server, pki, '/readyz')).status === 200,
      'kube-apiserver',
    );
    writeFileSync(this.kubeconfig, kubeconfigYaml(this.server, pki), { mode: 0o600 });
    this.timings.apiserver = Date.now() - t0;
    this.say(`kube-apiserver ready (${this.timings.apiserver} ms)`);

    if (opts.apiOnly) {
      this.timings.all = Date.now() - t0;
      return;
    }
    const kc = this.kubeconfig;
    this.spawn('kube-controller-manager', [
      `--kubeconfig=${kc}`,
      `--authentication-kubeconfig=${kc}`,
      `--authorization-kubeconfig=${kc}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${p.kcm}`,
      '--leader-elect=false',
      `--service-account-private-key-file=${join(pki, 'sa.key')}`,
      `--root-ca-file=${join(pki, 'ca.crt')}`,
      '--use-service-account-credentials=true',
      '--controllers=*,-nodeipam',
      '--v=1',
    ]);
    this.spawn('kube-scheduler', [
      `--kubeconfig=${kc}`,
      `--authentication-kubeconfig=${kc}`,
      `--authorization-kubeconfig=${kc}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${p.scheduler}`,
      '--leader-elect=false',
      '--v=1',
    ]);
    this.spawn('kwok', [
      `--kubeconfig=${kc}`,
      // Only nodes that carry kwok's annotation are simulated; anything else is left alone.
      '--manage-all-nodes=false',
      '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
      `--config=${STAGES_FILE}`,
      '--cidr=10.244.0.1/16',
      '--node-ip=10.244.0.1',
      '--node-lease-duration-seconds=40',
      `--server-address=127.0.0.1:${p.kwok}`,
    ]);
    const healthz = (port: number) => async () => {
      const res = await new Promise<number>((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port, path: '/healthz', rejectUnauthorized: false, timeout: 1000 },
          (r) => {
            r.resume();
            resolve(r.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.end();
      });
      return res === 200;
    };
    await Promise.all([
      this.waitFor('kube-controller-manager', 60_000, healthz(p.kcm!), 'kube-controller-manager'),
      this.waitFor('kube-scheduler', 60_000, healthz(p.scheduler!), 'kube-scheduler'),
      this.waitFor(
        'kwok',
        30_000,
        async () => (await fetch(`http://127.0.0.1:${p.kwok}/healthz`)).ok,
        'kwok',
      ),
    ]);
    this.timings.all = Date.now() - t0;
    this.booted = true;
    this.say(`control plane ready (${this.timings.all} ms)`);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await stopFromState({
      dir: this.dir,
      kubeconfig: this.kubeconfig,
      server: this.server,
      pids: this.pids,
      ports: this.ports,
      startedAt: '',
    });
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function tail(file: string, n: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
  } catch {
    return '(no log)';
  }
}

function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  }
}

/** Stops every component in reverse start order: SIGTERM, then SIGKILL after a grace period. */
export async function stopFromState(state: ClusterState, graceMs = 5000): Promise<void> {
  for (const c of [...COMPONENTS].reverse()) {
    const pid = state.pids[c];
    if (pid === undefined || !alive(pid)) continue;
    signalGroup(pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (alive(pid) && Date.now() < deadline) await sleep(50);
    if (alive(pid)) signalGroup(pid, 'SIGKILL');
    while (alive(pid)) await sleep(20);
  }
  const f = stateFile(state.dir);
  if (existsSync(f)) rmSync(f);
}
