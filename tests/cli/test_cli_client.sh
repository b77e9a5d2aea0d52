#!/usr/bin/env bash
# The CLI subcommands drive a running daemon through its API: readable tables,
# --json for scripts, plain lines when not a terminal, exit codes that say
# what happened, help that lists every option, and a config file that can
# hold every daemon option.
set -euo pipefail
source "$(dirname "$0")/lib_daemons.sh"
start_pair
A=(--state "$work/sa")
b_first=${b_games%% *}; a_first=${a_games%% *}

# run_cli EXPECTED-EXIT ARGS...: output in $out, stderr in $err.
run_cli() {
  local want=$1 rc; shift
  set +e
  out=$("$bin" "$@" 2>"$work/cli.err"); rc=$?
  set -e
  err=$(cat "$work/cli.err")
  [[ $rc -eq $want ]] || fail "lanspread $*: exit $rc, expected $want; stdout: $out; stderr: $err"
}

# games: every game of both peers, with its state, as a table and as JSON.
games_has_remote() { "$bin" games "${A[@]}" | grep -E "^$b_first .* remote$"; }
wait_for 10 games_has_remote || fail "games does not show bravo's $b_first as remote"
run_cli 0 games "${A[@]}"
[[ $out == ID*NAME*VERSION*SIZE*PEERS*STATE* ]] || fail "games has no header: $out"
for id in $a_games; do grep -qE "^$id .*(installed|downloaded)$" <<<"$out" || fail "games lacks local $id"; done
run_cli 0 games "${A[@]}" --json
python3 -c 'import json,sys
doc = json.loads(sys.argv[1])
ids = {g["id"]: g for g in doc["games"]}
want = sys.argv[2].split() + sys.argv[3].split()
sys.exit(0 if all(i in ids for i in want) and ids[sys.argv[2].split()[0]]["peers"] == ["bravo"] else 1)' \
  "$out" "$b_games" "$a_games" || fail "games --json: $out"

run_cli 0 peers "${A[@]}"
grep -q "bravo" <<<"$out" || fail "peers does not list bravo: $out"
run_cli 0 peers "${A[@]}" --json
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if d["count"]==1 else 1)' "$out" \
  || fail "peers --json: $out"
run_cli 0 status "${A[@]}"
grep -q "game dir: *$work/a" <<<"$out" && grep -q "ready: *yes" <<<"$out" || fail "status: $out"
run_cli 0 status "${A[@]}" --json
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if d["ready"] else 1)' "$out" \
  || fail "status --json: $out"
run_cli 0 rescan "${A[@]}"
run_cli 0 rescan "${A[@]}" "$a_first"

# Exit codes: refused (4), no daemon (3), usage (2).
run_cli 4 download "${A[@]}" no-such-game
grep -q "unknown game 'no-such-game'" <<<"$err" || fail "download of an unknown game: $err"
run_cli 4 install "${A[@]}" "$b_first"
grep -q "not downloaded" <<<"$err" || fail "install of a remote game: $err"
run_cli 4 cancel "${A[@]}" "$b_first"
grep -q "no download of game '$b_first' is running" <<<"$err" || fail "cancel without a download: $err"
run_cli 4 set-game-dir "${A[@]}" "$work/missing"
grep -q "does not exist" <<<"$err" || fail "set-game-dir of a missing dir: $err"
run_cli 3 games --state "$work/no-daemon-here"
grep -q "no running daemon" <<<"$err" || fail "no daemon: $err"
run_cli 2 download "${A[@]}"
run_cli 2 games "${A[@]}" extra-arg
run_cli 2 games --api http://192.0.2.1:80/ --token x
run_cli 2 games --api http://127.0.0.1:80x/ --token x
grep -q "not a loopback http://ADDR:PORT/ address" <<<"$err" || fail "--api with a bad port: $err"
for t in 0 -5 10s abc 99999999999; do
  run_cli 2 download "${A[@]}" "$b_first" --timeout "$t"
  grep -q -- "--timeout: '$t' is not a whole number of seconds" <<<"$err" || fail "--timeout $t: $err"
