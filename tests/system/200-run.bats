#!/usr/bin/env bats
# husk run, create and start: command line semantics (entrypoint and cmd,
# env, user, workdir, hostname, labels, names, ids, exit codes, --rm,
# stdin, ttys, --init, --pull, --restart, logging), and the bad input of
# issue 3 (exit 125, "Error: ...", the store unchanged).

load helpers

setup_file() {
  load helpers
  ctr_setup_file
  # Images with the configs the entrypoint/cmd rules are about.
  local imp=(import -q)
  husk "${imp[@]}" "$FIXTURE_ROOTFS" localhost/nocmd >&2
  husk "${imp[@]}" -c 'ENTRYPOINT ["echo", "ep"]' -c 'CMD ["default"]' \
    "$FIXTURE_ROOTFS" localhost/ep-exec >&2
  husk "${imp[@]}" -c 'ENTRYPOINT echo shell $HUSK_X' -c 'CMD ["ignored"]' \
    "$FIXTURE_ROOTFS" localhost/ep-shell >&2
  husk "${imp[@]}" -c 'CMD echo home=$HOME' "$FIXTURE_ROOTFS" localhost/cmd-shell >&2
  husk "${imp[@]}" -c 'WORKDIR /srv/app' -c 'CMD ["pwd"]' "$FIXTURE_ROOTFS" localhost/wd >&2
  husk "${imp[@]}" -c 'USER user' -c 'CMD ["id"]' "$FIXTURE_ROOTFS" localhost/as-user >&2
}

setup() {
  ctr_setup
}

teardown() {
  ctr_cleanup
}

# -- entrypoint and cmd ------------------------------------------------------

@test "run: exec form runs the command as given, without a shell" {
  run_ctr -- echo hello '$HOME' "two  spaces"
  assert_output 'hello $HOME two  spaces'
  # The image's CMD is ["sh"]: with stdin at EOF it exits 0 printing nothing.
  run_ctr
  assert_output ""
  # pid 1 is the command itself.
  run_ctr -- sh -c 'echo $$'
  assert_output "1"
}

@test "run: ENTRYPOINT exec form takes CMD or the given arguments" {
  run_husk run --rm localhost/ep-exec
  assert_output "ep default"
  run_husk run --rm localhost/ep-exec one two
  assert_output "ep one two"
}

@test "run: --entrypoint replaces the ENTRYPOINT and drops the image's CMD" {
  run_husk run --rm --entrypoint echo localhost/ep-exec
  assert_output ""
  run_husk run --rm --entrypoint echo localhost/ep-exec x y
  assert_output "x y"
  run_husk run --rm --entrypoint /bin/echo "$IMAGE" from-entrypoint
  assert_output "from-entrypoint"
}

@test "run: shell-form ENTRYPOINT ignores CMD and arguments; shell-form CMD expands" {
  run_husk run --rm -e HUSK_X=1 localhost/ep-shell extra args
  assert_output "shell 1"
  run_husk run --rm localhost/cmd-shell
  assert_output "home=/root"
}

# -- environment ---------------------------------------------------------------

@test "run: -e adds and overrides variables, -e NAME passes the host's value" {
  export HUSK_PASSED=from-host
  run_ctr -e FOO=bar -e HUSK_TEST=2 -e 'SPACED=a b  c' -e HUSK_PASSED -e HUSK_UNSET_XYZ -- env
  assert_line "FOO=bar"
  assert_line "HUSK_TEST=2"
  refute_line "HUSK_TEST=1"
  assert_line "SPACED=a b  c"
  assert_line "HUSK_PASSED=from-host"
  refute_line --partial "HUSK_UNSET_XYZ"
  assert_line "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
  assert_line "HOME=/root"
  # The image's own variables are there when not overridden.
  run_ctr -- env
  assert_line "HUSK_TEST=1"
}

@test "run: --env-file reads KEY=VALUE lines, skips comments and blank lines" {
  local f=$BATS_TEST_TMPDIR/env
  printf '%s\n' '# a comment' '' 'A=1' 'B=two words' 'HUSK_TEST=from-file' 'EMPTY=' >"$f"
  run_ctr --env-file "$f" -- env
  assert_line "A=1"
  assert_line "B=two words"
  assert_line "HUSK_TEST=from-file"
  assert_line "EMPTY="
  refute_line --partial "comment"
  # -e wins over the file.
  run_ctr --env-file "$f" -e A=2 -- env
  assert_line "A=2"
  refute_line "A=1"
}

