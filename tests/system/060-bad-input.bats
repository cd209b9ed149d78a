#!/usr/bin/env bats
# Bad input: each case must end in an "Error: ..." message on stderr, exit
# status 125, and a store exactly as it was before (no new layer, image,
# name or leftover staging directory).  Hostile archives must not write
# anything outside the store.

load helpers

setup_file() {
  load helpers
  fixtures
  python3 "$HUSK_REPO/tests/fixtures/mkbad.py" "$BATS_FILE_TMPDIR/bad" "$HUSK_FIXTURES"
  # A store that is not empty, so "unchanged" means something.
  husk load -q -i "$FIXTURE_DOCKER_ARCHIVE" >&2
  husk import -q -c 'LABEL bad-input=base' "$FIXTURE_ROOTFS" base >&2
}

setup() {
  fixtures
  BAD=$BATS_FILE_TMPDIR/bad
  # shellcheck disable=SC1091
  source "$BAD/bad.env"
  BEFORE=$(store_snapshot)
}

teardown() {
  # Never leave an escaped file behind, whatever happened.
  rm -f "/etc/$ESCAPE_NAME" "/tmp/$ESCAPE_NAME" "/$ESCAPE_NAME"
}

# assert_rejected ARGS...: husk ARGS fails cleanly and changes nothing.
assert_rejected() {
  run_husk 125 "$@"
  assert_husk_error
  assert_store_unchanged "$BEFORE"
}

# load_rejected FILE: husk load refuses FILE, given as -i and on stdin.
load_rejected() {
  assert_rejected load -i "$1"
  run_husk 125 --stdin "$1" load
  assert_husk_error
  assert_store_unchanged "$BEFORE"
}

# No file named ESCAPE_NAME anywhere the hostile layers aim at: /, /etc,
# /tmp and this file's temp dir (store included), layer contents excepted.
assert_no_escape() {
  local found
  found=$(find / /etc /tmp -maxdepth 1 -name "$ESCAPE_NAME" 2>/dev/null
    find "$BATS_FILE_TMPDIR" -path '*/diff' -prune -o -name "$ESCAPE_NAME" -print 2>/dev/null)
  [[ -z $found ]] || fail "a layer wrote outside its root: $found"
}

@test "load: truncated docker-archive" {
  load_rejected "$BAD/truncated-docker.tar"
}

@test "load: truncated oci-archive" {
  load_rejected "$BAD/truncated-oci.tar"
}

@test "load: corrupt gzip stream" {
  load_rejected "$BAD/corrupt-gzip.tar.gz"
}

@test "load: not an archive, empty file" {
  load_rejected "$BAD/not-an-archive.tar"
  load_rejected "$BAD/empty.tar"
}

@test "load: manifest.json is not JSON, or missing" {
  load_rejected "$BAD/bad-manifest-json.tar"
  load_rejected "$BAD/no-manifest.tar"
}

@test "load: a layer whose content does not match its diffID" {
  load_rejected "$BAD/layer-diffid.tar"
}

@test "load: the manifest names a missing layer" {
  load_rejected "$BAD/missing-layer.tar"
}

@test "load: the manifest names a layer outside the archive (../)" {
  load_rejected "$BAD/outer-dotdot.tar"
}

@test "load: a layer with ../ member names" {
  load_rejected "$BAD/dotdot-layer.tar"
  assert_no_escape
}

@test "load: a symlink escape (x -> / then x/etc/evil)" {
  load_rejected "$BAD/symlink-escape.tar"
  assert_no_escape
  [[ ! -e /etc/$ESCAPE_NAME ]] || fail "/etc/$ESCAPE_NAME was written"
}

@test "load: a relative symlink escape (y -> ../../.. then y/tmp/evil)" {
  run_husk '?' load -i "$BAD/symlink-escape2.tar"
  # Refusing it is right; so is keeping the file inside the layer.
  if [[ $status -ne 0 ]]; then
    assert_husk_error
    assert_store_unchanged "$BEFORE"
  fi
  assert_no_escape
}

@test "load: absolute member names stay inside the layer" {
  run_husk '?' load -i "$BAD/absolute-layer.tar"
  if [[ $status -ne 0 ]]; then
    assert_husk_error
    assert_store_unchanged "$BEFORE"
  fi
  assert_no_escape
}

