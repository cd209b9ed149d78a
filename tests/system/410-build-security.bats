#!/usr/bin/env bats
# husk build and the host: COPY ../ and symlinks out of the context copy
# no host file; RUN --mount=type=bind,from=STAGE resolves inside the
# stage (CVE-2024-1753); bad input fails with exit 125, "Error:", the
# file:line at fault, and leaves no image, container, mount or temp dir.

load helpers
load build

# A file on the host that no build may read.
make_canary() {
  CANARY=$1
  echo "host-canary-$$-$RANDOM" >"$CANARY"
  CANARY_TEXT=$(cat "$CANARY")
}

# What a failed build may not leave: images (-a: intermediate ones
# included), containers, mounts under the store, temp dirs.
snapshot_state() {
  STATE_IMAGES=$(husk images -a -q --no-trunc | LC_ALL=C sort)
  STATE_TMP=$(ls -A "$HUSK_ROOT/tmp" 2>/dev/null | LC_ALL=C sort)
}

assert_no_leftovers() {
  assert_equal "$(husk images -a -q --no-trunc | LC_ALL=C sort)" "$STATE_IMAGES" "images -a after a failed build"
  assert_equal "$(husk ps -a -q)" "" "containers after a failed build"
  assert_equal "$(ls -A "$HUSK_ROOT/tmp" 2>/dev/null | LC_ALL=C sort)" "$STATE_TMP" "the store's tmp dir"
  if grep -F -- "$HUSK_ROOT" /proc/self/mountinfo; then
    fail "a mount under the store is left"
  fi
  if grep -F -- "$HUSK_RUNROOT" /proc/self/mountinfo; then
    fail "a mount under the runroot is left"
  fi
  return 0
}

# bad_build SUBSTRING [BUILD ARGS...]: the build of $CTX fails as bad
# input must, the message containing SUBSTRING, and leaves nothing.
bad_build() {
  local substring=$1
  shift
  snapshot_state
  run_husk '?' build "$@" "$CTX"
  assert_husk_error "$substring"
  assert_no_leftovers
}

@test "build security: COPY ../ stays in the context" {
  make_canary "$BATS_TEST_TMPDIR/outside.txt"
  dockerfile 'FROM FROM_IMAGE
COPY ../outside.txt /got'
  run_husk '?' build -t escape1 "$CTX"
  if [[ $status -eq 0 ]]; then
    run_husk run --rm escape1 cat /got
    refute_output --partial "$CANARY_TEXT"
  else
    assert_husk_error
  fi
  dockerfile 'FROM FROM_IMAGE
COPY / /ctx/
CMD ["sh", "-c", "cat $(find /ctx -type f) 2>/dev/null; true"]'
  build_ok -t escape2 "$CTX"
  run_husk run --rm escape2
  refute_output --partial "$CANARY_TEXT"
}

