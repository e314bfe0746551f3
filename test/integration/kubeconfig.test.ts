// The kubeconfigs users really have, on the real control plane: an exec credential plugin (as kubelogin,
// `aws eks get-token`, gke-gcloud-auth-plugin are) drives `kreboot status`, `kreboot plan` and a controller
// through a rollout; the plugin is called again once its credential expires; a failing plugin gives one clear
// error naming it and its stderr. Multi-file KUBECONFIG (kubectl's merge), --context, and the kubectl plugin.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, connect, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse } from 'yaml';
import { kubeconfigConnection } from '../../operator/kube/connection.ts';
import { KubeHttp } from '../../operator/kube/http.ts';
import { loadClientConnection } from '../../operator/kube/kubeconfig.ts';
import { KREBOOT_BUNDLE, NODE_BIN } from '../../testkit/sim/agent-process.ts';
import { adminTokenKubeconfig } from './identity.ts';
import { eventually, uniq } from './kube.ts';
import { Rollout } from './rollout.ts';

const dir = mkdtempSync(join(tmpdir(), 'kreboot-kc-'));
const group = uniq('kc');
let admin: KubeHttp;
let token = '';
let cluster: Record<string, unknown>;
const count = join(dir, 'calls');

/** An exec plugin: appends to `calls`, prints an ExecCredential carrying `token` that expires in `ttl` s. */
function plugin(name: string, ttlSeconds: number, fail = false): string {
  const path = join(dir, name);
  writeFileSync(
    path,
    fail
      ? '#!/bin/sh\necho "kubelogin: AADSTS700082: the refresh token has expired; run az login" >&2\nexit 1\n'
      : `#!/bin/sh
echo x >> ${count}
exp=$(date -u -d "+${ttlSeconds} seconds" +%Y-%m-%dT%H:%M:%SZ)
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s","expirationTimestamp":"%s"}}\\n' "$(cat ${join(dir, 'token')})" "$exp"
`,
  );
  chmodSync(path, 0o755);
  return path;
}

function kubeconfigFile(name: string, doc: Record<string, unknown>): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify({ apiVersion: 'v1', kind: 'Config', ...doc }));
  return path;
}

const execUser = (command: string) => ({
  exec: { apiVersion: 'client.authentication.k8s.io/v1', command, interactiveMode: 'Never' },
});
const calls = () => {
  try {
    return readFileSync(count, 'utf8').trim().split('\n').filter(Boolean).length;
  } catch {
    return 0;
  }
};

/** The same, without blocking this process (for servers the test itself runs). */
function krebootAsync(args: string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(NODE_BIN, [KREBOOT_BUNDLE, ...args], { env: { ...process.env, KUBECONFIG: '' } });
    let stderr = '';
    p.stderr.on('data', (d) => {
      stderr += d;
    });
    p.on('close', (status) => resolve({ status, stderr }));
  });
}

function kreboot(args: string[], env: Record<string, string> = {}) {
  return spawnSync(NODE_BIN, [KREBOOT_BUNDLE, ...args], {
    encoding: 'utf8',
    env: { ...process.env, KUBECONFIG: '', ...env },
    timeout: 60_000,
  });
}

beforeAll(async () => {
  const kubeconfig = inject('kubeconfig');
  admin = new KubeHttp(await kubeconfigConnection(kubeconfig));
  cluster = parse(readFileSync(kubeconfig, 'utf8')).clusters[0].cluster;
  // A service account with cluster-admin: the exec plugin hands out its token, as a cloud plugin hands out a user's.
  await admin.request('/api/v1/namespaces', { method: 'POST', body: { metadata: { name: group } } });
  await eventually('default ServiceAccount', () =>
    admin.request(`/api/v1/namespaces/${group}/serviceaccounts/default`).then(() => true),
  );
  ({ token } = await adminTokenKubeconfig(admin, kubeconfig, group, join(dir, 'sa.json')));
  writeFileSync(join(dir, 'token'), token);
}, 60_000);

