// The README's main-job command, as CI runs it: a whole rolling reboot, invariants checked on every watch event;
// on a PATH without Debian's Prometheus packages (the demo runs the pinned Prometheus 3 build from the cache).
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { DEBIAN_PROMETHEUS, pathWithout } from './path-without.ts';

const path = pathWithout(DEBIAN_PROMETHEUS);
afterAll(() => path.remove());

describe('npm run demo -- --ci', () => {
  it('reboots the pending nodes with every invariant held and prints the summary line', () => {
    const res = spawnSync('npm', ['run', '-s', 'demo', '--', '--ci'], {
      encoding: 'utf8',
      timeout: 600_000,
      env: { ...process.env, PATH: path.PATH },
    });
    const last = res.stdout.trim().split('\n').pop() ?? '';
    expect(res.status, `${res.stdout}\n${res.stderr}`).toBe(0);
    expect(last).toMatch(
      /^demo: rebooted 3\/3 nodes, max disrupted 1, invariant violations 0, makespan \d+\.\ds, ideal \d+\.\ds$/,
    );
    // Which Prometheus gated it, printed for the record.
    const release = /demo: (prometheus 3\.\d+\.\d+, alertmanager \d+\.\d+\.\d+)/.exec(res.stderr)?.[1];
    expect(release, res.stderr).toBeDefined();
    process.stderr.write(`demo gated by ${release}\n`);
  });
});
