#!/bin/bash
# Container latency and monitor memory, husk against podman (with runc),
# side by side with hyperfine (issue 3, item 7; targets: DESIGN.md 6):
#
#   1. run --rm --network none IMG true
#   2. run --rm IMG true                 (each tool's default network)
#   3. create + start + stop -t 0 + rm   (one small sh script a run)
#   4. ps -a with 1000 created containers in the store
#   5. RSS and Pss of the per-container monitor (husk's monitor, podman's
#      conmon) of one detached `sleep 1000`
#
# IMG is the busybox test image of tests/fixtures/mkimage.sh, loaded from
# its docker-archive into a store of each tool under a temp dir (--root and
# --runroot), so the host's podman store is untouched.  Prints hyperfine's
# summaries, then a table: husk median, podman median, podman/husk and the
# DESIGN.md target.  The ratios are information: the script exits 0 when
# every measurement ran, 1 when one failed (its row says so).
#
# Usage: run-latency.sh [--quick] [--husk-only] [--full]
#   --quick      5 runs, 100 containers for ps: a smoke test, not figures
#   --husk-only  measure husk alone (podman, runc need not be installed)
#   --full       create all the containers in podman's store however long
#                it takes (by default podman's creates stop after
#                BENCH_PODMAN_BUDGET seconds and its ps row says how many)
#
# Environment: HUSK_BINARY (default build/husk), BENCH_RUNS (30),
# BENCH_WARMUP (3), BENCH_CONTAINERS (1000), BENCH_PODMAN_BUDGET (300),
# BENCH_RSS_WAIT (12: seconds between the start and the RSS reading; husk's
# monitor drops its clean file pages 1 s and 10 s after start).
#
# Everything it starts (containers, monitors, conmon) is removed through
# the tools on exit or interrupt; what is left with our temp dir in its
# command line is killed by PID; mounts under the temp dir are unmounted.
set -euo pipefail

bench_name=run-latency
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_args --full -- "$@"
if [[ $quick -eq 1 ]]; then
  runs=${BENCH_RUNS:-5} warmup=${BENCH_WARMUP:-1} ncont=${BENCH_CONTAINERS:-100}
  rss_wait=${BENCH_RSS_WAIT:-2}
else
  runs=${BENCH_RUNS:-30} warmup=${BENCH_WARMUP:-3} ncont=${BENCH_CONTAINERS:-1000}
  rss_wait=${BENCH_RSS_WAIT:-12}
fi
budget=${BENCH_PODMAN_BUDGET:-300}

# -- prerequisites -----------------------------------------------------------
bench_require busybox hyperfine jq tar gzip sha256sum skopeo || {
  [[ $husk_only -eq 1 ]] || echo "run-latency: --husk-only needs no podman nor runc" >&2
  exit 1
}
bench_host
bench_fixture

# -- stores ------------------------------------------------------------------
bench_stores run 300 900 --runtime runc

load_start=$(bench_loadavg)
echo "run-latency: husk $("$husk" version --format '{{.Client.Version}}' 2>/dev/null || echo '?')" \
  "($husk, git $rev)," \
  "$(nproc) CPUs, kernel $(uname -r), load $load_start"
"${H[@]}" load -q -i "$archive" >/dev/null
if [[ $husk_only -eq 0 ]]; then
  "${P[@]}" load -q -i "$archive" >/dev/null
  backend=$("${P[@]}" info --format '{{.Host.NetworkBackend}}')
  echo "run-latency: $(bench_podman_version)," \
    "network backend $backend"
fi

# The default network of each, seen from inside.
nets() { "$@" run --rm "$img" ls /sys/class/net | tr '\n' ' ' | sed 's/ $//'; }
husk_net=$(nets "${H[@]}") podman_net=
echo "run-latency: husk's default network: interfaces $husk_net"
if [[ $husk_only -eq 0 ]]; then
  podman_net=$(nets "${P[@]}")
  podman_netdesc=$("${P[@]}" network ls --format '{{.Name}} {{.Driver}}' | head -1)
  podman_netdesc+=" via $backend"
  echo "run-latency: podman's default network: interfaces $podman_net ($podman_netdesc)"
