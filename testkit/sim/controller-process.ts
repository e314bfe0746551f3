// A real `kreboot controller` process (the built bundle), for tests and the demo.
import { CONTROLLER_NODE_FLAGS } from '../../operator/controller/config.ts';
import { KREBOOT_BUNDLE, NODE_BIN } from './agent-process.ts';
import { LoggedProcess } from './logged-process.ts';

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

export class ControllerProcess extends LoggedProcess {
  constructor(readonly opts: ControllerProcessOptions) {
    super();
  }

  start(): this {
    const o = this.opts;
    this.spawnLogged(NODE_BIN, [
      ...CONTROLLER_NODE_FLAGS,
      // Benches try other V8 flags with this (space-separated).
      ...(process.env.KREBOOT_CONTROLLER_NODE_FLAGS ?? '').split(' ').filter(Boolean),
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
    ]);
    return this;
  }
}
