#!/usr/bin/env bats
# husk push to a real registry (docker-registry, plain HTTP on 127.0.0.1),
# checked by skopeo (an independent client): same config digest and
# diffIDs, layer contents that decompress to the diffIDs; pulled back by
# husk with the same id; manifest formats, zstd, --digestfile, skipped
# blobs on a second push.

load helpers

setup_file() {
  load helpers
  fixtures
  start_registry
  registry_accesslog
}

teardown_file() {
  stop_registry || true
}

setup() {
  fixtures
  fresh_store
  run_husk load -q -i "$FIXTURE_OCI_ARCHIVE"
}

# assert_registry_has_fixture REF: skopeo copies REF (on $REGISTRY) to a
# dir: (manifest and blobs as they are, no conversion), whose config is the
# fixture's byte for byte and whose layers decompress to the fixture's
# diffIDs.  Sets MANIFEST (the raw manifest).
assert_registry_has_fixture() {
  local ref=$1 dir=$BATS_TEST_TMPDIR/back.$RANDOM
  skopeo_ copy -q --src-tls-verify=false "docker://$REGISTRY/$ref" "dir:$dir" ||
    fail "skopeo could not copy $REGISTRY/$ref back" || return
  MANIFEST=$(cat "$dir/manifest.json")
  assert_equal "$MANIFEST" "$(skopeo_ inspect --raw --tls-verify=false "docker://$REGISTRY/$ref")" \
    "manifest copied by skopeo"
  local cdigest
  cdigest=$(jq -r .config.digest <<<"$MANIFEST")
  assert_equal "$cdigest" "sha256:$FIXTURE_ID" "config digest in the pushed manifest"
  assert_equal "$(sha256sum "$dir/${cdigest#sha256:}" | cut -d' ' -f1)" \
    "$FIXTURE_ID" "config bytes"
  assert_equal "$(jq -r '.rootfs.diff_ids | join(" ")' "$dir/${cdigest#sha256:}")" \
    "$FIXTURE_DIFF_IDS" "diffIDs in the pushed config"
  local d got='' mt blob
  for d in $(jq -r '.layers[].digest' <<<"$MANIFEST"); do
    blob=$dir/${d#sha256:}
    assert_equal "sha256:$(sha256sum <"$blob" | cut -d' ' -f1)" "$d" "layer blob digest"
    mt=$(jq -r --arg d "$d" '.layers[] | select(.digest == $d) | .mediaType' <<<"$MANIFEST")
    case $mt in
    *zstd*) got+="sha256:$(zstd -dc "$blob" | sha256sum | cut -d' ' -f1) " ;;
    *gzip*) got+="sha256:$(gzip -dc "$blob" | sha256sum | cut -d' ' -f1) " ;;
    *) got+="sha256:$(sha256sum <"$blob" | cut -d' ' -f1) " ;;
    esac
  done
  assert_equal "$got" "$FIXTURE_DIFF_IDS " "uncompressed digests of the pushed layers"
}

@test "push IMAGE DESTINATION: skopeo reads back the same config and layers" {
  run_husk push --tls-verify=false "$FIXTURE_NAME" "$REGISTRY/husk/pushed:latest"
  local want
  for want in "Getting image source signatures" "Copying blob " "Copying config " \
    "Writing manifest to image destination"; do
    [[ $stderr == *"$want"* ]] || fail "no '$want' in stderr: $stderr"
  done
  assert_registry_has_fixture husk/pushed:latest
  # OCI by default, gzip layers.
  assert_equal "$(jq -r .mediaType <<<"$MANIFEST")" "application/vnd.oci.image.manifest.v1+json" \
    "manifest mediaType"
  assert_equal "$(jq -r '[.layers[].mediaType] | unique | join(" ")' <<<"$MANIFEST")" \
    "application/vnd.oci.image.layer.v1.tar+gzip" "layer mediaTypes"
}

@test "push IMAGE with its own registry name" {
  run_husk tag "$FIXTURE_NAME" "$REGISTRY/husk/self:v1"
  run_husk push --tls-verify=false "$REGISTRY/husk/self:v1"
  assert_registry_has_fixture husk/self:v1
}

@test "husk pull of what husk pushed: the same image id" {
  run_husk push -q --tls-verify=false "$FIXTURE_NAME" "$REGISTRY/husk/roundtrip:latest"
  fresh_store
  HUSK_ROOT=$HUSK_ROOT.2 HUSK_RUNROOT=$HUSK_RUNROOT.2
  run_husk pull -q --tls-verify=false "$REGISTRY/husk/roundtrip:latest"
  strip_sha256
  assert_output "$FIXTURE_ID"
  run_husk image inspect --format '{{range .RootFS.Layers}}{{.}} {{end}}' "$REGISTRY/husk/roundtrip:latest"
  assert_output "$FIXTURE_DIFF_IDS "
}

@test "push -q prints nothing" {
  run_husk push -q --tls-verify=false "$FIXTURE_NAME" "$REGISTRY/husk/quiet:latest"
  assert_output ""
  assert_equal "${stderr:-}" "" stderr
}

