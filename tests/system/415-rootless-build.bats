#!/usr/bin/env bats
# Rootless husk build: an unprivileged user with a subuid range, in
# cron's environment (env -i), builds with RUN and COPY --chown (ids of
# the subuid range inside the image), hits the cache on a rebuild, and a
# failed build leaves nothing behind.  The set-up is 250's
# (tests/system/rootless.bash).

load helpers
BUILD_CTX_READABLE=1
load build

ROOTLESS_TAG=build
load rootless

# A context directory the user can read: $ROOTLESS_DIR/ctx-N.
rootless_ctx() {
  CTX=$(mktemp -d "$ROOTLESS_DIR/ctx.XXXXXX")
  chmod 0755 "$CTX"
}

@test "rootless build: RUN and COPY --chown 1000:1000, then run the image" {
  rootless_ctx
  echo rootless-data >"$CTX/data"
  dockerfile 'FROM FROM_IMAGE
COPY --chown=1000:1000 data /data
RUN echo "ran as $(id -u)" > /ran && chown 1000:1000 /ran
CMD ["sh", "-c", "cat /data /ran; stat -c \"%u:%g\" /data /ran"]'
  run_rootless build -t rl "$CTX"
  [[ ${lines[-1]} =~ $ID64_RE ]] || fail "no image id"
  run_rootless run --rm rl
  assert_output "rootless-data
ran as 0
1000:1000
1000:1000"
  # On the host the files belong to the user's subordinate ids.
  local layer owner
  layer=$(rootless_husk image inspect rl | jq -r '.[0].RootFS.Layers[-2]')
  owner=$(stat -c '%u:%g' "$ROOTLESS_STORE/layers/${layer#sha256:}/diff/data")
  assert_equal "$owner" "$((SUBUID_START + 999)):$((SUBGID_START + 999))" "host owner of /data"
}

@test "rootless build: a rebuild hits the cache" {
  rootless_ctx
  echo x >"$CTX/x"
  dockerfile 'FROM FROM_IMAGE
COPY x /x
RUN echo built-once
CMD ["cat", "/x"]'
  run_rootless build "$CTX"
  local first=${lines[-1]}
  assert_line built-once
  run_rootless build "$CTX"
  assert_equal "${lines[-1]}" "$first" "id of the rebuild"
  assert_line --partial "Using cache"
  refute_line built-once
}

@test "rootless build: a failing RUN leaves no container and no temp dir" {
  rootless_ctx
  dockerfile 'FROM FROM_IMAGE
RUN exit 3'
  run_rootless 125 build "$CTX"
  assert_husk_error "exit status 3"
  run_rootless ps -a -q
  assert_output ""
  run ls -A "$ROOTLESS_STORE/tmp"
  assert_output ""
}

@test "rootless build: context on stdin as the user" {
  rootless_ctx
  echo from-tar >"$CTX/t"
  dockerfile 'FROM FROM_IMAGE
COPY t /t
CMD ["cat", "/t"]'
  tar -C "$CTX" -cf "$CTX.tar" Dockerfile t
  chmod a+r "$CTX.tar"
  run --separate-stderr as_user "$ROOTLESS_USER" "$ROOTLESS_HOME" "$ROOTLESS_DIR/husk" build -q -t rl-tar - <"$CTX.tar"
  [[ $status -eq 0 ]] || fail "build from stdin failed: $stderr"
  [[ $output =~ $ID64_RE ]] || fail "not an id: $output"
  run_rootless run --rm rl-tar
  assert_output from-tar
}
