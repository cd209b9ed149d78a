#!/usr/bin/env bats
# husk pull from a real registry (Debian's docker-registry, plain HTTP on
# 127.0.0.1) seeded by skopeo: ids, names, RepoDigests, layers not fetched
# twice, digests, -q, -a, multi-arch indexes and platform choice,
# registries.conf (short names, insecure, mirrors, blocked), gzip, zstd and
# uncompressed layers, docker v2s2 manifests.

load helpers

setup_file() {
  load helpers
  fixtures
  start_registry
  local t=$BATS_FILE_TMPDIR
  # husk/test: latest (the fixture) and v2 (same layers, another config).
  registry_seed "oci:$FIXTURE_OCI:latest" husk/test:latest
  VARIANT_ID=$(fixture_variant "$t/variant")
  registry_seed "oci:$t/variant:latest" husk/test:v2
  # A multi-arch index: linux/amd64 (the fixture) and linux/arm64/v8.
  fixture_multiarch "$t/multi"
  registry_seed "oci:$t/multi:latest" husk/multi:latest --all
  # The same image with zstd and with uncompressed layers, pushed byte for
  # byte (skopeo would reuse the gzip blobs it knows are there).
  layout_recompress "$FIXTURE_OCI" "$t/zstd" zstd >/dev/null
  registry_push_layout "$t/zstd" husk/zstd:latest
  layout_recompress "$FIXTURE_OCI" "$t/plain" none >/dev/null
  registry_push_layout "$t/plain" husk/plain:latest
  # A docker schema2 manifest.
  registry_seed "oci:$FIXTURE_OCI:latest" husk/v2s2:latest --format v2s2
  # From here on every request is in $REGISTRY_DIR/log.
  registry_accesslog
  export VARIANT_ID MULTI_AMD64_ID MULTI_ARM64_ID MULTI_AMD64_DIGEST MULTI_ARM64_DIGEST \
    MULTI_INDEX_DIGEST
}

teardown_file() {
  stop_registry || true
}

setup() {
  fixtures
  fresh_store
  unset CONTAINERS_REGISTRIES_CONF
}

# The image's inspect JSON object (not the array).
inspect_json() {
  husk image inspect "$1" | jq '.[0]'
}

# assert_pulled_fixture NAME [ID]: the store has the fixture (or ID) as
# NAME, with the fixture's diffIDs.
assert_pulled_fixture() {
  local name=$1 id=${2:-$FIXTURE_ID}
  local i
  i=$(inspect_json "$name") || fail "husk image inspect $name failed" || return
  assert_equal "$(jq -r .Id <<<"$i")" "$id" "Id of $name"
  assert_equal "$(jq -r '.RootFS.Layers | join(" ")' <<<"$i")" "$FIXTURE_DIFF_IDS" "diffIDs of $name"
}

# assert_repo_digest NAME REPO_DIGEST: RepoDigests of NAME holds it.
assert_repo_digest() {
  local i
  i=$(inspect_json "$1")
  jq -e --arg d "$2" '.RepoDigests | index($d)' <<<"$i" >/dev/null ||
    fail "RepoDigests of $1: $(jq -c .RepoDigests <<<"$i"), expected $2 in it"
}

