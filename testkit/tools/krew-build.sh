#!/usr/bin/env bash
# Builds krew (the kubectl plugin manager) from its Go module, pinned in versions.env, into a cache outside the
# repo: the distribution test installs kubectl-kreboot with it from the krew manifest and archive, as users will.
# Idempotent; prints the directory with --print-dir.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
# shellcheck source=common.sh
source "$here/common.sh"
tools_begin "krew-${KREW_VERSION}" "$@" || exit 0
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
say "building krew ${KREW_VERSION} from sigs.k8s.io/krew (about 30 s on 2 cores)"
( cd "$work" && GOBIN="$out" GOFLAGS=-mod=mod go install -ldflags "-s -w" "sigs.k8s.io/krew/cmd/krew@${KREW_VERSION}" ) \
  || die "go install sigs.k8s.io/krew/cmd/krew@${KREW_VERSION} failed (see above)"
touch "$out/.complete"
[[ "${1:-}" == "--print-dir" ]] && echo "$out"
say "done: $out"
