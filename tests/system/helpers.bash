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
# (store_init).  Rootless, layer contents owned by subordinate ids may be
# unreadable (a 0700 directory of uid 1000 in the image): find lists such
# a directory but not what is in it, quietly, both before and after.
store_snapshot() {
  local root=${1:-$HUSK_ROOT}
  (
    cd "$root" || exit 1
    find . -path ./tmp -prune -o -printf '%p %y\n' 2>/dev/null | LC_ALL=C sort
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
    kill "$REGISTRY_PID" 2>/dev/null || true
    # A killed registry exits 143: not a failure of the caller.
    wait "$REGISTRY_PID" 2>/dev/null || true
    REGISTRY_PID=
  fi
}

# -- registry test helpers (100-140 registry tests) -------------------------

# The python3 that has the standard library the test servers need.
_husk_python() {
  if [[ -x /usr/bin/python3 ]]; then
    echo /usr/bin/python3
  else
    command -v python3
  fi
}

# _wait_port_file FILE PID: wait (5 s) for a server started in the
# background to write its port to FILE; prints the port.
_wait_port_file() {
  local file=$1 pid=$2 i
  for i in $(seq 1 100); do
    if [[ -s $file ]]; then
      cat "$file"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  return 1
}

# registry_seed SOURCE NAME [SKOPEO_COPY_OPTIONS...]
# Copy SOURCE (a skopeo transport:reference) to $REGISTRY/NAME with skopeo,
# using REGISTRY_USER/PASS and REGISTRY_CERT when the registry has them.
registry_seed() {
  local src=$1 name=$2
  shift 2
  local opts=()
  if [[ -n ${REGISTRY_CERT:-} ]]; then
    opts+=(--dest-cert-dir "$REGISTRY_DIR/certs.d/$REGISTRY")
  else
    opts+=(--dest-tls-verify=false)
  fi
  [[ -n ${REGISTRY_USER:-} ]] && opts+=(--dest-creds "$REGISTRY_USER:$REGISTRY_PASS")
  skopeo_ copy -q "${opts[@]}" "$@" "$src" "docker://$REGISTRY/$name" >&2 ||
    fail "skopeo could not seed $REGISTRY/$name from $src"
}

# registry_accesslog: restart the registry started by start_registry (same
# address, same storage) with its access log on, so tests can see which
# requests a client made: one Apache-style line per request in
# $REGISTRY_DIR/log ("GET /v2/... HTTP/1.1" 200 ...).
registry_accesslog() {
  local scheme=http curl_opts=()
  [[ -n ${REGISTRY_CERT:-} ]] && scheme=https curl_opts+=(--cacert "$REGISTRY_CERT")
  [[ -n ${REGISTRY_USER:-} ]] && curl_opts+=(-u "$REGISTRY_USER:$REGISTRY_PASS")
  stop_registry || true
  sed -i -e 's/^    disabled: true$/    disabled: false/' "$REGISTRY_DIR/config.yml"
  local attempt i
  for attempt in 1 2 3; do
    docker-registry serve "$REGISTRY_DIR/config.yml" \
      >>"$REGISTRY_DIR/log" 2>&1 3>&- &
    REGISTRY_PID=$!
    for i in $(seq 1 50); do
      if curl -sf "${curl_opts[@]}" "$scheme://$REGISTRY/v2/" >/dev/null; then
        export REGISTRY_PID
        return 0
      fi
      kill -0 "$REGISTRY_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill "$REGISTRY_PID" 2>/dev/null || true
    wait "$REGISTRY_PID" 2>/dev/null || true
    sleep 0.5
  done
  fail "docker-registry did not restart with its access log"
}

# registry_requests [REGEX]: the access-log request lines ("METHOD PATH")
# logged since the last registry_log_mark, optionally only those matching
# REGEX.
registry_log_mark() {
  REGISTRY_LOG_MARK=$(wc -l <"$REGISTRY_DIR/log")
}
registry_requests() {
  tail -n +$((${REGISTRY_LOG_MARK:-0} + 1)) "$REGISTRY_DIR/log" |
    sed -nE 's/^.*\] "([A-Z]+) ([^ ]+) HTTP[^"]*" ([0-9]+) .*$/\1 \2 \3/p' |
    grep -E -- "${1:-.}" || true
}

# registry_push_layout DIR REF: push the first image of the OCI layout DIR
# to $REGISTRY/REF (plain HTTP, no auth) with curl, byte for byte: no
# client-side cache can swap a blob for a "known equivalent" (skopeo's
# blob-info cache does that, which defeats seeding uncompressed layers).
registry_push_layout() {
  local dir=$1 ref=$2 name tag
  name=${ref%:*} tag=${ref##*:}
  local mdigest manifest mtype d
  mdigest=$(jq -r '.manifests[0].digest' "$dir/index.json")
  manifest=$dir/blobs/sha256/${mdigest#sha256:}
  mtype=$(jq -r '.mediaType // "application/vnd.oci.image.manifest.v1+json"' "$manifest")
  for d in $(jq -r '.config.digest, .layers[].digest' "$manifest"); do
    local loc
    loc=$(curl -sf -X POST -D - -o /dev/null "http://$REGISTRY/v2/$name/blobs/uploads/" |
      tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
    [[ -n $loc ]] || fail "registry_push_layout: no upload location" || return
    [[ $loc == http* ]] || loc=http://$REGISTRY$loc
    local sep='?'
    [[ $loc == *\?* ]] && sep='&'
    curl -sf -X PUT -H 'Content-Type: application/octet-stream' \
      --data-binary "@$dir/blobs/sha256/${d#sha256:}" "$loc${sep}digest=$d" >/dev/null ||
      fail "registry_push_layout: upload of $d failed" || return
  done
  curl -sf -X PUT -H "Content-Type: $mtype" --data-binary "@$manifest" \
    "http://$REGISTRY/v2/$name/manifests/$tag" >/dev/null ||
    fail "registry_push_layout: manifest upload failed"
}

# layout_recompress SRC DST FORMAT: copy the OCI layout SRC to DST with
# every layer recompressed as FORMAT (gzip, zstd or none); the config (so
# the image id and diffIDs) does not change.  Prints the new manifest
# digest.
layout_recompress() {
  local src=$1 dst=$2 format=$3
  rm -rf "$dst"
  mkdir -p "$dst/blobs/sha256"
  cp "$src/oci-layout" "$dst/"
  local mdigest manifest
  mdigest=$(jq -r '.manifests[0].digest' "$src/index.json")
  manifest=$src/blobs/sha256/${mdigest#sha256:}
  local cdigest
  cdigest=$(jq -r '.config.digest' "$manifest")
  cp "$src/blobs/sha256/${cdigest#sha256:}" "$dst/blobs/sha256/"
  local layers=() d mt
  local suffix='' tool=(cat)
  case $format in
  gzip) suffix=+gzip tool=(gzip -n -c) ;;
  zstd) suffix=+zstd tool=(zstd -q -c) ;;
  none) ;;
  *) fail "layout_recompress: unknown format $format" || return ;;
  esac
  for d in $(jq -r '.layers[].digest' "$manifest"); do
    local tmp=$dst/layer.tmp
    gzip -dc "$src/blobs/sha256/${d#sha256:}" | "${tool[@]}" >"$tmp"
    local h
    h=$(sha256sum "$tmp" | cut -d' ' -f1)
    mv "$tmp" "$dst/blobs/sha256/$h"
    layers+=("$(jq -n -c --arg d "sha256:$h" --argjson s "$(stat -c %s "$dst/blobs/sha256/$h")" \
      --arg mt "application/vnd.oci.image.layer.v1.tar$suffix" \
      '{mediaType: $mt, digest: $d, size: $s}')")
  done
  jq -c --argjson layers "$(printf '%s\n' "${layers[@]}" | jq -s -c .)" \
    '.mediaType = "application/vnd.oci.image.manifest.v1+json" | .layers = $layers' \
    "$manifest" >"$dst/manifest.json"
  local mh ms
  mh=$(sha256sum "$dst/manifest.json" | cut -d' ' -f1)
  ms=$(stat -c %s "$dst/manifest.json")
  mv "$dst/manifest.json" "$dst/blobs/sha256/$mh"
  jq -n -c --arg d "sha256:$mh" --argjson s "$ms" \
    '{schemaVersion: 2, manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest: $d, size: $s, annotations: {"org.opencontainers.image.ref.name": "latest"}}]}' \
    >"$dst/index.json"
  echo "sha256:$mh"
}

# fixture_multiarch DIR: an OCI layout whose index.json (tag "latest")
# is an image index of two manifests, linux/amd64 (the fixture itself) and
# linux/arm64/v8 (the fixture's layers under a config saying arm64).  Sets
# MULTI_AMD64_ID, MULTI_ARM64_ID, MULTI_AMD64_DIGEST, MULTI_ARM64_DIGEST
# and MULTI_INDEX_DIGEST.  Needs `fixtures` first.
fixture_multiarch() {
  local dir=$1
  rm -rf "$dir"
  cp -r "$FIXTURE_OCI" "$dir"
  local blobs=$dir/blobs/sha256
  local mdigest manifest cdigest
  mdigest=$(jq -r '.manifests[0].digest' "$dir/index.json")
  manifest=$blobs/${mdigest#sha256:}
  cdigest=$(jq -r '.config.digest' "$manifest")
  jq -c '.architecture = "arm64" | .variant = "v8"' "$blobs/${cdigest#sha256:}" >"$dir/config.new"
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
  local asize
  asize=$(stat -c %s "$manifest")
  jq -n -c --arg a "$mdigest" --argjson asz "$asize" --arg b "sha256:$mhex" --argjson bs "$msize" \
    '{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [
        {mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $a, size: $asz,
         platform: {architecture: "amd64", os: "linux"}},
        {mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $b, size: $bs,
         platform: {architecture: "arm64", os: "linux", variant: "v8"}}]}' >"$dir/index.new"
  local ihex isize
  ihex=$(sha256sum "$dir/index.new" | cut -d' ' -f1)
  isize=$(stat -c %s "$dir/index.new")
  mv "$dir/index.new" "$blobs/$ihex"
  jq -n -c --arg d "sha256:$ihex" --argjson s "$isize" \
    '{schemaVersion: 2, manifests: [{mediaType: "application/vnd.oci.image.index.v1+json",
      digest: $d, size: $s, annotations: {"org.opencontainers.image.ref.name": "latest"}}]}' \
    >"$dir/index.json"
  MULTI_AMD64_ID=$FIXTURE_ID
  MULTI_ARM64_ID=$chex
  MULTI_AMD64_DIGEST=$mdigest
  MULTI_ARM64_DIGEST=sha256:$mhex
  MULTI_INDEX_DIGEST=sha256:$ihex
}

