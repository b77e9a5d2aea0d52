#!/usr/bin/env bash
# Two `lanspread daemon` processes pointed at each other list each other's
# games with no further command.
set -euo pipefail
bin=$1
work=$(mktemp -d "${TMPDIR:-/tmp}/lstest-daemon-XXXXXX")
pids=()
# The script's status is its verdict: read first, and exited with last.
cleanup() {
  local rc=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$work"/*.out "$work"/*.err; do echo "--- $f"; cat "$f"; done >&2; exit 1; }

# A holds the first three catalog games, B the next three.
"$bin" demo-library "$work/a" --games 3 --file-size 1024 >/dev/null
"$bin" demo-library "$work/b" --games 6 --file-size 1024 >/dev/null
for id in $(ls "$work/a"); do rm -rf "${work:?}/b/$id"; done
a_games=$(ls "$work/a"); b_games=$(ls "$work/b")

"$bin" daemon --games "$work/a" --state "$work/a-state" --name alpha \
  --listen 127.0.0.1:0 --no-mdns --json-events >"$work/a.out" 2>"$work/a.err" &
pids+=($!)
port=""
for _ in $(seq 100); do
  port=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e["event"] == "ready": print(e["data"]["port"]); break' "$work/a.out" 2>/dev/null || true)
  [[ -n "$port" ]] && break
  sleep 0.1
done
[[ -n "$port" ]] || fail "daemon A never became ready"

"$bin" daemon --games "$work/b" --state "$work/b-state" --name bravo \
  --listen 127.0.0.1:0 --no-mdns --peer "127.0.0.1:$port" --json-events >"$work/b.out" 2>"$work/b.err" &
pids+=($!)

# Each side's latest list-games event must hold every game of the other.
sees_all() { # out-file, expected ids...
  python3 - "$@" <<'PY'
import json, sys
path, want = sys.argv[1], set(sys.argv[2:])
latest = None
for line in open(path):
    e = json.loads(line)
    if e["event"] == "list-games":
        latest = {g["id"] for g in e["data"]["games"]}
sys.exit(0 if latest is not None and want <= latest else 1)
PY
}
ok=0
for _ in $(seq 100); do
  if sees_all "$work/a.out" $b_games && sees_all "$work/b.out" $a_games; then ok=1; break; fi
  sleep 0.1
done
[[ $ok -eq 1 ]] || fail "daemons did not list each other's games"
grep -q '"event":"peer-discovered"' "$work/a.out" || fail "A reported no peer-discovered"
grep -q '"name":"bravo"' "$work/a.out" || fail "A does not know B's name"

# SIGTERM stops a daemon cleanly (exit 0).
kill -TERM "${pids[1]}"
wait "${pids[1]}" || fail "daemon B did not exit cleanly"
pids=("${pids[0]}")
# A party key file with a NUL byte inside is refused: the secret would be
# cut at it without a word.
printf 'lan\0party' >"$work/key-with-nul"
rc=0
timeout 10 "$bin" daemon --games "$work/a" --state "$work/c-state" --listen 127.0.0.1:0 --no-http \
  --party-key-file "$work/key-with-nul" >"$work/nul.out" 2>"$work/nul.err" || rc=$?
# 124: it started and ran until the timeout, i.e. it took the key
[[ $rc -ne 0 && $rc -ne 124 ]] || fail "a party key file with a NUL byte was accepted (exit $rc)"
grep -q "NUL byte" "$work/nul.err" || fail "no clear message for a key file with a NUL byte"

echo "cli daemon: all checks passed"
