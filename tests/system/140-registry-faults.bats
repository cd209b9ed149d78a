#!/usr/bin/env bats
# husk pull against registries that misbehave: tests/fake-registry.py serves
# the fixture under repositories that each fail in one way (wrong digest,
# truncated blob, reset mid-blob, 429, huge manifest, gzip bomb, wrong
# platform, auth), plus unreachable registries.  Every failure: exit 125,
# an "Error: " message, the store unchanged.  The transient ones (reset,
# 429) must succeed.

load helpers

setup_file() {
  load helpers
  fixtures
  # 64 MiB of zeros in one layer; the tests cap layers at 16 MiB.
  FAKE_BOMB_MIB=64 start_fake_registry --auth basic
  BASIC_REGISTRY=$FAKE_REGISTRY BASIC_PID=$FAKE_REGISTRY_PID
  BASIC_USER=$FAKE_USER BASIC_PASS=$FAKE_PASS
  FAKE_BOMB_MIB=64 start_fake_registry --auth token
  TOKEN_FAKE_REGISTRY=$FAKE_REGISTRY TOKEN_FAKE_PID=$FAKE_REGISTRY_PID
  TOKEN_FAKE_LOG=$FAKE_REGISTRY_LOG TOKEN_FAKE_USER=$FAKE_USER TOKEN_FAKE_PASS=$FAKE_PASS
  export BASIC_REGISTRY BASIC_PID TOKEN_FAKE_REGISTRY TOKEN_FAKE_PID TOKEN_FAKE_LOG \
    TOKEN_FAKE_USER TOKEN_FAKE_PASS BASIC_USER BASIC_PASS
  FAKE_BOMB_MIB=64 start_fake_registry
}

teardown_file() {
  stop_fake_registry "$FAKE_REGISTRY_PID" "${BASIC_PID:-}" "${TOKEN_FAKE_PID:-}"
}

setup() {
  fixtures
  fresh_store
  store_init
  BEFORE=$(store_snapshot)
  # No credentials from the files of whoever runs the tests.
  export REGISTRY_AUTH_FILE=$BATS_TEST_TMPDIR/auth.json
  echo '{"auths": {}}' >"$REGISTRY_AUTH_FILE"
}

# pull_fails [HOST/]REPO[:TAG] [HUSK_OPTIONS...]: pulling it (from the
# fake registry when no host is given) fails cleanly and leaves the store
# as it was.
pull_fails() {
  local ref=$1
  shift
  [[ $ref == 127.0.0.1:* ]] || ref=$FAKE_REGISTRY/$ref
  run_husk 125 pull --retry 0 --tls-verify=false "$@" "$ref"
  assert_registry_error
  assert_store_unchanged "$BEFORE"
}

@test "the fake registry serves a good image (the harness works)" {
  run_husk pull -q --tls-verify=false "$FAKE_REGISTRY/good/image:latest"
  strip_sha256
  assert_output "$FIXTURE_ID"
}

@test "blob with the wrong digest: error, store unchanged" {
  pull_fails baddigest/image:latest
  [[ ${stderr,,} == *digest* ]] || fail "the error does not mention the digest: $stderr"
  # Retries must not turn it into a success either.
  run_husk 125 pull --retry 1 --tls-verify=false "$FAKE_REGISTRY/baddigest/image:latest"
  assert_registry_error
  assert_store_unchanged "$BEFORE"
}

@test "truncated blob: error, store unchanged" {
  pull_fails truncated/image:latest
}

@test "connection reset mid-blob: resumed with a Range request" {
  run_husk pull -q --tls-verify=false "$FAKE_REGISTRY/reset/image:latest"
  strip_sha256
  assert_output "$FIXTURE_ID"
  local first=${FIXTURE_LAYER_DIGESTS%% *}
  local ranged
  ranged=$(fake_requests ".path == \"/v2/reset/image/blobs/$first\" and .range != null and .status == 206")
  [[ -n $ranged ]] || fail "no Range request for $first after the reset:
$(fake_requests '.path | tostring | startswith("/v2/reset/")')"
  [[ $ranged == *'"bytes='[1-9]* ]] || fail "the Range does not start past 0: $ranged"
  run_husk image inspect --format '{{range .RootFS.Layers}}{{.}} {{end}}' "$FIXTURE_ID"
  assert_output "$FIXTURE_DIFF_IDS "
}