@test "build security: a symlink in the context pointing outside copies no host file" {
  make_canary "/tmp/husk-build-canary-$$"
  ln -s "$CANARY" "$CTX/abs-link"
  ln -s "../../../../../../../../$CANARY" "$CTX/rel-link"
  mkdir -p "$CTX/d"
  ln -s /tmp "$CTX/d/tmpdir"
  dockerfile 'FROM FROM_IMAGE
COPY . /ctx/
CMD ["sh", "-c", "for f in /ctx/abs-link /ctx/rel-link /ctx/d/tmpdir/$(basename '"$CANARY"'); do cat $f 2>/dev/null; done; true"]'
  build_ok -t links "$CTX"
  run_husk run --rm links
  refute_output --partial "$CANARY_TEXT"

  # Naming the symlink as the source follows it inside the context only.
  for src in abs-link rel-link "d/tmpdir/$(basename "$CANARY")"; do
    dockerfile "FROM FROM_IMAGE
COPY $src /got
CMD [\"cat\", \"/got\"]"
    run_husk '?' build -t "link-src" "$CTX"
    if [[ $status -eq 0 ]]; then
      run_husk '?' run --rm link-src
      refute_output --partial "$CANARY_TEXT"
    else
      assert_husk_error
    fi
  done
}

@test "build security: RUN --mount from a stage's symlink to / mounts the stage's root, not the host's (CVE-2024-1753)" {
  make_canary "/tmp/husk-cve-2024-1753-canary-$$"
  local name
  name=$(basename "$CANARY")
  dockerfile "FROM FROM_IMAGE AS stage
RUN ln -s / /rootdir && echo stage-marker > /stage-marker
FROM FROM_IMAGE
RUN --mount=type=bind,from=stage,source=/rootdir,target=/mnt ls /mnt /mnt/tmp; cat /mnt/stage-marker; cat /mnt/tmp/husk-cve-2024-1753-canary-* 2>/dev/null; true"
  run_husk '?' build "$CTX"
  # Either the bind is refused, or it shows the stage's root.
  refute_output --partial "$name"
  refute_output --partial "$CANARY_TEXT"
  if [[ $status -eq 0 ]]; then
    assert_line stage-marker
  else
    assert_husk_error
  fi
  # The host file is intact.
  assert_equal "$(cat "$CANARY")" "$CANARY_TEXT"
}

@test "build bad input: unknown instruction (file:line)" {
  dockerfile 'FROM FROM_IMAGE
RUN true
FROBNICATE now'
  bad_build "Dockerfile:3"
  [[ $stderr == *FROBNICATE* || ${stderr,,} == *frobnicate* ]] || fail "the message does not name the instruction"
}

@test "build bad input: no FROM" {
  dockerfile 'RUN echo no base'
  bad_build "FROM"
}

@test "build bad input: COPY of a missing file" {
  # Nothing before the failing step: no cache entry may be left either.
  dockerfile 'FROM FROM_IMAGE
# the next line fails
COPY missing-file /x'
  bad_build "missing-file"
  [[ $stderr == *Dockerfile:3* ]] || fail "the message does not give Dockerfile:3: $stderr"
}

@test "build bad input: a RUN that fails names the command and its status" {
  dockerfile 'FROM FROM_IMAGE
# the next line fails
RUN echo fine; sh -c "exit 7"'
  bad_build 'sh -c "exit 7"'
  [[ $stderr == *"status 7"* || $stderr == *"code 7"* ]] ||
    fail "the message does not give the exit status 7: $stderr"
  [[ $stderr == *Dockerfile:3:* ]] || fail "the message does not give Dockerfile:3: $stderr"
}

@test "build bad input: --target naming no stage" {
  dockerfile 'FROM FROM_IMAGE AS one
RUN true'
  bad_build "nosuchstage" --target nosuchstage
}

@test "build bad input: COPY --from a later stage and a cycle" {
  # a needs b (declared later), b needs a: a cycle through a forward
  # reference.
  dockerfile 'FROM FROM_IMAGE AS a
COPY --from=b /etc/hostname /x
FROM FROM_IMAGE AS b
COPY --from=a /x /y'
  bad_build "Dockerfile:2"
  dockerfile 'FROM FROM_IMAGE AS a
COPY --from=a /etc/passwd /x'
  bad_build "Dockerfile:2"
}

@test "build bad input: an empty context directory with no Dockerfile" {
  snapshot_state
  run_husk 125 build "$CTX"
  assert_husk_error "no Containerfile or Dockerfile specified or found in context directory"
  [[ $stderr == *"$CTX"* ]] || fail "the message does not name the directory"
  assert_no_leftovers
  run_husk 125 build -f "$CTX/nope" "$CTX"
  assert_husk_error "nope"
}

@test "build bad input: 10 MB of continuation lines fail quickly" {
  {
    echo "FROM $IMAGE"
    printf 'RUN echo start \\\n'
    yes '    x \' | head -n 1300000
    echo '    end'
    echo 'FROBNICATE end'
  } >"$CTX/Dockerfile"
  snapshot_state
  # husk () kills a hang after HUSK_TEST_TIMEOUT: no timing here.
  run_husk '?' build "$CTX"
  assert_husk_error "Dockerfile:1300004"
  assert_no_leftovers
}

@test "build bad input: a missing base image with --pull=never" {
  dockerfile 'FROM localhost/no-such-image:latest
RUN true'
  bad_build "no-such-image" --pull=never
}

@test "build killed with SIGKILL during a RUN: the RUN dies with it, the next store writer removes its scratch dir" {
  dockerfile 'FROM FROM_IMAGE
RUN touch /started; sleep 60'
  snapshot_state
  "$HUSK_BINARY" --root "$HUSK_ROOT" --runroot "$HUSK_RUNROOT" build "$CTX" >"$BATS_TEST_TMPDIR/out" 2>&1 &
  local pid=$! i
  for ((i = 0; i < 100; i++)); do
    grep -q 'STEP 2/2' "$BATS_TEST_TMPDIR/out" && pgrep -f 'sleep 60' >/dev/null && break
    sleep 0.1
  done
  ls -d "$HUSK_ROOT"/tmp/build-* >/dev/null || fail "no scratch dir while the build runs"
  kill -9 "$pid"
  wait "$pid" || true
  for ((i = 0; i < 50; i++)); do
    pgrep -f 'touch /started; sleep 60' >/dev/null || break
    sleep 0.1
  done
  if pgrep -f 'touch /started; sleep 60'; then
    fail "the RUN outlived the build"
  fi
  # Any command that takes the store's exclusive lock repairs it.
  run_husk tag "$IMAGE" kill-test:latest
  run_husk rmi kill-test:latest
  assert_no_leftovers
}
