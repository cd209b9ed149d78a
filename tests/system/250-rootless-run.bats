#!/usr/bin/env bats
# Rootless containers: husk run (and -d, ps, logs, stop, rm) by an
# unprivileged user with a subuid range, the way cron or a CI step runs it
# (env -i: no XDG_RUNTIME_DIR, no login session, no TTY).  husk enters a
# user namespace mapping 0 to the user and 1..N to the user's /etc/subuid
# range; the overlay uses userxattr, devices are bind-mounted, and cgroup
# limits are ignored (with one warning) when no cgroup is delegated.
# Issue 3 item 6 (rootless bats), issue 6 (the cron-like environment).
#
# The file needs root to create the test users (HUSK_TEST_USER, default
# husktest, with a range made by tests/unit/rootless-user.sh; and
# HUSK_TEST_USER_NOSUB, default husknosub, without one); it is skipped
# otherwise.  Each user gets a private HOME under a temp dir so the store
# (~/.local/share/husk of that HOME, the user's default store) is this
# file's alone: 080-rootless.bats empties the real home's store.  The husk
# binary and the fixture archive are copied to a directory every user can
# read, since HUSK_BINARY may live in a build tree they cannot reach.

load helpers

ROOTLESS_TAG=run
load rootless

# The host's view of a path's owner: "uid:gid".
owner_of() {
  stat -c '%u:%g' "$1"
}

# The runroot husk uses for the test user: /run/user/UID/husk when that
# directory is the user's own, /tmp/husk-run-UID/husk otherwise.
expected_runroot() {
  local uid=$1 run_user=/run/user/$1
  if [[ -d $run_user && ! -L $run_user && $(stat -c '%u %a' "$run_user") == "$uid 700" ]]; then
    echo "$run_user/husk"
  else
    echo "/tmp/husk-run-$uid/husk"
  fi
}

# container_dirs: the container directories of the user's store and
# runroot, one a line.
container_dirs() {
  find "$ROOTLESS_STORE/containers" "$(expected_runroot "$ROOTLESS_UID")/containers" \
    -mindepth 1 -maxdepth 1 -type d 2>/dev/null | LC_ALL=C sort
}

# stderr_count REGEXP: how many stderr lines of the last run match.
stderr_count() {
  local line n=0
  for line in "${stderr_lines[@]}"; do
    [[ $line =~ $1 ]] && n=$((n + 1))
  done
  echo "$n"
}

# -- basics ------------------------------------------------------------------

@test "rootless run: run --rm IMAGE echo hi" {
  run_rootless run --rm "$IMAGE" echo hi
  assert_output hi
  # The user has a range and nothing asked for limits: no warning.
  assert_equal "${stderr:-}" "" "stderr"
}

@test "rootless run: root in the container is the user; the map holds the user and the range" {
  run_rootless run --rm "$IMAGE" sh -c 'id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map'
  # The maps' columns are padded: compare the fields.
  local got
  got=$(awk '{ $1 = $1; print }' <<<"$output")
  assert_equal "$got" "0
0
0 $ROOTLESS_UID 1
1 $SUBUID_START $SUBUID_COUNT
0 $ROOTLESS_GID 1
1 $SUBGID_START $SUBGID_COUNT" "ids and maps in the container"
}