fi

# -- measuring ---------------------------------------------------------------
bench_measure run-none "$runs" "${H[*]} run --rm --network none $img true" \
  "${P[*]} run --rm --network none $img true"
bench_measure run-default "$runs" "${H[*]} run --rm $img true" "${P[*]} run --rm $img true"

# The cycle: one sh script a run (dash starts in ~1 ms, the same for both).
for t in husk podman; do
  if [[ $t == husk ]]; then c="${H[*]}"; else c="${P[*]}"; fi
  cat >"$work/cycle-$t.sh" <<EOF
#!/bin/sh
set -e
id=\$($c create $img sleep 100)
$c start \$id >/dev/null
$c stop -t 0 \$id >/dev/null
$c rm \$id >/dev/null
EOF
  chmod +x "$work/cycle-$t.sh"
done
bench_measure cycle "$runs" "$work/cycle-husk.sh" "$work/cycle-podman.sh"

# -- monitor RSS -------------------------------------------------------------
# kib PID: "VmRSS Pss" in KiB.
kib() {
  local rss pss
  rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$1/status")
  pss=$(awk '/^Pss:/ { print $2 }' "/proc/$1/smaps_rollup")
  echo "$rss $pss"
}
echo
echo "== monitor RSS (one detached sleep 1000 each, read ${rss_wait} s after start)"
hid=$("${H[@]}" run -d "$img" sleep 1000)
pid_husk=$(jq -r .MonitorPid "$work/husk/containers/$hid/state.json")
pid_podman=
if [[ $husk_only -eq 0 ]]; then
  pid_id=$("${P[@]}" run -d "$img" sleep 1000)
  pid_podman=$("${P[@]}" inspect --format '{{.State.ConmonPid}}' "$pid_id")
  [[ $pid_podman =~ ^[1-9][0-9]*$ ]] ||
    pid_podman=$(pgrep -f "conmon .*-c $pid_id" | head -1)
fi
echo "husk monitor pid $pid_husk${pid_podman:+, podman conmon pid $pid_podman}"
if ((rss_wait > 2)); then
  # An early reading too: husk's monitor drops its clean file pages at 1 s
  # and 10 s, so the two readings show what that buys.
  sleep 2
  read -r a b < <(kib "$pid_husk")
  echo "husk monitor at 2 s: VmRSS $a KiB, Pss $b KiB"
  if [[ -n $pid_podman ]]; then
    read -r a b < <(kib "$pid_podman")
    echo "podman conmon at 2 s: VmRSS $a KiB, Pss $b KiB"
  fi
  sleep $((rss_wait - 2))
else
  sleep "$rss_wait"
fi
read -r a b < <(kib "$pid_husk")
result["rss husk"]=$a result["pss husk"]=$b
echo "husk monitor at $rss_wait s: VmRSS $a KiB, Pss $b KiB"
if [[ -n $pid_podman ]]; then
  read -r a b < <(kib "$pid_podman")
  result["rss podman"]=$a result["pss podman"]=$b
  echo "podman conmon at $rss_wait s: VmRSS $a KiB, Pss $b KiB"
  "${P[@]}" rm -f -t 0 "$pid_id" >/dev/null
fi
"${H[@]}" rm -f "$hid" >/dev/null

