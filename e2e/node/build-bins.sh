#!/usr/bin/env bash
# Builds the real node's Go binaries from pinned modules into the cache: the kubelet (same k8s.io/kubernetes
# version as the test control plane) and containerd 2 with its runc shim and ctr. Idempotent; prints the dir.
set -euo pipefail
main() {
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=/dev/null
source "$here/../../testkit/cluster/versions.env"
# shellcheck source=versions.env
source "$here/versions.env"
cache_root="${KREBOOT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kreboot}"
out="$cache_root/node/bin-k8s-${KUBERNETES_VERSION}_containerd-${CONTAINERD_VERSION}"
work="$cache_root/work/node-${KUBERNETES_VERSION}-${CONTAINERD_VERSION}"
say() { printf '[node:build] %s\n' "$*" >&2; }
die() { printf '[node:build] ERROR: %s\n' "$*" >&2; exit 1; }
if [[ -f "$out/.complete" ]]; then say "reusing $out"; echo "$out"; exit 0; fi
command -v go >/dev/null 2>&1 || export PATH="/usr/local/go/bin:$PATH"
command -v go >/dev/null 2>&1 || die "Go toolchain not found (needed to build the kubelet and containerd)"
mkdir -p "$out" "$work"
export GOFLAGS="-mod=mod -buildvcs=false -trimpath" CGO_ENABLED=0
start=$SECONDS

if [[ ! -x "$out/kubelet" ]]; then
  kdir="$work/kubernetes"; mkdir -p "$kdir"
  dl="$(cd "$kdir" && GOFLAGS= go mod download -json "k8s.io/kubernetes@${KUBERNETES_VERSION}")"
  modfile="$(printf '%s\n' "$dl" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  [[ -f "$modfile" ]] || die "could not download k8s.io/kubernetes@${KUBERNETES_VERSION}"
  staging="$(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\1#p' "$modfile")"
  staging_version="v0.${KUBERNETES_VERSION#v1.}"
  k8s_minor="${KUBERNETES_VERSION#v1.}"; k8s_minor="${k8s_minor%%.*}"
  {
    printf 'module kreboot.test/kubelet\n\ngo 1.26\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$KUBERNETES_VERSION"
    for m in $staging; do printf '\t%s => %s %s\n' "$m" "$m" "$staging_version"; done
    printf ')\n'
  } > "$kdir/go.mod"
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=${KUBERNETES_VERSION} -X $pkg.gitMajor=1 -X $pkg.gitMinor=${k8s_minor}"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.gitCommit=module-${KUBERNETES_VERSION}"
  done
  say "building kubelet ${KUBERNETES_VERSION} (several minutes on 2 cores)"
  ( cd "$kdir" && go mod download >/dev/null 2>&1 || true; go build -ldflags "$ldflags" -o "$out/kubelet.tmp" k8s.io/kubernetes/cmd/kubelet ) \
    || die "go build of the kubelet failed; work dir: $kdir"
  mv "$out/kubelet.tmp" "$out/kubelet"
fi

if [[ ! -x "$out/containerd" ]]; then
  cdir="$work/containerd"; mkdir -p "$cdir"
  printf 'module kreboot.test/containerd\n\ngo 1.26\n\nrequire github.com/containerd/containerd/v2 %s\n' "$CONTAINERD_VERSION" > "$cdir/go.mod"
  cat > "$cdir/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "github.com/containerd/containerd/v2/cmd/containerd"
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"
	_ "github.com/containerd/containerd/v2/cmd/ctr"
)
GO
  ( cd "$cdir" && go mod tidy -e >/dev/null 2>&1 || true )
  tags="no_btrfs no_devmapper no_zfs no_aufs no_dynamic_plugins"
  ld="-s -w -X github.com/containerd/containerd/v2/version.Version=${CONTAINERD_VERSION}"
  for c in containerd containerd-shim-runc-v2 ctr; do
    say "building $c ${CONTAINERD_VERSION} (elapsed $((SECONDS - start))s)"
    ( cd "$cdir" && go build -tags "$tags" -ldflags "$ld" -o "$out/$c.tmp" "github.com/containerd/containerd/v2/cmd/$c" ) \
      || die "go build of $c failed; work dir: $cdir"
    mv "$out/$c.tmp" "$out/$c"
  done
fi
touch "$out/.complete"
say "done in $((SECONDS - start))s: $out"
echo "$out"
exit 0
}
main "$@"
