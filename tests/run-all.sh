#!/bin/bash
# Build husk if needed and run every test: the formatting check, the cmocka
# unit tests (one count per test case), and the bats system tests.  The last
# line printed is the summary `N passed, N failed` (`, N skipped` when some
# were skipped); the exit status is non-zero when anything failed.
#
# Environment:
#   HUSK_BUILD_DIR   build directory (default: build)
#   HUSK_BINARY      husk to system-test (default: $HUSK_BUILD_DIR/husk)
#   HUSK_SKIP_FORMAT=1, HUSK_SKIP_UNIT=1, HUSK_SKIP_SYSTEM=1  skip a part
#   HUSK_TEST_ROOTLESS=1  as root, run the system tests a second time as an
#                    unprivileged user with a subuid range (HUSK_TEST_USER,
#                    default husktest; created if missing) under env -i;
#                    .ci/run sets it.  Both passes count in the summary.
#   BATS_FILTER      passed to bats --filter (a regex on test names)
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo" || exit 1
build=${HUSK_BUILD_DIR:-build}
case $build in
/*) ;;
*) build=$repo/$build ;;
esac
export HUSK_BINARY=${HUSK_BINARY:-$build/husk}
logs=$build/test-logs
passed=0 failed=0 skipped=0
failures=()

pass() { passed=$((passed + 1)); }
failure() {
  failed=$((failed + 1))
  failures+=("$1")
}

summary() {
  echo
  if [[ ${#failures[@]} -gt 0 ]]; then
    echo "Failed:"
    printf '  %s\n' "${failures[@]}"
  fi
  local line="$passed passed, $failed failed"
  [[ $skipped -gt 0 ]] && line+=", $skipped skipped"
  echo "$line"
}

# -- build -----------------------------------------------------------------
echo "== build ($build)"
if [[ ! -f $build/build.ninja ]]; then
  meson setup "$build" || {
    failure "build: meson setup"
    summary
    exit 1
  }
fi
if ! ninja -C "$build"; then
  failure "build: ninja"
  summary
  exit 1
fi
mkdir -p "$logs"

# -- formatting (one test) -------------------------------------------------
if [[ ${HUSK_SKIP_FORMAT:-0} != 1 ]]; then
  echo "== clang-format"
  mapfile -t sources < <(find src include -name '*.[ch]' 2>/dev/null
    find tests/unit -maxdepth 1 -name '*.c' 2>/dev/null)
  if [[ ${#sources[@]} -eq 0 ]]; then
    pass
  elif clang-format --dry-run -Werror "${sources[@]}" >"$logs/format.log" 2>&1; then
    echo "ok: ${#sources[@]} files formatted"
    pass
  else
    bad_files=$(grep 'error:' "$logs/format.log" | cut -d: -f1 | sort -u)
    echo "$bad_files" | sed 's/^/  not formatted: /'
    failure "clang-format: $(echo "$bad_files" | wc -l) files not formatted (clang-format -i them; see $logs/format.log)"
  fi
fi

# -- unit tests --------------------------------------------------------------
# cmocka prints "[ RUN      ] name" then "[       OK ] name", "[  FAILED  ]
# name" or "[  SKIPPED ] name" for each test case (CMOCKA_MESSAGE_OUTPUT=
# stdout, set in tests/unit/meson.build).  A binary that fails without
# naming a failed case (crash, leak, bad main) counts as one failure.
count_unit() {
  local testlog=$1 name result out
  while IFS=$'\t' read -r name result; do
    out=$(jq -r --arg n "$name" 'select(.name == $n) | .stdout // ""' "$testlog")
    local ran=0 ok=0 bad=0 skip=0 case_name
    while IFS= read -r case_name; do
      ran=$((ran + 1))
      if grep -qxF "[       OK ] $case_name" <<<"$out"; then
        ok=$((ok + 1))
        pass
      elif grep -qxF "[  SKIPPED ] $case_name" <<<"$out"; then
        skip=$((skip + 1))
        skipped=$((skipped + 1))
      else
        bad=$((bad + 1))
        failure "unit/$name: $case_name"
      fi
    done < <(sed -n 's/^\[ RUN      \] //p' <<<"$out")
    if [[ $ran -eq 0 ]]; then
      case $result in
      OK) pass ;;
      SKIP)
        skipped=$((skipped + 1))
        ;;
      *) failure "unit/$name ($result)" ;;
      esac
    elif [[ $result != OK && $result != SKIP && $bad -eq 0 ]]; then
      failure "unit/$name ($result after its cases passed)"
    fi
    echo "unit/$name: $ok ok, $bad failed, $skip skipped ($result)"
  done < <(jq -r 'select(.name != null) | [.name, .result] | @tsv' "$testlog")
}

if [[ ${HUSK_SKIP_UNIT:-0} != 1 ]]; then
  echo "== unit tests"
  rm -f "$build/meson-logs/testlog.json"
  meson test -C "$build" --suite unit --print-errorlogs >"$logs/unit.log" 2>&1
  unit_rc=$?
  tail -n 25 "$logs/unit.log"
  if [[ -s $build/meson-logs/testlog.json ]]; then
    count_unit "$build/meson-logs/testlog.json"
  elif grep -q 'No suitable tests defined\|No tests defined' "$logs/unit.log"; then
    echo "(no unit tests defined yet)"
  elif [[ $unit_rc -ne 0 ]]; then
    failure "unit: meson test failed to run (see $logs/unit.log)"
  fi
fi

# -- system tests ----------------------------------------------------------
# count_tap LABEL < TAP: count bats' TAP lines, echoing them.
count_tap() {
  local label=$1 line
  while IFS= read -r line; do
    printf '%s\n' "$line"
    case $line in
    "ok "*" # skip"*) skipped=$((skipped + 1)) ;;
    "ok "*) pass ;;
    "not ok "*" # TODO"*) skipped=$((skipped + 1)) ;;
    "not ok "*)
      local name=${line#not ok }
      failure "$label: ${name#* }"
      ;;
    esac
  done
}

# run_bats LABEL [BATS_COMMAND...]: the system tests, run by BATS_COMMAND
# (default: bats), counted under LABEL.
run_bats() {
  local label=$1
  shift
  [[ $# -gt 0 ]] || set -- bats
  local args=(--tap)
  [[ -n ${BATS_FILTER:-} ]] && args+=(--filter "$BATS_FILTER")
  local before=$failed
  # bats prints "not ok" for a file whose setup_file fails, so every
  # failure shows up in the TAP stream; its exit status adds nothing.
  count_tap "$label" < <("$@" "${args[@]}" tests/system 2>&1 </dev/null |
    tee "$logs/system-$label.tap")
  if ! grep -q '^1\.\.' "$logs/system-$label.tap"; then
    failure "$label: bats did not run (see $logs/system-$label.tap)"
  fi
  echo "$label: $((failed - before)) failed"
}

# run_rootless_bats USER: the system tests again as USER (created with a
# subuid/subgid range if missing), in cron's environment: env -i with only
# HOME and PATH=/usr/bin:/bin, so no XDG_RUNTIME_DIR, no session, no TTY
# (runuser alone would pass root's environment on).  HOME and TMPDIR are
# a fresh directory that root removes afterwards: rootless stores hold
# files of the user's subordinate ids, which the user cannot delete.
run_rootless_bats() {
  local user=$1 tmp
  if ! bash tests/unit/rootless-user.sh "$user" >"$logs/rootless-user.log" 2>&1; then
    failure "rootless: tests/unit/rootless-user.sh $user failed (see $logs/rootless-user.log)"
    return
  fi
  if ! runuser -u "$user" -- test -x "$HUSK_BINARY" -a -r "$repo/tests/system/helpers.bash"; then
    failure "rootless: $user cannot run $HUSK_BINARY or read $repo/tests (make the checkout and build readable: chmod o+rX)"
    return
  fi
  tmp=$(mktemp -d /tmp/husk-rootless-tests.XXXXXX) || {
    failure "rootless: mktemp failed"
    return
  }
  mkdir "$tmp/home"
  chown "$user:" "$tmp" "$tmp/home"
  chmod 0755 "$tmp"
  local envs=(HOME="$tmp/home" PATH=/usr/bin:/bin TMPDIR="$tmp"
    HUSK_BINARY="$HUSK_BINARY" HUSK_FIXTURES="$tmp/fixtures")
  [[ -n ${HUSK_TEST_TIMEOUT:-} ]] && envs+=(HUSK_TEST_TIMEOUT="$HUSK_TEST_TIMEOUT")
  [[ -n ${HUSK_TEST_STORAGE_DRIVER:-} ]] &&
    envs+=(HUSK_TEST_STORAGE_DRIVER="$HUSK_TEST_STORAGE_DRIVER")
  # bats cannot remove its own temp dir here (see above): root does.
  run_bats rootless runuser -u "$user" -- env -i "${envs[@]}" \
    bats --no-tempdir-cleanup
  rm -rf "$tmp"
}

if [[ ${HUSK_SKIP_SYSTEM:-0} != 1 ]]; then
  echo "== system tests (root)"
  if ! command -v bats >/dev/null; then
    failure "system: bats is not installed (tests/install-deps.sh)"
  else
    SECONDS=0
    run_bats system
    echo "system: $((SECONDS / 60))m$((SECONDS % 60))s"

    # The design asks for the system tests to run again as an unprivileged
    # user with a subuid range (DESIGN.md section 1): HUSK_TEST_ROOTLESS=1
    # (set by .ci/run) does, as root; HUSK_TEST_USER names the user.
    if [[ ${HUSK_TEST_ROOTLESS:-0} == 1 ]]; then
      echo "== system tests (rootless)"
      if [[ $(id -u) -ne 0 ]]; then
        echo "(skipped: only root can create the test user)"
      else
        SECONDS=0
        run_rootless_bats "${HUSK_TEST_USER:-husktest}"
        echo "rootless: $((SECONDS / 60))m$((SECONDS % 60))s"
      fi
    fi
  fi
fi

summary
[[ $failed -eq 0 ]]
