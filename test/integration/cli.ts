// The built `kreboot` bundle run as a person would run it, against the test control plane and one namespace.
import { spawnSync } from 'node:child_process';
import { KREBOOT_BUNDLE, NODE_BIN } from '../../testkit/sim/agent-process.ts';

export interface CliResult {
  code: number | null;
  out: string;
  err: string;
}

export function krebootCli(kubeconfig: string, namespace: () => string): (args: string[]) => CliResult {
  return (args) => {
    const res = spawnSync(
      NODE_BIN,
      [KREBOOT_BUNDLE, ...args, `--kubeconfig=${kubeconfig}`, `--namespace=${namespace()}`],
      { encoding: 'utf8' },
    );
    return { code: res.status, out: res.stdout, err: res.stderr };
  };
}
