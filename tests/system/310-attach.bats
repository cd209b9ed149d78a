#!/usr/bin/env bats
# husk attach: to -t and non-tty containers, several clients at once,
# detach keys, --no-stdin, signals, exit codes, bad input.

load helpers

setup_file() {
  load helpers
  ctr_setup_file
}

setup() {
  ctr_setup
}

teardown() {
  tmux_stop
  ctr_cleanup
}

# tmux_start NAME COMMAND: a detached tmux session (own server socket) of
# 100x30 running COMMAND, whose exit status lands in $BATS_TEST_TMPDIR/rc.
tmux_start() {
  TMUX_SOCK=$BATS_TEST_TMPDIR/tmux.sock
  rm -f "$BATS_TEST_TMPDIR/rc"
  tmux -S "$TMUX_SOCK" new-session -d -s "$1" -x 100 -y 30 \
    "$2; echo \$? >$BATS_TEST_TMPDIR/rc"
}

# tmux_wait REGEX [SECONDS]: wait until the pane shows REGEX.
tmux_wait() {
  local i screen
  for i in $(seq 1 $((${2:-10} * 10))); do
    screen=$(tmux -S "$TMUX_SOCK" capture-pane -p 2>/dev/null) || true
    [[ $screen =~ $1 ]] && return 0
    sleep 0.1
  done
  fail "the tmux pane never showed /$1/:
$screen"
}

# tmux_wait_rc [SECONDS]: wait until the command ended; prints its status.
tmux_wait_rc() {
  local i
  for i in $(seq 1 $((${1:-10} * 10))); do
    if [[ -s $BATS_TEST_TMPDIR/rc ]]; then
      cat "$BATS_TEST_TMPDIR/rc"
      return 0
    fi
    sleep 0.1
  done
  fail "the command in tmux did not end"
}

tmux_stop() {
  if [[ -n ${TMUX_SOCK:-} ]]; then
    tmux -S "$TMUX_SOCK" kill-server 2>/dev/null || true
  fi
}

# The host path of a file in a running container's root.
ctr_path() {
  echo "/proc/$(ctr_json "$1" .State.Pid)/root$2"
}

# wait_file FILE PATTERN: wait (10 s) until FILE contains PATTERN.
wait_file() {
  local i
  for i in $(seq 100); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  fail "$1 never showed '$2': $(cat "$1" 2>/dev/null)"
}

@test "attach -t: a shell in tmux, window size, Ctrl-P Ctrl-Q detaches, attach again" {
  command -v tmux >/dev/null || skip "tmux is not installed"
  run_husk run -dit --name a1 "$IMAGE" sh
  local w rc
  w=$(husk_wrapper)
  tmux_start att "$w attach a1"
  sleep 0.3
  tmux -S "$TMUX_SOCK" send-keys 'echo $((6*7))xyz' Enter
  tmux_wait '42xyz'
  tmux -S "$TMUX_SOCK" send-keys 'busybox stty size' Enter
  tmux_wait '(^|[^0-9])(29|30) 100'
  tmux -S "$TMUX_SOCK" send-keys C-p C-q
  rc=$(tmux_wait_rc)
  tmux_stop
  assert_equal "$rc" 0 "husk attach's exit status after a detach"
  assert_equal "$(ctr_status a1)" running
  # attach again, leave with exit: the container's exit code
  tmux_start att2 "$w attach a1"
  sleep 0.3
  tmux -S "$TMUX_SOCK" send-keys 'echo again$((1+1))' Enter
  tmux_wait 'again2'
  tmux -S "$TMUX_SOCK" send-keys 'exit 4' Enter
  rc=$(tmux_wait_rc)
  assert_equal "$rc" 4 "husk attach's exit status"
  run ctr_json a1 '.State.Status, .State.ExitCode'
  assert_output $'exited\n4'
}

