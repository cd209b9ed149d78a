#!/usr/bin/env bats
# husk inspect / image inspect and husk history, on the three-layer fixture
# image (loaded from the skopeo-written docker-archive) and an imported one.

load helpers

setup_file() {
  load helpers
  fixtures
  husk load -q -i "$FIXTURE_DOCKER_ARCHIVE" >&2
  husk import -q -m "imported here" "$FIXTURE_ROOTFS" imported >"$BATS_FILE_TMPDIR/imported.id"
}

setup() {
  fixtures
  IMPORTED=$(cat "$BATS_FILE_TMPDIR/imported.id")
}

@test "image inspect: a JSON array with podman's keys" {
  run_husk image inspect "$FIXTURE_NAME"
  local json=$output
  jq -e 'type == "array" and length == 1' <<<"$json" >/dev/null ||
    fail "not a one-element array: $json"
  local key
  for key in Id Digest RepoTags RepoDigests Parent Comment Created Config \
    Version Author Architecture Os Size VirtualSize GraphDriver RootFS \
    Labels Annotations ManifestType User History NamesHistory; do
    jq -e --arg k "$key" '.[0] | has($k)' <<<"$json" >/dev/null ||
      fail "key $key missing from $json"
  done
}

@test "image inspect: values of the fixture image" {
  run_husk image inspect "$FIXTURE_NAME"
  local i
  i=$(jq -c '.[0]' <<<"$output")
  assert_equal "$(jq -r .Id <<<"$i")" "$FIXTURE_ID" Id
  jq -e '.Digest | test("^sha256:[0-9a-f]{64}$")' <<<"$i" >/dev/null || fail "Digest: $i"
  assert_equal "$(jq -c .RepoTags <<<"$i")" "[\"$FIXTURE_NAME\"]" RepoTags
  local digest
  digest=$(jq -r .Digest <<<"$i")
  jq -e --arg d "localhost/husk-test@$digest" '.RepoDigests | index($d)' <<<"$i" >/dev/null ||
    fail "RepoDigests: $(jq -c .RepoDigests <<<"$i")"
  assert_equal "$(jq -r .Created <<<"$i")" "$FIXTURE_CREATED" Created
  assert_equal "$(jq -r .Author <<<"$i")" "husk tests" Author
  assert_equal "$(jq -r .Architecture <<<"$i")" "$FIXTURE_ARCH" Architecture
  assert_equal "$(jq -r .Os <<<"$i")" linux Os
  assert_equal "$(jq -c .Config.Cmd <<<"$i")" '["sh"]' Config.Cmd
  jq -e '.Config.Env | index("HUSK_TEST=1")' <<<"$i" >/dev/null || fail "Env: $i"
  assert_equal "$(jq -r .Config.WorkingDir <<<"$i")" / WorkingDir
  assert_equal "$(jq -r '.Labels["org.husk.test"]' <<<"$i")" fixture Labels
  assert_equal "$(jq -r '.Config.Labels.maintainer' <<<"$i")" "husk tests" Config.Labels
  assert_equal "$(jq -r .RootFS.Type <<<"$i")" layers RootFS.Type
  assert_equal "$(jq -r '.RootFS.Layers | join(" ")' <<<"$i")" "$FIXTURE_DIFF_IDS" RootFS.Layers
  assert_equal "$(jq -r '.History | length' <<<"$i")" 4 "History entries"
  assert_equal "$(jq -r '.History[1].comment' <<<"$i")" "layer two" "History[1].comment"
  jq -e '.History[3].empty_layer == true' <<<"$i" >/dev/null || fail "History[3]: $i"
  jq -e '.Size | type == "number" and . > 1000000' <<<"$i" >/dev/null || fail "Size: $i"
  jq -e '.VirtualSize == .Size' <<<"$i" >/dev/null || fail "VirtualSize: $i"
  jq -e '.GraphDriver.Name | test("^(overlay|vfs)$")' <<<"$i" >/dev/null ||
    fail "GraphDriver: $(jq -c .GraphDriver <<<"$i")"
  jq -e '.NamesHistory | index("localhost/husk-test:latest")' <<<"$i" >/dev/null ||
    fail "NamesHistory: $i"
  jq -e '.ManifestType | test("manifest")' <<<"$i" >/dev/null || fail "ManifestType: $i"
}

@test "inspect and image inspect agree; --type image and all" {
  run_husk image inspect "$FIXTURE_NAME"
  local expected=$output
  run_husk inspect "$FIXTURE_NAME"
  assert_output "$expected"
  run_husk inspect --type image "$FIXTURE_NAME"
  assert_output "$expected"
  run_husk inspect --type all "$FIXTURE_NAME"
  assert_output "$expected"
}

@test "inspect --type container does not find images" {
  run_husk 125 inspect --type container "$FIXTURE_NAME"
  assert_husk_error
  run_husk 125 inspect --type bogus "$FIXTURE_NAME"
  assert_husk_error "bogus"
}

@test "inspect by name, short name, ids and digest" {
  local ref
  for ref in localhost/husk-test:latest localhost/husk-test husk-test \
    husk-test:latest "${FIXTURE_ID:0:12}" "$FIXTURE_ID" "sha256:$FIXTURE_ID"; do
    run_husk inspect --format '{{.Id}}' "$ref"
    assert_output "$FIXTURE_ID"
  done
  run_husk inspect --format '{{.Digest}}' husk-test
  run_husk inspect --format '{{.Id}}' "localhost/husk-test@$output"
  assert_output "$FIXTURE_ID"
}

