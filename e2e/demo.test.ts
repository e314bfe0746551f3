// The README's main-job command, as CI runs it: a whole rolling reboot, invariants checked on every watch event.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

describe('npm run demo -- --ci', () => {
  it('reboots the pending nodes with every invariant held and prints the summary line', () => {
    const res = spawnSync('npm', ['run', '-s', 'demo', '--', '--ci'], { encoding: 'utf8', timeout: 600_000 });
    const last = res.stdout.trim().split('\n').pop() ?? '';
    expect(res.status, `${res.stdout}\n${res.stderr}`).toBe(0);
    expect(last).toMatch(
      /^demo: rebooted 3\/3 nodes, max disrupted 1, invariant violations 0, makespan \d+\.\ds, ideal \d+\.\ds$/,
    );
  });
});
