#!/usr/bin/env bats
# husk top, rename, pause, unpause, stats and update against real
# containers, and their bad input (exit 125, "Error: ...", the container
# unchanged).

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

# A cgroup is there to pause, to read stats from and to update.
need_cgroup() {
  local pid
  pid=$(ctr_json "$1" .State.Pid)
  [[ -n $(ctr_json "$1" .State.CgroupPath) ]] || skip "no cgroup for containers here"
}

# -- top ---------------------------------------------------------------------

@test "top: default columns, the container's processes with host pids" {
  bg t1 -- sh -c 'sleep 1000 & while :; do sleep 1; done'
  local pid
  pid=$(ctr_json t1 .State.Pid)
  # Users as the host sees them: the container's root is whoever ran husk.
  local user
  user=$(id -un)
  run_husk top t1
  assert_line --index 0 --regexp '^USER +PID +PPID +%CPU +ELAPSED +TTY +TIME +COMMAND$'
  assert_line --regexp "^$user +$pid +[0-9]+ +[0-9.]+ +[0-9:]+ +\\? +[0-9:]+ +sh -c sleep 1000 &"
  assert_line --regexp "^$user +[0-9]+ +$pid .* sleep 1000$"
}

@test "top: descriptors and ps -o / -eo / -ef" {
  bg t2 -- sh -c 'sleep 1000 & while :; do sleep 1; done'
  local pid
  pid=$(ctr_json t2 .State.Pid)
  local user group
  user=$(id -un) group=$(id -gn)
  run_husk top t2 -o pid,comm
  assert_line --index 0 --regexp '^PID +COMMAND$'
  assert_line --regexp "^$pid +sh$"
  run_husk top t2 -eo pid,ppid,user,stat,rss,vsz,args
  assert_line --index 0 --regexp '^PID +PPID +USER +STAT +RSS +VSZ +COMMAND$'
  assert_line --regexp "^$pid +[0-9]+ +$user +S"
  run_husk top t2 pid,user args nice pgid group
  assert_line --index 0 --regexp '^PID +USER +COMMAND +NI +PGID +GROUP$'
  assert_line --regexp "^$pid +$user +sh -c .* 0 +$pid +$group$"
  run_husk top t2 -ef
  assert_line --index 0 --regexp '^UID +PID +PPID +C +STIME +TTY +TIME +CMD$'
}

@test "top: unknown descriptor, bad ps option, stopped container: exit 125" {
  bg t3 -- sleep 1000
  run_husk 125 top t3 pid bogus
  assert_husk_error "unknown descriptor: bogus"
  run_husk 125 top t3 -o pid,nope
  assert_husk_error "unknown descriptor: nope"
  run_husk 125 top t3 -q
  assert_husk_error "unsupported ps option"
  run_husk create --name t4 "$IMAGE" true
  run_husk 125 top t4
  assert_husk_error "top can only be used on running containers"
  run_husk 125 top nosuchctr
  assert_husk_error "no container with name or ID"
  assert_equal "$(ctr_status t3)" running
}

# -- rename ------------------------------------------------------------------

@test "rename: a running and a stopped container; ps, inspect and lookups follow" {
  bg r1 -- sleep 1000
  local id
  id=$(husk container inspect -f '{{.Id}}' r1)
  run_husk rename r1 r1new
  assert_output ""
  assert_equal "$(husk container inspect -f '{{.Name}}' r1new)" r1new
  assert_equal "$(husk container inspect -f '{{.Id}}' r1new)" "$id"
  assert_equal "$(ctr_status r1new)" running
  run_husk ps --format '{{.Names}}'
  assert_output r1new
  run_husk 125 container inspect r1
  # stopped, by id prefix, leading slash ignored
  run_husk create --name r2 "$IMAGE" true
  run_husk rename "$(husk container inspect -f '{{.Id}}' r2 | cut -c1-12)" /r2new
  assert_equal "$(husk container inspect -f '{{.Name}}' r2new)" r2new
  # the renamed container still starts and stops
  run_husk start -a r2new
  run_husk stop r1new
  assert_output r1new
}

@test "rename: taken name, invalid name, missing container: exit 125, unchanged" {
  run_husk create --name ra "$IMAGE" true
  run_husk create --name rb "$IMAGE" true
  run_husk 125 rename ra rb
  assert_husk_error "already in use"
  run_husk 125 rename ra 'bad name!'
  assert_husk_error "invalid container name"
  run_husk 125 rename nosuch rc
  assert_husk_error "no container with name or ID"
  run_husk ps -a --format '{{.Names}}'
  assert_line ra
  assert_line rb
  assert_line_count 2
  assert_equal "$(husk container inspect -f '{{.Name}}' ra)" ra
}