@test "load: hard links never reach files outside the layer" {
  run_husk '?' load -i "$BAD/hardlink-escape.tar"
  if [[ $status -ne 0 ]]; then
    assert_husk_error
    assert_store_unchanged "$BEFORE"
  fi
  local linked
  # Rootless, find cannot enter a layer's directories owned by other ids
  # (and fails): /etc/passwd's link count then tells whether anything
  # links it at all.
  linked=$(find "$HUSK_ROOT" -samefile /etc/passwd 2>/dev/null || true)
  [[ -z $linked ]] || fail "the store links the host's /etc/passwd: $linked"
  if [[ $(id -u) -ne 0 && $(stat -c %h /etc/passwd) -ne 1 ]]; then
    fail "/etc/passwd has $(stat -c %h /etc/passwd) links"
  fi
}

@test "load: a docker-archive config whose name is not its digest" {
  run_husk '?' load -q -i "$BAD/config-digest.tar"
  if [[ $status -ne 0 ]]; then
    assert_husk_error
    assert_store_unchanged "$BEFORE"
  else
    # Accepted (as podman does): the id must still be the config's digest.
    local cfg
    cfg=$(tar -tf "$BAD/config-digest.tar" | grep '\.json$' | grep -v manifest)
    local real
    real=$(tar -xOf "$BAD/config-digest.tar" "$cfg" | sha256sum | cut -d' ' -f1)
    run_husk image inspect --format '{{.Id}}' localhost/bad
    assert_output "$real"
    husk rmi localhost/bad >/dev/null
  fi
}

@test "load: an archive naming an invalid reference" {
  load_rejected "$BAD/bad-repotag.tar"
}

@test "load: oci-archive blob with the wrong digest" {
  load_rejected "$BAD/oci-blob-digest.tar"
}

@test "load: oci-archive config with the wrong digest" {
  load_rejected "$BAD/oci-config-digest.tar"
}

@test "load: oci-archive manifest naming a missing blob" {
  load_rejected "$BAD/oci-missing-blob.tar"
}

@test "load: a directory, a missing file" {
  assert_rejected load -i "$BATS_FILE_TMPDIR"
  assert_rejected load -i "$BATS_FILE_TMPDIR/nonexistent.tar"
}

@test "references: upper case" {
  assert_rejected tag base UPPER
  assert_rejected tag base Upper:latest
  assert_rejected tag base localhost/Mixed/case:1
  assert_rejected image inspect UPPER
  assert_rejected rmi UPPER
  assert_rejected save -o "$BATS_TEST_TMPDIR/x.tar" UPPER
  assert_rejected import "$FIXTURE_ROOTFS" UPPER
}

@test "references: a:b:c and other malformed names" {
  local bad
  for bad in a:b:c 'a b' 'name:' ':tag' 'a//b' '-lead' 'trail-/x' 'x:t@g' \
    "name:$(printf 'x%.0s' {1..129})"; do
    assert_rejected tag base "$bad"
  done
  assert_rejected image inspect a:b:c
  assert_rejected rmi a:b:c
}

@test "references: @sha256 with a short or bad digest" {
  assert_rejected tag base name@sha256:abc
  assert_rejected image inspect base@sha256:abc
  assert_rejected image inspect "base@sha256:$(printf 'g%.0s' {1..64})"
  assert_rejected rmi base@sha256:abc
  assert_rejected image inspect base@md5:d41d8cd98f00b204e9800998ecf8427e
}

@test "rmi of an unknown image" {
  assert_rejected rmi nosuchimage
  assert_rejected rmi localhost/nosuchimage:latest
  assert_rejected rmi 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
  # (An unknown image among known ones is not checked: podman removes the
  # known ones and then fails.)
}

@test "no staging directory or lock debris after all the failures" {
  local debris
  debris=$(find "$HUSK_ROOT/layers" "$HUSK_ROOT/images" -maxdepth 1 -name '.*' 2>/dev/null)
  [[ -z $debris ]] || fail "left in the store: $debris"
  # The store still works.
  run_husk images --format '{{.Repository}}:{{.Tag}}'
  assert_line "$FIXTURE_NAME"
  assert_line "localhost/base:latest"
}
