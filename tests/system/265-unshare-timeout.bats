#!/usr/bin/env bats
# husk unshare (enter the rootless user namespace), run --timeout (the
# monitor kills pid 1 after SECONDS; exit 255 as Podman's), and a subuid
# range too small for an image's files (issue 6).

load helpers

ROOTLESS_USER=${HUSK_TEST_USER:-husktest}

setup_file() {
  load helpers
  ctr_setup_file
}

setup() {
  ctr_setup
}

teardown() {
  ctr_cleanup
  if [[ -n ${ROOTLESS_DIR:-} ]]; then
    as_user husk rm -a -f </dev/null >/dev/null 2>&1 || true
    rm -rf "$ROOTLESS_DIR"
  fi
  return 0
}

# as_user CMD...: CMD as the test user with cron's environment.
as_user() {
  (cd / && timeout -k 5 "$HUSK_TEST_TIMEOUT" runuser -u "$ROOTLESS_USER" -- \
    env -i HOME="$ROOTLESS_DIR/home" PATH=/usr/bin:/bin "$@")
}

# run_rootless [STATUS] ARGS...: husk ARGS as the test user, like run_husk.
run_rootless() {
  local expected=0
  case ${1:-} in
  '?' | [0-9] | [0-9][0-9] | [0-9][0-9][0-9])
    expected=$1
    shift
    ;;
  esac
  # run -N: bats warns about 127 unless told it is expected.
  local check=()
  [[ $expected != '?' ]] && check=(-"$expected")
  run "${check[@]}" --separate-stderr as_user "$ROOTLESS_DIR/husk" "$@" </dev/null
  _husk_show_run "(as $ROOTLESS_USER) $*"
  [[ $expected == '?' || $status -eq $expected ]] ||
    fail "exit code is $status; expected $expected (as $ROOTLESS_USER: husk $*)"
}

rootless_setup() {
  [[ $(id -u) -eq 0 ]] || skip "needs root to create $ROOTLESS_USER"
  command -v runuser >/dev/null && command -v newuidmap >/dev/null || skip "runuser or newuidmap missing"
  bash "$HUSK_REPO/tests/unit/rootless-user.sh" "$ROOTLESS_USER" >&2 ||
    skip "could not create $ROOTLESS_USER"
  ROOTLESS_DIR=$(mktemp -d /tmp/husk-unshare.XXXXXX)
  chmod 0755 "$ROOTLESS_DIR"
  cp "$HUSK_BINARY" "$ROOTLESS_DIR/husk"
  chmod -R a+rX "$ROOTLESS_DIR"
  mkdir -m 0700 "$ROOTLESS_DIR/home"
  chown "$ROOTLESS_USER:" "$ROOTLESS_DIR/home"
  read -r SUBUID_START SUBUID_COUNT < <(awk -F: -v u="$ROOTLESS_USER" -v id="$(id -u "$ROOTLESS_USER")" \
    '($1 == u || $1 == id) && $3 > 0 { print $2, $3; exit }' /etc/subuid)
  [[ -n $SUBUID_START ]] || skip "$ROOTLESS_USER has no subuid range"
}

# -- unshare -------------------------------------------------------------------

@test "unshare: the user is root inside, with the subuid range mapped" {
  rootless_setup
  run_rootless unshare id -u
  assert_output "0"
  run_rootless unshare cat /proc/self/uid_map
  assert_line --regexp "^ +0 +$(id -u "$ROOTLESS_USER") +1$"
  assert_line --regexp "^ +1 +$SUBUID_START +$SUBUID_COUNT$"
}

@test "unshare: store variables set, exit code passed on, default shell" {
  rootless_setup
  run_rootless 7 unshare sh -c 'echo "$CONTAINERS_GRAPHROOT"; exit 7'
  assert_output "$ROOTLESS_DIR/home/.local/share/husk"
  # No command: $SHELL (unset under env -i: /bin/sh) reads stdin.
  run --separate-stderr as_user sh -c "echo 'id -u' | $ROOTLESS_DIR/husk unshare"
  assert_output "0"
}

