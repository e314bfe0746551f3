// `npm run cluster:up` / `cluster:down` as a person runs them, in a state dir of their own.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { alive, type ClusterState } from '../../testkit/cluster/controlplane.ts';

const exec = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'kreboot-lc-'));

afterAll(() => {
  spawnSync('npm', ['run', '-s', 'cluster:down'], { env: { ...process.env, KREBOOT_CLUSTER_DIR: dir } });
  rmSync(dir, { recursive: true, force: true });
});

/** Processes whose command line mentions the state dir: what "left behind" means. */
function processesUsing(path: string): string[] {
  const out = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((l) => l.includes(path) && !l.includes('ps -eo'))
    .map((l) => l.trim());
}

describe('cluster:up and cluster:down', () => {
  it('starts a control plane, prints the kubeconfig last, and stops leaving no process behind', async () => {
    const env = { ...process.env, KREBOOT_CLUSTER_DIR: dir };
    const up = await exec('npm', ['run', '-s', 'cluster:up', '--', '--nodes', '2'], { env });
    const lines = up.stdout.trim().split('\n');
    const kubeconfig = lines[lines.length - 1]!;
    expect(kubeconfig).toBe(join(dir, 'kubeconfig'));
    expect(readFileSync(kubeconfig, 'utf8')).toContain('current-context: kreboot-test');

    const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as ClusterState;
    const pids = Object.values(state.pids);
    expect(pids).toHaveLength(5);
    for (const pid of pids) expect(alive(pid)).toBe(true);
    expect(processesUsing(dir).length).toBeGreaterThanOrEqual(5);

    const nodes = execFileSync('kubectl', ['--kubeconfig', kubeconfig, 'get', 'nodes', '-o', 'name'], {
      encoding: 'utf8',
    });
    expect(nodes.trim().split('\n').sort()).toEqual(['node/kwok-node-0', 'node/kwok-node-1']);

    await exec('npm', ['run', '-s', 'cluster:down'], { env });
    for (const pid of pids) expect(alive(pid)).toBe(false);
    expect(processesUsing(dir)).toEqual([]);
  });

  it('cluster:down with nothing running says so and succeeds', async () => {
    const res = await exec('npm', ['run', '-s', 'cluster:down'], {
      env: { ...process.env, KREBOOT_CLUSTER_DIR: join(dir, 'none') },
    });
    expect(res.stderr).toContain('nothing running');
  });
});

describe('control plane build errors', () => {
  const cache = mkdtempSync(join(tmpdir(), 'kreboot-cache-'));
  afterAll(() => rmSync(cache, { recursive: true, force: true }));

  function build(env: Record<string, string>) {
    return spawnSync('bash', ['testkit/cluster/build.sh'], {
      encoding: 'utf8',
      env: { HOME: process.env.HOME ?? '/root', KREBOOT_CACHE_DIR: cache, ...env },
    });
  }

  it('says Go is missing and how to get it', () => {
    const res = build({ PATH: '/usr/bin:/bin', KREBOOT_GO_FALLBACK: '/nonexistent' });
    expect(res.status).toBe(1);
    const errors = res.stderr.split('\n').filter((l) => l.includes('ERROR'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/Go toolchain not found.*install Go >= 1\.26/);
  });

  it('says which module could not be fetched when a pinned version does not exist', () => {
    const versions = join(cache, 'versions.env');
    writeFileSync(versions, 'KUBERNETES_VERSION=v1.99.99\nETCD_VERSION=v3.6.16\nKWOK_VERSION=v0.8.0\n');
    const res = build({ PATH: process.env.PATH ?? '', KREBOOT_VERSIONS_FILE: versions });
    expect(res.status).toBe(1);
    const errors = res.stderr.split('\n').filter((l) => l.includes('ERROR'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('could not download k8s.io/kubernetes@v1.99.99');
  });

  it('says which pin is missing from the versions file', () => {
    const versions = join(cache, 'partial.env');
    writeFileSync(versions, 'KUBERNETES_VERSION=v1.37.2\n');
    const res = build({ PATH: process.env.PATH ?? '', KREBOOT_VERSIONS_FILE: versions });
    expect(res.status).toBe(1);
    expect(res.stderr).toContain(`ERROR: ETCD_VERSION is not set in ${versions}`);
  });
});
