#!/usr/bin/env bats
# husk save and husk load: docker-archive and oci-archive, both ways, and
# interoperability with skopeo (an independent implementation).

load helpers

setup_file() {
  load helpers
  fixtures
}

setup() {
  fixtures
  fresh_store
}

# The fixture's config, normalized, to compare with what an archive holds.
fixture_config() {
  local m
  m=$(jq -r '.manifests[0].digest' "$FIXTURE_OCI/index.json")
  local c
  c=$(jq -r '.config.digest' "$FIXTURE_OCI/blobs/sha256/${m#sha256:}")
  jq -S . "$FIXTURE_OCI/blobs/sha256/${c#sha256:}"
}

# assert_fixture_loaded [NAME]: the store holds the fixture image as NAME.
assert_fixture_loaded() {
  local name=${1:-$FIXTURE_NAME}
  run_husk image inspect --format '{{.Id}}' "$name"
  assert_output "$FIXTURE_ID"
  run_husk image inspect --format '{{range .RootFS.Layers}}{{.}} {{end}}' "$name"
  assert_output "$FIXTURE_DIFF_IDS "
}

# assert_archive_is_fixture TRANSPORT FILE: skopeo reads FILE and finds the
# fixture's config (so the same image id) and diffIDs.
assert_archive_is_fixture() {
  local transport=$1 file=$2
  run skopeo_ inspect --config "$transport:$file"
  assert_equal "$status" 0 "skopeo inspect --config $transport:$file exit status"
  assert_equal "$(jq -S . <<<"$output")" "$(fixture_config)" "config in $transport archive"
  assert_equal "$(jq -r '.rootfs.diff_ids | join(" ")' <<<"$output")" \
    "$FIXTURE_DIFF_IDS" "diffIDs in $transport archive"
  # Byte for byte (run would strip a trailing newline).
  assert_equal "$(skopeo_ inspect --raw --config "$transport:$file" |
    sha256sum | cut -d' ' -f1)" "$FIXTURE_ID" "config digest in $transport archive"
}

@test "load a skopeo-written docker-archive" {
  run_husk load -i "$FIXTURE_DOCKER_ARCHIVE"
  assert_line "Loaded image: $FIXTURE_NAME"
  assert_fixture_loaded

  run_husk images --format '{{.Repository}}:{{.Tag}} {{.ID}}'
  assert_output "$FIXTURE_NAME ${FIXTURE_ID:0:12}"
}

@test "load a skopeo-written oci-archive" {
  run_husk load -i "$FIXTURE_OCI_ARCHIVE"
  assert_line "Loaded image: $FIXTURE_NAME"
  assert_fixture_loaded
}

@test "load -q prints only the Loaded lines" {
  run_husk load -q -i "$FIXTURE_DOCKER_ARCHIVE"
  assert_output "Loaded image: $FIXTURE_NAME"
  assert_equal "${stderr:-}" "" stderr
}

@test "load --input and from stdin" {
  run_husk load -q --input "$FIXTURE_DOCKER_ARCHIVE"
  assert_output "Loaded image: $FIXTURE_NAME"

  fresh_store
  HUSK_ROOT=$HUSK_ROOT.2 HUSK_RUNROOT=$HUSK_RUNROOT.2
  run_husk --stdin "$FIXTURE_DOCKER_ARCHIVE" load -q
  assert_output "Loaded image: $FIXTURE_NAME"
  assert_fixture_loaded

  HUSK_ROOT=$HUSK_ROOT.3 HUSK_RUNROOT=$HUSK_RUNROOT.3
  run_husk --stdin "$FIXTURE_OCI_ARCHIVE" load -q
  assert_output "Loaded image: $FIXTURE_NAME"
  assert_fixture_loaded
}

