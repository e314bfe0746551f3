#!/usr/bin/env bash
# Builds the test control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kwok) from pinned Go modules into a cache outside the repo.
# Idempotent: a complete build for the pinned versions is reused.
set -euo pipefail

# The whole body is one function so bash parses it before running: editing this file during a
# long build cannot corrupt the run.
main() {

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
versions_file="${KREBOOT_VERSIONS_FILE:-$here/versions.env}"
# shellcheck source=versions.env
source "$versions_file"
for v in KUBERNETES_VERSION ETCD_VERSION KWOK_VERSION; do
  [[ -n "${!v:-}" ]] || { printf '[cluster:build] ERROR: %s is not set in %s\n' "$v" "$versions_file" >&2; exit 1; }
done

cache_root="${KREBOOT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kreboot}"
key="k8s-${KUBERNETES_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}"
out="$cache_root/bin/$key"
work="$cache_root/work/$key"

say() { printf '[cluster:build] %s\n' "$*" >&2; }
die() { printf '[cluster:build] ERROR: %s\n' "$*" >&2; exit 1; }

if [[ -f "$out/.complete" ]]; then
  [[ "${1:-}" == "--print-dir" ]] && echo "$out"
  say "reusing $out"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  go_fallback="${KREBOOT_GO_FALLBACK:-/usr/local/go/bin}"
  if [[ -x "$go_fallback/go" ]]; then
    export PATH="$go_fallback:$PATH"
  else
    die "Go toolchain not found. The test control plane is built from Go modules: install Go >= 1.26 (https://go.dev/dl or 'apt-get install golang-go' if recent enough) and make sure 'go' is on PATH."
  fi
fi
go_minor="$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')"
if [[ "$go_minor" -lt 26 ]]; then
  die "Go $(go env GOVERSION) is too old: Kubernetes ${KUBERNETES_VERSION} needs Go >= 1.26."
fi

mkdir -p "$out" "$work"
export GOFLAGS="-mod=mod -buildvcs=false -trimpath"
export CGO_ENABLED=0
start=$SECONDS

k8s_minor="${KUBERNETES_VERSION#v1.}"; k8s_minor="${k8s_minor%%.*}"
staging_version="v0.${KUBERNETES_VERSION#v1.}"

# --- Kubernetes: wrapper module with one replace line per staging module ---
kdir="$work/kubernetes"
mkdir -p "$kdir"
if [[ ! -x "$out/kube-apiserver" || ! -x "$out/kube-controller-manager" || ! -x "$out/kube-scheduler" ]]; then
  say "fetching k8s.io/kubernetes@${KUBERNETES_VERSION} go.mod"
  dl="$(cd "$kdir" && GOFLAGS= go mod download -json "k8s.io/kubernetes@${KUBERNETES_VERSION}" 2>&1)" || true
  modfile="$(printf '%s\n' "$dl" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  if [[ -z "$modfile" || ! -f "$modfile" ]]; then
    why="$(printf '%s\n' "$dl" | sed -n 's/.*"Error": "\(.*\)".*/\1/p' | head -1)"
    die "could not download k8s.io/kubernetes@${KUBERNETES_VERSION} from the Go module proxy ($(go env GOPROXY)): ${why:-$dl}. Check KUBERNETES_VERSION in $versions_file."
  fi
  # Upstream replaces every staging module with a local path; we replace each with its published version instead.
  staging="$(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\1#p' "$modfile")"
  [[ -n "$staging" ]] || die "no staging modules found in upstream go.mod ($modfile)"
  {
    echo "module kreboot.test/controlplane"
    echo
    echo "go 1.26"
    echo
    echo "require k8s.io/kubernetes ${KUBERNETES_VERSION}"
    echo
    echo "replace ("
    for m in $staging; do echo "	$m => $m $staging_version"; done
    echo ")"
  } > "$kdir/go.mod"
  say "$(echo "$staging" | wc -l) staging modules pinned to ${staging_version}"
  build_date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=${KUBERNETES_VERSION} -X $pkg.gitMajor=1 -X $pkg.gitMinor=${k8s_minor}"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=${build_date} -X $pkg.gitCommit=module-${KUBERNETES_VERSION}"
  done
  ( cd "$kdir" && GOFLAGS="$GOFLAGS" go mod download ) >&2 || true
  for c in kube-apiserver kube-controller-manager kube-scheduler; do
    if [[ -x "$out/$c" ]]; then continue; fi
    say "building $c (this takes several minutes on 2 cores; elapsed $((SECONDS - start))s)"
    ( cd "$kdir" && go build -ldflags "$ldflags" -o "$out/$c.tmp" "k8s.io/kubernetes/cmd/$c" ) \
      || die "go build of $c failed (see the output above); work dir: $kdir"
    mv "$out/$c.tmp" "$out/$c"
  done
fi

# --- etcd: wrapper module around go.etcd.io/etcd/server/v3 ---
if [[ ! -x "$out/etcd" ]]; then
  edir="$work/etcd"
  mkdir -p "$edir"
  cat > "$edir/go.mod" <<MOD
module kreboot.test/etcd

go 1.26

require go.etcd.io/etcd/server/v3 ${ETCD_VERSION}
MOD
  cat > "$edir/main.go" <<'GO'
// Command etcd runs the etcd server from go.etcd.io/etcd/server/v3 for kreboot's tests.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  say "building etcd ${ETCD_VERSION} (elapsed $((SECONDS - start))s)"
  ( cd "$edir" && go mod tidy && go build -ldflags "-s -w" -o "$out/etcd.tmp" . ) \
    || die "go build of etcd failed (see above); work dir: $edir"
  mv "$out/etcd.tmp" "$out/etcd"
fi

# --- kwok ---
if [[ ! -x "$out/kwok" ]]; then
  say "building kwok ${KWOK_VERSION} (elapsed $((SECONDS - start))s)"
  ( cd "$work" && GOBIN="$out/.gobin" go install -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}" ) \
    || die "go install of kwok failed (see above)"
  mv "$out/.gobin/kwok" "$out/kwok"
  rmdir "$out/.gobin" 2>/dev/null || true
fi

touch "$out/.complete"
say "done in $((SECONDS - start))s: $out"
[[ "${1:-}" == "--print-dir" ]] && echo "$out"
exit 0
}

main "$@"
