// How the CLI reaches people, each tried as a user would, against the test control plane:
// - the npm package: `npm pack`, then `npx kreboot status` from the packed tarball (no dependencies to fetch: the
//   bundle is self-contained);
// - the single executable `kubectl-kreboot` (Node's single-executable applications), built by `npm run build:sea`;
// - krew: `kubectl krew install --manifest … --archive …` with krew built from its Go module, then
//   `kubectl kreboot …` found by kubectl's plugin lookup.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse } from 'yaml';
import { NODE_BIN } from '../../testkit/sim/agent-process.ts';
import { clients, createNamespace, uniq } from './kube.ts';

const kubeconfig = inject('kubeconfig');
const root = mkdtempSync(join(tmpdir(), 'kreboot-dist-'));
const ns = uniq('dist');
// Node 24 first on PATH: what `#!/usr/bin/env node` finds (the system's Node 20 cannot run client-node 2.x).
const PATH = `${dirname(resolve(NODE_BIN))}:${process.env.PATH}`;
const env = {
  ...process.env,
  PATH,
  npm_config_cache: join(root, 'npm-cache'),
  npm_config_update_notifier: 'false',
};
const pkg = JSON.parse(readFileSync('package.json', 'utf8'));

beforeAll(async () => {
  await createNamespace(clients().core, ns);
  // Not in global setup: only this file needs the executable (13 s to build).
  execFileSync(NODE_BIN, ['scripts/build-sea.mjs'], { stdio: ['ignore', 'ignore', 'pipe'] });
  execFileSync(NODE_BIN, ['scripts/krew-manifest.mjs', join(root, 'kreboot.yaml')], { stdio: 'ignore' });
}, 120_000);
afterAll(async () => {
  await clients()
    .core.deleteNamespace({ name: ns })
    .catch(() => {});
  rmSync(root, { recursive: true, force: true });
});

const statusArgs = [
  'status',
  `--kubeconfig=${kubeconfig}`,
  `--namespace=${ns}`,
  '--node-selector=kreboot.test/none=x',
];

describe('the npm package', () => {
  it('packs only the bundle, the CRD and the licence, with no dependencies; npx kreboot status runs from it', () => {
    const packed = JSON.parse(
      execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', root], {
        encoding: 'utf8',
        env,
      }),
    )[0] as { filename: string; files: Array<{ path: string }>; size: number };
    const files = packed.files.map((f) => f.path);
    expect(files).toContain('dist/kreboot.mjs');
    expect(files).toContain('LICENSE');
    expect(files).toContain('crds/maintenancewindows.kreboot.io.yaml');
    expect(
      files.filter((f) => f.endsWith('.map') || f.startsWith('operator/') || f.startsWith('test/')),
    ).toEqual([]);
    expect(pkg.private).toBeUndefined();
    expect(pkg.dependencies ?? {}).toEqual({});
    expect(pkg.bin).toEqual({ kreboot: 'dist/kreboot.mjs', 'kubectl-kreboot': 'dist/kreboot.mjs' });

    const tarball = join(root, packed.filename);
    const res = spawnSync('npx', ['--yes', `--package=${tarball}`, 'kreboot', ...statusArgs], {
      encoding: 'utf8',
      env,
      cwd: root,
    });
    expect(res.status, res.stderr).toBe(0);
    expect(res.stdout).toContain('lock: (free)');
    expect(res.stdout).toMatch(/settings: flags and defaults/);
    const version = spawnSync('npx', ['--yes', `--package=${tarball}`, 'kubectl-kreboot', 'version'], {
      encoding: 'utf8',
      env,
      cwd: root,
    });
    expect(version.stdout).toBe(`kreboot ${pkg.version}\n`);
  }, 120_000);
});

describe('the single executable', () => {
  it('runs without Node installed: version, status against the API server, a bad flag named', () => {
    const exe = resolve('dist-sea/kubectl-kreboot');
    // An environment with no Node on PATH at all (nothing on PATH: the executable needs no other program).
    const empty = join(root, 'empty-bin');
    mkdirSync(empty);
    const bare = { PATH: empty, HOME: root };
    expect(spawnSync('/bin/sh', ['-c', 'command -v node'], { env: bare }).status).not.toBe(0);
    const version = spawnSync(exe, ['version'], { encoding: 'utf8', env: bare });
    expect(version.stdout).toBe(`kreboot ${pkg.version}\n`);
    const status = spawnSync(exe, statusArgs, { encoding: 'utf8', env: bare });
    expect(status.status, status.stderr).toBe(0);
    expect(status.stdout).toContain('lock: (free)');
    const bad = spawnSync(exe, ['plan', '--timeline', '--horizon=1000h'], { encoding: 'utf8', env: bare });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--horizon.*at most 744h/);
    const misplaced = spawnSync(exe, [...statusArgs, '--timeline'], { encoding: 'utf8', env: bare });
    expect(misplaced.status).toBe(2);
    expect(misplaced.stderr).toContain('--timeline: only for plan, e.g. kreboot plan --timeline');
  });
});

describe('krew', () => {
  it('installs the plugin from its manifest and archive; kubectl kreboot finds it', () => {
    const manifest = parse(readFileSync(join(root, 'kreboot.yaml'), 'utf8'));
    expect(manifest).toMatchObject({
      apiVersion: 'krew.googlecontainertools.github.com/v1alpha2',
      kind: 'Plugin',
      metadata: { name: 'kreboot' },
      spec: { version: `v${pkg.version}` },
    });
    const sha = readFileSync('dist-sea/kubectl-kreboot_linux_amd64.tar.gz.sha256', 'utf8').split(' ')[0];
    expect(manifest.spec.platforms[0].sha256).toBe(sha);

    const krewDir = execFileSync('bash', ['testkit/tools/krew-build.sh', '--print-dir'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    const krewRoot = join(root, 'krew');
    const krewEnv = { ...env, KREW_ROOT: krewRoot, PATH: `${join(krewRoot, 'bin')}:/usr/bin:/bin` };
    const install = spawnSync(
      join(krewDir, 'krew'),
      [
        'install',
        `--manifest=${join(root, 'kreboot.yaml')}`,
        '--archive=dist-sea/kubectl-kreboot_linux_amd64.tar.gz',
      ],
      { encoding: 'utf8', env: krewEnv, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    expect(install.status, install.stderr).toBe(0);
    expect(existsSync(join(krewRoot, 'bin', 'kubectl-kreboot'))).toBe(true);
    // kubectl's own plugin lookup: `kubectl kreboot` runs kubectl-kreboot from PATH.
    const viaKubectl = spawnSync('kubectl', ['kreboot', ...statusArgs], { encoding: 'utf8', env: krewEnv });
    expect(viaKubectl.status, viaKubectl.stderr).toBe(0);
    expect(viaKubectl.stdout).toContain('lock: (free)');

    // A tampered archive is refused by its sha256.
    const tampered = spawnSync(
      join(krewDir, 'krew'),
      ['install', `--manifest=${join(root, 'kreboot.yaml')}`, '--archive=dist-sea/sea-prep.blob'],
      {
        encoding: 'utf8',
        env: { ...krewEnv, KREW_ROOT: join(root, 'krew2') },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    expect(tampered.status).not.toBe(0);
    expect(tampered.stderr).toMatch(/checksum does not match/);
  });
});
