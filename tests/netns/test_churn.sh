#!/usr/bin/env bash
# Links target under churn (issue #17, docs/ARCHITECTURE.md "Which links,
# and on demand"): a peer whose preferred peers left the party must dial
# the newcomers, whose ranks are larger. Six hosts on a network that drops
# multicast, so every peer is learnt from `peers` (deterministic). h stays
# all along and dials nobody; d1 and d2 (the two smallest ranks for a,
# chosen by their identities before any start) and later n1 and n2 (the
# two largest) link only h (--peer, --links-target 1), so only a can make
# the link between a and them; a (--links-target 2) knows only h and
# learns the others from h's `peers` (its first one names the ds, the
# next ones the ns). a dials a d; the ds stop; the ns start: a must dial
# a newcomer and list the newcomers' games (before the fix the ranks of
# the peers that left stayed preferred and a never did: it kept h alone).
# Usage: test_churn.sh [path/to/lanspread]   (needs root; skips otherwise)
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/netns/lib.sh
source "$here/lib.sh"

bindir=${LS_TEST_BINARY_DIR:-$here/../../build}
bin=${1:-$bindir/lanspread}
ident=$(dirname "$bin")/ls_identity
link_s=30 # a dials a d, later a newcomer, within this (a dead d's dial may take the handshake timeout, 10 s)
weigh_s=3
failures=0
netns_require
[[ -x $bin ]] || { echo "FAIL: lanspread not found at $bin"; exit 1; }
[[ -x $ident ]] || { echo "FAIL: ls_identity not found at $ident"; exit 1; }

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

netns_up 6 || { echo "FAIL: could not build the test bed"; exit 1; }
work=$NETNS_LOG_DIR
catalog=$work/catalog.json
names=(h a d1 d2 n1 n2)
{
  printf '{"catalog_version":1,"games":['
  sep=""
  for name in "${names[@]}"; do
    printf '%s{"id":"game-%s","name":"game-%s","description":"netns test game","genre":"test","max_players":2,"release_year":2000}' \
      "$sep" "$name" "$name"
    sep=","
  done
  printf ']}\n'
} >"$catalog"

for name in "${names[@]}"; do
  mkdir -p "$work/$name-games/game-$name"
  head -c 4096 /dev/urandom >"$work/$name-games/game-$name/game-$name.bin"
  echo "version=1" >"$work/$name-games/game-$name/version.ini"
done
for i in 1 2 3 4 5 6; do
  # No multicast in or out (as in test_peer_exchange.sh): mDNS finds nobody.
  ip -n "$(netns_host "$i")" route add blackhole 224.0.0.0/4 || exit 1
  ip -n "$(netns_host "$i")" link set eth0 multicast off || exit 1
done

# Identities: a and a pool of eight; the pool sorted by link rank for a
# (the first 8 bytes of SHA-256(a's id || theirs), as hex: sorts as a number).
declare -A id
"$ident" "$work/a-state" >"$work/ids" 2>/dev/null || { echo "FAIL: no identity made"; exit 1; }
for k in 1 2 3 4 5 6 7 8; do
  "$ident" "$work/pool$k-state" >>"$work/ids" 2>/dev/null || { echo "FAIL: no identity made"; exit 1; }
done
while read -r dir pid; do id[${dir##*/}]=$pid; done <"$work/ids"
mapfile -t ranked < <(for k in 1 2 3 4 5 6 7 8; do
  printf '%s pool%s\n' "$(printf '%s%s' "${id[a-state]}" "${id[pool$k-state]}" | sha256sum | cut -c1-16)" "$k"
done | sort | awk '{print $2}')
mv "$work/${ranked[0]}-state" "$work/d1-state"
mv "$work/${ranked[1]}-state" "$work/d2-state"
mv "$work/${ranked[6]}-state" "$work/n1-state"
mv "$work/${ranked[7]}-state" "$work/n2-state"
id[d1]=${id[${ranked[0]}-state]} id[d2]=${id[${ranked[1]}-state]}
id[n1]=${id[${ranked[6]}-state]} id[n2]=${id[${ranked[7]}-state]}

start() { # HOST NAME EXTRA...: NAME on host HOST, its identity kept
  local i=$1 name=$2
  shift 2
  netns_run "$i" "$name" "$bin" daemon --games "$work/$name-games" --state "$work/$name-state" \
    --name "$name" --listen "0.0.0.0:7400" --catalog "$catalog" --no-http --json-events "$@"
}

lists() { # NAME GAME: NAME's latest list-games event holds GAME
  grep -F '"event":"list-games"' "$work/$1.out" 2>/dev/null | tail -n 1 | grep -qF "\"id\":\"$2\""
}

dialled() { # WHO: a dialled WHO and the handshake completed
  grep -qE "${id[$1]:0:12} at [0-9.:]+: linked \(dialled\)" "$work/a.err"
}

dialled_any() { # WHO...: a dialled one of them
  local who
  for who in "$@"; do dialled "$who" && return 0; done
  return 1
}

h=$(netns_addr 1):7400
start 1 h
netns_wait 5 grep -q 'listening on port' "$work/h.err" || fail "h did not start"
start 2 d1 --peer "$h" --links-target 1
start 3 d2 --peer "$h" --links-target 1
{ netns_wait 10 lists h game-d1 && netns_wait 5 lists h game-d2; } || fail "h did not link d1 and d2"
start 4 a --peer "$h" --links-target 2 --verbose
netns_wait 10 lists a game-h || fail "a did not link h"
if netns_wait "$link_s" dialled_any d1 d2; then
  pass "a dialled one of its two preferred peers"
else
  fail "a dialled neither d1 nor d2 (the test would prove nothing)"
fi

# a weighs the other d too (the larger peer_id of a pair waits
# MDNS_YIELD_MS, 0.5 s, before it dials; the reconnect tick follows):
# both ranks are then among a's preferred.
sleep "$weigh_s"
# The preferred peers leave; the newcomers, ranked after them, come.
netns_stop d1
netns_stop d2
start 5 n1 --peer "$h" --links-target 1
start 6 n2 --peer "$h" --links-target 1
if netns_wait "$link_s" dialled_any n1 n2; then
  pass "a dialled a newcomer once its preferred peers had left"
else
  fail "a never dialled a newcomer: the ranks of the peers that left kept their places"
fi
{ netns_wait 10 lists a game-n1 && netns_wait 5 lists a game-n2; } ||
  fail "a does not list the newcomers' games"

if ((failures)); then
  netns_dump_logs
  echo "FAILED: $failures check(s)"
  exit 1
fi
echo "churn: a linked the newcomers after its preferred peers left"
