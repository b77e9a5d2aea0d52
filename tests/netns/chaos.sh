#!/usr/bin/env bash
# Churn at a LAN party: one seeder and four downloaders, each a `lanspread
# daemon` in its own network namespace, links shaped so that a download
# takes a few seconds. Every downloader is asked for the game through its
# CLI; while they run, a seeded random sequence of transitions happens:
#   kill9 NAME       SIGKILL a downloader, restart it, ask again
#   term NAME        SIGTERM a downloader, restart it, ask again
#   seed9 / seedterm the seeder killed (SIGKILL / SIGTERM) and restarted
#   pair A B         two peers stopped and restarted at the same moment
#   ask-during NAME  NAME's download asked again while another peer restarts
# At the end, bounded: every downloader lists the game installed with the
# seeder's files (SHA-256); each peer's `peers`/`status`/`games` show the
# four others once, no download running, no upload rate left; no daemon died
# on its own or exited non-zero on SIGTERM; logs have no sanitizer report,
# assertion or crash, nor a line from the list of unexpected errors.
# Usage: chaos.sh [build dir] [seed]  (needs root; skips otherwise)
# Env: LS_CHAOS_SEED (the seed; default from the clock, printed: pass it to
# replay a run's choices), LS_CHAOS_STEPS (transitions, default 8),
# LS_CHAOS_MIB (game size, default 24), LS_CHAOS_RATE (default 30mbit),
# NETNS_KEEP_LOGS=1.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/netns/lib.sh
source "$here/lib.sh"
# shellcheck source=tests/netns/shape.sh
source "$here/shape.sh"
# shellcheck source=tests/netns/swarm.sh
source "$here/swarm.sh"

bin_dir=${1:-$NETNS_BUILD_DIR}
seed=${2:-${LS_CHAOS_SEED:-$(($(date +%s%N) % 1000000))}}
steps=${LS_CHAOS_STEPS:-8}
mib=${LS_CHAOS_MIB:-24}
rate=${LS_CHAOS_RATE:-30mbit}
downloaders=(d1 d2 d3 d4)
peers_all=(seed "${downloaders[@]}")
# What a peer settles to after the churn: bounded waits.
SWARM_LINK_S=30
SWARM_DONE_S=60
settle_s=30

netns_require
netns_shape_require
netns_need_bin "$bin_dir/lanspread"

echo "chaos: seed $seed, $steps steps (replay: LS_CHAOS_SEED=$seed)"
RANDOM=$seed

