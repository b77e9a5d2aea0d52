#!/usr/bin/env bash
# Party-scale benchmark (issue #17): for each N, N whole `lanspread daemon`
# peers, one per network namespace on one bridge, mDNS only, one small game
# each (tests/netns/mesh.sh). Reported per N:
#   converge   seconds from the first daemon's start until every peer's
#              latest list-games event lists every other peer's game (the
#              last peer; the median peer in brackets); "launch" is how long
#              the shell took to start all N; "CPU s" is what all daemons
#              used until then (2 cores give 2 CPU s per second)
#   per daemon what one PC of a party pays (here all share 2 cores): CPU s
#              per daemon to converge (mean; the busiest in brackets) and
#              the time from a daemon's own start until it listed every
#              other game (median; the last in brackets)
#   idle CPU   over LS_MESH_IDLE_S seconds once converged and settled: mean %
#              of one core per daemon, that over N-1 (per neighbour), the
#              busiest daemon, and all daemons together in cores
#   RSS        the largest daemon's VmRSS, and its RssAnon (VmRSS counts the
#              shared libraries' pages too: about 8.5 MiB of it)
# and the load average before each run (other work on the machine shows in
# every figure: compare runs made one after the other).
# Usage: bench_mesh.sh [<build>/lanspread]   (root; skips otherwise)
# Env: LS_MESH_N ("10 30 60 100"), LS_MESH_IDLE_S (20), LS_MESH_SETTLE_S (5),
# LS_MESH_CONVERGE_S (90), LS_MESH_DAEMON_ARGS, LS_MESH_PAUSE_S (10, between
# runs: the last run's teardown settles), NETNS_KEEP_LOGS=1 (logs kept as
# <peer>-<N>-r<run>.out/.err).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/netns/lib.sh
source "$here/../tests/netns/lib.sh"
# shellcheck source=tests/netns/mesh.sh
source "$here/../tests/netns/mesh.sh"

lanspread=${1:-$here/../build/lanspread}
read -r -a counts <<<"${LS_MESH_N:-10 30 60 100}"
idle_s=${LS_MESH_IDLE_S:-20}
settle_s=${LS_MESH_SETTLE_S:-5}
converge_s=${LS_MESH_CONVERGE_S:-90}
pause_s=${LS_MESH_PAUSE_S:-10}

netns_require
[[ -x $lanspread ]] || { echo "bench_mesh: $lanspread not found (build first)"; exit 1; }
command -v python3 >/dev/null || { echo "bench_mesh: python3 missing"; exit 1; }
max_n=0
for n in "${counts[@]}"; do
  [[ $n =~ ^[0-9]+$ ]] && ((n >= 2 && n <= 250)) || { echo "bench_mesh: N=$n (2..250)"; exit 1; }
  ((n > max_n)) && max_n=$n
done

netns_up "$max_n" || { echo "bench_mesh: could not build the test bed"; exit 1; }
mesh_setup "$lanspread" "$NETNS_LOG_DIR" "$max_n"

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
sec() { awk -v ms="$1" 'BEGIN {printf "%.2f", ms / 1000}'; }

declare -a ROWS=()
bad=0
first=1
run=0
for n in "${counts[@]}"; do
  run=$((run + 1))
  ((first)) || sleep "$pause_s"
  first=0
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  log "N=$n: starting (load $load)"
  mesh_start "$n"
  if mesh_wait_converged "$n" "$converge_s"; then
    conv="$(sec "$MESH_CONVERGED_MS") ($(sec "$MESH_MEDIAN_MS"))"
  else
    conv="no: $MESH_DONE/$n in ${converge_s} s"
    log "N=$n: not converged; missing: $MESH_MISSING"
    bad=1
  fi
  own="-"
  ((MESH_OWN_MAX_MS >= 0)) && own="$(sec "$MESH_OWN_MEDIAN_MS") ($(sec "$MESH_OWN_MAX_MS"))"
  mesh_cpu_split "$n"
  cpu_start=$MESH_CPU_S
  cpu_daemon="$(awk -v c="$cpu_start" -v n="$n" 'BEGIN {printf "%.2f", c / n}') ($MESH_CPU_MAX_S)"
  log "N=$n: converge $conv, launch $(sec $((MESH_LAUNCHED_MS - MESH_T0_MS))) s, CPU so far $cpu_start s"
  sleep "$settle_s"
  if mesh_idle "$n" "$idle_s"; then
    per=$(awk -v c="$MESH_CPU_PCT" -v n="$n" 'BEGIN {printf "%.4f", c / (n - 1)}')
    rss=$(awk -v k="$MESH_RSS_MAX_KIB" -v a="$MESH_ANON_MAX_KIB" 'BEGIN {printf "%.1f (%.1f)", k / 1024, a / 1024}')
    ROWS+=("$(printf '| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |' "$n" "$conv" \
      "$(sec $((MESH_LAUNCHED_MS - MESH_T0_MS)))" "$cpu_start" "$MESH_CPU_PCT" "$per" "$MESH_CPU_MAX_PCT" \
      "$MESH_CPU_TOTAL" "$rss" "$load" "$cpu_daemon" "$own")")
  else
    ROWS+=("| $n | $conv | - | $cpu_start | a daemon died | - | - | - | - | $load | $cpu_daemon | $own |")
    bad=1
  fi
  log "${ROWS[-1]}"
  mesh_stop "$n" "$n-r$run" # logs per run: an N may repeat
done

echo "lanspread daemons, mDNS only, one game each; idle over ${idle_s} s after ${settle_s} s settling"
echo "| peers | converge s (median) | launch s | CPU s to converge | idle CPU %/daemon | %/neighbour | busiest % | all daemons (cores) | max RSS (anon) MiB | load before | CPU s/daemon to converge (busiest) | own start to all games s (median; last) |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
exit "$bad"
