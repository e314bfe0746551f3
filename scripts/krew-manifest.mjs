// Writes the krew plugin manifest for the archive scripts/build-sea.mjs made: `kubectl krew install kreboot` (from
// the krew index, or `--manifest FILE --archive ARCHIVE` before that) puts `kubectl-kreboot` on PATH. The version and
// sha256 come from the build; the download address from KREBOOT_RELEASE_URL (default: the GitHub release).
//   node scripts/krew-manifest.mjs [output]    (default dist-sea/kreboot.yaml)
import { readFileSync, writeFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const version = `v${pkg.version}`;
const archive = 'kubectl-kreboot_linux_amd64.tar.gz';
const sha256 = readFileSync(`dist-sea/${archive}.sha256`, 'utf8').split(/\s+/)[0];
if (!/^[0-9a-f]{64}$/.test(sha256))
  throw new Error(`dist-sea/${archive}.sha256: no sha256 (run npm run build:sea)`);
const base =
  process.env.KREBOOT_RELEASE_URL ?? `https://github.com/kreboot/kreboot/releases/download/${version}`;
const out = process.argv[2] ?? 'dist-sea/kreboot.yaml';

const manifest = `apiVersion: krew.googlecontainertools.github.com/v1alpha2
kind: Plugin
metadata:
  name: kreboot
spec:
  version: ${version}
  homepage: https://github.com/kreboot/kreboot
  shortDescription: Steer and inspect kreboot's node reboot rollouts
  description: |
    kreboot reboots Kubernetes nodes that need it (the agent sees /var/run/reboot-required), one or a bounded
    few at a time, inside MaintenanceWindows and only while Prometheus alerts allow. This plugin is its console:
    status (--watch), plan (--timeline: when each node will reboot), windows, and the day-two commands pause,
    resume, request, cancel, exclude, include and clear-halt, each one attributed change through the API server.
  caveats: |
    The plugin acts with your kubeconfig's identity: the write commands patch Nodes and the kreboot-lock Lease
    and write an Event; clear-halt also impersonates the group kreboot:break-glass, which you must be allowed to.
  platforms:
    - selector:
        matchLabels:
          os: linux
          arch: amd64
      uri: ${base}/${archive}
      sha256: ${sha256}
      bin: kubectl-kreboot
      files:
        - from: kubectl-kreboot
          to: .
        - from: LICENSE
          to: .
`;
writeFileSync(out, manifest);
process.stderr.write(`wrote ${out} (${version}, ${archive} sha256 ${sha256})\n`);
