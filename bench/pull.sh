#!/bin/bash
# `husk pull` against `podman pull` and `skopeo copy ... containers-storage:`
# from a local docker-registry (plain HTTP on 127.0.0.1), then `husk push`
# against `podman push` of the same image.
#
# The image: 8 gzip layers, BENCH_MIB (1024) MiB uncompressed in all, of
# base64-encoded random bytes (compressible like text, about 3:4), built
# as an OCI layout with tar, gzip -n, sha256sum and jq, and cached in
# BENCH_CACHE between runs.  Each timed pull starts from a store with no
# images (the prepare step removes them); each timed push starts from an
# empty registry (the prepare step restarts it on fresh storage).
#
# Prints hyperfine's summaries, the medians and the ratios (podman/husk,
# skopeo/husk), and a single-core inflate throughput line (zlib, and ISA-L
# when its headers are installed) measured on one of the layers.  `husk
# pull (zlib)` is husk with HUSK_NO_ISAL=1.
#
# Everything it starts (the registry) is stopped by PID, and its temp dir
# is removed, on exit or interrupt.
#
# Environment: HUSK_BINARY (default build/husk), BENCH_MIB (1024),
# BENCH_RUNS (3), BENCH_CACHE (/var/tmp/husk-bench), BENCH_SKIP_PUSH=1.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
husk=${HUSK_BINARY:-$repo/build/husk}
mib=${BENCH_MIB:-1024}
runs=${BENCH_RUNS:-3}
cache=${BENCH_CACHE:-/var/tmp/husk-bench}
nlayers=8
for tool in hyperfine skopeo jq podman docker-registry curl gzip tar sha256sum python3; do
  command -v "$tool" >/dev/null || {
    echo "pull: $tool is needed" >&2
    exit 1
  }
done
[[ -x $husk ]] || {
  echo "pull: no husk at $husk (build first)" >&2
  exit 1
}

# -- the image (cached) ------------------------------------------------------
layout=$cache/pull-$mib-oci
if [[ ! -f $layout/index.json ]]; then
  echo "pull: making a $mib MiB image of $nlayers gzip layers in $layout"
  mkdir -p "$cache"
  src=$(mktemp -d "$cache/src.XXXXXX")
  trap 'rm -rf "$src"' EXIT
  oci=$src/oci
  mkdir -p "$oci/blobs/sha256"
  per_layer=$((mib / nlayers))
  # 4 files a layer; base64 makes 4 bytes of 3, so read 3/4 of the size.
  make_layer() {
    local l=$1 f
    mkdir -p "$src/l$l/data$l"
    for f in 1 2 3 4; do
      head -c $((per_layer * 1024 * 1024 / 4 * 3 / 4)) /dev/urandom |
        base64 -w 76 >"$src/l$l/data$l/f$f"
    done
    tar --create --file "$src/l$l.tar" --sort=name --numeric-owner \
      --owner=0 --group=0 --mtime=@1704067200 -C "$src/l$l" "data$l"
    rm -rf "$src/l$l"
    sha256sum "$src/l$l.tar" | cut -d' ' -f1 >"$src/l$l.diffid"
    gzip -n -6 "$src/l$l.tar"
  }
  # Two at a time: gzip is the slow part.
  for ((l = 1; l <= nlayers; l += 2)); do
    make_layer "$l" &
    p1=$!
    if ((l + 1 <= nlayers)); then
      make_layer $((l + 1)) &
      p2=$!
      wait "$p2"
    fi
    wait "$p1"
  done
  diff_ids=() layers=()
  for ((l = 1; l <= nlayers; l++)); do
    diff_ids+=("sha256:$(cat "$src/l$l.diffid")")
    h=$(sha256sum "$src/l$l.tar.gz" | cut -d' ' -f1)
    mv "$src/l$l.tar.gz" "$oci/blobs/sha256/$h"
    layers+=("$(jq -n -c --arg d "sha256:$h" --argjson s "$(stat -c %s "$oci/blobs/sha256/$h")" \
      '{mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: $d, size: $s}')")
  done
  printf '%s\n' "${diff_ids[@]}" | jq -R . | jq -s -c \
    '{created: "2024-01-01T00:00:00Z", architecture: "amd64", os: "linux",
      config: {Cmd: ["sh"]}, rootfs: {type: "layers", diff_ids: .}}' >"$src/config.json"
  ch=$(sha256sum "$src/config.json" | cut -d' ' -f1)
  cs=$(stat -c %s "$src/config.json")
  mv "$src/config.json" "$oci/blobs/sha256/$ch"
  printf '%s\n' "${layers[@]}" | jq -s -c --arg d "sha256:$ch" --argjson s "$cs" \
    '{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $d, size: $s},
      layers: .}' >"$src/manifest.json"
  mh=$(sha256sum "$src/manifest.json" | cut -d' ' -f1)
  ms=$(stat -c %s "$src/manifest.json")
  mv "$src/manifest.json" "$oci/blobs/sha256/$mh"
  jq -n -c --arg d "sha256:$mh" --argjson s "$ms" \
    '{schemaVersion: 2, manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest: $d, size: $s, annotations: {"org.opencontainers.image.ref.name": "latest"}}]}' \
    >"$oci/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' >"$oci/oci-layout"
  rm -rf "$layout"
  mv "$oci" "$layout"
  rm -rf "$src"
  trap - EXIT
