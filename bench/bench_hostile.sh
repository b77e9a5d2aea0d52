#!/usr/bin/env bash
# The hostile-peer figures (issue #14) as a benchmark: runs
# tests/netns/test_hostile.sh with LS_HOSTILE_EXPECT=0, which prints the
# download's time unloaded and under attack (and their ratio, the same-run
# baseline), the attacked seeder's peak RSS and most open file descriptors,
# and the attacker's counters, without failing on them. Exits non-zero only
# when the figures could not be taken (the unloaded download failed, the
# attacker never connected).
# Usage: bench_hostile.sh [<build>/lanspread]   (root; skips otherwise)
# Env: LS_HOSTILE_MODES (ls_hostile --modes, default all), NETNS_KEEP_LOGS=1.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
lanspread=${1:-$here/../build/lanspread}
LS_HOSTILE_EXPECT=0 exec bash "$here/../tests/netns/test_hostile.sh" "$(dirname "$lanspread")"