# -- ps -a with many containers ------------------------------------------------
# Created, never started: `create IMG true`, two at a time (2 CPUs here).
make_containers() {
  local tool=$1 n=$2 lim=$3 start=$SECONDS made=0 batch
  local -a cmd
  if [[ $tool == husk ]]; then cmd=("${H[@]}"); else cmd=("${P[@]}"); fi
  while ((made < n)); do
    batch=$((n - made < 50 ? n - made : 50))
    seq "$batch" | xargs -P 2 -I{} "${cmd[@]}" create "$img" true >/dev/null
    made=$((made + batch))
    if ((lim > 0 && SECONDS - start > lim && made < n)); then
      echo "run-latency: $tool: $made creates took $((SECONDS - start)) s, stopping there" >&2
      break
    fi
  done
  echo "run-latency: $tool: $made containers created in $((SECONDS - start)) s" >&2
}
echo
echo "== ps -a: creating $ncont containers in each store"
make_containers husk "$ncont" 0
n_husk=$("${H[@]}" ps -a -q | wc -l)
n_podman=$n_husk
if [[ $husk_only -eq 0 ]]; then
  lim=$budget
  # shellcheck disable=SC2154 # full: set by bench_args
  [[ $full -eq 1 ]] && lim=0
  make_containers podman "$ncont" "$lim"
  n_podman=$("${P[@]}" ps -a -q | wc -l)
fi
echo "husk holds $n_husk containers${pid_podman:+, podman $n_podman}"
bench_measure ps "$runs" "${H[*]} ps -a" "${P[*]} ps -a"

# -- the table -----------------------------------------------------------------
load_end=$(bench_loadavg)
ratio() {
  [[ $1 =~ ^[0-9.]+$ && $2 =~ ^[0-9.]+$ ]] || {
    echo -
    return
  }
  jq -n --argjson p "$1" --argjson h "$2" 'if $h == 0 then "-" else ($p / $h * 100 | round / 100 | tostring) + "x" end' -r
}
cell() { # VALUE UNIT: "12.3 ms", "failed" or "-"
  case $1 in
  '') echo - ;;
  failed) echo failed ;;
  *) echo "$1 $2" ;;
  esac
}
met() { # VALUE LIMIT: yes/no
  [[ $1 =~ ^[0-9.]+$ ]] || {
    echo -
    return
  }
  jq -n --argjson v "$1" --argjson l "$2" -r 'if $v <= $l then "yes" else "no" end'
}
ps_what="ps -a, $n_husk containers"
[[ $husk_only -eq 1 || $n_podman == "$n_husk" ]] || ps_what+=" (podman: $n_podman)"
# row key, label, unit, target value, target text
rows=("run-none|run --rm --network none IMG true|ms|10|<= 10 ms"
  "run-default|run --rm IMG true (default network)|ms|40|<= 40 ms"
  "cycle|create+start+stop+rm cycle|ms|25|<= 25 ms"
  "ps|$ps_what|ms|50|<= 50 ms"
  "rss|monitor VmRSS (podman: conmon)|KiB|1024|<= 1 MiB"
  "pss|monitor Pss (podman: conmon)|KiB|1024|<= 1 MiB")
echo
echo "husk $husk (git $rev)," \
  "medians of $runs runs; load $load_start at start, $load_end at end"
echo "default network: husk [$husk_net]${podman_net:+, podman [$podman_net] ($podman_netdesc)}"
echo "cpu: mean user+system of the command and the children it waited for (not"
echo "the detached monitor or conmon): less skewed by load than the medians"
fmt='%-40s %11s %11s %11s %9s %9s %6s %6s\n'
# shellcheck disable=SC2059
printf "$fmt" what husk podman podman/husk "husk cpu" "pod. cpu" target met
for r in "${rows[@]}"; do
  IFS='|' read -r key label unit tval ttext <<<"$r"
  hv=${result["$key husk"]:-}
  pv=${result["$key podman"]:-}
  hs=$(cell "$hv" "$unit")
  ps=$(cell "$pv" "$unit")
  # shellcheck disable=SC2059
  printf "$fmt" "$label" "$hs" "$ps" "$(ratio "$pv" "$hv")" "${cpu["$key husk"]:--}" \
    "${cpu["$key podman"]:--}" "$ttext" "$(met "$hv" "$tval")"
done
exit "$failed"
