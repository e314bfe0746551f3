// The demo leaves nothing behind on any way out: a start-up step that fails (a missing tool, a port taken, a bad
// manifest), SIGTERM or Ctrl-C (SIGINT) in the middle of the rollout. Afterwards no process whose command line names
// the demo's directory is left, and the directory is gone. Debian's Prometheus packages are off PATH throughout.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEBIAN_PROMETHEUS, pathWithout } from './path-without.ts';

const noProm = pathWithout(DEBIAN_PROMETHEUS);
const noKubectl = pathWithout([...DEBIAN_PROMETHEUS, 'kubectl']);
const files = mkdtempSync(join(tmpdir(), 'kreboot-demo-files-'));
afterAll(() => {
  noProm.remove();
  noKubectl.remove();
  rmSync(files, { recursive: true, force: true });
});

function demo(
  extra: string[] = [],
  PATH = noProm.PATH,
): {
  p: ChildProcess;
  lines: string[];
  exit: Promise<number | null>;
} {
  const p = spawn('npm', ['run', '-s', 'demo', '--', '--ci', '--nodes', '3', '--pending', '3', ...extra], {
    env: { ...process.env, PATH },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  p.stderr!.on('data', (d: Buffer) => lines.push(...d.toString().split('\n').filter(Boolean)));
  p.stdout!.on('data', () => {});
  return { p, lines, exit: new Promise((r) => p.on('close', (code) => r(code))) };
}

async function waitFor(lines: string[], re: RegExp, ms = 180_000): Promise<string> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const hit = lines.find((l) => re.test(l));
    if (hit) return hit;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no line matching ${re} in:\n${lines.join('\n')}`);
}

function leftovers(root: string): string[] {
  return execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes(root) && !l.includes('ps -eo'));
}

async function assertClean(root: string) {
  // The demo waits for its clean-up before it exits: nothing may be left the moment it is gone.
  expect(leftovers(root)).toEqual([]);
  expect(existsSync(root)).toBe(false);
}

describe('npm run demo cleans up on every way out', () => {
  /** Runs the demo to a start-up failure: exit 1, the reason on its last line, nothing left behind. */
  async function failsCleanly(extra: string[], PATH: string, reason: RegExp) {
    const d = demo(extra, PATH);
    const root = (await waitFor(d.lines, /working in (\S+)/)).match(/working in (\S+)/)![1]!;
    expect(await d.exit).toBe(1);
    expect(d.lines.join('\n')).toMatch(reason);
    await assertClean(root);
  }

  it('a missing tool at start-up (kubectl not on PATH): exits 1, says why, leaves nothing', async () => {
    // The control plane is up when kreboot's install needs kubectl: it must be stopped again.
    await failsCleanly([], noKubectl.PATH, /failed: kubectl not found on PATH: install it/);
  }, 240_000);

  it('the port asked for Prometheus is taken: exits 1, names the port, leaves nothing', async () => {
    const taken: Server = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as { port: number }).port;
    try {
      await failsCleanly(
        ['--prometheus-port', String(port)],
        noProm.PATH,
        new RegExp(`failed: port ${port} on 127.0.0.1 is already in use`),
      );
    } finally {
      await new Promise<void>((r) => taken.close(() => r()));
    }
  }, 240_000);

  it('a bad MaintenanceWindow manifest (--window): exits 1, names the file and the field, leaves nothing', async () => {
    const bad = join(files, 'bad-window.yaml');
    writeFileSync(
      bad,
      'apiVersion: kreboot.io/v1alpha1\nkind: MaintenanceWindow\nmetadata: {name: last-day}\n' +
        'spec: {schedule: "0 22 L * *", duration: 2h, timeZone: UTC}\n',
    );
    await failsCleanly(
      ['--window', bad],
      noProm.PATH,
      new RegExp(`failed: ${bad}: the API server refused it: .*spec\\.schedule`),
    );
  }, 240_000);

  for (const [sig, code] of [
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const) {
    it(`${sig} in the middle of the rollout: exits ${code}, leaves nothing`, async () => {
      const d = demo();
      const root = (await waitFor(d.lines, /working in (\S+)/)).match(/working in (\S+)/)![1]!;
      await waitFor(d.lines, /starting 2 controller replicas/);
      await new Promise((r) => setTimeout(r, 2000));
      // npm runs `node … e2e/demo/main.ts` as its child: signal the demo itself, as a terminal's Ctrl-C would.
      const pid = execFileSync('pgrep', ['-f', '-n', 'e2e/demo/main.ts'], { encoding: 'utf8' }).trim();
      process.kill(Number(pid), sig);
      expect(await d.exit).toBe(code);
      expect(d.lines.join('\n')).toMatch(new RegExp(`${sig}: stopping what the demo started`));
      await assertClean(root);
    }, 240_000);
  }
});
