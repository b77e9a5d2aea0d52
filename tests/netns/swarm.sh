# Swarm scenarios (issue #13) on the multi-host test bed: one seeder and
# downloaders, each a whole `lanspread daemon` in its own host, driven
# through its CLI and control API as a user would. Source after lib.sh and
# shape.sh, call netns_up, then swarm_setup. Used by tests/netns/test_swarm.sh
# and bench/bench_fanout.sh; a new scenario is a few calls:
#
#   start_seeder; start_downloader d1; start_downloader d2 --no-swarm
#   swarm_wait_linked seed d1 d2 || ...
#   start_download d1 d2; wait_done d1 d2 || ...
#   same_files d1 && same_files d2; echo "$(tx_mib d1) MiB sent by d1"
#
#   swarm_setup BIN WORK GAME     the lanspread binary, a work directory (the
#                                 game, every peer's game/state dirs), game id
#   swarm_make_game MIB           GAME in $SWARM_SRC: 4 files of random data,
#                                 one in a subfolder, then version.ini last;
#                                 a catalog naming it; the source's SHA-256s
#   swarm_shape_all RATE          every host's uplink and downlink (htb)
#   start_seeder [ARGS]           daemon "seed" on host 1 with a copy of GAME
#   start_downloader NAME [ARGS]  daemon NAME, empty game dir, on its own host
#                                 (the next free one on its first start; the
#                                 same host and dirs when started again)
#   swarm_wait_linked NAME...     each daemon is ready, sees every other one
#                                 (peer_count) and, for a downloader, lists
#                                 GAME as remote (bounded: $SWARM_LINK_S)
#   start_download NAME...        `lanspread download GAME --no-wait` in every
#                                 NAME's host, all at once; DL_T0_MS = start
#   wait_done NAME...             until every NAME's download finished
#                                 (download-finished event; bounded by
#                                 $SWARM_DONE_S); DONE_MS[NAME] = when seen;
#                                 non-zero on a failure, a dead daemon or the
#                                 deadline; then each lists GAME downloaded or
#                                 installed (API)
#   progress NAME                 "BYTES_DONE BYTES_TOTAL" of NAME's download
#                                 (API; empty when none runs). Verified
#                                 chunks only: chunks arrive in parallel, so
#                                 it moves in steps of several chunks
#   tx_bytes HOST / tx_mib HOST   what HOST (a peer name or host number) sent
#                                 on its eth0 so far (kernel counter)
#   rx_bytes HOST                 what it received
#   same_files NAME               NAME's copy equals the source, file by file
#   kill_peer NAME                SIGKILL NAME's daemon and reap it
#   stop_peer NAME                SIGTERM (SIGKILL after 3 s)
#   wipe_peer NAME                remove NAME's game and state dirs (stopped)
#
# Environment:
#   LS_SWARM_DAEMON_ARGS  extra arguments for every daemon (split on spaces)
#   LS_SWARM_PEERS        mesh (default): a downloader gets --peer for the
#                         seeder and every other downloader host
#                         ($SWARM_PEER_HOSTS, default hosts 2..N), so the
#                         runtime finds its peers without mDNS; seeder: only
#                         --peer SEEDER (needs peers to learn of each other)
# shellcheck shell=bash

SWARM_PORT=7000
SWARM_HTTP=127.0.0.1:7797 # one loopback per namespace: every host may use it
SWARM_LINK_S=${SWARM_LINK_S:-30}
SWARM_DONE_S=${SWARM_DONE_S:-120}
SWARM_PEER_HOSTS=${SWARM_PEER_HOSTS:-}
declare -A SWARM_HOST=() DONE_MS=()
SWARM_NEXT_HOST=2
DL_T0_MS=0

swarm_setup() {
  SWARM_BIN=$1
  SWARM_WORK=$2
  SWARM_GAME=$3
  SWARM_SRC=$SWARM_WORK/src/$SWARM_GAME
  SWARM_CATALOG=$SWARM_WORK/catalog.json
  SWARM_SUMS=$SWARM_WORK/source.sha256
  : >"$SWARM_WORK/empty.conf"
  read -r -a SWARM_EXTRA <<<"${LS_SWARM_DAEMON_ARGS:-}"
  netns_find_python
}

# Random bytes, fast: an AES-CTR keystream (urandom is slow on big games).
swarm_random() {
  openssl enc -aes-128-ctr -nosalt -pass "pass:$1" -in /dev/zero 2>/dev/null | head -c "$2"
}

