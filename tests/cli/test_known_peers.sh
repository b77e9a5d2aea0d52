#!/usr/bin/env bash
# Known peers and the default port, as a person meets them:
#   `lanspread peer add ADDR:PORT` saves a `peer =` line in the config and
#   the daemon dials it at once; `lanspread peers` lists it (added, last
#   seen), and the peer each side reached is remembered in STATE/peers.json;
#   `lanspread peer forget` drops the line and the entry; a bad address is
#   refused (exit 4), an unknown peer too;
#   without --listen the daemon takes UDP port 7400 (LS_PEER_DEFAULT_PORT);
#   when it is taken, it says so and listens on the next one (run in a
#   private network namespace, so the machine's own 7400 is never touched).
set -euo pipefail
source "$(dirname "$0")/lib_daemons.sh"

"$bin" demo-library "$work/a" --games 2 --file-size 1024 >/dev/null
"$bin" demo-library "$work/b" --games 4 --file-size 1024 >/dev/null
for id in $(ls "$work/a"); do rm -rf "${work:?}/b/$id"; done
: >"$work/a.conf"
: >"$work/b.conf"

ready_port() { # OUT: the port of the first ready event
  grep -o '"event":"ready".*"port":[0-9]*' "$1" 2>/dev/null | grep -o '[0-9]*$' | head -n 1
}
"$bin" daemon --games "$work/a" --state "$work/sa" --name alpha --listen 127.0.0.1:0 \
  --http 127.0.0.1:0 --config "$work/a.conf" --no-mdns --json-events >"$work/a.out" 2>"$work/a.err" &
pids+=($!)
"$bin" daemon --games "$work/b" --state "$work/sb" --name bravo --listen 127.0.0.1:0 \
  --http 127.0.0.1:0 --config "$work/b.conf" --no-mdns --json-events >"$work/b.out" 2>"$work/b.err" &
pids+=($!)
wait_for 15 ready_port "$work/a.out" || fail "alpha never became ready"
wait_for 15 test -s "$work/sb/api.json" || fail "bravo wrote no api.json"
pa=$(ready_port "$work/a.out")

# --- add: saved in the config, dialled now, listed, remembered on both sides
out=$("$bin" peer add "127.0.0.1:$pa" --state "$work/sb") || fail "peer add failed: $out"
grep -qx "peer = \"127.0.0.1:$pa\"" "$work/b.conf" || fail "peer add did not save the line: $(cat "$work/b.conf")"
connected() { "$bin" peers --state "$work/sb" --json | grep -q '"connected":true'; }
wait_for 15 connected || fail "bravo did not connect to the added peer"
table=$("$bin" peers --state "$work/sb")
grep -E "^127\.0\.0\.1:$pa +[0-9a-f]{12} +alpha +connected +yes" <<<"$table" >/dev/null ||
  fail "peers does not list alpha as added and connected: $table"
wait_for 10 test -s "$work/sa/peers.json" || fail "alpha did not remember bravo"
wait_for 10 test -s "$work/sb/peers.json" || fail "bravo did not remember alpha"
grep -q "\"127.0.0.1:$pa\"" "$work/sb/peers.json" || fail "bravo's peers.json lacks alpha: $(cat "$work/sb/peers.json")"
"$bin" peers --state "$work/sa" --json | grep -q '"name":"bravo"' || fail "alpha's known peers lack bravo"

# --- alpha restarts: bravo has it twice at one address (the `peer =` line and
# the remembered entry) and dials it once per attempt, not twice ----------
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true
down() { (($(grep -c "127.0.0.1:$pa: connection closed: peer unreachable" "$work/b.err") >= 3)); }
wait_for 20 down || fail "bravo did not keep dialling the stopped alpha: $(tail -n 5 "$work/b.err")"
"$bin" daemon --games "$work/a" --state "$work/sa" --name alpha --listen "127.0.0.1:$pa" \
  --http 127.0.0.1:0 --config "$work/a.conf" --no-mdns --json-events >"$work/a2.out" 2>"$work/a2.err" &
