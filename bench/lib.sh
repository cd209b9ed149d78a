# shellcheck shell=bash
# The set-up shared by the benchmarks that time husk against podman (with
# runc): flags, prerequisites, the busybox test image, a store of each tool
# under a temp dir (so the host's podman store is untouched) removed on
# exit, and hyperfine's medians.  Sourced, after `set -euo pipefail`, by
# build.sh, run-latency.sh and exec-latency.sh; bench_name (the prefix of
# every message) is set first.  The script's usage is its header comment,
# up to its `set -euo` line.
# The variables set here are the scripts' (SC2034); bench_name and warmup
# come from them (SC2154).
# shellcheck disable=SC2034,SC2154

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
husk=${HUSK_BINARY:-$repo/build/husk}
rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')

# bench_args [--FLAG...] -- ARGS...: --quick, --husk-only, -h/--help and
# the script's own --FLAGs (--full sets full=1) from ARGS.
bench_args() {
  local extra=() arg flag known
  while [[ $1 != -- ]]; do
    extra+=("$1")
    shift
  done
  shift
  quick=0 husk_only=0
  for flag in "${extra[@]}"; do
    printf -v "${flag#--}" 0
  done
  for arg in "$@"; do
    case $arg in
    --quick) quick=1 ;;
    --husk-only) husk_only=1 ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "${BASH_SOURCE[-1]}" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *)
      for flag in "${extra[@]}"; do
        [[ $arg == "$flag" ]] && printf -v "${flag#--}" 1 && continue 2
      done
      known=$(printf ', %s' --quick --husk-only "${extra[@]}")
      echo "$bench_name: unknown argument '$arg' (${known#, })" >&2
      exit 2
      ;;
    esac
  done
}

# bench_require TOOL...: the TOOLs (and podman and runc unless
# --husk-only) are on PATH; "busybox" stands for /bin/busybox.  Returns 1
# after saying what is missing.
bench_require() {
  local missing=() tools=() tool busybox=0
  for tool in "$@"; do
    if [[ $tool == busybox ]]; then busybox=1; else tools+=("$tool"); fi
  done
  [[ $husk_only -eq 1 ]] || tools+=(podman runc)
  for tool in "${tools[@]}"; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
  [[ $busybox -eq 0 || -x /bin/busybox ]] || missing+=("/bin/busybox (busybox-static, for the test image)")
  if [[ ${#missing[@]} -gt 0 ]]; then
    echo "$bench_name: missing: ${missing[*]} (tests/install-deps.sh installs them)" >&2
    return 1
  fi
}

# bench_host: husk is built, a word when the figures are rootless ones,
# podman's ulimits set up.
bench_host() {
  [[ -x $husk ]] || {
    echo "$bench_name: no husk at $husk (build first, or set HUSK_BINARY)" >&2
    exit 1
  }
  [[ $(id -u) -eq 0 ]] || echo "$bench_name: not root: the figures are rootless ones" >&2
  if [[ $husk_only -eq 0 ]]; then
    # podman needs explicit ulimits here (idempotent).
    "$repo/bench/podman-setup.sh" >/dev/null
  fi
}

# bench_fixture: the busybox test image: its name in img, its
# docker-archive in archive.
bench_fixture() {
  "$repo/tests/fixtures/mkimage.sh"
  img=$(. "$repo/tests/fixtures/out/image.env" && echo "$FIXTURE_NAME")
  archive=$repo/tests/fixtures/out/docker-archive.tar
}

# bench_stores TAG HUSK_RM_SECONDS PODMAN_RM_SECONDS [PODMAN_FLAG...]: the
# temp dir work (husk-bench-TAG.XXXXXX), H and P the husk and podman
# commands on stores in it, all removed on exit or interrupt: containers
# through the tools (within the SECONDS), then what is left with the temp
# dir in its command line killed by PID, mounts under it unmounted.
bench_stores() {
  work=$(mktemp -d "${TMPDIR:-/var/tmp}/husk-bench-$1.XXXXXX")
  bench_rm_seconds=("$2" "$3")
  shift 3
  H=("$husk" --root "$work/husk" --runroot "$work/husk-run")
  P=(podman --root "$work/podman" --runroot "$work/podman-run" "$@")
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

bench_cleanup() {
  set +e
  echo "$bench_name: cleaning up $work" >&2
  [[ -d $work/husk ]] && timeout "${bench_rm_seconds[0]}" "${H[@]}" rm -a -f >/dev/null 2>&1
  # podman's container locks live in a shared /dev/shm segment: remove the
  # containers through podman so they are freed, never just the store.
  [[ -d $work/podman ]] && timeout "${bench_rm_seconds[1]}" "${P[@]}" rm -a -f -t 0 >/dev/null 2>&1
  # Anything still running from our stores (a monitor, a conmon) has the
  # temp dir in its command line: ours, killed by PID.
  local p
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [[ $p == "$$" ]] && continue
    tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | grep -qF -- "$work/" && kill -9 "$p" 2>/dev/null
  done
  grep -o " $work/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$work"
}

# bench_loadavg: the 1, 5 and 15 minute load averages.
bench_loadavg() {
  cut -d' ' -f1-3 /proc/loadavg
}

# bench_podman_version: "podman version X, runtime runc Y".
bench_podman_version() {
  echo "$(podman --version), runtime runc $(runc --version | awk 'NR == 1 { print $3 }')"
}

# bench_median JSON NAME: the median in ms (2 decimals) of the command
# NAME in hyperfine's JSON export.
bench_median() {
  jq -r --arg n "$2" '.results[] | select(.command == $n) | .median * 1000 * 100 | round / 100' "$1"
}

# bench_ratio P H: P / H with one decimal.
bench_ratio() {
  awk -v p="$1" -v h="$2" 'BEGIN { printf "%.1f", p / h }'
}

failed=0
declare -A result # "<row> husk|podman" -> median in ms, or "failed"
declare -A cpu    # "<row> husk|podman" -> mean user+system ms

# bench_measure ROW RUNS HUSK_CMD PODMAN_CMD [HYPERFINE_ARGS...]: time both
# (podman only without --husk-only) with hyperfine -N, after $warmup
# warm-up runs; medians into result[], mean CPU times into cpu[]; a
# failure is recorded in both and in failed.
bench_measure() {
  local row=$1 n=$2 hc=$3 pc=$4
  shift 4
  local json=$work/$row.json
  local cmds=(--command-name husk "$hc")
  [[ $husk_only -eq 1 ]] || cmds+=(--command-name podman "$pc")
  echo
  echo "== $row"
  if hyperfine -N --warmup "$warmup" --runs "$n" --export-json "$json" "$@" "${cmds[@]}"; then
    local t
    for t in husk podman; do
      [[ $t == podman && $husk_only -eq 1 ]] && continue
      result["$row $t"]=$(bench_median "$json" "$t")
      cpu["$row $t"]=$(jq -r --arg n "$t" \
        '.results[] | select(.command == $n) | (.user + .system) * 1000 * 10 | round / 10' "$json")
    done
  else
    echo "$bench_name: $row failed" >&2
    result["$row husk"]=failed
    result["$row podman"]=failed
    failed=1
  fi
}