swarm_make_game() {
  local total=$(($1 << 20)) part
  part=$((total / 8))
  mkdir -p "$SWARM_SRC/data"
  swarm_random "$SWARM_GAME-1" $((part * 3)) >"$SWARM_SRC/$SWARM_GAME.pak"
  swarm_random "$SWARM_GAME-2" $((part * 2)) >"$SWARM_SRC/data/part-1.bin"
  swarm_random "$SWARM_GAME-3" $((part * 2)) >"$SWARM_SRC/data/part-2.bin"
  swarm_random "$SWARM_GAME-4" $((total - part * 7)) >"$SWARM_SRC/data/tail.bin"
  # version.ini last: its presence means the game is complete.
  echo "version=1.0" >"$SWARM_SRC/version.ini"
  echo "{\"games\":[{\"id\":\"$SWARM_GAME\",\"name\":\"Swarm Game\"}]}" >"$SWARM_CATALOG"
  (cd "$SWARM_SRC" && find . -type f -print0 | sort -z | xargs -0 sha256sum) >"$SWARM_SUMS"
  SWARM_BYTES=$(find "$SWARM_SRC" -type f -printf '%s\n' | awk '{n += $1} END {print n}')
  [[ -s $SWARM_SUMS ]]
}

swarm_shape_all() {
  local i
  for ((i = 1; i <= NETNS_HOSTS; i++)); do
    netns_shape_up "$i" "$1" && netns_shape_down "$i" "$1" || return 1
  done
}

# The host of a peer name, or a host number as is.
swarm_host_of() {
  if [[ $1 =~ ^[0-9]+$ ]]; then echo "$1"; else echo "${SWARM_HOST[$1]}"; fi
}

# swarm_daemon NAME [ARGS]: NAME's daemon in its host, output appended (a
# restart keeps the first run's events before its own).
swarm_daemon() {
  local name=$1 host=${SWARM_HOST[$1]}
  shift
  mkdir -p "$SWARM_WORK/$name/games" "$SWARM_WORK/$name/state"
  ip netns exec "$(netns_host "$host")" "$SWARM_BIN" daemon --games "$SWARM_WORK/$name/games" \
    --state "$SWARM_WORK/$name/state" --name "$name" --listen "$(netns_addr "$host"):$SWARM_PORT" \
    --http "$SWARM_HTTP" --config "$SWARM_WORK/empty.conf" --catalog "$SWARM_CATALOG" \
    --no-mdns --json-events ${SWARM_EXTRA[@]+"${SWARM_EXTRA[@]}"} "$@" \
    >>"$NETNS_LOG_DIR/$name.out" 2>>"$NETNS_LOG_DIR/$name.err" &
  NETNS_PID[$name]=$!
}

start_seeder() {
  SWARM_HOST[seed]=1
  if [[ ! -d $SWARM_WORK/seed/games/$SWARM_GAME ]]; then
    mkdir -p "$SWARM_WORK/seed/games"
    cp -al "$SWARM_SRC" "$SWARM_WORK/seed/games/$SWARM_GAME"
  fi
  swarm_daemon seed "$@"
}

start_downloader() {
  local name=$1 h peers=()
  shift
  if [[ -z ${SWARM_HOST[$name]:-} ]]; then
    SWARM_HOST[$name]=$((SWARM_NEXT_HOST++))
    ((SWARM_HOST[$name] <= NETNS_HOSTS)) || { echo "swarm: no free host for $name"; return 1; }
  fi
  peers=(--peer "$(netns_addr 1):$SWARM_PORT")
  if [[ ${LS_SWARM_PEERS:-mesh} == mesh ]]; then
    for h in ${SWARM_PEER_HOSTS:-$(seq 2 "$NETNS_HOSTS")}; do
      ((h != SWARM_HOST[$name])) && peers+=(--peer "$(netns_addr "$h"):$SWARM_PORT")
    done
  fi
  swarm_daemon "$name" "${peers[@]}" "$@"
}

# swarm_cli NAME CMD [ARGS]: the lanspread CLI against NAME's daemon.
swarm_cli() {
  local name=$1
  shift
  ip netns exec "$(netns_host "${SWARM_HOST[$name]}")" "$SWARM_BIN" "$@" --state "$SWARM_WORK/$name/state"
}

# swarm_game_field NAME EXPR: EXPR (Python, on the game's API document g)
# of NAME's GAME; fails when the daemon does not answer or lists no GAME.
swarm_game_field() {
  local doc
  doc=$(swarm_cli "$1" games --json 2>/dev/null) || return 1
  python3 -c 'import json, sys
g = [g for g in json.loads(sys.argv[1])["games"] if g["id"] == sys.argv[2]]
if not g: sys.exit(1)
g = g[0]
print(eval(sys.argv[3]))' "$doc" "$SWARM_GAME" "$2"
}