@test "rootless run: the container's processes are the user's on the host" {
  run_rootless run -d --name owner-check "$IMAGE" sleep 1000
  local pid
  pid=$(rootless_husk container inspect --format '{{.State.Pid}}' owner-check)
  [[ $pid =~ ^[0-9]+$ && $pid -gt 0 ]] || fail "no pid for the container: '$pid'" || return
  assert_equal "$(awk '$1 == "Uid:" { print $2 }' "/proc/$pid/status")" "$ROOTLESS_UID" "real uid of pid 1 on the host"
  local mpid
  mpid=$(jq -r '.MonitorPid // 0' "$ROOTLESS_STORE"/containers/*/state.json)
  [[ $mpid =~ ^[0-9]+$ && $mpid -gt 0 ]] || fail "no monitor pid: '$mpid'" || return
  assert_equal "$(awk '$1 == "Uid:" { print $2 }' "/proc/$mpid/status")" "$ROOTLESS_UID" "real uid of the monitor"
}

@test "rootless run: -u 1000:1000 writes to a bind mount as subuid_start+999" {
  local vol=$ROOTLESS_DIR/vol-$BATS_TEST_NUMBER
  mkdir "$vol"
  chown "$ROOTLESS_USER:" "$vol"
  # Others may write: uid 1000 in the container is not the owner.
  chmod 0777 "$vol"
  run_rootless run --rm -u 1000:1000 -v "$vol:/data" "$IMAGE" sh -c 'touch /data/by-user && id -u && id -g'
  assert_output $'1000\n1000'
  assert_equal "$(owner_of "$vol/by-user")" "$((SUBUID_START + 999)):$((SUBGID_START + 999))" "owner of a file uid 1000 made"
  # Root in the container writes as the user.
  run_rootless run --rm -v "$vol:/data" "$IMAGE" touch /data/by-root
  assert_equal "$(owner_of "$vol/by-root")" "$ROOTLESS_UID:$ROOTLESS_GID" "owner of a file root made"
  # The user's own files are root's in the container.
  run_rootless run --rm -v "$vol:/data" "$IMAGE" stat -c '%u:%g %n' /data /data/by-user
  assert_output "0:0 /data
1000:1000 /data/by-user"
}

# -- lifecycle -----------------------------------------------------------------

@test "rootless run: run -d, ps, logs, stop, rm" {
  run_rootless run -d --name bg "$IMAGE" sh -c 'trap "echo bye; exit 0" TERM; echo started; while :; do sleep 0.1; done'
  assert_output --regexp "$ID64_RE"
  local id=$output

  run_rootless ps --no-trunc --format '{{.ID}} {{.Names}} {{.Status}}'
  assert_output --regexp "^$id bg Up "

  local i
  for i in $(seq 1 50); do
    run_rootless logs bg
    [[ $output == started ]] && break
    sleep 0.1
  done
  assert_output started

  run_rootless stop -t 10 bg
  assert_output bg
  run_rootless ps -a --format '{{.Names}} {{.Status}}'
  assert_output --regexp '^bg Exited \(0\) '
  run_rootless logs bg
  assert_output $'started\nbye'

  run_rootless rm bg
  assert_output bg
  run_rootless ps -a -q
  assert_output ""
  [[ ! -e $ROOTLESS_STORE/containers/$id ]] || fail "the container's directory is still in the store"
  [[ ! -e $(expected_runroot "$ROOTLESS_UID")/containers/$id ]] ||
    fail "the container's directory is still in the runroot"
}

@test "rootless run: exit codes 3, 127, 126" {
  run_rootless 3 run --rm "$IMAGE" sh -c 'exit 3'
  run_rootless 127 run --rm "$IMAGE" no-such-command
  assert_equal "${stderr:-}" 'Error: exec "no-such-command": executable file not found in $PATH' "stderr"
  run_rootless 126 run --rm "$IMAGE" /etc/motd
  [[ $stderr == *"/etc/motd"* ]] || fail "stderr does not name /etc/motd: '$stderr'"
}

@test "rootless run: --rm leaves no container directory" {
  local before
  before=$(container_dirs)
  run_rootless run --rm "$IMAGE" true
  run_rootless 4 run --rm "$IMAGE" sh -c 'exit 4'
  run_rootless run -d --rm "$IMAGE" true
  # The -d one: the monitor removes it after the exit.
  local _
  for _ in $(seq 1 50); do
    [[ $(container_dirs) == "$before" ]] && break
    sleep 0.1
  done
  local new
  new=$(comm -13 <(echo "$before") <(container_dirs))
  assert_equal "$new" "" "container directories --rm left"
  run_rootless ps -a -q
  assert_output ""
}

# -- limits --------------------------------------------------------------------

@test "rootless run: -m 64m warns once that limits are ignored and still runs" {
  if [[ $(stat -fc %T /sys/fs/cgroup) == cgroup2fs ]]; then
    local rel
    rel=$(as_user "$ROOTLESS_USER" "$ROOTLESS_HOME" awk -F: '$1 == "0" { print $3 }' /proc/self/cgroup)
    if [[ -n $rel && $(stat -c %u "/sys/fs/cgroup$rel" 2>/dev/null) == "$ROOTLESS_UID" ]]; then
      skip "the user's cgroup v2 subtree is delegated here: limits apply"
    fi
  fi
  run_rootless run --rm -m 64m "$IMAGE" echo still-runs
  assert_output still-runs
  assert_equal "$(stderr_count '^Warning: .*limits.*ignored')" 1 "number of 'limits are ignored' warnings"
  assert_equal "${#stderr_lines[@]}" 1 "number of stderr lines"

  # Several limits: still one warning.
  run_rootless run --rm -m 64m --pids-limit 50 --cpus 0.5 "$IMAGE" echo still-runs
  assert_output still-runs
  assert_equal "$(stderr_count '^Warning: .*limits.*ignored')" 1 "number of warnings with three limits"
  assert_equal "${#stderr_lines[@]}" 1 "number of stderr lines with three limits"

  # Detached: the warning comes before the id, the container runs.
  run_rootless run -d --name limited -m 64m "$IMAGE" sleep 1000
  assert_output --regexp "$ID64_RE"
  assert_equal "$(stderr_count '^Warning: .*limits.*ignored')" 1 "number of warnings with -d"
  run_rootless ps --format '{{.Names}}'
  assert_output limited
}

@test "rootless run: --ulimit nofile above the hard limit is clamped with a warning" {
  local hard
  hard=$(as_user "$ROOTLESS_USER" "$ROOTLESS_HOME" sh -c 'ulimit -Hn')
  [[ $hard =~ ^[0-9]+$ ]] || skip "the user's hard nofile limit is '$hard'"
  local want=$((hard + 1000))
  run_rootless run --rm --ulimit "nofile=$want:$want" "$IMAGE" sh -c 'ulimit -n; ulimit -Hn'
  assert_equal "${lines[1]:-}" "$hard" "hard nofile in the container"
  [[ ${lines[0]} =~ ^[0-9]+$ && ${lines[0]} -le $hard && ${lines[0]} -gt 0 ]] ||
    fail "soft nofile '${lines[0]}', expected <= $hard"
  assert_equal "$(stderr_count "^Warning: .*nofile.*$want")" 1 "number of clamping warnings"
  assert_equal "${#stderr_lines[@]}" 1 "number of stderr lines"
  # Within the limit: as asked, no warning.
  run_rootless run --rm --ulimit nofile=512:1024 "$IMAGE" sh -c 'ulimit -n; ulimit -Hn'
  assert_output $'512\n1024'
  assert_equal "${stderr:-}" "" "stderr"
}

# -- security ----------------------------------------------------------------

@test "rootless run: seccomp is on" {
  run_rootless run --rm "$IMAGE" grep '^Seccomp:' /proc/self/status
  assert_output $'Seccomp:\t2'
  run_rootless run --rm -u 1000:1000 "$IMAGE" grep '^Seccomp:' /proc/self/status
  assert_output $'Seccomp:\t2'
}

@test "rootless run: root has the default capabilities, uid 1000 none" {
  run_rootless run --rm "$IMAGE" grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb):' /proc/self/status
  assert_line $'CapEff:\t'$DEFAULT_CAPS
  assert_line $'CapPrm:\t'$DEFAULT_CAPS
  assert_line $'CapBnd:\t'$DEFAULT_CAPS
  assert_line $'CapInh:\t0000000000000000'
  assert_line $'CapAmb:\t0000000000000000'
  run_rootless run --rm -u 1000:1000 "$IMAGE" grep -E '^Cap(Eff|Bnd):' /proc/self/status
  assert_line $'CapEff:\t0000000000000000'
  assert_line $'CapBnd:\t'$DEFAULT_CAPS
  # CHOWN works within the mapped range.
  run_rootless run --rm "$IMAGE" sh -c 'touch /f && chown 1000:1000 /f && stat -c %u:%g /f'
  assert_output 1000:1000
}

# -- terminals -----------------------------------------------------------------

@test "rootless run: -it under script(1)" {
  command -v script >/dev/null || skip "script (util-linux) is not installed"
  run as_user "$ROOTLESS_USER" "$ROOTLESS_HOME" script -qec \
    "$ROOTLESS_DIR/husk run --rm -it $IMAGE sh -c 'tty; test -t 0 && test -t 1 && echo ok; id -u; exit 3'" \
    /dev/null </dev/null
  echo "$output" >&2
  assert_equal "$status" 3 "exit status through the tty"
  [[ $output == *"/dev/pts/0"* ]] || fail "no /dev/pts/0 in '$output'"
  [[ $output == *ok* ]] || fail "stdin and stdout are not ttys: '$output'"
  [[ $output == *$'\n0'* || $output == *$'\r\n0'* ]] || fail "id -u is not 0: '$output'"
  # No check for a stray ^@: script(1) writes a NUL at its stdin's EOF and
  # husk forwards it (as 200-run.bats notes).
}

# -- files ---------------------------------------------------------------------

@test "rootless run: the store and the runroot hold no root-owned file" {
  # A container in each state, so their files exist.
  run_rootless run -d --name files-running "$IMAGE" sleep 1000
  run_rootless run --name files-exited "$IMAGE" sh -c 'echo x >/made'
  run_rootless create --name files-created "$IMAGE" true
  local runroot
  runroot=$(expected_runroot "$ROOTLESS_UID")
  local root_owned
  root_owned=$(find "$ROOTLESS_STORE" "$runroot" -user 0 -o -group 0 2>&1 | head -n 20)
  assert_equal "$root_owned" "" "root-owned files in the user's store and runroot"
  # Every file is the user's or in its range.
  local outside
  outside=$(find "$ROOTLESS_STORE" "$runroot" -printf '%U %G %p\n' |
    awk -v u="$ROOTLESS_UID" -v g="$ROOTLESS_GID" \
      -v us="$SUBUID_START" -v uc="$SUBUID_COUNT" -v gs="$SUBGID_START" -v gc="$SUBGID_COUNT" \
      '!(($1 == u || ($1 >= us && $1 < us + uc)) && ($2 == g || ($2 >= gs && $2 < gs + gc)))' |
    head -n 20)
  assert_equal "$outside" "" "files owned outside the user's ids"
  assert_equal "$(owner_of "$ROOTLESS_STORE")" "$ROOTLESS_UID:$ROOTLESS_GID" "owner of the store"
}

@test "rootless run: without XDG_RUNTIME_DIR the runroot is /tmp/husk-run-UID" {
  local runroot
  runroot=$(expected_runroot "$ROOTLESS_UID")
  run_rootless info --format '{{.store.runRoot}}'
  assert_output "$runroot"
  if [[ $runroot == /tmp/* ]]; then
    assert_equal "$(stat -c '%u %a' "${runroot%/husk}")" "$ROOTLESS_UID 700" "owner and mode of ${runroot%/husk}"
  fi
  # A running container's attach socket is there.
  run_rootless run -d --name rr "$IMAGE" sleep 1000
  local id=$output
  [[ -S $runroot/containers/$id/attach ]] ||
    fail "no attach socket at $runroot/containers/$id/attach: $(ls -la "$runroot/containers/$id" 2>&1)"
  assert_equal "$(stat -c %u "$runroot/containers/$id")" "$ROOTLESS_UID" "owner of the container's run dir"
}

# -- a user without a range ------------------------------------------------------

@test "rootless run: a user without a subuid range gets one warning and still runs" {
  [[ -z ${NOSUB_SKIP:-} ]] || skip "$NOSUB_SKIP"
  local warning="Warning: no subuid range for user $NOSUB_USER in /etc/subuid: files owned by other users in images will be owned by you"
  run_as "$NOSUB_USER" "$NOSUB_HOME" load -q -i "$ROOTLESS_DIR/docker-archive.tar"
  assert_equal "$stderr" "$warning" "stderr of load"

  run_as "$NOSUB_USER" "$NOSUB_HOME" run --rm "$IMAGE" true
  assert_output ""
  assert_equal "$stderr" "$warning" "stderr of run --rm IMAGE true"

  # One id mapped: root is the user, nothing else.
  run_as "$NOSUB_USER" "$NOSUB_HOME" run --rm "$IMAGE" sh -c 'id -u; cat /proc/self/uid_map'
  local got
  got=$(awk '{ $1 = $1; print }' <<<"$output")
  assert_equal "$got" "0
0 $NOSUB_UID 1" "id and uid_map"
  assert_equal "$stderr" "$warning" "stderr"

  # Detached too, with the warning once.
  run_as "$NOSUB_USER" "$NOSUB_HOME" run -d --name nosub-bg "$IMAGE" sleep 1000
  assert_output --regexp "$ID64_RE"
  assert_equal "$stderr" "$warning" "stderr of run -d"
  run_as "$NOSUB_USER" "$NOSUB_HOME" ps --format '{{.Names}}'
  assert_output nosub-bg
}
