#!/usr/bin/env bash
# Playing-watch benchmark (issue #17): what reading /proc once per
# LS_PLAYING_SCAN_MS costs an idle PC, a steady walk (processes remembered)
# against a full one (every exe read) in the same run
# (bench/bench_playing.c says what each row times).
# Usage: bench/bench_playing.sh path/to/lanspread [runs]
set -euo pipefail
bin=${1:?lanspread binary}
"$(dirname "$bin")/bench_playing" "${2:-200}"
