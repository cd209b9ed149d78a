#!/usr/bin/env bats
# User-mode networking: --network slirp4netns[:OPTIONS], -p/--publish and
# -P/--publish-all through slirp4netns's API, the records (PortBindings,
# NetworkSettings.Ports, the ps PORTS column, husk port), bad input, and
# no slirp4netns left after stop, rm -f or a SIGKILL of the monitor.
# Tests talk to 127.0.0.1 only (the container reaches the host's loopback
# through 10.0.2.2 only with allow_host_loopback=true).

load helpers

setup_file() {
  load helpers
  ctr_setup_file
}

setup() {
  ctr_setup
  command -v slirp4netns >/dev/null || skip "slirp4netns is not installed"
}

teardown() {
  ctr_cleanup
}

# The server every publishing test runs: "hi" to each connection on 80.
SERVER='while true; do echo hi | nc -l -p 80; done'

# fetch PORT: what a TCP connection to 127.0.0.1:PORT reads (retried for
# 5 s while the server comes up).
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

# The host's python (a pyenv shim takes a second to start).
PY=python3
[[ -x /usr/bin/python3 ]] && PY=/usr/bin/python3

# host_server PORT MODE: a server on the host's 127.0.0.1:PORT for 30 s,
# in the background (its pid in SERVER_PID), waited for until it listens.
# MODE "answer": "from-host" to every connection; "busy": never accepts.
host_server() {
  timeout 30 "$PY" -c '
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(5)
while sys.argv[2] == "answer":
    c, _ = s.accept()
    c.sendall(b"from-host\n")
    c.close()
time.sleep(30)' "$1" "$2" 3>&- &
  SERVER_PID=$!
  local i
  for ((i = 0; i < 100; i++)); do
    [[ -n $(ss -Hltn "sport = :$1") ]] && return 0
    sleep 0.05
  done
  fail "the host server on 127.0.0.1:$1 did not start"
}

# slirp_pid NAME: the slirp4netns process of the running container NAME
# (its monitor's child).
slirp_pid() {
  local mon
  mon=$(jq -r '.MonitorPid // 0' "$HUSK_ROOT/containers/$(ctr_json "$1" .Id)/state.json")
  [[ $mon -gt 0 ]] || return 1
  pgrep -P "$mon" -x slirp4netns
}

# assert_gone PID: the process exits (a zombie counts as gone) within 5 s.
assert_gone() {
  local i st
  for ((i = 0; i < 50; i++)); do
    st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 0
    [[ $st == Z ]] && return 0
    sleep 0.1
  done
  fail "slirp4netns (pid $1) still runs: $(tr '\0' ' ' <"/proc/$1/cmdline")"
}

@test "--network slirp4netns: tap0 with 10.0.2.100, MTU 65520, route and DNS through slirp" {
  run_ctr --network slirp4netns -- sh -c 'ip -o -4 addr show tap0; cat /sys/class/net/tap0/mtu; ip route; cat /etc/resolv.conf'
  assert_line --regexp '^2: tap0 +inet 10\.0\.2\.100/24 '
  assert_line 65520
  assert_line --regexp '^default via 10\.0\.2\.2 dev tap0'
  assert_line 'nameserver 10.0.2.3'
  [[ $(grep -c '^nameserver' <<<"$output") -eq 1 ]] || fail "more than one nameserver: $output"
  run_husk run --rm --name hostsname --network slirp4netns "$IMAGE" cat /etc/hosts
  assert_line --regexp '^10\.0\.2\.100[[:space:]]'
}

@test "--network slirp4netns:mtu=1500,cidr=10.0.3.0/24" {
  run_ctr --network slirp4netns:mtu=1500,cidr=10.0.3.0/24 -- sh -c 'ip -o -4 addr show tap0; cat /sys/class/net/tap0/mtu; cat /etc/resolv.conf'
  assert_line --regexp '^2: tap0 +inet 10\.0\.3\.100/24 '
  assert_line 1500
  assert_line 'nameserver 10.0.3.3'
}

@test "the host's loopback: refused by default, reached with allow_host_loopback=true" {
  local port
  port=$(random_port)
  host_server "$port" answer
  run_ctr '?' --network slirp4netns -- nc -w 3 10.0.2.2 "$port"
  [[ $output != *from-host* ]] || fail "the default reached the host's loopback"
  run_ctr --network slirp4netns:allow_host_loopback=true -- nc -w 3 10.0.2.2 "$port"
  assert_output from-host
  kill "$SERVER_PID" 2>/dev/null || true
}

