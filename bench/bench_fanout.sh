#!/usr/bin/env bash
# A fan-out benchmark (issue #13, swarm distribution): one seeder and N
# downloaders, each a `lanspread daemon` in its own network namespace on one
# bridge, every host's uplink (htb on its eth0) and downlink (htb on the
# bridge-side veth toward it) shaped to R. The seeder holds a game of S MiB
# (4 files of AES-CTR keystream, version.ini last); each downloader has its
# own game and state dirs, mDNS off, and knows the others by --peer (see
# LS_SWARM_PEERS in tests/netns/swarm.sh). Every download is requested
# through its daemon's CLI (`lanspread download ID --no-wait`) at the same
# moment, and the end of each is read from its event stream
# (download-finished), then its state from the API.
# For each N, two runs on the same hosts:
#   swarm     default daemon arguments (partial copies announced and served)
#   no-swarm  --no-swarm on every daemon (only complete seeders serve)
# Reported per run: seconds to the last completion and that time over the
# ideal S/R (one copy over one link: with only the seeder uploading, about
# N x; a swarm can approach 1 x), MiB each host sent (its eth0 tx_bytes), and
# every copy SHA-256-compared with the seeder's. Exits non-zero when a copy
# differs or a run does not finish in time.
# Data lives on a tmpfs: this machine's disk syncs at ~260 MB/s, less than N
# downloaders write.
# Usage: bench_fanout.sh [<build>/lanspread]   (root; skips otherwise)
# Env: LS_FANOUT_N ("6 12"), LS_FANOUT_MBIT (200), LS_FANOUT_MIB (112),
# LS_FANOUT_MODES ("swarm no-swarm"), LS_SWARM_OFF_ARGS (the no-swarm
# mode's daemon arguments, default --no-swarm), LS_SWARM_DAEMON_ARGS (every
# daemon), LS_SWARM_PEERS (mesh | seeder), NETNS_KEEP_LOGS=1,
# LS_FANOUT_TRACE=1 (a timeline: every host's received and sent MiB per
# 250 ms during each run, in the logs directory as trace-nN-MODE.txt, and
# kept with NETNS_KEEP_LOGS=1; the daemons then log at debug level, and the
# trace ends with each downloader's timeline line and per-peer summary
# from its log, the `busy` and `given` answers each host sent, per
# reason, and the packets each shaped queue dropped),
# LS_FANOUT_PERF=FILE (a system-wide `perf record` over each transfer, into
# FILE.MODE-N; LS_FANOUT_PERF_ARGS, default -F 999, e.g. "-F 999 -g").
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/netns/lib.sh
source "$here/../tests/netns/lib.sh"
# shellcheck source=tests/netns/shape.sh
source "$here/../tests/netns/shape.sh"
# shellcheck source=tests/netns/swarm.sh
source "$here/../tests/netns/swarm.sh"

lanspread=${1:-$here/../build/lanspread}
read -r -a counts <<<"${LS_FANOUT_N:-6 12}"
mbit=${LS_FANOUT_MBIT:-200}
mib=${LS_FANOUT_MIB:-112}
read -r -a modes <<<"${LS_FANOUT_MODES:-swarm no-swarm}"
read -r -a off_args <<<"${LS_SWARM_OFF_ARGS---no-swarm}"

netns_require
netns_shape_require
[[ -x $lanspread ]] || { echo "bench_fanout: $lanspread not found (build first)"; exit 1; }
command -v openssl >/dev/null || { echo "bench_fanout: openssl missing"; exit 1; }
max_n=0
for n in "${counts[@]}"; do
  [[ $n =~ ^[0-9]+$ ]] && ((n >= 1 && n <= 30)) || { echo "bench_fanout: N=$n (1..30)"; exit 1; }
  ((n > max_n)) && max_n=$n
done
for mode in "${modes[@]}"; do
  [[ $mode == swarm || $mode == no-swarm ]] || { echo "bench_fanout: unknown mode $mode"; exit 1; }
done

