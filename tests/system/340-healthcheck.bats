#!/usr/bin/env bats
# Healthchecks: --health-* flags and the image's Healthcheck, run by the
# container's monitor every interval; State.Health in inspect, the ps
# STATUS and --filter health=, health_status events, healthcheck run,
# timeouts, the start period, --no-healthcheck and bad input.

load helpers

setup_file() {
  load helpers
  ctr_setup_file
}

setup() {
  ctr_setup
  T0=$(date +%s.%N)
}

teardown() {
  ctr_cleanup
}

# hc_wait NAME STATUS [SECONDS]: wait (10 s) until State.Health.Status is
# STATUS.
hc_wait() {
  local name=$1 want=$2 secs=${3:-10} i got=
  for ((i = 0; i < secs * 10; i++)); do
    got=$(husk container inspect "$name" 2>/dev/null | jq -r '.[0].State.Health.Status' 2>/dev/null)
    [[ $got == "$want" ]] && return 0
    sleep 0.1
  done
  fail "health of $name is '$got' after ${secs}s, expected '$want'"
}

# hc_image NAME HEALTHCHECK_JSON: load a copy of the fixture whose config
# has that Healthcheck, tagged NAME.
hc_image() {
  local name=$1 hc=$2 dir=$BATS_TEST_TMPDIR/hc-oci
  rm -rf "$dir"
  cp -r "$FIXTURE_OCI" "$dir"
  local blobs=$dir/blobs/sha256 mdigest manifest cdigest chex csize mhex msize
  mdigest=$(jq -r '.manifests[0].digest' "$dir/index.json")
  manifest=$blobs/${mdigest#sha256:}
  cdigest=$(jq -r '.config.digest' "$manifest")
  jq -c --argjson hc "$hc" '.config.Healthcheck = $hc' "$blobs/${cdigest#sha256:}" >"$dir/config.new"
  chex=$(sha256sum "$dir/config.new" | cut -d' ' -f1)
  csize=$(stat -c %s "$dir/config.new")
  mv "$dir/config.new" "$blobs/$chex"
  jq -c --arg d "sha256:$chex" --argjson s "$csize" '.config.digest = $d | .config.size = $s' \
    "$manifest" >"$dir/manifest.new"
  mhex=$(sha256sum "$dir/manifest.new" | cut -d' ' -f1)
  msize=$(stat -c %s "$dir/manifest.new")
  mv "$dir/manifest.new" "$blobs/$mhex"
  jq -c --arg d "sha256:$mhex" --argjson s "$msize" '.manifests[0].digest = $d | .manifests[0].size = $s' \
    "$dir/index.json" >"$dir/index.new"
  mv "$dir/index.new" "$dir/index.json"
  tar -cf "$BATS_TEST_TMPDIR/hc.tar" -C "$dir" .
  run_husk load -q -i "$BATS_TEST_TMPDIR/hc.tar"
  run_husk tag "$chex" "$name"
}

@test "healthcheck: a passing check makes the container healthy (inspect, ps, events)" {
  run_husk run -d --name h1 --health-cmd 'echo ok; exit 0' --health-interval 1s "$IMAGE" sleep 100
  run_husk container inspect --format '{{json .Config.Healthcheck}}' h1
  assert_output '{"Test":["CMD-SHELL","echo ok; exit 0"],"Interval":1000000000}'
  run_husk ps --format '{{.Names}} {{.Status}}'
  assert_output --regexp '^h1 Up .* \(health: starting\)$'
  run_husk container inspect --format '{{.State.Health.Status}} {{.State.Health.FailingStreak}}' h1
  assert_output "starting 0"
  hc_wait h1 healthy
  h=$(ctr_json h1 '.State.Health')
  [[ $(jq -r '.FailingStreak' <<<"$h") == 0 ]] || fail "streak: $h"
  [[ $(jq -r '.Log[0].ExitCode' <<<"$h") == 0 ]] || fail "exit code: $h"
  [[ $(jq -c '.Log[0].Output' <<<"$h") == '"ok\n"' ]] || fail "output: $h"
  [[ $(jq -r '.Log[0].Start' <<<"$h") =~ ^20[0-9-]+T[0-9:.]+Z$ ]] || fail "start: $h"
  [[ $(jq -r '.Log[0].End' <<<"$h") =~ ^20[0-9-]+T[0-9:.]+Z$ ]] || fail "end: $h"
  run_husk ps --format '{{.Names}} {{.Status}}'
  assert_output --regexp '^h1 Up .* \(healthy\)$'
  run_husk ps --filter health=healthy --format '{{.Names}}'
  assert_output h1
  run_husk ps --filter health=unhealthy --format '{{.Names}}'
  assert_output ''
  run_husk events --stream=false --since "$T0" --filter event=health_status \
    --format '{{.Status}} {{.Name}} {{.Attributes.health_status}}'
  assert_output "health_status h1 healthy"
  # The log keeps the last 5 results.
  sleep 5.5
  run_husk container inspect --format '{{len .State.Health.Log}}' h1
  assert_output 5
  # healthcheck run: silent, exit 0.
  run_husk healthcheck run h1
  assert_output ''
}

@test "healthcheck: retries failures make it unhealthy; healthcheck run exits 1" {
  run_husk run -d --name u1 --health-cmd '["CMD","sh","-c","echo bad >&2; exit 3"]' \
    --health-interval 1s --health-retries 2 "$IMAGE" sleep 100
  sleep 1.4
  run_husk container inspect --format '{{.State.Health.Status}} {{.State.Health.FailingStreak}}' u1
  assert_output "starting 1"
  hc_wait u1 unhealthy
  run_husk container inspect --format '{{(index .State.Health.Log 0).ExitCode}} {{(index .State.Health.Log 0).Output}}' u1
  assert_output "3 bad"
  run_husk ps --format '{{.Names}} {{.Status}}'
  assert_output --regexp '^u1 Up .* \(unhealthy\)$'
  run_husk ps -a --filter health=unhealthy --format '{{.Names}}'
  assert_output u1
  run_husk 1 healthcheck run u1
  assert_output unhealthy
  run_husk events --stream=false --since "$T0" --filter event=health_status \
    --format '{{.Attributes.health_status}}'
  assert_output unhealthy
}

@test "healthcheck: healthcheck run counts, and one success makes it healthy" {
  run_husk run -d --name r1 --health-cmd 'test -e /tmp/ready' --health-interval 1m --health-retries 2 \
    "$IMAGE" sleep 100
  run_husk 1 healthcheck run r1
  assert_output unhealthy
  run_husk container inspect --format '{{.State.Health.Status}} {{.State.Health.FailingStreak}}' r1
  assert_output "starting 1"
  run_husk 1 healthcheck run r1
  run_husk container inspect --format '{{.State.Health.Status}} {{.State.Health.FailingStreak}}' r1
  assert_output "unhealthy 2"
  run_husk exec r1 touch /tmp/ready
  run_husk healthcheck run r1
  assert_output ''
  run_husk container inspect --format '{{.State.Health.Status}} {{.State.Health.FailingStreak}}' r1
  assert_output "healthy 0"
}

@test "healthcheck: a check past its timeout is killed and fails" {
  run_husk run -d --name t1 --health-cmd 'sleep 30' --health-interval 1s --health-timeout 300ms \
    --health-retries 1 "$IMAGE" sleep 100
  hc_wait t1 unhealthy
  run_husk container inspect --format '{{(index .State.Health.Log 0).ExitCode}} {{(index .State.Health.Log 0).Output}}' t1
  assert_output "-1 Health check exceeded timeout (300ms)"
  # Killed: no "sleep 30" is left in the container beyond the running check.
  run_husk exec t1 sh -c 'ps -o args | grep -c "^sleep 30" || true'
  [[ $output -le 1 ]] || fail "checks left running: $output"
  local t=$SECONDS
  run_husk 1 healthcheck run t1
  assert_output unhealthy
  ((SECONDS - t < 5)) || fail "healthcheck run did not stop at the timeout"
}

@test "healthcheck: failures in the start period do not count" {
  run_husk run -d --name s1 --health-cmd 'exit 1' --health-interval 1s --health-retries 1 \
    --health-start-period 3s "$IMAGE" sleep 100
  sleep 2.5
  run_husk container inspect --format '{{.State.Health.Status}} {{.State.Health.FailingStreak}} {{len .State.Health.Log}}' s1
  assert_output --regexp '^starting 0 [12]$'
  hc_wait s1 unhealthy 5
  # A success ends the start period: the next failure counts.
  run_husk run -d --name s2 --health-cmd 'test ! -e /tmp/fail' --health-interval 1s --health-retries 1 \
    --health-start-period 1m "$IMAGE" sleep 100
  hc_wait s2 healthy
  run_husk exec s2 touch /tmp/fail
  hc_wait s2 unhealthy
}

@test "healthcheck: the image's Healthcheck, overridden field by field, and --no-healthcheck" {
  hc_image localhost/hc:1 '{"Test":["CMD-SHELL","exit 0"],"Interval":1000000000,"Retries":2}'
  run_husk run -d --name i1 localhost/hc:1 sleep 100
  hc_wait i1 healthy
  run_husk container inspect --format '{{json .Config.Healthcheck}}' i1
  assert_output '{"Test":["CMD-SHELL","exit 0"],"Interval":1000000000,"Retries":2}'
  run_husk run -d --name i2 --health-cmd 'exit 1' --health-retries 1 localhost/hc:1 sleep 100
  run_husk container inspect --format '{{json .Config.Healthcheck}}' i2
  assert_output '{"Test":["CMD-SHELL","exit 1"],"Interval":1000000000,"Retries":1}'
  hc_wait i2 unhealthy
  run_husk run -d --name i3 --no-healthcheck localhost/hc:1 sleep 100
  run_husk container inspect --format '{{json .Config.Healthcheck.Test}} {{json .State.Health}}' i3
  assert_output '["NONE"] null'
  run_husk 125 healthcheck run i3
  assert_husk_error "has no defined healthcheck"
  run_husk run -d --name i4 --health-cmd none localhost/hc:1 sleep 100
  run_husk ps --filter health=none --format '{{.Names}}'
  assert_output --partial i3
  assert_output --partial i4
  run_husk ps --format '{{.Names}} {{.Status}}' --filter name=i4
  assert_output --regexp '^i4 Up [^()]*$'
}

@test "healthcheck: restart resets the record; a stopped container is not checked" {
  run_husk run -d --name x1 --health-cmd 'exit 0' --health-interval 1s "$IMAGE" sleep 100
  hc_wait x1 healthy
  run_husk stop -t 0 x1
  run_husk 125 healthcheck run x1
  assert_husk_error "is not running"
  run_husk start x1
  run_husk container inspect --format '{{.State.Health.Status}} {{len .State.Health.Log}}' x1
  assert_output "starting 0"
  hc_wait x1 healthy
}

@test "healthcheck: bad input fails with 125 and creates nothing" {
  local snap
  snap=$(store_snapshot)
  run_husk 125 run --health-interval 5x "$IMAGE" true
  assert_husk_error 'invalid --health-interval "5x"'
  run_husk 125 create --health-timeout -1s "$IMAGE" true
  assert_husk_error 'invalid --health-timeout'
  run_husk 125 create --health-start-period 10 "$IMAGE" true
  assert_husk_error 'invalid --health-start-period'
  run_husk 125 create --health-interval 10us "$IMAGE" true
  assert_husk_error 'at least 1ms'
  run_husk 125 create --health-retries x "$IMAGE" true
  assert_husk_error 'invalid --health-retries "x"'
  run_husk 125 create --health-cmd '' "$IMAGE" true
  assert_husk_error 'invalid --health-cmd'
  run_husk 125 create --health-cmd '["FOO","x"]' "$IMAGE" true
  assert_husk_error 'invalid --health-cmd'
  run_husk 125 create --health-cmd '["CMD"' "$IMAGE" true
  assert_husk_error 'invalid --health-cmd'
  run_husk 125 create --no-healthcheck --health-cmd true "$IMAGE" true
  assert_husk_error 'conflicts'
  run_husk 125 ps --filter health=sick
  assert_husk_error 'invalid filter "health=sick"'
  run_husk 125 healthcheck run nosuch
  assert_husk_error 'no such container'
  assert_store_unchanged "$snap"
  # --health-interval=0 is the default.
  run_husk create --name z --health-cmd true --health-interval 0 "$IMAGE" true
  run_husk container inspect --format '{{.Config.Healthcheck.Interval}}' z
  assert_output 0
}