@test "unshare: the user can remove files its containers' sub-uids own" {
  rootless_setup
  local f=$ROOTLESS_DIR/home/subid
  mkdir "$f"
  touch "$f/x"
  chown -R "$SUBUID_START:$SUBUID_START" "$f"
  chown "$ROOTLESS_USER:" "$ROOTLESS_DIR/home"
  run_rootless unshare rm -rf "$f"
  [[ ! -e $f ]] || fail "$f is still there"
}

@test "unshare: bad input" {
  rootless_setup
  run_rootless 127 unshare /no/such/command
  assert_output ""
  [[ $stderr == "Error: "*"/no/such/command"* ]] || fail "unexpected error: $stderr"
  # As root there is no mapping to enter: Podman's message.
  run_husk 125 unshare id
  assert_husk_error "please use unshare with rootless"
}

# -- --timeout -------------------------------------------------------------------

@test "run --timeout: pid 1 is killed after SECONDS, exit 255, recorded" {
  local t0 t1
  t0=$(date +%s%3N)
  run_husk 255 run --name to --timeout 2 "$IMAGE" sleep 100
  t1=$(date +%s%3N)
  (((t1 - t0) >= 1900)) || fail "ended after $((t1 - t0)) ms, before the timeout"
  (((t1 - t0) < 8000)) || fail "ended after $((t1 - t0)) ms"
  assert_equal "$(ctr_status to)" exited
  assert_equal "$(ctr_json to .State.ExitCode)" 255
  assert_equal "$(ctr_json to .Config.Timeout)" 2
}

@test "run --timeout: a container that ends first keeps its own exit code" {
  run_ctr 3 --timeout 5 -- sh -c 'exit 3'
  run_husk run -d --name tod --timeout 1 "$IMAGE" sleep 100
  ctr_wait_status tod exited 10
  assert_equal "$(ctr_json tod .State.ExitCode)" 255
  # create + start: the limit counts from the start.
  run_husk create --name toc --timeout 1 "$IMAGE" sleep 100
  sleep 1.5
  run_husk 255 start -a toc
}

@test "run --timeout: bad input" {
  run_husk 125 run --rm --timeout abc "$IMAGE" true
  assert_husk_error 'invalid --timeout "abc"'
  run_husk 125 create --timeout -1 "$IMAGE" true
  assert_husk_error 'invalid --timeout "-1"'
  run_husk ps -a -q
  assert_output ""
}

# -- a subuid range too small --------------------------------------------------

@test "rootless: a file owned by an id past the subuid range is a clear error, nothing stored" {
  rootless_setup
  local id=$((SUBUID_COUNT + 1000))
  "$(_husk_python)" - "$ROOTLESS_DIR/far.tar" "$id" <<'EOF'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w") as t:
    d = tarfile.TarInfo("etc"); d.type = tarfile.DIRTYPE; d.mode = 0o755; t.addfile(d)
    data = b"far\n"
    f = tarfile.TarInfo("etc/far-away"); f.size = len(data); f.uid = int(sys.argv[2]); f.mode = 0o644
    t.addfile(f, io.BytesIO(data))
EOF
  chmod a+r "$ROOTLESS_DIR/far.tar"
  run_rootless 125 import "$ROOTLESS_DIR/far.tar" far
  assert_husk_error "file etc/far-away in the layer is owned by uid $id, which the user namespace cannot map (the subuid range of $ROOTLESS_USER has $SUBUID_COUNT ids): add a larger range to /etc/subuid"
  run_rootless images -q
  assert_output ""
  assert_equal "$(find "$ROOTLESS_DIR/home/.local/share/husk/layers" -mindepth 1 -maxdepth 1 2>/dev/null)" ""
}
