// Bundles the kreboot CLI into one ESM file: the agent's memory target depends on loading only what it uses.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

rmSync('dist', { recursive: true, force: true });
const result = await build({
  entryPoints: { kreboot: 'operator/cli/main.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  // Each command's code is its own chunk, loaded on demand: `kreboot agent` never loads the controller.
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'esm',
  minify: true,
  keepNames: true,
  sourcemap: 'linked',
  metafile: true,
  legalComments: 'linked',
  define: { __KREBOOT_VERSION__: JSON.stringify(pkg.version) },
  // Some bundled CommonJS dependencies call require(); give the ESM bundle one.
  banner: {
    js: "import { createRequire as __kreboot_cr } from 'node:module'; const require = __kreboot_cr(import.meta.url);",
  },
  logLevel: 'warning',
});
// What each chunk holds, for the test that keeps @kubernetes/client-node out of the agent's modules.
writeFileSync('dist/meta.json', JSON.stringify(result.metafile));
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
process.stderr.write(`built dist/kreboot.mjs and its chunks (${(bytes / 1024).toFixed(0)} KiB with maps)\n`);
