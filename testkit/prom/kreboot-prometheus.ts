// A real Prometheus scraping every kreboot agent and controller of a simulated cluster (file-based service
// discovery, so targets follow processes as they come and go), evaluating the repo's own alert rules; optionally
// also a small exporter whose alert rules a test flips, to gate the controller with a real firing alert.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { assertPortFree, freePort, Proc, waitHttp } from './prometheus.ts';
import { defaultPrometheus, type PromRelease } from './releases.ts';

export const REPO_RULES = resolve('deploy/monitoring/kreboot-rules.yml');

export interface KrebootPrometheusOptions {
  dir: string;
  /** A test exporter to scrape too, with rules of its own (e.g. an alert that blocks reboots). */
  exporter?: { port: number; rules: string };
  /** Which Prometheus: the pinned 3.x build unless given. */
  release?: PromRelease;
  /** A fixed loopback port (checked free first) instead of a free one. */
  port?: number;
}

export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

export class KrebootPrometheus {
  private proc: Proc | undefined;
  port = 0;

  constructor(readonly opts: KrebootPrometheusOptions) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  private targetsFile(job: string): string {
    return join(this.opts.dir, `targets-${job}.json`);
  }

  /** Replaces a job's targets; Prometheus picks the file up within its refresh interval. */
  setTargets(
    job: 'kreboot-agent' | 'kreboot-controller',
    targets: Array<{ address: string; labels: Record<string, string> }>,
  ): void {
    const file = this.targetsFile(job);
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, JSON.stringify(targets.map((t) => ({ targets: [t.address], labels: t.labels }))));
    renameSync(tmp, file); // atomic: Prometheus never reads half a file
  }

  async start(): Promise<void> {
    const o = this.opts;
    mkdirSync(o.dir, { recursive: true });
    this.port = o.port ?? (await freePort());
    if (o.port !== undefined) await assertPortFree(o.port);
    const rules = [REPO_RULES];
    if (o.exporter) {
      writeFileSync(join(o.dir, 'extra-rules.yml'), o.exporter.rules);
      rules.push(join(o.dir, 'extra-rules.yml'));
    }
    for (const job of ['kreboot-agent', 'kreboot-controller'] as const) this.setTargets(job, []);
    const sd = (job: string) =>
      `- job_name: ${job}\n  file_sd_configs: [{files: ['${this.targetsFile(job)}'], refresh_interval: 1s}]\n`;
    writeFileSync(
      join(o.dir, 'prometheus.yml'),
      `global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: ${JSON.stringify(rules)}
scrape_configs:
${sd('kreboot-agent')}${sd('kreboot-controller')}${o.exporter ? `- job_name: exporter\n  static_configs: [{targets: ['127.0.0.1:${o.exporter.port}']}]\n` : ''}`,
    );
    this.proc = new Proc((o.release ?? defaultPrometheus()).prometheus, [
      `--config.file=${join(o.dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(o.dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${this.port}`,
    ]);
    this.proc.start();
    await waitHttp(`${this.url}/-/ready`, this.proc, 'Prometheus');
  }

  async query(expr: string): Promise<Sample[]> {
    const res = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await res.json()) as {
      status: string;
      error?: string;
      data: { resultType: string; result: Sample[] | [number, string] };
    };
    if (body.status !== 'success') throw new Error(`PromQL ${expr}: ${body.error}`);
    const r = body.data.result;
    if (body.data.resultType === 'scalar') return [{ metric: {}, value: r as [number, string] }];
    return r as Sample[];
  }

  /** Targets Prometheus is scraping, with their health. */
  async targets(): Promise<Array<{ job: string; instance: string; health: string }>> {
    const res = await fetch(`${this.url}/api/v1/targets?state=active`);
    const body = (await res.json()) as {
      data: { activeTargets: Array<{ labels: Record<string, string>; health: string }> };
    };
    return body.data.activeTargets.map((t) => ({
      job: t.labels.job!,
      instance: t.labels.instance!,
      health: t.health,
    }));
  }

  get log(): string {
    return this.proc?.log ?? '';
  }

  async stop(): Promise<void> {
    await this.proc?.stop();
  }
}
