// Test helpers: clients for the shared control plane, unique names, polling.

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  KubeConfig,
  PolicyV1Api,
  VersionApi,
} from '@kubernetes/client-node';
import { inject } from 'vitest';
import { eventually } from '../../testkit/eventually.ts';

export { eventually };

export function clients() {
  const kc = new KubeConfig();
  kc.loadFromFile(inject('kubeconfig'));
  return {
    kc,
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    policy: kc.makeApiClient(PolicyV1Api),
    coordination: kc.makeApiClient(CoordinationV1Api),
    version: kc.makeApiClient(VersionApi),
  };
}

export const uniq = (prefix: string) => `${prefix}-${randomBytes(3).toString('hex')}`;

/** Creates a namespace and waits for its default ServiceAccount, without which pods are refused. */
export async function createNamespace(core: CoreV1Api, name: string): Promise<void> {
  await core.createNamespace({ body: { metadata: { name } } });
  await eventually(`default ServiceAccount in ${name}`, async () => {
    await core.readNamespacedServiceAccount({ name: 'default', namespace: name });
    return true;
  });
}

/** The HTTP status of a failed client-node call. */
export function statusOf(err: unknown): number | undefined {
  const e = err as { code?: number; statusCode?: number; response?: { statusCode?: number } };
  return e.code ?? e.statusCode ?? e.response?.statusCode;
}

/** kubectl against the test control plane, as a person would run it. */
export function kubectlSync(kubeconfig: string, args: string[], input?: string) {
  return spawnSync('kubectl', ['--kubeconfig', kubeconfig, ...args], { encoding: 'utf8', input });
}

/** The MaintenanceWindow CRD applied and Established (idempotent: several files apply it). */
export function applyWindowCrd(kubeconfig: string): void {
  const applied = kubectlSync(kubeconfig, [
    'apply',
    '--server-side',
    '-f',
    'crds/maintenancewindows.kreboot.io.yaml',
  ]);
  if (applied.status !== 0) throw new Error(`applying the MaintenanceWindow CRD: ${applied.stderr}`);
  const wait = ['wait', '--for=condition=Established', '--timeout=60s', 'crd/maintenancewindows.kreboot.io'];
  const established = kubectlSync(kubeconfig, wait);
  if (established.status !== 0) throw new Error(`the MaintenanceWindow CRD: ${established.stderr}`);
}
