// Builds `kubectl-kreboot` as one executable (Node's single-executable applications): the CLI bundled into one
// CommonJS script, injected into a copy of the pinned Node binary (npm `node`, the version the tests run), with a
// V8 code cache. Then the krew archive (kubectl-kreboot + LICENSE) and its sha256, for the krew manifest
// (scripts/krew-manifest.mjs). Output in dist-sea/ (npm run build empties dist/). Linux x86-64 only: the
// platform this is built and tested on.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
// KREBOOT_SEA_OUT and KREBOOT_SEA_CODE_CACHE=0: another directory, no code cache (the CLI benchmark compares).
const out = process.env.KREBOOT_SEA_OUT ?? 'dist-sea';
const codeCache = process.env.KREBOOT_SEA_CODE_CACHE !== '0';
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

await build({
  entryPoints: ['operator/cli/sea-main.ts'],
  outfile: join(out, 'kreboot.cjs'),
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'cjs',
  minify: true,
  keepNames: true,
  legalComments: 'none',
  define: { __KREBOOT_VERSION__: JSON.stringify(pkg.version) },
  logLevel: 'warning',
});

const config = join(out, 'sea-config.json');
writeFileSync(
  config,
  JSON.stringify({
    main: join(out, 'kreboot.cjs'),
    output: join(out, 'sea-prep.blob'),
    disableExperimentalSEAWarning: true,
    // The code cache saves compiling the bundle at every start (measured in BENCHMARKS.md).
    useCodeCache: codeCache,
  }),
);
// The blob must come from the same Node binary it is injected into.
const nodeBin = process.execPath;
execFileSync(nodeBin, ['--experimental-sea-config', config], { stdio: 'inherit' });
const exe = join(out, 'kubectl-kreboot');
copyFileSync(nodeBin, exe);
chmodSync(exe, 0o755);
execFileSync(
  nodeBin,
  [
    'node_modules/postject/dist/cli.js',
    exe,
    'NODE_SEA_BLOB',
    join(out, 'sea-prep.blob'),
    '--sentinel-fuse',
    'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2',
  ],
  { stdio: ['ignore', 'ignore', 'inherit'] },
);

// The krew archive: the executable and the licence at the archive's root (the manifest's `files` copy them).
const archive = join(out, 'kubectl-kreboot_linux_amd64.tar.gz');
copyFileSync('LICENSE', join(out, 'LICENSE'));
execFileSync('tar', ['-czf', archive, '-C', out, '--owner=0', '--group=0', 'kubectl-kreboot', 'LICENSE']);
const sha256 = createHash('sha256').update(readFileSync(archive)).digest('hex');
writeFileSync(`${archive}.sha256`, `${sha256}  kubectl-kreboot_linux_amd64.tar.gz\n`);
const mb = (f) => (statSync(f).size / 1e6).toFixed(1);
process.stderr.write(
  `built ${exe} (${mb(exe)} MB, Node ${process.version}) and ${archive} (${mb(archive)} MB, sha256 ${sha256})\n`,
);
