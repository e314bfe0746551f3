// The demo leaves nothing behind on any way out: a missing tool at start-up, SIGTERM or Ctrl-C (SIGINT) in the
// middle of the rollout. Afterwards no process whose command line names the demo's directory is left, and the
// directory is gone.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const hidden = mkdtempSync(join(tmpdir(), 'kreboot-path-'));
afterAll(() => rmSync(hidden, { recursive: true, force: true }));

function demo(env: NodeJS.ProcessEnv = process.env): {
  p: ChildProcess;
  lines: string[];
  exit: Promise<number | null>;
} {
  const p = spawn('npm', ['run', '-s', 'demo', '--', '--ci', '--nodes', '3', '--pending', '3'], {
    env,
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
  it('a missing tool at start-up (prometheus not on PATH): exits 1, says why, leaves nothing', async () => {
    // A PATH with everything of /usr/bin but prometheus.
    const bin = join(hidden, 'bin');
    execFileSync('mkdir', ['-p', bin]);
    for (const f of readdirSync('/usr/bin'))
      if (f !== 'prometheus') symlinkSync(join('/usr/bin', f), join(bin, f));
    // /bin is /usr/bin on Debian (merged /usr): both are replaced.
    const path = (process.env.PATH ?? '')
      .split(':')
      .map((d) => (d === '/usr/bin' || d === '/bin' ? bin : d))
      .join(':');
    const d = demo({ ...process.env, PATH: path });
    const root = (await waitFor(d.lines, /working in (\S+)/)).match(/working in (\S+)/)![1]!;
    expect(await d.exit).toBe(1);
    expect(d.lines.join('\n')).toMatch(/failed: prometheus not found/);
    await assertClean(root);
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