afterAll(async () => {
  await admin
    .request(`/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${group}-admin`, { method: 'DELETE' })
    .catch(() => {});
  await admin.request(`/api/v1/namespaces/${group}`, { method: 'DELETE' }).catch(() => {});
  admin.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('exec credential plugins', () => {
  it('a credential is cached until it expires, then the plugin is called again', async () => {
    const kc = kubeconfigFile('exec.json', {
      clusters: [{ name: 'c', cluster }],
      users: [{ name: 'u', user: execUser(plugin('plugin-2s', 2)) }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'x',
    });
    writeFileSync(count, '');
    const http = new KubeHttp(await loadClientConnection({ kubeconfig: kc }));
    try {
      for (let i = 0; i < 5; i++) await http.request('/api/v1/namespaces/default');
      expect(calls()).toBe(1);
      await new Promise((r) => setTimeout(r, 2500));
      await http.request('/api/v1/namespaces/default');
      expect(calls()).toBe(2);
    } finally {
      http.close();
    }
  });

  it('kreboot status and plan work through an exec plugin; a failing plugin is one clear error', async () => {
    const kc = kubeconfigFile('exec-cli.json', {
      clusters: [{ name: 'c', cluster }],
      users: [{ name: 'u', user: execUser(plugin('plugin-60s', 60)) }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'x',
    });
    for (const cmd of ['status', 'plan']) {
      const r = kreboot([
        cmd,
        `--kubeconfig=${kc}`,
        `--namespace=${group}`,
        `--node-selector=kreboot.test/group=${group}`,
      ]);
      expect(r.status, r.stderr).toBe(0);
    }
    const bad = kubeconfigFile('exec-bad.json', {
      clusters: [{ name: 'c', cluster }],
      users: [{ name: 'aad-user', user: execUser(plugin('kubelogin', 60, true)) }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'aad-user' } }],
      'current-context': 'x',
    });
    const r = kreboot(['status', `--kubeconfig=${bad}`]);
    expect(r.status).not.toBe(0);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /user aad-user: exec plugin .*kubelogin failed: kubelogin: AADSTS700082: the refresh token has expired; run az login/,
    );
  });

  it('a controller drives a rollout on an exec-plugin kubeconfig whose credential expires every 3 s', async () => {
    const kc = kubeconfigFile('exec-controller.json', {
      clusters: [{ name: 'c', cluster }],
      users: [{ name: 'u', user: execUser(plugin('plugin-3s', 3)) }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'x',
    });
    writeFileSync(count, '');
    const r = await new Rollout({
      nodes: 2,
      root: join(dir, 'ro'),
      controllers: 1,
      controllerKubeconfig: kc,
      controllerArgs: ['--min-phase-time=1s'],
    }).start();
    try {
      for (const s of r.sims) s.needReboot();
      await r.startControllers();
      // Started: the credential of the first plugin run is in use. The rollout (slowed to 1 s per phase) outlasts it.
      await eventually('a node cordoned', async () => r.cordons.size > 0 || undefined);
      const atStart = calls();
      const t0 = Date.now();
      await eventually('both nodes rebooted', async () => r.sims.every((s) => s.rebootsDone === 1), 90_000);
      expect(Date.now() - t0).toBeGreaterThan(3000);
      expect(r.maxDisrupted).toBe(1);
      // The plugin was asked again after expiry, and the controller kept working on the new credential.
      expect(calls()).toBeGreaterThan(atStart);
    } finally {
      await r.stop();
    }
  }, 120_000);
});

describe('kubeconfig files and contexts, as kubectl reads them', () => {
  it('KUBECONFIG with several files merges them: the first definition and the first current-context win', async () => {
    const a = kubeconfigFile('a.json', {
      clusters: [{ name: 'c', cluster }],
      users: [{ name: 'u', user: { token } }],
      contexts: [],
    });
    const b = kubeconfigFile('b.json', {
      clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:1' } }],
      users: [],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'x',
    });
    const r = kreboot(['status', `--namespace=${group}`, `--node-selector=kreboot.test/group=${group}`], {
      KUBECONFIG: `${a}:${b}`,
    });
    expect(r.status, r.stderr).toBe(0);
  });

  it('--context picks a context; an unknown one names the ones there are', async () => {
    const kc = kubeconfigFile('two.json', {
      clusters: [
        { name: 'good', cluster },
        { name: 'gone', cluster: { server: 'https://127.0.0.1:1', 'insecure-skip-tls-verify': true } },
      ],
      users: [{ name: 'u', user: { token } }],
      contexts: [
        { name: 'prod', context: { cluster: 'good', user: 'u' } },
        { name: 'old', context: { cluster: 'gone', user: 'u' } },
      ],
      'current-context': 'old',
    });
    const ok = kreboot([
      'status',
      `--kubeconfig=${kc}`,
      '--context=prod',
      `--namespace=${group}`,
      `--node-selector=kreboot.test/group=${group}`,
    ]);
    expect(ok.status, ok.stderr).toBe(0);
    const bad = kreboot(['status', `--kubeconfig=${kc}`, '--context=staging']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--context staging is not one of its contexts \(prod, old\)/);
  });

  it('--as impersonates (the API server answers as that user); tls-server-name is the name checked; proxy-url is used', async () => {
    const kc = (name: string, extra: Record<string, unknown> = {}) =>
      kubeconfigFile(name, {
        clusters: [{ name: 'c', cluster: { ...cluster, ...extra } }],
        users: [{ name: 'u', user: { token } }],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
        'current-context': 'x',
      });
    const as = kreboot(['status', `--kubeconfig=${kc('as.json')}`, '--as=jane@example.com']);
    expect(as.status).toBe(1);
    // status reads the lock first (for the controller's published settings): that is the first refusal.
    expect(as.stderr).toMatch(/User "jane@example.com" cannot get resource "leases"/);
    // The API server's certificate names "kubernetes" (and 127.0.0.1): asking for that name works, another fails.
    const good = kreboot([
      'status',
      `--kubeconfig=${kc('sni-good.json', { 'tls-server-name': 'kubernetes' })}`,
      `--namespace=${group}`,
      `--node-selector=kreboot.test/group=${group}`,
    ]);
    expect(good.status, good.stderr).toBe(0);
    const bad = kreboot([
      'status',
      `--kubeconfig=${kc('sni-bad.json', { 'tls-server-name': 'not-the-apiserver.example' })}`,
    ]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/not-the-apiserver\.example/);
    // An HTTP CONNECT proxy that counts the tunnels it opens.
    let tunnels = 0;
    const proxy = createNetServer((client) => {
      client.once('data', (head) => {
        const m = /^CONNECT ([^:]+):(\d+) /.exec(head.toString());
        if (!m) return client.destroy();
        tunnels++;
        const up = connect(Number(m[2]), m[1]!, () => {
          client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
          up.pipe(client).pipe(up);
        });
        up.on('error', () => client.destroy());
      });
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const port = (proxy.address() as AddressInfo).port;
      const viaProxy = await krebootAsync([
        'status',
        `--kubeconfig=${kc('proxy.json', { 'proxy-url': `http://127.0.0.1:${port}` })}`,
        `--namespace=${group}`,
        `--node-selector=kreboot.test/group=${group}`,
      ]);
      expect(viaProxy.status, viaProxy.stderr).toBe(0);
      expect(tunnels).toBeGreaterThan(0);
    } finally {
      proxy.close();
    }
  });

  it('kubectl kreboot: kubectl finds kubectl-kreboot on PATH and runs it', () => {
    const bin = join(dir, 'bin');
    spawnSync('mkdir', ['-p', bin]);
    // What `npm install -g kreboot` puts on PATH (here with the pinned Node 24 in front).
    const shim = join(bin, 'kubectl-kreboot');
    writeFileSync(shim, `#!/bin/sh\nexec ${NODE_BIN} ${KREBOOT_BUNDLE} "$@"\n`);
    chmodSync(shim, 0o755);
    const r = spawnSync(
      'kubectl',
      ['kreboot', 'status', `--namespace=${group}`, `--node-selector=kreboot.test/group=${group}`],
      {
        encoding: 'utf8',
        env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, KUBECONFIG: inject('kubeconfig') },
      },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^NODE\s+REBOOT/m);
  });
});
