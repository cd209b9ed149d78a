# -*- bash -*-
# Helpers for husk's system tests, loaded by every NNN-topic.bats with
# `load helpers`.
#
# Each test file gets its own store (HUSK_TEST_ROOT under BATS_FILE_TMPDIR)
# so files never see each other's images; a test that needs an empty store
# calls fresh_store, which points husk at a store under BATS_TEST_TMPDIR.
#
# Environment:
#   HUSK_BINARY            the husk to test (default: $repo/build/husk)
#   HUSK_TEST_STORAGE_DRIVER  passed as --storage-driver when set
#   HUSK_TEST_TIMEOUT      seconds before one husk command is killed (120)
#   HUSK_FIXTURES          where tests/fixtures/mkimage.sh writes (default
#                          tests/fixtures/out)

bats_require_minimum_version 1.5.0

HUSK_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HUSK_BINARY=${HUSK_BINARY:-$HUSK_REPO/build/husk}
HUSK_FIXTURES=${HUSK_FIXTURES:-$HUSK_REPO/tests/fixtures/out}
HUSK_TEST_TIMEOUT=${HUSK_TEST_TIMEOUT:-120}

# The per-file store.  BATS_FILE_TMPDIR exists from setup_file on, and is
# the same directory for every test of the file.
HUSK_TEST_ROOT=${BATS_FILE_TMPDIR:?bats >= 1.4 is needed}/store
HUSK_ROOT=$HUSK_TEST_ROOT/root
HUSK_RUNROOT=$HUSK_TEST_ROOT/run
HUSK_TMPDIR=$HUSK_TEST_ROOT/tmp
mkdir -p "$HUSK_TMPDIR"

# A full 64-hex id, and the 12-hex short form.
ID64_RE='^[0-9a-f]{64}$'
ID12_RE='^[0-9a-f]{12}$'

# The husk under test, on this file's (or this test's) store.  Commands are
# killed after HUSK_TEST_TIMEOUT seconds so a hang fails one test only.
husk() {
  timeout -k 5 "$HUSK_TEST_TIMEOUT" "$HUSK_BINARY" \
    --root "$HUSK_ROOT" --runroot "$HUSK_RUNROOT" \
    ${HUSK_TEST_STORAGE_DRIVER:+--storage-driver "$HUSK_TEST_STORAGE_DRIVER"} \
    "$@"
}

# Point husk at an empty store private to the current test.
fresh_store() {
  HUSK_ROOT=$BATS_TEST_TMPDIR/store/root
  HUSK_RUNROOT=$BATS_TEST_TMPDIR/store/run
  mkdir -p "$BATS_TEST_TMPDIR/store"
}

# run_husk [EXPECTED_STATUS] [--stdin FILE] ARGS...
#
# Like podman's run_podman: runs husk ARGS with stdin from /dev/null (or
# FILE), stdout in $output and $lines, stderr in $stderr and $stderr_lines,
# and fails the test, showing both, unless the exit status is
# EXPECTED_STATUS (default 0; '?' accepts any).
run_husk() {
  local expected=0
  case ${1:-} in
  '?' | [0-9] | [0-9][0-9] | [0-9][0-9][0-9])
    expected=$1
    shift
    ;;
  esac
  local stdin=/dev/null
  if [[ ${1:-} == --stdin ]]; then
    stdin=$2
    shift 2
  fi

  run --separate-stderr husk "$@" <"$stdin"
  _husk_show_run "$*"

  if [[ $expected != '?' && $status -ne $expected ]]; then
    echo "#/vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv" >&2
    echo "#| FAIL: exit code is $status; expected $expected" >&2
    echo "#|       husk $*" >&2
    echo "#\\^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^" >&2
    false
  fi
}

# Log a command and its result to stderr: bats shows it only when the test
# fails, which is exactly when it is wanted.
_husk_show_run() {
  {
    echo "\$ husk $1"
    [[ -n $output ]] && printf '%s\n' "$output"
    [[ -n ${stderr:-} ]] && printf '[stderr] %s\n' "${stderr_lines[@]}"
    echo "[exit $status]"
  } >&2
}

# Full ids: the brief asks for bare 64-hex ids, Podman prints
# "sha256:<64 hex>" for `images --no-trunc` (-q, the table and {{.ID}}).
# Accept both: drop the prefix from $output and $lines after such a run.
strip_sha256() {
  output=$(sed -E 's/(^|[[:space:]])sha256:([0-9a-f]{64})/\1\2/g' <<<"$output")
  if [[ -z $output ]]; then
    lines=()
  else
    mapfile -t lines <<<"$output"
  fi
}