done
run_cli 4 games --api "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$work/sa/api.json")" --token wrong

# download follows the operation: plain lines (no carriage returns) when not
# a terminal, JSON events with --json; the runtime's answer decides the code.
set +e
"$bin" download "${A[@]}" "$b_first" --timeout 20 >"$work/dl.out" 2>"$work/dl.err"; rc=$?
set -e
! grep -q $'\r' "$work/dl.out" "$work/dl.err" || fail "download wrote carriage returns to a pipe"
[[ $rc -eq 0 ]] || fail "download exited $rc: $(cat "$work/dl.err")"
"$bin" games "${A[@]}" | grep -qE "^$b_first .* installed$" || fail "download exited 0 but $b_first is not installed"
grep -q "^install-finished $b_first" "$work/dl.out" || fail "download printed no install-finished line: $(cat "$work/dl.out")"
set +e
"$bin" download "${A[@]}" "$(echo $b_games | cut -d' ' -f2)" --json --timeout 20 >"$work/dlj.out" 2>/dev/null
set -e
python3 -c 'import json,sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
sys.exit(0 if lines and all("event" in l and "data" in l for l in lines)
         and lines[-1]["event"] == "install-finished" else 1)' "$work/dlj.out" \
  || fail "download --json did not print one JSON event per line: $(cat "$work/dlj.out")"
b_third=$(echo $b_games | cut -d' ' -f3)
run_cli 0 download "${A[@]}" "$b_third" --no-wait
grep -q "accepted" <<<"$out" || fail "download --no-wait: $out"
# uninstall waits for its end; the game stays downloaded.
run_cli 0 uninstall "${A[@]}" "$b_first"
"$bin" games "${A[@]}" | grep -qE "^$b_first .* downloaded$" || fail "uninstall did not leave $b_first downloaded"
run_cli 0 install "${A[@]}" "$b_first"
grep -q "^install-finished $b_first" <<<"$out" || fail "install printed no install-finished line: $out"

