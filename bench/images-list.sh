#!/bin/bash
# How long `husk images` takes with 1000 images in the store.
#
# The images share one tiny layer and differ by a label; they are made in
# one `husk load` of a generated docker-archive (falling back to 1000
# imports with --change LABEL=... if load fails).  Prints hyperfine's
# summary and, last, the median in milliseconds.
#
# Environment: HUSK_BINARY (default build/husk), BENCH_IMAGES (1000),
# BENCH_RUNS (30), BENCH_PODMAN=1 to time `podman images` on the same set.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
husk=${HUSK_BINARY:-$repo/build/husk}
n=${BENCH_IMAGES:-1000}
runs=${BENCH_RUNS:-30}
[[ -x $husk ]] || { echo "images-list: no husk at $husk (build first)" >&2; exit 1; }
command -v hyperfine >/dev/null || { echo "images-list: hyperfine is needed" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/var/tmp}/husk-bench-images.XXXXXX")
cleanup() {
  # podman may leave its storage mounted; unmount what is ours only.
  grep -o " $work/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
H=("$husk" --root "$work/root" --runroot "$work/run")

# One docker-archive holding N images that share one layer.
python3 - "$work/many.tar" "$n" <<'PY'
import hashlib, io, json, sys, tarfile
out, n = sys.argv[1], int(sys.argv[2])
def add(t, name, data):
    i = tarfile.TarInfo(name); i.size = len(data); i.mtime = 1704067200
    t.addfile(i, io.BytesIO(data))
lb = io.BytesIO()
with tarfile.open(fileobj=lb, mode="w") as lt:
    add(lt, "hello", b"hello\n")
layer = lb.getvalue()
diff = hashlib.sha256(layer).hexdigest()
manifest = []
with tarfile.open(out, "w") as t:
    add(t, diff + ".tar", layer)
    for i in range(n):
        cfg = json.dumps({"created": "2024-01-01T00:00:00Z", "architecture": "amd64",
                          "os": "linux", "config": {"Labels": {"n": str(i)}},
                          "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff]}}).encode()
        name = hashlib.sha256(cfg).hexdigest() + ".json"
        add(t, name, cfg)
        manifest.append({"Config": name, "RepoTags": ["localhost/bench/img-%d:latest" % i],
                         "Layers": [diff + ".tar"]})
    add(t, "manifest.json", json.dumps(manifest).encode())
PY

echo "images-list: making $n images"
if ! "${H[@]}" load -q -i "$work/many.tar" >/dev/null; then
  echo "images-list: load failed, importing one by one" >&2
  tar -cf "$work/tiny.tar" -C "$repo" README.md 2>/dev/null || tar -cf "$work/tiny.tar" -T /dev/null
  for i in $(seq 0 $((n - 1))); do
    "${H[@]}" import -q -c "LABEL n=$i" "$work/tiny.tar" "bench/img-$i" >/dev/null
  done
fi
got=$("${H[@]}" images -q | wc -l)
echo "images-list: the store holds $got images"
[[ $got -ge $n ]] || { echo "images-list: expected $n images" >&2; exit 1; }

cmds=("${H[*]} images")
if [[ ${BENCH_PODMAN:-0} == 1 ]]; then
  P=(podman --root "$work/podman" --runroot "$work/podman-run" --runtime runc)
  "${P[@]}" load -q -i "$work/many.tar" >/dev/null
  cmds+=("${P[*]} images")
fi

hyperfine --warmup 3 --runs "$runs" --export-json "$work/result.json" \
  --output=null "${cmds[@]}"
median=$(jq -r '.results[0].median * 1000 | . * 100 | round / 100' "$work/result.json")
if [[ ${BENCH_PODMAN:-0} == 1 ]]; then
  echo "podman images median: $(jq -r '.results[1].median * 1000 | . * 100 | round / 100' "$work/result.json") ms"
fi
echo "husk images with $n images: median $median ms"
