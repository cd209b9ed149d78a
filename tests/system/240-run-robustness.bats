#!/usr/bin/env bats
# husk run robustness (issue 3, section 5): an image of 200 layers runs; a
# container whose monitor was SIGKILLed shows as exited and can be
# removed; a wiped runroot (a reboot) leaves no ghost; two `rm -f` at once;
# 20 parallel `run --rm`.

load helpers

setup_file() {
  load helpers
  ctr_setup_file
}

setup() {
  ctr_setup
}

teardown() {
  ctr_cleanup
}

# monitor_pid NAME: the monitor's pid recorded in the container's state.
monitor_pid() {
  local id
  id=$(ctr_json "$1" .Id) || return 1
  jq -r '.MonitorPid' "$HUSK_ROOT/containers/$id/state.json"
}

# wait_gone PID [SECONDS]: wait until process PID no longer exists.
wait_gone() {
  local i
  for i in $(seq 1 $((${2:-10} * 10))); do
    kill -0 "$1" 2>/dev/null || return 0
    # A zombie is gone for our purpose.
    [[ $(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) == Z ]] && return 0
    sleep 0.1
  done
  fail "process $1 is still there"
}

@test "an image of 200 layers runs" {
  local arch
  arch=$(husk image inspect --format '{{.Architecture}}' "$IMAGE")
  "$(_husk_python)" "$HUSK_REPO/tests/fixtures/mklayers.py" \
    "$BATS_TEST_TMPDIR/many.tar" 200 "$FIXTURE_ROOTFS" "$arch" \
    localhost/many-layers:latest >/dev/null
  run_husk load -q -i "$BATS_TEST_TMPDIR/many.tar"
  run_husk image inspect --format '{{len .RootFS.Layers}}' localhost/many-layers:latest
  assert_output 200
  run_husk run --rm localhost/many-layers:latest sh -c 'ls /layers | wc -l; cat /layers/top /layers/f2 /layers/f200'
  # f2..f200 and top; the last layer's top wins.
  assert_output $'200\n200\n2\n200'
  # Writes land in the container's own upper dir.
  run_husk run --rm localhost/many-layers:latest sh -c 'echo new >/layers/top && cat /layers/top'
  assert_output new
  run_husk run --rm localhost/many-layers:latest cat /layers/top
  assert_output 200
}

@test "a container whose monitor was SIGKILLed shows as exited and can be removed" {
  run_husk run -d --name mkilled "$IMAGE" sleep 1000
  local id=$output mon pid
  mon=$(monitor_pid mkilled)
  pid=$(ctr_json mkilled .State.Pid)
  [[ $mon =~ ^[0-9]+$ && $mon -gt 0 ]] || fail "no monitor pid in the state: '$mon'"
  kill -0 "$mon" || fail "the monitor $mon is not running"
  run ctr_json mkilled .State.Status
  assert_output running

  kill -9 "$mon"
  wait_gone "$mon"
  run ctr_json mkilled .State.Status
  assert_output exited
  run_husk ps -q --no-trunc
  refute_line "$id"
  run_husk ps -a -q --no-trunc
  assert_line "$id"

  run_husk rm mkilled
  run_husk ps -a -q
  assert_output ""
  assert_equal "$(ctr_dirs)" "" "container directories"
  # The container's process did not outlive its record.
  wait_gone "$pid"
}

@test "a wiped runroot (a reboot) leaves no ghost" {
  run_husk run -d --name ghost "$IMAGE" sleep 1000
  local id=$output mon pid
  mon=$(monitor_pid ghost)
  pid=$(ctr_json ghost .State.Pid)
  kill -9 "$mon"
  wait_gone "$mon"
  # What a reboot would have done: no process, no runroot.
  [[ $pid -gt 0 ]] && kill -9 "$pid" 2>/dev/null
  wait_gone "$pid"
  rm -rf "$HUSK_RUNROOT"

  run_husk ps -q
  assert_output ""
  run_husk ps -a --no-trunc --format '{{.ID}} {{.Status}}'
  assert_line --regexp "^$id (Exited|exited)"
  run ctr_json ghost .State.Status
  assert_output exited
  run_husk rm ghost
  run_husk ps -a -q
  assert_output ""
  assert_equal "$(ctr_dirs)" "" "container directories"
  # And husk works on the new runroot.
  run_husk run --rm "$IMAGE" echo after-reboot
  assert_output after-reboot
}