# cancel: a download big enough to still run is stopped; exit 0, the game is
# remote again (the verified chunks stay for a resume).
"$bin" demo-library "$work/extra" --games 9 --file-size 1024 >/dev/null
# The first demo game that neither daemon holds (no `| head`: under
# pipefail a writer killed by SIGPIPE would fail the script).
b_big=""
for dir in "$work"/extra/*/; do
  id=$(basename "$dir")
  [[ -e $work/a/$id || -e $work/b/$id ]] || { b_big=$id; break; }
done
[[ -n $b_big ]] || fail "no spare demo game for the cancel test"
mv "$work/extra/$b_big" "$work/b/"
truncate -s 256M "$work/b/$b_big/big.pak"
run_cli 0 rescan --state "$work/sb" "$b_big"
big_seen() { "$bin" games "${A[@]}" --json | python3 -c 'import json,sys
sys.exit(0 if any(g["id"] == sys.argv[1] and g["size"] > 2**27 for g in json.load(sys.stdin)["games"]) else 1)' "$b_big"; }
wait_for 30 big_seen || fail "alpha never saw the grown $b_big"
run_cli 0 download "${A[@]}" "$b_big" --no-wait
wait_for 20 bash -c "\"$bin\" games --state \"$work/sa\" | grep -qE '^$b_big .* downloading$'" \
  || fail "$b_big never showed downloading"
run_cli 0 cancel "${A[@]}" "$b_big"
grep -q "download-failed $b_big" <<<"$out" || fail "cancel printed no download-failed line: $out"
"$bin" games "${A[@]}" | grep -qE "^$b_big .* remote$" || fail "a canceled download did not go back to remote"
run_cli 4 cancel "${A[@]}" "$b_big"

# set-game-dir waits for the runtime: exit 0 once it switched, and the
# config file holds the new directory.
mkdir "$work/a2"
run_cli 0 set-game-dir "${A[@]}" "$work/a2"
grep -q "game directory is now $work/a2" <<<"$out" || fail "set-game-dir: $out"
grep -qx "games = \"$work/a2\"" "$work/a.conf" || fail "set-game-dir did not save the directory"
"$bin" status "${A[@]}" | grep -q "game dir: *$work/a2" || fail "status does not show the new directory"

# Help lists every subcommand and every option.
run_cli 0 --help
for c in daemon games peers status download update install uninstall cancel rescan set-game-dir; do
  grep -qE "^  $c " <<<"$out" || fail "lanspread --help does not list $c"
done
for c in games peers status download update install uninstall cancel rescan set-game-dir; do
  run_cli 0 "$c" --help
  for o in --json --state --api --token --help; do
    grep -q -- "$o" <<<"$out" || fail "$c --help does not list $o"
  done
done
run_cli 0 download --help
grep -q -- "--no-wait" <<<"$out" && grep -q -- "--timeout" <<<"$out" || fail "download --help lacks wait options"
run_cli 0 daemon --help
for o in --games --state --name --listen --peer --party-key --party-key-file --catalog --ping-ms \
         --json-events --http --http-token --http-token-file --no-http --no-mdns --config \
         --log-file --verbose; do
  grep -q -- "$o" <<<"$out" || fail "daemon --help does not list $o"
done
# contrib/config.example names every daemon option (but --config and --help),
# and its active lines load.
example="${LS_TEST_SOURCE_DIR:-$here/../..}/contrib/config.example"
for o in $(grep -oE '^  --[a-z-]+' <<<"$out" | sed 's/^  --//'); do
  [[ $o == config || $o == help ]] && continue
  grep -qE "^#?$o = " "$example" || fail "contrib/config.example lacks $o"
done
run_cli 0 daemon --config "$example" --help
# --log-file: log lines go to the file, made with its directory.
"$bin" daemon --games "$work/a" --state "$work/log-state" --listen 127.0.0.1:0 --no-http \
  --config "$work/b.conf" --log-file "$work/logs/daemon.log" >/dev/null 2>&1 &
log_pid=$!; pids+=($log_pid)
wait_for 10 grep -q "listening on port" "$work/logs/daemon.log" || fail "--log-file got no log lines"
kill -TERM "$log_pid"; wait "$log_pid" || fail "daemon with --log-file did not exit cleanly"

# A config file can hold the daemon's options; the command line needs none.
mkdir "$work/c-state"
cat >"$work/c.conf" <<CONF
# every option of the daemon may live here
games = $work/a
state = $work/c-state
name = charlie
listen = 127.0.0.1:0
http = 127.0.0.1:0
json-events = true
verbose = false
CONF
"$bin" daemon --config "$work/c.conf" >"$work/c.out" 2>"$work/c.err" &
pids+=($!)
wait_for 10 test -f "$work/c-state/api.json" || fail "daemon from a config file wrote no api.json"
wait_for 10 "$bin" status --state "$work/c-state" || fail "daemon from a config file does not answer"
"$bin" status --state "$work/c-state" --json | python3 -c 'import json,sys
d = json.load(sys.stdin); sys.exit(0 if d["game_dir"] == sys.argv[1] else 1)' "$work/a" \
  || fail "the config's game directory was not used"
grep -q '"event":"ready"' "$work/c.out" || fail "json-events = true was not applied"
echo "bad line" >"$work/bad.conf"
set +e; "$bin" daemon --config "$work/bad.conf" >/dev/null 2>"$work/bad.err"; rc=$?; set -e
[[ $rc -ne 0 ]] && grep -q "bad.conf:1" "$work/bad.err" || fail "a malformed config line was not reported"
echo "cli client: all checks passed"
