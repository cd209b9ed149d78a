#!/bin/bash
# `husk exec c true` against `podman exec c true` (podman with runc), side
# by side with hyperfine (issue 4, "Measure and report").  Each tool runs
# one detached `sleep 1000` of the busybox test image (tests/fixtures/
# mkimage.sh) in its own store under a temp dir (--root and --runroot, as
# bench/run-latency.sh: the host's podman store is untouched), then
# hyperfine times an exec of `true` into it.  Prints hyperfine's summary
# and a line with both medians and podman/husk.
#
# Usage: exec-latency.sh [--quick] [--husk-only]
#   --quick      5 runs: a smoke test, not figures
#   --husk-only  measure husk alone (podman, runc need not be installed)
#
# Environment: HUSK_BINARY (default build/husk), BENCH_RUNS (50),
# BENCH_WARMUP (5).
#
# The containers are removed through the tools on exit or interrupt; what
# is left with our temp dir in its command line is killed by PID.
set -euo pipefail

bench_name=exec-latency
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_args -- "$@"
if [[ $quick -eq 1 ]]; then
  runs=${BENCH_RUNS:-5} warmup=${BENCH_WARMUP:-1}
else
  runs=${BENCH_RUNS:-50} warmup=${BENCH_WARMUP:-5}
fi

bench_require hyperfine jq || exit 1
bench_host
bench_fixture

bench_stores exec 120 300 --runtime runc

echo "exec-latency: husk ($husk, git $rev), $(nproc) CPUs, kernel $(uname -r)," \
  "load $(bench_loadavg)"
"${H[@]}" load -q -i "$archive" >/dev/null
"${H[@]}" run -d --name bench-exec "$img" sleep 1000 >/dev/null
cmds=(--command-name husk "${H[*]} exec bench-exec true")
if [[ $husk_only -eq 0 ]]; then
  "${P[@]}" load -q -i "$archive" >/dev/null
  "${P[@]}" run -d --name bench-exec "$img" sleep 1000 >/dev/null
  echo "exec-latency: $(bench_podman_version)"
  cmds+=(--command-name podman "${P[*]} exec bench-exec true")
fi

json=$work/exec.json
hyperfine -N --warmup "$warmup" --runs "$runs" --export-json "$json" "${cmds[@]}"
h=$(bench_median "$json" husk)
if [[ $husk_only -eq 1 ]]; then
  echo "exec-latency: husk exec median ${h} ms"
else
  p=$(bench_median "$json" podman)
  echo "exec-latency: husk exec median ${h} ms, podman exec median ${p} ms," \
    "podman/husk $(bench_ratio "$p" "$h")x"
fi
