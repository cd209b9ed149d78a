#!/bin/bash
# Make podman usable for the benchmarks: `podman run` in this sandbox needs
# explicit ulimits (the inherited hard limits are lower than podman's
# defaults).  Idempotent; needs root to write /etc/containers.
set -euo pipefail

conf=${CONTAINERS_CONF_FILE:-/etc/containers/containers.conf}
line='default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]'

command -v podman >/dev/null || {
  echo "podman-setup: podman is not installed (tests/install-deps.sh)" >&2
  exit 1
}

mkdir -p "$(dirname "$conf")"
if [[ ! -f $conf ]]; then
  printf '[containers]\n%s\n' "$line" >"$conf"
elif grep -q '^[[:space:]]*default_ulimits[[:space:]]*=' "$conf"; then
  : # already set, maybe by hand: leave it
elif grep -q '^[[:space:]]*\[containers\]' "$conf"; then
  sed -i "/^[[:space:]]*\[containers\]/a $line" "$conf"
else
  printf '\n[containers]\n%s\n' "$line" >>"$conf"
fi
echo "podman-setup: $conf has $(grep default_ulimits "$conf")"
