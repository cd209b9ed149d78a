#!/usr/bin/env bats
# husk events: the events log written by run/create/start/stop/kill/rm,
# the monitor (start, die) and the image commands; filters, formats,
# --since/--until, following until a signal, bad input.

load helpers

setup_file() {
  load helpers
  ctr_setup_file
}

setup() {
  ctr_setup
  # Unix time with a fraction: the start of this test, for --since.
  T0=$(date +%s.%N)
}

teardown() {
  ctr_cleanup
}

# ev [OPTIONS...]: the logged events of this test, one "status name" line
# each (unless --format is given), without following.
ev() {
  local fmt=()
  [[ " $* " == *" --format "* ]] || fmt=(--format '{{.Status}} {{.Name}}')
  run_husk events --stream=false --since "$T0" "${fmt[@]}" "$@"
}

@test "events: run, stop, rm log create, start, die, stop, remove in order" {
  run_husk run -d --name e1 --label team=blue "$IMAGE" sh -c 'trap "exit 7" TERM; while :; do sleep 0.1; done'
  local id=$output
  ctr_wait_status e1 running
  run_husk stop e1
  run_husk rm e1
  ev --filter container=e1
  assert_output "create e1
start e1
die e1
stop e1
remove e1"

  ev --filter event=die --format '{{.ID}} {{.Image}} {{.Type}} {{.ContainerExitCode}} {{.Attributes.exitCode}} {{.Attributes.team}}'
  assert_output "$id localhost/husk-test:latest container 7 7 blue"

  # The default text: Podman's, local time first.
  ev --filter container=e1 --filter event=die --format ''
  assert_output --regexp "^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}\.[0-9]{9} [-+][0-9]{4} [A-Z]+ container die $id \(image=localhost/husk-test:latest, name=e1, exitCode=7, .*team=blue\)$"
}

@test "events: run --rm in the foreground logs die with the exit code before returning, then remove" {
  run_husk 3 run --rm --name e2 "$IMAGE" sh -c 'exit 3'
  ev --filter container=e2 --format '{{.Status}} {{.ContainerExitCode}}'
  assert_line --index 0 "create <no value>"
  assert_line --index 1 "start <no value>"
  assert_line --index 2 "die 3"
  # The monitor removes an --rm container after the exit reached the CLI.
  local i
  for ((i = 0; i < 50; i++)); do
    ev --filter container=e2 --filter event=remove
    [[ -n $output ]] && break
    sleep 0.1
  done
  assert_output "remove e2"
}

@test "events: exec and exec_died (with the exec'd process's exit code)" {
  run_husk run -d --name e5 "$IMAGE" sh -c 'while :; do sleep 0.1; done'
  ctr_wait_status e5 running
  run_husk 4 exec e5 sh -c 'exit 4'
  run_husk exec -d e5 true
  ev --filter container=e5 --filter event=exec --filter event=exec_died --format '{{.Status}} {{.Attributes.exitCode}}'
  assert_output "exec <no value>
exec_died 4
exec <no value>"
  run_husk rm -f e5
}

@test "events: kill logs the signal, restart and start are logged, create alone" {
  run_husk create --name e3 "$IMAGE" sh -c 'while :; do sleep 0.1; done'
  run_husk start e3
  ctr_wait_status e3 running
  run_husk kill -s USR1 e3
  run_husk restart -t 1 e3
  run_husk kill e3
  ev --filter container=e3 --filter event=kill --format '{{.Status}} {{.Attributes.signal}}'
  assert_output "kill 10
kill 9"
  ev --filter container=e3 --filter event=restart --filter event=create
  assert_output "create e3
restart e3"
  ev --filter container=e3 --filter event=start
  assert_output "start e3
start e3"
}

@test "events: image tag, untag and rmi are logged; type= and image= filters" {
  run_husk tag "$IMAGE" evtag:1 evtag:2
  run_husk untag evtag:1 evtag:1
  run_husk rmi evtag:2
  ev --filter type=image
  assert_output "tag localhost/evtag:1
tag localhost/evtag:2
untag localhost/evtag:1
untag localhost/evtag:2"
  ev --filter type=image --filter image=evtag:2
  assert_output "tag localhost/evtag:2
untag localhost/evtag:2"
  ev --filter type=container
  assert_output ""
}

@test "events: load and import are logged as Podman names them" {
  run_husk load -q -i "$FIXTURE_DOCKER_ARCHIVE"
  run_husk import "$FIXTURE_ROOTFS" evimport:1
  local iid=$output
  ev --filter type=image --format '{{.Status}} {{.Name}}'
  assert_output "loadfromarchive $FIXTURE_NAME
import localhost/evimport:1"
  ev --filter event=import --format '{{.ID}}'
  assert_output "$iid"
  run_husk rmi evimport:1
}

