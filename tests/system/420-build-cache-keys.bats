#!/usr/bin/env bats
# What is part of a build step's cache key beyond the instruction: the
# content a RUN --mount=type=bind reads from the build context (as COPY's
# sources, .dockerignore applied), and which build args count (the
# predefined proxy args only when the Dockerfile declares them, as
# Docker's builders do).

load helpers
load build

@test "build cache keys: RUN --mount=type=bind from the context misses when a file under the source changes" {
  mkdir -p "$CTX/src" "$CTX/other"
  echo one >"$CTX/src/data"
  echo x >"$CTX/other/file"
  dockerfile 'FROM FROM_IMAGE
RUN --mount=type=bind,source=src,target=/mnt echo "bound-$(cat /mnt/data)"
RUN echo after-bind'
  build_ok "$CTX"
  local first=$IID
  ran bound-one || fail "the first build did not run the RUN"

  build_ok "$CTX"
  assert_equal "$IID" "$first" "id of an unchanged rebuild"
  ran bound-one && fail "an unchanged rebuild ran the RUN"

  # Outside the bind's source: still a hit.
  echo y >"$CTX/other/file"
  build_ok "$CTX"
  assert_equal "$IID" "$first" "id after a change outside the source"

  echo two >"$CTX/src/data"
  build_ok "$CTX"
  [[ $IID != "$first" ]] || fail "same id after the bound file changed"
  ran bound-two || fail "the RUN did not run again with the changed file"
  ran after-bind || fail "the step after the changed RUN did not run"
}

@test "build cache keys: a bind with no type or source reads the whole context; .dockerignore'd files do not count" {
  echo one >"$CTX/data"
  echo junk >"$CTX/ignored.log"
  printf '*.log\n' >"$CTX/.dockerignore"
  dockerfile 'FROM FROM_IMAGE
RUN --mount=target=/ctx echo "whole-$(cat /ctx/data)"'
  build_ok "$CTX"
  local first=$IID
  ran whole-one || fail "the first build did not run the RUN"

  echo other-junk >"$CTX/ignored.log"
  build_ok "$CTX"
  assert_equal "$IID" "$first" "id after a change to an ignored file"
  ran whole-one && fail "a change to an ignored file ran the RUN again"

  echo two >"$CTX/data"
  build_ok "$CTX"
  [[ $IID != "$first" ]] || fail "same id after a file of the context changed"
  ran whole-two || fail "the RUN did not run again with the changed file"
}

@test "build cache keys: a bind source that is one file, and a mode change, are part of the key" {
  echo one >"$CTX/script.sh"
  chmod 0644 "$CTX/script.sh"
  dockerfile 'FROM FROM_IMAGE
RUN --mount=type=bind,src=script.sh,dst=/s.sh echo "mode-$(ls -l /s.sh | cut -c1-10)"'
  build_ok "$CTX"
  local first=$IID
  ran mode--rw-r--r-- || fail "the first build did not run the RUN"
  chmod 0755 "$CTX/script.sh"
  build_ok "$CTX"
  [[ $IID != "$first" ]] || fail "same id after the bound file's mode changed"
  ran mode--rwxr-xr-x || fail "the RUN did not run again after the mode change"
}

@test "build cache keys: an undeclared proxy build arg is not part of the key" {
  dockerfile 'FROM FROM_IMAGE
RUN echo "proxy-run"'
  build_ok --build-arg HTTP_PROXY=http://a.invalid:3128 --build-arg no_proxy=a "$CTX"
  local first=$IID
  ran proxy-run || fail "the first build did not run the RUN"
  build_ok --build-arg HTTP_PROXY=http://b.invalid:3128 --build-arg no_proxy=b "$CTX"
  assert_equal "$IID" "$first" "id with other proxy values"
  ran proxy-run && fail "another proxy value ran the RUN again"
  true
}

@test "build cache keys: a declared proxy arg is part of the key, as Docker's builders do" {
  # Docker: "All predefined ARG variables are exempt from caching unless
  # there is a matching ARG statement in the Dockerfile."
  dockerfile 'FROM FROM_IMAGE
ARG HTTP_PROXY
RUN echo "proxy=$HTTP_PROXY"'
  build_ok --build-arg HTTP_PROXY=http://a.invalid:3128 "$CTX"
  local first=$IID
  ran proxy=http://a.invalid:3128 || fail "the first build did not run the RUN"
  build_ok --build-arg HTTP_PROXY=http://b.invalid:3128 "$CTX"
  [[ $IID != "$first" ]] || fail "same id with another value of a declared proxy arg"
  ran proxy=http://b.invalid:3128 || fail "the RUN did not run with the new value"
}
