#!/usr/bin/env bash
# A multi-host download benchmark (issue #5): one downloader with a 1 Gbit/s
# link, four seeders with uplinks of 400, 400, 400 and 50 Mbit/s, each a
# network namespace on one bridge, shaped with `tc ... htb` (tests/netns).
# The same game (LS_BENCH_GIB GiB in LS_BENCH_FILES files, default 4 x 1 GiB)
# is fetched three times in one run:
#   1. lanspread, adaptive plan  (ls_fetch: the peer runtime; seeders are
#      `lanspread daemon`)
#   2. lanspread, round-robin plan (the seed's plan, same code, --plan)
#   3. aria2c from nginx on the same seeder hosts, every file split across
#      the 4 mirrors
# and compared with the ideal: size / min(downlink, sum of uplinks).
# Every result's files are checked against the source with SHA-256.
# The downloader writes to a tmpfs: this machine's disk syncs at ~260 MB/s,
# so the fsync of the commit would measure the disk, not the plan.
# Usage: bench_download.sh [<build>/lanspread]   (root; skips otherwise)
# Env: LS_BENCH_GIB (4), LS_BENCH_FILES (4), LS_BENCH_RUNS ("adaptive round-robin aria2c"),
# NETNS_KEEP_LOGS=1.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/netns/lib.sh
source "$here/../tests/netns/lib.sh"
# shellcheck source=tests/netns/shape.sh
source "$here/../tests/netns/shape.sh"

lanspread=${1:-$here/../build/lanspread}
bin_dir=$(cd "$(dirname "$lanspread")" && pwd)
fetch=$bin_dir/ls_fetch
gib=${LS_BENCH_GIB:-4}
files=${LS_BENCH_FILES:-4}
game=benchgame
port=7000
http_port=8080
downlink_mbit=1000
uplinks_mbit=(400 400 400 50) # hosts 2..5
timeout_s=900

netns_require
netns_shape_require
for b in "$lanspread" "$fetch"; do
  [[ -x $b ]] || { echo "bench_download: $b not found (build first)"; exit 1; }
done
for tool in aria2c nginx python3; do
  command -v "$tool" >/dev/null || { echo "bench_download: $tool missing (scripts/deps.sh)"; exit 1; }
done

bytes=$((gib << 30))
need_kb=$(((bytes >> 10) * 5 / 4))
avail_kb=$(df -Pk /tmp | awk 'NR == 2 {print $4}')
((avail_kb > need_kb)) || { echo "bench_download: need $((need_kb >> 20)) GiB free in /tmp"; exit 1; }

data=$(mktemp -d /tmp/lanspread-bench.XXXXXX)
chmod 755 "$data"
target=$data/target
# Run by netns_down once every seeder and downloader is stopped (no EXIT
# trap of our own: it would have to keep $? intact for netns_down).
cleanup_bench() {
  if mountpoint -q "$target"; then umount -l "$target"; fi
  rm -rf "$data"
}
netns_at_exit cleanup_bench
netns_up 5 || { echo "bench_download: could not build the test bed"; exit 1; }

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# ---- the game: incompressible bytes, fast (AES-CTR keystream) ----
src=$data/src/$game
mkdir -p "$src"
per_file=$((bytes / files))
t0=$(date +%s.%N)
for ((f = 1; f <= files; f++)); do
  openssl enc -aes-128-ctr -nosalt -pass "pass:lanspread-bench-$f" -in /dev/zero 2>/dev/null |
    head -c "$per_file" >"$src/part-$f.bin"
done
echo "version=1.0" >"$src/version.ini"
log "made ${gib} GiB in $files files in $(echo "$(date +%s.%N) - $t0" | bc) s"
catalog=$data/catalog.json
echo "{\"games\":[{\"id\":\"$game\",\"name\":\"Bench Game\"}]}" >"$catalog"
(cd "$src" && sha256sum part-*.bin version.ini) >"$data/source.sha256"

# ---- shaping ----
netns_shape_down 1 "${downlink_mbit}mbit" || { echo "bench_download: shaping failed"; exit 1; }
for i in 2 3 4 5; do
  netns_shape_up "$i" "${uplinks_mbit[i - 2]}mbit" || { echo "bench_download: shaping failed"; exit 1; }
done

