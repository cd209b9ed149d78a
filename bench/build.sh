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

bench_name=build-bench
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_args -- "$@"
if [[ $quick -eq 1 ]]; then
  cold_runs=${BENCH_COLD_RUNS:-3} runs=${BENCH_RUNS:-5} warmup=${BENCH_WARMUP:-1}
else
  cold_runs=${BENCH_COLD_RUNS:-10} runs=${BENCH_RUNS:-30} warmup=${BENCH_WARMUP:-2}
fi
nfiles=${BENCH_FILES:-2000}

# -- prerequisites -----------------------------------------------------------
bench_require busybox hyperfine jq tar || exit 1
bench_host
bench_fixture >&2

# -- stores, context ---------------------------------------------------------
bench_stores build 300 900

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

load_start=$(bench_loadavg)
echo "build-bench: husk ($husk, git $rev), $(nproc) CPUs, kernel $(uname -r), load $load_start"
echo "build-bench: 10-step Dockerfile, context of $(find "$ctx/files" -type f | wc -l) files"
"${H[@]}" load -q -i "$archive" >/dev/null
if [[ $husk_only -eq 0 ]]; then
  "${P[@]}" load -q -i "$archive" >/dev/null
  echo "build-bench: $(bench_podman_version)"
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
bench_measure cold "$cold_runs" "$hb --no-cache" "$pb --no-cache"
# The cold runs left the newest steps cached: warm up once, then measure.
bench_measure cached "$runs" "$hb" "$pb"

# -- summary -----------------------------------------------------------------
echo
echo "build-bench: load before $load_start, after $(bench_loadavg)"
printf '%-8s %12s %12s %14s %s\n' row husk_ms podman_ms podman/husk target
for row in cold cached; do
  h=${result["$row husk"]:-n/a} p=${result["$row podman"]:-n/a} ratio=n/a
  if [[ $h =~ ^[0-9.]+$ && $p =~ ^[0-9.]+$ ]]; then
    ratio=$(bench_ratio "$p" "$h")x
  fi
  target=
  [[ $row == cached ]] && target="<= 100 ms"
  printf '%-8s %12s %12s %14s %s\n' "$row" "$h" "$p" "$ratio" "$target"
done
exit "$failed"
