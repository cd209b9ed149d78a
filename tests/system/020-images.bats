#!/usr/bin/env bats
# husk images / image ls / image list: columns, filters, formats.
#
# The file's store holds, oldest first (one second apart):
#   localhost/alpha:latest                    label tier=old
#   localhost/mid:1 and quay.io/org/mid:2     labels tier=mid color=red
#   localhost/newest:latest                   label tier=new
#   a dangling image                          label tier=dangling

load helpers

setup_file() {
  load helpers
  fixtures
  husk import -q -c 'LABEL tier=old' "$FIXTURE_ROOTFS" alpha >"$BATS_FILE_TMPDIR/alpha.id"
  sleep 1.1
  husk import -q -c 'LABEL tier=mid' -c 'LABEL color=red' "$FIXTURE_ROOTFS" mid:1 >"$BATS_FILE_TMPDIR/mid.id"
  husk tag localhost/mid:1 quay.io/org/mid:2
  sleep 1.1
  husk import -q -c 'LABEL tier=new' "$FIXTURE_ROOTFS" newest >"$BATS_FILE_TMPDIR/newest.id"
  sleep 1.1
  husk import -q -c 'LABEL tier=dangling' "$FIXTURE_ROOTFS" >"$BATS_FILE_TMPDIR/dangling.id"
}

setup() {
  ALPHA=$(cat "$BATS_FILE_TMPDIR/alpha.id")
  MID=$(cat "$BATS_FILE_TMPDIR/mid.id")
  NEWEST=$(cat "$BATS_FILE_TMPDIR/newest.id")
  DANGLING=$(cat "$BATS_FILE_TMPDIR/dangling.id")
  for id in "$ALPHA" "$MID" "$NEWEST" "$DANGLING"; do
    [[ $id =~ $ID64_RE ]] || fail "setup_file did not make the images ('$id')"
  done
}

@test "images: default columns" {
  run_husk images
  assert_line --index 0 --regexp '^REPOSITORY +TAG +IMAGE ID +CREATED +SIZE *$'
  local size='[0-9.]+ ?[kMG]?B'
  assert_line --regexp "^localhost/alpha +latest +${ALPHA:0:12} +.+ ago +$size *\$"
  assert_line --regexp "^localhost/mid +1 +${MID:0:12} +.+ +$size *\$"
  assert_line --regexp "^quay.io/org/mid +2 +${MID:0:12} +.+ +$size *\$"
  assert_line --regexp "^localhost/newest +latest +${NEWEST:0:12} +.+ +$size *\$"
  assert_line --regexp "^<none> +<none> +${DANGLING:0:12} +.+ +$size *\$"
  # A header and one row per name.
  assert_line_count 6
}

@test "images: newest first" {
  run_husk images --format '{{.ID}}'
  assert_line --index 0 "${DANGLING:0:12}"
  assert_line --index 1 "${NEWEST:0:12}"
  assert_line --index 4 "${ALPHA:0:12}"
}

@test "image ls and image list are images" {
  # Not the CREATED column: "N seconds ago" may tick between two runs.
  local fmt='table {{.Repository}} {{.Tag}} {{.ID}} {{.Size}}'
  run_husk images --format "$fmt"
  local expected=$output
  assert_line_count 6
  run_husk image ls --format "$fmt"
  assert_output "$expected"
  run_husk image list --format "$fmt"
  assert_output "$expected"
  run_husk image ls -a --format "$fmt"
  assert_output "$expected"

  run_husk image ls
  assert_line --index 0 --regexp '^REPOSITORY +TAG +IMAGE ID +CREATED +SIZE *$'
  assert_line_count 6
}

@test "images -a (no intermediate images here)" {
  run_husk images -a --format '{{.ID}}'
  assert_line_count 5
}

@test "images -q: one short id per image" {
  run_husk images -q
  assert_line_count 4
  local line
  for line in "${lines[@]}"; do
    [[ $line =~ $ID12_RE ]] || fail "not a 12-hex id: '$line'"
  done
  assert_line "${ALPHA:0:12}"
  assert_line "${MID:0:12}"
  assert_line "${NEWEST:0:12}"
  assert_line "${DANGLING:0:12}"
}