# -- pause / unpause ------------------------------------------------------------

@test "pause/unpause: ps and inspect show paused, the counter stops, then resumes" {
  bg p1 -- sh -c 'i=0; while :; do i=$((i+1)); echo $i >/tmp/n; sleep 0.1; done'
  need_cgroup p1
  sleep 0.5
  run_husk pause p1
  assert_output p1
  run_husk ps --format '{{.Names}} {{.State}} {{.Status}}'
  assert_output --regexp '^p1 paused Up .* \(Paused\)$'
  run ctr_json p1 '.State.Status, .State.Paused, .State.Running'
  assert_output $'paused\ntrue\ntrue'
  run_husk ps --filter status=paused --format '{{.Names}}'
  assert_output p1
  run_husk ps --filter status=running --format '{{.Names}}'
  assert_output ""
  local a b c
  a=$(cat "/proc/$(ctr_json p1 .State.Pid)/root/tmp/n")
  sleep 0.6
  b=$(cat "/proc/$(ctr_json p1 .State.Pid)/root/tmp/n")
  assert_equal "$b" "$a" "the counter of a paused container"
  run_husk 125 pause p1
  assert_husk_error "already paused"
  run_husk unpause p1
  assert_output p1
  sleep 0.5
  c=$(cat "/proc/$(ctr_json p1 .State.Pid)/root/tmp/n")
  [[ $c -gt $b ]] || fail "the counter did not resume: $b then $c"
  run ctr_json p1 '.State.Status, .State.Paused'
  assert_output $'running\nfalse'
  run_husk 125 unpause p1
  assert_husk_error "not paused"
}

@test "pause: rm -f and stop of a paused container work" {
  bg p2 -- sleep 1000
  need_cgroup p2
  run_husk pause p2
  run_husk rm -f p2
  assert_output p2
  run_husk ps -a --format '{{.Names}}'
  assert_output ""
  bg p3 -- sleep 1000
  run_husk pause p3
  run_husk stop -t 1 p3
  assert_output p3
  assert_equal "$(ctr_status p3)" exited
}

@test "pause -a / unpause -a; a stopped container cannot be paused" {
  bg pa1 -- sleep 1000
  need_cgroup pa1
  bg pa2 -- sleep 1000
  run_husk create --name pa3 "$IMAGE" true
  # -a prints ids, as Podman does
  run_husk pause -a
  assert_line "$(husk container inspect -f '{{.Id}}' pa1)"
  assert_line "$(husk container inspect -f '{{.Id}}' pa2)"
  assert_line_count 2
  assert_equal "$(ctr_status pa1)$(ctr_status pa2)" pausedpaused
  run_husk unpause -a
  assert_line_count 2
  assert_equal "$(ctr_status pa1)$(ctr_status pa2)" runningrunning
  run_husk 125 pause pa3
  assert_husk_error "is not running"
  assert_equal "$(ctr_status pa3)" created
  run_husk 125 pause -a pa1
  assert_husk_error "--all"
  run_husk 125 pause
  assert_husk_error "at least one"
}

# -- stats -------------------------------------------------------------------

@test "stats --no-stream: table, templates and json" {
  bg s1 -m 64m -- sh -c 'while :; do :; done'
  need_cgroup s1
  bg s2 -- sleep 1000
  run_husk stats --no-stream
  assert_line --index 0 --regexp '^CONTAINER ID +NAME +CPU % +MEM USAGE / LIMIT +MEM % +NET I/O +BLOCK I/O +PIDS$'
  assert_line --regexp '^[0-9a-f]{12} +s1 +[0-9.]+% +[0-9.]+[kMG]?B / 67.1MB +[0-9.]+% +[0-9.]+[kMG]?B / [0-9.]+[kMG]?B +.* 1$'
  assert_line_count 3
  run_husk stats --no-stream --format '{{.Name}} {{.PIDs}}' s2
  assert_output "s2 1"
  run_husk stats --no-stream --format json s1
  run jq -r '.[0] | .Name, .MemLimit, (.CPUPerc | test("^[0-9.]+%$"))' <<<"$output"
  assert_output $'s1\n67108864\ntrue'
  # The busy loop uses CPU.
  run_husk stats --no-stream --format '{{.CPUNano}}' s1
  [[ $output -gt 0 ]] || fail "no CPU time: $output"
  run_husk stats --no-stream --no-trunc --format '{{.ID}}' s2
  assert_output --regexp "$ID64_RE"
}