# The husk failure every bad input must produce: exit 125, nothing else
# than an "Error: ..." message on stderr, and (optionally) the message
# containing SUBSTRING.  Call right after run_husk '?' or run_husk 125.
assert_husk_error() {
  local substring=${1:-}
  if [[ $status -ne 125 ]]; then
    fail "exit status is $status, expected 125"
  fi
  if [[ ${stderr:-} != Error:\ * ]]; then
    fail "stderr does not start with 'Error: ': '${stderr:-}'"
  fi
  if [[ -n $substring && ${stderr,,} != *"${substring,,}"* ]]; then
    fail "stderr '${stderr}' does not contain '$substring'"
  fi
}

fail() {
  {
    echo "#/vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"
    echo "#| FAIL: $*"
    echo "#\\^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^"
  } >&2
  return 1
}

# assert_output [--partial|--regexp] EXPECTED
# Compares $output (whole stdout of the last run) with EXPECTED.
assert_output() {
  local mode=exact
  case ${1:-} in
  --partial | -p)
    mode=partial
    shift
    ;;
  --regexp | -e)
    mode=regexp
    shift
    ;;
  esac
  local expected=$1
  case $mode in
  exact) [[ $output == "$expected" ]] && return 0 ;;
  partial) [[ $output == *"$expected"* ]] && return 0 ;;
  regexp) [[ $output =~ $expected ]] && return 0 ;;
  esac
  fail "output ($mode) mismatch
#| expected: '$expected'
#| actual:   '$output'"
}

# refute_output [--partial|--regexp] UNEXPECTED
refute_output() {
  local mode=exact
  case ${1:-} in
  --partial | -p)
    mode=partial
    shift
    ;;
  --regexp | -e)
    mode=regexp
    shift
    ;;
  esac
  local unexpected=$1 hit=0
  case $mode in
  exact) [[ $output == "$unexpected" ]] && hit=1 ;;
  partial) [[ $output == *"$unexpected"* ]] && hit=1 ;;
  regexp) [[ $output =~ $unexpected ]] && hit=1 ;;
  esac
  if [[ $hit -eq 1 ]]; then
    fail "output should not match ($mode) '$unexpected'
#| actual: '$output'"
  fi
}

# assert_line [--index N] [--partial|--regexp] EXPECTED
# Without --index: some line of $lines matches.  With it: line N does.
assert_line() {
  local index='' mode=exact
  while [[ $# -gt 1 ]]; do
    case $1 in
    --index | -n)
      index=$2
      shift 2
      ;;
    --partial | -p)
      mode=partial
      shift
      ;;
    --regexp | -e)
      mode=regexp
      shift
      ;;
    *) break ;;
    esac
  done
  local expected=$1 line
  local -a candidates
  if [[ -n $index ]]; then
    candidates=("${lines[$index]-}")
  else
    candidates=("${lines[@]}")
  fi
  for line in "${candidates[@]}"; do
    case $mode in
    exact) [[ $line == "$expected" ]] && return 0 ;;
    partial) [[ $line == *"$expected"* ]] && return 0 ;;
    regexp) [[ $line =~ $expected ]] && return 0 ;;
    esac
  done
  fail "no line${index:+ $index} matches ($mode) '$expected'
#| output: '$output'"
}

# refute_line [--partial|--regexp] UNEXPECTED: no line of $lines matches.
refute_line() {
  local mode=exact
  case ${1:-} in
  --partial | -p)
    mode=partial
    shift
    ;;
  --regexp | -e)
    mode=regexp
    shift
    ;;
  esac
  local unexpected=$1 line
  for line in "${lines[@]}"; do
    case $mode in
    exact) [[ $line == "$unexpected" ]] || continue ;;
    partial) [[ $line == *"$unexpected"* ]] || continue ;;
    regexp) [[ $line =~ $unexpected ]] || continue ;;
    esac
    fail "line '$line' matches ($mode) '$unexpected'"
    return 1
  done
}

# assert_equal ACTUAL EXPECTED [WHAT]
assert_equal() {
  if [[ $1 != "$2" ]]; then
    fail "${3:-value} mismatch
#| expected: '$2'
#| actual:   '$1'"
  fi
}