@test "load gzip- and zstd-compressed archives" {
  gzip -n -c "$FIXTURE_DOCKER_ARCHIVE" >"$BATS_TEST_TMPDIR/a.tar.gz"
  zstd -q -c "$FIXTURE_DOCKER_ARCHIVE" >"$BATS_TEST_TMPDIR/a.tar.zst"
  gzip -n -c "$FIXTURE_OCI_ARCHIVE" >"$BATS_TEST_TMPDIR/o.tar.gz"

  run_husk load -q -i "$BATS_TEST_TMPDIR/a.tar.gz"
  assert_output "Loaded image: $FIXTURE_NAME"
  assert_fixture_loaded

  fresh_store
  HUSK_ROOT=$HUSK_ROOT.zst HUSK_RUNROOT=$HUSK_RUNROOT.zst
  run_husk load -q -i "$BATS_TEST_TMPDIR/a.tar.zst"
  assert_output "Loaded image: $FIXTURE_NAME"
  assert_fixture_loaded

  HUSK_ROOT=$HUSK_ROOT.stdin HUSK_RUNROOT=$HUSK_RUNROOT.stdin
  run_husk --stdin "$BATS_TEST_TMPDIR/a.tar.zst" load -q
  assert_output "Loaded image: $FIXTURE_NAME"

  HUSK_ROOT=$HUSK_ROOT.oci HUSK_RUNROOT=$HUSK_RUNROOT.oci
  run_husk load -q -i "$BATS_TEST_TMPDIR/o.tar.gz"
  assert_output "Loaded image: $FIXTURE_NAME"
  assert_fixture_loaded
}

@test "load an untagged archive" {
  skopeo_ copy -q "oci:$FIXTURE_OCI:latest" "docker-archive:$BATS_TEST_TMPDIR/untagged.tar"
  run_husk load -q -i "$BATS_TEST_TMPDIR/untagged.tar"
  assert_output "Loaded image: sha256:$FIXTURE_ID"
  run_husk images --format '{{.Repository}}:{{.Tag}} {{.ID}}'
  assert_output "<none>:<none> ${FIXTURE_ID:0:12}"
}

@test "load twice: same image, no duplicate" {
  run_husk load -q -i "$FIXTURE_DOCKER_ARCHIVE"
  run_husk load -q -i "$FIXTURE_OCI_ARCHIVE"
  assert_output "Loaded image: $FIXTURE_NAME"
  run_husk images -a -q
  assert_output "${FIXTURE_ID:0:12}"
}

@test "load moves the name from another image" {
  run_husk import -q "$FIXTURE_ROOTFS" "$FIXTURE_NAME"
  local old=$output
  run_husk load -q -i "$FIXTURE_DOCKER_ARCHIVE"
  run_husk images --no-trunc --format '{{.ID}} {{.Repository}}:{{.Tag}}'
  strip_sha256
  assert_line "$FIXTURE_ID $FIXTURE_NAME"
  assert_line "$old <none>:<none>"
}

@test "loaded layers keep owners, whiteouts applied" {
  # What the image's merged view would show: checked through a save of
  # the top layer, which must still carry its whiteouts.
  run_husk load -q -i "$FIXTURE_DOCKER_ARCHIVE"
  husk save -o "$BATS_TEST_TMPDIR/s.tar" "$FIXTURE_NAME"
  mkdir "$BATS_TEST_TMPDIR/x"
  tar -xf "$BATS_TEST_TMPDIR/s.tar" -C "$BATS_TEST_TMPDIR/x"
  local l2 l3
  l2=$(jq -r '.[0].Layers[1]' "$BATS_TEST_TMPDIR/x/manifest.json")
  l3=$(jq -r '.[0].Layers[2]' "$BATS_TEST_TMPDIR/x/manifest.json")
  run tar -tvf "$BATS_TEST_TMPDIR/x/$l2" --numeric-owner
  assert_line --regexp '^-rw-r--r-- 1000/1000 .* home/user/owned$'
  run tar -tf "$BATS_TEST_TMPDIR/x/$l3"
  assert_line "etc/.wh.removeme"
  assert_line "var/cache/old/.wh..wh..opq"
  assert_line "var/cache/old/fresh"
}

@test "save -o docker-archive: skopeo sees the same config and diffIDs" {
  run_husk load -q -i "$FIXTURE_OCI_ARCHIVE"
  local f=$BATS_TEST_TMPDIR/saved.tar
  run_husk save -o "$f" "$FIXTURE_NAME"
  [[ -s $f ]] || fail "no archive written"
  tar -tf "$f" | grep -qx manifest.json || fail "no manifest.json in the archive"
  assert_equal "$(tar -xOf "$f" manifest.json | jq -c '.[0].RepoTags')" \
    "[\"$FIXTURE_NAME\"]" "RepoTags in manifest.json"
  assert_archive_is_fixture docker-archive "$f"

  # And skopeo can copy it, verifying every blob on the way.
  skopeo_ copy -q "docker-archive:$f" "oci:$BATS_TEST_TMPDIR/copy:latest" ||
    fail "skopeo could not copy husk's docker-archive"
}

