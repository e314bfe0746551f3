// A real `kreboot agent` process for a simulated node: its own sentinel dir, boot-ID file and reboot command
// (a script that appends to a marker file, so tests count reboots). Runs the built bundle with the same
// Node flags as the DaemonSet.
import { copyFileSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AGENT_NODE_FLAGS } from '../../operator/agent/config.ts';
import { LoggedProcess } from './logged-process.ts';

export const NODE_BIN = join(process.cwd(), 'node_modules/.bin/node');
export const KREBOOT_BUNDLE = join(process.cwd(), 'dist/kreboot.mjs');

/**
 * A copy of the Node executable at `file`, for one agent to run as from its own image layer on a node: the kernel
 * reclaims no page that another process maps too, so an agent on the shared executable cannot trim its memory.
 */
export function ownNodeCopy(file: string): string {
  copyFileSync(realpathSync(NODE_BIN), file);
  return file;
}

export interface AgentProcessOptions {
  nodeName: string;
  dir: string;
  kubeconfig: string;
  bootId: string;
  extraArgs?: string[];
  env?: Record<string, string>;
  logLevel?: 'debug' | 'info';
  /** A fixed port keeps the scrape target stable across the agent's restarts; 0 = any free port. */
  metricsPort?: number;
  /**
   * The Node executable to run (default: the project's). The agent bench gives the agent a copy of its own, as
   * its image layer is on a node: pages of a file that other processes map too are not the agent's to trim.
   */
  nodeBin?: string;
}

export class AgentProcess extends LoggedProcess {
  constructor(readonly opts: AgentProcessOptions) {
    super();
    mkdirSync(join(opts.dir, 'run'), { recursive: true });
    this.setBootId(opts.bootId);
  }

  get sentinel(): string {
    return join(this.opts.dir, 'run', 'reboot-required');
  }
  get rebootMarker(): string {
    return join(this.opts.dir, 'reboots');
  }
  setBootId(id: string): void {
    writeFileSync(join(this.opts.dir, 'boot_id'), `${id}\n`);
  }
  /** How many times the reboot command ran. */
  reboots(): number {
    try {
      return readFileSync(this.rebootMarker, 'utf8').trim().split('\n').filter(Boolean).length;
    } catch {
      return 0;
    }
  }

  args(): string[] {
    const o = this.opts;
    return [
      ...AGENT_NODE_FLAGS,
      KREBOOT_BUNDLE,
      'agent',
      `--node-name=${o.nodeName}`,
      `--kubeconfig=${o.kubeconfig}`,
      `--sentinel-file=${this.sentinel}`,
      `--boot-id-file=${join(o.dir, 'boot_id')}`,
      '--direct',
      `--reboot-command=echo "$(date +%s.%N)" >> ${this.rebootMarker}`,
      `--metrics-port=${o.metricsPort ?? 0}`,
      `--log-level=${o.logLevel ?? 'debug'}`,
      ...(o.extraArgs ?? []),
    ];
  }

  start(): this {
    this.spawnLogged(this.opts.nodeBin ?? NODE_BIN, this.args(), this.opts.env);
    return this;
  }

  logLines(): Array<Record<string, unknown>> {
    return this.log
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}
