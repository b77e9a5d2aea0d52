#!/usr/bin/env bash
# Scan benchmark: cold (no index: every file hashed) and warm (index hit:
# stat only) scans of a 100-game x 200-file library, against
# `find DIR -type f -printf '%s %T@\n'` over the same tree in the same run.
# Usage: bench/scan_bench.sh path/to/lanspread [games] [files-per-game] [file-size]
set -euo pipefail
bin=${1:?lanspread binary}
games=${2:-100}
files=${3:-200}
size=${4:-4096}
runs=5
work=$(mktemp -d "${TMPDIR:-/tmp}/lsbench-scan-XXXXXX")
trap 'rm -rf "$work"' EXIT

"$bin" demo-library "$work/games" --games "$games" --files-per-game "$files" --file-size "$size" >/dev/null
echo "library: $games games x $files files of $size bytes ($(du -sh "$work/games" | cut -f1))"

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# Wall seconds of one run, measured by bash itself (no helper process inside).
time_cmd() { local TIMEFORMAT=%R; { time "$@" >/dev/null 2>&1; } 2>&1; }

find_times=(); cold_times=(); warm_times=()
for ((i = 0; i < runs; i++)); do
  find_times+=("$(time_cmd find "$work/games" -type f -printf '%s %T@\n')")
  rm -rf "$work/state"
  cold_times+=("$(time_cmd "$bin" scan "$work/games" --state "$work/state" --quiet)")
  warm_times+=("$(time_cmd "$bin" scan "$work/games" --state "$work/state" --quiet)")
done
find_s=$(printf '%s\n' "${find_times[@]}" | median)
cold_s=$(printf '%s\n' "${cold_times[@]}" | median)
warm_s=$(printf '%s\n' "${warm_times[@]}" | median)
python3 - "$find_s" "$cold_s" "$warm_s" <<'PY'
import sys
f, c, w = map(float, sys.argv[1:])
print(f"find (baseline): {f*1000:8.1f} ms")
print(f"cold scan:       {c*1000:8.1f} ms  = {c/f:5.1f} x find  (hashes every byte)")
print(f"warm scan:       {w*1000:8.1f} ms  = {w/f:5.1f} x find  (index hit, no file read)")
PY
