// `kreboot completion bash|zsh` (the built bundle) loaded into a real bash and zsh: subcommands, each command's
// flags, -o values, and node names from kubectl (a stand-in on PATH that records its arguments, so the test sees
// the --kubeconfig typed on the line reach it).
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KREBOOT_BUNDLE, NODE_BIN } from '../../testkit/sim/agent-process.ts';

const dir = mkdtempSync(join(tmpdir(), 'kreboot-completion-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(
  join(dir, 'kubectl'),
  `#!/bin/sh\necho "$@" > ${join(dir, 'args')}\necho "worker-1 worker-2 infra-1"\n`,
);
chmodSync(join(dir, 'kubectl'), 0o755);
const env = { ...process.env, PATH: `${dir}:${process.env.PATH}` };

function script(shell: 'bash' | 'zsh'): string {
  const file = join(dir, `kreboot.${shell}`);
  writeFileSync(file, execFileSync(NODE_BIN, [KREBOOT_BUNDLE, 'completion', shell], { encoding: 'utf8' }));
  return file;
}

/** COMPREPLY after completing the last word of `words` in bash. */
function bash(words: string[]): string[] {
  const arr = words.map((w) => `'${w}'`).join(' ');
  const out = execFileSync(
    'bash',
    [
      '-c',
      `source ${script('bash')}; COMP_WORDS=(${arr}); COMP_CWORD=${words.length - 1}; _kreboot; printf '%s\\n' "\${COMPREPLY[@]}"`,
    ],
    { encoding: 'utf8', env },
  );
  return out.split('\n').filter(Boolean);
}

describe('kreboot completion', () => {
  it('bash: subcommands, flags of the command typed, -o values, node names with the kubeconfig typed', () => {
    expect(bash(['kreboot', 'ex'])).toEqual(['exclude']);
    expect(bash(['kreboot', 'c'])).toEqual(['controller', 'cancel', 'clear-halt', 'completion']);
    expect(bash(['kreboot', 'pause', '--dr'])).toEqual(['--dry-run']);
    expect(bash(['kreboot', 'controller', '--zone'])).toEqual(['--zone-concurrency']);
    expect(bash(['kreboot', 'status', '-o', ''])).toEqual(['table', 'json', 'yaml']);
    expect(bash(['kreboot', 'completion', ''])).toEqual(['bash', 'zsh']);
    expect(bash(['kreboot', 'exclude', '--kubeconfig', '/x/kc', 'w'])).toEqual(['worker-1', 'worker-2']);
    expect(readFileSync(join(dir, 'args'), 'utf8')).toBe(
      '--kubeconfig=/x/kc get nodes -o jsonpath={.items[*].metadata.name}\n',
    );
    // Commands that take no node name offer none.
    expect(bash(['kreboot', 'pause', ''])).toEqual([]);
  });

  it('zsh: the script loads through bashcompinit and offers the same candidates', () => {
    const r = spawnSync(
      'zsh',
      [
        '-f',
        '-c',
        `autoload -U compinit; compinit -u; source ${script('zsh')}; print -- "registered: $_comps[kreboot]"; ` +
          `setopt ksharrays; COMP_WORDS=(kreboot request ''); COMP_CWORD=2; _kreboot; print -- "\${COMPREPLY[*]}"`,
      ],
      { encoding: 'utf8', env },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^registered: \S+/);
    expect(r.stdout.trim().split('\n').pop()).toBe('worker-1 worker-2 infra-1');
  });

  it('names the shell when it is missing or unknown', () => {
    const r = spawnSync(NODE_BIN, [KREBOOT_BUNDLE, 'completion', 'fish'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(
      'kreboot completion: name the shell: bash or zsh, e.g. source <(kreboot completion bash)\n',
    );
  });
});
