#!/usr/bin/env bash
# Start-up as a person meets it: the web UI's address printed once the port
# is bound, one daemon per state directory ("already running (pid N)"), a
# taken port named with the option that moves it, human log lines on the
# daemon's terminal (JSON only with --json-events), a missing --config
# reported once, and the per-user registry through which `lanspread games`
# with no flags finds a daemon started with any --state.
set -euo pipefail
source "$(dirname "$0")/lib_daemons.sh"

"$bin" demo-library "$work/a" --games 3 --file-size 1024 >/dev/null
"$bin" demo-library "$work/b" --games 6 --size 4M >/dev/null
for id in $(ls "$work/a"); do rm -rf "${work:?}/b/$id"; done
: >"$work/empty.conf"

# demo-library --size: about that many bytes per game, shared by its files.
size_ok=$(python3 -c 'import os,sys
d = sys.argv[1]; g = sorted(os.listdir(d))[0]
total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(os.path.join(d, g))
            if "/local" not in r + "/" for f in fs)
print(1 if 3.5 * 2**20 < total < 4.5 * 2**20 else 0)' "$work/b")
[[ $size_ok == 1 ]] || fail "demo-library --size 4M did not make games of about 4 MiB"

# --- the address is printed once bound, and is the one api.json holds ------
# A human daemon (no --json-events) on a non-default state directory.
"$bin" daemon --games "$work/a" --state "$work/odd-state" --name alpha --listen 127.0.0.1:0 \
  --http 127.0.0.1:0 --config "$work/empty.conf" --no-mdns >"$work/h.out" 2>"$work/h.err" &
h_pid=$!; pids+=($h_pid)
banner_url() { grep -oE 'Lanspread web UI: http://127\.0\.0\.1:[0-9]+/' "$work/h.err" | grep -oE 'http://.*'; }
wait_for 15 banner_url || fail "the daemon printed no 'Lanspread web UI: URL' line"
url=$(banner_url)
[[ $url != *":0/" ]] || fail "the banner shows the configured port 0, not the bound one: $url"
# The moment the line shows, the address answers.
python3 -c 'import socket,sys,urllib.parse
u = urllib.parse.urlparse(sys.argv[1]); socket.create_connection((u.hostname, u.port), 2).close()' "$url" \
  || fail "the printed address $url does not accept connections"
grep -q "\"url\": *\"$url\"\|\"url\":\"$url\"" "$work/odd-state/api.json" || fail "api.json does not hold $url"
grep -q "pid $h_pid" "$work/h.err" || fail "the banner does not name the daemon's pid $h_pid"
# libarchive (and the libxml2, ICU and libstdc++ it pulls in) is loaded only
# to unpack: a daemon that has not unpacked maps none of it (issue #17, RSS).
if grep -E 'lib(archive|xml2|icuuc)\.so' "/proc/$h_pid/maps" >"$work/maps.hit"; then
  fail "a daemon that unpacked nothing maps libarchive's libraries: $(sort -u "$work/maps.hit" | head -3)"
fi

# --- the registry: `lanspread games` with no flags finds it ----------------
run_cli() {
  local want=$1 rc; shift
  set +e
  out=$("$bin" "$@" 2>"$work/cli.err"); rc=$?
  set -e
  err=$(cat "$work/cli.err")
  [[ $rc -eq $want ]] || fail "lanspread $*: exit $rc, expected $want; stdout: $out; stderr: $err"
}
ls "$work/run/lanspread/daemon-$h_pid.json" >/dev/null || fail "the daemon did not register in \$XDG_RUNTIME_DIR/lanspread"
[[ $(stat -c %a "$work/run/lanspread") == 700 ]] || fail "the registry directory is not 0700"
run_cli 0 games
grep -qE '^[a-z0-9]+ .*(installed|downloaded)$' <<<"$out" || fail "games without flags did not list the registered daemon's games: $out"
run_cli 0 status
grep -q "game dir: *$work/a" <<<"$out" || fail "status without flags talked to another daemon: $out"
# A stale entry (its pid is gone) is ignored and removed.
echo '{"pid": 2147483000, "state_dir": "'"$work"'/gone"}' >"$work/run/lanspread/daemon-2147483000.json"
run_cli 0 games
[[ ! -e $work/run/lanspread/daemon-2147483000.json ]] || fail "a stale registry entry was not removed"
# Without any registered daemon: exit 3 and where it looked.
XDG_RUNTIME_DIR="$work/run-empty" run_cli 3 games
grep -q "no running daemon found" <<<"$err" && grep -q "run-empty/lanspread" <<<"$err" \
  || fail "no daemon anywhere: $err"

# --- one daemon per state directory ------------------------------------------
set +e
timeout 20 "$bin" daemon --games "$work/a" --state "$work/odd-state" --listen 127.0.0.1:0 \
  --http 127.0.0.1:0 --config "$work/empty.conf" --no-mdns >"$work/dup.out" 2>"$work/dup.err"; rc=$?
set -e
[[ $rc -eq 1 ]] || fail "a second daemon on the same state directory exited $rc, expected 1"
grep -q "already running (pid $h_pid)" "$work/dup.err" || fail "second daemon: $(cat "$work/dup.err")"
grep -q "\"pid\": *$h_pid\|\"pid\":$h_pid" "$work/odd-state/api.json" || fail "the second daemon touched api.json"
run_cli 0 status --state "$work/odd-state"

