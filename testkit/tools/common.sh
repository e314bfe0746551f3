# Sourced by the tool builds (build.sh, prometheus-build.sh, krew-build.sh): one cache layout, one way to say things.
# shellcheck shell=bash
say() { printf '[tools:build] %s\n' "$*" >&2; }
die() { printf '[tools:build] ERROR: %s\n' "$*" >&2; exit 1; }

# tools_begin KEY [--print-dir]: sets $out to KEY's directory in the cache outside the repo. Returns 1 when that
# build is already complete (printing the directory with --print-dir): the caller stops there. Otherwise puts Go on
# PATH (or fails saying how to get it) and creates $out.
tools_begin() {
  local key="$1"
  shift
  local cache_root="${KREBOOT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kreboot}"
  out="$cache_root/tools/$key"
  if [[ -f "$out/.complete" ]]; then
    [[ "${1:-}" == "--print-dir" ]] && echo "$out"
    say "reusing $out"
    return 1
  fi
  command -v go >/dev/null 2>&1 || export PATH="/usr/local/go/bin:$PATH"
  command -v go >/dev/null 2>&1 || die "Go not found: install Go >= 1.26 and put 'go' on PATH"
  mkdir -p "$out"
}
