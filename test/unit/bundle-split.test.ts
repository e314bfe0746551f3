// `kreboot agent` loads only the agent's modules: the entry, the agent chunk and what they import statically.
// @kubernetes/client-node (the controller's and the CLI's credential loading) must not be among them: the agent
// runs on every node and its memory is paid on each (ARCHITECTURE.md). Reads dist/meta.json from `npm run build`.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';

interface Meta {
  outputs: Record<
    string,
    { entryPoint?: string; imports: Array<{ path: string; kind: string }>; inputs: Record<string, unknown> }
  >;
}

let meta: Meta;
beforeAll(() => {
  if (!existsSync('dist/meta.json')) execFileSync('npm', ['run', '-s', 'build'], { stdio: 'inherit' });
  meta = JSON.parse(readFileSync('dist/meta.json', 'utf8'));
}, 120_000);

/** Inputs of the outputs loaded when `entry` (a source path) runs: its chunk and static imports, transitively. */
function loadedInputs(entry: string): string[] {
  const start = Object.entries(meta.outputs).find(([, o]) => o.entryPoint === entry)?.[0];
  if (!start) throw new Error(`no chunk for ${entry}`);
  const seen = new Set<string>();
  const visit = (out: string) => {
    if (seen.has(out)) return;
    seen.add(out);
    for (const i of meta.outputs[out]!.imports)
      if (i.kind === 'import-statement' && meta.outputs[i.path]) visit(i.path);
  };
  visit(start);
  visit(Object.entries(meta.outputs).find(([, o]) => o.entryPoint === 'operator/cli/main.ts')![0]);
  return [...seen].flatMap((o) => Object.keys(meta.outputs[o]!.inputs));
}

describe('bundle split', () => {
  it("the agent's modules include neither @kubernetes/client-node nor zod; the controller's and the CLI's do", () => {
    const agent = loadedInputs('operator/agent/main.ts');
    expect(agent.some((p) => p.includes('operator/agent/agent.ts'))).toBe(true);
    expect(agent.filter((p) => p.includes('@kubernetes/client-node'))).toEqual([]);
    // Nor zod: it cost the agent 2.7 MiB of resident memory (operator/config/flags.ts).
    expect(agent.filter((p) => p.includes('node_modules/zod/'))).toEqual([]);
    for (const cmd of ['operator/controller/main.ts', 'operator/cli/status.ts']) {
      expect(loadedInputs(cmd).some((p) => p.includes('@kubernetes/client-node/dist/config.js'))).toBe(true);
      expect(loadedInputs(cmd).some((p) => p.includes('node_modules/zod/'))).toBe(true);
    }
  });
});
