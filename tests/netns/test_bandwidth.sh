#!/usr/bin/env bash
# Bandwidth limits between real hosts: a `lanspread daemon` seeder and the
# ls_fetch driver in network namespaces, the seeder's uplink shaped to
# 200 Mbit/s with htb (so the limit, not the link, sets the pace).
# Scenarios:
#   1. --max-upload on the seeder: its upload stays within 10 % of the limit;
#   2. a fake game (a copy of sleep at GAMEDIR/<game>/local/bin/game) starts
#      on the seeder's PC mid-download: within 2 s the upload is down to the
#      --playing-upload rate (and `limits` reports the game); the game
#      exits: the upload is back at --max-upload;
#   3. --max-download on the downloader: the download stays within 10 % of it.
# Rates are measured on the wire: the interface byte counters of the
# seeder's (or downloader's) eth0, sampled every LS_SAMPLE_S, turned into
# payload bytes by the transfer's own overhead ratio (wire bytes / file bytes
# of the whole download: QUIC, UDP, IP and Ethernet headers, acks).
# Usage: test_bandwidth.sh [build dir]  (needs root; skips otherwise)
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/netns/lib.sh
source "$here/lib.sh"
# shellcheck source=tests/netns/shape.sh
source "$here/shape.sh"

bin_dir=${1:-$NETNS_BUILD_DIR}
lanspread=$bin_dir/lanspread
fetch=$bin_dir/ls_fetch
port=7000
uplink=200mbit
mib=$((1 << 20))
upload_limit=4     # MiB/s, scenario 1
fast_limit=8       # MiB/s, scenario 2 before and after the game
playing_limit=1    # MiB/s, scenario 2 while the game runs
download_limit=6   # MiB/s, scenario 3

netns_require
netns_shape_require
netns_need_bin "$lanspread" "$fetch"

data=$(mktemp -d /tmp/lanspread-bw.XXXXXX)
netns_at_exit rm -rf "$data"
netns_up 2 || { echo "FAIL: could not build the test bed"; exit 1; }
netns_shape_up 2 "$uplink" || { echo "FAIL: shaping host 2"; exit 1; }

# make_game ID MIB: MIB MiB of random bytes in whole chunks, and version.ini.
make_game() {
  mkdir -p "$data/seed/games/$1"
  head -c $(($2 * mib)) /dev/urandom >"$data/seed/games/$1/$1.pak"
  echo "version=1.0" >"$data/seed/games/$1/version.ini"
}
make_game capped 40
make_game played 80
make_game paced 64
catalog=$data/catalog.json
echo '{"games":[{"id":"capped","name":"Capped"},{"id":"played","name":"Played"},{"id":"paced","name":"Paced"}]}' >"$catalog"

mkdir -p "$data/seed" && : >"$data/seed/config"  # the seeder saves limit changes here
netns_run 2 seed "$lanspread" daemon --games "$data/seed/games" --state "$data/seed/state" \
  --config "$data/seed/config" --listen "$(netns_addr 2):$port" --catalog "$catalog" \
  --json-events --no-mdns --http 127.0.0.1:7797 --max-upload "${upload_limit}M" \
  --playing-upload "${playing_limit}M"
is_ready() { grep -q '"event":"ready"' "$NETNS_LOG_DIR/seed.out" 2>/dev/null; }
netns_wait 60 is_ready || { echo "FAIL: seeder not ready"; netns_dump_logs; exit 1; }

# `lanspread limits` on the seeder's PC (its API listens in its namespace).
limits() { ip netns exec "$(netns_host 2)" "$lanspread" limits --state "$data/seed/state" "$@"; }

