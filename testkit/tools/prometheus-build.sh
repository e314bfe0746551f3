#!/usr/bin/env bash
# Builds Prometheus 3 (prometheus, promtool) and Alertmanager from their Go modules, pinned in versions.env, into
# a cache outside the repo, so the demo and the tests need no Debian package. Idempotent; --print-dir prints the
# directory. Two departures from the release binaries, neither touching what kreboot uses (the HTTP API, PromQL,
# rules, alerting, file-based discovery, TLS):
# - Prometheus is built with `-tags remove_all_sd` (Prometheus's own build tag): the cloud service-discovery
#   plugins are left out (less to download and compile); static and file discovery stay.
# - Alertmanager embeds its web UI's compiled assets, which its module does not ship (they are built with npm in
#   its release process): the build copies the module's source and puts a one-page placeholder in their place.
set -euo pipefail
main() {
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
# shellcheck source=common.sh
source "$here/common.sh"
tools_begin "prometheus-${PROMETHEUS_VERSION}_alertmanager-${ALERTMANAGER_VERSION}" "$@" || return 0
# Prometheus 3.x.y is published to the Go module proxy as v0.3xx.y (its Go module predates the v3 major version).
[[ "$PROMETHEUS_VERSION" =~ ^v3\.([0-9]+)\.([0-9]+)$ ]] || die "PROMETHEUS_VERSION must be v3.MINOR.PATCH, e.g. v3.16.0"
prom_module_version="v0.$((300 + BASH_REMATCH[1])).${BASH_REMATCH[2]}"
mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
ldflags() { echo "-s -w -X github.com/prometheus/common/version.Version=${1#v} -X github.com/prometheus/common/version.BuildUser=kreboot-tools-build"; }

t0=$SECONDS
say "building prometheus and promtool ${PROMETHEUS_VERSION} (module github.com/prometheus/prometheus@${prom_module_version}; ~5 min cold on 2 cores)"
( cd "$work" && GOBIN="$out" GOFLAGS=-mod=mod go install -tags remove_all_sd -ldflags "$(ldflags "$PROMETHEUS_VERSION")" \
    "github.com/prometheus/prometheus/cmd/prometheus@${prom_module_version}" \
    "github.com/prometheus/prometheus/cmd/promtool@${prom_module_version}" ) \
  || die "go install github.com/prometheus/prometheus/cmd/prometheus@${prom_module_version} failed (see above)"
say "prometheus built in $((SECONDS - t0)) s"

t1=$SECONDS
say "building alertmanager ${ALERTMANAGER_VERSION} (~1 min after prometheus, cold)"
src="$(cd "$work" && go mod download -json "github.com/prometheus/alertmanager@${ALERTMANAGER_VERSION}" \
  | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')"
[[ -n "$src" && -f "$src/ui/web.go" ]] || die "github.com/prometheus/alertmanager@${ALERTMANAGER_VERSION} could not be downloaded"
cp -r "$src" "$work/alertmanager"
chmod -R u+w "$work/alertmanager"
for ui in elm mantine; do
  mkdir -p "$work/alertmanager/ui/app/dist/$ui"
  printf '<!doctype html><title>Alertmanager</title><p>Web UI not built (kreboot test build: API only).</p>\n' \
    > "$work/alertmanager/ui/app/dist/$ui/index.html"
done
( cd "$work/alertmanager" && GOFLAGS=-mod=mod go build -ldflags "$(ldflags "$ALERTMANAGER_VERSION")" \
    -o "$out/alertmanager" ./cmd/alertmanager ) \
  || die "building github.com/prometheus/alertmanager@${ALERTMANAGER_VERSION} failed (see above)"
say "alertmanager built in $((SECONDS - t1)) s"

"$out/prometheus" --version 2>&1 | head -1 >&2
"$out/alertmanager" --version 2>&1 | head -1 >&2
touch "$out/.complete"
[[ "${1:-}" == "--print-dir" ]] && echo "$out"
say "done: $out"
}
main "$@"
