# A party mesh on the multi-host test bed (issue #17): N whole `lanspread
# daemon` peers, one per host, mDNS only (no --peer), each with one small
# game of its own. Used by tests/netns/test_mesh.sh and bench/bench_mesh.sh.
# Source after lib.sh, call netns_up, then:
#
#   mesh_setup BIN WORK MAX      the lanspread binary, a work directory, the
#                                largest N (games game-p1..game-pMAX, one
#                                catalog naming them all)
#                                and every host's neighbours as permanent
#                                ARP entries (see mesh_neighbours)
#   mesh_start N                 starts p1..pN on hosts 1..N as fast as the
#                                shell can; MESH_T0_MS = before the first
#                                start, MESH_LAUNCHED_MS = after the last,
#                                MESH_START_MS[i] = just before pi's start
#   mesh_wait_converged N SECS   until every peer's latest list-games event
#                                lists every other peer's game, or SECS
#                                after MESH_T0_MS; sets MESH_CONVERGED_MS
#                                (since MESH_T0_MS, the last peer's) and
#                                MESH_MEDIAN_MS, and from each peer's own
#                                start MESH_OWN_MAX_MS and MESH_OWN_MEDIAN_MS
#                                (what one PC of a party waits, the launch of
#                                the others aside); non-zero when not converged
#   mesh_idle N SECS             each daemon's CPU over SECS (utime + stime
#                                from /proc/PID/stat, all its threads) and
#                                RSS; sets MESH_CPU_PCT (mean per daemon, %
#                                of one core), MESH_CPU_MAX_PCT,
#                                MESH_CPU_TOTAL (cores, all daemons),
#                                MESH_RSS_MAX_KIB and MESH_ANON_MAX_KIB
#                                (RssAnon: the daemon's own memory, without
#                                the shared libraries' pages)
#   mesh_cpu_s N                 CPU seconds all N daemons used so far
#   mesh_cpu_split N             the same as MESH_CPU_S, and the busiest
#                                daemon's as MESH_CPU_MAX_S (no subshell)
#   mesh_stop N [TAG]            SIGTERM to every daemon at once, then
#                                netns_stop each (SIGKILL after 3 s); their
#                                output is kept as <name>-<TAG>.out / .err
#                                (TAG defaults to N)
#
# Environment: LS_MESH_DAEMON_ARGS, extra arguments for every daemon (split
# on spaces). Convergence is watched by one python3 process reading every
# daemon's --json-events output as it grows: a shell loop of grep per peer
# would itself take a core from the daemons it times.
# shellcheck shell=bash

MESH_PORT=7400
MESH_HTTP=127.0.0.1:7797 # one loopback per namespace: every host may use it
MESH_POLL_S=0.05

mesh_setup() {
  MESH_BIN=$1
  MESH_WORK=$2
  local max=$3 i sep=""
  read -r -a MESH_EXTRA <<<"${LS_MESH_DAEMON_ARGS:-}"
  netns_find_python
  : >"$MESH_WORK/empty.conf"
  mkdir -p "$MESH_WORK/run"
  chmod 0700 "$MESH_WORK/run"
  export XDG_RUNTIME_DIR=$MESH_WORK/run # the daemons' registry: ours alone
  {
    printf '{"catalog_version":1,"games":['
    for ((i = 1; i <= max; i++)); do
      printf '%s{"id":"game-p%d","name":"Game %d","description":"mesh","genre":"test","max_players":2,"release_year":2000}' \
        "$sep" "$i" "$i"
      sep=","
    done
    printf ']}\n'
  } >"$MESH_WORK/catalog.json"
  for ((i = 1; i <= max; i++)); do
    mkdir -p "$MESH_WORK/p$i-games/game-p$i"
    head -c 4096 /dev/urandom >"$MESH_WORK/p$i-games/game-p$i/game-p$i.bin"
    echo "version=1" >"$MESH_WORK/p$i-games/game-p$i/version.ini" # last: complete
  done
  mesh_neighbours "$max" || echo "mesh: could not set the hosts' neighbours; ARP may overflow" >&2
}

