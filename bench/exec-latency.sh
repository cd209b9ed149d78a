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

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
husk=${HUSK_BINARY:-$repo/build/husk}
quick=0 husk_only=0
for arg in "$@"; do
  case $arg in
  --quick) quick=1 ;;
  --husk-only) husk_only=1 ;;
  -h | --help)
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "exec-latency: unknown argument '$arg' (--quick, --husk-only)" >&2
    exit 2
    ;;
  esac
done
if [[ $quick -eq 1 ]]; then
  runs=${BENCH_RUNS:-5} warmup=${BENCH_WARMUP:-1}
else
  runs=${BENCH_RUNS:-50} warmup=${BENCH_WARMUP:-5}
fi

missing=()
tools=(hyperfine jq)
[[ $husk_only -eq 1 ]] || tools+=(podman runc)
for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "exec-latency: missing: ${missing[*]} (tests/install-deps.sh installs them)" >&2
  exit 1
fi
[[ -x $husk ]] || {
  echo "exec-latency: no husk at $husk (build first, or set HUSK_BINARY)" >&2
  exit 1
}
[[ $(id -u) -eq 0 ]] || echo "exec-latency: not root: the figures are rootless ones" >&2
if [[ $husk_only -eq 0 ]]; then
  "$repo/bench/podman-setup.sh" >/dev/null
fi

"$repo/tests/fixtures/mkimage.sh"
img=$(. "$repo/tests/fixtures/out/image.env" && echo "$FIXTURE_NAME")
archive=$repo/tests/fixtures/out/docker-archive.tar

work=$(mktemp -d "${TMPDIR:-/var/tmp}/husk-bench-exec.XXXXXX")
H=("$husk" --root "$work/husk" --runroot "$work/husk-run")
P=(podman --root "$work/podman" --runroot "$work/podman-run" --runtime runc)
cleanup() {
  set +e
  echo "exec-latency: cleaning up $work" >&2
  [[ -d $work/husk ]] && timeout 120 "${H[@]}" rm -a -f >/dev/null 2>&1
  [[ -d $work/podman ]] && timeout 300 "${P[@]}" rm -a -f -t 0 >/dev/null 2>&1
  local p
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [[ $p == "$$" ]] && continue
    tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | grep -qF -- "$work/" && kill -9 "$p" 2>/dev/null
  done
  grep -o " $work/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')
echo "exec-latency: husk ($husk, git $rev), $(nproc) CPUs, kernel $(uname -r)," \
  "load $(cut -d' ' -f1-3 /proc/loadavg)"
"${H[@]}" load -q -i "$archive" >/dev/null
"${H[@]}" run -d --name bench-exec "$img" sleep 1000 >/dev/null
cmds=(--command-name husk "${H[*]} exec bench-exec true")
if [[ $husk_only -eq 0 ]]; then
  "${P[@]}" load -q -i "$archive" >/dev/null
  "${P[@]}" run -d --name bench-exec "$img" sleep 1000 >/dev/null
  echo "exec-latency: $(podman --version), runtime runc $(runc --version | awk 'NR == 1 { print $3 }')"
  cmds+=(--command-name podman "${P[*]} exec bench-exec true")
fi

json=$work/exec.json
hyperfine -N --warmup "$warmup" --runs "$runs" --export-json "$json" "${cmds[@]}"
median() {
  jq -r --arg n "$1" '.results[] | select(.command == $n) | .median * 1000 * 100 | round / 100' "$json"
}
h=$(median husk)
if [[ $husk_only -eq 1 ]]; then
  echo "exec-latency: husk exec median ${h} ms"
else
  p=$(median podman)
  echo "exec-latency: husk exec median ${h} ms, podman exec median ${p} ms," \
    "podman/husk $(awk -v p="$p" -v h="$h" 'BEGIN { printf "%.1f", p / h }')x"
fi
