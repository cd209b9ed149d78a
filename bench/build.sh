#!/bin/bash
# husk build against podman build (with runc), side by side with hyperfine
# (DESIGN.md section 6: a cached rebuild of a 10-step Dockerfile <= 100 ms):
#
#   1. cold:   build --no-cache of a 10-step Dockerfile (FROM the busybox
#              test image, COPY of a 2000-file context, four RUN steps,
#              ENV, WORKDIR, ARG, CMD): every step runs
#   2. cached: the same build again, every step from the cache
#
# The test image of tests/fixtures/mkimage.sh is loaded from its
# docker-archive into a store of each tool under a temp dir (--root and
# --runroot), so the host's podman store is untouched.  RUN steps run
# with --network none for both.  Prints hyperfine's summaries, then a
# table: husk median, podman median, podman/husk.  The ratios are
# information: the script exits 0 when every measurement ran, 1 when one
# failed (its row says so).
#
# Usage: build.sh [--quick] [--husk-only]
#   --quick      3 cold and 5 cached runs: a smoke test, not figures
#   --husk-only  measure husk alone (podman, runc need not be installed)
#
# Environment: HUSK_BINARY (default build/husk), BENCH_COLD_RUNS (10),
# BENCH_RUNS (30: cached runs), BENCH_WARMUP (2), BENCH_FILES (2000).
#
# Everything it starts is removed through the tools on exit or interrupt;
# what is left with our temp dir in its command line is killed by PID;
# mounts under the temp dir are unmounted.
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
    echo "build-bench: unknown argument '$arg' (--quick, --husk-only)" >&2
    exit 2
    ;;
  esac
done
if [[ $quick -eq 1 ]]; then
  cold_runs=${BENCH_COLD_RUNS:-3} runs=${BENCH_RUNS:-5} warmup=${BENCH_WARMUP:-1}
else
  cold_runs=${BENCH_COLD_RUNS:-10} runs=${BENCH_RUNS:-30} warmup=${BENCH_WARMUP:-2}
fi
nfiles=${BENCH_FILES:-2000}

# -- prerequisites -----------------------------------------------------------
missing=()
tools=(hyperfine jq tar)
[[ $husk_only -eq 1 ]] || tools+=(podman runc)
for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
[[ -x /bin/busybox ]] || missing+=("/bin/busybox (busybox-static, for the test image)")
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "build-bench: missing: ${missing[*]} (tests/install-deps.sh installs them)" >&2
  exit 1
fi
[[ -x $husk ]] || {
  echo "build-bench: no husk at $husk (build first, or set HUSK_BINARY)" >&2
  exit 1
}
[[ $(id -u) -eq 0 ]] || echo "build-bench: not root: the figures are rootless ones" >&2
if [[ $husk_only -eq 0 ]]; then
  # podman needs explicit ulimits here (idempotent).
  "$repo/bench/podman-setup.sh" >/dev/null
fi

"$repo/tests/fixtures/mkimage.sh" >&2
img=$(. "$repo/tests/fixtures/out/image.env" && echo "$FIXTURE_NAME")
archive=$repo/tests/fixtures/out/docker-archive.tar

# -- stores, context, cleanup ------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/var/tmp}/husk-bench-build.XXXXXX")
H=("$husk" --root "$work/husk" --runroot "$work/husk-run")
P=(podman --root "$work/podman" --runroot "$work/podman-run")
cleanup() {
  set +e
  echo "build-bench: cleaning up $work" >&2
  [[ -d $work/husk ]] && timeout 300 "${H[@]}" rm -a -f >/dev/null 2>&1
  [[ -d $work/podman ]] && timeout 900 "${P[@]}" rm -a -f -t 0 >/dev/null 2>&1
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

ctx=$work/ctx
mkdir -p "$ctx/files"
for ((d = 0; d < 20; d++)); do
  mkdir -p "$ctx/files/d$d"
  for ((f = 0; f < nfiles / 20; f++)); do
    echo "file $d/$f" >"$ctx/files/d$d/f$f.txt"
  done
done
cat >"$ctx/Dockerfile" <<EOF
FROM $img
ENV APP=/app
WORKDIR /app
COPY files/ /app/files/
RUN find /app/files -type f | wc -l > /count
RUN echo one > /one
ARG V=1
RUN echo "\$V" > /v
RUN sh -c 'for i in 1 2 3; do echo \$i; done' > /three
CMD ["cat", "/count"]
EOF

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')
echo "build-bench: husk ($husk, git $rev), $(nproc) CPUs, kernel $(uname -r), load $load_start"
echo "build-bench: 10-step Dockerfile, context of $(find "$ctx/files" -type f | wc -l) files"
"${H[@]}" load -q -i "$archive" >/dev/null
if [[ $husk_only -eq 0 ]]; then
  "${P[@]}" load -q -i "$archive" >/dev/null
  echo "build-bench: $(podman --version), runtime runc $(runc --version | awk 'NR == 1 { print $3 }')"
fi

hb="${H[*]} build -q --network none -t bench $ctx"
pb="${P[*]} build -q --runtime runc --network none -t bench $ctx"
# Both must build, and give the same result.
for t in husk podman; do
  [[ $t == podman && $husk_only -eq 1 ]] && continue
  if [[ $t == husk ]]; then c=$hb r=("${H[@]}"); else c=$pb r=("${P[@]}"); fi
  $c >/dev/null || {
    echo "build-bench: the first $t build failed" >&2
    exit 1
  }
  out=$("${r[@]}" run --rm --network none bench)
  [[ $out == "$nfiles" ]] || {
    echo "build-bench: $t's image counts '$out' files, expected $nfiles" >&2
    exit 1
  }
done

# -- measuring ---------------------------------------------------------------
failed=0
declare -A result # "<row> husk|podman" -> median in ms, or "failed"

# measure ROW RUNS HUSK_CMD PODMAN_CMD: medians into result[].
measure() {
  local row=$1 n=$2 hc=$3 pc=$4
  local json=$work/$row.json
  local cmds=(--command-name husk "$hc")
  [[ $husk_only -eq 1 ]] || cmds+=(--command-name podman "$pc")
  echo
  echo "== $row"
  if hyperfine -N --warmup "$warmup" --runs "$n" --export-json "$json" "${cmds[@]}"; then
    local t
    for t in husk podman; do
      [[ $t == podman && $husk_only -eq 1 ]] && continue
      result["$row $t"]=$(jq -r --arg n "$t" \
        '.results[] | select(.command == $n) | .median * 1000 * 100 | round / 100' "$json")
    done
  else
    echo "build-bench: $row failed" >&2
    result["$row husk"]=failed
    result["$row podman"]=failed
    failed=1
  fi
}

measure cold "$cold_runs" "$hb --no-cache" "$pb --no-cache"
# The cold runs left the newest steps cached: warm up once, then measure.
measure cached "$runs" "$hb" "$pb"

# -- summary -----------------------------------------------------------------
echo
echo "build-bench: load before $load_start, after $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s %12s %12s %14s %s\n' row husk_ms podman_ms podman/husk target
for row in cold cached; do
  h=${result["$row husk"]:-n/a} p=${result["$row podman"]:-n/a} ratio=n/a
  if [[ $h =~ ^[0-9.]+$ && $p =~ ^[0-9.]+$ ]]; then
    ratio=$(awk -v h="$h" -v p="$p" 'BEGIN { printf "%.1fx", p / h }')
  fi
  target=
  [[ $row == cached ]] && target="<= 100 ms"
  printf '%-8s %12s %12s %14s %s\n' "$row" "$h" "$p" "$ratio" "$target"
done
exit "$failed"
