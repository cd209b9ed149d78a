#!/usr/bin/env bats
# husk logs: streams, partial lines, -t, --tail, --since/--until, -f, log
# drivers, several containers, bad input.

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

TS_RE='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{9}Z'

@test "logs: stdout to stdout, stderr to stderr" {
  run_husk run --name lo "$IMAGE" sh -c 'echo out1; echo err1 >&2; echo out2'
  run_husk logs lo
  assert_output "out1
out2"
  assert_equal "$stderr" "err1"
}

@test "logs: a partial last line has no newline added" {
  run_husk run --name pl "$IMAGE" sh -c 'echo full; printf part'
  husk logs pl >"$BATS_TEST_TMPDIR/out"
  assert_equal "$(od -An -c "$BATS_TEST_TMPDIR/out" | tr -s ' ')" " f u l l \n p a r t"
}

@test "logs -t: each line starts with an RFC3339Nano time and a space" {
  run_husk run --name ts "$IMAGE" sh -c 'echo a; echo b'
  run_husk logs -t ts
  assert_line_count 2
  assert_line --index 0 --regexp "^$TS_RE a\$"
  assert_line --index 1 --regexp "^$TS_RE b\$"
}

@test "logs -n/--tail: the last N lines, all, 0" {
  run_husk run --name tl "$IMAGE" sh -c 'for i in 1 2 3 4 5; do echo l$i; done'
  run_husk logs -n 2 tl
  assert_output "l4
l5"
  run_husk logs --tail 1 tl
  assert_output "l5"
  run_husk logs --tail all tl
  assert_line_count 5
  run_husk logs --tail 0 tl
  assert_output ""
  run_husk logs --tail 10 tl
  assert_line_count 5
}

@test "logs --since/--until: times, Unix times and durations" {
  run_husk run --name sn "$IMAGE" sh -c 'echo one; echo two'
  run_husk logs --since 2099-01-01T00:00:00Z sn
  assert_output ""
  run_husk logs --since "$(($(date +%s) + 3600))" sn
  assert_output ""
  run_husk logs --since 1h sn
  assert_line_count 2
  run_husk logs --since 0.5h --until 2099-01-01T00:00:00+02:00 sn
  assert_line_count 2
  run_husk logs --until 1h sn
  assert_output ""
  run_husk logs --since 2000-01-01 sn
  assert_line_count 2
  run_husk logs --until 1700000000 sn
  assert_output ""
}

@test "logs -f follows until the container exits" {
  run_husk run -d --name fo "$IMAGE" sh -c 'echo first; sleep 1; echo second'
  local t0 t1
  t0=$(date +%s)
  run_husk logs -f fo
  t1=$(date +%s)
  assert_output "first
second"
  ((t1 - t0 < 10)) || fail "logs -f took $((t1 - t0)) s"
  # An exited container: -f prints what there is and returns.
  run_husk logs -f fo
  assert_line_count 2
}

@test "logs -f with several containers interleaves both until they exit" {
  run_husk run -d --name f1 "$IMAGE" sh -c 'echo a1; sleep 0.6; echo a2'
  run_husk run -d --name f2 "$IMAGE" sh -c 'sleep 0.3; echo b1; sleep 0.6; echo b2'
  run_husk logs -f f1 f2
  assert_line a1
  assert_line a2
  assert_line b1
  assert_line b2
  assert_line_count 4
}

@test "logs: several containers are printed one after another" {
  run_husk run --name m1 "$IMAGE" echo from-m1
  run_husk run --name m2 "$IMAGE" echo from-m2
  run_husk logs m1 m2
  assert_output "from-m1
from-m2"
  run_husk 125 logs m1 nosuch m2
  assert_output "from-m1
from-m2"
  [[ $stderr == *'no container with name or ID "nosuch" found'* ]] || fail "stderr: $stderr"
}

@test "logs: json-file driver; a created container has no logs" {
  run_husk run --name js --log-driver json-file "$IMAGE" sh -c 'echo json-out; echo json-err >&2'
  run_husk logs js
  assert_output "json-out"
  assert_equal "$stderr" "json-err"
  run_husk create --name cr "$IMAGE" true
  run_husk logs cr
  assert_output ""
}

@test "logs: log driver none is an error" {
  run_husk run --name nn --log-driver none "$IMAGE" echo hidden
  run_husk 125 logs nn
  assert_husk_error "container nn: logs are not available with the log driver none"
}

@test "logs: bad input (exit 125, Error:, the store unchanged)" {
  run_husk run --name bi "$IMAGE" echo x
  local before
  before=$(store_snapshot)
  run_husk 125 logs nosuch
  assert_husk_error "no such container"
  run_husk 125 logs --since yesterday bi
  assert_husk_error "invalid --since"
  run_husk 125 logs --until 10x bi
  assert_husk_error "invalid --until"
  run_husk 125 logs -n abc bi
  assert_husk_error "invalid --tail"
  run_husk 125 logs --tail -2 bi
  assert_husk_error "invalid --tail"
  assert_store_unchanged "$before"
}
