#!/usr/bin/env bash
# Downloads between real hosts: `lanspread daemon` seeders and the ls_fetch
# driver (the peer runtime in-process) in network namespaces on one bridge,
# each seeder's uplink shaped to 100 Mbit/s with htb so a transfer lasts
# long enough to act during it. Scenarios:
#   a download from 1 seeder, every file's SHA-256 equal to the source;
#   a download from 3 seeders, same check, every seeder served a share;
#   one of 3 seeders SIGKILLed mid-download: it completes from the other two;
#   a seeder frozen (SIGSTOP) mid-download keeps its connection but sends
#   nothing: its requests are given up after --stall-ms and asked of the
#   other seeder, and the download completes;
#   a seeder whose files rotted on disk after its scan (same size, mtime and
#   inode, so its manifest still has the good hashes) sends bad chunks: they
#   are detected, it is dropped and the download completes from an honest one;
#   a download canceled midway (SIGUSR1 to the driver) and run again fetches
#   only the chunks it did not verify (the seeder's requests are counted).
# Usage: test_download.sh [build dir]  (needs root; skips otherwise)
# NETNS_KEEP_LOGS=1 keeps the logs.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/netns/lib.sh
source "$here/lib.sh"
# shellcheck source=tests/netns/shape.sh
source "$here/shape.sh"

bin_dir=${1:-$NETNS_BUILD_DIR}
lanspread=$bin_dir/lanspread
fetch=$bin_dir/ls_fetch
game=netgame
port=7000
uplink=${LS_NETNS_UPLINK:-100mbit}

netns_require
netns_shape_require
netns_need_bin "$lanspread" "$fetch"

data=$(mktemp -d /tmp/lanspread-dl.XXXXXX)
# Removed by netns_down once the seeders are stopped (no EXIT trap of our
# own: it would have to keep $? intact for netns_down).
netns_at_exit rm -rf "$data"
netns_up 4 || { echo "FAIL: could not build the test bed"; exit 1; }

# The game: three files (one in a subfolder), 120 MiB in all, and version.ini.
src=$data/src/$game
mkdir -p "$src/data"
head -c $((48 << 20)) /dev/urandom >"$src/$game.pak"
head -c $((40 << 20)) /dev/urandom >"$src/data/part-1.bin"
head -c $((32 << 20)) /dev/urandom >"$src/data/part-2.bin"
echo "version=1.0" >"$src/version.ini"
catalog=$data/catalog.json
echo "{\"games\":[{\"id\":\"$game\",\"name\":\"Net Game\"}]}" >"$catalog"

# Hosts 2..4 seed. 2 and 3 share the source's bytes (hard links: one copy on
# disk, separate game folders); 4 has its own copy, to rot later. Seeder 2
# logs every request it serves (--verbose).
for i in 2 3 4; do
  mkdir -p "$data/seed$i/games"
  if ((i == 4)); then
    cp -a "$src" "$data/seed$i/games/$game"
  else
    cp -al "$src" "$data/seed$i/games/$game"
  fi
  netns_shape_up "$i" "$uplink" || { echo "FAIL: shaping host $i"; exit 1; }
  verbose=()
  ((i == 2)) && verbose=(--verbose)
  netns_run "$i" "seed$i" "$lanspread" daemon --games "$data/seed$i/games" \
    --state "$data/seed$i/state" --listen "$(netns_addr "$i"):$port" --catalog "$catalog" \
    --json-events --no-mdns "${verbose[@]}"
done
is_ready() { grep -q '"event":"ready"' "$NETNS_LOG_DIR/$1.out" 2>/dev/null; }
for i in 2 3 4; do
  netns_wait 60 is_ready "seed$i" || { echo "FAIL: seeder $i not ready"; netns_dump_logs; exit 1; }
done

# Same bytes as the source, file by file (version.ini included).
same_as_source() {
  local dir=$1 want got
  want=$(cd "$src" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
  got=$(cd "$dir" 2>/dev/null && find . -path ./local -prune -o -type f ! -name '.*' -print0 |
    sort -z | xargs -0 sha256sum)
  [[ -n $want && $want == "$got" ]]
}

json_field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get(sys.argv[2]))' "$2" "$1"; }

# Peers (other than $2) that served nothing in ls_fetch's result $1.
idle_peers() {
  python3 -c 'import json,sys; print(sum(1 for p in json.loads(sys.argv[1])["peers"] if p["bytes"] == 0))' "$1"
}

# run_fetch NAME SEEDERS...: a download into host 1, in the background,
# into $data/NAME (or $data/$FETCH_DIR when set: a second run of one peer).
run_fetch() {
  local name=$1 dir=$data/${FETCH_DIR:-$1} peers=() i
  shift
  for i in "$@"; do peers+=(--peer "$(netns_addr "$i"):$port"); done
  mkdir -p "$dir/games"
  netns_run 1 "$name" "$fetch" --games "$dir/games" --state "$dir/state" \
    --game "$game" --catalog "$catalog" --timeout 120 "${peers[@]}" \
    ${FETCH_ARGS[@]+"${FETCH_ARGS[@]}"}
}

