#!/usr/bin/env bats
# The command line itself: help, version, info, global flags, flag syntax
# and the errors for unknown commands and flags.

load helpers

setup_file() {
  load helpers
  fixtures
}

setup() {
  fixtures
}

@test "husk --help lists the image commands" {
  run_husk --help
  assert_output --partial "Usage:"
  for cmd in images import load save rmi tag untag inspect history version info; do
    assert_output --regexp "(^|
)[[:space:]]+$cmd[[:space:]]"
  done
  refute_output --partial "Error"
}

@test "husk help, -h and COMMAND --help" {
  run_husk help
  assert_output --partial "Usage:"
  local toplevel=$output

  run_husk -h
  assert_equal "$output" "$toplevel" "husk -h output"

  run_husk images --help
  assert_output --partial "Usage:"
  assert_output --partial "--filter"
  assert_output --partial "--no-trunc"

  run_husk help images
  assert_output --partial "--filter"

  run_husk image ls --help
  assert_output --partial "--filter"

  run_husk rmi -h
  assert_output --partial "--force"
}

@test "husk with no command is an error" {
  run_husk 125
  assert_husk_error
}

@test "husk image with no subcommand is an error" {
  run_husk 125 image
  assert_husk_error
}

# Podman says "Error: unrecognized command `podman foo`"; the brief says
# "Error: unknown ...": either is fine, with the command named and a hint.
@test "unknown command: exit 125 and a hint" {
  run_husk 125 nosuchcommand
  assert_husk_error "nosuchcommand"
  [[ $stderr =~ ^Error:\ (unknown|unrecognized) ]] || fail "stderr: $stderr"
  assert_output ""
  [[ $stderr == *"--help"* ]] || fail "no hint about --help in '$stderr'"

  run_husk 125 image nosuchsubcommand
  assert_husk_error "nosuchsubcommand"
  [[ $stderr =~ ^Error:\ (unknown|unrecognized) ]] || fail "stderr: $stderr"
  [[ $stderr == *"--help"* ]] || fail "no hint about --help in '$stderr'"
}

@test "unknown flag: exit 125 and a hint" {
  run_husk 125 images --bogus
  [[ $stderr == "Error: unknown"* ]] || fail "stderr: $stderr"
  [[ $stderr == *"--bogus"* ]] || fail "flag not named in '$stderr'"
  [[ $stderr == *"husk images --help"* ]] || fail "no hint in '$stderr'"

  run_husk 125 --bogus images
  [[ $stderr == "Error: unknown"* ]] || fail "stderr: $stderr"
  [[ $stderr == *"--help"* ]] || fail "no hint in '$stderr'"

  run_husk 125 images -Z
  [[ $stderr == "Error: unknown"* ]] || fail "stderr: $stderr"

  # A combined short flag with one unknown letter.
  run_husk 125 images -qZ
  [[ $stderr == "Error: unknown"* ]] || fail "stderr: $stderr"
}

@test "a flag that needs a value, given none" {
  run_husk 125 images --format
  assert_husk_error
  run_husk 125 --root
  assert_husk_error
}

@test "husk version" {
  run_husk version
  assert_line --regexp "^Version: +[0-9]+\.[0-9]+\.[0-9]+"

  run_husk version --format '{{.Client.Version}}'
  assert_output --regexp '^[0-9]+\.[0-9]+\.[0-9]+'
  local v=$output

  run_husk version --format json
  jq -e --arg v "$v" '.Client.Version == $v' <<<"$output" >/dev/null ||
    fail "version json: $output"

  run_husk --version
  assert_output "husk version $v"
  run_husk -v
  assert_output "husk version $v"
}

@test "husk info --format json" {
  run_husk info --format json
  local json=$output
  jq -e . <<<"$json" >/dev/null || fail "not JSON: $json"

  assert_equal "$(jq -r .host.kernel <<<"$json")" "$(uname -r)" host.kernel
  run jq -r .host.cgroupVersion <<<"$json"
  assert_output --regexp '^v[12]$'
  local rootless=false
  [[ $(id -u) -ne 0 ]] && rootless=true
  assert_equal "$(jq -r .host.rootless <<<"$json")" "$rootless" host.rootless
  assert_equal "$(jq -r .store.graphRoot <<<"$json")" "$HUSK_ROOT" store.graphRoot
  assert_equal "$(jq -r .store.runRoot <<<"$json")" "$HUSK_RUNROOT" store.runRoot
  run jq -r .store.graphDriverName <<<"$json"
  assert_output --regexp '^(overlay|vfs)$'
  run jq -r .store.imageStore.number <<<"$json"
  assert_output --regexp '^[0-9]+$'
}