# assert_line_count N: $output has exactly N lines.
assert_line_count() {
  assert_equal "${#lines[@]}" "$1" "number of output lines"
}

# A listing of the store, to compare before and after a command that must
# not change it: every path (the scratch dir <root>/tmp excepted) with its
# type, then the image index.  store.lock is created by the first command,
# so take the "before" snapshot after at least one husk command
# (store_init).
store_snapshot() {
  local root=${1:-$HUSK_ROOT}
  (
    cd "$root" || exit 1
    find . -path ./tmp -prune -o -printf '%p %y\n' | LC_ALL=C sort
    echo "--- images.json"
    cat images/images.json 2>/dev/null || echo "(none)"
  )
}

# assert_store_unchanged SNAPSHOT: the store is as store_snapshot saw it.
assert_store_unchanged() {
  local now
  now=$(store_snapshot)
  if [[ $now != "$1" ]]; then
    fail "the store changed:
$(diff <(echo "$1") <(echo "$now") | sed 's/^/#| /')"
  fi
}

# Make sure the store exists (husk creates it on first use).
store_init() {
  husk images >/dev/null 2>&1 || true
}

# Build the fixture images once (cached) and export their facts:
# FIXTURE_NAME, FIXTURE_ID, FIXTURE_DIFF_IDS, ...  and the paths
# FIXTURE_ROOTFS, FIXTURE_OCI, FIXTURE_DOCKER_ARCHIVE, FIXTURE_OCI_ARCHIVE.
fixtures() {
  "$HUSK_REPO/tests/fixtures/mkimage.sh" "$HUSK_FIXTURES" >&2 ||
    fail "tests/fixtures/mkimage.sh failed"
  # shellcheck disable=SC1091
  source "$HUSK_FIXTURES/image.env"
  FIXTURE_ROOTFS=$HUSK_FIXTURES/rootfs.tar
  FIXTURE_OCI=$HUSK_FIXTURES/oci
  FIXTURE_DOCKER_ARCHIVE=$HUSK_FIXTURES/docker-archive.tar
  FIXTURE_OCI_ARCHIVE=$HUSK_FIXTURES/oci-archive.tar
}

