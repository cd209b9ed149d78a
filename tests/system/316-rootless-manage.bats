#!/usr/bin/env bats
# attach, top, rename, pause/unpause, stats and update by an unprivileged
# user (the set-up of 250-rootless-run.bats: a user with a subuid range,
# cron's environment).  Without a delegated cgroup, pause and updating the
# limits of a running container fail with a clear error (exit 125); the
# rest works.

load helpers

ROOTLESS_TAG=manage
load rootless

@test "rootless: top, rename, stats, attach work" {
  run_rootless run -d --name r1 "$IMAGE" sleep 1000
  run_rootless top r1
  assert_line --index 0 --regexp '^USER +PID +PPID'
  assert_line --regexp "^$(id -un "$ROOTLESS_USER") +[0-9]+ .* sleep 1000$"
  run_rootless top r1 -o pid,comm
  assert_line --regexp '^[0-9]+ +sleep$'
  run_rootless rename r1 r2
  run_rootless ps --format '{{.Names}}'
  assert_output r2
  run_rootless stats --no-stream --format '{{.Name}}'
  assert_output r2
  run_rootless run -d --name r3 "$IMAGE" sh -c 'sleep 1; echo hi; exit 6'
  run_rootless 6 attach r3
  assert_output hi
}

@test "rootless: pause and update of limits need a cgroup; update --restart works" {
  run_rootless run -d --name p1 "$IMAGE" sleep 1000
  run_rootless '?' pause p1
  if [[ $status -eq 0 ]]; then
    run_rootless ps --format '{{.State}}'
    assert_output paused
    run_rootless unpause p1
  else
    assert_husk_error "pausing needs a cgroup"
    run_rootless ps --format '{{.Names}} {{.State}}'
    assert_output "p1 running"
  fi
  run_rootless '?' update -m 64m p1
  if [[ $status -ne 0 ]]; then
    assert_husk_error "needs a cgroup"
    run_rootless container inspect -f '{{.HostConfig.Memory}}' p1
    assert_output 0
  fi
  run_rootless update --restart always p1
  assert_output p1
  run_rootless container inspect -f '{{.HostConfig.RestartPolicy.Name}}' p1
  assert_output always
  run_rootless rm -f p1
}