# sample I DEV FILE: "ms bytes" lines of host I's DEV counter (tx or rx)
# every LS_SAMPLE_S into FILE, in the background, until stopped.
sample() {
  local ns counter=/sys/class/net/eth0/statistics/$2_bytes
  ns=$(netns_host "$1")
  netns_run "$1" "sampler-$3" bash -c "for ((n = 0; n < 3000; n++)); do
      echo \$((\$(date +%s%N) / 1000000)) \$(cat $counter); sleep 0.1; done"
  # the sampler's own stdout is the file
  SAMPLES=$NETNS_LOG_DIR/sampler-$3.out
}

# fetch_game NAME GAME [ARGS...]: downloads GAME into host 1, in the background.
fetch_game() {
  local name=$1 game=$2
  shift 2
  mkdir -p "$data/$name/games"
  netns_run 1 "$name" "$fetch" --games "$data/$name/games" --state "$data/$name/state" \
    --game "$game" --catalog "$catalog" --timeout 120 --no-install \
    --peer "$(netns_addr 2):$port" "$@"
}

wait_fetch() {
  local name=$1 pid=${NETNS_PID[$1]}
  netns_wait 150 netns_is_dead "$pid" || { kill -KILL "$pid"; fail "$name: no exit in 150 s"; }
  wait "$pid" 2>/dev/null
  local rc=$?
  unset "NETNS_PID[$name]"
  ((rc == 0)) || fail "$name: ls_fetch failed: $(tail -n 1 "$NETNS_LOG_DIR/$name.out")"
  return $rc
}

# rates SAMPLES GAME_MIB WINDOW...: the payload rate in MiB/s over each
# window (wire bytes in it / the transfer's overhead ratio). A window is
# FROM_MS:TO_MS, "middle" (from 20 % to 80 % of the bytes) or "whole" (first
# to last byte moved).
rates() {
  python3 - "$@" <<'EOF'
import sys
path, game_mib = sys.argv[1], float(sys.argv[2])
pts = [tuple(map(int, l.split())) for l in open(path) if len(l.split()) == 2]
base, total = pts[0][1], pts[-1][1] - pts[0][1]
ratio = total / (game_mib * 1048576)
def at(ms):  # wire bytes at time ms (linear between samples)
    for (t0, b0), (t1, b1) in zip(pts, pts[1:]):
        if t0 <= ms <= t1:
            return b0 + (b1 - b0) * (ms - t0) / max(t1 - t0, 1)
    return pts[-1][1] if ms > pts[-1][0] else pts[0][1]
def when(frac):  # first sample with that share of the bytes
    return next(t for t, b in pts if b - base >= total * frac)
def window(spec):
    if spec == "middle":
        return when(0.2), when(0.8)
    if spec == "whole":  # from the last sample before bytes moved
        start = max(t for t, b in pts if b - base <= total * 0.002)
        return start, when(0.998)
    return tuple(map(int, spec.split(":")))
out = []
for a, b in map(window, sys.argv[3:]):
    out.append("%.3f" % ((at(b) - at(a)) / ratio / ((b - a) / 1000) / 1048576))
print("%.3f" % ratio, " ".join(out))
EOF
}

# within RATE LIMIT PCT: RATE is within PCT % of LIMIT.
within() { python3 -c 'import sys; r, l, p = map(float, sys.argv[1:]); sys.exit(abs(r - l) > l * p / 100)' "$@"; }
below() { python3 -c 'import sys; sys.exit(not float(sys.argv[1]) <= float(sys.argv[2]))' "$@"; }

# 1. The seeder's upload limit.
sample 2 tx capped
sleep 0.5
fetch_game capped capped
wait_fetch capped
sleep 0.5
netns_stop sampler-capped
read -r ratio rate < <(rates "$SAMPLES" 40 middle)
echo "  capped: wire/payload $ratio, upload $rate MiB/s (limit ${upload_limit})"
if within "$rate" "$upload_limit" 10; then
  pass "--max-upload ${upload_limit}M: the seeder's upload held within 10 % ($rate MiB/s)"
else
  fail "--max-upload ${upload_limit}M: the seeder uploaded $rate MiB/s"
fi