wait_fetch() {
  local name=$1 pid=${NETNS_PID[$1]}
  netns_wait 150 netns_is_dead "$pid" || { kill -KILL "$pid"; fail "$name: no exit in 150 s"; }
  wait "$pid" 2>/dev/null
  local rc=$?
  unset "NETNS_PID[$name]"
  return $rc
}

check_download() {
  local name=$1 dir=$data/${2:-$1} result
  result=$(tail -n 1 "$NETNS_LOG_DIR/$name.out")
  echo "  $name: $result"
  if [[ $(json_field result "$result") != finished ]]; then
    fail "$name: $(json_field reason "$result")"
    return 1
  fi
  same_as_source "$dir/games/$game" || { fail "$name: files differ from the source"; return 1; }
  return 0
}

# 1. One seeder.
run_fetch one 2
wait_fetch one
check_download one && pass "download from 1 seeder: every file's SHA-256 equals the source"
rm -rf "$data/one"

# 2. Three seeders, each serving a share.
run_fetch three 2 3 4
wait_fetch three
if check_download three; then
  result=$(tail -n 1 "$NETNS_LOG_DIR/three.out")
  if [[ $(idle_peers "$result") -ne 0 ]]; then
    fail "three: a seeder served nothing"
  else
    pass "download from 3 seeders: every file matches, every seeder served"
  fi
fi
rm -rf "$data/three"

# 3. Seeder 3 SIGKILLed once a fifth of the game is in.
progress_past() {
  local last
  last=$(grep '^progress' "$NETNS_LOG_DIR/$1.err" 2>/dev/null | tail -n 1)
  [[ $last =~ ^progress\ ([0-9]+)/([0-9]+) ]] || return 1
  ((BASH_REMATCH[1] * 5 >= BASH_REMATCH[2]))
}
run_fetch killed 2 3 4
if netns_wait 60 progress_past killed; then
  at=$(grep '^progress' "$NETNS_LOG_DIR/killed.err" | tail -n 1)
  # Mid-download: the driver still runs and has not got everything.
  netns_is_alive "${NETNS_PID[killed]}" && [[ $at =~ ^progress\ ([0-9]+)/([0-9]+) ]] &&
    ((BASH_REMATCH[1] < BASH_REMATCH[2])) || fail "killed: the download ended before the kill"
  kill -KILL "${NETNS_PID[seed3]}"
  netns_wait 5 netns_is_dead "${NETNS_PID[seed3]}" || fail "seeder 3 survived SIGKILL"
  wait "${NETNS_PID[seed3]}" 2>/dev/null
  unset "NETNS_PID[seed3]"
  echo "  killed seeder 3 at: $at"
  wait_fetch killed
  if check_download killed; then
    result=$(tail -n 1 "$NETNS_LOG_DIR/killed.out")
    [[ $(json_field result "$result") == finished ]] &&
      pass "one of 3 seeders SIGKILLed mid-download: completed from the other two"
  fi
else
  fail "killed: the download never reached 20% ($(tail -n 2 "$NETNS_LOG_DIR/killed.err"))"
  wait_fetch killed
fi

# 4. Seeder 4 frozen for 6 s as soon as bytes flow: no ping is due (30 s)
# and QUIC's idle timeout is 30 s, so the link stays up; only the 2 s stall
# limit moves its chunks to seeder 2. Frozen early, it still owes far more
# than its socket buffers can hold, so the freeze is felt whatever the
# machine's load delays this script by.
progress_started() {
  grep -qE '^progress [1-9][0-9]*/' "$NETNS_LOG_DIR/$1.err" 2>/dev/null
}
FETCH_ARGS=(--ping-ms 30000 --stall-ms 2000)
run_fetch frozen 2 4
FETCH_ARGS=()
if netns_wait 60 progress_started frozen; then
  kill -STOP "${NETNS_PID[seed4]}"
  at=$(grep '^progress' "$NETNS_LOG_DIR/frozen.err" | tail -n 1)
  echo "  froze seeder 4 at: $at"
  sleep 6
  kill -CONT "${NETNS_PID[seed4]}"
  wait_fetch frozen
  if check_download frozen; then
    gave_up=$(grep -c 'asking elsewhere' "$NETNS_LOG_DIR/frozen.err")
    if ((gave_up >= 1)); then
      pass "a frozen seeder: $gave_up stalled requests asked elsewhere, the download completed"
    else
      fail "frozen: no stalled request was given up"
    fi
  fi
