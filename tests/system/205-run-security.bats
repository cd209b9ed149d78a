#!/usr/bin/env bats
# husk run: what the container can see and do.  File descriptors,
# capabilities, seccomp, no-new-privileges, masked and read-only paths,
# mounts (--read-only, --tmpfs, -v, --device, --shm-size), --sysctl,
# --ulimit, cgroup limits and the OOM killer, device rules, and the
# namespace modes (--network, --pid, --ipc, --uts).

load helpers

setup_file() {
  load helpers
  ctr_setup_file
}

setup() {
  ctr_setup
  NETNS=
}

teardown() {
  ctr_cleanup
  if [[ -n ${NETNS:-} ]]; then
    ip netns delete "$NETNS" 2>/dev/null || true
  fi
}

require_root() {
  [[ $(id -u) -eq 0 ]] || skip "needs root: ${1:-this test}"
}

# The 11 default capabilities (DESIGN.md section 7): CHOWN 0, DAC_OVERRIDE
# 1, FOWNER 3, FSETID 4, KILL 5, SETGID 6, SETUID 7, SETPCAP 8,
# NET_BIND_SERVICE 10, SYS_CHROOT 18, SETFCAP 31.
DEFAULT_CAPS=00000000800405fb

# cap_field FIELD: the FIELD (CapBnd, CapEff ...) line value of our own
# /proc/self/status, for comparisons with the host.
host_status_field() {
  awk -v f="$1:" '$1 == f { print $2 }' /proc/self/status
}

# -- file descriptors ------------------------------------------------------

# ctr_fds NAME [PID]: the open fds of the container's pid 1 (or of PID),
# seen from the host, on one line.
ctr_fds() {
  local pid=${2:-}
  [[ -n $pid ]] || pid=$(ctr_json "$1" .State.Pid)
  ls "/proc/$pid/fd" | sort -n | xargs
}

@test "no fd beyond 0-2 is open in the container" {
  # ls lists its own directory fd (3) too.
  run_ctr -- ls /proc/self/fd
  assert_output $'0\n1\n2\n3'
  run_ctr -u user -- ls /proc/self/fd
  assert_output $'0\n1\n2\n3'
  # pid 1 seen from the host: exactly 0, 1, 2, detached, with -i, with -t.
  run_husk run -d --name fd-d "$IMAGE" sleep 1000
  assert_equal "$(ctr_fds fd-d)" "0 1 2" "fds of pid 1 (-d)"
  run_husk run -d -i --name fd-i "$IMAGE" sleep 1000
  assert_equal "$(ctr_fds fd-i)" "0 1 2" "fds of pid 1 (-d -i)"
  run_husk run -d -t --name fd-t "$IMAGE" sleep 1000
  assert_equal "$(ctr_fds fd-t)" "0 1 2" "fds of pid 1 (-d -t)"
  # With --init: the init and the command under it.
  run_husk run -d --init --name fd-init "$IMAGE" sleep 1000
  local init child
  init=$(ctr_json fd-init .State.Pid)
  # The init stays husk code and non-dumpable: from the host, only
  # CAP_SYS_PTRACE (root) may list its fds.
  if [[ $(id -u) -eq 0 ]]; then
    assert_equal "$(ctr_fds fd-init "$init")" "0 1 2" "fds of the init"
  fi
  child=$(pgrep -P "$init" | head -n 1)
  [[ -n $child ]] || fail "the init has no child"
  assert_equal "$(ctr_fds fd-init "$child")" "0 1 2" "fds of the command under the init"
}

# -- capabilities ----------------------------------------------------------

@test "capabilities: inheritable and ambient empty, the default bounding set" {
  run_ctr -- grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb):' /proc/self/status
  assert_line $'CapInh:\t0000000000000000'
  assert_line $'CapAmb:\t0000000000000000'
  assert_line $'CapBnd:\t'$DEFAULT_CAPS
  assert_line $'CapEff:\t'$DEFAULT_CAPS
  assert_line $'CapPrm:\t'$DEFAULT_CAPS
  # A non-root user keeps the bounding set but has no effective caps.
  run_ctr -u user -- grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb):' /proc/self/status
  assert_line $'CapInh:\t0000000000000000'
  assert_line $'CapAmb:\t0000000000000000'
  assert_line $'CapPrm:\t0000000000000000'
  assert_line $'CapEff:\t0000000000000000'
  assert_line $'CapBnd:\t'$DEFAULT_CAPS
}

