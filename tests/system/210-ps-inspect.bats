#!/usr/bin/env bats
# husk ps (container ls/list) and container inspect / inspect of
# containers: Docker's columns and status strings, Podman's flags, filters,
# --format templates and json, and bad input.

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

PS_HEADER_RE='^CONTAINER ID +IMAGE +COMMAND +CREATED +STATUS +PORTS +NAMES$'

# mk NAME [CREATE_OPTIONS...] [-- COMMAND...]: a created container NAME;
# its full id in $ID.
mk() {
  local name=$1
  shift
  local opts=()
  while [[ $# -gt 0 && $1 != -- ]]; do
    opts+=("$1")
    shift
  done
  [[ ${1:-} == -- ]] && shift
  [[ $# -gt 0 ]] || set -- true
  run_husk create --name "$name" "${opts[@]}" "$IMAGE" "$@"
  assert_output --regexp "$ID64_RE"
  ID=$output
}

# bg NAME [RUN_OPTIONS...] -- COMMAND...: a detached running container.
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
  ID=$output
  ctr_wait_status "$name" running
}

# ps_names [PS_ARGS...]: the NAMES of `husk ps ARGS`, one a line.
ps_names() {
  run_husk ps --format '{{.Names}}' "$@"
}

# -- listing -------------------------------------------------------------------

@test "ps: an empty store prints the header only" {
  run_husk ps
  assert_line_count 1
  assert_output --regexp "$PS_HEADER_RE"
  run_husk ps -a --noheading
  assert_output ""
  run_husk container ls -a
  assert_output --regexp "$PS_HEADER_RE"
}

@test "ps: created containers only with -a; columns of a created container" {
  mk c1 -- sh -c 'sleep 1000'
  run_husk ps
  assert_line_count 1
  run_husk ps -a
  assert_line_count 2
  assert_line --index 0 --regexp "$PS_HEADER_RE"
  assert_line --index 1 --regexp "^${ID:0:12}   $IMAGE   \"sh -c 'sleep 1000'\"   (Less than a second|[0-9]+ seconds?) ago +Created +c1\$"
  for alias in "container ls" "container list" "container ps"; do
    # shellcheck disable=SC2086
    run_husk $alias -a --noheading
    assert_line_count 1
    assert_output --partial c1
  done
}

@test "ps: -q, --no-trunc, -l, -n: ids and newest first" {
  mk first
  local id1=$ID
  sleep 1.1
  mk second
  local id2=$ID
  sleep 1.1
  mk third
  local id3=$ID
  run_husk ps -aq
  assert_output "${id3:0:12}
${id2:0:12}
${id1:0:12}"
  run_husk ps -aq --no-trunc
  assert_output "$id3
$id2
$id1"
  run_husk ps -a --no-trunc --format '{{.ID}}'
  assert_output "$id3
$id2
$id1"
  # -l and -n look at every state, without -a
  run_husk ps -l -q
  assert_output "${id3:0:12}"
  run_husk ps --latest --format '{{.Names}}'
  assert_output third
  ps_names -n 2
  assert_output "third
second"
  ps_names --last 0
  assert_output ""
  ps_names -n 10
  assert_line_count 3
}

@test "ps: COMMAND is quoted and cut at 20 characters as Docker does" {
  mk long -- sh -c 'echo "hello there" && sleep 1000'
  run_husk ps -a --format '{{.Command}}'
  # 19 characters and the ellipsis, then Go's quoting
  assert_output "\"sh -c 'echo \\\"hello …\""
  run_husk ps -a --no-trunc --format '{{.Command}}'
  assert_output "\"sh -c 'echo \\\"hello there\\\" && sleep 1000'\""
  run_husk ps -a --format json
  assert_equal "$(jq -c '.[0].Command' <<<"$output")" '["sh","-c","echo \"hello there\" && sleep 1000"]' Command
}

@test "ps: running and exited containers, status strings" {
  bg up -- sleep 100
  local up=$ID
  run_husk 3 run --name gone "$IMAGE" sh -c 'exit 3'
  mk new
  run_husk ps
  assert_line_count 2
  assert_line --index 1 --regexp "^${up:0:12}   $IMAGE   \"sleep 100\" +.* ago +Up (Less than a second|[0-9]+ seconds?) +up\$"
  run_husk ps -a --format '{{.Names}} {{.State}} {{.Status}}'
  assert_line --regexp '^up running Up (Less than a second|[0-9]+ seconds?)$'
  assert_line --regexp '^gone exited Exited \(3\) (Less than a second|[0-9]+ seconds?) ago$'
  assert_line 'new created Created'
  run_husk ps -a --format '{{.Names}} {{.ExitCode}} {{.Exited}}'
  assert_line 'gone 3 true'
  assert_line 'up 0 false'
  run_husk ps --format '{{.Pid}}'
  [[ $output =~ ^[0-9]+$ && $output -gt 0 ]] || fail "Pid: $output"
}

@test "ps -s: the upper directory's size and the virtual size" {
  run_husk 0 run --name writer "$IMAGE" sh -c 'dd if=/dev/zero of=/blob bs=1000 count=12 2>/dev/null'
  mk idle
  run_husk ps -a -s
  assert_line --index 0 --regexp "^CONTAINER ID +IMAGE +COMMAND +CREATED +STATUS +PORTS +NAMES +SIZE$"
  run_husk ps -a --size --format '{{.Names}} {{.Size}}'
  assert_line --regexp '^writer 12(\.[0-9]+)?kB \(virtual [0-9.]+MB\)$'
  assert_line --regexp '^idle 0B \(virtual [0-9.]+MB\)$'
  run_husk ps -a -s --format json
  jq -e '.[] | select(.Names[0] == "writer") | .Size.rwSize >= 12000 and .Size.rootFsSize > .Size.rwSize' \
    <<<"$output" >/dev/null || fail "Size in json: $output"
}

# -- filters -------------------------------------------------------------------

@test "ps --filter status, exited: implies -a, OR within a key" {
  bg running1 -- sleep 100
  run_husk 3 run --name exit3 "$IMAGE" sh -c 'exit 3'
  run_husk 0 run --name exit0 "$IMAGE" true
  mk created1
  ps_names --filter status=exited
  assert_output "exit0
exit3"
  ps_names -f status=created
  assert_output created1
  ps_names -f status=running
  assert_output running1
  ps_names -f status=created -f status=running
  assert_output "created1
running1"
  ps_names -f status=paused
  assert_output ""
  ps_names -f exited=3
  assert_output exit3
  ps_names -f exited=0 -f exited=3
  assert_output "exit0
exit3"
  ps_names -f exited=3 -f status=running
  assert_output ""
}

@test "ps --filter name (regular expression), id (prefix), label, AND across keys" {
  mk web-1 --label tier=front --label app
  local web1=$ID
  mk web-2 --label tier=back
  mk db
  ps_names -a -f name=web
  assert_output "web-2
web-1"
  ps_names -a -f name='^web-1$'
  assert_output web-1
  ps_names -a -f name='^d' -f name='-2$'
  assert_output "db
web-2"
  ps_names -a -f id="${web1:0:5}"
  assert_output web-1
  ps_names -a -f id="$web1"
  assert_output web-1
  ps_names -a -f label=tier
  assert_output "web-2
web-1"
  ps_names -a -f label=tier=back
  assert_output web-2
  ps_names -a -f label=tier -f label=app
  assert_output web-1
  ps_names -a -f name=web -f label=tier=front
  assert_output web-1
  ps_names -a -f name=nomatch
  assert_output ""
}

@test "ps --filter ancestor: image name, id, id prefix" {
  mk a1
  local ref
  for ref in "$IMAGE" husk-test "$FIXTURE_ID" "${FIXTURE_ID:0:12}" "sha256:$FIXTURE_ID"; do
    ps_names -a -f ancestor="$ref"
    assert_output a1
  done
  ps_names -a -f ancestor=busybox:nosuch
  assert_output ""
}

@test "ps: bad filters, flags and formats fail with 125" {
  mk x
  run_husk 125 ps -f status=bogus
  assert_husk_error 'status=bogus'
  run_husk 125 ps -f bogus=1
  assert_husk_error 'bogus'
  run_husk 125 ps -f status
  assert_husk_error 'status'
  run_husk 125 ps -f exited=abc
  assert_husk_error 'exited=abc'
  run_husk 125 ps -f 'name=('
  assert_husk_error 'name=('
  run_husk 125 ps -n abc
  assert_husk_error 'abc'
  run_husk 125 ps -a --format '{{.Bogus}}'
  assert_husk_error 'Bogus'
  run_husk 125 ps -a --format '{{.Names'
  assert_husk_error
}

# -- formats -------------------------------------------------------------------

@test "ps --format: templates, table, json, --noheading" {
  mk f1 --label k=v
  run_husk ps -a --format '{{.Names}}|{{.Image}}|{{.ImageID}}|{{.State}}|{{.Labels.k}}|{{.Ports}}|'
  assert_output "f1|$IMAGE|$FIXTURE_ID|created|v||"
  run_husk ps -a --format 'table {{.Names}}\t{{.Status}}\t{{.RunningFor}}'
  assert_line --index 0 --regexp '^NAMES +STATUS +CREATED$'
  assert_line --index 1 --regexp '^f1 +Created +.* ago$'
  run_husk ps -a --noheading --format 'table {{.Names}}\t{{.Status}}'
  assert_output --regexp '^f1 +Created$'
  run_husk ps -a --format table --noheading
  assert_output --regexp '^[0-9a-f]{12}   '
  run_husk ps -a --format '{{.CreatedAt}}'
  assert_output --regexp '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} \+0000 UTC$'
  run_husk ps -a --format '{{json .Labels}}'
  jq -e '.k == "v"' <<<"$output" >/dev/null || fail "Labels: $output"
  run_husk ps -a --format '{{json .}}'
  jq -e '.Names == "f1" and .State == "created"' <<<"$output" >/dev/null || fail "json .: $output"
}

@test "ps --format json: podman's keys" {
  mk j1 --label k=v
  run_husk ps -a --format json
  local json=$output
  jq -e 'type == "array" and length == 1' <<<"$json" >/dev/null || fail "not an array of one: $json"
  local key
  for key in Id Image ImageID Command Created CreatedAt State Status Names Labels ExitCode \
    Exited ExitedAt StartedAt Pid Mounts Ports Size; do
    jq -e --arg k "$key" '.[0] | has($k)' <<<"$json" >/dev/null || fail "key $key missing: $json"
  done
  assert_equal "$(jq -r '.[0].Id' <<<"$json")" "$ID" Id
  assert_equal "$(jq -c '.[0].Names' <<<"$json")" '["j1"]' Names
  assert_equal "$(jq -r '.[0].State' <<<"$json")" created State
  assert_equal "$(jq -r '.[0].Labels.k' <<<"$json")" v Labels
  jq -e '.[0].Created | type == "number" and . > 1600000000' <<<"$json" >/dev/null || fail "Created: $json"
  run_husk ps --format json
  assert_output "[]"
}

# -- inspect -------------------------------------------------------------------

@test "container inspect: a JSON array with podman's keys" {
  mk i1 --hostname box --memory 64m -e FOO=bar -v /tmp:/host:ro --tmpfs /scratch -- sh -c 'exit 0'
  run_husk container inspect i1
  local json=$output
  jq -e 'type == "array" and length == 1' <<<"$json" >/dev/null || fail "not an array of one: $json"
  local key
  for key in Id Created Path Args State Image ImageName Rootfs Name RestartCount Driver \
    MountLabel ProcessLabel Mounts Config HostConfig HostnamePath HostsPath ResolvConfPath \
    GraphDriver; do
    jq -e --arg k "$key" '.[0] | has($k)' <<<"$json" >/dev/null || fail "key $key missing"
  done
  for key in Status Running Paused Restarting OOMKilled Dead Pid ExitCode Error StartedAt FinishedAt; do
    jq -e --arg k "$key" '.[0].State | has($k)' <<<"$json" >/dev/null || fail "State.$key missing"
  done
  local i
  i=$(jq -c '.[0]' <<<"$json")
  assert_equal "$(jq -r .Id <<<"$i")" "$ID" Id
  assert_equal "$(jq -r .Name <<<"$i")" i1 Name
  assert_equal "$(jq -r .Image <<<"$i")" "$FIXTURE_ID" Image
  assert_equal "$(jq -r .ImageName <<<"$i")" "$IMAGE" ImageName
  assert_equal "$(jq -r .Path <<<"$i")" sh Path
  assert_equal "$(jq -c .Args <<<"$i")" '["-c","exit 0"]' Args
  jq -e '.Created | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}(\\.[0-9]+)?Z$")' <<<"$i" >/dev/null ||
    fail "Created: $(jq .Created <<<"$i")"
  assert_equal "$(jq -r .State.Status <<<"$i")" created State.Status
  assert_equal "$(jq -r .State.Running <<<"$i")" false State.Running
  assert_equal "$(jq -r .State.StartedAt <<<"$i")" 0001-01-01T00:00:00Z State.StartedAt
  assert_equal "$(jq -r .Config.Hostname <<<"$i")" box Config.Hostname
  jq -e '.Config.Env | index("FOO=bar")' <<<"$i" >/dev/null || fail "Env: $(jq -c .Config.Env <<<"$i")"
  assert_equal "$(jq -r .HostConfig.Memory <<<"$i")" 67108864 HostConfig.Memory
  jq -e '.Driver | test("^(overlay|vfs)$")' <<<"$i" >/dev/null || fail "Driver: $i"
  jq -e '.Mounts[] | select(.Type == "bind" and .Source == "/tmp" and .Destination == "/host" and .RW == false)' \
    <<<"$i" >/dev/null || fail "bind mount: $(jq -c .Mounts <<<"$i")"
  jq -e '.Mounts[] | select(.Type == "tmpfs" and .Destination == "/scratch")' \
    <<<"$i" >/dev/null || fail "tmpfs mount: $(jq -c .Mounts <<<"$i")"
}

@test "container inspect: a running and an exited container" {
  bg alive -- sleep 100
  run_husk container inspect --format '{{.State.Status}} {{.State.Running}} {{.State.ExitCode}} {{.State.OOMKilled}}' alive
  assert_output "running true 0 false"
  run_husk container inspect --format '{{.State.Pid}}' alive
  [[ $output -gt 0 ]] && kill -0 "$output" || fail "State.Pid $output is not a live process"
  run_husk container inspect --format '{{.State.StartedAt}}' alive
  assert_output --regexp '^20[0-9]{2}-'

  run_husk 7 run --name dead "$IMAGE" sh -c 'exit 7'
  run_husk container inspect -f '{{.State.Status}} {{.State.Running}} {{.State.ExitCode}} {{.State.Pid}}' dead
  assert_output "exited false 7 0"
  run_husk container inspect -f '{{.State.FinishedAt}}' dead
  assert_output --regexp '^20[0-9]{2}-'
  # both at once, in argument order
  run_husk container inspect -f '{{.Name}}' dead alive
  assert_output "dead
alive"
}

@test "container inspect --size; inspect -f templates" {
  run_husk 0 run --name sized "$IMAGE" sh -c 'dd if=/dev/zero of=/blob bs=1000 count=5 2>/dev/null'
  run_husk container inspect --size -f '{{.SizeRw}} {{.SizeRootFs}}' sized
  local rw=${output% *} rootfs=${output#* }
  [[ $rw -ge 5000 && $rootfs -gt $rw ]] || fail "SizeRw $rw SizeRootFs $rootfs"
  run_husk container inspect sized
  jq -e '.[0] | has("SizeRw") | not' <<<"$output" >/dev/null || fail "SizeRw without --size"
  run_husk container inspect -f '{{.Config.Hostname}} {{.HostConfig.Memory}} {{json .Config.Cmd}}' sized
  assert_output --regexp '^[0-9a-f]{12} 0 \["sh","-c",'
}

@test "inspect: finds containers; a container wins over an image of the same name" {
  mk ctr1
  local id=$ID
  run_husk inspect --format '{{.Id}} {{.Name}}' ctr1
  assert_output "$id ctr1"
  run_husk inspect --format '{{.Id}}' "${id:0:12}"
  assert_output "$id"
  run_husk inspect --type container --format '{{.Name}}' ctr1
  assert_output ctr1
  run_husk 125 inspect --type image ctr1
  assert_husk_error
  # a container and an image in one call
  run_husk inspect --format '{{.Id}}' ctr1 "$IMAGE"
  assert_output "$id
$FIXTURE_ID"
  # a container named like the image: Podman looks at containers first
  mk husk-test
  local shadow=$ID
  run_husk inspect --format '{{.Id}}' husk-test
  assert_output "$shadow"
  run_husk inspect --type image --format '{{.Id}}' husk-test
  assert_output "$FIXTURE_ID"
  run_husk image inspect --format '{{.Id}}' husk-test
  assert_output "$FIXTURE_ID"
  # container inspect and inspect print the same object
  run_husk container inspect ctr1
  local expected=$output
  run_husk inspect ctr1
  assert_output "$expected"
}

@test "inspect: unknown names, bad --format" {
  mk known
  run_husk 125 container inspect nosuch
  assert_husk_error 'no such container nosuch'
  run_husk 125 inspect --type container nosuch
  assert_husk_error 'no such container nosuch'
  run_husk 125 inspect nosuch
  assert_husk_error 'no such object: "nosuch"'
  # what was found is printed, the missing one reported
  run_husk 125 container inspect -f '{{.Name}}' known nosuch
  assert_output known
  [[ $stderr == *"no such container nosuch"* ]] || fail "stderr: $stderr"
  run_husk 125 container inspect -f '{{.State.Status' known
  assert_husk_error
}