@test "images -q --no-trunc: full ids" {
  run_husk images -q --no-trunc
  strip_sha256
  assert_line_count 4
  assert_line "$ALPHA"
  assert_line "$MID"
  assert_line "$NEWEST"
  assert_line "$DANGLING"
}

@test "images --no-trunc: full ids in the table" {
  run_husk images --no-trunc
  strip_sha256
  assert_line --index 0 --regexp '^REPOSITORY +TAG +IMAGE ID +CREATED +SIZE *$'
  assert_line --regexp "^localhost/alpha +latest +(sha256:)?$ALPHA +"
  run_husk images --no-trunc --format '{{.ID}}' alpha
  strip_sha256
  assert_output --regexp "^(sha256:)?$ALPHA\$"
}

@test "images --noheading and -n" {
  run_husk images --noheading
  refute_line --partial "REPOSITORY"
  assert_line_count 5
  run_husk images -n
  refute_line --partial "REPOSITORY"
  assert_line_count 5
}

@test "images --digests adds a DIGEST column" {
  run_husk images --digests
  assert_line --index 0 --regexp '^REPOSITORY +TAG +DIGEST +IMAGE ID +CREATED +SIZE *$'
  assert_line --regexp "^localhost/alpha +latest +sha256:[0-9a-f]{64} +${ALPHA:0:12} "
}

@test "images --format with Go templates" {
  run_husk images --format '{{.Repository}}:{{.Tag}}'
  assert_line "localhost/alpha:latest"
  assert_line "localhost/mid:1"
  assert_line "quay.io/org/mid:2"
  assert_line "localhost/newest:latest"
  assert_line "<none>:<none>"
  assert_line_count 5

  run_husk images --format '{{.ID}} {{.Repository}}' newest
  assert_output "${NEWEST:0:12} localhost/newest"

  # A table prefix prints headers; the fields are aligned.
  run_husk images --format 'table {{.Repository}} {{.Tag}}' alpha
  assert_line --index 0 --regexp '^REPOSITORY +TAG *$'
  assert_line --index 1 --regexp '^localhost/alpha +latest *$'
  assert_line_count 2
}

@test "images --format json" {
  run_husk images --format json
  local json=$output
  jq -e 'type == "array" and length == 4' <<<"$json" >/dev/null ||
    fail "not an array of 4 images: $json"

  local a
  a=$(jq -c --arg id "$ALPHA" '.[] | select(.Id == $id)' <<<"$json")
  [[ -n $a ]] || fail "alpha ($ALPHA) not in $json"
  assert_equal "$(jq -c .Names <<<"$a")" '["localhost/alpha:latest"]' Names
  assert_equal "$(jq -r .Labels.tier <<<"$a")" old Labels.tier
  jq -e '.Digest | test("^sha256:[0-9a-f]{64}$")' <<<"$a" >/dev/null ||
    fail "Digest: $a"
  jq -e '.Size | type == "number" and . > 0' <<<"$a" >/dev/null ||
    fail "Size: $a"
  jq -e '(.Dangling // false) == false' <<<"$a" >/dev/null ||
    fail "a named image is not dangling: $a"
  # Created is unix seconds, and now-ish.
  local created now
  created=$(jq -r .Created <<<"$a")
  now=$(date +%s)
  [[ $created =~ ^[0-9]+$ ]] || fail "Created is not unix seconds: $created"
  ((now - created < 600 && created - now < 60)) || fail "Created $created, now $now"

  local m
  m=$(jq -c --arg id "$MID" '.[] | select(.Id == $id)' <<<"$json")
  jq -e '.Names | sort == ["localhost/mid:1", "quay.io/org/mid:2"]' <<<"$m" >/dev/null ||
    fail "Names of mid: $m"
  assert_equal "$(jq -r .Labels.color <<<"$m")" red Labels.color

  local d
  d=$(jq -c --arg id "$DANGLING" '.[] | select(.Id == $id)' <<<"$json")
  assert_equal "$(jq -r .Dangling <<<"$d")" true Dangling
  jq -e '(.Names // []) == []' <<<"$d" >/dev/null || fail "Names of dangling: $d"
}