@test "--cap-add and --cap-drop change the bounding and effective sets" {
  # NET_ADMIN is bit 12 (0x1000), SYS_ADMIN bit 21 (0x200000).
  run_ctr --cap-add NET_ADMIN -- grep -E '^Cap(Eff|Bnd):' /proc/self/status
  assert_line $'CapBnd:\t00000000800415fb'
  assert_line $'CapEff:\t00000000800415fb'
  run_ctr --cap-add cap_sys_admin --cap-drop CHOWN -- grep -E '^Cap(Eff|Bnd):' /proc/self/status
  assert_line $'CapBnd:\t00000000802405fa'
  assert_line $'CapEff:\t00000000802405fa'
  run_ctr --cap-drop all -- grep -E '^Cap(Eff|Bnd):' /proc/self/status
  assert_line $'CapBnd:\t0000000000000000'
  assert_line $'CapEff:\t0000000000000000'
  run_ctr --cap-drop all --cap-add KILL -- grep -E '^Cap(Eff|Bnd):' /proc/self/status
  assert_line $'CapBnd:\t0000000000000020'
  # Dropping CHOWN is felt.
  run_ctr '?' --cap-drop CHOWN -- sh -c 'touch /f && chown 1000 /f && echo chowned'
  refute_output --partial chowned
  run_ctr -- sh -c 'touch /f && chown 1000 /f && echo chowned'
  assert_output chowned
}

@test "--privileged: all capabilities, no seccomp, no masked paths" {
  require_root "--privileged"
  local host_bnd
  host_bnd=$(host_status_field CapBnd)
  run_ctr --privileged -- grep -E '^(CapBnd|CapEff|Seccomp):' /proc/self/status
  assert_line $'CapBnd:\t'"$host_bnd"
  assert_line $'CapEff:\t'"$host_bnd"
  assert_line $'Seccomp:\t0'
  run_ctr --privileged -- sh -c 'wc -c </proc/timer_list'
  [[ $output -gt 0 ]] || fail "/proc/timer_list is still masked with --privileged"
  run_ctr --privileged -- sh -c 'grep " /proc/sys " /proc/self/mounts | grep -c " ro[ ,]"; true'
  assert_output "0"
}

# -- seccomp and no-new-privileges -----------------------------------------

@test "seccomp is on by default, off with seccomp=unconfined" {
  run_ctr -- grep '^Seccomp:' /proc/self/status
  assert_output $'Seccomp:\t2'
  run_ctr --security-opt seccomp=unconfined -- grep '^Seccomp:' /proc/self/status
  assert_output $'Seccomp:\t0'
  run_ctr -u user -- grep '^Seccomp:' /proc/self/status
  assert_output $'Seccomp:\t2'
}

@test "a custom seccomp profile (Docker format) that denies mkdir" {
  local profile=$BATS_TEST_TMPDIR/no-mkdir.json
  cat >"$profile" <<'EOF'
{
  "defaultAction": "SCMP_ACT_ALLOW",
  "syscalls": [
    {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}
  ]
}
EOF
  run_ctr '?' --security-opt "seccomp=$profile" -- sh -c 'grep ^Seccomp: /proc/self/status; mkdir /x && echo made; touch /y && echo touched'
  assert_line $'Seccomp:\t2'
  refute_line made
  assert_line touched
  [[ $stderr == *"Operation not permitted"* ]] || fail "mkdir did not fail with EPERM: $stderr"
  # The same command without the profile makes the directory.
  run_ctr -- sh -c 'mkdir /x && echo made'
  assert_output made
  # A profile that is not JSON is refused.
  echo '{ not json' >"$BATS_TEST_TMPDIR/bad.json"
  run_ctr 125 --security-opt "seccomp=$BATS_TEST_TMPDIR/bad.json" -- echo SHOULD-NOT-RUN
  assert_husk_error
  refute_output --partial SHOULD-NOT-RUN
}

