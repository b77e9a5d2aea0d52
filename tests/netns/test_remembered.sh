#!/usr/bin/env bash
# Peers remembered across restarts: two peers find each other over mDNS,
# then both restart with multicast dropped in their namespaces (a blackhole
# route for 224.0.0.0/4, eth0 without MULTICAST) and no --peer: they list
# each other again only through the peers they remembered in
# STATE/peers.json. Then the same restart with the files removed: they stay
# apart (the control: without remembered peers, blocked multicast wins).
# Usage: test_remembered.sh [path/to/lanspread]   (needs root; skips otherwise)
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/netns/lib.sh
source "$here/lib.sh"

bin=${1:-$NETNS_BUILD_DIR/lanspread}
netns_require
netns_need_bin "$bin"

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

start_peer() { # NAME HOST [ARGS...]
  local name=$1 host=$2
  shift 2
  [[ -d $work/$name-games ]] || make_game "$work/$name-games" "game-$name"
  netns_run "$host" "$name" "$bin" daemon --games "$work/$name-games" --state "$work/$name-state" \
    --name "$name" --listen "0.0.0.0:7400" --catalog "$catalog" --no-http --ping-ms 500 --json-events "$@"
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

# Stops both peers and keeps their logs under TAG.
stop_both() { # TAG
  local n
  for n in p1 p2; do
    netns_stop "$n"
    mv "$work/$n.out" "$work/$n-$1.out"
    mv "$work/$n.err" "$work/$n-$1.err"
  done
}

start_peer p1 1
start_peer p2 2
if netns_wait 20 lists p1 game-p2 && netns_wait 5 lists p2 game-p1; then
  pass "two peers find each other over mDNS"
else
  fail "two peers did not find each other over mDNS"
fi
# Saved LS_KNOWN_SAVE_DELAY_MS (5 s) after the link came.
for n in p1 p2; do
  netns_wait 10 test -s "$work/$n-state/peers.json" || fail "$n wrote no peers.json"
done
grep -q "$(netns_addr 2):7400" "$work/p1-state/peers.json" 2>/dev/null || fail "p1 did not remember p2's address"

# Both restart on a network without multicast: mDNS runs and finds nobody,
# and neither keeps an mDNS record of the other from before. The first dials
# of remembered peers come LS_KNOWN_FIRST_DIAL_MS after the start, on their
# own timer: with the runtime's reconnect tick set to 10 s, they list each
# other within REMEMBERED_BOUND_S (0.35 s measured). Before, they waited
# for a dial pass of the runtime: its reconnect tick (2 s by default) or
# the party sized by mDNS at MDNS_PARTY_SIZED_MS (3 s measured here: red).
stop_both mdns
block_multicast 1 || fail "could not drop multicast on host 1"
block_multicast 2 || fail "could not drop multicast on host 2"
REMEMBERED_BOUND_S=2
t0=$(netns_now_ms)
start_peer p1 1 --reconnect-ms 10000
start_peer p2 2 --reconnect-ms 10000
both_list() { lists p1 game-p2 && lists p2 game-p1; }
if netns_wait "$REMEMBERED_BOUND_S" both_list; then
  pass "restarted with multicast dropped, p1 and p2 list each other again ($(($(netns_now_ms) - t0)) ms) through the peers they remembered"
else
  fail "restarted with multicast dropped, p1 and p2 did not list each other again within $REMEMBERED_BOUND_S s"
fi
grep -q '"mdns":true' "$work/p1.out" || fail "p1 did not run mDNS (the drop, not --no-mdns, must block it)"

# The control: the same restart without the remembered peers keeps them
# apart, so what brought them together above was the remembered peers.
stop_both remembered
rm -f "$work/p1-state/peers.json" "$work/p2-state/peers.json"
start_peer p1 1
start_peer p2 2
netns_wait 20 grep -q '"event":"ready"' "$work/p1.out" || fail "p1 not ready in the control run"
netns_wait 20 grep -q '"event":"ready"' "$work/p2.out" || fail "p2 not ready in the control run"
sleep 5
if lists p1 game-p2 || lists p2 game-p1; then
  fail "with multicast dropped and nothing remembered, p1 and p2 still found each other: the test proves nothing"
else
  pass "control: without remembered peers, dropped multicast keeps p1 and p2 apart"
fi

netns_verdict "all remembered-peer scenarios passed"