# start_fake_registry [--auth basic|token]: tests/fake-registry.py on a
# random port, serving the fixture under its faulty repositories (read the
# script); with --auth every request needs basic auth or a bearer token
# from the server's own /token realm.  Exports FAKE_REGISTRY
# (127.0.0.1:port), FAKE_REGISTRY_LOG (one JSON object per request),
# FAKE_REGISTRY_PID, FAKE_USER/FAKE_PASS.  Needs `fixtures`.  A file that
# wants several instances copies these after each start.
start_fake_registry() {
  local auth=none
  if [[ ${1:-} == --auth ]]; then
    auth=$2
  fi
  local dir
  dir=$(mktemp -d "${BATS_FILE_TMPDIR:-/tmp}/fake-registry.XXXXXX")
  FAKE_USER=fakeuser FAKE_PASS=fakepass-$RANDOM
  FAKE_REGISTRY_LOG=$dir/requests.log
  "$(_husk_python)" "$HUSK_REPO/tests/fake-registry.py" --oci "$FIXTURE_OCI" \
    --port-file "$dir/port" --log "$FAKE_REGISTRY_LOG" --bomb-mib "${FAKE_BOMB_MIB:-64}" \
    --auth "$auth" --user "$FAKE_USER" --password "$FAKE_PASS" >"$dir/stderr" 2>&1 3>&- &
  FAKE_REGISTRY_PID=$!
  local port
  port=$(_wait_port_file "$dir/port" "$FAKE_REGISTRY_PID") || {
    cat "$dir/stderr" >&2
    fail "fake-registry.py did not start"
    return
  }
  FAKE_REGISTRY=127.0.0.1:$port
  export FAKE_REGISTRY FAKE_REGISTRY_LOG FAKE_REGISTRY_PID FAKE_USER FAKE_PASS
}

