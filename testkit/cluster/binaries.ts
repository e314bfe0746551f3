// Locates (building on first use) the pinned control-plane binaries; the build itself is build.sh.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

export const BUILD_SCRIPT = join(here, 'build.sh');

/** Runs build.sh (a no-op when the cache is complete) and returns the directory holding the binaries. */
export async function binDir(opts: { verbose: boolean }): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [BUILD_SCRIPT, '--print-dir'], {
      stdio: ['ignore', 'pipe', opts.verbose ? 'inherit' : 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout?.setEncoding('utf8').on('data', (c: string) => {
      out += c;
    });
    child.stderr?.setEncoding('utf8').on('data', (c: string) => {
      err += c;
    });
    child.on('error', (e) => reject(new Error(`cannot run ${BUILD_SCRIPT}: ${e.message}`)));
    child.on('exit', (code) => {
      if (code === 0) return resolve(out.trim().split('\n').pop()!);
      const lines = err.trim().split('\n');
      const fatal = lines.filter((l) => l.includes('ERROR:')).pop() ?? lines.slice(-5).join('\n');
      reject(new Error(`building the test control plane failed (exit ${code}): ${fatal}`));
    });
  });
}