pids+=($!)
wait_for 20 connected || fail "bravo did not reconnect to the restarted alpha"
twice=$(grep "127.0.0.1:$pa: connection closed" "$work/b.err" | cut -c1-12 | uniq -d)
[[ -z $twice ]] || fail "bravo dialled alpha's one address twice at once (at $twice): $(grep "127.0.0.1:$pa" "$work/b.err")"

# --- refusals ---------------------------------------------------------------
set +e
"$bin" peer add "not-an-address" --state "$work/sb" 2>"$work/bad.err"; rc=$?
set -e
[[ $rc -eq 4 ]] || fail "peer add of a bad address exited $rc, not 4"
grep -q "is not ADDR:PORT" "$work/bad.err" || fail "bad address: $(cat "$work/bad.err")"
set +e
"$bin" peer forget "198.18.9.9:1" --state "$work/sb" 2>"$work/unknown.err"; rc=$?
"$bin" peer frobnicate x --state "$work/sb" 2>/dev/null; rc_usage=$?
set -e
[[ $rc -eq 4 ]] || fail "forgetting an unknown peer exited $rc, not 4"
grep -q "no known peer matches" "$work/unknown.err" || fail "unknown peer: $(cat "$work/unknown.err")"
[[ $rc_usage -eq 2 ]] || fail "peer with an unknown verb exited $rc_usage, not 2"

# --- forget: the config line and the remembered entry go --------------------
"$bin" peer forget "127.0.0.1:$pa" --state "$work/sb" >/dev/null || fail "peer forget failed"
! grep -q "peer = " "$work/b.conf" || fail "peer forget left the config line: $(cat "$work/b.conf")"
gone() { ! "$bin" peers --state "$work/sb" --json | grep -q "\"known\":\[{"; }
wait_for 10 gone || fail "alpha is still known after forget: $("$bin" peers --state "$work/sb")"
saved_without() { ! grep -q "127.0.0.1:$pa" "$work/sb/peers.json"; }
wait_for 10 saved_without || fail "bravo's peers.json still holds alpha"

# --- the default port and its fallback, in a private network namespace ------
if [[ $(id -u) -eq 0 ]] && unshare -n true 2>/dev/null; then
  unshare -n bash -c '
    ip link set lo up
    python3 -c "import socket,time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((\"0.0.0.0\", 7400))
open(\"$1/held\", \"w\").close(); time.sleep(20)" &
    holder=$!
    for _ in $(seq 50); do [[ -e $1/held ]] && break; sleep 0.1; done
    timeout 20 "$2" daemon --games "$1/a" --state "$1/sd" --no-http --no-mdns --config "$1/a.conf" \
      --json-events >"$1/d.out" 2>"$1/d.err" &
    d=$!
    for _ in $(seq 100); do grep -q "\"event\":\"ready\"" "$1/d.out" 2>/dev/null && break; sleep 0.1; done
    kill "$d" "$holder" 2>/dev/null; wait "$d" "$holder" 2>/dev/null
    true' _ "$work" "$bin"
  grep -q '"port":7401' "$work/d.out" || fail "with 7400 taken the daemon did not listen on 7401: $(cat "$work/d.out" "$work/d.err")"
  grep -q "UDP port 7400 is in use (0.0.0.0:7400).*listening on UDP port 7401 instead.*--listen ADDR:PORT" "$work/d.err" ||
    fail "no clear message for the taken default port: $(cat "$work/d.err")"
  unshare -n bash -c 'ip link set lo up
    timeout 20 "$2" daemon --games "$1/a" --state "$1/se" --no-http --no-mdns --config "$1/a.conf" \
      --json-events >"$1/e.out" 2>"$1/e.err" &
    d=$!
    for _ in $(seq 100); do grep -q "\"event\":\"ready\"" "$1/e.out" 2>/dev/null && break; sleep 0.1; done
    kill "$d"; wait "$d" 2>/dev/null; true' _ "$work" "$bin"
  grep -q '"port":7400' "$work/e.out" || fail "without --listen the daemon did not take UDP 7400: $(cat "$work/e.out")"
  ! grep -q "in use" "$work/e.err" || fail "a free default port was reported in use"
else
  echo "note: not root or no unshare -n: the default-port checks did not run"
fi
echo "known peers: all checks passed"