@test "events: label= and several values of one key" {
  run_husk create --name e5 --label color=red "$IMAGE" true
  run_husk create --name e6 --label color=green "$IMAGE" true
  ev --filter label=color=red
  assert_output "create e5"
  ev --filter label=color
  assert_output "create e5
create e6"
  ev --filter container=e5 --filter container=e6
  assert_output "create e5
create e6"
  ev --filter container=e5 --filter label=color=green
  assert_output ""
}

@test "events: --format json prints one object per line with Podman's keys" {
  run_husk create --name e7 "$IMAGE" true
  ev --filter container=e7 --format json
  assert_equal "${#lines[@]}" 1
  assert_equal "$(jq -r '[.Type, .Status, .Name, .Image] | join(" ")' <<<"$output")" \
    "container create e7 localhost/husk-test:latest"
  jq -e '.ID | test("^[0-9a-f]{64}$")' <<<"$output" >/dev/null
  jq -e '.timeNano > 0 and (.Time | test("^[0-9-]{10}T[0-9:]{8}\\.[0-9]+Z$"))' <<<"$output" >/dev/null
}

@test "events: --until and --since bound the events; --no-trunc=false" {
  run_husk create --name e8 "$IMAGE" true
  sleep 0.2
  local mid
  mid=$(date +%s.%N)
  sleep 0.2
  run_husk rm e8
  ev --filter container=e8 --until "$mid"
  assert_output "create e8"
  run_husk events --stream=false --since "$mid" --filter container=e8 --format '{{.Status}}'
  assert_output "remove"
  # --until in the past without --stream=false: prints and exits.
  run_husk events --since "$T0" --until "$mid" --filter container=e8 --format '{{.Status}}'
  assert_output "create"
  run_husk events --stream=false --since "$T0" --filter container=e8 --no-trunc=false --format '{{.ID}}'
  assert_line --index 0 --regexp "$ID12_RE"
  run_husk events --stream=false --since 1h --filter container=e8 --format '{{.Status}}'
  assert_output "create
remove"
}

# follow_events OUT: husk events following this test's e9 events in the
# background, its stdout and stderr in OUT; FOLLOW_PID is husk's pid.
follow_events() {
  "$HUSK_BINARY" --root "$HUSK_ROOT" --runroot "$HUSK_RUNROOT" events --since "$T0" \
    --filter container=e9 --format '{{.Status}} {{.Name}}' >"$1" 2>&1 &
  FOLLOW_PID=$!
}

# wait_lines FILE N: wait (5 s) until FILE has N lines.
wait_lines() {
  local i
  for ((i = 0; i < 50; i++)); do
    [[ $(wc -l <"$1") -ge $2 ]] && return 0
    sleep 0.1
  done
  fail "$1 has $(wc -l <"$1") lines, expected $2: $(cat "$1")"
}

@test "events: following prints new events and ends with exit 0 on SIGTERM and SIGINT" {
  local out=$BATS_TEST_TMPDIR/follow.out out2=$BATS_TEST_TMPDIR/follow2.out rc
  follow_events "$out"
  local p1=$FOLLOW_PID
  sleep 0.3
  run_husk create --name e9 "$IMAGE" true
  wait_lines "$out" 1
  kill -TERM "$p1"
  rc=0
  wait "$p1" || rc=$?
  assert_equal "$rc" 0
  assert_equal "$(cat "$out")" "create e9"

  # A background job starts with SIGINT ignored: husk still ends on it.
  follow_events "$out2"
  local p2=$FOLLOW_PID
  run_husk start e9
  wait_lines "$out2" 3
  kill -INT "$p2"
  rc=0
  wait "$p2" || rc=$?
  assert_equal "$rc" 0
  assert_equal "$(head -n 2 "$out2")" "create e9
start e9"

  # In the foreground, as timeout(1) runs it.
  run timeout --preserve-status -s INT 1 "$HUSK_BINARY" --root "$HUSK_ROOT" --runroot "$HUSK_RUNROOT" \
    events --since "$T0" --filter container=e9 --filter event=create --format '{{.Status}}'
  assert_equal "$status" 0
  assert_equal "$output" "create"
}

@test "events: --until in the future follows until then" {
  local until start
  until=$(date -d '+1 sec' +%s.%N)
  start=$(date +%s%N)
  run_husk events --since "$T0" --until "$until" --filter container=nothing-here
  assert_output ""
  (($(date +%s%N) - start >= 800000000)) || fail "returned before --until"
}

@test "events: bad input is an error, exit 125" {
  run_husk 125 events --stream=false --filter foo=bar
  assert_husk_error 'unknown key "foo"'
  run_husk 125 events --stream=false --filter type
  assert_husk_error "KEY=VALUE"
  run_husk 125 events --stream=false --since yesterday
  assert_husk_error "invalid --since"
  run_husk 125 events --stream=false --until 12x
  assert_husk_error "invalid --until"
  run_husk 125 events --stream=false --format '{{.Status'
  assert_husk_error
  run_husk 125 events extra
  assert_husk_error
}
