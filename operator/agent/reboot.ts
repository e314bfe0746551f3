// How the agent reboots its host. `command`: a command (default `systemctl reboot`) through nsenter into PID 1's
// namespaces (needs a privileged, hostPID pod). `signal`: SIGRTMIN+5 to PID 1, which systemd reads as "reboot"
// (needs hostPID and the right to signal PID 1, but no privileged container).
import { hostCommand, type RunResult, runCommand } from './sentinel.ts';

export interface Rebooter {
  readonly description: string;
  reboot(): Promise<void>;
}

/** Linux's SIGRTMIN as glibc programs see it (34) plus 5: systemd's "reboot" signal. */
export const SIGRTMIN_PLUS_5 = 39;

export function commandRebooter(
  command: string,
  direct: boolean,
  run: (argv: string[], timeoutMs: number) => Promise<RunResult> = runCommand,
): Rebooter {
  const argv = hostCommand(command, direct);
  return {
    description: `command ${JSON.stringify(command)}${direct ? '' : ' via nsenter into PID 1'}`,
    async reboot() {
      const r = await run(argv, 60_000);
      if (r.spawnError) throw new Error(`reboot command could not run: ${r.spawnError}`);
      // systemctl reboot returns once the job is queued; a non-zero exit means nothing was queued.
      if (r.code !== 0 && r.signal !== 'SIGTERM') {
        throw new Error(
          `reboot command exited ${r.code ?? r.signal}${r.output ? `: ${r.output.slice(0, 300)}` : ''}`,
        );
      }
    },
  };
}

export function signalRebooter(
  kill: (pid: number, signal: number) => void = (pid, sig) => process.kill(pid, sig),
  pid = 1,
): Rebooter {
  return {
    description: `signal SIGRTMIN+5 to PID ${pid}`,
    async reboot() {
      kill(pid, SIGRTMIN_PLUS_5);
    },
  };
}