# -- user and groups -----------------------------------------------------------

@test "run: -u NAME resolves from the image's passwd and group files" {
  run_ctr -u user -- sh -c 'id -u; id -g; id -G | tr " " "\n" | sort -nu | xargs; echo $HOME; whoami'
  assert_output $'1000\n1000\n1000\n/home/user\nuser'
  # root is in wheel (10) in the image's /etc/group.
  run_ctr -u root -- sh -c 'id -G | tr " " "\n" | sort -nu | xargs'
  assert_output "0 10"
  # The image's USER, and -u overriding it.
  run_husk run --rm localhost/as-user id -u
  assert_output "1000"
  run_husk run --rm -u 0 localhost/as-user id -u
  assert_output "0"
}

@test "run: -u UID:GID, an unknown numeric uid, --group-add" {
  run_ctr -u 1000:10 -- sh -c 'id -u; id -g'
  assert_output $'1000\n10'
  run_ctr -u 4242 -- sh -c 'id -u; id -g'
  assert_output $'4242\n0'
  run_ctr -u user --group-add wheel --group-add 1234 -- sh -c 'id -G | tr " " "\n" | sort -nu | xargs'
  assert_output "10 1000 1234"
  run_ctr -u user:wheel -- sh -c 'id -u; id -g'
  assert_output $'1000\n10'
}

# -- working directory ---------------------------------------------------------

@test "run: -w sets the working directory and creates it if missing" {
  run_ctr -w /tmp -- pwd
  assert_output "/tmp"
  run_ctr -w /new/dir/deep -- sh -c 'pwd; test -d /new/dir/deep && echo isdir'
  assert_output $'/new/dir/deep\nisdir'
  # The image's WORKDIR (missing from its rootfs) is created too.
  run_husk run --rm localhost/wd
  assert_output "/srv/app"
  run_ctr -u user -w /home/user -- pwd
  assert_output "/home/user"
}

@test "run: --workdir /proc/self/fd/5 is refused" {
  run_ctr '?' -w /proc/self/fd/5 -- echo SHOULD-NOT-RUN
  refute_output --partial "SHOULD-NOT-RUN"
  if [[ $status -ne 125 && $status -ne 126 ]]; then
    fail "exit status $status, expected 125 or 126"
  fi
  assert_line_count 0
  [[ $stderr == *Error:* ]] || fail "no 'Error:' on stderr: $stderr"
}

# -- hostname, /etc files ---------------------------------------------------

@test "run: --hostname sets the hostname, /etc/hostname and /etc/hosts" {
  run_ctr --hostname myhost -- sh -c 'hostname; cat /etc/hostname; cat /proc/sys/kernel/hostname'
  assert_output $'myhost\nmyhost\nmyhost'
  run_ctr --hostname myhost -- cat /etc/hosts
  assert_line --regexp '^127\.0\.0\.1[[:space:]]+localhost'
  assert_line --regexp '[[:space:]]myhost([[:space:]]|$)'
  run_ctr -- test -f /etc/resolv.conf
  run_ctr --add-host foo.example:10.1.2.3 -- cat /etc/hosts
  assert_line --regexp '^10\.1\.2\.3[[:space:]]+foo\.example$'
}

@test "run: the default hostname is the short id; --cidfile holds the full id" {
  local cid=$BATS_TEST_TMPDIR/cid
  run_ctr --cidfile "$cid" -- sh -c 'hostname; cat /etc/hostname'
  local id
  id=$(cat "$cid")
  [[ $id =~ $ID64_RE ]] || fail "cidfile holds '$id', not a 64-hex id"
  assert_output "${id:0:12}"$'\n'"${id:0:12}"
}

@test "run: --cidfile refuses an existing file and creates nothing" {
  local cid=$BATS_TEST_TMPDIR/cid
  echo old >"$cid"
  store_init
  local before
  before=$(store_snapshot)
  run_husk 125 run --rm --cidfile "$cid" "$IMAGE" echo SHOULD-NOT-RUN
  assert_husk_error
  refute_output --partial SHOULD-NOT-RUN
  assert_equal "$(cat "$cid")" old "cidfile content"
  assert_store_unchanged "$before"
}

