#!/usr/bin/env bats
# husk import: a root filesystem tarball becomes a one-layer image.

load helpers

setup_file() {
  load helpers
  fixtures
}

setup() {
  fixtures
  fresh_store
}

@test "import FILE prints the image id and makes a dangling image" {
  run_husk import "$FIXTURE_ROOTFS"
  local id=${lines[-1]}
  [[ $id =~ $ID64_RE ]] || fail "last stdout line is not a 64-hex id: '$id'"

  run_husk images --format '{{.Repository}} {{.Tag}} {{.ID}}'
  assert_output "<none> <none> ${id:0:12}"

  run_husk images --no-trunc -q
  strip_sha256
  assert_output "$id"
}

@test "import -q prints only the id" {
  run_husk import -q "$FIXTURE_ROOTFS" quiet
  [[ $output =~ $ID64_RE ]] || fail "not a 64-hex id: '$output'"
  assert_line_count 1
}

@test "import FILE NAME: short names get localhost/ and :latest" {
  run_husk import -q "$FIXTURE_ROOTFS" myimage
  local id=$output
  run_husk import -q -c "LABEL n=2" "$FIXTURE_ROOTFS" other:v1
  run_husk import -q -c "LABEL n=3" "$FIXTURE_ROOTFS" quay.io/org/third:2.0

  run_husk images --format '{{.Repository}}:{{.Tag}}'
  assert_line "localhost/myimage:latest"
  assert_line "localhost/other:v1"
  assert_line "quay.io/org/third:2.0"
  assert_line_count 3

  run_husk image inspect --format '{{.Id}}' myimage
  assert_output "$id"
  run_husk image inspect --format '{{.Id}}' localhost/myimage:latest
  assert_output "$id"
}

@test "import - reads the tarball from stdin" {
  run_husk --stdin "$FIXTURE_ROOTFS" import -q - fromstdin
  local id=$output
  [[ $id =~ $ID64_RE ]] || fail "not an id: '$id'"
  run_husk images --format '{{.Repository}}:{{.Tag}}'
  assert_output "localhost/fromstdin:latest"
}

@test "import: the layer is the tarball, config is podman-like" {
  run_husk import -q "$FIXTURE_ROOTFS" layer
  run_husk image inspect layer
  local json=$output
  assert_equal "$(jq -r '.[0].RootFS.Type' <<<"$json")" layers RootFS.Type
  assert_equal "$(jq -r '.[0].RootFS.Layers | length' <<<"$json")" 1 "layer count"
  assert_equal "$(jq -r '.[0].RootFS.Layers[0]' <<<"$json")" \
    "$FIXTURE_ROOTFS_DIFF_ID" "diffID of the imported layer"
  assert_equal "$(jq -r '.[0].Os' <<<"$json")" linux Os
  assert_equal "$(jq -r '.[0].Architecture' <<<"$json")" "$FIXTURE_ARCH" Architecture
  assert_equal "$(jq -r '.[0].RepoTags[0]' <<<"$json")" "localhost/layer:latest" RepoTags

  # Created is now-ish (RFC 3339), not the tarball's own date.
  local created now
  created=$(date -d "$(jq -r '.[0].Created' <<<"$json")" +%s)
  now=$(date +%s)
  ((now - created < 600 && created - now < 60)) ||
    fail "Created $(jq -r '.[0].Created' <<<"$json") is not now"

  # The size is about the size of the files in the tarball.
  local size tarsize
  size=$(jq -r '.[0].Size' <<<"$json")
  tarsize=$(stat -c %s "$FIXTURE_ROOTFS")
  ((size > tarsize / 2 && size <= tarsize * 2)) ||
    fail "Size $size is far from the tarball's $tarsize"
}

