#!/usr/bin/env bash
# PeerGameDB benchmark: the loop-thread cost of a peer announcing 10,000
# games (hello, deltas, the game list and its list-games event, GET
# /api/games), as ratios to decoding its hello in the same run
# (bench/bench_peerdb.c says what each row times).
# Usage: bench/bench_peerdb.sh path/to/lanspread [games] [other-peers] [runs]
set -euo pipefail
bin=${1:?lanspread binary}
"$(dirname "$bin")/bench_peerdb" "${2:-10000}" "${3:-4}" "${4:-5}"
