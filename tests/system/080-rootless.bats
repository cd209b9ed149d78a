#!/usr/bin/env bats
# Rootless: husk run by an unprivileged user with a subuid range, the way
# cron or a CI step runs it (env -i: no XDG_RUNTIME_DIR, no login session,
# no TTY).  Layer extraction runs in a user namespace mapping 0 to the user
# and 1..N to the user's /etc/subuid range (DESIGN.md section 4), so a file
# owned by 1000:1000 in an image lands on the host as subuid_start+999.
#
# The file needs root to create the test user (HUSK_TEST_USER, default
# husktest) and its ranges; it is skipped otherwise, which includes the
# rootless pass of tests/run-all.sh.  The store is the user's default one,
# ~/.local/share/husk, emptied before and after the file.  The husk binary
# and the fixtures are copied to a directory every user can read.

load helpers

ROOTLESS_USER=${HUSK_TEST_USER:-husktest}

setup_file() {
  load helpers
  # This bats cannot skip from setup_file: say why, and setup skips.
  export ROOTLESS_SKIP=
  if [[ $(id -u) -ne 0 ]]; then
    ROOTLESS_SKIP="needs root to create the test user $ROOTLESS_USER"
    return 0
  fi
  if ! command -v runuser >/dev/null; then
    ROOTLESS_SKIP="runuser is not installed"
    return 0
  fi
  fixtures

  if ! id "$ROOTLESS_USER" >/dev/null 2>&1; then
    useradd --create-home --shell /bin/bash "$ROOTLESS_USER"
  fi
  if ! grep -q "^$ROOTLESS_USER:" /etc/subuid 2>/dev/null; then
    usermod --add-subuids 200000-265535 "$ROOTLESS_USER" 2>/dev/null ||
      echo "$ROOTLESS_USER:200000:65536" >>/etc/subuid
  fi
  if ! grep -q "^$ROOTLESS_USER:" /etc/subgid 2>/dev/null; then
    usermod --add-subgids 200000-265535 "$ROOTLESS_USER" 2>/dev/null ||
      echo "$ROOTLESS_USER:200000:65536" >>/etc/subgid
  fi

  ROOTLESS_UID=$(id -u "$ROOTLESS_USER")
  ROOTLESS_GID=$(id -g "$ROOTLESS_USER")
  ROOTLESS_HOME=$(getent passwd "$ROOTLESS_USER" | cut -d: -f6)
  # The first line for the user, by name or uid, as newuidmap reads it.
  SUBUID_START=$(subid_start /etc/subuid)
  SUBGID_START=$(subid_start /etc/subgid)
  [[ -n $SUBUID_START && -n $SUBGID_START ]] ||
    fail "no subuid/subgid range for $ROOTLESS_USER" || return

  ROOTLESS_DIR=$(mktemp -d /tmp/husk-rootless.XXXXXX)
  chmod 0755 "$ROOTLESS_DIR"
  cp "$HUSK_BINARY" "$ROOTLESS_DIR/husk"
  cp "$FIXTURE_ROOTFS" "$ROOTLESS_DIR/rootfs.tar"
  cp "$FIXTURE_DOCKER_ARCHIVE" "$ROOTLESS_DIR/docker-archive.tar"
  # The namespace's driver program, built with the unit tests.
  local driver
  driver=$(dirname "$HUSK_BINARY")/tests/unit/test-userns
  if [[ -x $driver ]]; then
    cp "$driver" "$ROOTLESS_DIR/test-userns"
  fi
  chmod -R a+rX "$ROOTLESS_DIR"
  # Scratch space each user can write to.
  mkdir -m 0700 "$ROOTLESS_DIR/work" "$ROOTLESS_DIR/nobody"
  chown "$ROOTLESS_USER:" "$ROOTLESS_DIR/work"
  chown nobody: "$ROOTLESS_DIR/nobody"

  rm -rf "$ROOTLESS_HOME/.local/share/husk"
  export ROOTLESS_UID ROOTLESS_GID ROOTLESS_HOME SUBUID_START SUBGID_START ROOTLESS_DIR
}

teardown_file() {
  if [[ -n ${ROOTLESS_DIR:-} ]]; then
    rm -rf "$ROOTLESS_DIR"
  fi
  if [[ -n ${ROOTLESS_HOME:-} ]]; then
    rm -rf "$ROOTLESS_HOME/.local/share/husk"
  fi
  return 0
}

setup() {
  if [[ -n ${ROOTLESS_SKIP:-} ]]; then
    skip "$ROOTLESS_SKIP"
  fi
  if [[ -z ${ROOTLESS_DIR:-} ]]; then
    skip "setup_file did not prepare the rootless user"
  fi
  fixtures
}

subid_start() {
  local uid
  uid=$(id -u "$ROOTLESS_USER")
  awk -F: -v u="$ROOTLESS_USER" -v id="$uid" \
    '($1 == u || $1 == id) && $3 > 0 { print $2; exit }' "$1"
}

