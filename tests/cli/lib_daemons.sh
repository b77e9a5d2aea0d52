# Sourced by the control-API script tests: a work directory, two daemons on
# loopback (alpha holds three demo games, bravo three others and connects to
# alpha), each with its HTTP API on a free port, and cleanup by pid.
bin=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/lstest-api-XXXXXX")
# The daemon registry (XDG_RUNTIME_DIR) is the test's own: other runs'
# daemons must not show up in a lookup without --state.
export XDG_CONFIG_HOME="$work/config" XDG_STATE_HOME="$work/xdg-state" XDG_RUNTIME_DIR="$work/run"
pids=()
# The script's status is its verdict: read first, and exited with last.
cleanup() {
  local rc=$?
  # SIGCONT too: a test that failed while a daemon was stopped (SIGSTOP)
  # would otherwise wait for it for ever.
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; kill -CONT "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for f in "$work"/*.out "$work"/*.err; do [[ -f $f ]] && { echo "--- $f"; tail -n 40 "$f"; }; done >&2
  exit 1
}
api() { python3 "$here/apitool.py" "$@"; }

# ready_port OUT-FILE: the QUIC port from the ready event (empty until then).
ready_port() {
  python3 -c 'import json,sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e["event"] == "ready": print(e["data"]["port"]); break' "$1" 2>/dev/null || true
}

# wait_for SECONDS COMMAND...: retries every 0.1 s, for at most SECONDS of
# wall-clock time (a slow command counts against it too).
wait_for() {
  local end=$(( SECONDS + $1 )) tries=$(( $1 * 10 )); shift
  for _ in $(seq "$tries"); do
    "$@" >/dev/null 2>&1 && return 0
    (( SECONDS < end )) || return 1
    sleep 0.1
  done
  return 1
}

start_pair() {
  "$bin" demo-library "$work/a" --games 3 --file-size 1024 >/dev/null
  "$bin" demo-library "$work/b" --games 6 --file-size 1024 >/dev/null
  for id in $(ls "$work/a"); do rm -rf "${work:?}/b/$id"; done
  start_daemons
}

# start_pair_big MIB: start_pair, with MIB MiB of random data added to
# alpha's first game, $game, which bravo then lists as remote; $A and $B
# are their state dirs. (Written before version.ini matters only to the
# seeder's scan, which runs after this.)
start_pair_big() {
  "$bin" demo-library "$work/a" --games 3 --file-size 1024 >/dev/null
  "$bin" demo-library "$work/b" --games 6 --file-size 1024 >/dev/null
  for id in $(ls "$work/a"); do rm -rf "${work:?}/b/$id"; done
  game=$(ls "$work/a" | head -n1)
  head -c $(($1 * 1024 * 1024)) /dev/urandom >"$work/a/$game/data.bin"
  start_daemons
  A="$work/sa"; B="$work/sb"
  wait_for 20 json_check "$B" "/api/games/$game" "doc['state'] == 'remote'" \
    || fail "bravo does not list alpha's $game as remote"
}

# start_daemons: alpha on $work/a, then bravo on $work/b connected to alpha.
start_daemons() {
  a_games=$(ls "$work/a" | tr "\n" " "); b_games=$(ls "$work/b" | tr "\n" " ")
  : >"$work/a.conf"; : >"$work/b.conf"
  "$bin" daemon --games "$work/a" --state "$work/sa" --name alpha --listen 127.0.0.1:0 \
    --http 127.0.0.1:0 --config "$work/a.conf" --json-events >"$work/a.out" 2>"$work/a.err" &
  pids+=($!)
  alpha_port=""
  for _ in $(seq 100); do alpha_port=$(ready_port "$work/a.out"); [[ -n $alpha_port ]] && break; sleep 0.1; done
  [[ -n $alpha_port ]] || fail "daemon alpha never became ready"
  start_bravo
  wait_for 10 test -f "$work/sa/api.json" || fail "alpha wrote no api.json"
}

# start_bravo: bravo on $work/b connected to alpha (again, after a stop);
# its pid is $bravo_pid.
start_bravo() {
  "$bin" daemon --games "$work/b" --state "$work/sb" --name bravo --listen 127.0.0.1:0 \
    --peer "127.0.0.1:$alpha_port" --http 127.0.0.1:0 --config "$work/b.conf" --json-events \
    >>"$work/b.out" 2>>"$work/b.err" &
  bravo_pid=$!
  pids+=($bravo_pid)
  wait_for 10 test -f "$work/sb/api.json" || fail "bravo wrote no api.json"
}

# json_check STATE PATH PYTHON-EXPR: GET PATH and evaluate EXPR on doc.
json_check() {
  local out
  out=$(api "$1" GET "$2") || return 1
  python3 -c 'import json,sys
lines = sys.argv[1].split("\n", 1)
doc = json.loads(lines[1])
sys.exit(0 if lines[0] == "200" and eval(sys.argv[2]) else 1)' "$out" "$3"
}
