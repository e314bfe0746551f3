// The Dockerfile cannot be built here (no Docker engine), so its steps are replayed outside Docker: only the
// files it COPYs, only the commands it RUNs, then the runtime stage's /app started alone, as the manifests do.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { AGENT_NODE_FLAGS } from '../../operator/agent/config.ts';

interface Stage {
  from: string;
  copies: Array<{ from?: string; src: string[]; dest: string }>;
  runs: string[];
  user?: string;
  entrypoint?: string[];
}

/** Just enough of the Dockerfile grammar for this file: FROM, COPY, RUN, USER, ENTRYPOINT; continuations. */
function parseDockerfile(text: string): Stage[] {
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const stages: Stage[] = [];
  for (const l of lines) {
    const [op, ...rest] = l.split(/\s+/);
    const arg = l.slice(op!.length).trim();
    if (op === 'FROM') stages.push({ from: rest[0]!, copies: [], runs: [] });
    const s = stages.at(-1)!;
    if (op === 'COPY') {
      const from = rest.find((r) => r.startsWith('--from='))?.slice(7);
      const paths = rest.filter((r) => !r.startsWith('--'));
      s.copies.push({ from, src: paths.slice(0, -1), dest: paths.at(-1)! });
    }
    if (op === 'RUN') s.runs.push(arg);
    if (op === 'USER') s.user = arg;
    if (op === 'ENTRYPOINT') s.entrypoint = JSON.parse(arg);
  }
  return stages;
}

const stages = parseDockerfile(readFileSync('Dockerfile', 'utf8'));
const work = mkdtempSync(join(tmpdir(), 'kreboot-docker-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('Dockerfile', () => {
  it('has a build stage and a runtime stage on Node 24', () => {
    expect(stages).toHaveLength(2);
    for (const s of stages) expect(s.from).toMatch(/^node:24-/);
    expect(stages[1]!.runs).toEqual([]); // nothing is installed at runtime
  });

  it('replays the build stage: its COPYs are enough and its RUNs (a C compiler, npm ci, npm run build) succeed', () => {
    const src = join(work, 'src');
    const build = stages[0]!;
    for (const c of build.copies) {
      for (const p of c.src) {
        expect(existsSync(p), `COPY source ${p}`).toBe(true);
        const dest =
          c.dest.endsWith('/') || c.src.length > 1
            ? join(src, c.dest, p.split('/').at(-1)!)
            : join(src, c.dest);
        cpSync(p, resolve(src, dest), { recursive: true });
      }
    }
    expect(build.runs).toEqual([
      'apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*',
      'npm ci --no-audit --no-fund',
      'npm run build',
    ]);
    // The first RUN gives the stage the C compiler this machine already has (.ci/run installs gcc).
    expect(spawnSync('cc', ['--version']).status).toBe(0);
    // `npm ci` itself is what .ci/run does on every clean clone, with this lock file; here its result is reused
    // (a symlink) rather than downloaded again, and checked against the lock.
    symlinkSync(resolve('node_modules'), join(src, 'node_modules'));
    const check = spawnSync('npm', ['ls', '--omit=optional', '--depth=0'], { cwd: src, encoding: 'utf8' });
    expect(check.status, check.stderr).toBe(0);
    const r = spawnSync('npm', ['run', 'build'], { cwd: src, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(existsSync(join(src, 'dist/kreboot.mjs'))).toBe(true);
    expect(existsSync(join(src, 'dist/trim.node')), "the agent's memory-trim binding").toBe(true);
  });

  it('runs from /app alone as the runtime stage has it: a non-root user, the entrypoint the manifests use', () => {
    const runtime = stages[1]!;
    const copy = runtime.copies.find((c) => c.from === 'build')!;
    expect(copy).toEqual({ from: 'build', src: ['/src/dist'], dest: '/app' });
    const app = join(work, 'app');
    mkdirSync(app);
    cpSync(join(work, 'src/dist'), app, { recursive: true });
    expect(runtime.user).toBe('65532:65532');
    expect(runtime.entrypoint).toEqual(['node', '/app/kreboot.mjs']);
    // No node_modules anywhere above /app: the bundle must carry every dependency.
    const node = resolve('node_modules/.bin/node');
    const entry = join(app, 'kreboot.mjs');
    expect(execFileSync(node, [entry, 'version'], { encoding: 'utf8', cwd: app }).trim()).toBe(
      `kreboot ${JSON.parse(readFileSync('package.json', 'utf8')).version}`,
    );
    for (const cmd of ['agent', 'controller']) {
      const r = spawnSync(node, [...(cmd === 'agent' ? AGENT_NODE_FLAGS : []), entry, cmd, '--help'], {
        encoding: 'utf8',
        cwd: app,
      });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout + r.stderr).toMatch(/--kubeconfig/);
    }
    // The manifests start the same file.
    const rendered = execFileSync('kubectl', ['kustomize', 'deploy/base'], { encoding: 'utf8' });
    const commands = parseAllDocuments(rendered)
      .map((d) => d.toJSON())
      .flatMap((o) => o.spec?.template?.spec?.containers ?? [])
      .map((c: { command: string[] }) => c.command);
    expect(commands.length).toBe(2);
    for (const c of commands) {
      expect(c[0]).toBe('node');
      expect(c).toContain('/app/kreboot.mjs');
    }
  });
});
