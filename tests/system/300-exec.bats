#!/usr/bin/env bats
# husk exec: a process in a running container (issue 4 item 1).  Exit
# codes, -u -w -e --env-file -i -t -d --privileged --detach-keys, what the
# process shares with the container (pid, uts and mount namespaces,
# cgroup, capabilities, seccomp), its fds, bad input, the /proc/<pid>/exe
# race of DESIGN.md section 7, and rootless exec.

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

# bg NAME [RUN_OPTIONS...]: a detached container NAME running a sleep loop.
bg() {
  local name=$1
  shift
  run_husk run -d --name "$name" "$@" "$IMAGE" sh -c 'while :; do sleep 0.2; done'
  assert_output --regexp "$ID64_RE"
}

# assert_stderr_has SUBSTRING: the last run's stderr contains SUBSTRING.
assert_stderr_has() {
  [[ ${stderr:-} == *"$1"* ]] || fail "stderr '${stderr:-}' does not contain '$1'"
}

# The status line KEY of /proc/PID/status inside container NAME.
status_of() {
  husk exec "$1" grep "^$3:" "/proc/$2/status" | cut -f2
}

@test "exec: exit codes 0, 3, 126, 127" {
  bg e1
  run_husk exec e1 true
  assert_output ""
  run_husk 3 exec e1 sh -c 'exit 3'
  run_husk 126 exec e1 /etc
  assert_stderr_has 'exec "/etc": Permission denied'
  run_husk 127 exec e1 no-such-command
  assert_stderr_has 'exec "no-such-command": executable file not found in $PATH'
  run_husk 127 exec e1 /no/such/file
  run_husk 137 exec e1 sh -c 'kill -9 $$'
}

@test "exec: stdout and stderr go straight to the caller's fds" {
  bg e1
  run --separate-stderr "$HUSK_BINARY" --root "$HUSK_ROOT" --runroot "$HUSK_RUNROOT" \
    ${HUSK_TEST_STORAGE_DRIVER:+--storage-driver "$HUSK_TEST_STORAGE_DRIVER"} exec e1 sh -c 'echo out; echo err >&2'
  assert_equal "$status" 0
  assert_equal "$output" out
  assert_equal "$stderr" err
}

@test "exec: -u by name, by uid:gid, unknown user" {
  bg e1
  run_husk exec e1 id
  assert_output --partial "uid=0(root) gid=0(root)"
  run_husk exec -u nobody e1 id
  assert_output --partial "uid=65534(nobody) gid=65534(nogroup)"
  run_husk exec --user 1000:1000 e1 id -u
  assert_output "1000"
  run_husk exec -u 1234:5678 e1 sh -c 'id -u; id -g'
  assert_output "1234
5678"
  run_husk 125 exec -u no-such-user e1 id
  assert_husk_error "unable to find user no-such-user"
}

@test "exec: the container's user and workdir are the defaults" {
  run_husk run -d --name e2 -u nobody -w /tmp "$IMAGE" sleep 1000
  run_husk exec e2 sh -c 'id -un; pwd'
  assert_output "nobody
/tmp"
  run_husk exec -u root -w /etc e2 sh -c 'id -un; pwd'
  assert_output "root
/etc"
}

@test "exec: -w must exist inside the root; /proc/self/fd/N is refused" {
  bg e1
  run_husk exec -w /etc e1 pwd
  assert_output "/etc"
  run_husk exec --workdir /usr/bin e1 pwd
  assert_output "/usr/bin"
  run_husk 126 exec -w /no/such/dir e1 pwd
  assert_stderr_has "workdir \`/no/such/dir\`"
  run_husk 126 exec -w /proc/self/fd/1 e1 pwd
  assert_stderr_has "workdir"
  run_husk 125 exec -w relative e1 pwd
  assert_husk_error "must be an absolute path"
}

