#!/usr/bin/env bats
# User-mode networking as an unprivileged user (the set-up of
# 250-rootless-run.bats: a user with a subuid range, cron's environment):
# the monitor, uid 0 of husk's user namespace, makes the container's
# network namespace and runs slirp4netns on it; -p publishes through it on
# the host's 127.0.0.1; nothing is left after rm -f or a SIGKILL of the
# monitor.  Needs /dev/net/tun usable by the user (CI: chmod 666).

load helpers

ROOTLESS_TAG=net
load rootless

PY=python3
[[ -x /usr/bin/python3 ]] && PY=/usr/bin/python3

# fetch PORT: what a connection to 127.0.0.1:PORT reads (retried for 5 s).
fetch() {
  local i out
  for ((i = 0; i < 50; i++)); do
    out=$(timeout 5 "$PY" -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3)
data = b""
while True:
    b = s.recv(100)
    if not b:
        break
    data += b
sys.stdout.write(data.decode())' "$1" 2>/dev/null) && [[ -n $out ]] && {
      printf '%s' "$out"
      return 0
    }
    sleep 0.1
  done
  return 1
}

# rootless_slirp NAME: pid of the slirp4netns under NAME's monitor.
rootless_slirp() {
  local id mon
  id=$(rootless_husk container inspect --format '{{.Id}}' "$1") || return 1
  mon=$(jq -r '.MonitorPid // 0' "$ROOTLESS_STORE/containers/$id/state.json")
  [[ $mon -gt 0 ]] || return 1
  pgrep -P "$mon" -x slirp4netns
}

assert_gone() {
  local i st
  for ((i = 0; i < 50; i++)); do
    st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 0
    [[ $st == Z ]] && return 0
    sleep 0.1
  done
  fail "slirp4netns (pid $1) still runs"
}

@test "rootless: --network slirp4netns, -p 127.0.0.1:P:80, port, ps; gone after rm -f and a killed monitor" {
  command -v slirp4netns >/dev/null || skip "slirp4netns is not installed"
  as_user "$ROOTLESS_USER" "$ROOTLESS_HOME" test -r /dev/net/tun -a -w /dev/net/tun ||
    skip "/dev/net/tun is not usable by $ROOTLESS_USER"

  run_rootless run --rm --network slirp4netns "$IMAGE" sh -c 'ip -o -4 addr show tap0; cat /etc/resolv.conf'
  assert_line --regexp '^2: tap0 +inet 10\.0\.2\.100/24 '
  assert_line 'nameserver 10.0.2.3'

  local port pid mon id
  port=$(random_port)
  run_rootless run -d --name web -p "127.0.0.1:$port:80" "$IMAGE" sh -c 'while true; do echo hi | nc -l -p 80; done'
  [[ $(fetch "$port") == hi ]] || fail "no answer on 127.0.0.1:$port"
  run_rootless port web
  assert_output "80/tcp -> 127.0.0.1:$port"
  run_rootless ps --format '{{.Names}} {{.Ports}}'
  assert_output "web 127.0.0.1:$port->80/tcp"
  pid=$(rootless_slirp web) || fail "no slirp4netns under web's monitor"
  run_rootless rm -f web
  assert_gone "$pid"

  run_rootless run -d --name k --network slirp4netns "$IMAGE" sleep 1000
  pid=$(rootless_slirp k) || fail "no slirp4netns under k's monitor"
  id=$(rootless_husk container inspect --format '{{.Id}}' k)
  mon=$(jq -r .MonitorPid "$ROOTLESS_STORE/containers/$id/state.json")
  kill -9 "$mon"
  assert_gone "$pid"

  # A privileged port cannot be published by a user: a clear error.
  run_rootless 125 run -d --name low -p 127.0.0.1:80:80 "$IMAGE" sleep 100
  [[ $stderr == *"cannot publish port 127.0.0.1:80->80/tcp"* ]] || fail "stderr: $stderr"
}
