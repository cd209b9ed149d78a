#!/usr/bin/env bats
# husk image prune and husk system df.

load helpers

setup_file() {
  load helpers
  fixtures
}

setup() {
  fixtures
  fresh_store
}

count_layers() {
  find "$HUSK_ROOT/layers" -mindepth 1 -maxdepth 1 -type d ! -name '.*' 2>/dev/null | wc -l
}

# Two named images (the fixture, 3 layers; an import, 1 layer) and two
# dangling ones (imports sharing the import's layer).
populate() {
  husk load -q -i "$FIXTURE_DOCKER_ARCHIVE" >/dev/null
  NAMED=$(husk import -q -c 'LABEL p=named' "$FIXTURE_ROOTFS" named)
  DANGLING1=$(husk import -q -c 'LABEL p=d1' "$FIXTURE_ROOTFS")
  DANGLING2=$(husk import -q -c 'LABEL p=d2' "$FIXTURE_ROOTFS")
}

@test "image prune -f removes dangling images only and prints their ids" {
  populate
  run_husk image prune -f
  assert_line "$DANGLING1"
  assert_line "$DANGLING2"
  assert_line_count 2

  run_husk images -a --no-trunc -q
  strip_sha256
  assert_line "$FIXTURE_ID"
  assert_line "$NAMED"
  assert_line_count 2
  # The import layer is still used by "named".
  assert_equal "$(count_layers)" 4 "layers left"
}

@test "image prune with nothing to prune" {
  store_init
  run_husk image prune -f
  assert_output ""
  run_husk import -q "$FIXTURE_ROOTFS" onlynamed
  run_husk image prune --force
  assert_output ""
  run_husk images -q
  assert_line_count 1
}

@test "image prune -a -f removes every unused image and its layers" {
  populate
  run_husk image prune -a -f
  assert_line "$FIXTURE_ID"
  assert_line "$NAMED"
  assert_line "$DANGLING1"
  assert_line "$DANGLING2"
  assert_line_count 4

  run_husk images -a -q
  assert_output ""
  assert_equal "$(count_layers)" 0 "layers left"
  local dirs
  dirs=$(find "$HUSK_ROOT/images" -mindepth 1 -maxdepth 1 -type d | wc -l)
  assert_equal "$dirs" 0 "image directories left"

  run_husk image prune --all --force
  assert_output ""
}

@test "image prune asks first without -f" {
  populate
  printf 'n\n' >"$BATS_TEST_TMPDIR/no"
  run_husk --stdin "$BATS_TEST_TMPDIR/no" image prune
  run_husk images -a -q
  assert_line_count 4

  printf 'y\n' >"$BATS_TEST_TMPDIR/yes"
  run_husk --stdin "$BATS_TEST_TMPDIR/yes" image prune
  assert_line "$DANGLING1"
  assert_line "$DANGLING2"
  run_husk images -a -q
  assert_line_count 2
}

@test "image prune: bad flags" {
  store_init
  local before
  before=$(store_snapshot)
  run_husk 125 image prune -f --bogus
  assert_husk_error
  run_husk 125 image prune -f extra-argument
  assert_husk_error
  assert_store_unchanged "$before"
}

@test "system df: an empty store" {
  store_init
  run_husk system df
  assert_line --index 0 --regexp '^TYPE +TOTAL +ACTIVE +SIZE +RECLAIMABLE *$'
  assert_line --regexp '^Images +0 +0 +0 ?B +0 ?B \(0%\) *$'
  assert_line --regexp '^Containers +0 +0 +0 ?B +0 ?B \(0%\) *$'
  assert_line --regexp '^Local Volumes +0 +0 +0 ?B +0 ?B \(0%\) *$'
  assert_line_count 4
}

@test "system df counts images and their size" {
  populate
  run_husk system df
  assert_line --regexp '^Images +4 +0 +[0-9.]+ ?[kMG]?B +[0-9.]+ ?[kMG]?B \(100%\) *$'

  run_husk system df --format '{{.Type}}|{{.Total}}|{{.Active}}'
  assert_line "Images|4|0"
  assert_line "Containers|0|0"
  assert_line "Local Volumes|0|0"

  run_husk image prune -f
  run_husk system df --format '{{.Type}}|{{.Total}}'
  assert_line "Images|2"
  run_husk image prune -a -f
  run_husk system df
  assert_line --regexp '^Images +0 +0 +0 ?B '
}