fi
image_id=$(jq -r '.config.digest' "$layout/blobs/sha256/$(jq -r '.manifests[0].digest' \
  "$layout/index.json" | cut -d: -f2)" | cut -d: -f2)
echo "pull: image $image_id, $(du -sm "$layout" | cut -f1) MiB compressed ($layout)"

# -- the registry, and cleanup -----------------------------------------------
work=$(mktemp -d "${TMPDIR:-/var/tmp}/husk-bench-pull.XXXXXX")
cleanup() {
  [[ -x $work/registry.sh ]] && "$work/registry.sh" stop || true
  grep -o " $work/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port=$(python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
reg=127.0.0.1:$port
cat >"$work/registry.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/registry-data
  delete:
    enabled: true
http:
  addr: $reg
  secret: husk-bench
EOF
# start | stop | reset (stop, empty storage, start): run as its own process
# so the registry is never a child of a long-lived shell (stop polls the
# PID until it is gone).
cat >"$work/registry.sh" <<EOF
#!/bin/bash
set -eu
work='$work'
reg='$reg'
EOF
cat >>"$work/registry.sh" <<'EOF'
stop() {
  [[ -f $work/registry.pid ]] || return 0
  local pid i
  pid=$(cat "$work/registry.pid")
  kill "$pid" 2>/dev/null || true
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  rm -f "$work/registry.pid"
}
start() {
  mkdir -p "$work/registry-data"
  docker-registry serve "$work/registry.yml" >>"$work/registry.log" 2>&1 </dev/null &
  echo $! >"$work/registry.pid"
  local i
  for i in $(seq 1 100); do
    curl -sf "http://$reg/v2/" >/dev/null && return 0
    sleep 0.05
  done
  echo "registry.sh: docker-registry did not start" >&2
  cat "$work/registry.log" >&2
  return 1
}
case $1 in
start) start ;;
stop) stop ;;
reset)
  stop
  rm -rf "$work/registry-data"
  start
  ;;
esac
EOF
chmod +x "$work/registry.sh"
"$work/registry.sh" start
ref=$reg/bench/image:latest
skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$layout:latest" "docker://$ref"
echo "pull: registry at $reg holds $ref"

H="$husk --root $work/husk --runroot $work/husk-run"
P="podman --root $work/podman --runroot $work/podman-run --runtime runc"
S_STORE="$work/skopeo+$work/skopeo-run"
PS="podman --root $work/skopeo --runroot $work/skopeo-run --runtime runc"
$H images >/dev/null
$P images >/dev/null
$PS images >/dev/null

