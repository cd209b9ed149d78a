#!/usr/bin/env bats
# Healthchecks run by an unprivileged user (the set-up of
# 250-rootless-run.bats: a user with a subuid range, cron's environment):
# the monitor runs the check in the container's user namespace, and
# `healthcheck run` from the CLI joins it too.

load helpers

ROOTLESS_TAG=health
load rootless

# health NAME: State.Health.Status and FailingStreak as the test user.
health() {
  rootless_husk container inspect "$1" | jq -r '.[0].State.Health | "\(.Status) \(.FailingStreak)"'
}

@test "rootless: the monitor's checks, ps and healthcheck run" {
  run_rootless run -d --name h1 --health-cmd 'test "$(id -u)" = 0 && echo in' --health-interval 1s \
    --health-retries 2 "$IMAGE" sleep 1000
  local i got=
  for ((i = 0; i < 100; i++)); do
    got=$(health h1)
    [[ $got == "healthy 0" ]] && break
    sleep 0.1
  done
  [[ $got == "healthy 0" ]] || fail "health of h1: '$got'"
  run_rootless container inspect --format '{{(index .State.Health.Log 0).Output}}' h1
  assert_output in
  run_rootless ps --format '{{.Names}} {{.Status}}'
  assert_output --regexp '^h1 Up .* \(healthy\)$'
  run_rootless healthcheck run h1
  assert_output ''
  run_rootless run -d --name h2 --health-cmd 'exit 1' --health-interval 1m "$IMAGE" sleep 1000
  run_rootless 1 healthcheck run h2
  assert_output unhealthy
  [[ $(health h2) == "starting 1" ]] || fail "health of h2: $(health h2)"
}
