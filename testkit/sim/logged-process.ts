// A child process whose stdout and stderr are kept in memory, for tests to read its structured logs.
import { type ChildProcess, spawn } from 'node:child_process';

export class LoggedProcess {
  child: ChildProcess | undefined;
  log = '';
  exit: Promise<number | null> = Promise.resolve(null);

  protected spawnLogged(bin: string, args: string[], env?: Record<string, string>): void {
    this.log = '';
    const child = spawn(bin, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: env && { ...process.env, ...env },
    });
    this.child = child;
    const take = (c: Buffer) => {
      this.log += c.toString('utf8');
    };
    child.stdout!.on('data', take);
    child.stderr!.on('data', take);
    this.exit = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (!this.running) return this.child?.exitCode ?? null;
    this.child!.kill(signal);
    return this.exit;
  }
}
