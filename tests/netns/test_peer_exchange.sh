#!/usr/bin/env bash
# Peer exchange (issue #17, PROTOCOL.md "peers"): three hosts on a network
# that drops multicast (so mDNS finds nobody). p1 and p3 each know only p2
# (--peer); p2 knows nobody. Through p2's `peers` message p1 and p3 learn of
# each other and link: each lists the other's game. The control: the same
# party with --no-peer-exchange (peers from before the feature) leaves p1
# and p3 apart while both still list p2's game; and a p2 without the
# feature between two peers that have it tells nobody anything either.
# Usage: test_peer_exchange.sh [path/to/lanspread]   (needs root; skips otherwise)
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/netns/lib.sh
source "$here/lib.sh"

bin=${1:-$NETNS_BUILD_DIR/lanspread}
apart_s=6 # how long p1 and p3 must stay apart in the controls
netns_require
netns_need_bin "$bin"

netns_up 3 || { echo "FAIL: could not build the test bed"; exit 1; }
work=$NETNS_LOG_DIR
catalog=$work/catalog.json
printf '{"catalog_version":1,"games":[%s,%s,%s]}\n' \
  '{"id":"game-p1","name":"game-p1","description":"netns test game","genre":"test","max_players":2,"release_year":2000}' \
  '{"id":"game-p2","name":"game-p2","description":"netns test game","genre":"test","max_players":2,"release_year":2000}' \
  '{"id":"game-p3","name":"game-p3","description":"netns test game","genre":"test","max_players":2,"release_year":2000}' >"$catalog"

for i in 1 2 3; do
  mkdir -p "$work/p$i-games/game-p$i"
  head -c 4096 /dev/urandom >"$work/p$i-games/game-p$i/game-p$i.bin"
  echo "version=1" >"$work/p$i-games/game-p$i/version.ini"
  # No multicast in or out (as in test_remembered.sh): mDNS runs, finds nobody.
  ip -n "$(netns_host "$i")" route add blackhole 224.0.0.0/4 || exit 1
  ip -n "$(netns_host "$i")" link set eth0 multicast off || exit 1
done

start_peer() { # I EXTRA...: p<I> on host I, a fresh identity
  local i=$1
  shift
  rm -rf "$work/p$i-state"
  netns_run "$i" "p$i" "$bin" daemon --games "$work/p$i-games" --state "$work/p$i-state" \
    --name "p$i" --listen "0.0.0.0:7400" --catalog "$catalog" --no-http --json-events "$@"
}

lists() { # NAME ID: NAME's latest list-games event holds ID
  grep -F '"event":"list-games"' "$work/$1.out" 2>/dev/null | tail -n 1 | grep -qF "\"id\":\"$2\""
}

stop_all() { # TAG: stops p1..p3 and keeps their logs under TAG
  local i
  for i in 1 2 3; do
    netns_stop "p$i"
    mv "$work/p$i.out" "$work/p$i-$1.out"
    mv "$work/p$i.err" "$work/p$i-$1.err"
  done
}

# party F1 F2 F3: starts p1..p3 with those extra flags ("-" for none); p2
# first, so the others' --peer finds it listening.
party() {
  local -a flags=("$@") args
  local i
  for i in 2 1 3; do
    args=()
    [[ ${flags[i - 1]} == - ]] || args+=("${flags[i - 1]}")
    ((i == 2)) || args+=(--peer "$(netns_addr 2):7400")
    start_peer "$i" "${args[@]}"
  done
}

# 1. With peer exchange: p1 and p3 meet through p2.
party - - -
if netns_wait 15 lists p1 game-p3 && netns_wait 5 lists p3 game-p1; then
  pass "p1 and p3 list each other's game, told of each other by p2"
else
  fail "p1 and p3 did not meet through p2's peers message"
fi
{ lists p1 game-p2 && lists p3 game-p2; } || fail "p1 and p3 do not list p2's game"
grep -qE 'peer +p3 \([0-9a-f]+\) at 198\.18\.0\.3:7400' "$work/p1.err" ||
  fail "p1 did not link p3 at the address p3 listens on"
stop_all pex

# 2. Control: peers without the feature stay apart (nothing else joins them).
party --no-peer-exchange --no-peer-exchange --no-peer-exchange
{ netns_wait 15 lists p1 game-p2 && netns_wait 5 lists p3 game-p2; } ||
  fail "control: p1 and p3 did not reach p2"
sleep "$apart_s"
if lists p1 game-p3 || lists p3 game-p1; then
  fail "control: p1 and p3 met without peer exchange (the test would prove nothing)"
else
  pass "control: without peer exchange p1 and p3 stay apart (${apart_s} s)"
fi
stop_all old

# 3. A p2 from before the feature is sent no `peers` and sends none: the
# two new peers still work with it and stay apart.
party - --no-peer-exchange -
{ netns_wait 15 lists p1 game-p2 && netns_wait 5 lists p3 game-p2; } ||
  fail "mixed: p1 and p3 did not reach the old p2"
sleep "$apart_s"
if lists p1 game-p3 || lists p3 game-p1; then
  fail "mixed: p1 and p3 met through a p2 without the feature"
else
  pass "mixed: an old p2 links with both and tells nobody of anybody"
fi
grep -qiE 'peers.*(refused|invalid|unknown)' "$work/p2.err" && fail "mixed: the old p2 logged a peers message"
stop_all mixed

netns_verdict "all peer exchange scenarios passed"