@test "husk info counts images" {
  fresh_store
  run_husk info --format json
  assert_equal "$(jq -r .store.imageStore.number <<<"$output")" 0 "images in a new store"

  run_husk import -q "$FIXTURE_ROOTFS" counted
  run_husk info --format json
  assert_equal "$(jq -r .store.imageStore.number <<<"$output")" 1 "images after an import"
}

@test "husk info with a Go template, and as text" {
  run_husk info --format '{{.Store.GraphRoot}}'
  assert_output "$HUSK_ROOT"
  run_husk info --format '{{.Host.Kernel}}'
  assert_output "$(uname -r)"

  run_husk info
  assert_output --partial "graphRoot: $HUSK_ROOT"
  assert_output --partial "runRoot: $HUSK_RUNROOT"
  assert_output --partial "kernel: $(uname -r)"
}

@test "--storage-driver vfs is used and reported" {
  fresh_store
  run_husk --storage-driver vfs info --format json
  assert_equal "$(jq -r .store.graphDriverName <<<"$output")" vfs graphDriverName

  run_husk --storage-driver=vfs import -q "$FIXTURE_ROOTFS" invfs
  run_husk --storage-driver vfs images --format '{{.Repository}}'
  assert_output "localhost/invfs"

  run_husk 125 --storage-driver nosuchdriver images
  assert_husk_error "nosuchdriver"
}

@test "--root, --runroot and --tmpdir place the store" {
  local r=$BATS_TEST_TMPDIR/r rr=$BATS_TEST_TMPDIR/rr t=$BATS_TEST_TMPDIR/t
  mkdir -p "$t"
  run timeout 60 "$HUSK_BINARY" --root "$r" --runroot "$rr" --tmpdir "$t" \
    import -q "$FIXTURE_ROOTFS" placed </dev/null
  assert_equal "$status" 0 "exit status"
  [[ -f $r/images/images.json ]] || fail "no $r/images/images.json"
  [[ -d $rr ]] || fail "runroot $rr not made"

  run timeout 60 "$HUSK_BINARY" --root="$r" --runroot="$rr" images \
    --format '{{.Repository}}:{{.Tag}}' </dev/null
  assert_output "localhost/placed:latest"

  # The per-file store did not get it.
  run_husk images --format '{{.Repository}}'
  refute_line "localhost/placed"
}

@test "--log-level takes the usual levels" {
  for level in debug info warn error; do
    run_husk --log-level "$level" images -q
    run_husk "--log-level=$level" images -q
  done
  run_husk 125 --log-level loud images
  assert_husk_error "loud"
}

@test "combined short flags, --flag=value and --flag value" {
  fresh_store
  run_husk import -q "$FIXTURE_ROOTFS" short
  local id=$output

  run_husk images -a -q
  local separate=$output
  run_husk images -aq
  assert_output "$separate"
  run_husk images -qa
  assert_output "$separate"
  assert_output "${id:0:12}"

  run_husk images --noheading --no-trunc -q
  strip_sha256
  assert_output "$id"
  run_husk images -nq --no-trunc
  strip_sha256
  assert_output "$id"

  run_husk images --format='{{.Repository}}'
  assert_output "localhost/short"
  run_husk images --format '{{.Repository}}'
  assert_output "localhost/short"
  run_husk images --filter=reference=short --format '{{.Tag}}'
  assert_output "latest"
}

@test "-- ends the flags" {
  fresh_store
  run_husk import -q -- "$FIXTURE_ROOTFS" dashdash
  assert_output --regexp "$ID64_RE"
  local id=$output

  run_husk images -q -- localhost/dashdash
  assert_output "${id:0:12}"
  assert_line_count 1

  # After --, "-q" is an argument (not a valid image name), not a flag.
  run_husk 125 inspect -- -q
  assert_husk_error
}
