// Where the pinned tools (helm, prometheus-operator CRDs) were built: testkit/tools/build.sh --print-dir.
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';

export function toolsDir(): string {
  try {
    return execFileSync('bash', ['testkit/tools/build.sh', '--print-dir'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    throw new Error(
      'helm and the prometheus-operator CRDs are not built: run `npm run tools:build` (needs Go)',
    );
  }
}

export const helmBin = () => join(toolsDir(), 'helm');
export const promOperatorCrds = () => join(toolsDir(), 'crds');

const TEMPLATE = [
  'template',
  'kreboot',
  'deploy/helm/kreboot',
  '--namespace',
  'kreboot-system',
  '--kube-version',
  '1.37.2',
];

/** Renders the chart as `helm install` would for a v1.37 cluster; throws (with helm's stderr) if it fails. */
export function helmTemplate(args: string[] = []): string {
  return execFileSync(helmBin(), [...TEMPLATE, ...args], { encoding: 'utf8' });
}

/** The same render, for a test that expects it to fail: status and output instead of a throw. */
export function helmTemplateResult(args: string[]) {
  return spawnSync(helmBin(), [...TEMPLATE, ...args], { encoding: 'utf8' });
}
