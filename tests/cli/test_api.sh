#!/usr/bin/env bash
# The control API of two daemons on loopback: reads reflect the peers' games
# and each other, actions are checked, bad input gets a 4xx with a reason,
# and requests a hostile web page could make are refused.
set -euo pipefail
source "$(dirname "$0")/lib_daemons.sh"
start_pair
A="$work/sa"; B="$work/sb"
b_first=${b_games%% *}; a_first=${a_games%% *}; a_second=$(echo $a_games | cut -d" " -f2)

# expect STATUS TEXT -- ARGS...: one request's status, and TEXT in its body.
expect() {
  local want=$1 text=$2 out; shift 3
  out=$(api "$@")
  [[ $(head -n1 <<<"$out") == "$want" ]] || fail "api $*: expected $want, got: $out"
  [[ -z $text || $out == *"$text"* ]] || fail "api $*: expected '$text' in: $out"
}

# --- the endpoint file ---
[[ $(stat -c %a "$A/api.json") == 600 ]] || fail "api.json is not mode 0600"

# --- reads: alpha sees bravo's games as remote, its own with their state ---
wait_for 10 json_check "$A" /api/games \
  "{g['id']: g for g in doc['games']}.get('$b_first', {}).get('state') == 'remote'" \
  || fail "alpha does not list bravo's game $b_first as remote"
json_check "$A" /api/games "all(g['state'] in ('remote',) and g['peers'] == ['bravo'] and g['peer_count'] == 1 \
  for g in doc['games'] if g['id'] in '$b_games'.split())" || fail "remote games lack their peer"
json_check "$A" /api/games "all(g['state'] in ('installed','downloaded') and g['description'] \
  for g in doc['games'] if g['id'] in '$a_games'.split())" || fail "local games lack state or description"
json_check "$A" "/api/games/$b_first" "doc['id'] == '$b_first' and doc['size'] > 0" \
  || fail "game details of $b_first"
wait_for 10 json_check "$A" /api/peers "doc['count'] == 1 and doc['peers'][0]['name'] == 'bravo'" \
  || fail "alpha's peers do not list bravo"
json_check "$A" /api/status "doc['ready'] and doc['peer_count'] == 1 and doc['game_dir'] == '$work/a'" \
  || fail "alpha's status"

# --- security ---
expect 401 "token" -- "$A" GET /api/games --no-token
expect 401 "token" -- "$A" GET /api/games --token wrong
expect 200 "" -- "$A" GET /api/games --bearer
expect 401 "token" -- "$A" GET /api/events --no-token --stream 1
port=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"].rsplit(":",1)[1].strip("/"))' "$A/api.json")
expect 403 "Host" -- "$A" GET /api/games --host "evil.example:$port"
expect 403 "Host" -- "$A" GET /api/games --host "attacker.localhost.evil:$port"
expect 403 "Host" -- "$A" GET /api/games --host "127.0.0.1:1"
expect 200 "" -- "$A" GET /api/games --host "localhost:$port"
expect 403 "Host" -- "$A" GET / --host "rebind.example:$port"
expect 403 "cross-origin" -- "$A" POST /api/rescan --origin "http://evil.example"
expect 403 "cross-origin" -- "$A" POST /api/rescan --origin "null"
expect 403 "cross-origin" -- "$A" GET /api/games --origin "http://evil.example"
expect 202 "" -- "$A" POST /api/rescan --origin "http://127.0.0.1:$port"