# as_user USER HOME CMD...: CMD as USER with cron's environment.
as_user() {
  local user=$1 home=$2
  shift 2
  (cd / && timeout -k 5 "$HUSK_TEST_TIMEOUT" runuser -u "$user" -- \
    env -i HOME="$home" PATH=/usr/bin:/bin "$@")
}

# run_rootless [EXPECTED_STATUS] ARGS...: husk ARGS as the test user, on
# the user's default store; like run_husk otherwise.
run_rootless() {
  run_as "$ROOTLESS_USER" "$ROOTLESS_HOME" "$@"
}

# run_as USER HOME [EXPECTED_STATUS] ARGS...
run_as() {
  local user=$1 home=$2 expected=0
  shift 2
  case ${1:-} in
  '?' | [0-9] | [0-9][0-9] | [0-9][0-9][0-9])
    expected=$1
    shift
    ;;
  esac
  run --separate-stderr as_user "$user" "$home" "$ROOTLESS_DIR/husk" "$@" </dev/null
  _husk_show_run "(as $user) $*"
  if [[ $expected != '?' && $status -ne $expected ]]; then
    fail "exit code is $status; expected $expected (as $user: husk $*)"
  fi
}

# The host's view of a path's owner: "uid:gid".
owner_of() {
  stat -c '%u:%g' "$1"
}

# Every diff dir of an image, top first (UpperDir, then LowerDir).
layer_dirs() {
  run_rootless image inspect --format '{{.GraphDriver.Data.UpperDir}}' "$1"
  local upper=$output
  run_rootless image inspect --format '{{.GraphDriver.Data.LowerDir}}' "$1"
  local lower=$output
  echo "$upper"
  if [[ -n $lower && $lower != "<no value>" ]]; then
    tr ':' '\n' <<<"$lower"
  fi
}

@test "rootless: husk import extracts the rootfs as the user" {
  run_rootless import "$ROOTLESS_DIR/rootfs.tar" localhost/rootless-import:latest
  assert_output --regexp "$ID64_RE"
  # The user has a range: no single-mapping warning.
  if [[ ${stderr:-} == *Warning* ]]; then
    fail "unexpected warning: $stderr"
  fi
  local id=$output

  run_rootless image inspect --format '{{.GraphDriver.Data.UpperDir}}' "$id"
  local diff=$output
  [[ $diff == "$ROOTLESS_HOME/.local/share/husk/"* ]] ||
    fail "layer $diff is not in the user's store"
  # Entries owned by 0:0 in the tar are the user's own files on the host.
  assert_equal "$(owner_of "$diff/bin/busybox")" "$ROOTLESS_UID:$ROOTLESS_GID" "owner of /bin/busybox"
  assert_equal "$(owner_of "$diff/root")" "$ROOTLESS_UID:$ROOTLESS_GID" "owner of /root"
  assert_equal "$(stat -c %a "$diff/tmp")" 1777 "mode of /tmp"
}

@test "rootless: husk load -i of a docker-archive" {
  run_rootless load -i "$ROOTLESS_DIR/docker-archive.tar"
  assert_line "Loaded image: $FIXTURE_NAME"
  run_rootless image inspect --format '{{.Id}}' "$FIXTURE_NAME"
  assert_output --partial "$FIXTURE_ID"
}

@test "rootless: husk images lists the imported and loaded images" {
  run_rootless images --format '{{.Repository}}:{{.Tag}}'
  assert_line "localhost/rootless-import:latest"
  assert_line "$FIXTURE_NAME"
}

@test "rootless: the store is ~/.local/share/husk, owned by the user" {
  run_rootless info --format '{{.store.graphRoot}}'
  assert_output "$ROOTLESS_HOME/.local/share/husk"
  local root=$output
  assert_equal "$(owner_of "$root")" "$ROOTLESS_UID:$ROOTLESS_GID" "owner of the store root"
  local sub
  for sub in layers images tmp; do
    assert_equal "$(stat -c %u "$root/$sub")" "$ROOTLESS_UID" "owner of $root/$sub"
  done
  run_rootless info --format '{{.host.rootless}}'
  assert_output true
}

@test "rootless: a file owned by 1000:1000 in a layer is owned by subuid_start+999" {
  local dir found=
  while read -r dir; do
    if [[ -e $dir/home/user/owned ]]; then
      found=$dir
      break
    fi
  done < <(layer_dirs "$FIXTURE_NAME")
  [[ -n $found ]] || fail "no layer of $FIXTURE_NAME holds /home/user/owned" || return
  local want="$((SUBUID_START + 999)):$((SUBGID_START + 999))"
  assert_equal "$(owner_of "$found/home/user/owned")" "$want" "owner of /home/user/owned"
  assert_equal "$(owner_of "$found/home/user")" "$want" "owner of /home/user"
  # Root's files in the same layer are the user's.
  assert_equal "$(owner_of "$found/etc/motd")" "$ROOTLESS_UID:$ROOTLESS_GID" "owner of /etc/motd"
}

