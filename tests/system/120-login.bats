#!/usr/bin/env bats
# husk login / logout and authenticated pull and push: a TLS registry
# (self-signed CA) with htpasswd basic auth, and a plain-HTTP registry
# behind tests/token-server.py (bearer tokens).  HOME and XDG_RUNTIME_DIR
# point into the test's temp dir, so the default auth files are private.

load helpers

setup_file() {
  load helpers
  fixtures
  start_token_registry
  skopeo_ copy -q --dest-tls-verify=false --dest-creds "$TOKEN_USER:$TOKEN_PASS" \
    "oci:$FIXTURE_OCI:latest" "docker://$TOKEN_REGISTRY/husk/test:latest" >&2 ||
    fail "skopeo could not seed the token registry"
  start_registry --tls --auth
  registry_seed "oci:$FIXTURE_OCI:latest" husk/test:latest
  CERT_DIR=$REGISTRY_DIR/certs.d/$REGISTRY
  export CERT_DIR
}

teardown_file() {
  stop_registry || true
  stop_token_registry
}

setup() {
  fixtures
  fresh_store
  export HOME=$BATS_TEST_TMPDIR/home XDG_RUNTIME_DIR=$BATS_TEST_TMPDIR/xdg
  mkdir -p "$HOME" "$XDG_RUNTIME_DIR"
  chmod 0700 "$XDG_RUNTIME_DIR"
  unset REGISTRY_AUTH_FILE DOCKER_CONFIG
  AUTH_FILE=$XDG_RUNTIME_DIR/containers/auth.json
}

# auth_of FILE KEY: the decoded "auth" of KEY in FILE ("user:password").
auth_of() {
  jq -r --arg k "$2" '.auths[$k].auth // empty' "$1" | base64 -d
}

login() {
  run_husk login --cert-dir "$CERT_DIR" -u "$REGISTRY_USER" -p "$REGISTRY_PASS" "$@" "$REGISTRY"
}

@test "login -u -p: verified, saved base64 in auth.json under XDG_RUNTIME_DIR" {
  login
  assert_output "Login Succeeded!"
  [[ -f $AUTH_FILE ]] || fail "no $AUTH_FILE"
  assert_equal "$(auth_of "$AUTH_FILE" "$REGISTRY")" "$REGISTRY_USER:$REGISTRY_PASS" "saved auth"
  assert_equal "$(stat -c %a "$AUTH_FILE")" 600 "auth.json mode"
}

@test "login --password-stdin reads one line" {
  printf '%s\n' "$REGISTRY_PASS" >"$BATS_TEST_TMPDIR/pass"
  run_husk --stdin "$BATS_TEST_TMPDIR/pass" login --cert-dir "$CERT_DIR" -u "$REGISTRY_USER" \
    --password-stdin "$REGISTRY"
  assert_output "Login Succeeded!"
  assert_equal "$(auth_of "$AUTH_FILE" "$REGISTRY")" "$REGISTRY_USER:$REGISTRY_PASS" "saved auth"
}

@test "login with a wrong password: exit 125, nothing saved" {
  run_husk 125 login --cert-dir "$CERT_DIR" -u "$REGISTRY_USER" -p "wrong-$REGISTRY_PASS" "$REGISTRY"
  assert_husk_error "logging into \"$REGISTRY\": invalid username/password"
  if [[ -f $AUTH_FILE ]]; then
    assert_equal "$(auth_of "$AUTH_FILE" "$REGISTRY")" "" "saved auth after a failed login"
  fi
}

@test "a failed login keeps the credentials saved before" {
  login
  run_husk 125 login --cert-dir "$CERT_DIR" -u "$REGISTRY_USER" -p "wrong-$REGISTRY_PASS" "$REGISTRY"
  assert_husk_error
  assert_equal "$(auth_of "$AUTH_FILE" "$REGISTRY")" "$REGISTRY_USER:$REGISTRY_PASS" "saved auth"
}

@test "login --authfile writes that file only; other entries are kept" {
  local f=$BATS_TEST_TMPDIR/my-auth.json
  echo '{"auths": {"other.invalid": {"auth": "b3RoZXI6cGFzcw=="}}}' >"$f"
  login --authfile "$f"
  assert_output "Login Succeeded!"
  assert_equal "$(auth_of "$f" "$REGISTRY")" "$REGISTRY_USER:$REGISTRY_PASS" "saved auth"
  assert_equal "$(auth_of "$f" other.invalid)" "other:pass" "the other entry"
  [[ ! -e $AUTH_FILE ]] || fail "the default auth file was written too"

  run_husk login --get-login --authfile "$f" "$REGISTRY"
  assert_output "$REGISTRY_USER"
}