@test "a recorded running container whose runroot vanished (monitor alive) is not broken" {
  # The runroot wiped under a live monitor: the record must still be
  # removable with -f, and nothing may be left running.
  run_husk run -d --name wiped "$IMAGE" sleep 1000
  local mon pid
  mon=$(monitor_pid wiped)
  pid=$(ctr_json wiped .State.Pid)
  rm -rf "$HUSK_RUNROOT"
  run_husk rm -f wiped
  run_husk ps -a -q
  assert_output ""
  wait_gone "$pid"
  wait_gone "$mon"
}

@test "two rm -f of the same container at once: one removes it, the other says it is gone" {
  run_husk run -d --name twice "$IMAGE" sleep 1000
  local pid
  pid=$(ctr_json twice .State.Pid)
  local d=$BATS_TEST_TMPDIR
  husk rm -f twice >"$d/out1" 2>"$d/err1" &
  local p1=$!
  husk rm -f twice >"$d/out2" 2>"$d/err2" &
  local p2=$!
  local s1=0 s2=0
  wait "$p1" || s1=$?
  wait "$p2" || s2=$?
  echo "rm 1: exit $s1, out '$(cat "$d/out1")', err '$(cat "$d/err1")'" >&2
  echo "rm 2: exit $s2, out '$(cat "$d/out2")', err '$(cat "$d/err2")'" >&2
  [[ $s1 -eq 0 || $s2 -eq 0 ]] || fail "neither rm -f succeeded"
  local i
  for i in 1 2; do
    local s
    s=$([[ $i == 1 ]] && echo "$s1" || echo "$s2")
    if [[ $s -ne 0 ]]; then
      grep -qi "no such container\|no container with name or id" "$d/err$i" ||
        fail "rm $i failed without saying the container is gone: $(cat "$d/err$i")"
    fi
  done
  run_husk ps -a -q
  assert_output ""
  assert_equal "$(ctr_dirs)" "" "container directories"
  wait_gone "$pid"
  # The store is sound: the name is free again, the index parses.
  jq -e . "$HUSK_ROOT/containers/containers.json" >/dev/null ||
    fail "containers.json is not valid JSON"
  run_husk run --rm --name twice "$IMAGE" echo reused
  assert_output reused
}

@test "20 parallel run --rm all succeed and leave nothing" {
  local d=$BATS_TEST_TMPDIR i pids=()
  for i in $(seq 1 20); do
    husk run --rm "$IMAGE" sh -c "echo par-$i" >"$d/out$i" 2>"$d/err$i" &
    pids+=($!)
  done
  local failed=0
  for i in $(seq 1 20); do
    local s=0
    wait "${pids[$((i - 1))]}" || s=$?
    if [[ $s -ne 0 || $(cat "$d/out$i") != "par-$i" ]]; then
      echo "run $i: exit $s, out '$(cat "$d/out$i")', err '$(cat "$d/err$i")'" >&2
      failed=$((failed + 1))
    fi
  done
  [[ $failed -eq 0 ]] || fail "$failed of 20 parallel runs failed"
  run_husk ps -a -q
  assert_output ""
  assert_equal "$(ctr_dirs)" "" "container directories"
}

@test "parallel create and rm with names: no lost or duplicated record" {
  local d=$BATS_TEST_TMPDIR i pids=()
  for i in $(seq 1 10); do
    husk create --name "par$i" "$IMAGE" true >"$d/out$i" 2>"$d/err$i" &
    pids+=($!)
  done
  for i in "${pids[@]}"; do
    wait "$i" || fail "a parallel create failed: $(cat "$d"/err*)"
  done
  run_husk ps -a --format '{{.Names}}'
  assert_line_count 10
  run_husk ps -a --format '{{.Names}}'
  for i in $(seq 1 10); do
    assert_line "par$i"
  done
  pids=()
  for i in $(seq 1 10); do
    husk rm "par$i" >/dev/null 2>"$d/rmerr$i" &
    pids+=($!)
  done
  for i in "${pids[@]}"; do
    wait "$i" || fail "a parallel rm failed: $(cat "$d"/rmerr*)"
  done
  run_husk ps -a -q
  assert_output ""
  assert_equal "$(ctr_dirs)" "" "container directories"
}

@test "--userns: host is the default and accepted; Podman's other modes are refused with the reason, nothing created" {
  run_husk run --rm --userns=host "$IMAGE" echo ok
  assert_output ok
  run_husk run --rm --userns= "$IMAGE" echo ok
  assert_output ok
  local before
  before=$(store_snapshot)
  for mode in keep-id keep-id:uid=5 auto nomap private ns:/proc/1/ns/user; do
    run_husk 125 run --rm --userns="$mode" "$IMAGE" true
    assert_husk_error "is not supported"
  done
  run_husk 125 create --userns=bogus "$IMAGE" true
  assert_husk_error 'invalid --userns "bogus"'
  assert_store_unchanged "$before"
}