# ---- seeders: lanspread daemon and nginx on hosts 2..5 ----
mkdir -p "$data/nginx"
for i in 2 3 4 5; do
  mkdir -p "$data/seed$i/games"
  cp -al "$src" "$data/seed$i/games/$game"
  netns_run "$i" "seed$i" "$lanspread" daemon --games "$data/seed$i/games" \
    --state "$data/seed$i/state" --listen "$(netns_addr "$i"):$port" --catalog "$catalog" \
    --json-events --no-mdns
  conf=$data/nginx/h$i.conf
  mkdir -p "$data/nginx/h$i"
  cat >"$conf" <<EOF
user root;
worker_processes 1;
daemon off;
pid $data/nginx/h$i/nginx.pid;
error_log $data/nginx/h$i/error.log;
events { worker_connections 256; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  client_body_temp_path $data/nginx/h$i/body;
  proxy_temp_path $data/nginx/h$i/proxy;
  fastcgi_temp_path $data/nginx/h$i/fastcgi;
  uwsgi_temp_path $data/nginx/h$i/uwsgi;
  scgi_temp_path $data/nginx/h$i/scgi;
  server {
    listen $(netns_addr "$i"):$http_port;
    root $data/seed$i/games;
  }
}
EOF
  netns_run "$i" "nginx$i" nginx -c "$conf" -p "$data/nginx/h$i"
done
is_ready() { grep -q '"event":"ready"' "$NETNS_LOG_DIR/$1.out" 2>/dev/null; }
t0=$(date +%s)
for i in 2 3 4 5; do
  netns_wait 600 is_ready "seed$i" || { echo "bench_download: seeder $i not ready"; netns_dump_logs; exit 1; }
done
log "seeders ready (library scans) in $(($(date +%s) - t0)) s"

# ---- runs ----
mkdir -p "$target"
mount -t tmpfs -o "size=$((gib + 1))g,mode=0755" lsbench "$target" ||
  { echo "bench_download: cannot mount a tmpfs for the downloader"; exit 1; }

verify() { (cd "$1" && sha256sum --quiet -c "$data/source.sha256"); }

# CPU seconds (user+sys) of all our processes, for the CPU-limit check.
cpu_total() {
  local pid sum=0 t
  for pid in "$@"; do
    t=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$pid/stat" 2>/dev/null) || continue
    sum=$((sum + t))
  done
  echo "$sum"
}
seeder_pids() { local i; for i in 2 3 4 5; do echo "${NETNS_PID[seed$i]}"; done; }
nginx_pids() {
  local i
  for i in 2 3 4 5; do pgrep -P "${NETNS_PID[nginx$i]}"; echo "${NETNS_PID[nginx$i]}"; done
}
hz=$(getconf CLK_TCK)
declare -A RESULT_S=() RESULT_CPU=() RESULT_OK=()