else
  kill -CONT "${NETNS_PID[seed4]}" 2>/dev/null
  fail "frozen: the download never started ($(tail -n 2 "$NETNS_LOG_DIR/frozen.err"))"
  wait_fetch frozen
fi
rm -rf "$data/frozen"

# 5. Seeder 4's files rot after its scan: one byte flipped in every 4 MiB
# chunk, in place, with the old mtime put back, so its index (size, mtime,
# inode) still matches and it keeps announcing the good hashes.
rot_file() {
  local f=$1 stamp size off
  stamp=$(stat -c %y "$f")
  size=$(stat -c %s "$f")
  for ((off = 0; off < size; off += 4 << 20)); do
    printf '\xff' | dd of="$f" bs=1 seek="$off" conv=notrunc status=none
  done
  touch -d "$stamp" "$f"
}
while IFS= read -r -d '' f; do rot_file "$f"; done < <(find "$data/seed4/games/$game" -type f ! -name version.ini -print0)
same_as_source "$data/seed4/games/$game" && fail "rot: seeder 4's copy still matches the source"
run_fetch rotten 2 4
wait_fetch rotten
if check_download rotten; then
  bad=$(grep -c 'does not match its hash' "$NETNS_LOG_DIR/rotten.err")
  dropped=$(grep -c 'dropped: it sent bad data twice' "$NETNS_LOG_DIR/rotten.err")
  if ((bad >= 2 && dropped == 1)); then
    pass "a seeder with rotten files: $bad bad chunks detected, it was dropped, the download completed"
  else
    fail "rotten: $bad bad chunks and $dropped drops logged (want >= 2 and 1)"
  fi
fi
rm -rf "$data/rotten"

# 6. Cancel midway, then the same download again from seeder 2 alone: it asks
# for exactly the chunks that were not verified before the cancel.
served() { grep ' serve .*\[[0-9]* +[0-9]*\]' "$NETNS_LOG_DIR/seed2.err" | grep -vc version.ini; }
# The driver's progress counts verified chunks, and a window of chunks
# completes nearly at once: under load it can jump from 10% to past the
# last burst. So the cancel also fires once host 1 has received 40% of the
# game's bytes (its eth0 counter), whichever comes first.
host1_rx() { ip netns exec "$(netns_host 1)" cat /sys/class/net/eth0/statistics/rx_bytes; }
game_bytes=$(find "$src" -type f -printf '%s\n' | awk '{n += $1} END {print n}')
received_past() { (($(host1_rx) - RX0 >= game_bytes * 2 / 5)) || progress_past "$1"; }
RX0=$(host1_rx)
FETCH_DIR=resume run_fetch canceled 2
if netns_wait 60 received_past canceled; then
  kill -USR1 "${NETNS_PID[canceled]}"
  wait_fetch canceled
  result=$(tail -n 1 "$NETNS_LOG_DIR/canceled.out")
  echo "  canceled: $result"
  [[ $(json_field result "$result") == canceled ]] || fail "canceled: result is not canceled"
  [[ -e $data/resume/games/$game/version.ini ]] && fail "canceled: version.ini exists"
  before=$(served)
  FETCH_DIR=resume run_fetch resumed 2
  wait_fetch resumed
  if check_download resumed resume; then
    result=$(tail -n 1 "$NETNS_LOG_DIR/resumed.out")
    resumed=$(json_field resumed_bytes "$result")
    # LS_CHUNK_SIZE: the seeder's manifest states 1 MiB chunks
    chunks=$(find "$src" -type f ! -name version.ini -printf '%s\n' |
      awk '{n += int(($1 + 1048575) / 1048576)} END {print n}')
    asked=$(($(served) - before))
    want=$((chunks - resumed / 1048576))
    if ((resumed > 0 && asked == want)); then
      pass "cancel then resume: $((resumed >> 20)) MiB kept, $asked of $chunks chunks asked again"
    else
      fail "resume: $resumed bytes kept, $asked chunk requests, want $want of $chunks"
    fi
  fi
else
  fail "canceled: the download never reached 20% ($(tail -n 2 "$NETNS_LOG_DIR/canceled.err"))"
  wait_fetch canceled
fi

# 7. Packets as large as the route carries: IPv4 at the bed's 1500-byte MTU
# is a 1472-byte UDP payload (28 bytes of IPv4 and UDP headers), once the
# handshake is done. The seeder logs each connection's largest packet.
if grep -q 'sent [0-9]* packets (largest 1472)' "$NETNS_LOG_DIR/seed2.err"; then
  pass "packets fill the 1500-byte MTU: 1472-byte UDP payloads over IPv4"
else
  fail "largest packets of seeder 2: $(grep -o 'largest [0-9]*' "$NETNS_LOG_DIR/seed2.err" | sort | uniq -c | tr '\n' ' ')"
fi

netns_verdict "PASS: downloads across namespaces"
