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
#   HUSK_TEST_ROOTLESS=1  also run the system tests as an unprivileged user
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

run_bats() {
  local label=$1
  shift
  local args=(--tap)
  [[ -n ${BATS_FILTER:-} ]] && args+=(--filter "$BATS_FILTER")
  local before=$failed
  # bats prints "not ok" for a file whose setup_file fails, so every
  # failure shows up in the TAP stream; its exit status adds nothing.
  count_tap "$label" < <("$@" bats "${args[@]}" tests/system 2>&1 </dev/null |
    tee "$logs/system-$label.tap")
  if ! grep -q '^1\.\.' "$logs/system-$label.tap"; then
    failure "$label: bats did not run (see $logs/system-$label.tap)"
  fi
  echo "$label: $((failed - before)) failed"
}

if [[ ${HUSK_SKIP_SYSTEM:-0} != 1 ]]; then
  echo "== system tests (root)"
  if ! command -v bats >/dev/null; then
    failure "system: bats is not installed (tests/install-deps.sh)"
  else
    run_bats system
  fi

  # ---- HOOK: rootless system tests -------------------------------------
  # The design asks for the system tests to run again as an unprivileged
  # user with a subuid range.  Off until husk's rootless support lands;
  # HUSK_TEST_ROOTLESS=1 turns it on.  The user and its ranges are made
  # here; the checkout and build must be readable by that user.
  if [[ ${HUSK_TEST_ROOTLESS:-0} == 1 && $(id -u) -eq 0 ]]; then
    echo "== system tests (rootless)"
    user=${HUSK_TEST_USER:-husktest}
    if ! id "$user" >/dev/null 2>&1; then
      useradd --create-home --shell /bin/bash "$user"
    fi
    grep -q "^$user:" /etc/subuid || echo "$user:200000:65536" >>/etc/subuid
    grep -q "^$user:" /etc/subgid || echo "$user:200000:65536" >>/etc/subgid
    run_bats rootless runuser -u "$user" -- env HUSK_BINARY="$HUSK_BINARY" \
      HUSK_FIXTURES="/tmp/husk-fixtures-$user"
  fi
  # ---- end of hook ------------------------------------------------------
fi

summary
[[ $failed -eq 0 ]]
