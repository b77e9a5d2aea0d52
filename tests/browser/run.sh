#!/usr/bin/env bash
# Browser test of the web UI: headless Chromium (Debian's, never a downloaded
# one) driven by playwright-core against two peers. alpha seeds one game with
# a large file, bravo (about 200 games, and a folder "My Game" the scan
# skips) has its UI opened: library sort/filter/search/dark mode/phone
# layout, the downloads panel (ETA, chart, per-peer rows), cancel -> resume
# with the kept percentage, focus kept during progress, adding a game, and
# (netns mode) a daemon restart the page recovers from by itself.
#
# Where: two hosts of the netns test bed (tests/netns/lib.sh) whose link from
# alpha is shaped to LS_BROWSER_RATE with tc htb, so the download lasts a few
# seconds; the browser logs in through the one-time link `lanspread open
# --print` gives and runs inside bravo's namespace and talks to its API on
# that namespace's loopback. Without root or namespaces: two daemons on
# loopback and a larger file. Prints SKIPPED and exits 0 when Chromium, node
# or playwright-core cannot be had (npm needs the network once; the package
# is then cached in the build directory).
# usage: run.sh LANSPREAD-BINARY   (LS_TEST_BINARY_DIR: build dir, for the
# cached package and the screenshots)
set -euo pipefail
bin=$(realpath "$1")
browser_dir=$(cd "$(dirname "$0")" && pwd)
PLAYWRIGHT_VERSION=1.65.1
chromium=${LS_CHROMIUM:-/usr/bin/chromium}
build_dir=${LS_TEST_BINARY_DIR:-$(pwd)}
deps="$build_dir/browser-deps"
rate=${LS_BROWSER_RATE:-40mbit}
skip() { echo "SKIPPED: $*"; exit 0; }

[[ -x $chromium ]] || skip "$chromium not installed (scripts/deps.sh installs Debian's chromium)"
timeout 60 "$chromium" --headless --no-sandbox --disable-gpu --version >/dev/null 2>&1 \
  || skip "$chromium does not start"
command -v node >/dev/null || skip "node not installed (scripts/deps.sh installs nodejs)"
command -v npm >/dev/null || skip "npm not installed (scripts/deps.sh installs npm)"
if [[ ! -f "$deps/node_modules/playwright-core/package.json" ]]; then
  mkdir -p "$deps"
  # playwright-core only: it never downloads a browser
  timeout 300 npm install --prefix "$deps" --no-save --no-audit --no-fund --no-package-lock \
    "playwright-core@$PLAYWRIGHT_VERSION" >"$deps/npm.log" 2>&1 \
    || skip "npm could not install playwright-core@$PLAYWRIGHT_VERSION (no network?), see $deps/npm.log"
fi
shots="$build_dir/screenshots"
rm -rf "$shots"; mkdir -p "$shots"

# Which mode: the netns bed if namespaces and tc work here.
mode=loopback
if [[ -z ${LS_BROWSER_LOOPBACK:-} ]] && command -v tc >/dev/null &&
   ! (source "$browser_dir/../netns/lib.sh"; netns_require) | grep -q SKIPPED; then
  mode=netns
fi
echo "mode: $mode"

# make_libraries DIR: alpha's games in DIR/a (the first grown by a big file),
# bravo's others in DIR/b; sets game to the one bravo will download.
make_libraries() {
  local big=$1
  "$bin" demo-library "$work/a" --games 3 --file-size 1024 >/dev/null
  # 197 local games + alpha's 3: the 200-card library of the screenshots
  "$bin" demo-library "$work/b" --games 200 --file-size 1024 >/dev/null
  for id in $(ls "$work/a"); do rm -rf "${work:?}/b/$id"; done
  game=$(ls "$work/a" | sed -n 1p) # sed reads all: no SIGPIPE under pipefail
  truncate -s "$big" "$work/a/$game/maps.pak" # sparse: cheap to make, real bytes on the wire
  # alpha's second game has a cover: bravo's page shows it before downloading
  cover_game=$(ls "$work/a" | sed -n 2p)
  python3 - "$work/a/$cover_game/cover.png" <<'EOF'
import struct, sys, zlib
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
rows = b"".join(b"\0" + bytes([x * 4, 255 - x * 4, 128]) * 64 for x in range(64))
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 64, 64, 8, 2, 0, 0, 0))
                              + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
EOF
  # a game of one's own the catalog does not list (and a name no id can be)
  mkdir -p "$work/b/My Game"
  echo "my own game" >"$work/b/My Game/readme.txt"
}