# Alive, without a process per check (netns_is_alive runs awk).
swarm_is_alive() {
  local pid=${NETNS_PID[$1]:-} stat
  [[ -n $pid ]] && read -r stat 2>/dev/null <"/proc/$pid/stat" || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}

# NAME is ready, counts at least WANT peers and (a downloader) sees GAME.
swarm_linked() {
  local name=$1 want=$2 doc
  swarm_is_alive "$name" || return 2
  doc=$(swarm_cli "$name" status --json 2>/dev/null) || return 1
  [[ $doc == *'"ready":true'* && $doc =~ \"peer_count\":([0-9]+) ]] || return 1
  ((BASH_REMATCH[1] >= want)) || return 1
  [[ $name == seed ]] || [[ $(swarm_game_field "$name" 'g["state"]') == remote ]]
}

swarm_wait_linked() {
  local name want deadline tries rc
  for name in "$@"; do
    want=$(($# - 1))
    # A downloader only knows the seeder without the mesh.
    [[ $name != seed && ${LS_SWARM_PEERS:-mesh} != mesh ]] && want=1
    deadline=$(($(netns_now_ms) + SWARM_LINK_S * 1000)) tries=10000 rc=1
    while ((tries-- > 0)); do
      swarm_linked "$name" "$want"
      rc=$?
      # 2: the daemon exited (e.g. an option this build does not know).
      ((rc == 0 || rc == 2)) || (($(netns_now_ms) >= deadline)) && break
      sleep 0.1
    done
    if ((rc != 0)); then
      if ((rc == 2)); then
        echo "swarm: $name's daemon exited: $(head -n 2 "$NETNS_LOG_DIR/$name.err")"
      else
        echo "swarm: $name not ready with $want peers in ${SWARM_LINK_S} s: $(tail -n 2 "$NETNS_LOG_DIR/$name.err")"
      fi
      return 1
    fi
  done
}

start_download() {
  local name pids=() rc=0 i=0
  swarm_mark "$@"
  DL_T0_MS=$(netns_now_ms)
  for name in "$@"; do
    DONE_MS[$name]=""
    swarm_cli "$name" download "$SWARM_GAME" --no-wait >"$NETNS_LOG_DIR/$name.download" 2>&1 &
    pids+=($!)
  done
  for name in "$@"; do
    wait "${pids[i++]}" || {
      rc=1
      echo "swarm: download request of $name refused: $(cat "$NETNS_LOG_DIR/$name.download")"
    }
  done
  return $rc
}

# swarm_count EVENT NAME...: "NAME COUNT" lines, how many EVENT lines each
# NAME's output holds (one grep for all, before a download starts).
swarm_count() {
  local event=$1 name files=() line
  shift
  for name in "$@"; do files+=("$NETNS_LOG_DIR/$name.out"); done
  grep -H -c -F "\"event\":\"$event\"" "${files[@]}" 2>/dev/null | while IFS= read -r line; do
    name=${line%:*}
    name=${name##*/}
    echo "${name%.out} ${line##*:}"
  done
}

# Events counted before this point belong to an earlier download of NAME
# (a restarted daemon appends to the same output).
declare -A SWARM_MARK_OK=() SWARM_MARK_FAILED=()
swarm_mark() {
  local name n
  for name in "$@"; do SWARM_MARK_OK[$name]=0 SWARM_MARK_FAILED[$name]=0; done
  while read -r name n; do SWARM_MARK_OK[$name]=$n; done < <(swarm_count download-finished "$@")
  while read -r name n; do SWARM_MARK_FAILED[$name]=$n; done < <(swarm_count download-failed "$@")
}

# Watched by one python3 process that reads every NAME's event output as
# it grows (every SWARM_POLL_S): a shell loop of grep, date and read per
# poll took ~5 % of the two cores from the transfer it timed, and a
# coarser poll added up to its interval to every DONE_MS. Whether a daemon
# died is read from /proc only every SWARM_ALIVE_S: three of the four
# system calls of a poll were those reads.
SWARM_POLL_S=0.02
SWARM_ALIVE_S=0.5
wait_done() {
  local rc=0 name what ms args=()
  for name in "$@"; do
    unset "DONE_MS[$name]" # an earlier download's end is not this one's
    args+=("$name" "$NETNS_LOG_DIR/$name.out" "${NETNS_PID[$name]:-0}"
      "${SWARM_MARK_OK[$name]:-0}" "${SWARM_MARK_FAILED[$name]:-0}")
  done
  while read -r name what ms; do
    case $what in
      ok) DONE_MS[$name]=$ms ;;
      failed)
        echo "swarm: $name's download failed: $(grep -F '"event":"download-failed"' "$NETNS_LOG_DIR/$name.out" | tail -n 1)"
        rc=1
        ;;
      dead)
        echo "swarm: $name's daemon died: $(tail -n 2 "$NETNS_LOG_DIR/$name.err")"
        rc=1
        ;;
      *)
        echo "swarm: $name not done in ${SWARM_DONE_S} s"
        rc=2
        ;;
    esac
  done < <("${NETNS_PYTHON:-python3}" - "$SWARM_DONE_S" "$SWARM_POLL_S" "$SWARM_ALIVE_S" "${args[@]}" <<'EOF'
import sys, time
secs, poll, alive_every, rest = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4:]
ok_tag, failed_tag = '"event":"download-finished"', '"event":"download-failed"'
left = {}
for i in range(0, len(rest), 5):
    name, path, pid, mark_ok, mark_failed = rest[i:i + 5]
    left[name] = {"path": path, "pid": pid, "ok": -int(mark_ok), "failed": -int(mark_failed),
                  "file": None, "buf": ""}

def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False

deadline = time.time() + secs
alive_at = time.time() + alive_every
while left:
    now = time.time()
    check_alive = now >= alive_at
    if check_alive:
        alive_at = now + alive_every
    for name in list(left):
        w = left[name]
        if w["file"] is None:
            try:
                w["file"] = open(w["path"], "r", errors="replace")
            except OSError:
                pass
        if w["file"] is not None:
            w["buf"] += w["file"].read()
            *lines, w["buf"] = w["buf"].split("\n")
            for line in lines:
                w["ok"] += ok_tag in line
                w["failed"] += failed_tag in line
        if w["ok"] > 0:
            print(name, "ok", int(time.time() * 1000), flush=True)
        elif w["failed"] > 0:
            print(name, "failed", 0, flush=True)
        elif check_alive and not alive(w["pid"]):
            print(name, "dead", 0, flush=True)
        else:
            continue
        del left[name]
    if left and time.time() >= deadline:
        for name in left:
            print(name, "late", 0, flush=True)
        break
    time.sleep(poll)
EOF
  )
  for name in "$@"; do # a watcher that died said nothing of some
    [[ -n ${DONE_MS[$name]:-} ]] || { ((rc != 0)) || echo "swarm: no word of $name's end"; rc=1; }
  done
  ((rc == 0)) || return 1
  for name in "$@"; do
    netns_wait 20 swarm_game_state_in "$name" downloaded installed || {
      echo "swarm: $name finished but lists $SWARM_GAME as '$(swarm_game_field "$name" 'g["state"]')'"
      rc=1
    }
  done
  return $rc
}

