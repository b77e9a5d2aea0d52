#!/usr/bin/env bash
# Following an operation as a person does: progress bounded whatever the
# event rate (one line per 10 % per phase when piped, one updating line on
# a terminal), Ctrl-C on `download` asking the daemon to cancel (and saying
# so) or, with --detach, leaving it running, and a clear message and exit
# code for each mistake: --api without a token, downloading a game that is
# already here, rescanning a game that does not exist.
set -euo pipefail
source "$(dirname "$0")/lib_daemons.sh"
# alpha: three small games; bravo: three others big enough that a download
# and its install send many progress events, plus one to interrupt.
"$bin" demo-library "$work/a" --games 3 --file-size 1024 >/dev/null
"$bin" demo-library "$work/b" --games 7 --size 48M >/dev/null
for id in $(ls "$work/a"); do rm -rf "${work:?}/b/$id"; done
start_daemons
A=(--state "$work/sa")
read -r b1 b2 b3 b4 _ <<<"$b_games"
a_installed=$(ls "$work/a" | head -n1)
[[ -d $work/a/$a_installed/local ]] || fail "demo game $a_installed is not installed"

run_cli() {
  local want=$1 rc; shift
  set +e
  out=$("$bin" "$@" 2>"$work/cli.err"); rc=$?
  set -e
  err=$(cat "$work/cli.err")
  [[ $rc -eq $want ]] || fail "lanspread $*: exit $rc, expected $want; stdout: $out; stderr: $err"
}
is_state() { "$bin" games "${A[@]}" | grep -qE "^$1 .* $2$"; }
for id in $b1 $b2 $b3 $b4; do
  wait_for 20 is_state "$id" remote || fail "alpha never listed bravo's $id as remote"
done

# --- piped: one line per 10 % per phase, in order, no raw events -------------
run_cli 0 download "${A[@]}" "$b1" --timeout 120
printf '%s\n' "$out" >"$work/piped.out"
! grep -q $'\r' "$work/piped.out" "$work/cli.err" || fail "piped download wrote carriage returns"
! grep -qE '^(download|install)-progress' "$work/piped.out" || fail "piped download printed raw progress events: $(head "$work/piped.out")"
for phase in download install; do
  python3 - "$work/piped.out" "$phase" "$b1" <<'PY' || fail "piped $phase lines are not one per 10 % step: $(cat "$work/piped.out")"
import re, sys
path, phase, game = sys.argv[1:]
steps = [int(m.group(1)) for m in (re.match(r"^%s %s: (\d+)%% " % (phase, re.escape(game)), l)
                                   for l in open(path)) if m]
ok = 1 <= len(steps) <= 10 and all(s % 10 == 0 for s in steps) and steps == sorted(set(steps))
sys.exit(0 if ok and steps[-1] == 100 else 1)
PY
done
lines=$(wc -l <"$work/piped.out")
(( lines <= 30 )) || fail "a piped download printed $lines lines"
grep -q "^install-finished $b1$" "$work/piped.out" || fail "piped download: no install-finished line"
# The same for a piped install alone (it had a line per event).
run_cli 0 uninstall "${A[@]}" "$b1"
run_cli 0 install "${A[@]}" "$b1"
! grep -q "install-progress" <<<"$out" || fail "piped install printed raw progress events"
n=$(grep -c "^install $b1: " <<<"$out" || true)
(( n >= 1 && n <= 10 )) || fail "piped install printed $n progress lines: $out"

# --- a terminal: one updating line (\r), a handful of real lines -------------
script -qefc "$bin download --state $work/sa $b2 --timeout 120" "$work/tty.out" >/dev/null 2>&1 </dev/null \
  || fail "download on a terminal failed: $(cat "$work/tty.out")"
python3 - "$work/tty.out" <<'PY' || fail "terminal download output is not one updating line: $(cat -v "$work/tty.out" | head -c 3000)"
import sys
text = open(sys.argv[1], "rb").read().decode("utf-8", "replace")
lines = text.count("\n")
redraws = text.count("\r") - text.count("\r\n")
# a few event lines; redraws bounded by the percent changes of two phases
sys.exit(0 if 0 < redraws <= 2 * 101 and lines <= 12 and "100%" in text else 1)
PY
is_state "$b2" installed || fail "the terminal download did not install $b2"

# --- Ctrl-C: the daemon is asked to cancel, and it says so ------------------
# bravo is stopped once the download runs, so it cannot end before the Ctrl-C;
# its upload is limited first, so the download runs long enough (on loopback
# 48 MiB could end between the poll that saw it and the stop).
run_cli 0 limits --state "$work/sb" --max-upload 8M
interrupt_download() { # GAME EXTRA-ARGS...: runs, stops bravo, sends SIGINT; sets rc
  local id=$1; shift
  "$bin" download "${A[@]}" "$id" --timeout 120 "$@" >"$work/int.out" 2>"$work/int.err" &
  local cli=$!
  wait_for 30 is_state "$id" downloading || { kill "$cli"; fail "$id never showed downloading"; }
  kill -STOP "$bravo_pid"
  sleep 0.3
  kill -INT "$cli"
  set +e; wait "$cli"; rc=$?; set -e
  kill -CONT "$bravo_pid"
}
interrupt_download "$b3"
[[ $rc -eq 130 ]] || fail "download interrupted by Ctrl-C exited $rc, expected 130: $(cat "$work/int.err")"
grep -q "asking the daemon to cancel the download of $b3" "$work/int.err" \
  && grep -q "the download of $b3 is canceled" "$work/int.err" || fail "Ctrl-C: $(cat "$work/int.err")"
wait_for 10 is_state "$b3" remote || fail "after Ctrl-C the download of $b3 still runs"

# --detach: Ctrl-C only stops waiting; the download goes on.
interrupt_download "$b4" --detach
[[ $rc -eq 130 ]] || fail "--detach interrupted exited $rc, expected 130"
grep -q "the download of $b4 goes on in the daemon" "$work/int.err" || fail "--detach: $(cat "$work/int.err")"
is_state "$b4" downloading || is_state "$b4" installed || fail "--detach: the download of $b4 did not go on"
wait_for 60 is_state "$b4" installed || fail "the detached download of $b4 never finished"
run_cli 0 download --help
grep -q -- "--detach" <<<"$out" && grep -q "130 interrupted" <<<"$out" || fail "download --help lacks --detach or exit code 130"

# --- clear messages and exit codes ------------------------------------------
url=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$work/sa/api.json")
run_cli 2 games --api "$url"
grep -q -- "--api $url needs the daemon's token: pass --token TOKEN" <<<"$err" || fail "--api without a token: $err"
! grep -q "no running daemon" <<<"$err" || fail "--api without a token says no daemon runs"
run_cli 4 download "${A[@]}" "$a_installed"
grep -q "game '$a_installed' is already installed here" <<<"$err" || fail "download of an installed game: $err"
run_cli 4 rescan "${A[@]}" nosuch
grep -q "no game 'nosuch' in the game directory" <<<"$err" || fail "rescan nosuch: $err"
run_cli 0 rescan "${A[@]}" "$a_installed"
echo "cli progress: all checks passed"
