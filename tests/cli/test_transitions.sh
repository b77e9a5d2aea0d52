#!/usr/bin/env bash
# Transitions a LAN party goes through all the time, on loopback:
# 1. two peers started at the same moment while one of them still scans a
#    large library: the other dials it during that scan, and both must list
#    each other's games within that scan's time plus 2 s;
# 2. that peer restarted (SIGTERM, then SIGKILL) with a not-downloaded folder
#    in its game directory: both list each other's games again within 3 s of
#    its `ready` event, and the restart rehashes nothing.
set -euo pipefail
source "$(dirname "$0")/lib_daemons.sh"

# Seconds since the epoch, with fractions.
now() { date +%s.%N; }

# lists OUT-FILE ID...: the last list-games event in OUT-FILE lists every ID.
lists() {
  python3 - "$@" <<'EOF'
import json, sys
last = None
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("event") == "list-games":
        last = {g["id"] for g in e["data"]["games"]}
sys.exit(0 if last is not None and set(sys.argv[2:]) <= last else 1)
EOF
}

# ready_count OUT-FILE: how many ready events it holds (one per start).
ready_count() { grep -c '"event":"ready"' "$1" || true; }
# readies_over OUT-FILE N: it holds more than N ready events.
readies_over() { (( $(ready_count "$1") > $2 )); }

# wait_until DEADLINE-EPOCH COMMAND...: polls every 50 ms until COMMAND
# succeeds (0) or the deadline passes (1).
wait_until() {
  local deadline=$1; shift
  for _ in $(seq 2000); do
    "$@" >/dev/null 2>&1 && return 0
    python3 -c 'import sys,time; sys.exit(time.time() < float(sys.argv[1]))' "$deadline" && return 1
    sleep 0.05
  done
  return 1
}

free_udp_port() {
  python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Alpha: three games, one with a 2 GiB (sparse) file so that its first scan
# hashes for more than a second (1 GiB took 0.85-1.3 s here, and the test
# failed on a fast run), and one left not downloaded (no version.ini: what a
# canceled download leaves behind).
"$bin" demo-library "$work/a" --games 3 --file-size 1024 >/dev/null
"$bin" demo-library "$work/b" --games 6 --file-size 1024 >/dev/null
for id in $(ls "$work/a"); do rm -rf "${work:?}/b/$id"; done
read -r a1 a2 a3 <<<"$(ls "$work/a" | tr '\n' ' ')"
truncate -s 2G "$work/a/$a1/big.bin"
rm "$work/a/$a3/version.ini"
b_ids=$(ls "$work/b" | tr '\n' ' ')
pa=$(free_udp_port); pb=$(free_udp_port)
: >"$work/a.conf"; : >"$work/b.conf"

start_alpha() { # EXTRA-ARGS...
  "$bin" daemon --games "$work/a" --state "$work/sa" --name alpha --listen "127.0.0.1:$pa" \
    --http 127.0.0.1:0 --config "$work/a.conf" --json-events "$@" >>"$work/a.out" 2>>"$work/a.err" &
  apid=$!; pids+=($apid)
}

# --- 1. simultaneous start, alpha still scanning when bravo dials it ------
# bound UDP-PORT: something listens there (alpha binds before it scans).
bound() { ss -Hlun "sport = :$1" | grep -q .; }
t0=$(now)
start_alpha
wait_until "$(python3 -c "print($t0 + 10)")" bound "$pa" || fail "alpha never bound UDP port $pa"
"$bin" daemon --games "$work/b" --state "$work/sb" --name bravo --listen "127.0.0.1:$pb" \
  --peer "127.0.0.1:$pa" --http 127.0.0.1:0 --config "$work/b.conf" --json-events \
  >"$work/b.out" 2>"$work/b.err" &
pids+=($!)
wait_until "$(python3 -c "print($t0 + 60)")" readies_over "$work/a.out" 0 \
  || fail "alpha never became ready"
t_ready=$(now)
scan_s=$(python3 -c "print(round($t_ready - $t0, 2))")
python3 -c "import sys; sys.exit($scan_s < 1.0)" \
  || fail "alpha's first scan took only ${scan_s}s: the library is too small to test a dial during the scan"
deadline=$(python3 -c "print($t_ready + 2)")
wait_until "$deadline" lists "$work/b.out" "$a1" "$a2" \
  || fail "bravo does not list alpha's games within alpha's scan (${scan_s}s) + 2 s"
wait_until "$deadline" lists "$work/a.out" $b_ids \
  || fail "alpha does not list bravo's games within its scan (${scan_s}s) + 2 s"
grep -q "hello held until the first library scan ends" "$work/a.err" \
  || fail "bravo's hello did not reach alpha during its scan: the test did not test the hold"
echo "simultaneous start: alpha scanned for ${scan_s}s; both lists complete $(python3 -c "print(round($(now) - $t0, 2))")s after start"

# restart_alpha SIGNAL: stops alpha with SIGNAL, starts it again (now also
# dialling bravo), and checks both lists within 3 s of its ready event.
restart_alpha() {
  local sig=$1 before t_ready
  before=$(ready_count "$work/a.out")
  kill "-$sig" "$apid"; wait "$apid" 2>/dev/null || true
  : >"$work/a.err"
  start_alpha --peer "127.0.0.1:$pb"
  wait_until "$(python3 -c "print($(now) + 30)")" readies_over "$work/a.out" "$before" \
    || fail "alpha never became ready after $sig"
  t_ready=$(now)
  # Lists from before the restart do not count: each side must see the
  # other anew (alpha's output gets a new list-games event after its ready).
  local deadline; deadline=$(python3 -c "print($t_ready + 3)")
  wait_until "$deadline" lists_after_ready "$work/a.out" $b_ids \
    || fail "after $sig, alpha does not list bravo's games within 3 s of its ready event"
  wait_until "$deadline" lists_after_mark "$work/b.out" "$mark" "$a1" "$a2" \
    || fail "after $sig, bravo does not list alpha's games again within 3 s of alpha's ready event"
  echo "restart ($sig): both lists complete $(python3 -c "print(round($(now) - $t_ready, 2))")s after alpha's ready event"
  grep -q "rehashing everything" "$work/a.err" && fail "after $sig, alpha discarded its index"
  grep -Eq "first scan: .* 0 hashed" "$work/a.err" \
    || fail "after $sig, alpha's first scan hashed files: $(grep 'first scan' "$work/a.err")"
}

# lists_after_ready OUT ID...: a list-games event after the last ready event
# lists every ID.
lists_after_ready() {
  local out=$1; shift
  local n; n=$(grep -n '"event":"ready"' "$out" | tail -n1 | cut -d: -f1)
  tail -n "+$n" "$out" >"$work/after_ready"
  lists "$work/after_ready" "$@"
}

# lists_after_mark OUT LINE ID...: a list-games event after line LINE
# (bravo's output when alpha went down) lists every ID.
lists_after_mark() {
  local out=$1 line=$2; shift 2
  tail -n "+$((line + 1))" "$out" >"$work/after_mark"
  lists "$work/after_mark" "$@"
}

for sig in TERM KILL; do
  mark=$(wc -l <"$work/b.out")
  restart_alpha "$sig"
done
echo "PASS"