# fixture_variant DIR [CREATED] [LABEL_KEY=VALUE]
# Copy the fixture's OCI layout to DIR with a different config (created
# time and an extra label), so it has a different image id but the same
# layers.  Prints the new image id.  Needs `fixtures` first.
fixture_variant() {
  local dir=$1 created=${2:-2024-02-02T00:00:00Z} label=${3:-variant=1}
  rm -rf "$dir"
  cp -r "$FIXTURE_OCI" "$dir"
  local blobs=$dir/blobs/sha256
  local mdigest
  mdigest=$(jq -r '.manifests[0].digest' "$dir/index.json")
  local manifest=$blobs/${mdigest#sha256:}
  local cdigest
  cdigest=$(jq -r '.config.digest' "$manifest")
  local key=${label%%=*} value=${label#*=}
  jq -c --arg c "$created" --arg k "$key" --arg v "$value" \
    '.created = $c | .config.Labels[$k] = $v' \
    "$blobs/${cdigest#sha256:}" >"$dir/config.new"
  local chex csize
  chex=$(sha256sum "$dir/config.new" | cut -d' ' -f1)
  csize=$(stat -c %s "$dir/config.new")
  mv "$dir/config.new" "$blobs/$chex"
  jq -c --arg d "sha256:$chex" --argjson s "$csize" \
    '.config.digest = $d | .config.size = $s' "$manifest" >"$dir/manifest.new"
  local mhex msize
  mhex=$(sha256sum "$dir/manifest.new" | cut -d' ' -f1)
  msize=$(stat -c %s "$dir/manifest.new")
  mv "$dir/manifest.new" "$blobs/$mhex"
  jq -c --arg d "sha256:$mhex" --argjson s "$msize" \
    '.manifests[0].digest = $d | .manifests[0].size = $s' \
    "$dir/index.json" >"$dir/index.new"
  mv "$dir/index.new" "$dir/index.json"
  echo "$chex"
}

# skopeo with no signature policy needed (tests never verify signatures).
skopeo_() {
  skopeo --insecure-policy "$@"
}

# A free TCP port on 127.0.0.1 (racy by nature; start_registry retries).
random_port() {
  local py=python3
  [[ -x /usr/bin/python3 ]] && py=/usr/bin/python3
  "$py" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# start_registry [--tls] [--auth]
#
# Start Debian's docker-registry on 127.0.0.1 on a random port, storing
# into a temp dir, for pull/push tests.  Call from setup_file and call
# stop_registry from teardown_file.  Exports:
#   REGISTRY             host:port
#   REGISTRY_DIR         its config, storage, log
#   REGISTRY_PID
#   REGISTRY_USER/PASS   with --auth (htpasswd, basic auth)
#   REGISTRY_CERT        with --tls: the self-signed certificate (PEM),
#                        valid for 127.0.0.1 and localhost; also installed
#                        as $REGISTRY_DIR/certs.d/$REGISTRY/ca.crt
start_registry() {
  local tls=0 auth=0
  while [[ $# -gt 0 ]]; do
    case $1 in
    --tls) tls=1 ;;
    --auth) auth=1 ;;
    *) fail "start_registry: unknown option $1" || return ;;
    esac
    shift
  done
  command -v docker-registry >/dev/null ||
    skip "docker-registry is not installed"

  REGISTRY_DIR=$(mktemp -d "${BATS_FILE_TMPDIR:-/tmp}/registry.XXXXXX")
  mkdir -p "$REGISTRY_DIR/data"
  local scheme=http curl_opts=()

  local tls_conf='' auth_conf=''
  if [[ $tls -eq 1 ]]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
      -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
      -keyout "$REGISTRY_DIR/key.pem" -out "$REGISTRY_DIR/cert.pem" \
      2>/dev/null || fail "openssl could not make a certificate" || return
    REGISTRY_CERT=$REGISTRY_DIR/cert.pem
    tls_conf="  tls:
    certificate: $REGISTRY_DIR/cert.pem
    key: $REGISTRY_DIR/key.pem"
    scheme=https
    curl_opts+=(--cacert "$REGISTRY_CERT")
    export REGISTRY_CERT
  fi
  if [[ $auth -eq 1 ]]; then
    REGISTRY_USER=huskuser
    REGISTRY_PASS=husk-pass-$RANDOM
    local py=python3 hash
    [[ -x /usr/bin/python3 ]] && py=/usr/bin/python3
    hash=$("$py" -W ignore -c 'import crypt, sys
print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))' \
      "$REGISTRY_PASS")
    echo "$REGISTRY_USER:$hash" >"$REGISTRY_DIR/htpasswd"
    auth_conf="auth:
  htpasswd:
    realm: husk-test
    path: $REGISTRY_DIR/htpasswd"
    curl_opts+=(-u "$REGISTRY_USER:$REGISTRY_PASS")
    export REGISTRY_USER REGISTRY_PASS
  fi

  local attempt port
  for attempt in 1 2 3 4 5; do
    port=$(random_port)
    REGISTRY=127.0.0.1:$port
    cat >"$REGISTRY_DIR/config.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $REGISTRY_DIR/data
  delete:
    enabled: true
http:
  addr: $REGISTRY
  secret: husk-test-secret
$tls_conf
$auth_conf
EOF
    docker-registry serve "$REGISTRY_DIR/config.yml" \
      >"$REGISTRY_DIR/log" 2>&1 3>&- &
    REGISTRY_PID=$!
    local i
    for i in $(seq 1 50); do
      if curl -sf "${curl_opts[@]}" "$scheme://$REGISTRY/v2/" >/dev/null; then
        if [[ $tls -eq 1 ]]; then
          mkdir -p "$REGISTRY_DIR/certs.d/$REGISTRY"
          cp "$REGISTRY_CERT" "$REGISTRY_DIR/certs.d/$REGISTRY/ca.crt"
        fi
        export REGISTRY REGISTRY_DIR REGISTRY_PID
        return 0
      fi
      kill -0 "$REGISTRY_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill "$REGISTRY_PID" 2>/dev/null
    wait "$REGISTRY_PID" 2>/dev/null
  done
  cat "$REGISTRY_DIR/log" >&2
  fail "docker-registry did not start"
}

stop_registry() {
  if [[ -n ${REGISTRY_PID:-} ]]; then
    kill "$REGISTRY_PID" 2>/dev/null
    wait "$REGISTRY_PID" 2>/dev/null
    REGISTRY_PID=
  fi
}