# The last line of stdout, sha256: prefix accepted.
last_line_id() {
  local last=${lines[${#lines[@]} - 1]:-}
  echo "${last#sha256:}"
}

@test "pull by tag: the fixture's id, names, RepoDigests, progress on stderr" {
  run_husk pull --tls-verify=false "$REGISTRY/husk/test:latest"
  assert_equal "$(last_line_id)" "$FIXTURE_ID" "last line of stdout"
  assert_line_count 1
  [[ $stderr == *"Trying to pull $REGISTRY/husk/test:latest..."* ]] ||
    fail "no 'Trying to pull' line in stderr: $stderr"
  local want
  for want in "Getting image source signatures" "Copying blob " "Copying config " \
    "Writing manifest to image destination"; do
    [[ $stderr == *"$want"* ]] || fail "no '$want' in stderr: $stderr"
  done

  assert_pulled_fixture "$REGISTRY/husk/test:latest"
  local i
  i=$(inspect_json "$REGISTRY/husk/test:latest")
  assert_equal "$(jq -c .RepoTags <<<"$i")" "[\"$REGISTRY/husk/test:latest\"]" RepoTags
  assert_repo_digest "$REGISTRY/husk/test:latest" "$REGISTRY/husk/test@$FIXTURE_MANIFEST_DIGEST"

  run_husk images --format '{{.Repository}}:{{.Tag}} {{.ID}} {{.Digest}}'
  assert_output "$REGISTRY/husk/test:latest ${FIXTURE_ID:0:12} $FIXTURE_MANIFEST_DIGEST"
}

@test "pull: the image saves back byte for byte (layer tars hash to the diffIDs)" {
  run_husk pull -q --tls-verify=false "$REGISTRY/husk/test:latest"
  local dir=$BATS_TEST_TMPDIR/archive
  mkdir -p "$dir"
  run_husk save --format docker-archive -o "$BATS_TEST_TMPDIR/a.tar" "$REGISTRY/husk/test:latest"
  tar -xf "$BATS_TEST_TMPDIR/a.tar" -C "$dir"
  local got='' layer
  for layer in $(jq -r '.[0].Layers[]' "$dir/manifest.json"); do
    got+="sha256:$(sha256sum "$dir/$layer" | cut -d' ' -f1) "
  done
  assert_equal "$got" "$FIXTURE_DIFF_IDS " "sha256 of the saved layer tars"
  local config
  config=$(jq -r '.[0].Config' "$dir/manifest.json")
  assert_equal "$(sha256sum "$dir/$config" | cut -d' ' -f1)" "$FIXTURE_ID" "saved config digest"
}

@test "pull -q prints only the id" {
  run_husk pull -q --tls-verify=false "$REGISTRY/husk/test:latest"
  strip_sha256
  assert_output "$FIXTURE_ID"
  assert_equal "${stderr:-}" "" stderr
}

@test "pull of a second tag fetches only what is missing" {
  run_husk pull -q --tls-verify=false "$REGISTRY/husk/test:latest"
  registry_log_mark
  run_husk pull -q --tls-verify=false "$REGISTRY/husk/test:v2"
  strip_sha256
  assert_output "$VARIANT_ID"
  assert_pulled_fixture "$REGISTRY/husk/test:v2" "$VARIANT_ID"

  local requests d
  requests=$(registry_requests 'GET /v2/husk/test/blobs/')
  for d in $FIXTURE_LAYER_DIGESTS; do
    [[ $requests != *"$d"* ]] || fail "layer $d fetched again:
$requests"
  done
  [[ $requests == *"sha256:$VARIANT_ID"* ]] || fail "the new config was not fetched:
$requests"

  # Pulling what is there already fetches no layer either.
  registry_log_mark
  run_husk pull -q --tls-verify=false "$REGISTRY/husk/test:latest"
  strip_sha256
  assert_output "$FIXTURE_ID"
  requests=$(registry_requests 'GET /v2/husk/test/blobs/')
  for d in $FIXTURE_LAYER_DIGESTS; do
    [[ $requests != *"$d"* ]] || fail "layer $d fetched again on a re-pull:
$requests"
  done
  run_husk images --format '{{.Repository}}:{{.Tag}} {{.ID}}'
  assert_line "$REGISTRY/husk/test:latest ${FIXTURE_ID:0:12}"
  assert_line "$REGISTRY/husk/test:v2 ${VARIANT_ID:0:12}"
}

@test "pull by digest: RepoDigests, no tag" {
  run_husk pull --tls-verify=false "$REGISTRY/husk/test@$FIXTURE_MANIFEST_DIGEST"
  assert_equal "$(last_line_id)" "$FIXTURE_ID" "last line of stdout"
  assert_pulled_fixture "$FIXTURE_ID"
  assert_repo_digest "$FIXTURE_ID" "$REGISTRY/husk/test@$FIXTURE_MANIFEST_DIGEST"
  # podman: the repository with tag <none>.
  run_husk images --format '{{.Repository}}:{{.Tag}} {{.Digest}}'
  assert_output "$REGISTRY/husk/test:<none> $FIXTURE_MANIFEST_DIGEST"
}

@test "pull by a digest the repository does not have fails cleanly" {
  store_init
  local before
  before=$(store_snapshot)
  run_husk 125 pull --retry 0 --tls-verify=false \
    "$REGISTRY/husk/test@sha256:$(printf '0%.0s' {1..64})"
  assert_registry_error
  assert_store_unchanged "$before"
}

@test "pull -a / --all-tags pulls every tag of the repository" {
  run_husk pull -a --tls-verify=false "$REGISTRY/husk/test"
  strip_sha256
  assert_line "$FIXTURE_ID"
  assert_line "$VARIANT_ID"
  run_husk images --format '{{.Repository}}:{{.Tag}} {{.ID}}'
  assert_line "$REGISTRY/husk/test:latest ${FIXTURE_ID:0:12}"
  assert_line "$REGISTRY/husk/test:v2 ${VARIANT_ID:0:12}"
  assert_line_count 2

  fresh_store
  HUSK_ROOT=$HUSK_ROOT.2 HUSK_RUNROOT=$HUSK_RUNROOT.2
  run_husk pull --all-tags -q --tls-verify=false "$REGISTRY/husk/test"
  strip_sha256
  assert_line "$FIXTURE_ID"
  assert_line "$VARIANT_ID"
}

@test "multi-arch index: the host's platform by default" {
  [[ $(uname -m) == x86_64 ]] || skip "the index has amd64 and arm64 only; host is $(uname -m)"
  run_husk pull -q --tls-verify=false "$REGISTRY/husk/multi:latest"
  strip_sha256
  assert_output "$MULTI_AMD64_ID"
  assert_pulled_fixture "$REGISTRY/husk/multi:latest" "$MULTI_AMD64_ID"
  run_husk image inspect --format '{{.Os}}/{{.Architecture}}' "$REGISTRY/husk/multi:latest"
  assert_output "linux/amd64"
  assert_repo_digest "$REGISTRY/husk/multi:latest" "$REGISTRY/husk/multi@$MULTI_AMD64_DIGEST"
}

@test "multi-arch index: --platform linux/arm64 picks the arm64 image" {
  run_husk pull -q --tls-verify=false --platform linux/arm64 "$REGISTRY/husk/multi:latest"
  strip_sha256
  assert_output "$MULTI_ARM64_ID"
  run_husk image inspect --format '{{.Os}}/{{.Architecture}}' "$REGISTRY/husk/multi:latest"
  assert_output "linux/arm64"
  assert_pulled_fixture "$REGISTRY/husk/multi:latest" "$MULTI_ARM64_ID"
}

@test "multi-arch index: --arch arm64 (and --os, --variant) pick the arm64 image" {
  run_husk pull -q --tls-verify=false --arch arm64 "$REGISTRY/husk/multi:latest"
  strip_sha256
  assert_output "$MULTI_ARM64_ID"

  fresh_store
  HUSK_ROOT=$HUSK_ROOT.2 HUSK_RUNROOT=$HUSK_RUNROOT.2
  run_husk pull -q --tls-verify=false --os linux --arch arm64 --variant v8 "$REGISTRY/husk/multi:latest"
  strip_sha256
  assert_output "$MULTI_ARM64_ID"

  fresh_store
  HUSK_ROOT=$HUSK_ROOT.3 HUSK_RUNROOT=$HUSK_RUNROOT.3
  run_husk pull -q --tls-verify=false --platform linux/amd64 "$REGISTRY/husk/multi:latest"
  strip_sha256
  assert_output "$MULTI_AMD64_ID"
}

@test "multi-arch index: a platform the index lacks is an error, store unchanged" {
  store_init
  local before
  before=$(store_snapshot)
  run_husk 125 pull --retry 0 --tls-verify=false --platform linux/s390x "$REGISTRY/husk/multi:latest"
  assert_registry_error
  [[ $stderr == *s390x* ]] || fail "the error does not name the platform: $stderr"
  assert_store_unchanged "$before"
}

@test "short name: resolved through unqualified-search-registries (insecure = true)" {
  registries_conf "$BATS_TEST_TMPDIR/registries.conf" <<EOF
unqualified-search-registries = ["$REGISTRY"]

[[registry]]
location = "$REGISTRY"
insecure = true
EOF
  run_husk pull husk/test
  assert_equal "$(last_line_id)" "$FIXTURE_ID" "last line of stdout"
  [[ $stderr == *"Trying to pull $REGISTRY/husk/test:latest..."* ]] ||
    fail "no 'Trying to pull' line in stderr: $stderr"
  assert_pulled_fixture "$REGISTRY/husk/test:latest"
}

@test "short name: search registries are tried in order" {
  local closed
  closed=127.0.0.1:$(random_port)
  registries_conf "$BATS_TEST_TMPDIR/registries.conf" <<EOF
unqualified-search-registries = ["$closed", "$REGISTRY"]

[[registry]]
location = "$REGISTRY"
insecure = true

[[registry]]
location = "$closed"
insecure = true
EOF
  run_husk pull --retry 0 husk/test:v2
  assert_equal "$(last_line_id)" "$VARIANT_ID" "last line of stdout"
  [[ $stderr == *"Trying to pull $closed/husk/test:v2..."* ]] ||
    fail "the first search registry was not tried: $stderr"
  assert_pulled_fixture "$REGISTRY/husk/test:v2" "$VARIANT_ID"
}

@test "plain HTTP without --tls-verify=false or insecure = true is refused" {
  registries_conf "$BATS_TEST_TMPDIR/registries.conf" </dev/null
  store_init
  local before
  before=$(store_snapshot)
  run_husk 125 pull --retry 0 "$REGISTRY/husk/test:latest"
  assert_registry_error
  assert_store_unchanged "$before"
}

@test "mirror: [[registry.mirror]] answers for its registry" {
  registries_conf "$BATS_TEST_TMPDIR/registries.conf" <<EOF
[[registry]]
location = "mirrored.invalid"

[[registry.mirror]]
location = "$REGISTRY"
insecure = true
EOF
  run_husk pull mirrored.invalid/husk/test:latest
  assert_equal "$(last_line_id)" "$FIXTURE_ID" "last line of stdout"
  assert_pulled_fixture mirrored.invalid/husk/test:latest
  assert_repo_digest mirrored.invalid/husk/test:latest \
    "mirrored.invalid/husk/test@$FIXTURE_MANIFEST_DIGEST"
}

@test "mirror: a prefix mapped onto another path of the mirror" {
  registries_conf "$BATS_TEST_TMPDIR/registries.conf" <<EOF
[[registry]]
prefix = "mirrored.invalid/base"
location = "mirrored.invalid/base"

[[registry.mirror]]
location = "$REGISTRY/husk"
insecure = true
EOF
  run_husk pull -q mirrored.invalid/base/test:v2
  strip_sha256
  assert_output "$VARIANT_ID"
  assert_pulled_fixture mirrored.invalid/base/test:v2 "$VARIANT_ID"
}

@test "blocked registry: refused before any request" {
  registries_conf "$BATS_TEST_TMPDIR/registries.conf" <<EOF
[[registry]]
location = "$REGISTRY"
blocked = true
EOF
  store_init
  local before
  before=$(store_snapshot)
  registry_log_mark
  run_husk 125 pull --tls-verify=false "$REGISTRY/husk/test:latest"
  assert_registry_error blocked
  assert_store_unchanged "$before"
  assert_equal "$(registry_requests)" "" "requests the registry saw"
}

@test "zstd layers" {
  run_husk pull -q --tls-verify=false "$REGISTRY/husk/zstd:latest"
  strip_sha256
  assert_output "$FIXTURE_ID"
  assert_pulled_fixture "$REGISTRY/husk/zstd:latest"
}

@test "uncompressed layers" {
  run_husk pull -q --tls-verify=false "$REGISTRY/husk/plain:latest"
  strip_sha256
  assert_output "$FIXTURE_ID"
  assert_pulled_fixture "$REGISTRY/husk/plain:latest"
}

@test "docker schema2 manifest" {
  run_husk pull -q --tls-verify=false "$REGISTRY/husk/v2s2:latest"
  strip_sha256
  assert_output "$FIXTURE_ID"
  assert_pulled_fixture "$REGISTRY/husk/v2s2:latest"
  local digest
  digest=$(skopeo_ inspect --tls-verify=false --format '{{.Digest}}' "docker://$REGISTRY/husk/v2s2:latest")
  assert_repo_digest "$REGISTRY/husk/v2s2:latest" "$REGISTRY/husk/v2s2@$digest"
}

@test "pull what podman pulls: same id and diffIDs" {
  local p=$BATS_TEST_TMPDIR/podman
  command -v podman >/dev/null || skip "podman is not installed"
  [[ $(id -u) -eq 0 ]] || skip "podman comparison runs as root only"
  run podman --root "$p/root" --runroot "$p/run" --runtime runc --storage-driver vfs \
    pull -q --tls-verify=false "$REGISTRY/husk/zstd:latest"
  [[ $status -eq 0 ]] || skip "podman could not pull: $output"
  local podman_id=${output##*$'\n'}
  run_husk pull -q --tls-verify=false "$REGISTRY/husk/zstd:latest"
  strip_sha256
  assert_output "$podman_id"
}

@test "unknown tag and unknown repository: manifest unknown, store unchanged" {
  store_init
  local before
  before=$(store_snapshot)
  run_husk 125 pull --retry 0 --tls-verify=false "$REGISTRY/husk/test:nosuchtag"
  assert_registry_error
  [[ ${stderr,,} == *"manifest unknown"* || ${stderr,,} == *"not found"* ]] ||
    fail "error does not say manifest unknown: $stderr"
  run_husk 125 pull --retry 0 --tls-verify=false "$REGISTRY/no/such/repo:latest"
  assert_registry_error
  assert_store_unchanged "$before"
}