# husk must pull at all before it is timed.
got=$($H pull -q --tls-verify=false "$ref" | tail -1)
[[ ${got#sha256:} == "$image_id" ]] || {
  echo "pull: husk pulled '$got', expected $image_id" >&2
  exit 1
}
# skopeo into containers-storage: skipped if it cannot.
skopeo_cmd="skopeo --insecure-policy copy -q --src-tls-verify=false docker://$ref containers-storage:[overlay@$S_STORE]$ref"
with_skopeo=1
if ! $skopeo_cmd >"$work/skopeo.err" 2>&1; then
  echo "pull: skopeo copy to containers-storage failed, not timed: $(tail -1 "$work/skopeo.err")"
  with_skopeo=0
fi

# -- pull ----------------------------------------------------------------------
cmds=(--command-name "husk pull" --prepare "$H rmi -a -f >/dev/null 2>&1 || true"
  "$H pull -q --tls-verify=false $ref"
  --command-name "husk pull (zlib)" --prepare "$H rmi -a -f >/dev/null 2>&1 || true"
  "env HUSK_NO_ISAL=1 $H pull -q --tls-verify=false $ref"
  --command-name "podman pull" --prepare "$P rmi -a -f >/dev/null 2>&1 || true"
  "$P pull -q --tls-verify=false $ref")
if [[ $with_skopeo -eq 1 ]]; then
  cmds+=(--command-name "skopeo copy" --prepare "$PS rmi -a -f >/dev/null 2>&1 || true" "$skopeo_cmd")
fi
hyperfine --runs "$runs" --export-json "$work/pull.json" "${cmds[@]}"

median_ms() { jq -r --arg n "$2" '.results[] | select(.command == $n) | .median * 1000 | round' "$1"; }
ratio() { jq -n --argjson a "$1" --argjson b "$2" '$a / $b * 100 | round / 100'; }
husk_ms=$(median_ms "$work/pull.json" "husk pull")
zlib_ms=$(median_ms "$work/pull.json" "husk pull (zlib)")
podman_ms=$(median_ms "$work/pull.json" "podman pull")
echo "husk pull median: $husk_ms ms (zlib: $zlib_ms ms)"
echo "podman pull median: $podman_ms ms"
if [[ $with_skopeo -eq 1 ]]; then
  skopeo_ms=$(median_ms "$work/pull.json" "skopeo copy")
  echo "skopeo copy median: $skopeo_ms ms"
  echo "skopeo/husk pull: $(ratio "$skopeo_ms" "$husk_ms")x"
fi
echo "podman/husk pull: $(ratio "$podman_ms" "$husk_ms")x"

# -- push ----------------------------------------------------------------------
if [[ ${BENCH_SKIP_PUSH:-0} != 1 ]]; then
  # The last timed runs left the image in both stores.  Each push starts
  # from an empty registry, so every blob is compressed and uploaded.
  hyperfine --runs "$runs" --export-json "$work/push.json" \
    --command-name "husk push" --prepare "$work/registry.sh reset" \
    "$H push -q --tls-verify=false $ref $reg/bench/husk-push:latest" \
    --command-name "podman push" --prepare "$work/registry.sh reset" \
    "$P push -q --tls-verify=false $ref $reg/bench/podman-push:latest"
  hp=$(median_ms "$work/push.json" "husk push")
  pp=$(median_ms "$work/push.json" "podman push")
  echo "husk push median: $hp ms"
  echo "podman push median: $pp ms"
  echo "podman/husk push: $(ratio "$pp" "$hp")x"
fi

# -- inflate throughput, one core ----------------------------------------------
if command -v cc >/dev/null; then
  cat >"$work/inflate.c" <<'EOF'
/* Inflate a gzip file in memory with zlib and (if built with it) ISA-L;
   print the uncompressed MB/s of each on one core.  */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <zlib.h>
#ifdef WITH_ISAL
#include <isa-l/igzip_lib.h>
#endif

static double
now (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int
main (int argc, char **argv)
{
  FILE *f = fopen (argv[1], "rb");
  if (f == NULL || argc < 2)
    return 1;
  fseek (f, 0, SEEK_END);
  long n = ftell (f);
  fseek (f, 0, SEEK_SET);
  unsigned char *in = malloc (n), *out = malloc (1 << 20);
  if (fread (in, 1, n, f) != (size_t) n)
    return 1;
  fclose (f);

  double t = now ();
  unsigned long long total = 0;
  z_stream z = { 0 };
  inflateInit2 (&z, 16 + MAX_WBITS);
  z.next_in = in;
  z.avail_in = n;
  int r;
  do
    {
      z.next_out = out;
      z.avail_out = 1 << 20;
      r = inflate (&z, Z_NO_FLUSH);
      total += (1 << 20) - z.avail_out;
    }
  while (r == Z_OK);
  inflateEnd (&z);
  double zt = now () - t;
  printf ("zlib %.0f MB/s", total / zt / 1e6);

#ifdef WITH_ISAL
  struct inflate_state st;
  isal_inflate_init (&st);
  st.crc_flag = ISAL_GZIP;
  st.next_in = in;
  st.avail_in = n;
  t = now ();
  total = 0;
  do
    {
      st.next_out = out;
      st.avail_out = 1 << 20;
      r = isal_inflate (&st);
      total += (1 << 20) - st.avail_out;
    }
  while (r == ISAL_DECOMP_OK && st.block_state != ISAL_BLOCK_FINISH);
  double it = now () - t;
  printf (", ISA-L %.0f MB/s (%.2fx)", total / it / 1e6, zt / it);
#endif
  printf ("\n");
  return 0;
}
EOF
  isal=()
  [[ -f /usr/include/isa-l/igzip_lib.h ]] && isal=(-DWITH_ISAL -lisal)
  if cc -O2 -o "$work/inflate" "$work/inflate.c" -lz "${isal[@]}" 2>"$work/cc.err"; then
    layer=$(jq -r '.layers[0].digest' "$layout/blobs/sha256/$(jq -r '.manifests[0].digest' \
      "$layout/index.json" | cut -d: -f2)" | cut -d: -f2)
    echo "inflate, one core: $("$work/inflate" "$layout/blobs/sha256/$layer")"
  else
    echo "inflate: could not build the probe: $(head -1 "$work/cc.err")"
  fi
fi
