#!/usr/bin/env bash
# Builds krew (the kubectl plugin manager) from its Go module, pinned in versions.env, into a cache outside the
# repo: the distribution test installs kubectl-kreboot with it from the krew manifest and archive, as users will.
# Idempotent; prints the directory with --print-dir.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
cache_root="${KREBOOT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kreboot}"
out="$cache_root/tools/krew-${KREW_VERSION}"
say() { printf '[tools:build] %s\n' "$*" >&2; }
die() { printf '[tools:build] ERROR: %s\n' "$*" >&2; exit 1; }
if [[ -f "$out/.complete" ]]; then
  [[ "${1:-}" == "--print-dir" ]] && echo "$out"
  say "reusing $out"
  exit 0
fi
command -v go >/dev/null 2>&1 || export PATH="/usr/local/go/bin:$PATH"
command -v go >/dev/null 2>&1 || die "Go not found: install Go >= 1.26 and put 'go' on PATH"
mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
say "building krew ${KREW_VERSION} from sigs.k8s.io/krew (about 30 s on 2 cores)"
( cd "$work" && GOBIN="$out" GOFLAGS=-mod=mod go install -ldflags "-s -w" "sigs.k8s.io/krew/cmd/krew@${KREW_VERSION}" ) \
  || die "go install sigs.k8s.io/krew/cmd/krew@${KREW_VERSION} failed (see above)"
touch "$out/.complete"
[[ "${1:-}" == "--print-dir" ]] && echo "$out"
say "done: $out"
