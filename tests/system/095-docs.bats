#!/usr/bin/env bats
# Documentation and completion: tests/docs-check.sh holds every man page,
# --help text and the bash completion against the command table (and runs
# the pages' runnable examples); the tests below drive the bash completion
# the way bash does, through COMP_WORDS/COMP_CWORD and _husk.

load helpers

setup_file() {
  load helpers
  fixtures
}

setup() {
  fixtures
}

# complete_husk WORD...: complete the last WORD of "husk WORD...", as bash
# does on TAB, in a fresh bash that sourced `husk completion bash`.  $output
# is COMPREPLY sorted, one candidate per line.  `husk` is the binary under
# test on this file's store, for the completions that ask husk itself
# (image names).
complete_husk() {
  run env HUSK_BINARY="$HUSK_BINARY" HUSK_ROOT="$HUSK_ROOT" HUSK_RUNROOT="$HUSK_RUNROOT" \
    bash --norc --noprofile -c '
      husk() { "$HUSK_BINARY" --root "$HUSK_ROOT" --runroot "$HUSK_RUNROOT" "$@"; }
      source <(husk completion bash) || exit 1
      COMP_WORDS=(husk "$@")
      COMP_CWORD=$#
      COMP_LINE="husk $*"
      COMP_POINT=${#COMP_LINE}
      COMPREPLY=()
      # Like bash, ignore what _husk returns: only COMPREPLY counts.
      _husk
      [[ ${#COMPREPLY[@]} -eq 0 ]] || printf "%s\n" "${COMPREPLY[@]}" | LC_ALL=C sort' _ "$@" </dev/null
  echo "\$ husk $* <TAB>: [exit $status]
$output" >&2
  assert_equal "$status" 0 "completion exit status"
}

@test "docs-check: man pages, --help and completion match the command table" {
  command -v scdoc >/dev/null || skip "scdoc is not installed: no man pages to check"
  local build
  build=$(dirname "$HUSK_BINARY")
  [[ -d $build/man ]] || skip "$build/man is missing: husk was built without man pages"
  run env HUSK_BINARY="$HUSK_BINARY" HUSK_FIXTURES="$HUSK_FIXTURES" \
    "$HUSK_REPO/tests/docs-check.sh" "$build"
  echo "$output" >&2
  assert_equal "$status" 0 "docs-check.sh exit status"
}

@test "completion bash: the script loads with no error in a fresh bash" {
  run --separate-stderr env HUSK_BINARY="$HUSK_BINARY" bash --norc --noprofile -c \
    'source <("$HUSK_BINARY" completion bash) && declare -F _husk && complete -p husk'
  assert_equal "$status" 0 "exit status"
  assert_equal "${stderr:-}" "" "stderr"
  assert_line "_husk"
  assert_line --partial "complete -F _husk husk"
}

@test "completion bash: commands at the top level" {
  # Whatever the table holds that starts with "ru" (run, once it exists).
  local expected
  expected=$("$HUSK_BINARY" __complete commands | grep '^ru' | LC_ALL=C sort)
  complete_husk ru
  assert_output "$expected"

  complete_husk im
  assert_output "image
images
import"

  complete_husk ''
  assert_line image
  assert_line version
  refute_line __complete
}

@test "completion bash: subcommands and aliases" {
  complete_husk image l
  assert_output "list
load
ls"

  complete_husk system ''
  assert_output "df
info
prune
reset"
}

@test "completion bash: flags of a command" {
  complete_husk save --fo
  assert_output "--format"

  complete_husk images --no
  assert_output "--no-trunc
--noheading"

  complete_husk image ls -
  assert_line --all
  assert_line -a
  assert_line --filter
  assert_line --help
}

@test "completion bash: values of a flag" {
  complete_husk save --format ''
  assert_output "docker-archive
oci-archive"

  complete_husk save --format o
  assert_output "oci-archive"

  complete_husk inspect --type ''
  assert_output "all
container
image"

  complete_husk --log-level ''
  assert_output "debug
error
info
warn"
}

@test "completion bash: global flags and their values are skipped" {
  complete_husk --root /tmp/x --storage-driver vfs image l
  assert_output "list
load
ls"

  complete_husk --log-level=debug save --fo
  assert_output "--format"
}

@test "completion bash: image names come from the store" {
  fresh_store
  run_husk import -q "$FIXTURE_ROOTFS" complme
  run_husk images -q
  local id=$output

  complete_husk rmi localhost/comp
  assert_output "localhost/complme:latest"

  complete_husk image inspect "${id:0:6}"
  assert_output "${id:0:12}"
}

@test "completion bash: container names and capabilities" {
  fresh_store
  run_husk import -q "$FIXTURE_ROOTFS" complme
  run_husk create --name compctr localhost/complme true
  local id=$output

  complete_husk rm compc
  assert_output "compctr"

  complete_husk container inspect "${id:0:6}"
  assert_output "${id:0:12}"

  complete_husk run --cap-add NET_BI
  assert_output "NET_BIND_SERVICE"
}

@test "completion zsh and fish: the scripts parse" {
  run_husk completion zsh
  assert_line --index 0 "#compdef husk"
  if command -v zsh >/dev/null; then
    run zsh -n <(husk completion zsh)
    assert_equal "$status" 0 "zsh -n"
  fi

  run_husk completion fish
  assert_output --partial "complete -c husk"
  if command -v fish >/dev/null; then
    run fish -n <(husk completion fish)
    assert_equal "$status" 0 "fish -n"
  fi

  run_husk 125 completion tcsh
  assert_husk_error "tcsh"
}