@test "inspect --format / -f templates" {
  run_husk inspect --format '{{.Id}}' "$FIXTURE_NAME"
  assert_output "$FIXTURE_ID"
  run_husk inspect -f '{{.Os}}/{{.Architecture}}' "$FIXTURE_NAME"
  assert_output "linux/$FIXTURE_ARCH"
  run_husk inspect -f '{{json .Config.Cmd}}' "$FIXTURE_NAME"
  assert_output '["sh"]'
  run_husk inspect -f '{{.Config.WorkingDir}}' "$FIXTURE_NAME"
  assert_output "/"
  run_husk inspect -f '{{.Labels.maintainer}}' "$FIXTURE_NAME"
  assert_output "husk tests"
  run_husk inspect -f '{{range .RootFS.Layers}}{{.}} {{end}}' "$FIXTURE_NAME"
  assert_output "$FIXTURE_DIFF_IDS "
  run_husk inspect -f '{{json .}}' "$FIXTURE_NAME"
  jq -e --arg id "$FIXTURE_ID" '.Id == $id' <<<"$output" >/dev/null ||
    fail "{{json .}}: $output"
}

@test "inspect several images: one array, or one line each with --format" {
  run_husk inspect "$FIXTURE_NAME" imported
  jq -e --arg a "$FIXTURE_ID" --arg b "$IMPORTED" \
    'length == 2 and .[0].Id == $a and .[1].Id == $b' <<<"$output" >/dev/null ||
    fail "$output"
  run_husk inspect --format '{{.Id}}' imported "$FIXTURE_NAME"
  assert_line --index 0 "$IMPORTED"
  assert_line --index 1 "$FIXTURE_ID"
  assert_line_count 2
}

@test "inspect of the imported image" {
  run_husk image inspect imported
  local i
  i=$(jq -c '.[0]' <<<"$output")
  assert_equal "$(jq -r .Comment <<<"$i")" "imported here" Comment
  assert_equal "$(jq -r '.RootFS.Layers | join(" ")' <<<"$i")" "$FIXTURE_ROOTFS_DIFF_ID" Layers
  assert_equal "$(jq -r '.History | length' <<<"$i")" 1 "History entries"
}

@test "inspect errors: unknown image, bad reference" {
  local before
  before=$(store_snapshot)
  run_husk 125 inspect nosuchimage
  assert_husk_error "nosuchimage"
  run_husk 125 image inspect nosuchimage
  assert_husk_error "nosuchimage"
  run_husk 125 inspect "$FIXTURE_NAME" nosuchimage
  assert_husk_error "nosuchimage"
  run_husk 125 inspect a:b:c
  assert_husk_error
  run_husk 125 inspect
  assert_husk_error
  run_husk 125 inspect --format '{{.NoSuchField' "$FIXTURE_NAME"
  assert_husk_error
  assert_store_unchanged "$before"
}

@test "history: columns, one row per history entry, newest first" {
  run_husk history "$FIXTURE_NAME"
  assert_line --index 0 --regexp '^ID +CREATED +CREATED BY +SIZE +COMMENT *$'
  assert_line_count 5
  assert_line --index 1 --regexp "^${FIXTURE_ID:0:12} +.+ ago +/bin/sh -c #\(nop\) +CMD \[\"sh\"\] +0 ?B *\$"
  assert_line --index 2 --regexp '^<missing> +.+ ago +/bin/sh -c rm -rf'
  assert_line --index 3 --regexp '^<missing> +.+ ago +/bin/sh -c echo Welcome > /etc/motd +[0-9.]+ ?[kM]?B +layer two *$'
  assert_line --index 4 --regexp '^<missing> +.+ ago +/bin/sh -c #\(nop\) ADD busybox root in / +[0-9.]+ ?MB *$'
}

@test "history --no-trunc shows full ids and commands" {
  run_husk history --no-trunc "$FIXTURE_NAME"
  assert_line --index 1 --regexp "^(sha256:)?$FIXTURE_ID +"
  assert_output --partial "/bin/sh -c rm -rf /etc/removeme /var/cache/old/*"
}

@test "history -q prints ids" {
  run_husk history -q "$FIXTURE_NAME"
  assert_line --index 0 "${FIXTURE_ID:0:12}"
  assert_line --index 1 "<missing>"
  assert_line_count 4

  run_husk history -q --no-trunc "$FIXTURE_NAME"
  assert_line --index 0 "$FIXTURE_ID"
}

@test "history -H=false / --human=false prints dates" {
  run_husk history -H=false "$FIXTURE_NAME"
  assert_line --index 1 --regexp "^${FIXTURE_ID:0:12} +$FIXTURE_CREATED +"
  run_husk history --human=false "$FIXTURE_NAME"
  assert_line --index 4 --regexp "^<missing> +$FIXTURE_CREATED +"
  run_husk history --human=true "$FIXTURE_NAME"
  assert_line --index 1 --regexp "^${FIXTURE_ID:0:12} +.+ ago +"
}

@test "history --format" {
  run_husk history --format '{{.ID}}|{{.Comment}}' "$FIXTURE_NAME"
  assert_line --index 0 "${FIXTURE_ID:0:12}|"
  assert_line --index 2 "<missing>|layer two"
  assert_line_count 4
  run_husk history --format '{{.CreatedBy}}' "$FIXTURE_NAME"
  assert_line --index 3 --partial "ADD busybox root in /"
}

@test "history of an imported image" {
  run_husk history imported
  assert_line_count 2
  assert_line --index 1 --regexp "^${IMPORTED:0:12} +.+ +imported here *\$"
}

@test "history errors" {
  run_husk 125 history nosuchimage
  assert_husk_error "nosuchimage"
  run_husk 125 history
  assert_husk_error
}
