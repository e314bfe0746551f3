#!/usr/bin/env bash
# bash e2e/node/build-kured-image.sh KURED_BINARY: an OCI archive of kured for the real node (`npm run bench -- node`
# with KREBOOT_KURED_BIN), so kured's agent and kreboot's can be measured side by side under the same kubelet.
# kured's module is not served by the Go module proxy, so the binary is built elsewhere from kured's source, the
# way its Makefile does: CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" ./cmd/kured. kured's own image is
# alpine plus the binary; the binary alone is what runs (in-cluster credentials, the UTC default zone need no
# files). Cached by the binary's hash under $KREBOOT_CACHE_DIR/image; prints the archive's path last.
set -euo pipefail
bin="${1:?usage: build-kured-image.sh KURED_BINARY}"
[[ -x "$bin" ]] || { echo "[kured-image] ERROR: $bin is not an executable" >&2; exit 1; }
cache_root="${KREBOOT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kreboot}"
dir="$cache_root/image"
mkdir -p "$dir"
B=(buildah --root "$dir/storage" --runroot "$dir/run" --storage-driver vfs)
out="$dir/kured-$(sha256sum "$bin" | cut -c1-12).oci.tar"
if [[ ! -f "$out" ]]; then
  ctr="$("${B[@]}" from scratch)"
  "${B[@]}" copy "$ctr" "$bin" /usr/bin/kured >/dev/null
  "${B[@]}" config --entrypoint '["/usr/bin/kured"]' "$ctr"
  "${B[@]}" commit --quiet "$ctr" localhost/kured:bench >/dev/null
  "${B[@]}" rm "$ctr" >/dev/null
  "${B[@]}" push --quiet --disable-compression localhost/kured:bench "oci-archive:$out.tmp:kreboot.test/kured:1" \
    || { echo "[kured-image] ERROR: buildah push failed" >&2; exit 1; }
  mv "$out.tmp" "$out"
fi
echo "$out"