@test "push --format v2s2: a docker schema2 manifest" {
  run_husk push -q --format v2s2 --tls-verify=false "$FIXTURE_NAME" "$REGISTRY/husk/v2s2:latest"
  assert_registry_has_fixture husk/v2s2:latest
  assert_equal "$(jq -r .mediaType <<<"$MANIFEST")" \
    "application/vnd.docker.distribution.manifest.v2+json" "manifest mediaType"
  assert_equal "$(jq -r .config.mediaType <<<"$MANIFEST")" \
    "application/vnd.docker.container.image.v1+json" "config mediaType"
  assert_equal "$(jq -r '[.layers[].mediaType] | unique | join(" ")' <<<"$MANIFEST")" \
    "application/vnd.docker.image.rootfs.diff.tar.gzip" "layer mediaTypes"
}

@test "push --format oci: an OCI manifest" {
  run_husk push -q --format oci --tls-verify=false "$FIXTURE_NAME" "$REGISTRY/husk/oci:latest"
  assert_registry_has_fixture husk/oci:latest
  assert_equal "$(jq -r .mediaType <<<"$MANIFEST")" "application/vnd.oci.image.manifest.v1+json" \
    "manifest mediaType"
  assert_equal "$(jq -r .config.mediaType <<<"$MANIFEST")" \
    "application/vnd.oci.image.config.v1+json" "config mediaType"
}

@test "push --compression-format zstd: zstd layers that pull back to the same id" {
  run_husk push -q --compression-format zstd --tls-verify=false "$FIXTURE_NAME" "$REGISTRY/husk/zstd:latest"
  assert_registry_has_fixture husk/zstd:latest
  assert_equal "$(jq -r '[.layers[].mediaType] | unique | join(" ")' <<<"$MANIFEST")" \
    "application/vnd.oci.image.layer.v1.tar+zstd" "layer mediaTypes"
  fresh_store
  HUSK_ROOT=$HUSK_ROOT.2 HUSK_RUNROOT=$HUSK_RUNROOT.2
  run_husk pull -q --tls-verify=false "$REGISTRY/husk/zstd:latest"
  strip_sha256
  assert_output "$FIXTURE_ID"
}

@test "push --digestfile writes the manifest digest" {
  run_husk push -q --digestfile "$BATS_TEST_TMPDIR/digest" --tls-verify=false \
    "$FIXTURE_NAME" "$REGISTRY/husk/digest:latest"
  local want
  want=sha256:$(skopeo_ inspect --raw --tls-verify=false "docker://$REGISTRY/husk/digest:latest" |
    sha256sum | cut -d' ' -f1)
  assert_equal "$(cat "$BATS_TEST_TMPDIR/digest")" "$want" "digest file"
  # Pullable by that digest.
  fresh_store
  HUSK_ROOT=$HUSK_ROOT.2 HUSK_RUNROOT=$HUSK_RUNROOT.2
  run_husk pull -q --tls-verify=false "$REGISTRY/husk/digest@$want"
  strip_sha256
  assert_output "$FIXTURE_ID"
}

@test "a second push uploads no blob the registry has" {
  run_husk push -q --tls-verify=false "$FIXTURE_NAME" "$REGISTRY/husk/twice:latest"
  registry_log_mark
  run_husk push -q --tls-verify=false "$FIXTURE_NAME" "$REGISTRY/husk/twice:latest"
  local uploads
  uploads=$(registry_requests '^(POST|PATCH|PUT) /v2/husk/twice/blobs/')
  assert_equal "$uploads" "" "blob uploads on the second push"
  [[ -n $(registry_requests '^PUT /v2/husk/twice/manifests/latest') ]] ||
    fail "the manifest was not pushed again:
$(registry_requests)"

  # To another repository of the same registry: mounted or uploaded, but
  # the image must be complete there.
  run_husk push -q --tls-verify=false "$FIXTURE_NAME" "$REGISTRY/husk/twice-elsewhere:latest"
  assert_registry_has_fixture husk/twice-elsewhere:latest
}

@test "push what podman pulls back: same id" {
  command -v podman >/dev/null || skip "podman is not installed"
  [[ $(id -u) -eq 0 ]] || skip "podman comparison runs as root only"
  run_husk push -q --tls-verify=false "$FIXTURE_NAME" "$REGISTRY/husk/forpodman:latest"
  local p=$BATS_TEST_TMPDIR/podman
  run podman --root "$p/root" --runroot "$p/run" --runtime runc --storage-driver vfs \
    pull -q --tls-verify=false "$REGISTRY/husk/forpodman:latest"
  assert_equal "$status" 0 "podman pull status ($output)"
  assert_equal "${output##*$'\n'}" "$FIXTURE_ID" "podman's id"
}

@test "push of an image that does not exist: error" {
  run_husk 125 push --retry 0 --tls-verify=false localhost/no-such-image:latest \
    "$REGISTRY/husk/none:latest"
  assert_registry_error
}

@test "push to a closed port: error" {
  run_husk 125 push --retry 0 --tls-verify=false "$FIXTURE_NAME" \
    "127.0.0.1:$(random_port)/husk/closed:latest"
  assert_registry_error
}
