#!/bin/bash
# husk cp and diff at scale (issue 4, "Measure and report"):
#
#   1. cp of a 1 GiB directory tree (1024 files of 1 MiB in 32 dirs, plus
#      10 000 small files) into a stopped container and out of it, and
#      the same out of a running container
#   2. diff of a container whose upper dir holds 100 000 changed files
#      (100 000 new files in 100 directories; plus deletions and changes)
#
# Uses the busybox test image of tests/fixtures/mkimage.sh in a private
# store under a temp dir.  Prints one line per measurement (wall seconds,
# best of BENCH_RUNS, default 3).  Usage: container-fs.sh [--quick]
# (--quick: 128 MiB and 10 000 files).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
husk_bin=${HUSK_BINARY:-$repo/build/husk}
runs=${BENCH_RUNS:-3}
mib=1024 nfiles=100000
if [[ ${1:-} == --quick ]]; then
  mib=128 nfiles=10000
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/husk-bench-fs.XXXXXX")
cleanup() {
  husk rm -a -f >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
husk() { "$husk_bin" --root "$work/root" --runroot "$work/run" "$@"; }

"$repo/tests/fixtures/mkimage.sh" "$work/fixtures" >/dev/null
# shellcheck disable=SC1091
source "$work/fixtures/image.env"
husk load -q -i "$work/fixtures/docker-archive.tar" >/dev/null
img=$FIXTURE_NAME

# best CMD...: the best wall time of $runs runs, in seconds.
best() {
  local i t0 t1 d b=
  for ((i = 0; i < runs; i++)); do
    t0=$(date +%s%N)
    "$@" >/dev/null
    t1=$(date +%s%N)
    d=$(((t1 - t0) / 1000000))
    [[ -z $b || $d -lt $b ]] && b=$d
  done
  printf '%d.%03d' $((b / 1000)) $((b % 1000))
}

echo "husk $("$husk_bin" --version | awk '{print $NF}') ($(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?'))"

# -- 1 GiB tree ------------------------------------------------------------
src=$work/tree
for ((d = 0; d < 32; d++)); do
  mkdir -p "$src/d$d/small"
  for ((f = 0; f < mib / 32; f++)); do
    head -c 1048576 /dev/urandom >"$src/d$d/f$f"
  done
  for ((f = 0; f < 10000 / 32; f++)); do
    echo "$d $f" >"$src/d$d/small/s$f"
  done
done
size=$(du -sh "$src" | cut -f1)
husk create --name stopped "$img" true >/dev/null
husk run -d --name running "$img" sleep 100000 >/dev/null

cp_in_only() { husk cp "$src" "$1":/tree-$RANDOM; }
printf '%-52s %8s s\n' "cp $size tree into a stopped container" "$(best cp_in_only stopped)"
printf '%-52s %8s s\n' "cp $size tree into a running container" "$(best cp_in_only running)"
husk cp "$src" stopped:/tree
husk cp "$src" running:/tree
cp_out() { rm -rf "$work/out"; husk cp "$1":/tree "$work/out"; }
printf '%-52s %8s s\n' "cp $size tree out of a stopped container" "$(best cp_out stopped)"
printf '%-52s %8s s\n' "cp $size tree out of a running container" "$(best cp_out running)"
tar_ref() { rm -rf "$work/out"; mkdir "$work/out"; tar -C "$src/.." -cf - tree | tar -C "$work/out" -xf -; }
printf '%-52s %8s s\n' "(reference: tar | tar of the same tree on the host)" "$(best tar_ref)"
rm -rf "$work/out" "$src"
husk rm -f stopped running >/dev/null

# -- diff of 100 000 changes -------------------------------------------------
husk run --name many "$img" sh -c "
  i=0; while [ \$i -lt 100 ]; do mkdir -p /many/d\$i; i=\$((i+1)); done
  rm /etc/motd; echo x >> /etc/passwd" >/dev/null
upper=$(ls -d "$work"/root/containers/*/upper)
# The files go straight into the upper dir (as the container would make
# them): a shell loop inside busybox would take minutes.
for ((d = 0; d < 100; d++)); do
  (cd "$upper/many/d$d" && seq -f "f%g" 1 $((nfiles / 100)) | xargs touch)
done
n=$(husk diff many | wc -l)
printf '%-52s %8s s\n' "diff of a container with $n changes" "$(best husk diff many)"
printf '%-52s %8s s\n' "diff --format json, same container" "$(best husk diff --format json many)"