# The kernel keeps one ARP table for all network namespaces, and its limit
# (net.ipv4.neigh.default.gc_thresh3, 1024 entries) counts them all: 60
# hosts that each resolve 59 neighbours overflow it ("neighbor table
# overflow"), packets are dropped and a daemon spent 45% of its CPU in
# ___neigh_create (perf, 60 peers). A party's PCs each have their own table,
# so that is the bed, not the mesh: every host gets its neighbours as
# permanent entries, which the limit does not count, and resolves none.
mesh_neighbours() {
  local max=$1 i j
  local -a mac
  for ((i = 1; i <= max; i++)); do
    mac[i]=$(ip -n "$(netns_host "$i")" -o link show eth0 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
    [[ -n ${mac[i]} ]] || return 1
  done
  for ((i = 1; i <= max; i++)); do
    for ((j = 1; j <= max; j++)); do
      ((i == j)) || echo "neigh replace $(netns_addr "$j") lladdr ${mac[j]} dev eth0 nud permanent"
    done | ip -n "$(netns_host "$i")" -batch - || return 1
  done
}

# A party's PCs start on their own; here one shell starts every daemon on
# the same cores, and at the daemons' priority it waited behind the ones
# already up: the launch took 1.5 to 18 s, more the sooner the daemons got
# to work, and converge (timed from the first start) counted it. As root
# the launch runs MESH_LAUNCH_NICE below the shell's nice, and each daemon
# at the shell's own (nice -n, relative, back up; renice -n is absolute).
MESH_LAUNCH_NICE=10

# A fresh state directory each run: a party of new identities.
mesh_start() {
  local n=$1 i
  local -a nice_back=()
  local nice0
  nice0=$(nice)
  if renice -n "$((nice0 - MESH_LAUNCH_NICE))" -p "$BASHPID" >/dev/null 2>&1; then
    nice_back=(nice -n "$MESH_LAUNCH_NICE")
  fi
  MESH_T0_MS=$(netns_now_ms)
  MESH_START_MS=()
  for ((i = 1; i <= n; i++)); do
    rm -rf "$MESH_WORK/p$i-state"
    MESH_START_MS[i]=$((${EPOCHREALTIME/./} / 1000)) # no fork: the launch is timed
    netns_run "$i" "p$i" ${nice_back[@]+"${nice_back[@]}"} "$MESH_BIN" daemon \
      --games "$MESH_WORK/p$i-games" --state "$MESH_WORK/p$i-state" --name "p$i" \
      --listen "0.0.0.0:$MESH_PORT" --http "$MESH_HTTP" --config "$MESH_WORK/empty.conf" \
      --catalog "$MESH_WORK/catalog.json" --json-events ${MESH_EXTRA[@]+"${MESH_EXTRA[@]}"}
  done
  MESH_LAUNCHED_MS=$(netns_now_ms)
  ((${#nice_back[@]} == 0)) || renice -n "$nice0" -p "$BASHPID" >/dev/null
}

mesh_wait_converged() {
  local n=$1 secs=$2 out
  out=$("${NETNS_PYTHON:-python3}" - "$n" "$MESH_T0_MS" "$secs" "$NETNS_LOG_DIR" "$MESH_POLL_S" "${MESH_START_MS[*]:1:n}" <<'EOF'
import re, sys, time
n, t0_ms, secs, logdir, poll = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], float(sys.argv[5])
starts = [int(s) for s in sys.argv[6].split()]
game = re.compile(r'"id":"game-p(\d+)"')
want = {i: set(range(1, n + 1)) - {i} for i in range(1, n + 1)}
done, files, buf = {}, {}, {}
deadline = t0_ms / 1000 + secs
while len(done) < n and time.time() < deadline:
    for i in range(1, n + 1):
        if i in done:
            continue
        if i not in files:
            try:
                files[i] = open(f"{logdir}/p{i}.out", "r", errors="replace")
            except OSError:
                continue
            buf[i] = ""
        buf[i] += files[i].read()
        *lines, buf[i] = buf[i].split("\n")
        for line in lines:
            if '"event":"list-games"' in line:
                seen = {int(g) for g in game.findall(line)}
                if want[i] <= seen:
                    done[i] = int(time.time() * 1000) - t0_ms
                    break
    time.sleep(poll)
ms = sorted(done.values())
own = sorted(t0_ms + d - starts[i - 1] for i, d in done.items()) if len(starts) == n else []
missing = [f"p{i}" for i in range(1, n + 1) if i not in done]
print(len(done), ms[-1] if ms else -1, ms[len(ms) // 2] if ms else -1,
      own[-1] if own else -1, own[len(own) // 2] if own else -1, " ".join(missing[:10]))
EOF
  ) || return 1
  read -r MESH_DONE MESH_CONVERGED_MS MESH_MEDIAN_MS MESH_OWN_MAX_MS MESH_OWN_MEDIAN_MS MESH_MISSING <<<"$out"
  ((MESH_DONE == n))
}

mesh_ticks() { # PID: utime + stime of the whole process
  local s
  read -r -a s <"/proc/$1/stat" || return 1
  echo $((s[13] + s[14]))
}

mesh_cpu_split() {
  local n=$1 i sum=0 max=0 t hz
  hz=$(getconf CLK_TCK)
  for ((i = 1; i <= n; i++)); do
    t=$(mesh_ticks "${NETNS_PID[p$i]}") || continue
    sum=$((sum + t))
    ((t > max)) && max=$t
  done
  MESH_CPU_S=$(awk -v t="$sum" -v hz="$hz" 'BEGIN {printf "%.1f", t / hz}')
  MESH_CPU_MAX_S=$(awk -v t="$max" -v hz="$hz" 'BEGIN {printf "%.2f", t / hz}')
}

mesh_cpu_s() {
  local n=$1 i sum=0 t
  for ((i = 1; i <= n; i++)); do t=$(mesh_ticks "${NETNS_PID[p$i]}") && sum=$((sum + t)); done
  awk -v t="$sum" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.1f", t / hz}'
}

mesh_idle() {
  local n=$1 secs=$2 i pid t0=() t1=() rss anon sum=0 max=0 hz
  hz=$(getconf CLK_TCK)
  for ((i = 1; i <= n; i++)); do t0[i]=$(mesh_ticks "${NETNS_PID[p$i]}") || return 1; done
  sleep "$secs"
  MESH_RSS_MAX_KIB=0
  MESH_ANON_MAX_KIB=0
  for ((i = 1; i <= n; i++)); do
    pid=${NETNS_PID[p$i]}
    t1[i]=$(mesh_ticks "$pid") || return 1
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
    ((rss > MESH_RSS_MAX_KIB)) && MESH_RSS_MAX_KIB=$rss
    anon=$(awk '/^RssAnon/ {print $2}' "/proc/$pid/status")
    ((anon > MESH_ANON_MAX_KIB)) && MESH_ANON_MAX_KIB=$anon
    sum=$((sum + t1[i] - t0[i]))
    ((t1[i] - t0[i] > max)) && max=$((t1[i] - t0[i]))
  done
  MESH_CPU_PCT=$(awk -v t="$sum" -v n="$n" -v hz="$hz" -v s="$secs" 'BEGIN {printf "%.3f", 100 * t / n / hz / s}')
  MESH_CPU_MAX_PCT=$(awk -v t="$max" -v hz="$hz" -v s="$secs" 'BEGIN {printf "%.3f", 100 * t / hz / s}')
  MESH_CPU_TOTAL=$(awk -v t="$sum" -v hz="$hz" -v s="$secs" 'BEGIN {printf "%.3f", t / hz / s}')
}

mesh_stop() {
  local n=$1 tag=${2:-$1} i
  for ((i = 1; i <= n; i++)); do kill -TERM "${NETNS_PID[p$i]}" 2>/dev/null || true; done
  for ((i = 1; i <= n; i++)); do
    netns_stop "p$i"
    mv "$NETNS_LOG_DIR/p$i.out" "$NETNS_LOG_DIR/p$i-$tag.out" 2>/dev/null
    mv "$NETNS_LOG_DIR/p$i.err" "$NETNS_LOG_DIR/p$i-$tag.err" 2>/dev/null
  done
  return 0
}
