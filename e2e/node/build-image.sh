#!/usr/bin/env bash
# npm run image: builds kreboot's image from the repo's Dockerfile without a Docker daemon (buildah, vfs storage,
# chroot isolation) and writes it as an OCI archive; also the pause image the real-node test's pods need.
#
# node:24-bookworm-slim cannot be pulled here, so the Dockerfile's FROM is served by a local TEST BASE of that
# name: Debian bookworm (mmdebstrap, minbase) plus Node 24 from the npm `node` package (the devDependency's
# binary) and npm from the npm registry. Users build on the real node:24-bookworm-slim; the Dockerfile is the same.
# Everything is cached under $KREBOOT_CACHE_DIR/image by content; prints the kreboot archive's path last.
set -euo pipefail
main() {
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
cache_root="${KREBOOT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kreboot}"
dir="$cache_root/image"
say() { printf '[image] %s\n' "$*" >&2; }
die() { printf '[image] ERROR: %s\n' "$*" >&2; exit 1; }
for t in buildah mmdebstrap; do
  command -v "$t" >/dev/null || die "$t not found: apt-get install buildah mmdebstrap (.ci/run installs them)"
done
command -v go >/dev/null 2>&1 || export PATH="/usr/local/go/bin:$PATH"
mkdir -p "$dir"
B=(buildah --root "$dir/storage" --runroot "$dir/run" --storage-driver vfs)
node_bin="$repo/node_modules/node/bin/node"
[[ -x "$node_bin" ]] || die "no Node binary at $node_bin: run npm ci first"
node_version="$("$node_bin" --version)"
start=$SECONDS

# --- the test base: node:24-bookworm-slim stand-in ---
base_key="$DEBIAN_SUITE-node$node_version-npm$NPM_VERSION-ca$(sha256sum /etc/ssl/certs/ca-certificates.crt | cut -c1-8)"
if [[ "$(cat "$dir/base.key" 2>/dev/null)" != "$base_key" ]] || ! "${B[@]}" inspect --type image localhost/node:24-bookworm-slim >/dev/null 2>&1; then
  say "test base $base_key: mmdebstrap $DEBIAN_SUITE + Node $node_version + npm $NPM_VERSION"
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  mmdebstrap --quiet --variant=minbase --include=ca-certificates "$DEBIAN_SUITE" "$work/rootfs" \
    || die "mmdebstrap failed (Debian's package mirror must be reachable)"
  install -D -m 0755 "$node_bin" "$work/rootfs/usr/local/bin/node"
  ( cd "$work" && npm pack --silent "npm@$NPM_VERSION" >/dev/null ) || die "npm pack npm@$NPM_VERSION failed"
  mkdir -p "$work/rootfs/usr/local/lib/node_modules/npm"
  tar -xzf "$work"/npm-*.tgz -C "$work/rootfs/usr/local/lib/node_modules/npm" --strip-components=1
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$work/rootfs/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$work/rootfs/usr/local/bin/npx"
  # The build machine may reach the npm registry through a TLS-inspecting proxy: the test base trusts the
  # machine's CA bundle (and Node reads it through NODE_EXTRA_CA_CERTS), so the Dockerfile's npm ci works unchanged.
  cp /etc/ssl/certs/ca-certificates.crt "$work/rootfs/etc/ssl/certs/ca-certificates.crt"
  rm -rf "$work/rootfs/var/cache/apt/"* "$work/rootfs/var/lib/apt/lists/"*
  tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
  ctr="$("${B[@]}" from scratch)"
  "${B[@]}" add "$ctr" "$work/rootfs.tar" / >/dev/null
  "${B[@]}" config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env NODE_VERSION="${node_version#v}" --env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt --cmd node \
    --label "kreboot.test.base=$base_key" \
    --label "kreboot.test.note=LOCAL TEST BASE standing in for node:24-bookworm-slim; not for production" "$ctr"
  "${B[@]}" commit --quiet "$ctr" localhost/node:24-bookworm-slim >/dev/null
  "${B[@]}" rm "$ctr" >/dev/null
  rm -rf "$work"; trap - EXIT
  echo "$base_key" > "$dir/base.key"
  say "test base ready ($((SECONDS - start))s)"
fi

# --- kreboot, from the Dockerfile exactly as users build it ---
key="$(cd "$repo" && (echo "$base_key"; cat Dockerfile package.json package-lock.json scripts/build.mjs \
  $(find operator -type f | sort)) | sha256sum | cut -c1-16)"
out="$dir/kreboot-$key.oci.tar"
if [[ ! -f "$out" ]]; then
  say "building kreboot image $key from Dockerfile (buildah bud, vfs, chroot isolation)"
  ( cd "$repo" && "${B[@]}" bud --quiet --pull=never --isolation chroot --layers=false \
      -f Dockerfile -t "localhost/kreboot:$key" . ) >&2 || die "buildah bud failed (see above)"
  "${B[@]}" push --quiet --disable-compression "localhost/kreboot:$key" "oci-archive:$out.tmp:kreboot.test/kreboot:$key" \
    || die "buildah push to an OCI archive failed"
  mv "$out.tmp" "$out"
  "${B[@]}" rmi "localhost/kreboot:$key" >/dev/null 2>&1 || true
  say "kreboot image $key written ($((SECONDS - start))s): $out"
fi
ln -sfn "$out" "$dir/kreboot-latest.oci.tar"
echo "$key" > "$dir/kreboot-latest.key"

# --- the pod sandbox image ---
pause="$dir/pause-$(sha256sum "$here/pause/main.go" | cut -c1-12).oci.tar"
if [[ ! -f "$pause" ]]; then
  pwork="$(mktemp -d)"
  ( cd "$here/pause" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$pwork/pause" . ) || die "go build of pause failed"
  ctr="$("${B[@]}" from scratch)"
  "${B[@]}" copy "$ctr" "$pwork/pause" /pause >/dev/null
  "${B[@]}" config --entrypoint '["/pause"]' --user 65535:65535 "$ctr"
  "${B[@]}" commit --quiet "$ctr" localhost/pause:kreboot >/dev/null
  "${B[@]}" rm "$ctr" >/dev/null
  "${B[@]}" push --quiet --disable-compression localhost/pause:kreboot "oci-archive:$pause.tmp:kreboot.test/pause:1" \
    || die "buildah push of pause failed"
  mv "$pause.tmp" "$pause"
  rm -rf "$pwork"
fi
ln -sfn "$pause" "$dir/pause-latest.oci.tar"
say "done in $((SECONDS - start))s"
echo "$out"
exit 0
}
main "$@"