@test "import -c applies Dockerfile instructions" {
  run_husk import -q \
    -c 'CMD ["/bin/sh","-c","echo hi"]' \
    --change 'ENV FOO=bar' \
    -c 'LABEL k=v' \
    -c 'WORKDIR /tmp' \
    -c 'USER 1000' \
    -c 'EXPOSE 8080' \
    -c 'ENTRYPOINT ["/bin/busybox"]' \
    "$FIXTURE_ROOTFS" changed
  run_husk image inspect changed
  local c
  c=$(jq -c '.[0].Config' <<<"$output")
  assert_equal "$(jq -c .Cmd <<<"$c")" '["/bin/sh","-c","echo hi"]' Cmd
  assert_equal "$(jq -c .Entrypoint <<<"$c")" '["/bin/busybox"]' Entrypoint
  jq -e '.Env | index("FOO=bar")' <<<"$c" >/dev/null || fail "Env: $c"
  assert_equal "$(jq -r .Labels.k <<<"$c")" v Labels.k
  assert_equal "$(jq -r .WorkingDir <<<"$c")" /tmp WorkingDir
  assert_equal "$(jq -r .User <<<"$c")" 1000 User
  jq -e '.ExposedPorts | has("8080/tcp")' <<<"$c" >/dev/null ||
    fail "ExposedPorts: $c"

  run_husk image inspect --format '{{.Labels.k}}' changed
  assert_output v
}

@test "import -m sets the comment" {
  run_husk import -q -m "my message" "$FIXTURE_ROOTFS" commented
  run_husk image inspect --format '{{.Comment}}' commented
  assert_output "my message"
  run_husk history --format '{{.Comment}}' commented
  assert_output "my message"

  run_husk import -q --message "other message" "$FIXTURE_ROOTFS" commented2
  run_husk image inspect --format '{{.Comment}}' commented2
  assert_output "other message"
}

@test "import of the same tarball twice shares the layer" {
  run_husk import -q -c 'LABEL n=1' "$FIXTURE_ROOTFS" one
  local id1=$output
  run_husk import -q -c 'LABEL n=2' "$FIXTURE_ROOTFS" two
  local id2=$output
  [[ $id1 != "$id2" ]] || fail "different configs gave the same id"
  local layers
  layers=$(find "$HUSK_ROOT/layers" -mindepth 1 -maxdepth 1 -type d ! -name '.*' | wc -l)
  assert_equal "$layers" 1 "layer directories in the store"
}

@test "import of a gzip-compressed tarball" {
  gzip -n -c "$FIXTURE_ROOTFS" >"$BATS_TEST_TMPDIR/rootfs.tar.gz"
  run_husk import -q "$BATS_TEST_TMPDIR/rootfs.tar.gz" gz
  run_husk image inspect --format '{{range .RootFS.Layers}}{{.}}{{end}}' gz
  assert_output "$FIXTURE_ROOTFS_DIFF_ID"
}

@test "import gives the name to the new image only" {
  run_husk import -q -c 'LABEL v=1' "$FIXTURE_ROOTFS" moving
  local old=$output
  run_husk import -q -c 'LABEL v=2' "$FIXTURE_ROOTFS" moving
  local new=$output
  run_husk images --no-trunc --format '{{.ID}} {{.Repository}}:{{.Tag}}'
  strip_sha256
  assert_line "$new localhost/moving:latest"
  assert_line "$old <none>:<none>"
}

@test "import errors: missing file, bad change, bad name, not a tarball" {
  store_init
  local before
  before=$(store_snapshot)

  run_husk 125 import "$BATS_TEST_TMPDIR/nonexistent.tar"
  assert_husk_error "nonexistent.tar"
  assert_store_unchanged "$before"

  run_husk 125 import -c 'BOGUS x' "$FIXTURE_ROOTFS"
  assert_husk_error "BOGUS"
  assert_store_unchanged "$before"

  run_husk 125 import "$FIXTURE_ROOTFS" UPPER
  assert_husk_error
  assert_store_unchanged "$before"

  run_husk 125 import
  assert_husk_error
  assert_store_unchanged "$before"

  head -c 10000 /dev/urandom >"$BATS_TEST_TMPDIR/noise"
  run_husk 125 import "$BATS_TEST_TMPDIR/noise"
  assert_husk_error
  assert_store_unchanged "$before"
}
