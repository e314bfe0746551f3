// A real Prometheus (the pinned 3.x build by default, or another release: releases.ts) on a free loopback port,
// scraping a tiny exporter whose values the test sets, with alert rules that fire from those values; optionally a
// real Alertmanager receiving from it.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as netServer } from 'node:net';
import { join } from 'node:path';
import { defaultPrometheus, type PromRelease } from './releases.ts';

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = netServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/** Throws, naming the port, when something already listens on 127.0.0.1:`port`. */
export async function assertPortFree(port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const s = netServer();
    s.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new Error(
          err.code === 'EADDRINUSE'
            ? `port ${port} on 127.0.0.1 is already in use: stop what listens there, or choose another port`
            : `cannot listen on 127.0.0.1:${port}: ${err.message}`,
        ),
      ),
    );
    s.listen(port, '127.0.0.1', () => s.close(() => resolve()));
  });
}

/** Metric values the test flips: name{labels} value. */
export class Exporter {
  readonly values = new Map<string, number>();
  private server: Server | undefined;
  port = 0;

  set(series: string, v: number): void {
    this.values.set(series, v);
  }

  async start(): Promise<number> {
    this.server = createServer((_req, res) => {
      const lines = [...this.values].map(([k, v]) => `${k} ${v}`);
      res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' }).end(`${lines.join('\n')}\n`);
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    const a = this.server.address();
    this.port = typeof a === 'object' && a ? a.port : 0;
    return this.port;
  }

  stop(): Promise<void> {
    return new Promise((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

export const TEST_RULES = `groups:
- name: kreboot-test
  interval: 1s
  rules:
  - alert: TestCritical
    expr: test_value{kind="critical"} > 0
    for: 0s
    labels: {severity: critical}
  - alert: TestWarning
    expr: test_value{kind="warning"} > 0
    for: 0s
    labels: {severity: warning}
  - alert: TestPending
    expr: test_value{kind="pending"} > 0
    for: 1h
    labels: {severity: critical}
  - alert: TestNodeBroken
    expr: test_node_broken > 0
    for: 0s
    labels: {severity: critical}
  - alert: KrebootRolloutHalted
    expr: test_value{kind="own"} > 0
    for: 0s
    labels: {severity: critical}
`;

export class Proc {
  child: ChildProcess | undefined;
  log = '';
  constructor(
    readonly bin: string,
    readonly args: string[],
  ) {}
  start(): void {
    this.child = spawn(this.bin, this.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const take = (c: Buffer) => {
      this.log = (this.log + c.toString('utf8')).slice(-20_000);
    };
    this.child.stdout!.on('data', take);
    this.child.stderr!.on('data', take);
  }
  async stop(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
}

export async function waitHttp(url: string, proc: Proc, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} not ready at ${url}:\n${proc.log.slice(-2000)}`);
}

export class PromStack {
  prometheus: Proc | undefined;
  alertmanager: Proc | undefined;
  promPort = 0;
  amPort = 0;

  constructor(
    readonly dir: string,
    readonly exporterPort: number,
    readonly withAlertmanager = false,
    readonly release: PromRelease = defaultPrometheus(),
  ) {}

  get promUrl(): string {
    return `http://127.0.0.1:${this.promPort}`;
  }
  get amUrl(): string {
    return `http://127.0.0.1:${this.amPort}`;
  }

  async start(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    if (this.withAlertmanager && !this.alertmanager) {
      const bin = this.release.alertmanager;
      this.amPort = await freePort();
      const cluster = await freePort();
      writeFileSync(
        join(this.dir, 'am.yml'),
        'route:\n  receiver: blackhole\n  group_wait: 0s\n  group_interval: 1s\nreceivers:\n- name: blackhole\n',
      );
      this.alertmanager = new Proc(bin, [
        `--config.file=${join(this.dir, 'am.yml')}`,
        `--storage.path=${join(this.dir, 'am-data')}`,
        `--web.listen-address=127.0.0.1:${this.amPort}`,
        `--cluster.listen-address=127.0.0.1:${cluster}`,
      ]);
      this.alertmanager.start();
      await waitHttp(`${this.amUrl}/-/ready`, this.alertmanager, 'Alertmanager');
    }
    const bin = this.release.prometheus;
    if (!this.promPort) this.promPort = await freePort();
    writeFileSync(join(this.dir, 'rules.yml'), TEST_RULES);
    writeFileSync(
      join(this.dir, 'prometheus.yml'),
      `global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [${join(this.dir, 'rules.yml')}]
scrape_configs:
- job_name: exporter
  static_configs: [{targets: ['127.0.0.1:${this.exporterPort}']}]
${this.withAlertmanager ? `alerting:\n  alertmanagers:\n  - static_configs: [{targets: ['127.0.0.1:${this.amPort}']}]\n` : ''}`,
    );
    this.prometheus = new Proc(bin, [
      `--config.file=${join(this.dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(this.dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${this.promPort}`,
    ]);
    this.prometheus.start();
    await waitHttp(`${this.promUrl}/-/ready`, this.prometheus, 'Prometheus');
  }

  async stopPrometheus(): Promise<void> {
    await this.prometheus?.stop();
  }

  async stop(): Promise<void> {
    await this.prometheus?.stop();
    await this.alertmanager?.stop();
  }
}
