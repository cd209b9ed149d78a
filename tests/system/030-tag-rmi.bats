#!/usr/bin/env bats
# husk tag, untag and rmi.

load helpers

setup_file() {
  load helpers
  fixtures
}

setup() {
  fixtures
  fresh_store
}

# new_image NAME [LABEL]: import the busybox root as NAME, print its id.
new_image() {
  local args=(import -q -c "LABEL name=${1:-none} ${2:-}")
  husk "${args[@]}" "$FIXTURE_ROOTFS" ${1:+"$1"}
}

names_of() {
  husk image inspect --format '{{range .RepoTags}}{{.}} {{end}}' "$1"
}

@test "tag adds names; short names get localhost/ and :latest" {
  local id
  id=$(new_image src)
  run_husk tag src dst dst2:v2 quay.io/org/dst3:3
  assert_output ""

  run_husk images --no-trunc --format '{{.ID}} {{.Repository}}:{{.Tag}}'
  strip_sha256
  assert_line "$id localhost/src:latest"
  assert_line "$id localhost/dst:latest"
  assert_line "$id localhost/dst2:v2"
  assert_line "$id quay.io/org/dst3:3"
  assert_line_count 4

  run_husk image inspect --format '{{.Id}}' quay.io/org/dst3:3
  assert_output "$id"
}

@test "tag by short and full id" {
  local id
  id=$(new_image byid)
  run_husk tag "${id:0:12}" short-id
  run_husk tag "$id" full-id
  run_husk tag "sha256:$id" prefixed-id
  run_husk images -q --no-trunc --filter reference=short-id
  strip_sha256
  assert_output "$id"
  run_husk images -q --no-trunc --filter reference=full-id
  strip_sha256
  assert_output "$id"
  run_husk images -q --no-trunc --filter reference=prefixed-id
  strip_sha256
  assert_output "$id"
}

@test "tag moves a name from the image that had it" {
  local one two
  one=$(new_image shared x=1)
  two=$(new_image other x=2)
  run_husk tag other shared
  run_husk image inspect --format '{{.Id}}' shared
  assert_output "$two"

  # The first image lost its only name: it is dangling now.
  run_husk images --no-trunc --filter dangling=true -q
  strip_sha256
  assert_output "$one"
}

@test "tag errors" {
  new_image exists >/dev/null
  store_init
  local before
  before=$(store_snapshot)

  run_husk 125 tag nosuchimage newname
  assert_husk_error "nosuchimage"
  run_husk 125 tag exists
  assert_husk_error
  run_husk 125 tag
  assert_husk_error
  run_husk 125 tag exists UPPER
  assert_husk_error "UPPER"
  run_husk 125 tag exists a:b:c
  assert_husk_error "a:b:c"
  run_husk 125 tag exists 'bad tag'
  assert_husk_error
  assert_store_unchanged "$before"
}

@test "untag IMG NAME removes one name" {
  local id
  id=$(new_image keep)
  husk tag keep drop
  run_husk untag keep drop
  assert_output ""
  run_husk images --format '{{.Repository}}:{{.Tag}}'
  assert_output "localhost/keep:latest"
}

@test "untag IMG removes every name" {
  local id
  id=$(new_image many)
  husk tag many many2 quay.io/x/many3:1
  run_husk untag many
  run_husk images --no-trunc --format '{{.ID}} {{.Repository}}:{{.Tag}}'
  strip_sha256
  assert_output "$id <none>:<none>"
}

@test "untag errors" {
  new_image untagme >/dev/null
  local before
  before=$(store_snapshot)
  run_husk 125 untag nosuchimage
  assert_husk_error "nosuchimage"
  run_husk 125 untag untagme notitsname
  assert_husk_error "notitsname"
  run_husk 125 untag
  assert_husk_error
  assert_store_unchanged "$before"
}

@test "rmi NAME of an image with one name: untagged and deleted" {
  local id
  id=$(new_image gone)
  run_husk rmi gone
  assert_line --index 0 "Untagged: localhost/gone:latest"
  assert_line --index 1 "Deleted: $id"
  assert_line_count 2

  run_husk images -a -q
  assert_output ""
  run_husk 125 image inspect gone
  assert_husk_error
}

@test "rmi NAME of an image with other names only untags that name" {
  local id
  id=$(new_image multi)
  husk tag multi multi2
  run_husk rmi multi2
  assert_output "Untagged: localhost/multi2:latest"
  run_husk images --no-trunc --format '{{.ID}} {{.Repository}}:{{.Tag}}'
  strip_sha256
  assert_output "$id localhost/multi:latest"
}

