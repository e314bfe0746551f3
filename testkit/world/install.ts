// kreboot installed from the repo's own files, and the identities its processes run with: service-account
// tokens from the TokenRequest API (an agent's bound to its DaemonSet pod, so it carries the node claim the
// ValidatingAdmissionPolicy checks), never the cluster-admin kubeconfig.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { KubeHttp } from '../../operator/kube/http.ts';
import { eventually } from '../eventually.ts';
import type { PodLite } from '../sim/pods.ts';

export const SYSTEM_NS = 'kreboot-system';
export const CRD_FILE = 'crds/maintenancewindows.kreboot.io.yaml';
export const BASE_DIR = 'deploy/base';
export const EXAMPLE_WINDOW = 'deploy/examples/maintenancewindow.yaml';

/** kubectl, asynchronously: a test's invariant sampler keeps running while it works. */
export function kubectl(kubeconfig: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('kubectl', ['--kubeconfig', kubeconfig, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString('utf8');
    });
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString('utf8');
    });
    child.on('error', (e: NodeJS.ErrnoException) =>
      reject(
        e.code === 'ENOENT'
          ? new Error(
              'kubectl not found on PATH: install it (Debian: apt-get install kubectl); .ci/run does this',
            )
          : e,
      ),
    );
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`kubectl ${args.join(' ')} failed: ${err.trim()}`)),
    );
    child.stdin.on('error', () => {}); // a child that never started (ENOENT) is reported above
    child.stdin.end(input ?? '');
  });
}

/**
 * Applies the CRD and deploy/base for real. The controller Deployment is scaled to 0 afterwards: its kwok pods
 * cannot run kreboot; the harness's controller processes play its replicas, with its service account's tokens.
 */
export async function installKreboot(
  kubeconfig: string,
  opts: { keepControllerPods?: boolean } = {},
): Promise<void> {
  await kubectl(kubeconfig, ['apply', '--server-side', '-f', CRD_FILE]);
  await kubectl(kubeconfig, ['wait', '--for=condition=Established', '--timeout=60s', '-f', CRD_FILE]);
  await kubectl(kubeconfig, ['apply', '--server-side', '-k', BASE_DIR]);
  if (!opts.keepControllerPods)
    await kubectl(kubeconfig, ['-n', SYSTEM_NS, 'scale', 'deployment/kreboot-controller', '--replicas=0']);
}

/** The repo's example MaintenanceWindow, renamed and labelled for one simulated cluster, applied. */
/**
 * Applies deploy/examples' MaintenanceWindow as `name`, or the one in `file` (under its own name when it has one),
 * with `labels` added so the world's controllers select it. A file that is not one MaintenanceWindow, or that the
 * API server refuses, is an error naming the file.
 */
export async function applyExampleWindow(
  kubeconfig: string,
  name: string,
  labels: Record<string, string>,
  file?: string,
): Promise<void> {
  const what = file ?? EXAMPLE_WINDOW;
  let w: { kind?: unknown; metadata?: { name?: string; labels?: Record<string, string> } };
  try {
    w = parse(readFileSync(what, 'utf8'));
  } catch (err) {
    throw new Error(`${what}: cannot read it as YAML (${(err as Error).message.split('\n')[0]})`);
  }
  if (w?.kind !== 'MaintenanceWindow')
    throw new Error(
      `${what}: kind ${JSON.stringify(w?.kind)}, expected one MaintenanceWindow (see deploy/examples/maintenancewindow.yaml)`,
    );
  w.metadata = { ...w.metadata, name: (file && w.metadata?.name) || name };
  w.metadata.labels = { ...(w.metadata.labels ?? {}), ...labels };
  try {
    await kubectl(kubeconfig, ['apply', '-f', '-'], JSON.stringify(w));
  } catch (err) {
    throw new Error(`${what}: the API server refused it: ${(err as Error).message}`);
  }
}

interface TokenRequestBody {
  spec: {
    expirationSeconds: number;
    boundObjectRef?: { apiVersion: string; kind: string; name: string; uid: string };
  };
}

export async function requestToken(
  admin: KubeHttp,
  serviceAccount: string,
  boundPod?: { name: string; uid: string },
  namespace: string = SYSTEM_NS,
): Promise<string> {
  const body: TokenRequestBody & { apiVersion: string; kind: string } = {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: {
      expirationSeconds: 3600,
      ...(boundPod && { boundObjectRef: { apiVersion: 'v1', kind: 'Pod', ...boundPod } }),
    },
  };
  const tr = await admin.request<{ status: { token: string } }>(
    `/api/v1/namespaces/${namespace}/serviceaccounts/${serviceAccount}/token`,
    { method: 'POST', body },
  );
  return tr.status.token;
}

/** A kubeconfig with the admin kubeconfig's server and CA and the given token. */
export function tokenKubeconfig(adminKubeconfig: string, token: string, path: string, user: string): string {
  const admin = parse(readFileSync(adminKubeconfig, 'utf8'));
  const cluster = admin.clusters[0].cluster;
  const kc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'sim', cluster }],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: user, context: { cluster: 'sim', user } }],
    'current-context': user,
  };
  writeFileSync(path, JSON.stringify(kc), { mode: 0o600 });
  return path;
}

/** The agent DaemonSet's pod on a node, once the DaemonSet controller made it and kwok runs it. */
export function agentPodOn(admin: KubeHttp, node: string, timeoutMs = 60_000): Promise<PodLite> {
  const q = new URLSearchParams({
    labelSelector: 'app.kubernetes.io/name=kreboot,app.kubernetes.io/component=agent',
    fieldSelector: `spec.nodeName=${node}`,
  });
  return eventually(
    `the kreboot-agent DaemonSet pod on ${node}`,
    async () =>
      (await admin.request<{ items: PodLite[] }>(`/api/v1/namespaces/${SYSTEM_NS}/pods?${q}`)).items.find(
        (p) => !p.metadata.deletionTimestamp,
      ),
    timeoutMs,
  );
}
