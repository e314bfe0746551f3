// Bundles the kreboot CLI into one ESM file: the agent's memory target depends on loading only what it uses.
import { readFileSync } from 'node:fs';
import { build } from 'esbuild';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

const result = await build({
  entryPoints: ['operator/cli/main.ts'],
  outfile: 'dist/kreboot.mjs',
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'esm',
  minify: false,
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
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
process.stderr.write(`built dist/kreboot.mjs (${(bytes / 1024).toFixed(0)} KiB with map)\n`);