@test "images IMAGE-NAME" {
  run_husk images --format '{{.Repository}}:{{.Tag}}' alpha
  assert_output "localhost/alpha:latest"
  run_husk images --format '{{.Repository}}:{{.Tag}}' localhost/alpha:latest
  assert_output "localhost/alpha:latest"
  run_husk images --format '{{.Repository}}:{{.Tag}}' quay.io/org/mid:2
  assert_line "quay.io/org/mid:2"
  refute_line "localhost/alpha:latest"
  run_husk images -q quay.io/org/mid:2
  assert_output "${MID:0:12}"

  # No such image: an empty list, not an error (as podman).
  run_husk images nosuchimage
  assert_line --index 0 --regexp '^REPOSITORY'
  assert_line_count 1
}

@test "images --filter dangling" {
  run_husk images --filter dangling=true --format '{{.ID}}'
  assert_output "${DANGLING:0:12}"

  run_husk images --filter dangling=false --format '{{.Repository}}:{{.Tag}}'
  assert_line "localhost/alpha:latest"
  assert_line "localhost/mid:1"
  assert_line "quay.io/org/mid:2"
  assert_line "localhost/newest:latest"
  assert_line_count 4

  run_husk images -f dangling=true -q --no-trunc
  strip_sha256
  assert_output "$DANGLING"
}

@test "images --filter reference" {
  run_husk images --filter reference=alpha --format '{{.Repository}}:{{.Tag}}'
  assert_output "localhost/alpha:latest"

  run_husk images --filter reference=localhost/alpha --format '{{.Repository}}'
  assert_output "localhost/alpha"

  # An image with several names: whether its other names are listed too
  # differs between Docker and Podman, so only the image is checked.
  run_husk images --filter reference=mid:1 -q
  assert_output "${MID:0:12}"
  run_husk images --filter reference=localhost/mid:1 --format '{{.Repository}}:{{.Tag}}'
  assert_line "localhost/mid:1"

  run_husk images --filter 'reference=quay.io/org/*' -q
  assert_output "${MID:0:12}"
  run_husk images --filter 'reference=quay.io/org/*' --format '{{.Repository}}:{{.Tag}}'
  assert_line "quay.io/org/mid:2"

  run_husk images --filter 'reference=new*' --format '{{.Repository}}'
  assert_output "localhost/newest"

  run_husk images --filter reference=nomatch --format '{{.Repository}}'
  assert_output ""
}

@test "images --filter label" {
  run_husk images --filter label=tier=old --format '{{.Repository}}'
  assert_output "localhost/alpha"

  run_husk images --filter label=color -q
  assert_output "${MID:0:12}"

  run_husk images --filter label=color=blue -q
  assert_output ""

  run_husk images --filter label=tier=dangling -q
  assert_output "${DANGLING:0:12}"
}

@test "images --filter before and since" {
  run_husk images --filter before=localhost/mid:1 -q
  assert_output "${ALPHA:0:12}"

  run_husk images --filter since=mid:1 -q
  assert_line "${NEWEST:0:12}"
  assert_line "${DANGLING:0:12}"
  assert_line_count 2

  # By id too.
  run_husk images --filter "before=${NEWEST:0:12}" -q
  assert_line "${ALPHA:0:12}"
  assert_line "${MID:0:12}"
  assert_line_count 2

  run_husk images --filter since=alpha --filter before=newest -q
  assert_output "${MID:0:12}"
}

@test "images: several filters of different kinds must all match" {
  run_husk images -f dangling=false -f label=tier=mid --format '{{.Repository}}:{{.Tag}}'
  assert_line "localhost/mid:1"
  assert_line "quay.io/org/mid:2"
  assert_line_count 2

  run_husk images -f dangling=true -f label=tier=mid -q
  assert_output ""
}

@test "images: bad filters are errors" {
  run_husk 125 images --filter bogus=1
  assert_husk_error "bogus"
  run_husk 125 images --filter dangling=maybe
  assert_husk_error "maybe"
  run_husk 125 images --filter before=nosuchimage
  assert_husk_error "nosuchimage"
  run_husk 125 images --filter since=nosuchimage
  assert_husk_error "nosuchimage"
  run_husk 125 images --filter nokeyvalue
  assert_husk_error
}

@test "images: bad format is an error" {
  run_husk 125 images --format '{{.NoSuchField}}'
  assert_husk_error
  run_husk 125 images --format '{{.Repository'
  assert_husk_error
}