data=$(mktemp -d /tmp/lanspread-chaos.XXXXXX)
netns_at_exit rm -rf "$data"
netns_up $((1 + ${#downloaders[@]})) || { echo "FAIL: could not build the test bed"; exit 1; }
swarm_setup "$bin_dir/lanspread" "$data" chaosgame
swarm_make_game "$mib" || { echo "FAIL: could not make the game"; exit 1; }
swarm_shape_all "$rate" || { echo "FAIL: shaping failed"; exit 1; }

# Exit statuses of daemons stopped with SIGTERM (must be 0) and of any that
# died unasked.
declare -A RUNS=()
chaos_log() { netns_log "chaos: $*"; }

start_peer() {
  local name=$1
  RUNS[$name]=$((${RUNS[$name]:-0} + 1))
  echo "=== run ${RUNS[$name]} $(date +%T.%N)" >>"$NETNS_LOG_DIR/$name.err"
  if [[ $name == seed ]]; then start_seeder; else start_downloader "$name"; fi
}

# stop_with SIG NAME [signalled]: the signal (already sent: signalled), then reap; a SIGTERM must end it with 0
# within LS's own shutdown time, SIGKILL is reaped as killed.
stop_with() {
  local sig=$1 name=$2 pid=${NETNS_PID[$2]:-} rc
  [[ -n $pid ]] || return 0
  if [[ ${3:-} != signalled ]] && ! swarm_is_alive "$name"; then
    wait "$pid" 2>/dev/null
    rc=$?
    fail "$name's daemon had died on its own (exit $rc): $(tail -n 3 "$NETNS_LOG_DIR/$name.err" | tr '\n' ' ')"
    unset "NETNS_PID[$name]"
    return 0
  fi
  kill "-$sig" "$pid" 2>/dev/null
  if ! netns_wait 10 netns_is_dead "$pid"; then
    fail "$name did not exit within 10 s of SIG$sig"
    kill -KILL "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null
  rc=$?
  unset "NETNS_PID[$name]"
  if [[ $sig == TERM ]] && ((rc != 0)); then
    # Killed by the signal's default action (128 + 15) before the daemon
    # blocked it, in its first milliseconds (no banner yet in this run's
    # log): what any program does; nothing was written yet.
    if ((rc == 143)) && ! sed -n '/^=== run /h; /^=== run /!H; ${x;p}' "$NETNS_LOG_DIR/$name.err" |
      grep -q 'Lanspread web UI'; then
      echo "  note: $name got SIGTERM while it started (before its banner): exit 143"
    else
      fail "$name exited $rc on SIGTERM: $(tail -n 3 "$NETNS_LOG_DIR/$name.err" | tr '\n' ' ')"
    fi
  fi
}

# ask NAME: the download, through the CLI; a refusal is fine only when the
# game is there already or a download runs (409).
ask() {
  local name=$1 out rc
  out=$(swarm_cli "$name" download "$SWARM_GAME" --no-wait 2>&1)
  rc=$?
  echo "$(date +%T.%N) ask -> $rc: $out" >>"$NETNS_LOG_DIR/$name.asks"
  ((rc == 0)) && return 0
  [[ $out == *"already"* || $out == *"busy"* ]] && return 0
  return 1
}

# ask_when_ready NAME: once the daemon is up and lists the game remote (or
# has it already), asks for it. Bounded by SWARM_LINK_S.
has_or_sees() {
  local st
  st=$(swarm_game_field "$1" 'g["state"]' 2>/dev/null) || return 1
  [[ $st == remote || $st == downloaded || $st == installed || $st == downloading ||
    $st == requested || $st == failed || $st == installing ]]
}
ask_when_ready() {
  local name=$1
  if ! netns_wait "$SWARM_LINK_S" has_or_sees "$name"; then
    fail "$name did not see the game after its restart ($(swarm_game_field "$name" 'g["state"]' 2>&1))"
    return 1
  fi
  ask "$name" || fail "$name's download request was refused: $(tail -n 1 "$NETNS_LOG_DIR/$name.asks")"
}

restart() {
  local sig=$1 name=$2
  stop_with "$sig" "$name"
  sleep "0.$((RANDOM % 10))"
  start_peer "$name"
}

# pick ARRAY: PICKED = one of its elements. Not in a $(...) subshell: bash
# reseeds RANDOM there, and the seed would not replay the run's choices.
PICKED=""
pick() {
  local -n arr=$1
  PICKED=${arr[RANDOM % ${#arr[@]}]}
}

# --- the party starts
for name in "${peers_all[@]}"; do start_peer "$name"; done
swarm_wait_linked "${peers_all[@]}" || { echo "FAIL: the peers did not link"; exit 1; }
for name in "${downloaders[@]}"; do ask "$name" || fail "first request of $name refused"; done
chaos_log "every downloader asked"

for ((step = 1; step <= steps; step++)); do
  sleep "$((RANDOM % 2)).$((RANDOM % 10))"
  action=$((RANDOM % 6))
  case $action in
    0 | 1)
      pick downloaders
      name=$PICKED
      sig=KILL
      ((action == 1)) && sig=TERM
      chaos_log "step $step: SIG$sig $name, restart"
      restart "$sig" "$name"
      ask_when_ready "$name"
      ;;
    2)
      sig=KILL
      ((RANDOM % 2)) && sig=TERM
      chaos_log "step $step: SIG$sig seed, restart"
      restart "$sig" seed
      ;;
    3)
      pick peers_all
      a=$PICKED
      pick downloaders
      b=$PICKED
      # the same peer twice: the next downloader instead
      [[ $a == "$b" ]] && b=d$((${b#d} % ${#downloaders[@]} + 1))
      chaos_log "step $step: $a and $b restarted at the same moment"
      # Both signalled before either is reaped, both started together.
      kill -KILL "${NETNS_PID[$a]}" "${NETNS_PID[$b]}" 2>/dev/null
      stop_with KILL "$a" signalled
      stop_with KILL "$b" signalled
      start_peer "$a"
      start_peer "$b"
      for name in "$a" "$b"; do [[ $name == seed ]] || ask_when_ready "$name"; done
      ;;
    4 | 5)
      pick peers_all
      a=$PICKED
      pick downloaders
      b=$PICKED
      [[ $a == "$b" ]] && continue
      chaos_log "step $step: $b asked again while $a restarts"
      stop_with TERM "$a"
      ask "$b" || fail "$b's second request during $a's restart was refused: $(tail -n 1 "$NETNS_LOG_DIR/$b.asks")"
      start_peer "$a"
      [[ $a == seed ]] || ask_when_ready "$a"
      ;;
  esac
done
chaos_log "churn over; waiting for every downloader"

# --- the end: everyone finishes.
for name in "${peers_all[@]}"; do
  swarm_is_alive "$name" || { fail "$name's daemon is not running at the end"; start_peer "$name"; }
done
# Each sees the game (listed by a peer, or here), so that a retry can start.
for name in "${downloaders[@]}"; do
  netns_wait "$SWARM_LINK_S" has_or_sees "$name" || fail "$name does not list the game after the churn"
done
installed() { [[ $(swarm_game_field "$1" 'g["state"]' 2>/dev/null) == installed ]]; }
# One deadline for all of them: a run stays bounded however many hang.
end_ms=$(($(netns_now_ms) + SWARM_DONE_S * 1000))
left_s() { local s=$(((end_ms - $(netns_now_ms)) / 1000)); echo $((s > 1 ? s : 1)); }
for name in "${downloaders[@]}"; do
  # A failed download (e.g. its seeders left) is retried once, like a user.
  if ! netns_wait "$(left_s)" installed "$name"; then
    st=$(swarm_game_field "$name" 'g["state"]' 2>&1)
    if [[ $st == failed || $st == remote ]]; then
      echo "  note: $name was '$st' after the churn; asked again"
      ask "$name"
      netns_wait "$(left_s)" installed "$name" || fail "$name did not install the game (state $(swarm_game_field "$name" 'g["state"]' 2>&1))"
    else
      fail "$name did not install the game (state $st)"
    fi
  fi
  same_files "$name" || fail "$name's files differ from the seeder's"
done

# --- every peer sees the four others once, no download, no upload rate.
views_settled() {
  local name=$1 doc
  doc=$(swarm_cli "$name" peers --json 2>/dev/null) || return 1
  python3 - "$doc" "$name" <<'PY' || return 1
import json, sys
d = json.loads(sys.argv[1])
ids = [p["peer_id"] for p in d["peers"]]
names = sorted(p["name"] for p in d["peers"])
want = sorted(n for n in ["seed", "d1", "d2", "d3", "d4"] if n != sys.argv[2])
sys.exit(0 if d["count"] == 4 and len(set(ids)) == len(ids) == 4 and names == want else 1)
PY
  doc=$(swarm_cli "$name" status --json 2>/dev/null) || return 1
  python3 -c 'import json, sys
s = json.loads(sys.argv[1])
u = s.get("uploads") or {"rate_bps": 0, "games": []}
ok = s["peer_count"] == 4 and u["rate_bps"] == 0 and all(g["rate_bps"] == 0 and g["peers"] == 0 for g in u["games"])
sys.exit(0 if ok else 1)' "$doc" || return 1
  [[ $(swarm_game_field "$name" 'g["state"] + " " + str(g.get("operation") and g["operation"].get("phase"))') == "installed None" ||
    $name == seed ]]
}
end_ms=$(($(netns_now_ms) + settle_s * 1000))
for name in "${peers_all[@]}"; do
  if ! netns_wait "$(left_s)" views_settled "$name"; then
    fail "$name's view did not settle: peers $(swarm_cli "$name" peers --json 2>&1 | head -c 600);" \
      "status $(swarm_cli "$name" status --json 2>&1 | head -c 600); game $(swarm_game_field "$name" 'g' 2>&1 | head -c 400)"
  fi
done

# --- no crash; SIGTERM ends every daemon with 0.
for name in "${peers_all[@]}"; do stop_with TERM "$name"; done
bad_re='AddressSanitizer|LeakSanitizer|runtime error:|Assertion|assert|Segmentation|core dumped|double free|stack smashing|heap-use|BUG'
for name in "${peers_all[@]}"; do
  if grep -E -n "$bad_re" "$NETNS_LOG_DIR/$name.err" >/dev/null; then
    fail "$name's log has a crash report: $(grep -E -m 3 "$bad_re" "$NETNS_LOG_DIR/$name.err" | tr '\n' ' ')"
  fi
done
# Errors logged, for a reader: counted by message (not a verdict by itself:
# peers going away mid-transfer log expected errors).
echo "chaos: error lines in the logs, by kind:"
cat "$NETNS_LOG_DIR"/*.err | grep -iE 'error|fail|refus' | sed -E 's/^[^]]*\] *//; s/[0-9a-f]{12,}/ID/g; s/[0-9]+/N/g' |
  sort | uniq -c | sort -rn | head -n 25

((failures == 0)) || echo "chaos: seed $seed failed (replay: LS_CHAOS_SEED=$seed)"
netns_verdict "PASS: chaos, seed $seed"