@test "exec: -e and --env-file over the container's environment" {
  run_husk run -d --name e1 -e FROM_RUN=r -e OVER=run "$IMAGE" sleep 1000
  printf 'A=1\n# comment\n\n  B=two words  \nOVER=file\n' >"$BATS_TEST_TMPDIR/env"
  run_husk exec --env-file "$BATS_TEST_TMPDIR/env" -e C=3 e1 sh -c 'echo "$FROM_RUN|$A|$B|$C|$OVER|$HOME"'
  assert_output "r|1|two words|3|file|/root"
  run_husk exec -e OVER=cli --env-file "$BATS_TEST_TMPDIR/env" e1 sh -c 'echo $OVER'
  assert_output "cli"
  HUSK_EXEC_TEST_VAR=fromhost run_husk exec -e HUSK_EXEC_TEST_VAR -e UNSET_HUSK_VAR e1 \
    sh -c 'echo "$HUSK_EXEC_TEST_VAR|${UNSET_HUSK_VAR-unset}"'
  assert_output "fromhost|unset"
  run_husk exec e1 sh -c 'echo $PATH'
  assert_output --partial "/bin"
  run_husk 125 exec --env-file /no/such/file e1 true
  assert_husk_error "read --env-file /no/such/file"
  run_husk 125 exec -e =x e1 true
  assert_husk_error 'invalid environment variable: "=x"'
}

@test "exec: -i passes stdin, without -i stdin is empty" {
  bg e1
  printf 'line one\nline two\n' >"$BATS_TEST_TMPDIR/in"
  run_husk --stdin "$BATS_TEST_TMPDIR/in" exec -i e1 sh -c 'cat; echo end'
  assert_output "line one
line two
end"
  run_husk --stdin "$BATS_TEST_TMPDIR/in" exec e1 sh -c 'cat; echo end'
  assert_output "end"
  # Binary data survives.
  head -c 100000 /dev/urandom >"$BATS_TEST_TMPDIR/bin"
  local want
  want=$(sha256sum <"$BATS_TEST_TMPDIR/bin" | cut -d' ' -f1)
  run_husk --stdin "$BATS_TEST_TMPDIR/bin" exec -i e1 sha256sum
  assert_output --partial "$want"
}

@test "exec -t under script(1): a tty of the container's devpts, TERM, exit code" {
  command -v script >/dev/null || skip "script (util-linux) is not installed"
  bg e1
  local w
  w=$(husk_wrapper)
  run script -qec "$w exec -it e1 sh -c 'tty; test -t 0 && test -t 1 && echo ok; echo \$TERM; exit 3'" /dev/null </dev/null
  assert_equal "$status" 3
  assert_output --regexp "/dev/pts/[0-9]+"
  assert_output --partial "ok"
  assert_output --partial "xterm"
  # The window size is the caller's.
  run script -qec "stty rows 33 cols 99; $w exec -t e1 sh -c \"stty size\"" /dev/null </dev/null
  assert_equal "$status" 0
  assert_output --partial "33 99"
}

@test "exec -it: input through the pty, the detach keys leave the process running" {
  command -v script >/dev/null || skip "script (util-linux) is not installed"
  bg e1
  local w
  w=$(husk_wrapper)
  run bash -c "(sleep 1; printf 'echo in-\$((40+2))\r'; sleep 0.5; printf 'exit 5\r'; sleep 2) | script -qec '$w exec -it e1 sh' /dev/null"
  assert_equal "$status" 5
  assert_output --partial "in-42"
  # ctrl-p ctrl-q: the CLI returns 0, the command goes on.
  run bash -c "(sleep 1; printf '\\x10\\x11'; sleep 1) | timeout 20 script -qec '$w exec -it e1 sh -c \"sleep 1.5; touch /tmp/after-detach; sleep 100\"' /dev/null"
  assert_equal "$status" 0
  sleep 1.5
  run_husk exec e1 ls /tmp/after-detach
  run_husk exec e1 ps
  assert_output --partial "sleep 100"
  # Custom keys.
  run bash -c "(sleep 1; printf 'x'; sleep 1) | timeout 20 script -qec '$w exec -it --detach-keys x e1 sleep 101' /dev/null"
  assert_equal "$status" 0
  run_husk exec e1 ps
  assert_output --partial "sleep 101"
}

@test "exec -d: returns at once, the command keeps running" {
  bg e1
  local t0 t1
  t0=$(date +%s%3N)
  run_husk exec -d e1 sh -c 'sleep 1; echo done >/tmp/d-mark; sleep 100'
  t1=$(date +%s%3N)
  assert_output ""
  ((t1 - t0 < 900)) || fail "exec -d took $((t1 - t0)) ms"
  sleep 1.5
  run_husk exec e1 cat /tmp/d-mark
  assert_output "done"
  run_husk exec -dt e1 sh -c 'sleep 0.5; tty >/tmp/dt-mark'
  sleep 1.2
  run_husk exec e1 cat /tmp/dt-mark
  assert_output --regexp "^/dev/pts/[0-9]+$"
}

