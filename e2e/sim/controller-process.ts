// A real `kreboot controller` process (the built bundle), for tests and the demo.
import { type ChildProcess, spawn } from 'node:child_process';
import { KREBOOT_BUNDLE, NODE_BIN } from './agent-process.ts';

export interface ControllerProcessOptions {
  identity: string;
  kubeconfig: string;
  namespace: string;
  nodeSelector: string;
  args?: string[];
  metricsPort?: number;
}

/** Fast leader election for tests: a dead leader is replaced within ~3 s. */
export const FAST_ELECTION = [
  '--lease-duration=3s',
  '--renew-deadline=2s',
  '--retry-period=500ms',
  '--resync-period=2s',
];

export class ControllerProcess {
  child: ChildProcess | undefined;
  log = '';
  exit: Promise<number | null> = Promise.resolve(null);

  constructor(readonly opts: ControllerProcessOptions) {}

  start(): this {
    const o = this.opts;
    this.log = '';
    const child = spawn(
      NODE_BIN,
      [
        KREBOOT_BUNDLE,
        'controller',
        `--kubeconfig=${o.kubeconfig}`,
        `--namespace=${o.namespace}`,
        `--identity=${o.identity}`,
        `--node-selector=${o.nodeSelector}`,
        `--metrics-port=${o.metricsPort ?? 0}`,
        '--metrics-address=127.0.0.1',
        ...FAST_ELECTION,
        ...(o.args ?? []),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    const take = (c: Buffer) => {
      this.log += c.toString('utf8');
    };
    child.stdout!.on('data', take);
    child.stderr!.on('data', take);
    this.exit = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
    return this;
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (!this.running) return this.child?.exitCode ?? null;
    this.child!.kill(signal);
    return this.exit;
  }

  get isLeaderByLog(): boolean {
    return this.log.includes('became the leader');
  }
}