# stop_fake_registry [PID...]: stop the fake registry (or these ones).
stop_fake_registry() {
  local pid
  for pid in "${@:-${FAKE_REGISTRY_PID:-}}"; do
    [[ -n $pid ]] || continue
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  [[ $# -gt 0 ]] || FAKE_REGISTRY_PID=
  return 0
}

# fake_requests JQ_FILTER [LOG]: the fake registry's log entries selected
# by JQ_FILTER (a jq select() condition), compact, one a line.
fake_requests() {
  jq -c "select($1)" "${2:-$FAKE_REGISTRY_LOG}"
}

# start_token_registry: a second docker-registry (plain HTTP) using bearer
# token auth, with tests/token-server.py as its realm.  Exports
# TOKEN_REGISTRY (host:port), TOKEN_REGISTRY_DIR, TOKEN_USER/TOKEN_PASS,
# TOKEN_SERVER_LOG, and the PIDs TOKEN_REGISTRY_PID, TOKEN_SERVER_PID.
start_token_registry() {
  command -v docker-registry >/dev/null ||
    skip "docker-registry is not installed"
  TOKEN_REGISTRY_DIR=$(mktemp -d "${BATS_FILE_TMPDIR:-/tmp}/token-registry.XXXXXX")
  local d=$TOKEN_REGISTRY_DIR
  mkdir -p "$d/data"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=husk-token-issuer \
    -keyout "$d/token-key.pem" -out "$d/token-cert.pem" 2>/dev/null ||
    fail "openssl could not make the token signing key" || return
  TOKEN_USER=tokenuser TOKEN_PASS=token-pass-$RANDOM
  TOKEN_SERVER_LOG=$d/token.log
  "$(_husk_python)" "$HUSK_REPO/tests/token-server.py" \
    --key "$d/token-key.pem" --cert "$d/token-cert.pem" \
    --issuer husk-token-issuer --service husk-registry \
    --user "$TOKEN_USER" --password "$TOKEN_PASS" \
    --port-file "$d/token-port" --log "$TOKEN_SERVER_LOG" >"$d/token-stderr" 2>&1 3>&- &
  TOKEN_SERVER_PID=$!
  local tport
  tport=$(_wait_port_file "$d/token-port" "$TOKEN_SERVER_PID") || {
    cat "$d/token-stderr" >&2
    fail "token-server.py did not start"
    return
  }
  local attempt port i
  for attempt in 1 2 3 4 5; do
    port=$(random_port)
    TOKEN_REGISTRY=127.0.0.1:$port
    cat >"$d/config.yml" <<EOF2
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $d/data
  delete:
    enabled: true
http:
  addr: $TOKEN_REGISTRY
  secret: husk-test-secret
auth:
  token:
    realm: http://127.0.0.1:$tport/token
    service: husk-registry
    issuer: husk-token-issuer
    rootcertbundle: $d/token-cert.pem
EOF2
    docker-registry serve "$d/config.yml" >"$d/log" 2>&1 3>&- &
    TOKEN_REGISTRY_PID=$!
    for i in $(seq 1 50); do
      # Token auth: /v2/ answers 401 with a Bearer challenge once up.
      if curl -s -o /dev/null -w '%{http_code}' "http://$TOKEN_REGISTRY/v2/" | grep -q 401; then
        export TOKEN_REGISTRY TOKEN_REGISTRY_DIR TOKEN_USER TOKEN_PASS TOKEN_SERVER_LOG
        export TOKEN_REGISTRY_PID TOKEN_SERVER_PID
        return 0
      fi
      kill -0 "$TOKEN_REGISTRY_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill "$TOKEN_REGISTRY_PID" 2>/dev/null || true
    wait "$TOKEN_REGISTRY_PID" 2>/dev/null || true
  done
  cat "$d/log" >&2
  fail "docker-registry with token auth did not start"
}

stop_token_registry() {
  local pid
  for pid in ${TOKEN_REGISTRY_PID:-} ${TOKEN_SERVER_PID:-}; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  TOKEN_REGISTRY_PID= TOKEN_SERVER_PID=
  return 0
}

# registries_conf FILE: write stdin to FILE and point
# CONTAINERS_REGISTRIES_CONF at it (for husk, podman and skopeo alike).
registries_conf() {
  cat >"$1"
  export CONTAINERS_REGISTRIES_CONF=$1
}

# assert_registry_error [SUBSTRING]: like assert_husk_error, for commands
# that print progress before failing (pull and push print "Trying to pull
# ..." first, as podman does): exit 125, a stderr line starts with
# "Error: ", and stderr holds SUBSTRING (case-insensitive) if given.
assert_registry_error() {
  local substring=${1:-}
  if [[ $status -ne 125 ]]; then
    fail "exit status is $status, expected 125"
  fi
  local line found=0
  for line in "${stderr_lines[@]}"; do
    [[ $line == Error:\ * ]] && found=1
  done
  if [[ $found -eq 0 ]]; then
    fail "no stderr line starts with 'Error: ': '${stderr:-}'"
  fi
  if [[ -n $substring && ${stderr,,} != *"${substring,,}"* ]]; then
    fail "stderr '${stderr}' does not contain '$substring'"
  fi
}

# -- container helpers (200-240: run, create, start) -----------------------

# ctr_setup_file: load the fixture image into this file's store (call from
# setup_file, after `load helpers`).  ctr_setup: export IMAGE, its name
# (call from setup).
ctr_setup_file() {
  fixtures
  husk load -q -i "$FIXTURE_DOCKER_ARCHIVE" >&2 ||
    fail "husk load of the fixture failed"
}

ctr_setup() {
  fixtures
  IMAGE=$FIXTURE_NAME
}

# run_ctr [STATUS] [RUN_OPTIONS...] [-- COMMAND...]: run_husk STATUS run
# --rm RUN_OPTIONS $IMAGE COMMAND.
run_ctr() {
  local expected=0
  case ${1:-} in
  '?' | [0-9] | [0-9][0-9] | [0-9][0-9][0-9])
    expected=$1
    shift
    ;;
  esac
  local opts=()
  while [[ $# -gt 0 && $1 != -- ]]; do
    opts+=("$1")
    shift
  done
  [[ ${1:-} == -- ]] && shift
  run_husk "$expected" run --rm "${opts[@]}" "$IMAGE" "$@"
}

# ctr_json NAME JQ_FILTER: JQ_FILTER applied to the object `husk container
# inspect NAME` prints (raw output).
ctr_json() {
  local out
  out=$(husk container inspect "$1") || {
    fail "husk container inspect $1 failed"
    return 1
  }
  jq -r ".[0] | $2" <<<"$out"
}

# ctr_status NAME: .State.Status of the container (empty if inspect fails).
ctr_status() {
  husk container inspect "$1" 2>/dev/null | jq -r '.[0].State.Status' 2>/dev/null
}

# ctr_wait_status NAME STATUS [SECONDS]: wait (10 s) until the container's
# State.Status is STATUS.
ctr_wait_status() {
  local name=$1 want=$2 secs=${3:-10} i got=
  for ((i = 0; i < secs * 10; i++)); do
    got=$(ctr_status "$name")
    [[ $got == "$want" ]] && return 0
    sleep 0.1
  done
  fail "container $name is '$got' after ${secs}s, expected '$want'"
}

# ctr_dirs: the container directories of the store and the runroot, one a
# line (what --rm must leave nothing of).
ctr_dirs() {
  find "$HUSK_ROOT/containers" "$HUSK_RUNROOT/containers" -mindepth 1 \
    -maxdepth 1 -type d 2>/dev/null | LC_ALL=C sort
}

# ctr_cgroup_file NAME CONTROLLER FILE: the host path of FILE in the
# cgroup (v1 hierarchy CONTROLLER, or the unified one) of the running
# container NAME, from /proc/<pid>/cgroup of its pid 1.
ctr_cgroup_file() {
  local pid rel
  pid=$(ctr_json "$1" .State.Pid) || return 1
  [[ $pid =~ ^[0-9]+$ && $pid -gt 0 ]] || {
    fail "container $1 has no pid ($pid)"
    return 1
  }
  if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
    rel=$(awk -F: '$1 == "0" { print $3 }' "/proc/$pid/cgroup")
    echo "/sys/fs/cgroup$rel/$3"
  else
    rel=$(awk -F: -v c="$2" '{ n = split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] == c) print $3 }' \
      "/proc/$pid/cgroup")
    echo "/sys/fs/cgroup/$2$rel/$3"
  fi
}

# husk_wrapper: a script that runs husk on the current store, for commands
# run by another program (script, tmux).  Prints its path.
husk_wrapper() {
  local w=$BATS_TEST_TMPDIR/husk-wrapper
  {
    echo '#!/bin/sh'
    printf 'exec %q --root %q --runroot %q' "$HUSK_BINARY" "$HUSK_ROOT" "$HUSK_RUNROOT"
    [[ -n ${HUSK_TEST_STORAGE_DRIVER:-} ]] &&
      printf ' --storage-driver %q' "$HUSK_TEST_STORAGE_DRIVER"
    echo ' "$@"'
  } >"$w"
  chmod +x "$w"
  echo "$w"
}

# ctr_cleanup: remove every container of the current store (teardown).  If
# `husk rm` leaves any behind, kill what they recorded: the monitor (only
# if it still is husk) and pid 1 (only if it is pid 1 of a pid namespace).
ctr_cleanup() {
  husk rm -a -f >/dev/null 2>&1 || true
  local st pid
  for st in "$HUSK_ROOT"/containers/*/state.json; do
    [[ -f $st ]] || continue
    pid=$(jq -r '.MonitorPid // 0' "$st" 2>/dev/null) || pid=0
    if [[ $pid -gt 0 && /proc/$pid/exe -ef $HUSK_BINARY ]]; then
      kill -9 "$pid" 2>/dev/null || true
    fi
    pid=$(jq -r '.Pid // 0' "$st" 2>/dev/null) || pid=0
    if [[ $pid -gt 0 ]] && grep -Eq "^NSpid:[[:space:]]+$pid[[:space:]]+1\$" "/proc/$pid/status" 2>/dev/null; then
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
  return 0
}