@test "REGISTRY_AUTH_FILE is the default auth file when set" {
  export REGISTRY_AUTH_FILE=$BATS_TEST_TMPDIR/env-auth.json
  login
  assert_equal "$(auth_of "$REGISTRY_AUTH_FILE" "$REGISTRY")" "$REGISTRY_USER:$REGISTRY_PASS" "saved auth"
}

@test "login --get-login prints the stored user; not logged in is an error" {
  run_husk 125 login --get-login "$REGISTRY"
  assert_husk_error "not logged into $REGISTRY"
  login
  run_husk login --get-login "$REGISTRY"
  assert_output "$REGISTRY_USER"
}

@test "logout removes the credentials; logging out twice is an error" {
  login
  run_husk logout "$REGISTRY"
  assert_output "Removed login credentials for $REGISTRY"
  assert_equal "$(auth_of "$AUTH_FILE" "$REGISTRY")" "" "auth after logout"
  run_husk 125 logout "$REGISTRY"
  assert_husk_error "not logged into $REGISTRY"
}

@test "logout -a removes every registry's credentials" {
  login
  jq '.auths["other.invalid"] = {"auth": "b3RoZXI6cGFzcw=="}' "$AUTH_FILE" >"$AUTH_FILE.new"
  mv "$AUTH_FILE.new" "$AUTH_FILE"
  run_husk logout -a
  assert_output "Removed login credentials for all registries"
  assert_equal "$(jq -c '.auths // {}' "$AUTH_FILE")" "{}" "auths after logout -a"
}

@test "logout --authfile" {
  local f=$BATS_TEST_TMPDIR/my-auth.json
  login --authfile "$f"
  run_husk logout --authfile "$f" "$REGISTRY"
  assert_output "Removed login credentials for $REGISTRY"
  assert_equal "$(auth_of "$f" "$REGISTRY")" "" "auth after logout"
}

@test "pull and push with the saved credentials" {
  login
  run_husk pull -q --cert-dir "$CERT_DIR" "$REGISTRY/husk/test:latest"
  strip_sha256
  assert_output "$FIXTURE_ID"
  run_husk push -q --cert-dir "$CERT_DIR" "$REGISTRY/husk/test:latest" "$REGISTRY/husk/pushed:latest"
  # Byte for byte (run would strip a trailing newline).
  assert_equal "$(skopeo_ inspect --raw --config --cert-dir "$CERT_DIR" \
    --creds "$REGISTRY_USER:$REGISTRY_PASS" "docker://$REGISTRY/husk/pushed:latest" |
    sha256sum | cut -d' ' -f1)" "$FIXTURE_ID" "pushed config digest"
}

@test "pull without credentials: 401, exit 125, store unchanged" {
  store_init
  local before
  before=$(store_snapshot)
  run_husk 125 pull --retry 0 --cert-dir "$CERT_DIR" "$REGISTRY/husk/test:latest"
  assert_registry_error
  assert_store_unchanged "$before"
}

@test "pull and push with --creds, nothing saved" {
  run_husk pull -q --cert-dir "$CERT_DIR" --creds "$REGISTRY_USER:$REGISTRY_PASS" "$REGISTRY/husk/test:latest"
  strip_sha256
  assert_output "$FIXTURE_ID"
  run_husk push -q --cert-dir "$CERT_DIR" --creds "$REGISTRY_USER:$REGISTRY_PASS" \
    "$REGISTRY/husk/test:latest" "$REGISTRY/husk/creds:latest"
  run skopeo_ inspect --raw --cert-dir "$CERT_DIR" --creds "$REGISTRY_USER:$REGISTRY_PASS" \
    "docker://$REGISTRY/husk/creds:latest"
  assert_equal "$status" 0 "skopeo inspect status"
  [[ ! -e $AUTH_FILE ]] || fail "--creds saved credentials: $(cat "$AUTH_FILE")"

  run_husk 125 pull --retry 0 --cert-dir "$CERT_DIR" --creds "$REGISTRY_USER:wrong" "$REGISTRY/husk/test:latest"
  assert_registry_error
}

@test "TLS without the CA: a clear error, exit 125, store unchanged" {
  store_init
  local before
  before=$(store_snapshot)
  run_husk 125 pull --retry 0 --creds "$REGISTRY_USER:$REGISTRY_PASS" "$REGISTRY/husk/test:latest"
  assert_registry_error
  [[ ${stderr,,} =~ certificate|x509|tls|ssl ]] || fail "the error does not say it is about TLS: $stderr"
  assert_store_unchanged "$before"

  run_husk 125 login -u "$REGISTRY_USER" -p "$REGISTRY_PASS" "$REGISTRY"
  assert_husk_error
  [[ ${stderr,,} =~ certificate|x509|tls|ssl ]] || fail "the error does not say it is about TLS: $stderr"
  [[ ! -e $AUTH_FILE ]] || fail "credentials were saved: $(cat "$AUTH_FILE")"
}

