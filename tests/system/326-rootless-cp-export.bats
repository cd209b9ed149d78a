#!/usr/bin/env bats
# Rootless cp, diff, export and commit as an unprivileged user with a
# subuid range (the user HUSK_TEST_USER, default husktest, as in
# 250-rootless-run.bats): the overlay of a stopped container is mounted in
# a private mount namespace inside the user namespace (userxattr), a
# running container's root is opened before entering the namespace.
# Skipped when not run as root (the user must be created).

load helpers

ROOTLESS_USER=${HUSK_TEST_USER:-husktest}

setup_file() {
  load helpers
  export ROOTLESS_SKIP=
  if [[ $(id -u) -ne 0 ]]; then
    ROOTLESS_SKIP="needs root to create the test user $ROOTLESS_USER"
    return 0
  fi
  local tool
  for tool in runuser newuidmap newgidmap useradd; do
    if ! command -v "$tool" >/dev/null; then
      ROOTLESS_SKIP="$tool is not installed"
      return 0
    fi
  done
  fixtures
  bash "$HUSK_REPO/tests/unit/rootless-user.sh" "$ROOTLESS_USER" >&2 ||
    fail "tests/unit/rootless-user.sh $ROOTLESS_USER failed" || return
  ROOTLESS_DIR=$(mktemp -d /tmp/husk-rootless-cp.XXXXXX)
  chmod 0755 "$ROOTLESS_DIR"
  cp "$HUSK_BINARY" "$ROOTLESS_DIR/husk"
  cp "$FIXTURE_DOCKER_ARCHIVE" "$ROOTLESS_DIR/docker-archive.tar"
  chmod -R a+rX "$ROOTLESS_DIR"
  ROOTLESS_HOME=$ROOTLESS_DIR/home
  mkdir -m 0700 "$ROOTLESS_HOME"
  chown "$ROOTLESS_USER:" "$ROOTLESS_HOME"
  # A directory the user can write, for the host side of the copies.
  ROOTLESS_WORK=$ROOTLESS_DIR/work
  mkdir -m 0700 "$ROOTLESS_WORK"
  chown "$ROOTLESS_USER:" "$ROOTLESS_WORK"
  export ROOTLESS_DIR ROOTLESS_HOME ROOTLESS_WORK
  as_user "$ROOTLESS_HOME" "$ROOTLESS_DIR/husk" load -q -i "$ROOTLESS_DIR/docker-archive.tar" </dev/null >&2 ||
    fail "husk load of the fixture as $ROOTLESS_USER failed"
}

teardown_file() {
  if [[ -n ${ROOTLESS_DIR:-} ]]; then
    as_user "$ROOTLESS_HOME" "$ROOTLESS_DIR/husk" rm -a -f </dev/null >/dev/null 2>&1 || true
    rm -rf "$ROOTLESS_DIR"
  fi
  return 0
}

setup() {
  [[ -z ${ROOTLESS_SKIP:-} ]] || skip "$ROOTLESS_SKIP"
  [[ -n ${ROOTLESS_DIR:-} ]] || skip "setup_file did not prepare the rootless user"
  fixtures
  IMAGE=$FIXTURE_NAME
}

teardown() {
  [[ -n ${ROOTLESS_DIR:-} ]] || return 0
  as_user "$ROOTLESS_HOME" "$ROOTLESS_DIR/husk" rm -a -f </dev/null >/dev/null 2>&1 || true
}

# as_user HOME CMD...: CMD as the test user with cron's environment.
as_user() {
  local home=$1
  shift
  (cd / && timeout -k 5 "$HUSK_TEST_TIMEOUT" runuser -u "$ROOTLESS_USER" -- \
    env -i HOME="$home" PATH=/usr/bin:/bin "$@")
}

# run_rootless [EXPECTED_STATUS] ARGS...: husk ARGS as the user.
run_rootless() {
  local expected=0
  case ${1:-} in
  '?' | [0-9] | [0-9][0-9] | [0-9][0-9][0-9])
    expected=$1
    shift
    ;;
  esac
  run --separate-stderr as_user "$ROOTLESS_HOME" "$ROOTLESS_DIR/husk" "$@" </dev/null
  _husk_show_run "(as $ROOTLESS_USER) $*"
  if [[ $expected != '?' && $status -ne $expected ]]; then
    fail "exit code is $status; expected $expected (as $ROOTLESS_USER: husk $*)"
  fi
}

@test "rootless: diff, export and cp of a stopped container" {
  run_rootless run --name c "$IMAGE" sh -c 'echo hi > /etc/new; rm /etc/motd; chown 1000:1000 /etc/new'
  run_rootless diff c
  assert_line "A /etc/new"
  assert_line "D /etc/motd"
  as_user "$ROOTLESS_HOME" "$ROOTLESS_DIR/husk" export c </dev/null >"$BATS_TEST_TMPDIR/c.tar"
  run tar -tvf "$BATS_TEST_TMPDIR/c.tar"
  assert_line --regexp " 1000/1000 .* etc/new$"
  refute_line --partial "etc/motd"
  refute_line --partial ".wh."
  run_rootless cp c:/etc/new "$ROOTLESS_WORK/new"
  assert_equal "$(cat "$ROOTLESS_WORK/new")" hi
  # Copied out by a user: the user's file.
  assert_equal "$(stat -c %U "$ROOTLESS_WORK/new")" "$ROOTLESS_USER"
  echo back >"$ROOTLESS_WORK/back"
  chown "$ROOTLESS_USER:" "$ROOTLESS_WORK/back"
  run_rootless cp "$ROOTLESS_WORK/back" c:/back
  run_rootless cp c:/back -
  run_rootless 125 cp "$ROOTLESS_WORK/back" c:/no/such/dir
  # No mount was left in the host's namespace.
  run grep -c "$ROOTLESS_HOME" /proc/self/mountinfo
  assert_output 0
}

@test "rootless: cp into and out of a running container, commit" {
  run_rootless run -d --name r "$IMAGE" sh -c 'echo live > /live; while :; do sleep 0.2; done'
  sleep 0.5
  run_rootless cp r:/live "$ROOTLESS_WORK/live"
  assert_equal "$(cat "$ROOTLESS_WORK/live")" live
  run_rootless cp "$ROOTLESS_WORK/live" r:/tmp/
  run_rootless cp r:/tmp/live -
  run_rootless commit -q r rl-img
  run_rootless run --rm rl-img cat /live /tmp/live
  assert_output "live
live"
}