@test "rmi ID of an image with several names needs -f" {
  local id
  id=$(new_image byid)
  husk tag byid byid2
  local before
  before=$(store_snapshot)
  run_husk 125 rmi "${id:0:12}"
  assert_husk_error
  assert_store_unchanged "$before"

  run_husk rmi -f "${id:0:12}"
  assert_line "Untagged: localhost/byid:latest"
  assert_line "Untagged: localhost/byid2:latest"
  assert_line --index 2 "Deleted: $id"
  assert_line_count 3
  run_husk images -a -q
  assert_output ""
}

@test "rmi of a dangling image by id" {
  local id
  id=$(new_image "")
  run_husk rmi "${id:0:12}"
  assert_output "Deleted: $id"
  run_husk images -a -q
  assert_output ""
}

@test "rmi several images at once, and rmi -a" {
  local a b c
  a=$(new_image ra)
  b=$(new_image rb)
  c=$(new_image rc)
  run_husk rmi ra rb
  assert_line "Untagged: localhost/ra:latest"
  assert_line "Deleted: $a"
  assert_line "Untagged: localhost/rb:latest"
  assert_line "Deleted: $b"
  assert_line_count 4

  new_image rd >/dev/null
  local d
  d=$(husk images -q --no-trunc --filter reference=rd | sed 's/^sha256://')
  run_husk rmi -a
  assert_line "Deleted: $c"
  assert_line "Deleted: $d"
  assert_line "Untagged: localhost/rc:latest"
  assert_line "Untagged: localhost/rd:latest"
  run_husk images -a -q
  assert_output ""
}

@test "rmi keeps layers other images use and removes the rest" {
  new_image first >/dev/null
  new_image second >/dev/null
  local layers
  count_layers() {
    find "$HUSK_ROOT/layers" -mindepth 1 -maxdepth 1 -type d ! -name '.*' | wc -l
  }
  assert_equal "$(count_layers)" 1 "layers after two imports of one tarball"

  run_husk rmi first
  assert_equal "$(count_layers)" 1 "layers after removing one image"
  run_husk image inspect --format '{{range .RootFS.Layers}}{{.}}{{end}}' second
  assert_output "$FIXTURE_ROOTFS_DIFF_ID"

  run_husk rmi second
  assert_equal "$(count_layers)" 0 "layers after removing both images"
  # No image directory is left behind either.
  layers=$(find "$HUSK_ROOT/images" -mindepth 1 -maxdepth 1 -type d | wc -l)
  assert_equal "$layers" 0 "image directories left"
}

@test "rmi of an unknown image: exit 125, store unchanged" {
  new_image stays >/dev/null
  local before
  before=$(store_snapshot)
  run_husk 125 rmi nosuchimage
  assert_husk_error "nosuchimage"
  assert_store_unchanged "$before"

  run_husk 125 rmi 0123456789ab
  assert_husk_error
  assert_store_unchanged "$before"

  run_husk 125 rmi
  assert_husk_error
  assert_store_unchanged "$before"
}

@test "rmi -f of an unknown image is not an error (as podman)" {
  store_init
  run_husk rmi -f nosuchimage
  assert_output ""
}

@test "two parallel rmi of one image: one succeeds, the other fails cleanly" {
  local round id
  for round in 1 2 3 4 5; do
    id=$(new_image race "round=$round")
    local out1=$BATS_TEST_TMPDIR/rmi1 out2=$BATS_TEST_TMPDIR/rmi2
    husk rmi race >"$out1.out" 2>"$out1.err" </dev/null &
    local p1=$!
    husk rmi race >"$out2.out" 2>"$out2.err" </dev/null &
    local p2=$!
    local s1=0 s2=0
    wait "$p1" || s1=$?
    wait "$p2" || s2=$?
    echo "round $round: exit $s1 and $s2" >&2
    cat "$out1.out" "$out1.err" "$out2.out" "$out2.err" >&2

    if [[ $s1 -eq 0 ]]; then
      local ok=$out1 bad=$out2 sbad=$s2
    else
      local ok=$out2 bad=$out1 sbad=$s1
    fi
    [[ $s1 -eq 0 || $s2 -eq 0 ]] || fail "round $round: neither rmi succeeded"
    assert_equal "$sbad" 125 "round $round: exit status of the losing rmi"
    grep -qx "Deleted: $id" "$ok.out" || fail "round $round: no Deleted line"
    [[ $(head -c 7 "$bad.err") == "Error: " ]] ||
      fail "round $round: loser's stderr: $(cat "$bad.err")"

    run_husk images -a -q
    assert_output ""
    local leftovers
    leftovers=$(find "$HUSK_ROOT/layers" "$HUSK_ROOT/images" -mindepth 1 -maxdepth 1 -type d | wc -l)
    assert_equal "$leftovers" 0 "round $round: directories left in the store"
  done
}