@test "exec: the container's pid namespace, hostname, mounts and cgroup" {
  run_husk run -d --name e1 --hostname exec-host "$IMAGE" sh -c 'echo marker >/tmp/m; exec sleep 1000'
  run_husk exec e1 ps -o pid,args
  assert_line --regexp "^ +1 +sleep 1000"
  run_husk exec e1 hostname
  assert_output "exec-host"
  run_husk exec e1 cat /tmp/m
  assert_output "marker"
  run_husk exec e1 sh -c 'cat /proc/1/cgroup; echo ---; cat /proc/self/cgroup'
  local a=${output%%---*} b=${output##*---}
  assert_equal "$(echo $a)" "$(echo $b)"
  # And from the host: the exec'd process sits in the container's cgroup.
  local pid1 cg1 cgx
  pid1=$(ctr_json e1 .State.Pid)
  husk exec -d e1 sleep 77
  sleep 0.3
  local xp
  xp=$(pgrep -f '^sleep 77$' | head -1)
  [[ -n $xp ]] || fail "no sleep 77 on the host"
  cg1=$(cat /proc/$pid1/cgroup)
  cgx=$(cat /proc/$xp/cgroup)
  assert_equal "$cgx" "$cg1"
  local ns
  for ns in mnt pid uts ipc net cgroup; do
    assert_equal "$(readlink /proc/$xp/ns/$ns)" "$(readlink /proc/$pid1/ns/$ns)"
  done
}

@test "exec: capabilities, no_new_privs and seccomp are the container's" {
  bg e1
  assert_equal "$(status_of e1 self CapEff)" "$(status_of e1 1 CapEff)"
  assert_equal "$(status_of e1 self CapBnd)" "$(status_of e1 1 CapBnd)"
  assert_equal "$(status_of e1 self CapEff)" 00000000800405fb
  assert_equal "$(status_of e1 self Seccomp)" 2
  assert_equal "$(status_of e1 self NoNewPrivs)" "$(status_of e1 1 NoNewPrivs)"
  run_husk run -d --name e2 --cap-drop chown --cap-add net_admin --security-opt no-new-privileges "$IMAGE" sleep 1000
  assert_equal "$(status_of e2 self CapEff)" "$(status_of e2 1 CapEff)"
  assert_equal "$(status_of e2 self NoNewPrivs)" 1
  # A non-root user gets no effective capabilities, as in the container.
  run_husk exec -u 1000 e1 grep ^CapEff /proc/self/status
  assert_output --partial 0000000000000000
  # --privileged: every capability, no filter.
  run_husk exec --privileged e1 grep -E '^(CapEff|Seccomp):' /proc/self/status
  assert_line --regexp "^CapEff:.*[f]{6}$"
  assert_line --regexp "^Seccomp:[[:space:]]+0$"
}

@test "exec: no fds beyond 0-2" {
  bg e1
  run_husk exec e1 sh -c 'ls /proc/$$/fd; true'
  assert_output "0
1
2"
}

@test "exec: bad input (exit 125, container unchanged)" {
  run_husk create --name stopped "$IMAGE" true
  run_husk 125 exec stopped true
  assert_equal "$stderr" "Error: container stopped is not running"
  run_husk run --name exited "$IMAGE" true
  run_husk 125 exec exited true
  assert_equal "$stderr" "Error: container exited is not running"
  assert_equal "$(ctr_status exited)" exited
  run_husk 125 exec no-such-container true
  assert_husk_error 'no container with name or ID "no-such-container" found'
  bg e1
  run_husk 125 exec --detach-keys ctrl-1 e1 true
  assert_husk_error "invalid detach keys"
  run_husk 125 exec e1
  assert_equal "$(ctr_status e1)" running
  # Paused: a process joining the frozen cgroup could never exec.
  if husk pause e1 >/dev/null 2>&1; then
    run_husk 125 exec e1 true
    assert_husk_error "is paused"
    husk unpause e1 >/dev/null
    run_husk exec e1 true
  fi
}

@test "exec: signals to husk reach the process" {
  bg e1
  "$HUSK_BINARY" --root "$HUSK_ROOT" --runroot "$HUSK_RUNROOT" \
    ${HUSK_TEST_STORAGE_DRIVER:+--storage-driver "$HUSK_TEST_STORAGE_DRIVER"} exec e1 sh -c 'trap "echo got-term; exit 9" TERM; while :; do sleep 0.1; done' >"$BATS_TEST_TMPDIR/out" &
  local cli=$!
  sleep 1
  kill -TERM "$cli"
  local rc=0
  wait "$cli" || rc=$?
  assert_equal "$rc" 9
  assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" got-term
}

# DESIGN.md section 7 (CVE-2019-5736): while execs join, a loop inside the
# container tries to reach every /proc/*/exe (readlink, open for writing);
# the husk binary must never show up and must stay unchanged.
@test "exec: the container never reaches the husk binary through /proc/<pid>/exe" {
  bg e1
  local before after
  before=$(sha256sum <"$HUSK_BINARY")
  husk exec -d e1 sh -c '
    while :; do
      for e in /proc/[0-9]*/exe; do
        t=$(readlink "$e" 2>/dev/null) || continue
        case "$t" in /bin/* | /sbin/* | /usr/*) ;; *) echo "link $e $t" >>/tmp/hits ;; esac
        { echo x >>"$e"; } 2>/dev/null && echo "write $e $t" >>/tmp/hits
        { exec 3<"$e"; } 2>/dev/null && { { echo x >>/proc/self/fd/3; } 2>/dev/null && echo "fd $e $t" >>/tmp/hits; exec 3<&-; }
      done
    done'
  # And a fast one (ls -l reads every link in one process): it finds the
  # binary within a few execs when the joining process is left dumpable.
  husk exec -d e1 sh -c '
    while :; do
      ls -l /proc/[0-9]*/exe 2>/dev/null | grep " -> " | grep -v -e " -> /bin/" -e " -> /sbin/" -e " -> /usr/" >>/tmp/hits
    done'
  local i
  for ((i = 0; i < 100; i++)); do
    husk exec e1 true || fail "exec $i failed"
  done
  run_husk exec e1 sh -c 'cat /tmp/hits 2>/dev/null; echo end'
  assert_output "end"
  after=$(sha256sum <"$HUSK_BINARY")
  assert_equal "$after" "$before"
}

@test "exec: rootless, as a user with a subuid range" {
  [[ $(id -u) -eq 0 ]] || skip "needs root to create the test user"
  local tool
  for tool in runuser newuidmap newgidmap useradd; do
    command -v "$tool" >/dev/null || skip "$tool is not installed"
  done
  local user=${HUSK_TEST_USER:-husktest}
  bash "$HUSK_REPO/tests/unit/rootless-user.sh" "$user" >&2 || fail "rootless-user.sh failed"
  local dir
  dir=$(mktemp -d /tmp/husk-rootless-exec.XXXXXX)
  chmod 0755 "$dir"
  cp "$HUSK_BINARY" "$dir/husk"
  cp "$FIXTURE_DOCKER_ARCHIVE" "$dir/docker-archive.tar"
  chmod -R a+rX "$dir"
  mkdir -m 0700 "$dir/home"
  chown "$user:" "$dir/home"
  as() { (cd / && timeout -k 5 60 runuser -u "$user" -- env -i HOME="$dir/home" PATH=/usr/bin:/bin "$dir/husk" "$@" </dev/null); }
  as load -q -i "$dir/docker-archive.tar" >/dev/null || fail "load as $user failed"
  as run -d --name r1 --hostname rl "$IMAGE" sleep 1000 >/dev/null || fail "run as $user failed"
  run as exec r1 sh -c 'id -u; hostname; ps -o pid,args | grep " 1 "; grep -E "^(CapEff|Seccomp):" /proc/self/status; cat /proc/self/uid_map; exit 4'
  echo "$output"
  assert_equal "$status" 4
  assert_line "0"
  assert_line "rl"
  assert_output --regexp "1 +sleep 1000"
  assert_output --regexp "CapEff:.*00000000800405fb"
  assert_output --regexp "Seccomp:[[:space:]]+2"
  assert_output --regexp "0 +$(id -u "$user") +1"
  run as exec -u 1000 r1 id -u
  assert_equal "$status" 0
  assert_output "1000"
  run -127 as exec r1 no-such-cmd
  assert_equal "$status" 127
  as rm -f r1 >/dev/null 2>&1 || true
  rm -rf "$dir"
}
