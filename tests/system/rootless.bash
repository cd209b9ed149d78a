# -*- bash -*-
# The set-up shared by the bats files that run husk as an unprivileged
# user with a subuid range, in cron's environment (env -i: no
# XDG_RUNTIME_DIR, no session, no TTY): setup_file/teardown_file/setup/
# teardown and the run_as / run_rootless helpers.  Load it after helpers;
# ROOTLESS_TAG names the file's temp dir (/tmp/husk-rootless-TAG.XXXXXX).
# See 250-rootless-run.bats for what the set-up makes and why.
ROOTLESS_USER=${HUSK_TEST_USER:-husktest}
NOSUB_USER=${HUSK_TEST_USER_NOSUB:-husknosub}

# The 11 default capabilities (DESIGN.md section 7), as 205-run-security.
DEFAULT_CAPS=00000000800405fb

setup_file() {
  load helpers
  # This bats cannot skip from setup_file: say why, and setup skips.
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

  # The user and its ranges (kept if they exist).
  bash "$HUSK_REPO/tests/unit/rootless-user.sh" "$ROOTLESS_USER" >&2 ||
    fail "tests/unit/rootless-user.sh $ROOTLESS_USER failed" || return
  ROOTLESS_UID=$(id -u "$ROOTLESS_USER")
  ROOTLESS_GID=$(id -g "$ROOTLESS_USER")
  read -r SUBUID_START SUBUID_COUNT < <(subid_range "$ROOTLESS_USER" /etc/subuid)
  read -r SUBGID_START SUBGID_COUNT < <(subid_range "$ROOTLESS_USER" /etc/subgid)
  [[ -n $SUBUID_START && -n $SUBGID_START ]] ||
    fail "no subuid/subgid range for $ROOTLESS_USER" || return

  ROOTLESS_DIR=$(mktemp -d "/tmp/husk-rootless-${ROOTLESS_TAG:-run}.XXXXXX")
  chmod 0755 "$ROOTLESS_DIR"
  cp "$HUSK_BINARY" "$ROOTLESS_DIR/husk"
  cp "$FIXTURE_DOCKER_ARCHIVE" "$ROOTLESS_DIR/docker-archive.tar"
  chmod -R a+rX "$ROOTLESS_DIR"
  ROOTLESS_HOME=$ROOTLESS_DIR/home
  mkdir -m 0700 "$ROOTLESS_HOME"
  chown "$ROOTLESS_USER:" "$ROOTLESS_HOME"
  ROOTLESS_STORE=$ROOTLESS_HOME/.local/share/husk

  # The second user, without a range.  useradd gives new users a range
  # (SUB_UID_COUNT in /etc/login.defs) unless told not to.
  NOSUB_SKIP=
  if ! id "$NOSUB_USER" >/dev/null 2>&1; then
    useradd -m -s /bin/sh -K SUB_UID_COUNT=0 -K SUB_GID_COUNT=0 "$NOSUB_USER" >&2 ||
      NOSUB_SKIP="could not create the user $NOSUB_USER"
  fi
  if [[ -z $NOSUB_SKIP ]] && grep -qE "^($NOSUB_USER|$(id -u "$NOSUB_USER")):" /etc/subuid 2>/dev/null; then
    NOSUB_SKIP="$NOSUB_USER has a subuid range here"
  fi
  NOSUB_HOME=$ROOTLESS_DIR/home-nosub
  if [[ -z $NOSUB_SKIP ]]; then
    NOSUB_UID=$(id -u "$NOSUB_USER")
    mkdir -m 0700 "$NOSUB_HOME"
    chown "$NOSUB_USER:" "$NOSUB_HOME"
  fi

  export ROOTLESS_UID ROOTLESS_GID ROOTLESS_HOME ROOTLESS_STORE ROOTLESS_DIR
  export SUBUID_START SUBUID_COUNT SUBGID_START SUBGID_COUNT
  export NOSUB_SKIP NOSUB_HOME NOSUB_UID

  # The fixture in the user's store, loaded as the user.
  as_user "$ROOTLESS_USER" "$ROOTLESS_HOME" "$ROOTLESS_DIR/husk" load -q \
    -i "$ROOTLESS_DIR/docker-archive.tar" </dev/null >&2 ||
    fail "husk load of the fixture as $ROOTLESS_USER failed"
}

teardown_file() {
  if [[ -n ${ROOTLESS_DIR:-} ]]; then
    rm -rf "$ROOTLESS_DIR"
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
  IMAGE=$FIXTURE_NAME
}

teardown() {
  [[ -n ${ROOTLESS_DIR:-} ]] || return 0
  rootless_cleanup "$ROOTLESS_USER" "$ROOTLESS_HOME"
  if [[ -z ${NOSUB_SKIP:-} && -d ${NOSUB_HOME:-} ]]; then
    rootless_cleanup "$NOSUB_USER" "$NOSUB_HOME"
  fi
  return 0
}

# subid_range USER FILE: "start count" of the user's first range, by name
# or uid, as newuidmap reads it.
subid_range() {
  local uid
  uid=$(id -u "$1")
  awk -F: -v u="$1" -v id="$uid" \
    '($1 == u || $1 == id) && $3 > 0 { print $2, $3; exit }' "$2"
}

# as_user USER HOME CMD...: CMD as USER with cron's environment.
as_user() {
  local user=$1 home=$2
  shift 2
  (cd / && timeout -k 5 "$HUSK_TEST_TIMEOUT" runuser -u "$user" -- \
    env -i HOME="$home" PATH=/usr/bin:/bin "$@")
}

# run_as USER HOME [EXPECTED_STATUS] ARGS...: husk ARGS as USER, like
# run_husk otherwise.
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

# run_rootless [EXPECTED_STATUS] ARGS...: husk ARGS as the test user.
run_rootless() {
  run_as "$ROOTLESS_USER" "$ROOTLESS_HOME" "$@"
}

# rootless_husk ARGS...: husk ARGS as the test user, output as is.
rootless_husk() {
  as_user "$ROOTLESS_USER" "$ROOTLESS_HOME" "$ROOTLESS_DIR/husk" "$@" </dev/null
}

# rootless_cleanup USER HOME: remove every container of USER's store; kill
# what `rm` left behind (the monitor if it still is our husk, pid 1 if it
# still is pid 1 of a pid namespace).
rootless_cleanup() {
  local user=$1 home=$2 st pid
  as_user "$user" "$home" "$ROOTLESS_DIR/husk" rm -a -f </dev/null >/dev/null 2>&1 || true
  for st in "$home"/.local/share/husk/containers/*/state.json; do
    [[ -f $st ]] || continue
    pid=$(jq -r '.MonitorPid // 0' "$st" 2>/dev/null) || pid=0
    if [[ $pid -gt 0 && /proc/$pid/exe -ef $ROOTLESS_DIR/husk ]]; then
      kill -9 "$pid" 2>/dev/null || true
    fi
    pid=$(jq -r '.Pid // 0' "$st" 2>/dev/null) || pid=0
    if [[ $pid -gt 0 ]] && grep -Eq "^NSpid:[[:space:]]+[0-9]+[[:space:]]+1\$" "/proc/$pid/status" 2>/dev/null; then
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
}