run_lanspread() {
  local name=$1 plan=$2 pids before after busy_before busy_after
  rm -rf "${target:?}"/*
  mkdir -p "$target/$name"
  mapfile -t pids < <(seeder_pids)
  before=$(cpu_total "${pids[@]}")
  busy_before=$(awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat)
  log "$name: lanspread, $plan plan"
  local w0 w1
  w0=$(date +%s.%N)
  # ls_fetch bounds itself (--timeout); timeout(1) is the backstop. A
  # blocking wait: polling would take CPU from the run it measures.
  netns_run 1 "$name" timeout -s KILL $((timeout_s + 60)) "$fetch" --games "$target/$name" --state "$data/$name-state" \
    --game "$game" --catalog "$catalog" --timeout "$timeout_s" --plan "$plan" --no-install \
    --peer "$(netns_addr 2):$port" --peer "$(netns_addr 3):$port" \
    --peer "$(netns_addr 4):$port" --peer "$(netns_addr 5):$port"
  local pid=${NETNS_PID[$name]}
  wait "$pid" 2>/dev/null
  unset "NETNS_PID[$name]"
  w1=$(date +%s.%N)
  after=$(cpu_total "${pids[@]}")
  busy_after=$(awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat)
  local result
  result=$(tail -n 1 "$NETNS_LOG_DIR/$name.out")
  echo "  $name: $result" | cut -c1-400
  if ! python3 -c 'import json,sys; json.loads(sys.argv[1])' "$result" 2>/dev/null; then
    RESULT_S[$name]=failed RESULT_OK[$name]="no result from ls_fetch" RESULT_CPU[$name]=-
    return
  fi
  RESULT_S[$name]=$(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print("%.2f" % r["download_s"] if r["result"]=="finished" else "failed")' "$result")
  RESULT_CPU[$name]=$(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); s=float(sys.argv[2]); print("downloader %.1f s, seeders %.1f s, machine %.0f%% of 2 cores" % (r["cpu_user_s"]+r["cpu_sys_s"], s, 100*float(sys.argv[3])/max(0.01,float(sys.argv[4]))/2))' \
    "$result" "$(echo "($after - $before) / $hz" | bc -l)" "$(echo "($busy_after - $busy_before) / $hz" | bc -l)" "$(echo "$w1 - $w0" | bc)")
  RESULT_OK[$name]=$(verify "$target/$name/$game" && echo "all files match" || echo "MISMATCH")
  python3 -c 'import json,sys
r=json.loads(sys.argv[1])
for p in r["peers"]: print("    peer %s.. %7.1f MiB" % (p["peer_id"][:8], p["bytes"]/1048576))' "$result"
}

run_aria2() {
  local name=aria2c input=$data/aria2.txt f i uris pids before after busy_before busy_after
  rm -rf "${target:?}"/*
  mkdir -p "$target/$name"
  : >"$input"
  for ((f = 1; f <= files; f++)); do
    uris=()
    for i in 2 3 4 5; do uris+=("http://$(netns_addr "$i"):$http_port/$game/part-$f.bin"); done
    (IFS=$'\t'; echo "${uris[*]}") >>"$input"
    echo "  out=part-$f.bin" >>"$input"
  done
  cp "$src/version.ini" "$target/$name/"
  mapfile -t pids < <(nginx_pids)
  before=$(cpu_total "${pids[@]}")
  busy_before=$(awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat)
  log "$name: aria2c from 4 nginx mirrors"
  local t0 t1
  t0=$(date +%s.%N)
  ip netns exec "$(netns_host 1)" aria2c -q -d "$target/$name" -i "$input" \
    -j "$files" -s 4 -x 1 -k 16M --uri-selector=adaptive --file-allocation=falloc \
    --allow-overwrite=true --auto-file-renaming=false --summary-interval=0 \
    >"$NETNS_LOG_DIR/aria2c.out" 2>&1
  local rc=$?
  t1=$(date +%s.%N)
  after=$(cpu_total "${pids[@]}")
  busy_after=$(awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat)
  local secs
  secs=$(echo "$t1 - $t0" | bc)
  RESULT_S[$name]=$( ((rc == 0)) && printf '%.2f' "$secs" || echo failed)
  RESULT_CPU[$name]="nginx $(printf '%.1f' "$(echo "($after - $before) / $hz" | bc -l)") s, machine $(printf '%.0f' "$(echo "100 * ($busy_after - $busy_before) / $hz / $secs / 2" | bc -l)")% of 2 cores"
  RESULT_OK[$name]=$(verify "$target/$name" && echo "all files match" || echo "MISMATCH")
}

runs=${LS_BENCH_RUNS:-adaptive round-robin aria2c}
for run in $runs; do
  case $run in
  adaptive | round-robin) run_lanspread "$run" "$run" ;;
  aria2c) run_aria2 ;;
  *) echo "bench_download: unknown run $run" ;;
  esac
done

# ---- report ----
sum_up=0
for u in "${uplinks_mbit[@]}"; do sum_up=$((sum_up + u)); done
bottleneck=$((sum_up < downlink_mbit ? sum_up : downlink_mbit))
ideal=$(echo "scale=3; $bytes * 8 / ($bottleneck * 1000000)" | bc)
echo
echo "== bench_download: $gib GiB in $files files; downlink ${downlink_mbit} Mbit/s; uplinks ${uplinks_mbit[*]} Mbit/s"
printf '%-12s %10s %9s  %s\n' run seconds x-ideal "check / cpu"
printf '%-12s %10s %9s  %s\n' ideal "$ideal" 1.000 "size / min(downlink, sum of uplinks) = ${bottleneck} Mbit/s"
for name in adaptive round-robin aria2c; do
  [[ -n ${RESULT_S[$name]:-} ]] || continue
  s=${RESULT_S[$name]}
  ratio=$([[ $s == failed ]] && echo - || echo "scale=3; $s / $ideal" | bc)
  printf '%-12s %10s %9s  %s; %s\n' "$name" "$s" "$ratio" "${RESULT_OK[$name]}" "${RESULT_CPU[$name]}"
done
for name in $runs; do
  [[ ${RESULT_OK[$name]:-} == "all files match" && ${RESULT_S[$name]:-failed} != failed ]] || exit 1
done
