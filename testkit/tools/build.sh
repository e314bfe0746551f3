#!/usr/bin/env bash
# Builds helm from its Go module and fetches prometheus-operator's CRDs from its Go module, both pinned in
# versions.env, into a cache outside the repo. Idempotent; prints the directory with --print-dir.
set -euo pipefail
main() {
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
# shellcheck source=common.sh
source "$here/common.sh"
tools_begin "helm-${HELM_VERSION}_promop-${PROMETHEUS_OPERATOR_VERSION}" "$@" || exit 0
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
say "building helm ${HELM_VERSION} from helm.sh/helm/v3 (a few minutes on 2 cores)"
( cd "$work" && GOBIN="$out" GOFLAGS=-mod=mod go install -ldflags "-s -w" "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}" ) \
  || die "go install helm.sh/helm/v3/cmd/helm@${HELM_VERSION} failed (see above)"
say "fetching prometheus-operator ${PROMETHEUS_OPERATOR_VERSION} CRDs"
dir="$(cd "$work" && go mod download -json "github.com/prometheus-operator/prometheus-operator@${PROMETHEUS_OPERATOR_VERSION}" \
  | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')"
[[ -n "$dir" && -d "$dir/example/prometheus-operator-crd" ]] \
  || die "github.com/prometheus-operator/prometheus-operator@${PROMETHEUS_OPERATOR_VERSION} has no example/prometheus-operator-crd"
mkdir -p "$out/crds"
for k in servicemonitors podmonitors prometheusrules; do
  cp "$dir/example/prometheus-operator-crd/monitoring.coreos.com_${k}.yaml" "$out/crds/"
done
chmod -R u+w "$out"
"$out/helm" version --short >&2
touch "$out/.complete"
[[ "${1:-}" == "--print-dir" ]] && echo "$out"
say "done: $out"
}
main "$@"
