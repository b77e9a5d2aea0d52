#!/usr/bin/env bash
# Peers remembered across restarts: two peers find each other over mDNS,
# then p1 is restarted with multicast dropped in its namespace (a blackhole
# route for 224.0.0.0/4, eth0 without MULTICAST) and no --peer: they list each
# other again only through the peers each remembered in STATE/peers.json.
# Then the same restart with p1's peers.json removed: nobody comes back
# (the control: without the remembered peers, blocked multicast wins).
# Usage: test_remembered.sh [path/to/lanspread]   (needs root; skips otherwise)
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/netns/lib.sh
source "$here/lib.sh"

bin=${1:-${LS_TEST_BINARY_DIR:-$here/../../build}/lanspread}
failures=0
netns_require
[[ -x $bin ]] || { echo "FAIL: lanspread not found at $bin"; exit 1; }

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

netns_up 2 || { echo "FAIL: could not build the test bed"; exit 1; }
work=$NETNS_LOG_DIR
catalog=$work/catalog.json
printf '{"catalog_version":1,"games":[%s,%s]}\n' \
  '{"id":"game-p1","name":"game-p1","description":"netns test game","genre":"test","max_players":2,"release_year":2000}' \
  '{"id":"game-p2","name":"game-p2","description":"netns test game","genre":"test","max_players":2,"release_year":2000}' >"$catalog"

make_game() { # dir id
  mkdir -p "$1/$2"
  head -c 4096 /dev/urandom >"$1/$2/$2.bin"
  echo "version=1" >"$1/$2/version.ini"
}

start_peer() { # NAME HOST
  local name=$1 host=$2
  [[ -d $work/$name-games ]] || make_game "$work/$name-games" "game-$name"
  netns_run "$host" "$name" "$bin" daemon --games "$work/$name-games" --state "$work/$name-state" \
    --name "$name" --listen "0.0.0.0:7400" --catalog "$catalog" --no-http --ping-ms 500 --json-events
}

lists() { # NAME ID: NAME's latest list-games event holds ID
  grep -F '"event":"list-games"' "$work/$1.out" 2>/dev/null | tail -n 1 | grep -qF "\"id\":\"$2\""
}

# No multicast in or out of host I: what a network that blocks it does. The
# namespace's routes drop it (a blackhole for 224.0.0.0/4), and eth0 loses
# its MULTICAST flag, so mDNS neither joins the group there nor sends: an
# mDNS group address is routed by the interface, not by that route.
block_multicast() {
  ip -n "$(netns_host "$1")" route add blackhole 224.0.0.0/4 &&
    ip -n "$(netns_host "$1")" link set eth0 multicast off
}

restart_p1() { # TAG
  netns_stop p1
  mv "$work/p1.out" "$work/p1-$1.out"
  mv "$work/p1.err" "$work/p1-$1.err"
  mv "$work/p2.out" "$work/p2-$1.out" # p2 goes on; its new lines go to a fresh file
  : >"$work/p2.out"
  start_peer p1 1
}



start_peer p1 1
start_peer p2 2
if netns_wait 20 lists p1 game-p2 && netns_wait 5 lists p2 game-p1; then
  pass "two peers find each other over mDNS"
else
  fail "two peers did not find each other over mDNS"
fi
netns_wait 5 test -s "$work/p1-state/peers.json" || fail "p1 wrote no peers.json"
grep -q "$(netns_addr 2):7400" "$work/p1-state/peers.json" 2>/dev/null || fail "p1 did not remember p2's address"

block_multicast 1 || fail "could not drop multicast on host 1"
p2_out=p2-remembered.out
mark=$(grep -c '"event":"list-games"' "$work/p2.out")
restart_p1 remembered
t0=$(netns_now_ms)
p2_sees_p1_anew() {
  tail -n "+$((mark + 1))" <(grep -F '"event":"list-games"' "$work/$p2_out") | grep -qF '"id":"game-p1"'
}
if netns_wait 20 lists p1 game-p2; then
  pass "p1, restarted with multicast dropped, lists p2 again ($((($(netns_now_ms) - t0))) ms) through its remembered peers"
else
  fail "p1, restarted with multicast dropped, did not find p2 again"
fi
grep -q '"mdns":true' "$work/p1.out" || fail "p1 did not run mDNS (the drop, not --no-mdns, must block it)"
netns_wait 10 p2_sees_p1_anew || fail "p2 did not list p1 again after its restart"

# The control: p1 forgets what it remembered; with multicast still
# dropped, nobody finds it. p2 must forget p1 as well (it would dial p1's
# remembered address), so it restarts too, without its file.
netns_stop p2
rm -f "$work/p2-state/peers.json"
p2_out=p2.out
restart_p1 control
rm -f "$work/p1-state/peers.json"
netns_stop p1
start_peer p1 1
start_peer p2 2
sleep 6
if lists p1 game-p2 || lists p2 game-p1; then
  fail "with multicast dropped and nothing remembered, p1 and p2 still found each other: the test proves nothing"
else
  pass "control: without remembered peers, multicast dropped keeps p1 and p2 apart"
fi

if [[ $failures -ne 0 ]]; then
  echo "FAILED: $failures check(s)"
  exit 1
fi
echo "all remembered-peer scenarios passed"