@test "rootless: without XDG_RUNTIME_DIR the runroot is /run/user/UID/husk or /tmp/husk-run-UID/husk" {
  local expected=/tmp/husk-run-$ROOTLESS_UID/husk
  local run_user=/run/user/$ROOTLESS_UID
  if [[ -d $run_user && ! -L $run_user && $(stat -c '%u %a' "$run_user") == "$ROOTLESS_UID 700" ]]; then
    expected=$run_user/husk
  fi
  run_rootless info --format '{{.store.runRoot}}'
  assert_output "$expected"
  assert_equal "$(stat -c %u "$expected")" "$ROOTLESS_UID" "owner of the runroot"
  if [[ $expected == /tmp/* ]]; then
    assert_equal "$(stat -c '%u %a' "${expected%/husk}")" "$ROOTLESS_UID 700" "owner and mode of ${expected%/husk}"
  fi
}

@test "rootless: the namespace maps 0 to the user and 1000 to subuid_start+999" {
  [[ -x $ROOTLESS_DIR/test-userns ]] || skip "tests/unit/test-userns was not built"
  local f=$ROOTLESS_DIR/work/owned
  run --separate-stderr as_user "$ROOTLESS_USER" "$ROOTLESS_HOME" "$ROOTLESS_DIR/test-userns" --enter "$f" 7
  _husk_show_run "(as $ROOTLESS_USER) test-userns --enter $f 7"
  # The parent exits with the child's status.
  assert_equal "$status" 7 "exit status"
  assert_output "uid=0 gid=0 outer_uid=$ROOTLESS_UID outer_gid=$ROOTLESS_GID rootless=1 inside=1 can_chown=1 marker=$ROOTLESS_UID:$ROOTLESS_GID:1"
  assert_equal "$(owner_of "$f")" "$((SUBUID_START + 999)):$((SUBGID_START + 999))" "owner of the chowned file"

  # A process started inside knows the ids outside from the marker.
  run --separate-stderr as_user "$ROOTLESS_USER" "$ROOTLESS_HOME" "$ROOTLESS_DIR/test-userns" --enter-exec
  assert_equal "$status" 0 "exit status"
  assert_output "uid=0 gid=0 outer_uid=$ROOTLESS_UID outer_gid=$ROOTLESS_GID rootless=1 inside=1 can_chown=1 marker=$ROOTLESS_UID:$ROOTLESS_GID:1"

  # A marker set by hand outside a namespace is ignored.
  run --separate-stderr as_user "$ROOTLESS_USER" "$ROOTLESS_HOME" \
    env _HUSK_USERNS_OUTER=0:0:1 "$ROOTLESS_DIR/test-userns" --show
  assert_output --partial "outer_uid=$ROOTLESS_UID "
  assert_output --partial " inside=0 "
}

@test "rootless: SIGTERM to the outer process reaches the command in the namespace" {
  [[ -x $ROOTLESS_DIR/test-userns ]] || skip "tests/unit/test-userns was not built"
  as_user "$ROOTLESS_USER" "$ROOTLESS_HOME" "$ROOTLESS_DIR/test-userns" --enter-exec sleep 60 \
    </dev/null >/dev/null 2>&1 &
  local bg=$! outer='' inner='' i
  for i in $(seq 1 100); do
    outer=$(pgrep -u "$ROOTLESS_UID" -f "^$ROOTLESS_DIR/test-userns --enter-exec sleep 60" | head -n1)
    [[ -n $outer ]] && inner=$(pgrep -P "$outer" -x sleep | head -n1)
    [[ -n $inner ]] && break
    sleep 0.1
  done
  [[ -n $inner ]] || fail "the command did not start in the namespace" || return
  kill -TERM "$outer"
  local rc=0
  wait "$bg" || rc=$?
  # The outer process dies of the same signal: 128 + 15.
  assert_equal "$rc" 143 "exit status of the outer process"
  if kill -0 "$inner" 2>/dev/null; then
    kill -KILL "$inner"
    fail "sleep $inner in the namespace survived SIGTERM"
  fi
}

@test "rootless: with no subuid range, one warning and the user owns every file" {
  if grep -qE '^(nobody|65534):' /etc/subuid /etc/subgid 2>/dev/null; then
    skip "nobody has a subuid range here"
  fi
  local home=$ROOTLESS_DIR/nobody
  run_as nobody "$home" load -i "$ROOTLESS_DIR/docker-archive.tar"
  assert_line "Loaded image: $FIXTURE_NAME"
  local warning="Warning: no subuid range for user nobody in /etc/subuid: files owned by other users in images will be owned by you"
  assert_equal "$stderr" "$warning" "stderr"

  run_as nobody "$home" image inspect --format '{{.GraphDriver.Data.LowerDir}}' "$FIXTURE_NAME"
  local dir found=
  while read -r dir; do
    [[ -e $dir/home/user/owned ]] && found=$dir
  done < <(tr ':' '\n' <<<"$output")
  [[ -n $found ]] || fail "no layer holds /home/user/owned" || return
  assert_equal "$(owner_of "$found/home/user/owned")" "65534:65534" "owner of /home/user/owned"

  # Read-only commands never enter the namespace, so never warn.
  run_as nobody "$home" images --format '{{.Repository}}:{{.Tag}}'
  assert_output "$FIXTURE_NAME"
  assert_equal "${stderr:-}" "" "stderr of husk images"
}