swarm_game_state_in() {
  local state w
  state=$(swarm_game_field "$1" 'g["state"]') || return 1
  for w in "${@:2}"; do [[ $state == "$w" ]] && return 0; done
  return 1
}

# Seconds (3 decimals) from the download requests to NAME's end.
done_s() { awk -v a="$DL_T0_MS" -v b="${DONE_MS[$1]}" 'BEGIN {printf "%.3f", (b - a) / 1000}'; }

# One process per poll (no JSON parser): the kill scenario polls it while
# the transfer it watches runs. One game per peer, so one progress object.
progress() {
  local doc got
  doc=$(swarm_cli "$1" games --json 2>/dev/null) || return 1
  [[ $doc =~ \"bytes_done\":([0-9]+) ]] || return 0
  got=${BASH_REMATCH[1]}
  [[ $doc =~ \"bytes_total\":([0-9]+) ]] && echo "$got ${BASH_REMATCH[1]}"
}

tx_bytes() {
  ip netns exec "$(netns_host "$(swarm_host_of "$1")")" cat /sys/class/net/eth0/statistics/tx_bytes
}

rx_bytes() {
  ip netns exec "$(netns_host "$(swarm_host_of "$1")")" cat /sys/class/net/eth0/statistics/rx_bytes
}

tx_mib() { awk -v b="$(tx_bytes "$1")" 'BEGIN {printf "%.1f", b / 1048576}'; }

same_files() {
  local dir=$SWARM_WORK/$1/games/$SWARM_GAME got
  got=$(cd "$dir" 2>/dev/null && find . -path ./local -prune -o -type f ! -name '.*' -print0 |
    sort -z | xargs -0 sha256sum)
  [[ -n $got && $got == "$(cat "$SWARM_SUMS")" ]]
}

kill_peer() {
  local pid=${NETNS_PID[$1]:-}
  [[ -n $pid ]] || return 0
  kill -KILL "$pid" 2>/dev/null
  netns_wait 5 netns_is_dead "$pid"
  wait "$pid" 2>/dev/null
  unset "NETNS_PID[$1]"
}

stop_peer() { netns_stop "$1"; }

wipe_peer() { rm -rf "${SWARM_WORK:?}/$1"; }