@test "run: --label sets labels next to the image's" {
  run_husk run --name labelled -l a=1 --label 'b=two words' "$IMAGE" true
  run ctr_json labelled '.Config.Labels.a, .Config.Labels.b, .Config.Labels["org.husk.test"]'
  assert_output $'1\ntwo words\nfixture'
  run_husk ps -a --no-trunc --filter label=a=1 --format '{{.Names}}'
  assert_output "labelled"
}

# -- names and ids -------------------------------------------------------------

@test "run -d prints the 64-hex id; --name names the container" {
  run_husk run -d --name detached "$IMAGE" sleep 1000
  assert_output --regexp "$ID64_RE"
  assert_line_count 1
  local id=$output
  [[ -z $stderr ]] || fail "run -d wrote to stderr: $stderr"
  run ctr_json detached '.Id, .Name, .State.Status'
  assert_output "$id"$'\n'"detached"$'\n'"running"
  run_husk ps --no-trunc --format '{{.ID}} {{.Names}}'
  assert_line "$id detached"
  # The id prefix works as a reference too.
  run ctr_json "${id:0:12}" '.Id'
  assert_output "$id"
  run_husk rm -f detached
}

@test "run: a generated name when --name is not given, and unique ids" {
  local a b
  a=$(husk create "$IMAGE" true)
  b=$(husk create "$IMAGE" true)
  [[ $a =~ $ID64_RE && $b =~ $ID64_RE ]] || fail "ids '$a' '$b'"
  [[ $a != "$b" ]] || fail "two containers got the same id"
  local na nb
  na=$(ctr_json "$a" .Name)
  nb=$(ctr_json "$b" .Name)
  [[ -n $na && -n $nb && $na != "$nb" ]] || fail "names '$na' '$nb'"
}

# -- exit codes -------------------------------------------------------------

@test "run: the container's own exit code" {
  run_ctr 0 -- true
  run_ctr 1 -- false
  run_ctr 3 -- sh -c 'exit 3'
  run_ctr 255 -- sh -c 'exit 255'
  # A signal: 128 + N.  (pid 1 cannot be killed from inside its pid
  # namespace: under --init the shell is not pid 1.)
  run_ctr 137 --init -- sh -c 'kill -9 $$'
  run_ctr 143 --init -- sh -c 'kill -TERM $$'
}

@test "run: a command not found exits 127, a non-executable file 126" {
  run_ctr 127 -- /no/such/command
  [[ $stderr == *Error:* ]] || fail "no 'Error:' on stderr: $stderr"
  run_ctr 127 -- nosuchcommand-in-path
  [[ $stderr == *Error:* ]] || fail "no 'Error:' on stderr: $stderr"
  run_ctr 126 -- /etc/passwd
  [[ $stderr == *Error:* ]] || fail "no 'Error:' on stderr: $stderr"
  run_ctr 126 -- /tmp
  # Nothing is left of the failed --rm containers.
  assert_equal "$(ctr_dirs)" "" "container directories"
}

@test "run: husk's own failures exit 125" {
  run_husk 125 run --no-such-flag "$IMAGE" true
  assert_husk_error
  run_husk 125 run
  assert_husk_error
}

# -- --rm --------------------------------------------------------------------

@test "run --rm leaves nothing behind, whatever the exit" {
  run_husk ps -a -q
  assert_output ""
  run_ctr -- true
  run_ctr 7 -- sh -c 'exit 7'
  run_ctr 127 -- /no/such/command
  run_husk ps -a -q
  assert_output ""
  assert_equal "$(ctr_dirs)" "" "container directories"
  # Detached --rm: gone once it exits.
  run_husk run -d --rm --name rm-detached "$IMAGE" sleep 0.3
  local i
  for i in $(seq 1 100); do
    [[ -z $(husk ps -a -q) ]] && break
    sleep 0.1
  done
  run_husk ps -a -q
  assert_output ""
  assert_equal "$(ctr_dirs)" "" "container directories"
}

@test "run without --rm keeps the exited container" {
  run_husk 4 run --name kept "$IMAGE" sh -c 'echo out; exit 4'
  assert_output "out"
  run ctr_json kept '.State.Status, .State.ExitCode'
  assert_output $'exited\n4'
  run_husk logs kept
  assert_output "out"
}

