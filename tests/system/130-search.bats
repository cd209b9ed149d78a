#!/usr/bin/env bats
# husk search against a registry's /v2/_catalog and tags list (plain-HTTP
# docker-registry): the NAME/DESCRIPTION table as podman 4.3 prints it,
# --list-tags (NAME/TAG), --limit, --format, --no-trunc.

load helpers

setup_file() {
  load helpers
  fixtures
  start_registry
  registry_seed "oci:$FIXTURE_OCI:latest" husk/test:latest
  registry_seed "oci:$FIXTURE_OCI:latest" husk/test:v2
  registry_seed "oci:$FIXTURE_OCI:latest" husk/test:v3
  registry_seed "oci:$FIXTURE_OCI:latest" husk/alpha:latest
  registry_seed "oci:$FIXTURE_OCI:latest" other/beta:latest
  registry_seed "oci:$FIXTURE_OCI:latest" "deep/path/with-a-rather-long-repository-name-for-columns:1"
}

teardown_file() {
  stop_registry || true
}

setup() {
  fresh_store
}

# The first column of every line but the header.
names() {
  printf '%s\n' "${lines[@]:1}" | awk '{print $1}'
}

@test "search HOST/TERM: repositories whose name contains TERM" {
  run_husk search --tls-verify=false "$REGISTRY/husk"
  [[ ${lines[0]} =~ ^NAME\ +DESCRIPTION\ *$ ]] || fail "header: '${lines[0]}'"
  assert_equal "$(names)" "$REGISTRY/husk/alpha
$REGISTRY/husk/test" "names"
}

@test "search HOST/: every repository" {
  run_husk search --tls-verify=false "$REGISTRY/"
  assert_equal "$(names | sort)" "$REGISTRY/deep/path/with-a-rather-long-repository-name-for-columns
$REGISTRY/husk/alpha
$REGISTRY/husk/test
$REGISTRY/other/beta" "names"
}

@test "search: columns line up (names are never truncated)" {
  run_husk search --tls-verify=false "$REGISTRY/"
  local col=${lines[0]%%DESCRIPTION*} line
  for line in "${lines[@]:1}"; do
    local name=${line%% *}
    [[ ${#name} -lt ${#col} ]] || fail "name '$name' runs into the DESCRIPTION column: '$line'"
  done
}

@test "search with no match: nothing printed (as podman), exit 0" {
  run_husk search --tls-verify=false "$REGISTRY/nothing-matches-this"
  assert_output ""
}

@test "search --limit" {
  run_husk search --tls-verify=false --limit 1 "$REGISTRY/husk"
  assert_line_count 2
  run_husk search --tls-verify=false --limit 3 "$REGISTRY/"
  assert_line_count 4
}

@test "search --format with a template" {
  run_husk search --tls-verify=false --format '{{.Name}}' "$REGISTRY/husk"
  assert_output "$REGISTRY/husk/alpha
$REGISTRY/husk/test"
  run_husk search --tls-verify=false --format '{{.Index}}|{{.Name}}|{{.Description}}|{{.Stars}}' "$REGISTRY/other"
  assert_output "$REGISTRY|$REGISTRY/other/beta||0"
}

@test "search --format json" {
  run_husk search --tls-verify=false --format json "$REGISTRY/husk"
  assert_equal "$(jq -r '.[].Name' <<<"$output")" "$REGISTRY/husk/alpha
$REGISTRY/husk/test" "names in JSON"
  assert_equal "$(jq -r '.[0].Index' <<<"$output")" "$REGISTRY" "Index"
}

@test "search --no-trunc" {
  run_husk search --tls-verify=false --no-trunc "$REGISTRY/deep"
  assert_equal "$(names)" "$REGISTRY/deep/path/with-a-rather-long-repository-name-for-columns" "names"
}

@test "search --list-tags: NAME TAG rows" {
  run_husk search --tls-verify=false --list-tags "$REGISTRY/husk/test"
  [[ ${lines[0]} =~ ^NAME\ +TAG\ *$ ]] || fail "header: '${lines[0]}'"
  assert_equal "$(printf '%s\n' "${lines[@]:1}" | awk '{print $1 " " $2}')" "$REGISTRY/husk/test latest
$REGISTRY/husk/test v2
$REGISTRY/husk/test v3" "rows"
}

@test "search --list-tags --limit" {
  run_husk search --tls-verify=false --list-tags --limit 2 "$REGISTRY/husk/test"
  assert_line_count 3
}

@test "search --list-tags --format json" {
  run_husk search --tls-verify=false --list-tags --format json "$REGISTRY/husk/test"
  assert_equal "$(jq -c '.[0]' <<<"$output")" \
    "{\"Name\":\"$REGISTRY/husk/test\",\"Tags\":[\"latest\",\"v2\",\"v3\"]}" "JSON"
}

@test "search --list-tags of an unknown repository: error" {
  run_husk 125 search --tls-verify=false --list-tags "$REGISTRY/no/such"
  assert_husk_error
}

@test "search against a closed port: error (after podman-style retry warnings)" {
  run_husk 125 search --tls-verify=false "127.0.0.1:$(random_port)/husk"
  assert_registry_error refused
}
