#!/usr/bin/env bash
# Scan benchmark: cold (no index: every file hashed) and warm (index hit:
# stat only) scans of a 100-game x 200-file library, against
# `find DIR -type f -printf '%s %T@\n'` over the same tree in the same run.
# Wall time is the figure of merit; CPU time (user + sys, all threads) is
# printed beside it because on a shared, loaded machine it moves far less.
# Usage: bench/scan_bench.sh path/to/lanspread [games] [files-per-game] [file-size] [runs]
set -euo pipefail
bin=${1:?lanspread binary}
games=${2:-100}
files=${3:-200}
size=${4:-4096}
runs=${5:-5}
work=$(mktemp -d "${TMPDIR:-/tmp}/lsbench-scan-XXXXXX")
trap 'rm -rf "$work"' EXIT

"$bin" demo-library "$work/games" --games "$games" --files-per-game "$files" --file-size "$size" >/dev/null
echo "library: $games games x $files files of $size bytes ($(du -sh "$work/games" | cut -f1))"

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# Wall and CPU (user + sys) seconds of one run, measured by bash itself (no
# helper process inside).
time_cmd() { local TIMEFORMAT='%R %U %S'; { time "$@" >/dev/null 2>&1; } 2>&1; }

declare -A wall=() cpu=()
sample() {
  local name=$1 t
  shift
  t=$(time_cmd "$@")
  read -r r u s <<<"$t"
  wall[$name]+="$r "
  cpu[$name]+="$(echo "$u + $s" | bc) "
}
for ((i = 0; i < runs; i++)); do
  sample find find "$work/games" -type f -printf '%s %T@\n'
  rm -rf "$work/state"
  sample cold "$bin" scan "$work/games" --state "$work/state" --quiet
  sample warm "$bin" scan "$work/games" --state "$work/state" --quiet
done
m() { printf '%s\n' $1 | median; }
python3 - "$(m "${wall[find]}")" "$(m "${wall[cold]}")" "$(m "${wall[warm]}")" \
  "$(m "${cpu[find]}")" "$(m "${cpu[cold]}")" "$(m "${cpu[warm]}")" <<'PY'
import sys
f, c, w, fc, cc, wc = map(float, sys.argv[1:])
r = lambda a, b: a / b if b > 0 else float("inf")
print(f"median of runs     wall                    cpu (user+sys)")
print(f"find (baseline): {f*1000:8.1f} ms            {fc*1000:8.1f} ms")
print(f"cold scan:       {c*1000:8.1f} ms = {r(c,f):5.1f} x  {cc*1000:8.1f} ms = {r(cc,fc):5.1f} x  (hashes every byte)")
print(f"warm scan:       {w*1000:8.1f} ms = {r(w,f):5.1f} x  {wc*1000:8.1f} ms = {r(wc,fc):5.1f} x  (index hit, no file read)")
PY