data=$(mktemp -d /tmp/lanspread-fanout.XXXXXX)
# Run by netns_down once every daemon is stopped (no EXIT trap of our own:
# it would have to keep $? intact for netns_down).
cleanup_fanout() {
  if mountpoint -q "$data"; then umount -l "$data"; fi
  rm -rf "$data"
}
netns_at_exit cleanup_fanout
# The source, the seeder's hard links to it and N copies, plus slack.
mount -t tmpfs -o "size=$((mib * (max_n + 2) + 256))m,mode=0755" lsfanout "$data" ||
  { echo "bench_fanout: cannot mount a tmpfs"; exit 1; }
netns_up $((max_n + 1)) || { echo "bench_fanout: could not build the test bed"; exit 1; }

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

swarm_setup "$lanspread" "$data" fanoutgame
[[ ${LS_FANOUT_TRACE:-0} == 1 ]] && SWARM_EXTRA+=(--verbose)
swarm_make_game "$mib" || { echo "bench_fanout: could not make the game"; exit 1; }
swarm_shape_all "${mbit}mbit" || { echo "bench_fanout: shaping failed"; exit 1; }
ideal=$(awk -v b="$SWARM_BYTES" -v r="$mbit" 'BEGIN {printf "%.3f", b * 8 / (r * 1e6)}')
log "game: $SWARM_BYTES bytes; every link ${mbit} Mbit/s up and down; ideal (one copy) ${ideal} s"

mib_of() { awk -v b="$1" 'BEGIN {printf "%.1f", b / 1048576}'; }

# cpu_ticks NAME: the daemon's user + system CPU so far, in clock ticks.
cpu_ticks() {
  local stat f
  read -r stat 2>/dev/null <"/proc/${NETNS_PID[$1]}/stat" || { echo 0; return; }
  read -r -a f <<<"${stat##*) }"
  echo $((f[11] + f[12]))
}
# machine_ticks: busy and total ticks of every CPU (the first line of /proc/stat).
machine_ticks() {
  local f
  read -r -a f </proc/stat
  echo "$((f[1] + f[2] + f[3] + f[6] + f[7] + f[8])) $((f[1] + f[2] + f[3] + f[4] + f[5] + f[6] + f[7] + f[8]))"
}
hz=$(getconf CLK_TCK)

declare -a ROWS=()
bad=0
TRACE_PID=

# trace_start N / trace_stop N MODE: with LS_FANOUT_TRACE=1, samples every
# host's byte counters (its bridge-side veth: rx there is what the host sent)
# every 250 ms until stopped, then writes the per-interval MiB as a table.
trace_start() {
  [[ ${LS_FANOUT_TRACE:-0} == 1 ]] || return 0
  # `ip netns exec` mounts the bridge namespace's own /sys for the loop.
  ip netns exec "$NETNS_BRIDGE_NS" bash -c '
    for ((k = 0; k < 2400; k++)); do
      line=$(($(date +%s%N) / 1000000))
      for ((i = 1; i <= $1; i++)); do
        line+=" $(</sys/class/net/v$i/statistics/tx_bytes) $(</sys/class/net/v$i/statistics/rx_bytes)"
      done
      echo "$line"
      sleep 0.25
    done' trace "$(($1 + 1))" >"$NETNS_LOG_DIR/trace.raw" &
  TRACE_PID=$!
}
trace_stop() {
  [[ -n $TRACE_PID ]] || return 0
  kill "$TRACE_PID" 2>/dev/null
  wait "$TRACE_PID" 2>/dev/null
  TRACE_PID=
  # Columns: seconds since the downloads started, then per host (h1 = the
  # seeder) "rx/tx" MiB in that interval.
  awk -v t0="$DL_T0_MS" -v n="$(($1 + 1))" '
    NR == 1 { for (i = 2; i <= NF; i++) p[i] = $i; pt = $1
              printf "%6s", "s"; for (i = 1; i <= n; i++) printf " %11s", "h" i " rx/tx"; print ""; next }
    { printf "%6.2f", ($1 - t0) / 1000
      for (i = 2; i <= NF; i += 2) printf " %5.1f/%5.1f", ($i - p[i]) / 1048576, ($(i + 1) - p[i + 1]) / 1048576
      print ""; for (i = 2; i <= NF; i++) p[i] = $i }' "$NETNS_LOG_DIR/trace.raw" >"$NETNS_LOG_DIR/trace-$2.txt"
  rm -f "$NETNS_LOG_DIR/trace.raw"
  # The daemons' own view (debug lines of fetch.c and server.c): each
  # download's timeline and per-peer counts, and the busy answers sent.
  local name
  for name in seed $(seq -f 'd%g' 1 "$1"); do
    [[ -f $NETNS_LOG_DIR/$name.err ]] || continue
    echo "== $name (h${SWARM_HOST[$name]})"
    grep -o 'timeline: .*' "$NETNS_LOG_DIR/$name.err"
    grep ' serve ' "$NETNS_LOG_DIR/$name.err" | grep -oE '(busy|given), [^:]*' | sort | uniq -c
  done >>"$NETNS_LOG_DIR/trace-$2.txt"
  # Where the shaped links dropped packets (each queue's totals since the
  # bed came up): uplinks are the hosts' eth0, downlinks the bridge's v<i>;
  # and the datagrams each host's kernel dropped because a daemon did not
  # read its socket in time (UDP RcvbufErrors of its namespace).
  local i
  for ((i = 1; i <= $1 + 1; i++)); do
    printf 'h%d up: %s; down: %s; udp receive buffer full: %s\n' "$i" \
      "$(ip netns exec "$(netns_host "$i")" tc -s qdisc show dev eth0 | grep -m1 -o 'dropped [0-9]*, overlimits [0-9]*')" \
      "$(ip netns exec "$NETNS_BRIDGE_NS" tc -s qdisc show dev "v$i" | grep -m1 -o 'dropped [0-9]*, overlimits [0-9]*')" \
      "$(ip netns exec "$(netns_host "$i")" awk '/^Udp:/ { if (!h) { for (k = 1; k <= NF; k++) c[$k] = k; h = 1 } else print $c["RcvbufErrors"] }' /proc/net/snmp)"
  done >>"$NETNS_LOG_DIR/trace-$2.txt"
}