@test "--tls-verify=false accepts the self-signed certificate" {
  run_husk login --tls-verify=false -u "$REGISTRY_USER" -p "$REGISTRY_PASS" "$REGISTRY"
  assert_output "Login Succeeded!"
  run_husk pull -q --tls-verify=false "$REGISTRY/husk/test:latest"
  strip_sha256
  assert_output "$FIXTURE_ID"
}

@test "docker's ~/.docker/config.json credentials are used" {
  mkdir -p "$HOME/.docker"
  jq -n --arg k "$REGISTRY" --arg a "$(printf '%s' "$REGISTRY_USER:$REGISTRY_PASS" | base64 -w0)" \
    '{auths: {($k): {auth: $a}}}' >"$HOME/.docker/config.json"
  run_husk pull -q --cert-dir "$CERT_DIR" "$REGISTRY/husk/test:latest"
  strip_sha256
  assert_output "$FIXTURE_ID"
  run_husk login --get-login "$REGISTRY"
  assert_output "$REGISTRY_USER"
}

@test "podman's ~/.config/containers/auth.json is read when XDG_RUNTIME_DIR has none" {
  unset XDG_RUNTIME_DIR
  mkdir -p "$HOME/.config/containers"
  jq -n --arg k "$REGISTRY" --arg a "$(printf '%s' "$REGISTRY_USER:$REGISTRY_PASS" | base64 -w0)" \
    '{auths: {($k): {auth: $a}}}' >"$HOME/.config/containers/auth.json"
  run_husk pull -q --cert-dir "$CERT_DIR" "$REGISTRY/husk/test:latest"
  strip_sha256
  assert_output "$FIXTURE_ID"
}

@test "token auth: login verifies through the token server" {
  run_husk login --tls-verify=false -u "$TOKEN_USER" -p "$TOKEN_PASS" "$TOKEN_REGISTRY"
  assert_output "Login Succeeded!"
  assert_equal "$(auth_of "$AUTH_FILE" "$TOKEN_REGISTRY")" "$TOKEN_USER:$TOKEN_PASS" "saved auth"

  run_husk 125 login --tls-verify=false -u "$TOKEN_USER" -p "wrong-$TOKEN_PASS" "$TOKEN_REGISTRY"
  assert_husk_error "invalid username/password"
}

@test "token auth: pull and push with bearer tokens" {
  run_husk login --tls-verify=false -u "$TOKEN_USER" -p "$TOKEN_PASS" "$TOKEN_REGISTRY"
  run_husk pull -q --tls-verify=false "$TOKEN_REGISTRY/husk/test:latest"
  strip_sha256
  assert_output "$FIXTURE_ID"
  grep -q "\"user\": \"$TOKEN_USER\", \"status\": 200" "$TOKEN_SERVER_LOG" ||
    fail "no token was issued to $TOKEN_USER: $(cat "$TOKEN_SERVER_LOG")"

  run_husk push -q --tls-verify=false "$TOKEN_REGISTRY/husk/test:latest" "$TOKEN_REGISTRY/husk/tok-pushed:latest"
  assert_equal "$(skopeo_ inspect --raw --config --tls-verify=false --creds "$TOKEN_USER:$TOKEN_PASS" \
    "docker://$TOKEN_REGISTRY/husk/tok-pushed:latest" | sha256sum | cut -d' ' -f1)" \
    "$FIXTURE_ID" "pushed config digest"
  grep -q 'tok-pushed%3Apull%2Cpush\|tok-pushed%3Apush%2Cpull' "$TOKEN_SERVER_LOG" ||
    fail "no push scope was asked for: $(cat "$TOKEN_SERVER_LOG")"
}

@test "token auth: anonymous pull is refused, --creds works" {
  store_init
  local before
  before=$(store_snapshot)
  run_husk 125 pull --retry 0 --tls-verify=false "$TOKEN_REGISTRY/husk/test:latest"
  assert_registry_error
  assert_store_unchanged "$before"
  run_husk pull -q --tls-verify=false --creds "$TOKEN_USER:$TOKEN_PASS" "$TOKEN_REGISTRY/husk/test:latest"
  strip_sha256
  assert_output "$FIXTURE_ID"
}