@test "a relative seccomp profile is read at create: start from elsewhere, or after the file is gone, uses it" {
  local dir=$BATS_TEST_TMPDIR/prof
  mkdir -p "$dir"
  cat >"$dir/no-mkdir.json" <<'EOF'
{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}
EOF
  (cd "$dir" && husk create --name sc --security-opt seccomp=no-mkdir.json "$IMAGE" sh -c 'mkdir /x && echo made; echo done') >/dev/null
  rm "$dir/no-mkdir.json"
  cd /
  run_husk start -a sc
  refute_line made
  assert_line done
  run_husk rm sc
}

@test "--security-opt no-new-privileges sets NoNewPrivs" {
  run_ctr --security-opt no-new-privileges -- grep '^NoNewPrivs:' /proc/self/status
  assert_output $'NoNewPrivs:\t1'
  run_ctr -- grep '^NoNewPrivs:' /proc/self/status
  assert_output $'NoNewPrivs:\t0'
}

# -- masked and read-only paths ---------------------------------------------

@test "masked paths are unreadable" {
  # /proc/timer_list is readable on the host: the checks mean something.
  [[ $(wc -c </proc/timer_list) -gt 0 ]] || skip "/proc/timer_list is empty on the host"
  # On the host these have content: masked, they read as empty or fail.
  local f
  for f in /proc/kcore /proc/keys /proc/timer_list /proc/latency_stats \
    /proc/sched_debug /proc/timer_stats; do
    [[ -e $f ]] || continue
    run_ctr '?' -- sh -c "test -s $f && echo has-size; head -c 64 $f 2>/dev/null | wc -c"
    refute_line has-size
    assert_line --index $((${#lines[@]} - 1)) 0
  done
  # Masked directories are empty.
  local d
  for d in /sys/firmware /proc/acpi /proc/scsi; do
    [[ -d $d ]] || continue
    run_ctr '?' -- sh -c "ls -A $d 2>/dev/null | wc -l"
    assert_output "0"
  done
}

@test "read-only paths are not writable" {
  run_ctr '?' -- sh -c 'echo x >/proc/sys/kernel/hostname && echo wrote; hostname'
  refute_line wrote
  refute_line x
  [[ $stderr == *"Read-only file system"* ]] || fail "stderr: $stderr"
  local p
  for p in /proc/sys /proc/sysrq-trigger /proc/irq /proc/bus; do
    [[ -e $p ]] || continue
    run_ctr -- awk -v p="$p" '$2 == p { print $4 }' /proc/self/mounts
    [[ -n $output ]] || fail "$p is not a mount point in the container"
    [[ ${lines[-1]} == ro,* || ${lines[-1]} == ro ]] || fail "$p is mounted '${lines[-1]}', not ro"
  done
}

# -- mounts -------------------------------------------------------------------

@test "--read-only: the root is read-only, /tmp too; --tmpfs /tmp writable" {
  run_ctr '?' --read-only -- sh -c 'touch /x && echo root-written; touch /tmp/x && echo tmp-written; touch /dev/shm/x && echo shm-written'
  refute_line root-written
  refute_line tmp-written
  assert_line shm-written
  [[ $stderr == *"Read-only file system"* ]] || fail "stderr: $stderr"
  run_ctr --read-only --tmpfs /tmp -- sh -c 'touch /tmp/x && echo tmp-written'
  assert_output tmp-written
  # Without --read-only the root is writable.
  run_ctr -- sh -c 'touch /x && echo root-written'
  assert_output root-written
}

@test "--tmpfs mounts a tmpfs with its options" {
  run_ctr --tmpfs /scratch:size=1m,mode=1770 -- sh -c 'stat -c %a /scratch; awk "\$2 == \"/scratch\" { print \$3 }" /proc/self/mounts; df -k /scratch | awk "NR == 2 { print \$2 }"'
  assert_output $'1770\ntmpfs\n1024'
  # Data does not outlive the container.
  run_ctr --tmpfs /scratch -- sh -c 'echo data >/scratch/f && cat /scratch/f'
  assert_output data
}

@test "-v binds a host directory read-write or read-only" {
  local dir=$BATS_TEST_TMPDIR/vol
  mkdir -p "$dir"
  echo from-host >"$dir/in"
  run_ctr -v "$dir:/data" -- sh -c 'cat /data/in; echo from-container >/data/out'
  assert_output from-host
  assert_equal "$(cat "$dir/out")" from-container "file written through the bind"
  run_ctr '?' -v "$dir:/data:ro" -- sh -c 'cat /data/in; echo y >/data/out2 && echo wrote'
  assert_line from-host
  refute_line wrote
  [[ ! -e $dir/out2 ]] || fail "a read-only bind was written"
  [[ $stderr == *"Read-only file system"* ]] || fail "stderr: $stderr"
  # A file bind, and a target that does not exist in the image.
  echo single >"$BATS_TEST_TMPDIR/file"
  run_ctr -v "$BATS_TEST_TMPDIR/file:/new/place/file:ro" -- cat /new/place/file
  assert_output single
}

@test "--device /dev/null:/dev/mynull" {
  run_ctr --device /dev/null:/dev/mynull -- sh -c 'stat -c "%F %t:%T" /dev/mynull; echo x >/dev/mynull && echo written'
  assert_output $'character special file 1:3\nwritten'
  run_ctr -- sh -c 'test -e /dev/mynull && echo exists; echo done'
  assert_output "done"
}

@test "/dev holds only the minimal device set" {
  run_ctr -- sh -c 'for d in null zero full random urandom tty ptmx; do test -c /dev/$d || echo missing $d; done; test -d /dev/pts && test -d /dev/shm && test -d /dev/mqueue && echo dirs; for l in fd stdin stdout stderr; do readlink /dev/$l; done'
  assert_output $'dirs\n/proc/self/fd\n/proc/self/fd/0\n/proc/self/fd/1\n/proc/self/fd/2'
  # No host block device.
  local host_blk
  host_blk=$(find /dev -maxdepth 1 -type b -printf '%f\n' | head -n 1)
  if [[ -n $host_blk ]]; then
    run_ctr -- sh -c "test -e /dev/$host_blk && echo leaked; echo checked"
    assert_output checked
  fi
}

@test "--shm-size sets the size of /dev/shm (64m by default)" {
  run_ctr --shm-size 32m -- sh -c 'df -k /dev/shm | awk "NR == 2 { print \$2 }"'
  assert_output 32768
  run_ctr -- sh -c 'df -k /dev/shm | awk "NR == 2 { print \$2 }"'
  assert_output 65536
}

@test "--sysctl sets namespaced sysctls in the container only" {
  require_root "sysctls"
  local host_fwd host_msgmax
  host_fwd=$(cat /proc/sys/net/ipv4/ip_forward)
  host_msgmax=$(cat /proc/sys/kernel/msgmax)
  local want_fwd=1
  [[ $host_fwd == 1 ]] && want_fwd=0
  run_ctr --sysctl net.ipv4.ip_forward=$want_fwd --sysctl kernel.msgmax=65536 -- \
    cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/msgmax
  assert_output "$want_fwd"$'\n'65536
  assert_equal "$(cat /proc/sys/net/ipv4/ip_forward)" "$host_fwd" "host ip_forward"
  assert_equal "$(cat /proc/sys/kernel/msgmax)" "$host_msgmax" "host msgmax"
}

@test "--ulimit sets soft and hard limits" {
  run_ctr --ulimit nofile=1024:2048 -- sh -c 'ulimit -n; ulimit -Hn'
  assert_output $'1024\n2048'
  run_ctr --ulimit nofile=512 -- sh -c 'ulimit -n; ulimit -Hn'
  assert_output $'512\n512'
  run_ctr --ulimit nproc=100:200 -- sh -c 'ulimit -u; ulimit -Hu'
  assert_output $'100\n200'
}

@test "--ulimit above what may be set is clamped with a warning" {
  local nr_open
  nr_open=$(cat /proc/sys/fs/nr_open)
  local want=$((nr_open * 4))
  run_ctr --ulimit nofile=$want:$want -- sh -c 'ulimit -n; ulimit -Hn'
  [[ ${lines[0]} =~ ^[0-9]+$ && ${lines[0]} -le $nr_open && ${lines[0]} -gt 0 ]] ||
    fail "soft nofile '${lines[0]}', expected <= $nr_open"
  [[ ${lines[1]} =~ ^[0-9]+$ && ${lines[1]} -le $nr_open ]] ||
    fail "hard nofile '${lines[1]}', expected <= $nr_open"
  [[ ${stderr,,} == *warn* ]] || fail "no warning on stderr: '$stderr'"
}

# -- cgroups -------------------------------------------------------------------

@test "cgroup limits: memory, pids, cpus, cpuset, cpu-shares" {
  require_root "cgroup limits"
  run_husk run -d --name limits -m 64m --pids-limit 50 --cpus 0.5 \
    --cpuset-cpus 0 --cpu-shares 512 "$IMAGE" sleep 1000
  local f
  if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
    f=$(ctr_cgroup_file limits memory memory.max)
    assert_equal "$(cat "$f")" 67108864 "memory.max"
    f=$(ctr_cgroup_file limits pids pids.max)
    assert_equal "$(cat "$f")" 50 "pids.max"
    f=$(ctr_cgroup_file limits cpu cpu.max)
    assert_equal "$(cat "$f")" "50000 100000" "cpu.max"
    f=$(ctr_cgroup_file limits cpuset cpuset.cpus)
    assert_equal "$(cat "$f")" 0 "cpuset.cpus"
  else
    f=$(ctr_cgroup_file limits memory memory.limit_in_bytes)
    assert_equal "$(cat "$f")" 67108864 "memory.limit_in_bytes"
    f=$(ctr_cgroup_file limits pids pids.max)
    assert_equal "$(cat "$f")" 50 "pids.max"
    local quota period
    quota=$(cat "$(ctr_cgroup_file limits cpu cpu.cfs_quota_us)")
    period=$(cat "$(ctr_cgroup_file limits cpu cpu.cfs_period_us)")
    assert_equal "$((quota * 2))" "$period" "cfs quota*2 vs period ($quota/$period)"
    f=$(ctr_cgroup_file limits cpuset cpuset.cpus)
    assert_equal "$(cat "$f")" 0 "cpuset.cpus"
    f=$(ctr_cgroup_file limits cpu cpu.shares)
    assert_equal "$(cat "$f")" 512 "cpu.shares"
    # The container sees its own limit.
    run_husk '?' run --rm -m 64m "$IMAGE" cat /sys/fs/cgroup/memory/memory.limit_in_bytes
    assert_output 67108864
  fi
  # The cgroup goes away with the container.
  local dir
  dir=$(dirname "$(ctr_cgroup_file limits pids pids.max)")
  [[ -d $dir ]] || fail "no cgroup directory $dir"
  run_husk rm -f limits
  local i
  for i in $(seq 1 50); do
    [[ -d $dir ]] || break
    sleep 0.1
  done
  [[ ! -d $dir ]] || fail "the cgroup $dir outlived the container"
}

@test "cgroup limits: --memory-swap" {
  require_root "cgroup limits"
  [[ -f /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes ]] ||
    skip "no memory.memsw.limit_in_bytes (swap accounting off or cgroup v2)"
  run_husk run -d --name memsw -m 64m --memory-swap 128m "$IMAGE" sleep 1000
  local f
  f=$(ctr_cgroup_file memsw memory memory.memsw.limit_in_bytes)
  assert_equal "$(cat "$f")" 134217728 "memory.memsw.limit_in_bytes"
}

@test "cgroup limits: --blkio-weight" {
  require_root "cgroup limits"
  local wf=
  if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
    [[ -f /sys/fs/cgroup/io.weight || -n $(find /sys/fs/cgroup -maxdepth 2 -name io.weight -print -quit) ]] &&
      wf=io.weight
  else
    for f in blkio.weight blkio.bfq.weight; do
      [[ -f /sys/fs/cgroup/blkio/$f ]] && wf=$f && break
    done
  fi
  [[ -n $wf ]] || skip "the blkio/io controller has no weight file here (no CFQ/BFQ scheduler)"
  run_husk run -d --name blkw --blkio-weight 300 "$IMAGE" sleep 1000
  local f
  f=$(ctr_cgroup_file blkw blkio "$wf")
  run cat "$f"
  [[ $output == *300* ]] || fail "$wf is '$output', expected 300"
}

@test "the OOM killer: exit 137 and OOMKilled in inspect" {
  require_root "cgroup limits"
  run_husk 137 run --name oom -m 16m --memory-swap 16m "$IMAGE" sh -c 'x=$(head -c 64m /dev/zero | tr "\0" a); echo survived'
  refute_output --partial survived
  run ctr_json oom '.State.Status, .State.ExitCode, .State.OOMKilled'
  assert_output $'exited\n137\ntrue'
  # A plain SIGKILL is not an OOM.
  run_husk 137 run --name notoom --init "$IMAGE" sh -c 'kill -9 $$'
  run ctr_json notoom '.State.OOMKilled'
  assert_output false
}

@test "--device-cgroup-rule lets a device node be opened" {
  require_root "device cgroup"
  [[ -c /dev/kmsg ]] || skip "no /dev/kmsg on the host"
  # /dev/kmsg (1:11) is not in the default device set: a node made for it
  # cannot be opened, unless a rule allows it.  (Opened write-only, which
  # needs no capability, and nothing is written.)
  run_ctr '?' --cap-add MKNOD -- sh -c 'busybox mknod /tmp/kmsg c 1 11 && echo made; exec 3>/tmp/kmsg && echo opened'
  assert_line made
  refute_line opened
  [[ $stderr == *"not permitted"* ]] || fail "stderr: $stderr"
  run_ctr --cap-add MKNOD --device-cgroup-rule 'c 1:11 w' -- sh -c 'busybox mknod /tmp/kmsg c 1 11 && echo made; exec 3>/tmp/kmsg && echo opened'
  assert_output $'made\nopened'
}

# -- namespaces ----------------------------------------------------------------

@test "--network none: only lo, up" {
  run_ctr --network none -- sh -c 'ls /sys/class/net; ip -o link show lo'
  assert_line --index 0 lo
  assert_line_count 2
  assert_line --index 1 --regexp '<[^>]*UP[^>]*>'
  run_ctr --network none -- readlink /proc/self/ns/net
  [[ $output != "$(readlink /proc/self/ns/net)" ]] || fail "--network none shares the host's netns"
}

@test "--network host: the host's interfaces" {
  require_root "--network host"
  run_ctr --network host -- readlink /proc/self/ns/net
  assert_output "$(readlink /proc/self/ns/net)"
  run_ctr --network host -- ls /sys/class/net
  assert_output "$(ls /sys/class/net)"
}

@test "--network container:NAME joins another container's netns" {
  # Rootless husk enters a user namespace of its own per command, which may
  # not join namespaces another one owns (podman joins the container's).
  require_root "rootless --network container: is not supported yet"
  run_husk run -d --name netsrc "$IMAGE" sleep 1000
  local pid
  pid=$(ctr_json netsrc .State.Pid)
  local want
  want=$(readlink "/proc/$pid/ns/net")
  [[ $want != "$(readlink /proc/self/ns/net)" ]] || fail "netsrc is in the host netns"
  run_ctr --network container:netsrc -- readlink /proc/self/ns/net
  assert_output "$want"
}

@test "--network ns:PATH joins a named netns" {
  require_root "ip netns add"
  command -v ip >/dev/null || skip "ip (iproute2) is not installed"
  NETNS=husk-test-$$-$RANDOM
  ip netns add "$NETNS"
  local want
  want=$(ip netns exec "$NETNS" readlink /proc/self/ns/net)
  run_ctr --network "ns:/run/netns/$NETNS" -- readlink /proc/self/ns/net
  assert_output "$want"
}

@test "--pid host, --ipc host, --uts host share the host's namespaces" {
  require_root "host namespaces"
  local ns
  for ns in pid ipc uts; do
    # Private by default ...
    run_ctr -- readlink /proc/self/ns/$ns
    [[ $output != "$(readlink /proc/self/ns/$ns)" ]] || fail "the $ns namespace is the host's by default"
    # ... the host's with --$ns host.
    run_ctr --$ns host -- readlink /proc/self/ns/$ns
    assert_output "$(readlink /proc/self/ns/$ns)"
  done
  run_ctr --pid host -- sh -c "test \$\$ -ne 1 && echo not-pid-1; test -d /proc/$$ && echo sees-host"
  assert_output $'not-pid-1\nsees-host'
  run_ctr --uts host -- hostname
  assert_output "$(hostname)"
}