# perf_start / perf_stop: with LS_FANOUT_PERF=FILE, a system-wide
# `perf record` (LS_FANOUT_PERF_ARGS, default -F 999) over the transfer
# only (not the setup's hashing), written to FILE.MODE-N.
PERF_PID=
perf_start() {
  [[ -n ${LS_FANOUT_PERF:-} ]] || return 0
  read -r -a pargs <<<"${LS_FANOUT_PERF_ARGS:--F 999}"
  perf record -a "${pargs[@]}" -o "$LS_FANOUT_PERF.$mode-$n" >/dev/null 2>&1 &
  PERF_PID=$!
  sleep 0.3
}
perf_stop() {
  [[ -n $PERF_PID ]] || return 0
  kill -INT "$PERF_PID" 2>/dev/null
  wait "$PERF_PID" 2>/dev/null || true
  PERF_PID=
}

# run N MODE: one fan-out; appends a row to ROWS, sets bad on a failure.
run() {
  local n=$1 mode=$2 args=() names=() name i sent seed_sent sum=0 min=-1 mean last=0 s ratio ok=yes
  local -A tx0=()
  local cpu=0 m0 m1
  [[ $mode == no-swarm ]] && args=(${off_args[@]+"${off_args[@]}"})
  for ((i = 1; i <= n; i++)); do names+=("d$i"); done
  SWARM_PEER_HOSTS=$(seq -s ' ' 2 $((n + 1)))
  # Only the seeder uploads without a swarm: N copies through one link.
  SWARM_DONE_S=$(awk -v i="$ideal" -v n="$n" 'BEGIN {printf "%d", 60 + 3 * n * i}')
  log "N=$n $mode: daemons ${args[*]:-(default arguments)}"
  start_seeder ${args[@]+"${args[@]}"}
  for name in "${names[@]}"; do start_downloader "$name" ${args[@]+"${args[@]}"} || return 1; done
  if ! swarm_wait_linked seed "${names[@]}"; then
    ROWS+=("$n $mode failed - - - - - -")
    bad=1
    return 1
  fi
  for name in seed "${names[@]}"; do tx0[$name]=$(tx_bytes "$name"); done
  for name in seed "${names[@]}"; do cpu=$((cpu - $(cpu_ticks "$name"))); done
  read -r -a m0 <<<"$(machine_ticks)"
  trace_start "$n"
  perf_start
  if ! start_download "${names[@]}" || ! wait_done "${names[@]}"; then
    trace_stop "$n" "n$n-$mode"
    perf_stop
    echo "bench_fanout: N=$n $mode did not finish"
    ROWS+=("$n $mode failed - - - - - -")
    bad=1
    return 1
  fi
  read -r -a m1 <<<"$(machine_ticks)"
  perf_stop
  trace_stop "$n" "n$n-$mode"
  for name in seed "${names[@]}"; do cpu=$((cpu + $(cpu_ticks "$name"))); done
  seed_sent=$(($(tx_bytes seed) - tx0[seed]))
  for name in "${names[@]}"; do
    sent=$(($(tx_bytes "$name") - tx0[$name]))
    sum=$((sum + sent))
    ((min < 0 || sent < min)) && min=$sent
    ((DONE_MS[$name] > last)) && last=${DONE_MS[$name]}
    printf '  %-4s done %7.2f s  sent %7s MiB\n' "$name" "$(done_s "$name")" "$(mib_of "$sent")"
    same_files "$name" || { echo "bench_fanout: N=$n $mode: $name's files differ from the seeder's"; ok=no; }
  done
  # The machine is shared: its busy share says whether the run was CPU-bound.
  echo "  daemons' CPU $(awk -v t="$cpu" -v h="$hz" 'BEGIN {printf "%.1f", t / h}') s;" \
    "machine busy $(( (m1[0] - m0[0]) * 100 / (m1[1] - m0[1] > 0 ? m1[1] - m0[1] : 1) ))% of $(nproc) CPUs"
  echo "  seed sent $(mib_of "$seed_sent") MiB; copies $([[ $ok == yes ]] && echo "all equal the seeder's" || echo DIFFER)"
  [[ $ok == yes ]] || bad=1
  s=$(awk -v a="$DL_T0_MS" -v b="$last" 'BEGIN {printf "%.2f", (b - a) / 1000}')
  ratio=$(awk -v s="$s" -v i="$ideal" 'BEGIN {printf "%.2f", s / i}')
  mean=$(mib_of $((sum / n)))
  ROWS+=("$n $mode $s $ratio $(mib_of "$seed_sent") $mean $(mib_of "$min") $(awk -v t="$cpu" -v h="$hz" 'BEGIN {printf "%.1f", t / h}') $(( (m1[0] - m0[0]) * 100 / (m1[1] - m0[1] > 0 ? m1[1] - m0[1] : 1) ))$([[ $ok == yes ]] || echo ' MISMATCH')")
}

