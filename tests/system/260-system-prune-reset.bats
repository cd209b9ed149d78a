#!/usr/bin/env bats
# husk system prune and husk system reset (issue 6, CI ergonomics): prune
# removes stopped containers and dangling (with -a: unused) images; reset
# removes every container and image and empties the store and runroot.
# As root, then as an unprivileged user whose containers wrote files owned
# by its subordinate ids, which only the user namespace can delete.

load helpers

ROOTLESS_USER=${HUSK_TEST_USER:-husktest}

setup() {
  fixtures
  IMAGE=$FIXTURE_NAME
  fresh_store
  husk load -q -i "$FIXTURE_DOCKER_ARCHIVE" >/dev/null || fail "husk load failed"
}

teardown() {
  ctr_cleanup
  if [[ -n ${ROOTLESS_DIR:-} ]]; then
    as_user husk rm -a -f >/dev/null 2>&1 || true
    rm -rf "$ROOTLESS_DIR"
  fi
  return 0
}

# A dangling image: the fixture's root filesystem imported without a name.
dangling_image() {
  husk import -q "$FIXTURE_ROOTFS" | tail -n 1
}

@test "system prune: stopped containers and dangling images go, running ones and tagged images stay" {
  run_husk run --name done "$IMAGE" true
  run_husk create --name fresh "$IMAGE" true
  run_husk run -d --name busy "$IMAGE" sleep 100
  local done_id fresh_id dangling
  done_id=$(husk container inspect -f '{{.Id}}' done)
  fresh_id=$(husk container inspect -f '{{.Id}}' fresh)
  dangling=$(dangling_image)
  [[ -n $dangling ]] || fail "import printed no id"

  run_husk system prune -f
  assert_line "Deleted Containers"
  assert_line "$done_id"
  assert_line "$fresh_id"
  assert_line "Deleted Images"
  assert_line --regexp "^(sha256:)?${dangling#sha256:}"
  assert_line --regexp '^Total reclaimed space: [0-9.]+[kMG]?B$'

  run_husk ps -a --format '{{.Names}}'
  assert_output "busy"
  run_husk images --format '{{.Repository}}:{{.Tag}}'
  assert_output "$IMAGE"
}

@test "system prune -a: unused images go too; an image a container uses stays" {
  run_husk run -d --name busy "$IMAGE" sleep 100
  run_husk system prune -a -f
  run_husk images -q
  assert_line_count 1
  run_husk rm -f busy
  run_husk system prune -a -f
  assert_line "Deleted Images"
  run_husk images -q
  assert_output ""
}

@test "system prune: nothing to remove prints only the total" {
  run_husk system prune -f --volumes
  assert_output "Total reclaimed space: 0B"
}

@test "system prune: without -f an answer other than y removes nothing" {
  run_husk run --name done "$IMAGE" true
  printf 'n\n' >"$BATS_TEST_TMPDIR/no"
  run_husk --stdin "$BATS_TEST_TMPDIR/no" system prune
  assert_output ""
  [[ $stderr == *"WARNING! This command removes:"* ]] || fail "no warning: $stderr"
  run_husk ps -a -q
  assert_line_count 1
  printf 'y\n' >"$BATS_TEST_TMPDIR/yes"
  run_husk --stdin "$BATS_TEST_TMPDIR/yes" system prune
  assert_line "Deleted Containers"
  run_husk ps -a -q
  assert_output ""
}

@test "system reset: every container (running too) and image gone, store and runroot empty" {
  run_husk run --name done "$IMAGE" true
  run_husk run -d --name busy "$IMAGE" sleep 100
  local pid
  pid=$(ctr_json busy .State.Pid)
  dangling_image >/dev/null

  run_husk system reset -f
  assert_output ""
  [[ -d $HUSK_ROOT && -d $HUSK_RUNROOT ]] || fail "reset removed the root or runroot directory itself"
  assert_equal "$(find "$HUSK_ROOT" "$HUSK_RUNROOT" -mindepth 1 | head -n 5)" ""
  if kill -0 "$pid" 2>/dev/null && grep -q '^NSpid:.*[[:space:]]1$' "/proc/$pid/status"; then
    fail "pid 1 of busy ($pid) still runs"
  fi
  run_husk images -q
  assert_output ""
  run_husk ps -a -q
  assert_output ""
  # The store works again at once.
  run_husk load -q -i "$FIXTURE_DOCKER_ARCHIVE"
  run_husk run --rm "$IMAGE" echo ok
  assert_output "ok"
}