@test "attach --detach-keys: a custom sequence detaches" {
  command -v tmux >/dev/null || skip "tmux is not installed"
  run_husk run -dit --name a2 "$IMAGE" sh
  local w rc
  w=$(husk_wrapper)
  tmux_start att "$w attach --detach-keys ctrl-x,y a2"
  sleep 0.3
  tmux -S "$TMUX_SOCK" send-keys 'echo ready$((2+3))' Enter
  tmux_wait 'ready5'
  tmux -S "$TMUX_SOCK" send-keys C-x y
  rc=$(tmux_wait_rc)
  assert_equal "$rc" 0 "husk attach's exit status after a detach"
  assert_equal "$(ctr_status a2)" running
}

@test "attach: two clients at once both see the output and get the exit code" {
  run_husk run -d --name a3 "$IMAGE" sh -c 'while [ ! -f /tmp/go ]; do sleep 0.1; done; echo hello-both; echo to-stderr >&2; exit 7'
  local w p1 p2 rc1 rc2
  w=$(husk_wrapper)
  "$w" attach a3 >"$BATS_TEST_TMPDIR/o1" 2>"$BATS_TEST_TMPDIR/e1" </dev/null &
  p1=$!
  "$w" attach --no-stdin a3 >"$BATS_TEST_TMPDIR/o2" 2>"$BATS_TEST_TMPDIR/e2" </dev/null &
  p2=$!
  sleep 1
  touch "$(ctr_path a3 /tmp/go)"
  wait $p1 && rc1=0 || rc1=$?
  wait $p2 && rc2=0 || rc2=$?
  assert_equal "$rc1" 7 "exit status of the first client"
  assert_equal "$rc2" 7 "exit status of the second client"
  assert_equal "$(cat "$BATS_TEST_TMPDIR/o1")" hello-both
  assert_equal "$(cat "$BATS_TEST_TMPDIR/o2")" hello-both
  assert_equal "$(cat "$BATS_TEST_TMPDIR/e1")" to-stderr
  assert_equal "$(cat "$BATS_TEST_TMPDIR/e2")" to-stderr
}

@test "attach: stdin reaches a -i container; --no-stdin keeps it out" {
  run_husk run -di --name a4 "$IMAGE" sh -c 'read x; echo got-$x; read y; echo got-$y; exit 5'
  local w
  w=$(husk_wrapper)
  # --no-stdin: our input is not sent, the container still waits (the
  # timeout's SIGTERM would be forwarded to the container: --sig-proxy)
  run timeout 1.5 "$w" attach --no-stdin --sig-proxy=false a4 <<<"one"
  assert_equal "$status" 124 "attach --no-stdin ends only by the timeout"
  assert_equal "$(ctr_status a4)" running
  run bash -c "printf 'two\nthree\n' | $w attach a4"
  assert_equal "$status" 5 "husk attach's exit status"
  assert_output $'got-two\ngot-three'
}

@test "attach: signals are forwarded without a tty (--sig-proxy)" {
  run_husk run -d --name a5 "$IMAGE" sh -c 'trap "echo got-term; exit 3" TERM; while :; do sleep 0.1; done'
  local w p rc
  w=$(husk_wrapper)
  "$w" attach a5 >"$BATS_TEST_TMPDIR/o" 2>&1 </dev/null &
  p=$!
  sleep 1
  kill -TERM $p
  wait $p && rc=0 || rc=$?
  assert_equal "$rc" 3 "husk attach's exit status"
  assert_equal "$(cat "$BATS_TEST_TMPDIR/o")" got-term
  # --sig-proxy=false: the signal ends husk only
  run_husk run -d --name a6 "$IMAGE" sleep 1000
  "$w" attach --sig-proxy=false a6 >/dev/null 2>&1 </dev/null &
  p=$!
  sleep 1
  kill -TERM $p
  wait $p || true
  assert_equal "$(ctr_status a6)" running
}

@test "attach: a container that does not run, a missing one: exit 125" {
  run_husk create --name a7 "$IMAGE" true
  run_husk 125 attach a7
  assert_husk_error "you can only attach to running containers"
  run_husk start -a a7
  run_husk 125 attach a7
  assert_husk_error "you can only attach to running containers"
  run_husk 125 attach nosuch
  assert_husk_error "no container with name or ID"
  run_husk 125 attach
  assert_equal "$(ctr_status a7)" exited
}