# stop_all N: every daemon stopped, the downloaders' copies and state gone
# (the seeder keeps its state: no second hash of the game).
stop_all() {
  local i name
  for ((i = 1; i <= $1; i++)); do
    name=d$i
    stop_peer "$name"
    wipe_peer "$name"
    for f in out err download; do
      [[ -f $NETNS_LOG_DIR/$name.$f ]] && mv "$NETNS_LOG_DIR/$name.$f" "$NETNS_LOG_DIR/$name-$2.$f"
    done
  done
  stop_peer seed
  mv "$NETNS_LOG_DIR/seed.out" "$NETNS_LOG_DIR/seed-$2.out"
  mv "$NETNS_LOG_DIR/seed.err" "$NETNS_LOG_DIR/seed-$2.err"
}

for n in "${counts[@]}"; do
  for mode in "${modes[@]}"; do
    run "$n" "$mode"
    stop_all "$n" "n$n-$mode"
  done
done

echo
echo "== bench_fanout: 1 seeder + N downloaders, $(mib_of "$SWARM_BYTES") MiB game, every link ${mbit} Mbit/s up and down"
echo "   ideal = one copy over one link = ${ideal} s; MiB sent = the host's eth0 tx_bytes during the run"
printf '%4s  %-9s %9s %9s %11s %11s %11s %8s %6s\n' N mode seconds x-ideal "seed MiB" "mean dl MiB" \
  "min dl MiB" "CPU s" "busy%"
for row in "${ROWS[@]}"; do
  read -r -a f <<<"$row"
  printf '%4s  %-9s %9s %9s %11s %11s %11s %8s %6s %s\n' "${f[@]:0:9}" "${f[*]:9}"
done
exit $bad