@test "system reset: without -f it asks, naming the store, and n keeps everything" {
  printf 'n\n' >"$BATS_TEST_TMPDIR/no"
  run_husk --stdin "$BATS_TEST_TMPDIR/no" system reset
  [[ $stderr == *"WARNING! This will remove:"*"$HUSK_ROOT"* ]] || fail "no warning naming the root: $stderr"
  run_husk images -q
  assert_line_count 1
}

@test "system prune/reset: bad input" {
  run_husk 125 system prune --bogus
  assert_husk_error "unknown flag"
  run_husk 125 system reset extra
  assert_husk_error "accepts at most 0 arguments"
}

# -- rootless ----------------------------------------------------------------

# as_user CMD...: CMD as the test user with cron's environment.
as_user() {
  (cd / && timeout -k 5 "$HUSK_TEST_TIMEOUT" runuser -u "$ROOTLESS_USER" -- \
    env -i HOME="$ROOTLESS_DIR/home" PATH=/usr/bin:/bin "$ROOTLESS_DIR/husk" "$@")
}

rootless_setup() {
  [[ $(id -u) -eq 0 ]] || skip "needs root to create $ROOTLESS_USER"
  command -v runuser >/dev/null && command -v newuidmap >/dev/null || skip "runuser or newuidmap missing"
  bash "$HUSK_REPO/tests/unit/rootless-user.sh" "$ROOTLESS_USER" >&2 ||
    skip "could not create $ROOTLESS_USER"
  ROOTLESS_DIR=$(mktemp -d /tmp/husk-prune-rootless.XXXXXX)
  chmod 0755 "$ROOTLESS_DIR"
  cp "$HUSK_BINARY" "$ROOTLESS_DIR/husk"
  cp "$FIXTURE_DOCKER_ARCHIVE" "$ROOTLESS_DIR/docker-archive.tar"
  chmod -R a+rX "$ROOTLESS_DIR"
  mkdir -m 0700 "$ROOTLESS_DIR/home"
  chown "$ROOTLESS_USER:" "$ROOTLESS_DIR/home"
  ROOTLESS_STORE=$ROOTLESS_DIR/home/.local/share/husk
  as_user load -q -i "$ROOTLESS_DIR/docker-archive.tar" </dev/null >/dev/null ||
    fail "husk load as $ROOTLESS_USER failed"
}

# Files of the user's store not owned by the user: its sub-ids at work.
subid_files() {
  find "$ROOTLESS_STORE" ! -user "$ROOTLESS_USER" | head -n 3
}

@test "rootless: system prune removes containers whose files belong to sub-uids" {
  rootless_setup
  run as_user run --name subid "$IMAGE" sh -c 'mkdir /data && touch /data/f && chown -R 1000:1000 /data'
  [[ $status -eq 0 ]] || fail "run as $ROOTLESS_USER failed: $output"
  [[ -n $(subid_files) ]] || fail "the container made no file owned by a sub-uid"
  run as_user system prune -f </dev/null
  [[ $status -eq 0 ]] || fail "system prune failed: $output"
  [[ $output == *"Deleted Containers"* ]] || fail "no container deleted: $output"
  run as_user ps -a -q </dev/null
  assert_output ""
  assert_equal "$(find "$ROOTLESS_STORE/containers" -mindepth 1 -maxdepth 1 -type d | head -n 1)" ""
}

@test "rootless: system reset leaves the user's store empty" {
  rootless_setup
  run as_user run --name subid "$IMAGE" sh -c 'mkdir /data && chown 1000:1000 /data'
  [[ $status -eq 0 ]] || fail "run as $ROOTLESS_USER failed: $output"
  run as_user run -d --name busy "$IMAGE" sleep 100 </dev/null
  [[ $status -eq 0 ]] || fail "run -d as $ROOTLESS_USER failed: $output"
  run as_user system reset -f </dev/null
  [[ $status -eq 0 ]] || fail "system reset failed: $output"
  assert_equal "$(find "$ROOTLESS_STORE" -mindepth 1 | head -n 3)" ""
  run as_user images -q </dev/null
  assert_output ""
  run as_user ps -a -q </dev/null
  assert_output ""
}
