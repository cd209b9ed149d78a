#!/usr/bin/env bats
# husk diff (A/C/D from the upper dir), commit (-m -a -c --squash, a new
# layer with whiteouts, history, config changes) and export (the merged
# filesystem as a tar, no whiteouts).  Issue 4 item 5.

load helpers

setup_file() {
  load helpers
  ctr_setup_file
}

setup() {
  ctr_setup
}

teardown() {
  ctr_cleanup
}

changes() {
  run_husk run --name c "$IMAGE" sh -c 'echo new > /etc/new; rm /etc/passwd; mkdir -p /var/x/y; echo z > /var/x/y/z; echo more >> /etc/motd'
}

@test "diff: A, C and D from the upper dir, parents as C, sorted" {
  changes
  run_husk diff c
  assert_line "C /etc"
  assert_line "A /etc/new"
  assert_line "D /etc/passwd"
  assert_line "C /etc/motd"
  assert_line "C /var"
  assert_line "A /var/x"
  assert_line "A /var/x/y/z"
  # Sorted by path; the runtime's mount targets are not changes.
  assert_equal "$output" "$(printf '%s\n' "$output" | LC_ALL=C sort -k2)"
  refute_line "A /etc/hosts"
  run_husk diff --format json c
  assert_equal "$(jq -r '.deleted[]' <<<"$output")" /etc/passwd
  assert_equal "$(jq -r '.added | length' <<<"$output")" 4
}

@test "diff: a fresh container has no changes; bad input" {
  run_husk run --name fresh "$IMAGE" true
  run_husk diff fresh
  assert_output ""
  run_husk 125 diff nosuch
  assert_husk_error "nosuch not found: no such container or image"
  run_husk 125 diff --format xml fresh
}

@test "export: the merged filesystem, without whiteouts, to stdout and -o" {
  changes
  husk export c >"$BATS_TEST_TMPDIR/c.tar"
  run tar -tf "$BATS_TEST_TMPDIR/c.tar"
  assert_line etc/new
  assert_line etc/motd
  assert_line bin/busybox
  assert_line var/x/y/z
  refute_line etc/passwd
  refute_line --partial .wh.
  run_husk export -o "$BATS_TEST_TMPDIR/o.tar" c
  cmp "$BATS_TEST_TMPDIR/c.tar" "$BATS_TEST_TMPDIR/o.tar"
  run tar -xOf "$BATS_TEST_TMPDIR/c.tar" etc/motd
  assert_line more
  run_husk 125 export nosuch
  # No mount is left in the host's namespace.
  run grep -c "$HUSK_ROOT" /proc/self/mountinfo
  assert_output 0
}

@test "export: a running container" {
  run_husk run -d --name r "$IMAGE" sh -c 'echo live > /live; while :; do sleep 0.2; done'
  ctr_wait_status r running
  sleep 0.3
  husk export r >"$BATS_TEST_TMPDIR/r.tar"
  run tar -xOf "$BATS_TEST_TMPDIR/r.tar" live
  assert_output live
}

@test "commit: the new image has the changes, deletions stay deleted, history and -c" {
  changes
  run_husk commit -m "my message" -a "Jane <j@example.com>" -c 'CMD ["cat", "/etc/new"]' -c "ENV FOO=bar" c committed
  assert_output --regexp "$ID64_RE"
  local id=$output
  run_husk run --rm committed
  assert_output new
  run_husk 1 run --rm committed sh -c 'echo $FOO; cat /var/x/y/z; ls /etc/passwd 2>&1'
  assert_line bar
  assert_line z
  assert_line --partial "No such file"
  run_husk image inspect committed
  assert_equal "$(jq -r '.[0].Id' <<<"$output")" "$id"
  assert_equal "$(jq -r '.[0].Author' <<<"$output")" "Jane <j@example.com>"
  assert_equal "$(jq -r '.[0].RootFS.Layers | length' <<<"$output")" $(($(wc -w <<<"$FIXTURE_DIFF_IDS") + 1))
  run_husk history --format '{{.Comment}}' committed
  assert_line "my message"
}

@test "commit: --squash makes one layer; -q prints the id; a name is normalized" {
  changes
  run_husk commit -q --squash c sq
  assert_output --regexp "$ID64_RE"
  run_husk image inspect localhost/sq:latest
  assert_equal "$(jq -r '.[0].RootFS.Layers | length' <<<"$output")" 1
  run_husk 1 run --rm sq sh -c 'cat /etc/new; ls /etc/passwd'
  assert_line new
}

@test "commit: bad input leaves the store unchanged" {
  changes
  local snap
  snap=$(store_snapshot)
  run_husk 125 commit nosuch img
  assert_husk_error "no container with name or ID \"nosuch\" found"
  run_husk 125 commit -c "BOGUS x" c img
  run_husk 125 commit c "UPPER:case"
  assert_store_unchanged "$snap"
}

@test "commit: a running container is committed and keeps running (paused only meanwhile)" {
  run_husk run -d --name r "$IMAGE" sh -c 'echo live > /live; while :; do sleep 0.1; done'
  ctr_wait_status r running
  sleep 0.3
  run_husk commit -q r running-img
  assert_equal "$(ctr_status r)" running
  run_husk commit -q --pause=false r running-img2
  run_husk run --rm running-img cat /live
  assert_output live
}

@test "commit: the runtime's mount targets (/etc/hosts, /proc...) stay out of the new layer" {
  run_husk run --name c "$IMAGE" sh -c 'echo x > /x'
  run_husk commit -q c committed
  local dir
  dir=$(mktemp -d)
  husk save -o "$dir/a.tar" committed
  tar -xf "$dir/a.tar" -C "$dir"
  local top
  top=$(jq -r '.[0].Layers[-1]' "$dir/manifest.json")
  run tar -tf "$dir/$top"
  rm -rf "$dir"
  assert_output "x"
}

@test "diff IMAGE: what the image's top layer changes (podman's diff of an image)" {
  run_husk run --name c "$IMAGE" sh -c 'echo x > /x; rm /etc/passwd'
  run_husk commit -q c committed
  run_husk diff committed
  assert_line "A /x"
  assert_line "D /etc/passwd"
  assert_line "C /etc"
  assert_line_count 3
  run_husk diff --format json committed
  assert_equal "$(jq -r '.added[]' <<<"$output")" /x
  run_husk 125 diff no-such-thing
  assert_husk_error "no such container or image"
}