# -- create and start --------------------------------------------------------

@test "create then start -a" {
  run_husk create --name c1 "$IMAGE" sh -c 'echo created-ok; exit 5'
  assert_output --regexp "$ID64_RE"
  local id=$output
  run ctr_json c1 '.State.Status'
  assert_output "created"
  run_husk ps -a --no-trunc --format '{{.ID}}'
  assert_line "$id"
  run_husk 5 start -a c1
  assert_output "created-ok"
  run ctr_json c1 '.State.Status, .State.ExitCode'
  assert_output $'exited\n5'
  # An exited container starts again.
  run_husk 5 start -a c1
  assert_output "created-ok"
}

@test "start without -a returns at once; the output goes to the log" {
  run_husk create --name c2 "$IMAGE" sh -c 'echo in-log; sleep 0.2'
  run_husk start c2
  assert_output "c2"
  ctr_wait_status c2 exited
  run_husk logs c2
  assert_output "in-log"
}

@test "start -a -i forwards piped stdin" {
  run_husk create -i --name ci "$IMAGE" sh -c 'cat; echo done'
  printf 'piped line\nsecond\n' >"$BATS_TEST_TMPDIR/in"
  run_husk --stdin "$BATS_TEST_TMPDIR/in" start -a -i ci
  assert_output $'piped line\nsecond\ndone'
}

# -- stdin and ttys -------------------------------------------------------------

@test "run -i forwards piped stdin; without -i the container's stdin is empty" {
  echo hi >"$BATS_TEST_TMPDIR/in"
  run_husk --stdin "$BATS_TEST_TMPDIR/in" run --rm -i "$IMAGE" cat
  assert_output "hi"
  run bash -c "echo hi | $(husk_wrapper) run -i --rm $IMAGE cat"
  assert_output "hi"
  run_husk --stdin "$BATS_TEST_TMPDIR/in" run --rm "$IMAGE" sh -c 'cat; echo eof'
  assert_output "eof"
  # A large binary stdin, byte for byte: without -t there are no detach
  # keys, so Ctrl-P Ctrl-Q bytes (0x10 0x11) are data like any other.
  {
    head -c 150000 /dev/urandom
    printf 'a\020\021b'
    head -c 150000 /dev/urandom
  } >"$BATS_TEST_TMPDIR/big"
  local want
  want=$(sha256sum <"$BATS_TEST_TMPDIR/big" | cut -d' ' -f1)
  run_husk --stdin "$BATS_TEST_TMPDIR/big" run --rm -i "$IMAGE" sha256sum
  assert_output "$want  -"
}

@test "run: stdout and stderr stay apart without -t" {
  run_ctr -- sh -c 'echo to-out; echo to-err >&2'
  assert_output "to-out"
  assert_equal "$stderr" "to-err" "stderr"
}

