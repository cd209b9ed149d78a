#!/bin/bash
# `husk load -i` against `podman load -i` on a ~200 MiB docker-archive of
# four layers of random (incompressible) files, built like the test
# fixtures (tar, gzip -n, sha256sum, jq) and written by skopeo.
#
# Each run starts from a store with no images (the prepare step removes
# them), so both tools store every layer.  Prints hyperfine's summary, then
# the medians and the ratio podman/husk as the last line.
#
# Environment: HUSK_BINARY (default build/husk), BENCH_MIB (200),
# BENCH_RUNS (5), BENCH_CACHE (where the archive is kept between runs,
# default /var/tmp/husk-bench).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
husk=${HUSK_BINARY:-$repo/build/husk}
mib=${BENCH_MIB:-200}
runs=${BENCH_RUNS:-5}
cache=${BENCH_CACHE:-/var/tmp/husk-bench}
for tool in hyperfine skopeo jq podman; do
  command -v "$tool" >/dev/null || { echo "load: $tool is needed" >&2; exit 1; }
done
[[ -x $husk ]] || { echo "load: no husk at $husk (build first)" >&2; exit 1; }

archive=$cache/random-$mib.tar
if [[ ! -s $archive ]]; then
  echo "load: making a $mib MiB archive in $cache"
  mkdir -p "$cache"
  src=$(mktemp -d "$cache/src.XXXXXX")
  oci=$src/oci
  mkdir -p "$oci/blobs/sha256"
  per_layer=$((mib / 4))
  diff_ids=() layers=()
  for l in 1 2 3 4; do
    mkdir -p "$src/l$l/data$l"
    # 8 files a layer, random so compression cannot help either tool.
    for f in 1 2 3 4 5 6 7 8; do
      head -c $((per_layer * 1024 * 1024 / 8)) /dev/urandom >"$src/l$l/data$l/f$f"
    done
    tar --create --file "$src/l$l.tar" --sort=name --numeric-owner \
      --owner=0 --group=0 --mtime=@1704067200 -C "$src/l$l" "data$l"
    diff_ids+=("sha256:$(sha256sum "$src/l$l.tar" | cut -d' ' -f1)")
    gzip -n -1 -c "$src/l$l.tar" >"$src/l$l.tar.gz"
    h=$(sha256sum "$src/l$l.tar.gz" | cut -d' ' -f1)
    mv "$src/l$l.tar.gz" "$oci/blobs/sha256/$h"
    layers+=("$(jq -n -c --arg d "sha256:$h" --argjson s "$(stat -c %s "$oci/blobs/sha256/$h")" \
      '{mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: $d, size: $s}')")
    rm -rf "$src/l$l" "$src/l$l.tar"
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
  skopeo --insecure-policy copy -q "oci:$oci:latest" \
    "docker-archive:$archive.tmp:localhost/bench/random:latest"
  mv "$archive.tmp" "$archive"
  rm -rf "$src"
fi
echo "load: $(du -m "$archive" | cut -f1) MiB archive $archive"

work=$(mktemp -d "${TMPDIR:-/var/tmp}/husk-bench-load.XXXXXX")
cleanup() {
  grep -o " $work/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

H="$husk --root $work/husk --runroot $work/husk-run"
P="podman --root $work/podman --runroot $work/podman-run --runtime runc"
# Make both stores once, so the timed runs do not include store creation.
$H images >/dev/null
$P images >/dev/null

hyperfine --runs "$runs" --export-json "$work/result.json" \
  --command-name "husk load" --prepare "$H rmi -a -f >/dev/null 2>&1 || true" \
  "$H load -q -i $archive" \
  --command-name "podman load" --prepare "$P rmi -a -f >/dev/null 2>&1 || true" \
  "$P load -q -i $archive"

husk_ms=$(jq -r '.results[0].median * 1000 | round' "$work/result.json")
podman_ms=$(jq -r '.results[1].median * 1000 | round' "$work/result.json")
echo "husk load median: $husk_ms ms"
echo "podman load median: $podman_ms ms"
echo "podman/husk: $(jq -n --argjson h "$husk_ms" --argjson p "$podman_ms" '$p / $h * 100 | round / 100')x"