@test "save --format oci-archive: skopeo sees the same config and diffIDs" {
  run_husk load -q -i "$FIXTURE_DOCKER_ARCHIVE"
  local f=$BATS_TEST_TMPDIR/saved-oci.tar
  run_husk save --format oci-archive -o "$f" "$FIXTURE_NAME"
  tar -tf "$f" | grep -qx oci-layout || fail "no oci-layout in the archive"
  tar -tf "$f" | grep -qx index.json || fail "no index.json in the archive"
  assert_equal "$(tar -xOf "$f" index.json |
    jq -r '.manifests[0].annotations["org.opencontainers.image.ref.name"]')" \
    "$FIXTURE_NAME" "ref.name annotation"
  assert_archive_is_fixture oci-archive "$f"
  skopeo_ copy -q "oci-archive:$f" "oci:$BATS_TEST_TMPDIR/copy:latest" ||
    fail "skopeo could not copy husk's oci-archive"
}

@test "save and load round trip, docker-archive" {
  run_husk load -q -i "$FIXTURE_DOCKER_ARCHIVE"
  run_husk save -q -o "$BATS_TEST_TMPDIR/rt.tar" "$FIXTURE_NAME"
  assert_output ""
  run_husk inspect "$FIXTURE_NAME"
  local before
  before=$(jq -S '.[0] | del(.GraphDriver, .Digest, .RepoDigests, .ManifestType)' <<<"$output")

  fresh_store
  HUSK_ROOT=$HUSK_ROOT.2 HUSK_RUNROOT=$HUSK_RUNROOT.2
  run_husk load -i "$BATS_TEST_TMPDIR/rt.tar"
  assert_line "Loaded image: $FIXTURE_NAME"
  assert_fixture_loaded
  run_husk inspect "$FIXTURE_NAME"
  assert_equal "$(jq -S '.[0] | del(.GraphDriver, .Digest, .RepoDigests, .ManifestType)' <<<"$output")" \
    "$before" "inspect after the round trip"
}

@test "save and load round trip, oci-archive" {
  run_husk load -q -i "$FIXTURE_OCI_ARCHIVE"
  run_husk save -q --format oci-archive -o "$BATS_TEST_TMPDIR/rt.tar" "$FIXTURE_NAME"
  fresh_store
  HUSK_ROOT=$HUSK_ROOT.2 HUSK_RUNROOT=$HUSK_RUNROOT.2
  run_husk load -q -i "$BATS_TEST_TMPDIR/rt.tar"
  assert_output "Loaded image: $FIXTURE_NAME"
  assert_fixture_loaded
}

@test "save of an imported image, loaded back" {
  run_husk import -q -c 'LABEL imported=yes' "$FIXTURE_ROOTFS" imp:1
  local id=$output
  run_husk save -o "$BATS_TEST_TMPDIR/imp.tar" imp:1
  run skopeo_ inspect --config "docker-archive:$BATS_TEST_TMPDIR/imp.tar"
  assert_equal "$(jq -r '.rootfs.diff_ids[0]' <<<"$output")" "$FIXTURE_ROOTFS_DIFF_ID" diffID

  HUSK_ROOT=$HUSK_ROOT.2 HUSK_RUNROOT=$HUSK_RUNROOT.2
  run_husk load -q -i "$BATS_TEST_TMPDIR/imp.tar"
  assert_output "Loaded image: localhost/imp:1"
  run_husk image inspect --format '{{.Id}} {{.Labels.imported}}' imp:1
  assert_output "$id yes"
}

@test "save to stdout when it is not a terminal" {
  run_husk load -q -i "$FIXTURE_DOCKER_ARCHIVE"
  husk save "$FIXTURE_NAME" >"$BATS_TEST_TMPDIR/stdout.tar" </dev/null ||
    fail "husk save to a pipe/file failed"
  assert_archive_is_fixture docker-archive "$BATS_TEST_TMPDIR/stdout.tar"

  husk save --format oci-archive "$FIXTURE_NAME" | cat >"$BATS_TEST_TMPDIR/pipe.tar"
  assert_archive_is_fixture oci-archive "$BATS_TEST_TMPDIR/pipe.tar"
}