# 2. A game starts on the seeder's PC, then exits.
limits --max-upload "${fast_limit}M" >/dev/null || fail "lanspread limits --max-upload failed"
grep -q "^max-upload = \"${fast_limit}M\"" "$data/seed/config" ||
  fail "the new limit is not saved in the config ($(cat "$data/seed/config"))"
mkdir -p "$data/seed/games/played/local/bin"
cp /bin/sleep "$data/seed/games/played/local/bin/game"
sample 2 tx played
sleep 0.5
fetch_game played played
# sent_past MIB: the seeder has sent that much since sampling began (on the
# wire: the downloader's verified count lags when its CPU is busy).
sent_past() {
  local first last
  first=$(head -n 1 "$SAMPLES" 2>/dev/null) && last=$(tail -n 1 "$SAMPLES") || return 1
  (( ${last#* } - ${first#* } >= $1 * mib ))
}
# playing_is ID: `lanspread limits` reports game ID running ("null": none).
playing_is() {
  limits --json | python3 -c 'import json,sys; sys.exit(json.dumps(json.load(sys.stdin).get("playing")).strip("\"") != sys.argv[1])' "$1"
}
if netns_wait 60 sent_past 10; then
  "$data/seed/games/played/local/bin/game" 30 &
  game_pid=$!
  game_ms=$(netns_now_ms)
  if netns_wait 2 playing_is played; then
    pass "the game is seen running within 2 s ($(($(netns_now_ms) - game_ms)) ms)"
  else
    fail "the game was not seen running within 2 s: $(limits --json)"
  fi
  sleep 5
  kill "$game_pid"
  wait "$game_pid" 2>/dev/null
  stop_ms=$(netns_now_ms)
  netns_wait 3 playing_is null || fail "the game's end was not seen within 3 s: $(limits --json)"
  sleep 4
  wait_fetch played
  sleep 0.5
  netns_stop sampler-played
  # while playing: from 2 s after the start to its end; after: from 2.5 s
  # after the end (the watch's 1 s period, the job, a busy machine), 2 s
  read -r ratio before playing after < <(rates "$SAMPLES" 80 $((game_ms - 1000)):$((game_ms - 100)) \
    $((game_ms + 2000)):"$stop_ms" $((stop_ms + 2500)):$((stop_ms + 4500)))
  echo "  played: before $before, while playing $playing, after $after MiB/s"
  if below "$playing" "$(python3 -c "print($playing_limit * 1.1)")" &&
    below "$(python3 -c "print($playing_limit * 0.5)")" "$playing"; then
    pass "a game running: the upload dropped to the playing rate within 2 s ($playing MiB/s)"
  else
    fail "a game running: the upload was $playing MiB/s from 2 s on (playing rate ${playing_limit})"
  fi
  if within "$after" "$fast_limit" 10; then
    pass "the game ended: the upload is back at --max-upload ($after MiB/s)"
  else
    fail "the game ended: the upload is $after MiB/s, not ${fast_limit}"
  fi
else
  fail "played: the seeder never sent 10 MiB ($(tail -n 2 "$NETNS_LOG_DIR/played.err"))"
  wait_fetch played
fi

# 3. The downloader's limit (the seeder unlimited).
limits --max-upload 0 >/dev/null || fail "lanspread limits --max-upload 0 failed"
sample 1 rx paced
sleep 0.5
fetch_game paced paced --max-download "${download_limit}M"
wait_fetch paced
sleep 0.5
netns_stop sampler-paced
read -r ratio rate < <(rates "$SAMPLES" 64 whole)
echo "  paced: wire/payload $ratio, download $rate MiB/s (limit ${download_limit})"
if within "$rate" "$download_limit" 10; then
  pass "--max-download ${download_limit}M: the download held within 10 % ($rate MiB/s)"
else
  fail "--max-download ${download_limit}M: the download ran at $rate MiB/s"
fi

netns_verdict "PASS: bandwidth limits between hosts"