# --- logging in to the web UI: one-time links only ---
token=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$A/api.json")
# no_token_in TEXT WHAT: the API token appears nowhere in TEXT
no_token_in() { [[ $1 != *"$token"* ]] || fail "$2 shows the API token"; }
out=$(api "$A" GET / --no-token --headers)
[[ $out == 401* && $out == *"lanspread open"* ]] || fail "GET / without a cookie is not the login page: $out"
[[ $out != *"Set-Cookie"* ]] || fail "GET / without a login link sets a cookie: $out"
no_token_in "$out" "GET / without a cookie"
out=$(api "$A" GET /index.html --no-token --headers)
[[ $out == 401* && $out != *"Set-Cookie"* ]] || fail "GET /index.html without a cookie: $out"
out=$(api "$A" GET "/?token=wrong-$token" --no-token --headers)
[[ $out == 401* && $out != *"Set-Cookie"* ]] || fail "GET /?token=WRONG: $out"
# login_url: a fresh link from `lanspread open --print` (the CLI reads the token from api.json)
login_url() { "$bin" open --state "$A" --print; }
link=$(login_url) || fail "lanspread open --print failed"
[[ $link =~ ^http://127\.0\.0\.1:$port/login\?once=[0-9a-f]{64}$ ]] || fail "open printed no login link: $link"
no_token_in "$link" "the login link"
once_path=${link#http://127.0.0.1:$port}
out=$(api "$A" GET "$once_path" --no-token --headers)
[[ $out == 303* && $out == *"Location: /"* ]] || fail "a fresh login link does not redirect to /: $out"
[[ $out =~ Set-Cookie:\ lanspread_session_$port=([0-9]+\.[0-9a-f]{64})\;\ Path=/\;\ Max-Age=([0-9]+)\;\ HttpOnly\;\ SameSite=Strict ]] \
  || fail "a fresh login link does not set the HttpOnly SameSite session cookie: $out"
session=${BASH_REMATCH[1]}; max_age=${BASH_REMATCH[2]}
no_token_in "$out" "the login's answer"
(( max_age > 0 && max_age <= 7 * 24 * 3600 )) || fail "the session cookie lives $max_age s, not a bounded time"
out=$(api "$A" GET "$once_path" --no-token --headers)
[[ $out == 403* && $out == *"already used or has expired"* && $out != *"Set-Cookie"* ]] \
  || fail "a login link worked twice: $out"
no_token_in "$out" "a spent login link"
out=$(api "$A" GET "/login?once=$(printf '%064d' 0)" --no-token --headers)
[[ $out == 403* && $out != *"Set-Cookie"* ]] || fail "a made-up login secret: $out"
out=$(api "$A" GET "/login" --no-token --headers)
[[ $out == 403* && $out != *"Set-Cookie"* ]] || fail "a login link without a secret: $out"
out=$(api "$A" GET / --cookie "$session" --headers)
[[ $out == 200* && $out == *"<title>Lanspread</title>"* ]] || fail "the cookie does not open the web UI: $out"
expect 200 "" -- "$A" GET /api/games --cookie "$session"
# The cookie is a signed session, not the token: a token, another login
# time or a changed signature in it opens nothing.
issued=${session%%.*}; mac=${session#*.}
expect 401 "token" -- "$A" GET /api/games --cookie "$token"
expect 401 "token" -- "$A" GET /api/games --cookie "$((issued - 1)).$mac"
expect 401 "token" -- "$A" GET /api/games --cookie "$issued.${mac%?}$( [[ ${mac: -1} == 0 ]] && echo 1 || echo 0)"
# A session too old is refused even with a good signature: one signed by
# the key of the state directory for a login eight days ago.
key_file="$A/session.key"
[[ $(stat -c %a "$key_file") == 600 ]] || fail "session.key is not mode 0600"
old_issued=$(( $(date +%s) - 8 * 24 * 3600 ))
old_mac=$(printf 'lanspread_session_%s|%s' "$port" "$old_issued" |
  openssl dgst -sha256 -mac HMAC -macopt "hexkey:$(cat "$key_file")" | sed 's/.*= //')
expect 401 "token" -- "$A" GET /api/games --cookie "$old_issued.$old_mac"
fresh_mac=$(printf 'lanspread_session_%s|%s' "$port" "$issued" |
  openssl dgst -sha256 -mac HMAC -macopt "hexkey:$(cat "$key_file")" | sed 's/.*= //')
[[ $fresh_mac == "$mac" ]] || fail "the session cookie is not HMAC-SHA256(session.key, name|issued) as documented"
# Links are independent: an older one still works after a newer one was made and used.
first=$(login_url); second=$(login_url)
[[ $first != "$second" ]] || fail "two login links are the same"
[[ $(api "$A" GET "${second#http://127.0.0.1:$port}" --no-token) == 303* ]] || fail "the second link"
[[ $(api "$A" GET "${first#http://127.0.0.1:$port}" --no-token) == 303* ]] || fail "the first link"
# The daemon prints a link at start (make run shows it), and it works once.
printed=$(grep -o "http://127\.0\.0\.1:$port/login?once=[0-9a-f]*" "$work/a.err" | head -n1)
[[ -n $printed ]] || fail "the daemon printed no login link"
[[ $(api "$A" GET "${printed#http://127.0.0.1:$port}" --no-token) == 303* ]] || fail "the printed link"
[[ $(api "$A" GET "${printed#http://127.0.0.1:$port}" --no-token) == 403* ]] || fail "the printed link twice"
no_token_in "$(cat "$work/a.err" "$work/a.out")" "the daemon's output"
# The API hands out links only with the token; --json tells what happened.
expect 401 "token" -- "$A" POST /api/login-url --no-token
out=$("$bin" open --state "$A" --print --json)
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if d["url"].startswith("http://") and d["expires_in_ms"] > 0 and d["opened"] is False else 1)' "$out" \
  || fail "open --json: $out"
# Outside a graphical session nothing is spawned: the link is printed.
out=$(env -u DISPLAY -u WAYLAND_DISPLAY "$bin" open --state "$A") || fail "open without a display failed"
[[ $out =~ /login\?once=[0-9a-f]{64}$ ]] || fail "open without a display did not print the link: $out"
set +e
"$bin" open --state "$work/no-such-state" --print >/dev/null 2>&1; rc=$?
"$bin" games --state "$A" --print >/dev/null 2>&1; rc_print=$?
set -e
[[ $rc -eq 3 ]] || fail "open without a daemon: exit $rc, not 3"
[[ $rc_print -eq 2 ]] || fail "--print is accepted by other commands (exit $rc_print)"
expect 200 "EventSource" -- "$A" GET /app.js --no-token
expect 200 "" -- "$A" GET /style.css --no-token

# A non-loopback listen address without a token refuses to start.
set +e
"$bin" daemon --games "$work/a" --state "$work/s-refused" --listen 127.0.0.1:0 \
  --http 0.0.0.0:0 --config "$work/b.conf" >"$work/refused.out" 2>"$work/refused.err"
rc=$?
set -e
[[ $rc -ne 0 ]] && grep -q "http-token" "$work/refused.err" \
  || fail "a non-loopback --http without a token started (rc $rc)"

# --- bad input ---
expect 400 "malformed JSON" -- "$A" POST /api/rescan --body '{"game_id":'
expect 400 "malformed JSON" -- "$A" POST /api/rescan --body '{"a":1,"a":2}'
expect 400 "JSON object" -- "$A" POST /api/rescan --body '[1,2]'
expect 413 "65536" -- "$A" POST /api/rescan --body-size 70000
expect 404 "unknown game 'no-such-game'" -- "$A" GET /api/games/no-such-game
expect 404 "unknown game 'no-such-game'" -- "$A" POST /api/games/no-such-game/download
expect 404 "unknown action" -- "$A" POST "/api/games/$b_first/explode"
expect 409 "not downloaded" -- "$A" POST "/api/games/$b_first/install"
expect 409 "not installed" -- "$A" POST "/api/games/$a_second/uninstall"
expect 404 "no such endpoint" -- "$A" GET /api/nothing
expect 405 "" -- "$A" DELETE /api/games
expect 409 "no download of game '$b_first' is running" -- "$A" POST "/api/games/$b_first/cancel"

# --- kept bytes: a stopped download's resume record (STATE/downloads/ID.resume,
# format in include/lanspread/download.h) shows as "kept" on the game, for
# any browser or CLI; one of another version does not ---
write_resume() { # STATE ID VERSION DONE TOTAL
  python3 - "$@" <<'PY'
import hashlib, os, struct, sys
state, gid, ver, done, total = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
count = 10
body = (b"LSRESUM2" + bytes([len(gid)]) + gid.encode() + bytes([len(ver)]) + ver.encode()
        + b"\x11" * 32 + struct.pack("<QQI", total, done, count) + bytes([0x07, 0x00]))
os.makedirs(state + "/downloads", exist_ok=True)
open(state + "/downloads/" + gid + ".resume", "wb").write(body + hashlib.sha256(body).digest())
PY
}
b_version=$(api "$A" GET "/api/games/$b_first" | python3 -c 'import json,sys; sys.stdin.readline(); print(json.load(sys.stdin)["latest_version"])')
json_check "$A" "/api/games/$b_first" "'kept' not in doc" || fail "a game with no resume record shows kept bytes"
write_resume "$A" "$b_first" "$b_version" 3000 10000
json_check "$A" "/api/games/$b_first" "doc['kept'] == {'version': '$b_version', 'bytes_done': 3000, 'bytes_total': 10000}" \
  || fail "GET /api/games/ID does not report the kept bytes: $(api "$A" GET "/api/games/$b_first")"
json_check "$A" /api/games "[g.get('kept', {}).get('bytes_done') for g in doc['games'] if g['id'] == '$b_first'] == [3000]" \
  || fail "GET /api/games does not report the kept bytes"
out=$("$bin" games --state "$A")
grep -qE "^$b_first .* remote$" <<<"$out" && grep -qx "  kept: 30% (.* of .*), the next download resumes" <<<"$out" \
  || fail "lanspread games does not show the kept percentage: $out"
write_resume "$A" "$b_first" "$b_version-old" 3000 10000
json_check "$A" "/api/games/$b_first" "'kept' not in doc" || fail "a resume record of another version shows as kept"
rm -f "$A/downloads/$b_first.resume"

# --- the event stream: a snapshot first, then live events ---
api "$B" GET /api/events --stream 3 >"$work/events.txt" &
stream_pid=$!; pids+=($stream_pid)
sleep 0.5
expect 202 "" -- "$B" POST /api/rescan
wait "$stream_pid" || true
grep -q "^event: snapshot" "$work/events.txt" || fail "the event stream did not start with a snapshot"
grep -q "^event: games-changed" "$work/events.txt" || fail "rescan produced no games-changed event on the stream"
# game lists are read with GET /api/games, never streamed (bounded event ring)
! grep -q "^event: \(local-library\|list-games\)" "$work/events.txt" || fail "a game list was streamed whole"
[[ $(grep -m1 '^event:' "$work/events.txt") == "event: snapshot" ]] || fail "snapshot is not the first event"

# --- download: accepted, progress, then installed on bravo ---
expect 202 "\"action\":\"download\"" -- "$B" POST "/api/games/$a_first/download"
wait_for 30 json_check "$B" "/api/games/$a_first" "doc['state'] == 'installed'" \
  || fail "bravo's download of $a_first did not end installed: $(api "$B" GET "/api/games/$a_first")"
grep -q '"event":"download-finished".*"'"$a_first"'"' "$work/b.out" || fail "no download-finished event"
expect 409 "no download" -- "$B" POST "/api/games/$a_first/cancel"
expect 409 "already installed here" -- "$B" POST "/api/games/$a_first/download"

# --- update available: alpha announces a newer version; bravo updates ---
printf 'version=9.9.9\n' >"$work/a/$a_first/version.ini"
expect 202 "" -- "$A" POST /api/rescan --body "{\"game_id\":\"$a_first\"}"
wait_for 10 json_check "$B" "/api/games/$a_first" \
  "doc['state'] == 'update-available' and doc['latest_version'] == '9.9.9'" \
  || fail "bravo does not show an update for $a_first: $(api "$B" GET "/api/games/$a_first")"
expect 202 "\"action\":\"update\"" -- "$B" POST "/api/games/$a_first/update"
wait_for 30 json_check "$B" "/api/games/$a_first" "doc['state'] == 'installed' and doc['version'] == '9.9.9'" \
  || fail "the update of $a_first did not end installed at 9.9.9: $(api "$B" GET "/api/games/$a_first")"

# --- game directory: checked, then swapped in, saved, rescanned, re-announced ---
touch "$work/plain-file"
expect 400 "does not exist" -- "$A" POST /api/game-dir --body "{\"path\":\"$work/missing\"}"
expect 400 "not a directory" -- "$A" POST /api/game-dir --body "{\"path\":\"$work/plain-file\"}"
expect 400 "not writable" -- "$A" POST /api/game-dir --body '{"path":"/proc"}'
expect 400 "absolute" -- "$A" POST /api/game-dir --body '{"path":"relative/dir"}'
expect 400 "expected" -- "$A" POST /api/game-dir --body '{"dir":"/tmp"}'
# A directory whose name would inject config lines is refused (and the
# config file keeps its mode).
evil="$work/x
http = 0.0.0.0:7797"
mkdir -p "$evil"
chmod 600 "$work/a.conf"
expect 400 "control character" -- "$A" POST /api/game-dir --body "{\"path\":\"$work/x\\nhttp = 0.0.0.0:7797\"}"
grep -q "^http" "$work/a.conf" && fail "a game directory name injected a config line"
# games2 holds only alpha's second game: the first must disappear for bravo.
mkdir "$work/games2"; cp -a "$work/a/$a_second" "$work/games2/"
expect 202 "$work/games2" -- "$A" POST /api/game-dir --body "{\"path\":\"$work/games2\"}"
wait_for 10 grep -qx "games = \"$work/games2\"" "$work/a.conf" || fail "the game directory was not saved in the config"
[[ $(stat -c %a "$work/a.conf") == 600 ]] || fail "saving the game directory changed the config file's mode to $(stat -c %a "$work/a.conf")"
wait_for 10 json_check "$A" /api/status "doc['game_dir'] == '$work/games2'" || fail "status keeps the old game dir"
wait_for 10 json_check "$B" /api/games "[g['peer_count'] for g in doc['games'] if g['id'] == '$a_first'] == [0] and \
  [g['state'] for g in doc['games'] if g['id'] == '$a_second'] == ['remote']" \
  || fail "bravo still sees $a_first on alpha after alpha's game directory changed"
json_check "$A" /api/games "[g['id'] for g in doc['games'] if g['peer_count'] == 0] == ['$a_second']" \
  || fail "alpha's local games are not those of the new directory"

# SIGTERM stops the daemon and removes its endpoint file.
kill -TERM "${pids[1]}"; wait "${pids[1]}" || fail "bravo did not exit cleanly"
[[ ! -e "$B/api.json" ]] || fail "api.json left behind after exit"
echo "cli api: all checks passed"