@test "-p 127.0.0.1:P:80: served from the container; port, ps, inspect" {
  local port
  port=$(random_port)
  run_husk run -d --name web -p "127.0.0.1:$port:80" "$IMAGE" sh -c "$SERVER"
  [[ $(fetch "$port") == hi ]] || fail "no answer on 127.0.0.1:$port"
  [[ $(ctr_json web .HostConfig.NetworkMode) == slirp4netns ]] || fail "NetworkMode: $(ctr_json web .HostConfig.NetworkMode)"

  run_husk port web
  assert_output "80/tcp -> 127.0.0.1:$port"
  run_husk port web 80
  assert_output "127.0.0.1:$port"
  run_husk container port web 80/tcp
  assert_output "127.0.0.1:$port"
  run_husk port -a
  assert_output "$(ctr_json web .Id | cut -c1-12)	80/tcp -> 127.0.0.1:$port"
  run_husk ps --format '{{.Names}} {{.Ports}}'
  assert_output "web 127.0.0.1:$port->80/tcp"
  run_husk ps
  assert_line --index 1 --regexp "127\.0\.0\.1:$port->80/tcp +web\$"
  run_husk ps --format json
  [[ $(jq -c '.[0].Ports' <<<"$output") == "[{\"host_ip\":\"127.0.0.1\",\"container_port\":80,\"host_port\":$port,\"range\":1,\"protocol\":\"tcp\"}]" ]] ||
    fail "ps json Ports: $(jq -c '.[0].Ports' <<<"$output")"
  [[ $(ctr_json web '.HostConfig.PortBindings | tojson') == "{\"80/tcp\":[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"$port\"}]}" ]] ||
    fail "PortBindings: $(ctr_json web '.HostConfig.PortBindings | tojson')"
  [[ $(ctr_json web '.NetworkSettings.Ports | tojson') == "{\"80/tcp\":[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"$port\"}]}" ]] ||
    fail "NetworkSettings.Ports: $(ctr_json web '.NetworkSettings.Ports | tojson')"
  [[ $(ctr_json web '.Config.ExposedPorts | tojson') == '{"80/tcp":{}}' ]] ||
    fail "ExposedPorts: $(ctr_json web '.Config.ExposedPorts | tojson')"

  run_husk 125 port web 81
  assert_husk_error 'failed to find published port "81/tcp"'
  run_husk 125 port web 80/udp
  assert_husk_error 'failed to find published port "80/udp"'
  run_husk 125 port nosuchcontainer
  assert_husk_error 'no such container'
  run_husk 125 port web notaport
  assert_husk_error 'invalid port "notaport"'
}

@test "-p 127.0.0.1::80 and a range: host ports chosen at create, recorded" {
  run_husk create --name pick -p 127.0.0.1::80 -p 127.0.0.1::90-91/udp "$IMAGE" sh -c "$SERVER"
  local hp
  hp=$(ctr_json pick '.HostConfig.PortBindings["80/tcp"][0].HostPort')
  [[ $hp =~ ^[0-9]+$ && $hp -gt 0 ]] || fail "no host port chosen: $hp"
  [[ $(ctr_json pick '.HostConfig.PortBindings | keys | join(",")') == "80/tcp,90/udp,91/udp" ]] ||
    fail "keys: $(ctr_json pick '.HostConfig.PortBindings | keys | join(",")')"
  run_husk port pick 80
  assert_output "127.0.0.1:$hp"
  # Not running: ps shows no ports (as Docker), port still lists them.
  run_husk ps -a --format '{{.Names}} [{{.Ports}}]'
  assert_output "pick []"
  run_husk start pick
  [[ $(fetch "$hp") == hi ]] || fail "no answer on the chosen port 127.0.0.1:$hp"
  run_husk port pick
  assert_line "80/tcp -> 127.0.0.1:$hp"
  assert_line --regexp '^90/udp -> 127\.0\.0\.1:[0-9]+$'
  assert_line --regexp '^91/udp -> 127\.0\.0\.1:[0-9]+$'
}

