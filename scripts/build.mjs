// Bundles the kreboot CLI into one ESM file: the agent's memory target depends on loading only what it uses.
import { spawnSync } from 'node:child_process';
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

// The agent's memory trim (operator/agent/native/trim.c) is a Node-API binding: one C file, built with the C
// compiler of the machine (Linux only: madvise MADV_PAGEOUT). KREBOOT_SKIP_NATIVE=1 builds without it, and
// the agent then runs untrimmed and says so in its log.
if (process.env.KREBOOT_SKIP_NATIVE === '1' || process.platform !== 'linux') {
  process.stderr.write('skipped dist/trim.node (the agent will run without its memory trim)\n');
} else {
  const cc = process.env.CC || 'cc';
  const args = ['-O2', '-Wall', '-Wextra', '-Werror', '-shared', '-fPIC'];
  const r = spawnSync(cc, [...args, '-o', 'dist/trim.node', 'operator/agent/native/trim.c'], {
    encoding: 'utf8',
  });
  if (r.status !== 0) {
    process.stderr.write(
      `cannot build dist/trim.node with ${cc}: ${r.error?.message ?? r.stderr}\n` +
        'install a C compiler (Debian: apt-get install gcc libc6-dev; the Dockerfile does) or set CC, ' +
        'or build without the agent memory trim: KREBOOT_SKIP_NATIVE=1 npm run build\n',
    );
    process.exit(1);
  }
  process.stderr.write('built dist/trim.node (the agent memory trim)\n');
}