@test "429 with Retry-After: 1 is waited for, then the pull succeeds" {
  run_husk pull -q --tls-verify=false "$FAKE_REGISTRY/ratelimit/image:latest"
  strip_sha256
  assert_output "$FIXTURE_ID"
  local limited next
  limited=$(fake_requests '.path == "/v2/ratelimit/image/manifests/latest" and .status == 429' |
    head -1 | jq .t)
  [[ -n $limited ]] || fail "the fake registry never answered 429"
  next=$(fake_requests ".path == \"/v2/ratelimit/image/manifests/latest\" and .t > $limited" |
    head -1 | jq .t)
  [[ -n $next ]] || fail "the manifest was not asked for again after the 429"
  jq -e -n --argjson a "$limited" --argjson b "$next" '$b - $a >= 0.9' >/dev/null ||
    fail "retried $(jq -n --argjson a "$limited" --argjson b "$next" '$b - $a')s after the 429, before Retry-After"
}

@test "manifest over 4 MiB: refused, store unchanged" {
  pull_fails bigmanifest/image:latest
}

@test "gzip bomb over HUSK_MAX_LAYER_SIZE: refused, store unchanged" {
  export HUSK_MAX_LAYER_SIZE=$((16 << 20))
  pull_fails bomb/image:latest
  # The same layer under a cap it fits in is fine: the cap is what failed.
  export HUSK_MAX_LAYER_SIZE=$((128 << 20))
  run_husk pull -q --retry 0 --tls-verify=false "$FAKE_REGISTRY/bomb/image:latest"
}

@test "index with manifests for other platforms only: error naming the platform" {
  pull_fails otherplatform/image:latest
  local arch
  case $(uname -m) in
  x86_64) arch=amd64 ;;
  aarch64) arch=arm64 ;;
  *) arch=$(uname -m) ;;
  esac
  [[ $stderr == *"$arch"* ]] || fail "the error does not name $arch: $stderr"
}

@test "unknown repository and unknown tag: error, store unchanged" {
  pull_fails nothere/image:latest
  pull_fails good/image:nosuchtag
  [[ ${stderr,,} == *"manifest unknown"* || ${stderr,,} == *"not found"* ]] ||
    fail "the error does not say manifest unknown: $stderr"
}

@test "401: wrong password refused; the right one works" {
  pull_fails "$BASIC_REGISTRY/good/image:latest" --creds "$BASIC_USER:wrong-$BASIC_PASS"
  [[ ${stderr,,} =~ unauthorized|401|authenticat|username ]] ||
    fail "the error does not say the credentials were refused: $stderr"
  pull_fails "$BASIC_REGISTRY/good/image:latest"
  run_husk pull -q --tls-verify=false --creds "$BASIC_USER:$BASIC_PASS" "$BASIC_REGISTRY/good/image:latest"
  strip_sha256
  assert_output "$FIXTURE_ID"
}

@test "bearer token from the realm named by the challenge" {
  pull_fails "$TOKEN_FAKE_REGISTRY/good/image:latest" --creds "$TOKEN_FAKE_USER:wrong-$TOKEN_FAKE_PASS"
  run_husk pull -q --tls-verify=false --creds "$TOKEN_FAKE_USER:$TOKEN_FAKE_PASS" \
    "$TOKEN_FAKE_REGISTRY/good/image:latest"
  strip_sha256
  assert_output "$FIXTURE_ID"
  [[ -n $(fake_requests '(.path | tostring | startswith("/token")) and .auth == "Basic" and .status == 200' \
    "$TOKEN_FAKE_LOG") ]] || fail "no token was fetched with basic credentials"
  [[ -n $(fake_requests '.path == "/v2/good/image/manifests/latest" and .auth == "Bearer" and .status == 200' \
    "$TOKEN_FAKE_LOG") ]] || fail "the manifest was not fetched with the bearer token"
}

@test "connection refused: error, store unchanged" {
  local closed
  closed=127.0.0.1:$(random_port)
  run_husk 125 pull --retry 0 --tls-verify=false "$closed/husk/test:latest"
  assert_registry_error
  [[ ${stderr,,} == *refused* ]] || fail "the error does not say connection refused: $stderr"
  assert_store_unchanged "$BEFORE"
}

@test "unknown host: error naming it, store unchanged" {
  run_husk 125 pull --retry 0 --tls-verify=false nosuchhost.invalid/husk/test:latest
  assert_registry_error nosuchhost.invalid
  assert_store_unchanged "$BEFORE"
}