@test "stats: -a shows stopped containers with zeros; the stream appends tables" {
  run_husk create --name sc "$IMAGE" true
  run_husk stats --no-stream --format '{{.Name}}'
  assert_output ""
  run_husk stats --no-stream -a --format '{{.Name}} {{.CPUPerc}} {{.PIDs}}'
  assert_output "sc 0.00% 0"
  bg st -- sleep 1000
  local w
  w=$(husk_wrapper)
  run timeout 2.6 "$w" stats --format '{{.Name}}' st
  assert_equal "${#lines[@]}" 2 "tables printed in 2.6 s"
  run_husk 125 stats --no-stream nosuch
  assert_husk_error "no container with name or ID"
}

# -- update ------------------------------------------------------------------

@test "update: memory and pids limits reach the cgroup and inspect" {
  bg u1 -m 64m -- sleep 1000
  need_cgroup u1
  run_husk update -m 256m --pids-limit 50 u1
  assert_output u1
  assert_equal "$(cat "$(ctr_cgroup_file u1 pids pids.max)")" 50
  if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
    assert_equal "$(cat "$(ctr_cgroup_file u1 memory memory.max)")" 268435456
  else
    assert_equal "$(cat "$(ctr_cgroup_file u1 memory memory.limit_in_bytes)")" 268435456
  fi
  run ctr_json u1 '.HostConfig.Memory, .HostConfig.PidsLimit'
  assert_output $'268435456\n50'
  # lower again
  run_husk update --memory 32m u1
  run ctr_json u1 '.HostConfig.Memory, .HostConfig.PidsLimit'
  assert_output $'33554432\n50'
  # kept across a restart
  run_husk restart -t 0 u1
  assert_equal "$(cat "$(ctr_cgroup_file u1 pids pids.max)")" 50
  run ctr_json u1 '.HostConfig.Memory'
  assert_output 33554432
}

@test "update: a stopped container, and --restart" {
  run_husk create --name u2 "$IMAGE" sh -c 'exit 3'
  run_husk update --restart on-failure:2 --pids-limit 20 u2
  assert_output u2
  run ctr_json u2 '.HostConfig.RestartPolicy.Name, .HostConfig.RestartPolicy.MaximumRetryCount, .HostConfig.PidsLimit'
  assert_output $'on-failure\n2\n20'
  run_husk start u2
  # 1 start + 2 restarts, then it stays exited with 3
  sleep 2
  run_husk wait u2
  assert_output 3
  run_husk update --restart no u2
  run ctr_json u2 '.HostConfig.RestartPolicy.Name'
  assert_output ""
}

@test "update: bad input, exit 125 and the container unchanged" {
  bg u3 -m 64m -- sleep 1000
  local before
  before=$(husk container inspect u3 | jq -c '.[0].HostConfig')
  run_husk 125 update -m 1x u3
  assert_husk_error "invalid value \"1x\" for --memory"
  run_husk 125 update -m 100k u3
  assert_husk_error "--memory"
  run_husk 125 update --memory-swap 10m u3
  assert_husk_error "memoryswap"
  run_husk 125 update --restart bogus u3
  assert_husk_error "invalid restart policy"
  run_husk 125 update u3
  assert_husk_error "one or more flags"
  run_husk 125 update -m 128m nosuch
  assert_husk_error "no container with name or ID"
  assert_equal "$(husk container inspect u3 | jq -c '.[0].HostConfig')" "$before"
  run_husk create --rm --name u4 "$IMAGE" true
  run_husk 125 update --restart always u4
  assert_husk_error "conflicts"
}

@test "update: on cgroup v1, memory below what cannot be reclaimed fails, unchanged" {
  [[ -f /sys/fs/cgroup/cgroup.controllers ]] && skip "cgroup v2 reclaims or OOM-kills instead"
  [[ $(awk '/SwapTotal/ {print $2}' /proc/meminfo) -eq 0 ]] || skip "swap would absorb the pages"
  bg u5 -- sh -c 'head -c 40000000 /dev/zero >/dev/shm/x; echo ready; sleep 1000'
  need_cgroup u5
  local i
  for i in $(seq 50); do husk logs u5 | grep -q ready && break; sleep 0.1; done
  local before
  before=$(cat "$(ctr_cgroup_file u5 memory memory.limit_in_bytes)")
  run_husk 125 update -m 10m u5
  assert_husk_error "memory limit below current usage"
  assert_equal "$(cat "$(ctr_cgroup_file u5 memory memory.limit_in_bytes)")" "$before"
  run ctr_json u5 '.HostConfig.Memory'
  assert_output 0
  assert_equal "$(ctr_status u5)" running
}
