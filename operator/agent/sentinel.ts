// Is a reboot required? A sentinel file (default /var/run/reboot-required, as Debian/Ubuntu write it) or a
// sentinel command run in the host's namespaces. Exit 0 = required, 1 = not required; anything else, or a
// command that cannot run, is an error: reported, and never a reason to reboot.
import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import type { CheckResult } from './decide.ts';

export interface SentinelOptions {
  file: string;
  command?: string;
  /** Run the command directly instead of through nsenter into PID 1's namespaces. */
  direct: boolean;
  timeoutMs: number;
}

/** nsenter into PID 1's mount, UTS, IPC, network and PID namespaces: the host, seen from a hostPID pod. */
export const NSENTER = ['nsenter', '--target', '1', '--mount', '--uts', '--ipc', '--net', '--pid', '--'];

export function hostCommand(command: string, direct: boolean): string[] {
  return direct ? ['/bin/sh', '-c', command] : [...NSENTER, '/bin/sh', '-c', command];
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
  spawnError?: string;
}

export function runCommand(argv: string[], timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve) => {
    let output = '';
    let spawnError: string | undefined;
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    const take = (c: Buffer) => {
      if (output.length < 2000) output += c.toString('utf8');
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('error', (e) => {
      spawnError = e.message;
    });
    child.on('close', (code, signal) => resolve({ code, signal, output: output.trim(), spawnError }));
  });
}

export async function checkSentinel(opts: SentinelOptions): Promise<CheckResult> {
  if (opts.command) {
    const argv = hostCommand(opts.command, opts.direct);
    const r = await runCommand(argv, opts.timeoutMs);
    const shown = `sentinel command ${JSON.stringify(opts.command)}`;
    if (r.spawnError) return { kind: 'error', message: `${shown} could not run: ${r.spawnError}` };
    if (r.signal)
      return { kind: 'error', message: `${shown} was killed by ${r.signal} (timeout ${opts.timeoutMs} ms?)` };
    if (r.code === 0) return { kind: 'ok', required: true, source: 'command', detail: `${shown} exited 0` };
    if (r.code === 1) return { kind: 'ok', required: false, source: 'command', detail: `${shown} exited 1` };
    const out = r.output ? `: ${r.output.slice(0, 300)}` : '';
    // The shell's own codes: the command itself never ran.
    if (r.code === 127)
      return { kind: 'error', message: `${shown} could not run: command not found (exit 127)${out}` };
    if (r.code === 126)
      return { kind: 'error', message: `${shown} could not run: not executable (exit 126)${out}` };
    return {
      kind: 'error',
      message: `${shown} exited ${r.code}; only 0 (reboot required) and 1 (not required) are answers${out}`,
    };
  }
  try {
    await stat(opts.file);
    return { kind: 'ok', required: true, source: 'file', detail: `sentinel file ${opts.file} is present` };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      return { kind: 'ok', required: false, source: 'file', detail: `sentinel file ${opts.file} is absent` };
    }
    return { kind: 'error', message: `cannot check sentinel file ${opts.file}: ${(err as Error).message}` };
  }
}
