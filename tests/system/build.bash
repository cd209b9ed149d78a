# -*- bash -*-
# The set-up and helpers shared by the husk build tests (400, 405, 410,
# 420; 415 takes only the helpers): every test gets a store of its own and
# an empty context directory $CTX.  Load it after helpers.  A file with a
# set-up of its own (415's rootless.bash) loads that after this one: the
# set-up functions loaded last are the ones bats runs.  With
# BUILD_CTX_READABLE set, dockerfile also makes $CTX readable to everyone
# (a build as another user).

setup_file() {
  load helpers
  ctr_setup_file
}

setup() {
  ctr_setup
  CTX=$BATS_TEST_TMPDIR/ctx
  mkdir -p "$CTX"
  # Set by the tests that start an HTTP server or write a host file.
  HTTP_PID=
  CANARY=
}

teardown() {
  if [[ -n ${HTTP_PID:-} ]]; then
    kill "$HTTP_PID" 2>/dev/null || true
    wait "$HTTP_PID" 2>/dev/null || true
  fi
  [[ -n ${CANARY:-} ]] && rm -f "$CANARY"
  ctr_cleanup
}

# dockerfile TEXT [NAME]: write $CTX/NAME (Dockerfile) (FROM_IMAGE in TEXT
# stands for the fixture image).
dockerfile() {
  printf '%s\n' "${1//FROM_IMAGE/$IMAGE}" >"$CTX/${2:-Dockerfile}"
  if [[ -n ${BUILD_CTX_READABLE:-} ]]; then
    chmod -R a+rX "$CTX"
  fi
}

# build_ok ARGS...: husk build ARGS (context $CTX unless ARGS end in one)
# must succeed and print the full image id on its last line: $IID.
build_ok() {
  run_husk build "$@"
  IID=${lines[-1]}
  [[ $IID =~ $ID64_RE ]] || fail "the last line of build's output is not an image id: '$IID'"
}

# ran MARK: the last build ran the RUN step that printed MARK (its output
# shows up).
ran() {
  local l
  for l in "${lines[@]}"; do
    [[ $l == "$1" ]] && return 0
  done
  return 1
}
