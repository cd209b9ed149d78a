#!/usr/bin/env bats
# husk stop, restart, kill, rm, wait, container prune and container exists
# against real containers, and their bad input (exit 125, "Error: ...",
# the store unchanged).

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

# bg NAME [RUN_OPTIONS...] -- COMMAND...: a detached container NAME.
bg() {
  local name=$1
  shift
  local opts=()
  while [[ $# -gt 0 && $1 != -- ]]; do
    opts+=("$1")
    shift
  done
  [[ ${1:-} == -- ]] && shift
  run_husk run -d --name "$name" "${opts[@]}" "$IMAGE" "$@"
  assert_output --regexp "$ID64_RE"
}

# The container's full id.
ctr_id() {
  husk container inspect -f '{{.Id}}' "$1"
}

# ms since the epoch.
now_ms() {
  date +%s%3N
}

# -- stop ----------------------------------------------------------------------

@test "stop: a running container stops, prints the argument, exit code recorded" {
  bg s1 -- sh -c 'trap "exit 3" TERM; while :; do sleep 0.1; done'
  ctr_wait_status s1 running
  run_husk stop s1
  assert_output "s1"
  assert_equal "$(ctr_status s1)" exited
  assert_equal "$(ctr_json s1 .State.ExitCode)" 3
  run_husk wait s1
  assert_output "3"
}

@test "stop: created and exited containers are not an error" {
  run_husk create --name c1 "$IMAGE" true
  run_husk stop c1
  assert_output "c1"
  assert_equal "$(ctr_status c1)" created
  run_husk run --name e1 "$IMAGE" true
  run_husk stop e1
  assert_output "e1"
}

@test "stop -t 1: a container that ignores SIGTERM is killed after ~1 s (137)" {
  bg t1 -- sh -c 'trap "" TERM; while :; do sleep 0.1; done'
  ctr_wait_status t1 running
  local t0 t1
  t0=$(now_ms)
  run_husk stop -t 1 t1
  t1=$(now_ms)
  assert_output "t1"
  assert_equal "$(ctr_json t1 .State.ExitCode)" 137
  (( t1 - t0 >= 900 )) || fail "stopped after $((t1 - t0)) ms, before the timeout"
  (( t1 - t0 < 6000 )) || fail "stop took $((t1 - t0)) ms"
}

@test "stop: --stop-signal and --stop-timeout from run are used" {
  bg ss --stop-signal USR1 -- sh -c 'trap "exit 42" USR1; trap "" TERM; while :; do sleep 0.1; done'
  ctr_wait_status ss running
  run_husk stop ss
  assert_equal "$(ctr_json ss .State.ExitCode)" 42

  bg st --stop-timeout 1 -- sh -c 'trap "" TERM; while :; do sleep 0.1; done'
  ctr_wait_status st running
  local t0 t1
  t0=$(now_ms)
  run_husk stop st
  t1=$(now_ms)
  assert_equal "$(ctr_json st .State.ExitCode)" 137
  (( t1 - t0 < 6000 )) || fail "stop took $((t1 - t0)) ms with --stop-timeout 1"
}

@test "stop -a stops every running container; several arguments, one unknown" {
  bg a1 -- sleep 1000
  bg a2 -- sleep 1000
  run_husk stop -t 0 -a
  assert_line "$(ctr_id a1)"
  assert_line "$(ctr_id a2)"
  assert_equal "$(ctr_status a1)" exited
  assert_equal "$(ctr_status a2)" exited

  bg a3 -- sleep 1000
  run_husk 125 stop -t 0 a3 nosuch a1
  assert_line "a3"
  assert_line "a1"
  [[ $stderr == *'no container with name or ID "nosuch" found'* ]] || fail "stderr: $stderr"
  assert_equal "$(ctr_status a3)" exited
}

# -- restart -------------------------------------------------------------------

@test "restart: a running container gets a new process; an exited one starts" {
  bg r1 -- sleep 1000
  ctr_wait_status r1 running
  local pid1 pid2
  pid1=$(ctr_json r1 .State.Pid)
  run_husk restart -t 0 r1
  assert_output "r1"
  ctr_wait_status r1 running
  pid2=$(ctr_json r1 .State.Pid)
  [[ $pid1 != "$pid2" ]] || fail "same pid $pid1 after restart"

  run_husk run --name r2 "$IMAGE" true
  run_husk restart r2
  assert_output "r2"
}

# -- kill ----------------------------------------------------------------------

@test "kill: default SIGKILL gives 137" {
  bg k1 -- sleep 1000
  ctr_wait_status k1 running
  run_husk kill k1
  assert_output "k1"
  run_husk wait k1
  assert_output "137"
}

@test "kill -s USR1 reaches a shell that traps it" {
  bg k2 -- sh -c 'trap "echo got-usr1" USR1; while :; do sleep 0.1; done'
  ctr_wait_status k2 running
  run_husk kill -s USR1 k2
  assert_output "k2"
  local i
  for i in $(seq 50); do
    husk logs k2 | grep -q got-usr1 && break
    sleep 0.1
  done
  run_husk logs k2
  assert_output "got-usr1"
  assert_equal "$(ctr_status k2)" running
}

@test "kill: a container that does not run is an error" {
  run_husk create --name kc "$IMAGE" true
  run_husk 125 kill kc
  assert_husk_error "container kc is not running"
}

# -- rm ------------------------------------------------------------------------

@test "rm: removes exited and created containers; prints the arguments" {
  run_husk run --name x1 "$IMAGE" true
  run_husk create --name x2 "$IMAGE" true
  run_husk rm x1 x2
  assert_line --index 0 "x1"
  assert_line --index 1 "x2"
  run_husk 1 container exists x1
  run_husk 1 container exists x2
  [[ -z $(ctr_dirs) ]] || fail "left behind: $(ctr_dirs)"
}

@test "rm: a running container without -f fails and keeps running" {
  bg rr -- sleep 1000
  ctr_wait_status rr running
  run_husk 125 rm rr
  assert_husk_error "cannot remove container rr as it is running"
  assert_equal "$(ctr_status rr)" running
  run_husk rm -f rr
  assert_output "rr"
  run_husk 1 container exists rr
}

@test "rm: an unknown container exits 1" {
  run_husk 1 rm nosuch
  [[ $stderr == 'Error: no container with name or ID "nosuch" found'* ]] || fail "stderr: $stderr"
}

@test "rm -f: two at once on one container, one wins, the store is whole" {
  bg cc -- sleep 1000
  ctr_wait_status cc running
  local out=$BATS_TEST_TMPDIR
  husk rm -f cc >"$out/1.out" 2>"$out/1.err" &
  local p1=$!
  husk rm -f cc >"$out/2.out" 2>"$out/2.err" &
  local p2=$!
  local s1=0 s2=0
  wait $p1 || s1=$?
  wait $p2 || s2=$?
  echo "statuses $s1 $s2" >&2
  cat "$out"/*.out "$out"/*.err >&2
  if ((s1 == 0)); then
    assert_equal "$s2" 1 "exit status of the loser"
    grep -q "no such container" "$out/2.err" || fail "loser: $(cat "$out/2.err")"
  else
    assert_equal "$s1" 1 "exit status of the loser"
    assert_equal "$s2" 0 "exit status of the winner"
  fi
  run_husk 1 container exists cc
  run_husk ps -a -q
  assert_output ""
  [[ -z $(ctr_dirs) ]] || fail "left behind: $(ctr_dirs)"
  run_husk images -q
}

@test "rm -a -f removes every container, running ones included" {
  bg ra1 -- sleep 1000
  run_husk create --name ra2 "$IMAGE" true
  run_husk rm -a -f
  assert_line_count 2
  run_husk ps -a -q
  assert_output ""
}

@test "rm: a container whose monitor was killed shows exited and can be removed" {
  bg mk -- sleep 1000
  ctr_wait_status mk running
  local id mon
  id=$(ctr_id mk)
  mon=$(jq -r .MonitorPid "$HUSK_ROOT/containers/$id/state.json")
  [[ $mon -gt 0 ]] || fail "no MonitorPid in state.json"
  kill -9 "$mon"
  ctr_wait_status mk exited
  run_husk wait mk
  assert_output "137"
  run_husk rm mk
  assert_output "mk"
  run_husk 1 container exists mk
}

# -- wait ----------------------------------------------------------------------

@test "wait: several containers print each exit code, in order" {
  bg w1 -- sh -c 'sleep 0.5; exit 3'
  bg w2 -- sh -c 'exit 5'
  run_husk run --name w3 "$IMAGE" sh -c 'exit 7' || true
  run_husk wait w1 w2 w3
  assert_line --index 0 "3"
  assert_line --index 1 "5"
  assert_line --index 2 "7"
  assert_line_count 3
}

@test "wait: a created container is waited for until it has run" {
  run_husk create --name wc "$IMAGE" sh -c 'exit 9'
  husk wait wc >"$BATS_TEST_TMPDIR/wait.out" &
  local p=$!
  sleep 0.3
  run_husk start wc
  wait $p
  assert_equal "$(cat "$BATS_TEST_TMPDIR/wait.out")" 9
}

# -- prune, exists ---------------------------------------------------------------

@test "container prune -f removes what does not run and prints the ids" {
  bg pr -- sleep 1000
  run_husk run --name pe "$IMAGE" true
  run_husk create --name pc "$IMAGE" true
  local pe pc
  pe=$(ctr_id pe)
  pc=$(ctr_id pc)
  run_husk container prune -f
  assert_line "$pe"
  assert_line "$pc"
  assert_line_count 2
  run_husk container exists pr
  run_husk 1 container exists pe
}

@test "container prune without -f asks, and no answer keeps everything" {
  run_husk create --name pk "$IMAGE" true
  run_husk container prune
  [[ $stderr == *"WARNING! This will remove all non running containers."* ]] || fail "stderr: $stderr"
  run_husk container exists pk
  echo y >"$BATS_TEST_TMPDIR/yes"
  run_husk --stdin "$BATS_TEST_TMPDIR/yes" container prune
  run_husk 1 container exists pk
}

@test "container exists: 0, 1, no output" {
  run_husk create --name ex "$IMAGE" true
  run_husk container exists ex
  assert_output ""
  run_husk container exists "$(ctr_id ex)"
  run_husk 1 container exists nosuch
  assert_output ""
  [[ -z $stderr ]] || fail "stderr: $stderr"
}

# -- bad input -----------------------------------------------------------------

@test "bad input: exit 125, Error:, the store unchanged" {
  bg bi -- sleep 1000
  ctr_wait_status bi running
  local before
  before=$(store_snapshot)

  run_husk 125 stop nosuch
  assert_husk_error "no such container"
  run_husk 125 stop -t abc bi
  assert_husk_error "invalid --time"
  run_husk 125 stop -t -5 bi
  assert_husk_error "invalid --time"
  run_husk 125 stop
  assert_husk_error
  run_husk 125 stop -a bi
  assert_husk_error
  run_husk 125 restart -t x bi
  assert_husk_error "invalid --time"
  run_husk 125 restart nosuch
  assert_husk_error "no such container"
  run_husk 125 kill -s BOGUS bi
  assert_husk_error "invalid signal"
  run_husk 125 kill nosuch
  assert_husk_error "no such container"
  run_husk 125 wait nosuch
  assert_husk_error "no such container"
  run_husk 125 rm
  assert_husk_error
  run_husk 125 rm -a bi
  assert_husk_error

  assert_store_unchanged "$before"
  assert_equal "$(ctr_status bi)" running
}