@test "save refuses to write to a terminal" {
  command -v script >/dev/null || skip "script(1) is not installed"
  run_husk load -q -i "$FIXTURE_DOCKER_ARCHIVE"
  run script -qec "'$HUSK_BINARY' --root '$HUSK_ROOT' --runroot '$HUSK_RUNROOT' save $FIXTURE_NAME" /dev/null
  [[ $status -ne 0 ]] || fail "save to a terminal succeeded"
  assert_output --partial "Error: "
  # No archive bytes were written to the terminal.
  [[ ${#output} -lt 1000 ]] || fail "${#output} bytes written to the terminal"
}

@test "several images in one docker-archive" {
  run_husk load -q -i "$FIXTURE_DOCKER_ARCHIVE"
  run_husk import -q -c 'LABEL second=1' "$FIXTURE_ROOTFS" second:v2
  local second=$output
  run_husk import -q -c 'LABEL third=1' "$FIXTURE_ROOTFS"
  local third=$output

  local f=$BATS_TEST_TMPDIR/multi.tar
  run_husk save -o "$f" "$FIXTURE_NAME" second:v2 "${third:0:12}"
  assert_equal "$(tar -xOf "$f" manifest.json | jq length)" 3 "manifest.json entries"

  HUSK_ROOT=$HUSK_ROOT.2 HUSK_RUNROOT=$HUSK_RUNROOT.2
  run_husk load -q -i "$f"
  assert_line "Loaded image: $FIXTURE_NAME"
  assert_line "Loaded image: localhost/second:v2"
  assert_line "Loaded image: sha256:$third"
  assert_line_count 3
  run_husk images --no-trunc --format '{{.ID}} {{.Repository}}:{{.Tag}}'
  strip_sha256
  assert_line "$FIXTURE_ID $FIXTURE_NAME"
  assert_line "$second localhost/second:v2"
  assert_line "$third <none>:<none>"
  assert_line_count 3
}

@test "a skopeo-written archive with two images" {
  local v
  v=$(fixture_variant "$BATS_TEST_TMPDIR/variant")
  local f=$BATS_TEST_TMPDIR/two.tar
  # skopeo writes one image per docker-archive: merge two of them into
  # one archive whose manifest.json lists both.
  skopeo_ copy -q "oci:$FIXTURE_OCI:latest" "docker-archive:$BATS_TEST_TMPDIR/one.tar:localhost/one:1"
  skopeo_ copy -q "oci:$BATS_TEST_TMPDIR/variant:latest" "docker-archive:$BATS_TEST_TMPDIR/v.tar:localhost/two:2"
  mkdir "$BATS_TEST_TMPDIR/m"
  tar -xf "$BATS_TEST_TMPDIR/one.tar" -C "$BATS_TEST_TMPDIR/m"
  tar -xf "$BATS_TEST_TMPDIR/v.tar" -C "$BATS_TEST_TMPDIR/m" --exclude manifest.json --exclude repositories
  # skopeo's members are read-only (0444): only root could overwrite them.
  chmod -R u+w "$BATS_TEST_TMPDIR/m"
  jq -s -c '.[0] + .[1]' <(tar -xOf "$BATS_TEST_TMPDIR/one.tar" manifest.json) \
    <(tar -xOf "$BATS_TEST_TMPDIR/v.tar" manifest.json) >"$BATS_TEST_TMPDIR/m/manifest.json"
  rm -f "$BATS_TEST_TMPDIR/m/repositories"
  tar -cf "$f" -C "$BATS_TEST_TMPDIR/m" .

  run_husk load -q -i "$f"
  assert_line "Loaded image: localhost/one:1"
  assert_line "Loaded image: localhost/two:2"
  run_husk images --no-trunc --format '{{.ID}} {{.Repository}}:{{.Tag}}'
  strip_sha256
  assert_line "$FIXTURE_ID localhost/one:1"
  assert_line "$v localhost/two:2"
}

@test "save errors: unknown image, bad format, missing argument" {
  run_husk load -q -i "$FIXTURE_DOCKER_ARCHIVE"
  local before
  before=$(store_snapshot)
  run_husk 125 save -o "$BATS_TEST_TMPDIR/x.tar" nosuchimage
  assert_husk_error "nosuchimage"
  [[ ! -e $BATS_TEST_TMPDIR/x.tar ]] || fail "an archive was left behind"
  run_husk 125 save --format bogus -o "$BATS_TEST_TMPDIR/x.tar" "$FIXTURE_NAME"
  assert_husk_error "bogus"
  run_husk 125 save -o "$BATS_TEST_TMPDIR/x.tar"
  assert_husk_error
  run_husk 125 save -o "$BATS_TEST_TMPDIR/no/such/dir/x.tar" "$FIXTURE_NAME"
  assert_husk_error
  assert_store_unchanged "$before"
}

@test "load errors: missing file" {
  store_init
  local before
  before=$(store_snapshot)
  run_husk 125 load -i "$BATS_TEST_TMPDIR/nonexistent.tar"
  assert_husk_error "nonexistent.tar"
  assert_store_unchanged "$before"
}