@test "-P publishes the image's EXPOSE'd ports to random host ports" {
  local dir=$BATS_TEST_TMPDIR/exp-oci
  cp -r "$FIXTURE_OCI" "$dir"
  local blobs=$dir/blobs/sha256 mdigest manifest cdigest chex csize mhex msize
  mdigest=$(jq -r '.manifests[0].digest' "$dir/index.json")
  manifest=$blobs/${mdigest#sha256:}
  cdigest=$(jq -r '.config.digest' "$manifest")
  jq -c '.config.ExposedPorts = {"80/tcp": {}, "53/udp": {}}' "$blobs/${cdigest#sha256:}" >"$dir/config.new"
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
  tar -cf "$BATS_TEST_TMPDIR/exp.tar" -C "$dir" .
  run_husk load -q -i "$BATS_TEST_TMPDIR/exp.tar"
  run_husk tag "$chex" localhost/exposer:latest

  # -P with -p for 80: -p wins for 80, 53/udp gets a random port.
  local port
  port=$(random_port)
  run_husk run -d --name pall -P -p "127.0.0.1:$port:80" localhost/exposer:latest sh -c "$SERVER"
  [[ $(fetch "$port") == hi ]] || fail "no answer on 127.0.0.1:$port"
  run_husk port pall
  assert_line "80/tcp -> 127.0.0.1:$port"
  assert_line --regexp '^53/udp -> 0\.0\.0\.0:[0-9]+$'
  [[ $(ctr_json pall '.NetworkSettings.Ports | keys | join(",")') == "53/udp,80/tcp" ]] ||
    fail "NetworkSettings.Ports: $(ctr_json pall '.NetworkSettings.Ports | tojson')"
  # Exposed but not published: a null entry, as Docker.
  run_husk run -d --name expnull -p "127.0.0.1::80" localhost/exposer:latest sleep 100
  [[ $(ctr_json expnull '.NetworkSettings.Ports["53/udp"]') == null ]] ||
    fail "53/udp: $(ctr_json expnull '.NetworkSettings.Ports | tojson')"
  # No -p/-P: the image's EXPOSE alone publishes nothing and keeps "none".
  run_husk create --name noports localhost/exposer:latest true
  [[ $(ctr_json noports .HostConfig.NetworkMode) == none ]] || fail "NetworkMode: $(ctr_json noports .HostConfig.NetworkMode)"
}

@test "bad input: clear errors, exit 125, nothing created" {
  local before
  before=$(store_snapshot)
  local spec
  for spec in abc 70000 0 80/sctp 80/xyz 1-3:80 8080:80-81 '[::1]:8080:80' 1.2.3:8080:80 3-1; do
    run_husk 125 create -p "$spec" "$IMAGE" true
    assert_husk_error "invalid --publish \"$spec\""
  done
  run_husk 125 create -p 127.0.0.1:8080:80 -p 8080:81 "$IMAGE" true
  assert_husk_error 'published twice'
  local mode
  for mode in none host container:foo ns:/run/netns/x; do
    run_husk 125 create --network "$mode" -p 127.0.0.1::80 "$IMAGE" true
    assert_husk_error "--publish cannot be used with --network $mode"
  done
  run_husk 125 create --network slirp4netns:foo=bar "$IMAGE" true
  assert_husk_error 'unsupported slirp4netns option "foo=bar"'
  run_husk 125 create --network slirp4netns:mtu=10 "$IMAGE" true
  assert_husk_error 'mtu=10'
  run_husk 125 create --network slirp4netns:allow_host_loopback=maybe "$IMAGE" true
  assert_husk_error 'allow_host_loopback=maybe'
  run_husk 125 create --network slirp4netns:cidr=10.0.2.0 "$IMAGE" true
  assert_husk_error 'cidr=10.0.2.0'
  run_husk 125 create --network slirp4netns:port_handler=rootlesskit "$IMAGE" true
  assert_husk_error 'port_handler=rootlesskit'
  run_husk 125 port
  assert_husk_error 'container name or ID is required'
  assert_store_unchanged "$before"
}

@test "a host port in use: the start fails clearly, nothing left running" {
  local port
  port=$(random_port)
  host_server "$port" busy
  run_husk 125 run -d --name busy -p "127.0.0.1:$port:80" "$IMAGE" sleep 100
  assert_husk_error "cannot publish port 127.0.0.1:$port->80/tcp"
  assert_husk_error "in use"
  [[ $(ctr_status busy) == created ]] || fail "status after the failed start: $(ctr_status busy)"
  run_husk 125 run --rm --name busy2 -p "127.0.0.1:$port:80" "$IMAGE" true
  assert_husk_error "in use"
  run_husk 1 container exists busy2
  kill "$SERVER_PID" 2>/dev/null || true
}

@test "slirp4netns goes with the container: exit, stop, rm -f, SIGKILL of the monitor" {
  local port pid mon
  port=$(random_port)

  run_husk run -d --name s1 -p "127.0.0.1:$port:80" "$IMAGE" sh -c "$SERVER"
  pid=$(slirp_pid s1) || fail "no slirp4netns under the monitor of s1"
  run_husk stop -t 1 s1
  assert_gone "$pid"
  # A restart gets a new one, and the port works again.
  run_husk start s1
  [[ $(fetch "$port") == hi ]] || fail "no answer after the restart"
  pid=$(slirp_pid s1) || fail "no slirp4netns after the restart"
  run_husk rm -f s1
  assert_gone "$pid"

  run_husk run -d --name s2 --network slirp4netns "$IMAGE" sleep 1000
  pid=$(slirp_pid s2) || fail "no slirp4netns under the monitor of s2"
  mon=$(jq -r .MonitorPid "$HUSK_ROOT/containers/$(ctr_json s2 .Id)/state.json")
  kill -9 "$mon"
  assert_gone "$pid"
  ctr_wait_status s2 exited

  run_husk run -d --name s3 --network slirp4netns "$IMAGE" sh -c 'sleep 0.5'
  pid=$(slirp_pid s3) || fail "no slirp4netns under the monitor of s3"
  ctr_wait_status s3 exited
  assert_gone "$pid"

  # The foreground --rm path.
  run_ctr --network slirp4netns -- true
  run pgrep -x slirp4netns -P "$$"
  [[ $status -ne 0 ]] || fail "a slirp4netns is left: $output"
}
