#!/usr/bin/env bash
# Install the delivery checks' tools that PyPI does not ship, into .tools/bin (idempotent):
#   promtool  from Debian's `prometheus` package, unpacked (not installed: no daemon starts)
# The Python linters (actionlint, zizmor, hadolint, check-jsonschema) come from the dev group of
# the lock and live in .venv/bin.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/.tools"
mkdir -p "$tools/bin"

if [[ ! -x "$tools/bin/promtool" ]]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  sudo=""
  [[ $(id -u) == 0 ]] || sudo=sudo
  if ! apt-cache show prometheus >/dev/null 2>&1; then
    $sudo apt-get update -qq
  fi
  # apt-get download writes into the current directory (and warns that _apt cannot: harmless).
  if ! (cd "$work" && apt-get download -qq prometheus) 2>"$work/apt.err"; then
    cat "$work/apt.err" >&2
    echo "install-delivery-tools: apt-get download prometheus failed" >&2
    exit 1
  fi
  deb=$(ls "$work"/prometheus_*.deb)
  dpkg-deb -x "$deb" "$work/root"
  install -m 0755 "$work/root/usr/bin/promtool" "$tools/bin/promtool"
fi
"$tools/bin/promtool" --version | head -1
