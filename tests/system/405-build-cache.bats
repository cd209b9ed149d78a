#!/usr/bin/env bats
# husk build's step cache: a rebuild reuses every step ("Using cache",
# same id), a changed COPY source or --build-arg used by RUN is a miss
# from that step on, --no-cache and --layers=false rebuild, the cache
# outlives the invocation, intermediate images are hidden from `husk
# images` and shown by -a, concurrent builds of different Dockerfiles.

load helpers
load build

# cache_hits: how many "Using cache" lines the last build printed.
cache_hits() {
  local l n=0
  for l in "${lines[@]}"; do
    [[ $l == *"Using cache"* ]] && n=$((n + 1))
  done
  echo "$n"
}

four_steps() {
  echo one >"$CTX/a"
  echo two >"$CTX/b"
  dockerfile 'FROM FROM_IMAGE
RUN echo step-run-1
COPY a /a
ARG V=default
RUN echo step-run-2 "$V"
COPY b /b
RUN echo step-run-3
CMD ["cat", "/a", "/b"]'
}

@test "build cache: a rebuild uses the cache for every step and gives the same id" {
  four_steps
  build_ok -t cached "$CTX"
  local first=$IID
  ran step-run-1 || fail "the first build did not run RUN 1"
  assert_equal "$(cache_hits)" 0 "cache hits of the first build"

  build_ok -t cached "$CTX"
  assert_equal "$IID" "$first" "id of the rebuild"
  ran step-run-1 && fail "the rebuild ran a RUN step"
  ran "step-run-2 default" && fail "the rebuild ran a RUN step"
  # Every step after FROM that has something to cache: ARG, RUNs, COPYs, CMD.
  [[ $(cache_hits) -ge 5 ]] || fail "only $(cache_hits) cache hits"
  # No container is left by either build.
  run_husk ps -a -q
  assert_output ""
}

@test "build cache: a changed file in a COPY source misses from that step on" {
  four_steps
  build_ok "$CTX"
  local first=$IID
  echo changed >"$CTX/b"
  build_ok "$CTX"
  [[ $IID != "$first" ]] || fail "same id after a change"
  ran step-run-1 && fail "RUN 1 (before the change) ran again"
  ran "step-run-2 default" && fail "RUN 2 (before the change) ran again"
  ran step-run-3 || fail "RUN 3 (after the changed COPY) did not run"
  run_husk run --rm "$IID"
  assert_output "one
changed"

  # Only the content counts: a touched, unchanged file still hits.
  build_ok "$CTX"
  local second=$IID
  touch "$CTX/a"
  build_ok "$CTX"
  assert_equal "$IID" "$second" "id after a touch"
}

@test "build cache: a changed --build-arg used by RUN misses" {
  four_steps
  build_ok --build-arg V=x "$CTX"
  local first=$IID
  build_ok --build-arg V=x "$CTX"
  assert_equal "$IID" "$first"
  build_ok --build-arg V=y "$CTX"
  [[ $IID != "$first" ]] || fail "same id with another build arg"
  ran step-run-1 && fail "RUN 1 does not use V but ran again"
  ran "step-run-2 y" || fail "RUN 2 did not run with the new value"
}

@test "build cache: --no-cache and --layers=false rebuild everything" {
  four_steps
  build_ok "$CTX"
  build_ok --no-cache "$CTX"
  assert_equal "$(cache_hits)" 0 "cache hits with --no-cache"
  ran step-run-1 || fail "--no-cache did not run RUN 1"
  ran step-run-3 || fail "--no-cache did not run RUN 3"
  build_ok --layers=false "$CTX"
  assert_equal "$(cache_hits)" 0 "cache hits with --layers=false"
  ran step-run-1 || fail "--layers=false did not run RUN 1"
}

@test "build cache: the cache survives between invocations and the removal of the image" {
  four_steps
  build_ok "$CTX"
  local first=$IID
  # Another process, another context directory with the same content.
  cp -a "$CTX" "$BATS_TEST_TMPDIR/ctx2"
  build_ok "$BATS_TEST_TMPDIR/ctx2"
  assert_equal "$IID" "$first"
  ran step-run-1 && fail "a RUN step ran again"

  # Removing the image keeps the cache (intermediate images) until prune.
  run_husk rmi -f "$first"
  build_ok "$CTX"
  ran step-run-1 && fail "RUN 1 ran again after rmi of the final image"
  true
}

@test "build cache: husk images hides intermediate images, -a shows them" {
  four_steps
  build_ok -t visible "$CTX"
  local final=$IID
  run_husk images -q --no-trunc
  strip_sha256
  assert_line "$final"
  local shown=${#lines[@]}
  local plain=("${lines[@]}")
  run_husk images -a -q --no-trunc
  strip_sha256
  [[ ${#lines[@]} -gt $shown ]] ||
    fail "images -a shows ${#lines[@]} images, images $shown: no intermediate image"
  assert_line "$final"
  # What only -a shows is nameless: the cache's intermediate images.
  local id hidden=0
  for id in "${lines[@]}"; do
    [[ " ${plain[*]} " == *" $id "* ]] && continue
    hidden=$((hidden + 1))
    assert_equal "$(husk image inspect --format '{{len .RepoTags}}' "$id")" 0 "names of $id"
  done
  [[ $hidden -ge 3 ]] || fail "only $hidden intermediate images for 4 file-changing steps"
}

@test "build cache: two different Dockerfiles built at the same time both succeed" {
  mkdir -p "$BATS_TEST_TMPDIR/c1" "$BATS_TEST_TMPDIR/c2"
  printf 'FROM %s\nRUN echo one > /which && sleep 1\nRUN echo more >> /which\nCMD ["cat", "/which"]\n' \
    "$IMAGE" >"$BATS_TEST_TMPDIR/c1/Dockerfile"
  printf 'FROM %s\nRUN echo two > /which && sleep 1\nRUN echo more >> /which\nCMD ["cat", "/which"]\n' \
    "$IMAGE" >"$BATS_TEST_TMPDIR/c2/Dockerfile"
  husk build -q -t conc:one "$BATS_TEST_TMPDIR/c1" >"$BATS_TEST_TMPDIR/out1" 2>"$BATS_TEST_TMPDIR/err1" &
  local p1=$!
  husk build -q -t conc:two "$BATS_TEST_TMPDIR/c2" >"$BATS_TEST_TMPDIR/out2" 2>"$BATS_TEST_TMPDIR/err2" &
  local p2=$!
  local s1=0 s2=0
  wait "$p1" || s1=$?
  wait "$p2" || s2=$?
  [[ $s1 -eq 0 ]] || fail "first build failed ($s1): $(cat "$BATS_TEST_TMPDIR/err1")"
  [[ $s2 -eq 0 ]] || fail "second build failed ($s2): $(cat "$BATS_TEST_TMPDIR/err2")"
  run_husk run --rm conc:one
  assert_output "one
more"
  run_husk run --rm conc:two
  assert_output "two
more"
  run_husk ps -a -q
  assert_output ""
}