@test "run -it under script(1): the container has a tty" {
  command -v script >/dev/null || skip "script (util-linux) is not installed"
  local w
  w=$(husk_wrapper)
  run script -qec "$w run --rm -it $IMAGE sh -c 'tty; test -t 0 && test -t 1 && echo ok; exit 3'" /dev/null </dev/null
  echo "$output" >&2
  assert_equal "$status" 3 "exit status through the tty"
  [[ $output == *"/dev/pts/0"* ]] || fail "no /dev/pts/0 in '$output'"
  [[ $output == *ok* ]] || fail "stdin and stdout are not ttys: '$output'"
  # -t alone.
  run script -qec "$w run --rm -t $IMAGE busybox tty" /dev/null </dev/null
  assert_equal "$status" 0 "exit status"
  [[ $output == *"/dev/pts/"* ]] || fail "no pty in '$output'"
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

@test "run -it: an interactive shell in tmux (echo, window size, Ctrl-C, exit code)" {
  command -v tmux >/dev/null || skip "tmux is not installed"
  local w
  w=$(husk_wrapper)
  tmux_start it "$w run -it --name itc $IMAGE sh"
  tmux_wait '#[[:space:]]*$'
  tmux -S "$TMUX_SOCK" send-keys 'echo $((6*7))xyz' Enter
  tmux_wait '42xyz'
  tmux -S "$TMUX_SOCK" send-keys 'busybox stty size' Enter
  tmux_wait '(^|[^0-9])(29|30) 100'
  # Ctrl-C reaches the foreground process through the pty, not husk.
  tmux -S "$TMUX_SOCK" send-keys 'sleep 100' Enter
  sleep 0.3
  tmux -S "$TMUX_SOCK" send-keys C-c
  tmux -S "$TMUX_SOCK" send-keys 'echo after$((1+1))' Enter
  tmux_wait 'after2'
  tmux -S "$TMUX_SOCK" send-keys 'exit 3' Enter
  local rc
  rc=$(tmux_wait_rc)
  tmux_stop
  assert_equal "$rc" 3 "husk run's exit status"
  run ctr_json itc '.State.Status, .State.ExitCode'
  assert_output $'exited\n3'
}

@test "run -it: Ctrl-P Ctrl-Q detaches and leaves the container running" {
  command -v tmux >/dev/null || skip "tmux is not installed"
  local w
  w=$(husk_wrapper)
  tmux_start det "$w run -it --name detc $IMAGE sh"
  tmux_wait '#[[:space:]]*$'
  tmux -S "$TMUX_SOCK" send-keys 'echo ready$((2+3))' Enter
  tmux_wait 'ready5'
  tmux -S "$TMUX_SOCK" send-keys C-p C-q
  local rc
  rc=$(tmux_wait_rc)
  tmux_stop
  assert_equal "$rc" 0 "husk run's exit status after a detach"
  run ctr_json detc '.State.Status'
  assert_output "running"
  run_husk rm -f detc
}

# -- --init ------------------------------------------------------------------

@test "run --init: pid 1 is the init, the command runs under it" {
  run_ctr --init -- sh -c 'echo $$; tr "\0" " " </proc/1/cmdline; echo'
  [[ ${lines[0]} =~ ^[0-9]+$ && ${lines[0]} -ne 1 ]] ||
    fail "the command is pid '${lines[0]}', expected a pid other than 1"
  [[ ${lines[1]} != sh* ]] || fail "pid 1 is the command: '${lines[1]}'"
  # Without --init, the command is pid 1.
  run_ctr -- sh -c 'echo $$'
  assert_output "1"
  # Orphans are reaped: no zombie left.
  run_ctr --init -- sh -c 'sh -c "sleep 0.1 &"; sleep 0.6; cat /proc/[0-9]*/stat | awk "\$3 == \"Z\"" | wc -l'
  assert_output "0"
}

@test "run --init: the init forwards SIGTERM to the command" {
  run_husk run -d --init --name initsig "$IMAGE" sleep 1000
  # sleep as pid 1 would ignore SIGTERM and be killed after the timeout
  # (137); under the init it dies of the forwarded SIGTERM (143).
  run_husk stop -t 30 initsig
  run ctr_json initsig '.State.Status, .State.ExitCode'
  assert_output $'exited\n143'
}

# -- --pull ------------------------------------------------------------------

@test "run --pull=never: a missing image fails, a present one runs" {
  store_init
  local before
  before=$(store_snapshot)
  run_husk 125 run --rm --pull=never localhost/husk-not-here:latest true
  assert_husk_error
  assert_store_unchanged "$before"
  run_husk run --rm --pull=never "$IMAGE" echo present
  assert_output "present"
  run_husk 125 run --rm --pull=sometimes "$IMAGE" true
  assert_husk_error
}

# -- --restart -----------------------------------------------------------------

@test "run --restart on-failure:2 restarts twice, then stays exited" {
  run_husk run -d --name rs --restart on-failure:2 "$IMAGE" sh -c 'echo attempt; exit 3'
  local i got=
  for i in $(seq 1 150); do
    got=$(husk container inspect rs 2>/dev/null |
      jq -r '.[0] | "\(.State.Status) \(.RestartCount // .State.RestartCount)"') || got=
    [[ $got == "exited 2" ]] && break
    sleep 0.1
  done
  assert_equal "$got" "exited 2" "status and restart count"
  # ... and it stays there.
  sleep 1
  run ctr_json rs '.State.Status, (.RestartCount // .State.RestartCount), .State.ExitCode'
  assert_output $'exited\n2\n3'
  run_husk logs rs
  assert_output $'attempt\nattempt\nattempt'
}

@test "run --restart on-failure: a zero exit is not restarted" {
  run_husk run --name rs0 --restart on-failure:2 "$IMAGE" true
  sleep 0.5
  run ctr_json rs0 '.State.Status, (.RestartCount // .State.RestartCount)'
  assert_output $'exited\n0'
  run ctr_json rs0 '.HostConfig.RestartPolicy.Name, .HostConfig.RestartPolicy.MaximumRetryCount'
  assert_output $'on-failure\n2'
}

# -- logging -------------------------------------------------------------------

@test "run: the default log is k8s-file" {
  run_husk run --name lk8s "$IMAGE" sh -c 'echo out-line; echo err-line >&2'
  local id
  id=$(ctr_json lk8s .Id)
  local log=$HUSK_ROOT/containers/$id/ctr.log
  [[ -f $log ]] || fail "no $log"
  run cat "$log"
  assert_line --regexp '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(Z|[+-][0-9:]+) stdout F out-line$'
  assert_line --regexp '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(Z|[+-][0-9:]+) stderr F err-line$'
}

@test "run --log-driver none: output still attached, nothing logged" {
  run_husk run --name lnone --log-driver none "$IMAGE" echo not-logged
  assert_output "not-logged"
  local id
  id=$(ctr_json lnone .Id)
  if [[ -f $HUSK_ROOT/containers/$id/ctr.log ]]; then
    run grep -c not-logged "$HUSK_ROOT/containers/$id/ctr.log"
    assert_output "0"
  fi
  run_husk '?' logs lnone
  refute_output --partial "not-logged"
  run ctr_json lnone '.HostConfig.LogConfig.Type'
  assert_output "none"
}

@test "run --log-driver json-file writes Docker's JSON lines" {
  run_husk run --name ljson --log-driver json-file "$IMAGE" sh -c 'echo json-out; echo json-err >&2'
  local id
  id=$(ctr_json ljson .Id)
  local log=$HUSK_ROOT/containers/$id/ctr.log
  [[ -f $log ]] || fail "no $log"
  run jq -r '"\(.stream) \(.log)"' "$log"
  assert_line "stdout json-out"
  assert_line "stderr json-err"
  run jq -r '.time' "$log"
  assert_line --regexp '^[0-9]{4}-[0-9]{2}-[0-9]{2}T'
  run_husk logs ljson
  assert_line "json-out"
}

@test "run --log-opt max-size rotates the log" {
  run_husk run --name lrot --log-opt max-size=2k "$IMAGE" seq 1 3000
  assert_line "3000"
  local id
  id=$(ctr_json lrot .Id)
  local log=$HUSK_ROOT/containers/$id/ctr.log
  [[ -f $log.1 ]] || fail "no rotated $log.1: $(ls "$HUSK_ROOT/containers/$id")"
  local size
  size=$(stat -c %s "$log")
  [[ $size -le 4096 ]] || fail "ctr.log is $size bytes with max-size=2k"
  run tail -n 1 "$log"
  assert_output --regexp ' stdout F 3000$'
  run_husk logs lrot
  assert_line --index $((${#lines[@]} - 1)) "3000"
}

# -- bad input: exit 125, "Error: ...", nothing left behind -----------------

# assert_run_rejected [SUBSTRING] -- ARGS...: husk ARGS fails cleanly and
# leaves the store as it was.
assert_run_rejected() {
  local substring=
  if [[ $1 != -- ]]; then
    substring=$1
    shift
  fi
  shift
  store_init
  local before
  before=$(store_snapshot)
  local dirs
  dirs=$(ctr_dirs)
  run_husk 125 "$@"
  assert_husk_error "$substring"
  refute_output --partial SHOULD-NOT-RUN
  assert_store_unchanged "$before"
  assert_equal "$(ctr_dirs)" "$dirs" "container directories"
}

@test "bad input: unknown image" {
  # With the default --pull=missing husk tries to pull first (and says
  # so, as podman does): an "Error: " line, exit 125, nothing created.
  store_init
  local before
  before=$(store_snapshot)
  run_husk 125 run --rm localhost/husk-no-such-image:latest echo SHOULD-NOT-RUN
  assert_registry_error "husk-no-such-image"
  refute_output --partial SHOULD-NOT-RUN
  assert_store_unchanged "$before"
  assert_equal "$(ctr_dirs)" "" "container directories"
  assert_run_rejected -- run --rm --pull=never husk-no-such-image echo SHOULD-NOT-RUN
  assert_run_rejected -- create --pull=never localhost/husk-no-such-image:latest
}

@test "bad input: an image with no CMD and no command given" {
  assert_run_rejected -- run --rm localhost/nocmd
  assert_run_rejected -- run localhost/nocmd
  assert_run_rejected -- create localhost/nocmd
}

@test "bad input: -u nosuchuser" {
  assert_run_rejected nosuchuser -- run --rm -u nosuchuser "$IMAGE" echo SHOULD-NOT-RUN
  assert_run_rejected -- run --rm -u user:nosuchgroup "$IMAGE" echo SHOULD-NOT-RUN
  assert_run_rejected -- run --rm -u user --group-add nosuchgroup "$IMAGE" echo SHOULD-NOT-RUN
}

@test "bad input: --memory 1x" {
  assert_run_rejected memory -- run --rm --memory 1x "$IMAGE" echo SHOULD-NOT-RUN
  assert_run_rejected -- create -m 1x "$IMAGE"
}

@test "bad input: --ulimit nofile=a:b" {
  assert_run_rejected ulimit -- run --rm --ulimit nofile=a:b "$IMAGE" echo SHOULD-NOT-RUN
  assert_run_rejected -- run --rm --ulimit nosuchlimit=1 "$IMAGE" echo SHOULD-NOT-RUN
  assert_run_rejected -- run --rm --ulimit nofile=2048:1024 "$IMAGE" echo SHOULD-NOT-RUN
}

@test "bad input: -v relative:/x" {
  assert_run_rejected -- run --rm -v relative:/x "$IMAGE" echo SHOULD-NOT-RUN
  assert_run_rejected -- run --rm -v /tmp:relative "$IMAGE" echo SHOULD-NOT-RUN
}

@test "bad input: --name taken" {
  run_husk create --name taken "$IMAGE" true
  assert_run_rejected "already in use" -- run --rm --name taken "$IMAGE" echo SHOULD-NOT-RUN
  assert_run_rejected "already in use" -- create --name taken "$IMAGE" true
}

@test "bad input: --restart sometimes" {
  assert_run_rejected restart -- run --restart sometimes "$IMAGE" echo SHOULD-NOT-RUN
  assert_run_rejected -- run --restart on-failure:x "$IMAGE" echo SHOULD-NOT-RUN
  # Docker refuses --restart with --rm.
  assert_run_rejected -- run --rm --restart always "$IMAGE" echo SHOULD-NOT-RUN
}

@test "bad input: a bind source that does not exist" {
  assert_run_rejected -- run --rm -v "$BATS_TEST_TMPDIR/no-such-dir:/x" "$IMAGE" echo SHOULD-NOT-RUN
  [[ ! -e $BATS_TEST_TMPDIR/no-such-dir ]] || fail "the bind source was created"
}

@test "bad input: starting a running container" {
  run_husk run -d --name running1 "$IMAGE" sleep 1000
  assert_run_rejected "running" -- start running1
  run ctr_json running1 '.State.Status'
  assert_output "running"
}

@test "bad input: removing a running container without -f" {
  run_husk run -d --name running2 "$IMAGE" sleep 1000
  assert_run_rejected -- rm running2
  run ctr_json running2 '.State.Status'
  assert_output "running"
  run_husk rm -f running2
  run_husk ps -a -q
  assert_output ""
}

@test "bad input: other flags with bad values" {
  assert_run_rejected -- run --rm --log-driver journald-xyz "$IMAGE" echo SHOULD-NOT-RUN
  assert_run_rejected -- run --rm --cpus abc "$IMAGE" echo SHOULD-NOT-RUN
  assert_run_rejected -- run --rm --tmpfs relative "$IMAGE" echo SHOULD-NOT-RUN
  assert_run_rejected -- run --rm --stop-signal SIGNOPE "$IMAGE" echo SHOULD-NOT-RUN
  assert_run_rejected -- run --rm --network nosuchmode "$IMAGE" echo SHOULD-NOT-RUN
  assert_run_rejected -- run --rm --security-opt seccomp=/no/such/profile.json "$IMAGE" echo SHOULD-NOT-RUN
  assert_run_rejected -- run --rm --cap-add NOT_A_CAP "$IMAGE" echo SHOULD-NOT-RUN
  assert_run_rejected -- start no-such-container
}