# --- a taken port: named, with the option (and make variable) that moves it --
http_port=${url##*:}; http_port=${http_port%/}
set +e
timeout 20 "$bin" daemon --games "$work/a" --state "$work/s-http" --listen 127.0.0.1:0 \
  --http "127.0.0.1:$http_port" --config "$work/empty.conf" --no-mdns >"$work/port.out" 2>"$work/port.err"; rc=$?
set -e
[[ $rc -eq 1 ]] || fail "a daemon on a taken HTTP port exited $rc, expected 1"
grep -q "HTTP port $http_port is in use" "$work/port.err" && grep -q -- "--http ADDR:PORT" "$work/port.err" \
  && grep -q "RUN_HTTP=" "$work/port.err" || fail "taken HTTP port: $(cat "$work/port.err")"
! grep -q "Lanspread web UI" "$work/port.err" || fail "a daemon that could not bind printed a web UI address"
! grep -q "input/output error" "$work/port.err" || fail "taken HTTP port reported as an I/O error"
udp_port=$(grep -oE 'peer on UDP port [0-9]+' "$work/h.err" | grep -oE '[0-9]+$')
[[ -n $udp_port ]] || fail "the banner names no UDP port"
set +e
timeout 20 "$bin" daemon --games "$work/a" --state "$work/s-udp" --listen "127.0.0.1:$udp_port" \
  --http 127.0.0.1:0 --config "$work/empty.conf" --no-mdns >"$work/udp.out" 2>"$work/udp.err"; rc=$?
set -e
[[ $rc -eq 1 ]] || fail "a daemon on a taken UDP port exited $rc, expected 1"
grep -q "UDP port $udp_port is in use" "$work/udp.err" && grep -q -- "--listen ADDR:PORT" "$work/udp.err" \
  && grep -q "RUN_LISTEN=" "$work/udp.err" || fail "taken UDP port: $(cat "$work/udp.err")"

# --- a missing --config: its error once, exit 1 -----------------------------
set +e
"$bin" daemon --config "$work/no-such.conf" --games "$work/a" >/dev/null 2>"$work/conf.err"; rc=$?
set -e
[[ $rc -eq 1 ]] || fail "a missing --config exited $rc, expected 1"
[[ $(grep -c "no-such.conf" "$work/conf.err") -eq 1 ]] || fail "a missing --config was not reported exactly once: $(cat "$work/conf.err")"

# --- several daemons: the CLI names them instead of guessing -----------------
start_daemons_b() {
  "$bin" daemon --games "$work/b" --state "$work/sb" --name bravo --listen 127.0.0.1:0 \
    --peer "127.0.0.1:$udp_port" --http 127.0.0.1:0 --config "$work/empty.conf" --no-mdns \
    >"$work/b.out" 2>"$work/b.err" &
  pids+=($!)
  wait_for 15 test -f "$work/sb/api.json" || fail "bravo wrote no api.json"
}
start_daemons_b
wait_for 10 test "$(ls "$work/run/lanspread" | wc -l)" -eq 2 || fail "bravo did not register"
run_cli 2 games
grep -q "2 daemons are running; choose one with --state DIR" <<<"$err" && grep -q -- "--state $work/odd-state" <<<"$err" \
  && grep -q -- "--state $work/sb" <<<"$err" || fail "several daemons: $err"

# --- the daemon's terminal: human lines, not events ----------------------------
# alpha downloads a 4 MiB game from bravo: its log says so in a few lines.
b_first=$(ls "$work/b" | head -n1)
wait_for 20 bash -c "\"$bin\" games --state \"$work/odd-state\" | grep -qE '^$b_first .* remote$'" \
  || fail "alpha never listed bravo's $b_first"
run_cli 0 download --state "$work/odd-state" "$b_first"
wait_for 10 grep -q "install $b_first finished" "$work/h.err" || fail "alpha's log has no 'install $b_first finished' line"
grep -qE "peer +bravo \(" "$work/h.err" || fail "alpha's log does not name the peer bravo"
grep -q "download $b_first .* started" "$work/h.err" || fail "alpha's log has no download start line"
[[ ! -s $work/h.out ]] || fail "without --json-events the daemon printed to stdout: $(head -c 500 "$work/h.out")"
! grep -q '{"' "$work/h.err" || fail "without --json-events the daemon logged JSON: $(grep -m3 '{"' "$work/h.err")"
! grep -qE 'list-games|download-progress|install-progress|peer-count' "$work/h.err" \
  || fail "the daemon's log shows raw events"
lines=$(wc -l <"$work/h.err")
(( lines <= 60 )) || fail "the daemon logged $lines lines for one small download"
longest=$(awk '{ if (length($0) > m) m = length($0) } END { print m }' "$work/h.err")
(( longest <= 300 )) || fail "a log line of $longest characters"
# Events as JSON only with --json-events (test_cli_client checks that side).
! grep -q "\"event\"" "$work/b.out" || fail "bravo printed events without --json-events"
echo "startup: all checks passed"