run_browser() { # run_browser PREFIX-COMMAND... : runs ui_test.mjs
  local url
  # The page needs a one-time login link, the way a user gets one.
  url=$("$@" "$bin" open --state "$work/sb" --print) || { echo "FAIL: lanspread open" >&2; return 1; }
  "$@" env NODE_PATH="$deps/node_modules" HOME="$work" node "$browser_dir/ui_test.mjs" \
    --url "$url" --game "$game" --cover "$cover_game" --peer alpha --chromium "$chromium" \
    --profile "$work/chromium-profile" --shots "$shots" --restart "${restart_dir:-}"
}

# The test asks for daemon restarts by writing "normal" (a plain restart:
# a new API token, the same session key, so the page must recover by
# itself) or "logout" (the state directory's session.key deleted first:
# every browser must log in again) into $restart_dir/request; this loop, in
# the script that owns the daemons, restarts bravo and answers with
# $restart_dir/done ("WHAT token-changed" when api.json's token differs, as
# it does on every start). Bounded by the test's own time limit and by the
# browser process's life.
serve_restarts() { # serve_restarts BROWSER-PID
  local pid=$1 deadline=$(( $(date +%s) + 300 )) n=0 what old new
  while kill -0 "$pid" 2>/dev/null && (( $(date +%s) < deadline )); do
    if [[ -f $restart_dir/request ]]; then
      what=$(cat "$restart_dir/request"); rm -f "$restart_dir/request"
      n=$((n + 1))
      old=$(api_token)
      netns_stop "bravo"
      [[ $what == logout ]] && rm -f "$work/sb/session.key"
      start_bravo_netns "bravo"
      netns_wait 15 test -f "$work/sb/api.json" || echo "restart $n: bravo wrote no api.json" >&2
      new=$(api_token)
      echo "$what$([[ -n $new && $new != "$old" ]] && echo ' token-changed')" >"$restart_dir/done"
    fi
    sleep 0.1
  done
}
api_token() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$work/sb/api.json" 2>/dev/null || true; }

started=$(date +%s%N)
if [[ $mode == netns ]]; then
  source "$browser_dir/../netns/lib.sh"
  work=$(mktemp -d "${TMPDIR:-/tmp}/lstest-browser-XXXXXX")
  export XDG_CONFIG_HOME="$work/config" XDG_STATE_HOME="$work/xdg-state"
  # No EXIT trap of our own: netns_down (installed by netns_up) keeps the
  # script's status, dumps the logs on failure and removes $work once the
  # daemons are stopped. A trap running commands before netns_down handed it
  # their status instead of ours: a failed run passed.
  netns_at_exit rm -rf "$work"
  netns_up 2 || { echo "FAIL: netns_up" >&2; exit 1; }
  h1=$(netns_host 1)
  # alpha's uploads leave through its eth0: shape them
  ip netns exec "$h1" tc qdisc add dev eth0 root handle 1: htb default 10
  ip netns exec "$h1" tc class add dev eth0 parent 1: classid 1:10 htb rate "$rate" ceil "$rate" quantum 1514
  # big enough that the panel checks finish before half of it, even when
  # the link runs faster than $rate (seen: 14 MiB/s through the htb class)
  make_libraries 192M
  : >"$work/a.conf"; : >"$work/b.conf"
  netns_run 1 alpha "$bin" daemon --games "$work/a" --state "$work/sa" --name alpha \
    --listen "$(netns_addr 1):7100" --http 127.0.0.1:0 --config "$work/a.conf" --no-mdns --json-events
  # bravo's UI on a fixed port of its own namespace's loopback: a restarted
  # bravo is at the same address, with a new random API token each start
  start_bravo_netns() {
    rm -f "$work/sb/api.json"
    netns_run 2 "$1" "$bin" daemon --games "$work/b" --state "$work/sb" --name bravo \
      --listen "$(netns_addr 2):7100" --peer "$(netns_addr 1):7100" --http 127.0.0.1:7797 \
      --config "$work/b.conf" --no-mdns --json-events
  }
  start_bravo_netns bravo
  netns_wait 15 test -f "$work/sb/api.json" || { echo "FAIL: bravo wrote no api.json" >&2; exit 1; }
  restart_dir="$work/restart"; mkdir -p "$restart_dir"
  run_browser ip netns exec "$(netns_host 2)" &
  browser_pid=$!
  serve_restarts "$browser_pid"
  wait "$browser_pid" || { echo "FAIL: browser test failed" >&2; exit 1; }
else
  source "$browser_dir/../cli/lib_daemons.sh" "$bin"
  make_libraries 512M
  start_daemons
  run_browser || fail "browser test failed"
fi
echo "browser test ($mode): passed in $(( ($(date +%s%N) - started) / 1000000 )) ms; screenshots in $shots"
