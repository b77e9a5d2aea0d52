#!/usr/bin/env bash
# Single-source benchmark (issue #16): one seeder, one downloader, two
# network namespaces on one unshaped veth/bridge (tests/netns/lib.sh), data
# on a tmpfs. Two games:
#   big    LS_BENCH_BIG_MIB MiB (1024) in LS_BENCH_BIG_FILES files (4)
#   small  LS_BENCH_SMALL_FILES files (40000) of LS_BENCH_SMALL_BYTES (2048),
#          200 to a folder
# each fetched, in the same run, by
#   rsync      rsync daemon on the seeder, `rsync -a --whole-file` pulling
#   aria2c     from nginx on the seeder, 16 connections in all
#              (-j files x -s/-x 16/files, or -j 16 for many files)
#   lanspread  tests/netns/ls_fetch (the peer runtime, static peer, until
#              download-finished; no install) from `lanspread daemon`
#   lanspread-cli  what a user runs: `lanspread download ID` against a
#              `lanspread daemon` on the downloader (started fresh for the
#              run, timed from the CLI's start to its `download-finished`
#              line; the downloader's CPU and RSS are the daemon's plus the
#              CLI's)
#   both lanspread rows are bounded by LS_BENCH_LS_CAP_S (300): a slower
#   run is reported as "> CAP s" with the bytes it had
# and the whole table again with MTU 9000 on every link (LS_BENCH_MTUS).
# Per run: wall time (start of the client process to its exit), rate, CPU
# seconds per GiB of the downloader (the client and every process it
# waited for: wait4 rusage) and of the seeder (the serving processes' utime +
# stime and their reaped children's, /proc/PID/stat, before and after), peak
# RSS of each side (downloader: wait4 ru_maxrss; seeder: VmHWM, reset through
# /proc/PID/clear_refs before the run and sampled while it runs, so a
# per-connection child of the rsync daemon counts too), and every file
# checked against the source with SHA-256.
# rsync, aria2c and nginx are installed with apt-get when missing (this
# script only; `make test` never runs it); a tool that cannot be had skips
# its rows with the reason.
# Usage: bench_single_source.sh [<build>/lanspread]   (root; skips otherwise)
# Env: LS_BENCH_BIG_MIB, LS_BENCH_BIG_FILES, LS_BENCH_SMALL_FILES,
#      LS_BENCH_SMALL_BYTES, LS_BENCH_MTUS ("1500 9000"), LS_BENCH_TOOLS
#      ("rsync aria2c lanspread lanspread-cli"), LS_BENCH_GAMES ("big small"),
#      LS_BENCH_LS_CAP_S (300), LS_BENCH_OUT (also write the table there),
#      NETNS_KEEP_LOGS=1.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/netns/lib.sh
source "$here/../tests/netns/lib.sh"

lanspread=${1:-$here/../build/lanspread}
bin_dir=$(cd "$(dirname "$lanspread")" && pwd)
fetch=$bin_dir/ls_fetch
big_mib=${LS_BENCH_BIG_MIB:-1024}
big_files=${LS_BENCH_BIG_FILES:-4}
small_files=${LS_BENCH_SMALL_FILES:-40000}
small_bytes=${LS_BENCH_SMALL_BYTES:-2048}
mtus=${LS_BENCH_MTUS:-1500 9000}
tools=${LS_BENCH_TOOLS:-rsync aria2c lanspread lanspread-cli}
games=${LS_BENCH_GAMES:-big small}
ls_cap_s=${LS_BENCH_LS_CAP_S:-300}
out_file=${LS_BENCH_OUT:-}
connections=16
small_per_dir=200
ls_port=7000
dl_http=127.0.0.1:7797
http_port=8080
rsync_port=8873
tool_timeout_s=900 # rsync and aria2c: a backstop, far above any sane run
ready_timeout_s=900
sample_s=0.1

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

netns_require
for b in "$lanspread" "$fetch"; do
  [[ -x $b ]] || { echo "bench_single_source: $b not found (build first)"; exit 1; }
done
for t in python3 openssl sha256sum timeout; do
  command -v "$t" >/dev/null || { echo "bench_single_source: $t missing (scripts/deps.sh)"; exit 1; }
done

# ---- the tools under comparison: installed here when missing ----
declare -A SKIP=()
want_tool() { [[ " $tools " == *" $1 "* ]]; }
apt_updated=""
ensure_cmd() { # ensure_cmd COMMAND PACKAGE: 0 when the command is there
  command -v "$1" >/dev/null && return 0
  command -v apt-get >/dev/null || return 1
  log "installing $2 (missing)"
  if [[ -z $apt_updated ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null 2>&1
  command -v "$1" >/dev/null
}
if want_tool rsync && ! ensure_cmd rsync rsync; then
  SKIP[rsync]="rsync is missing and apt-get could not install it"
fi
if want_tool aria2c; then
  if ! ensure_cmd aria2c aria2; then
    SKIP[aria2c]="aria2c is missing and apt-get could not install it"
  elif ! ensure_cmd nginx nginx-light && ! ensure_cmd nginx nginx; then
    SKIP[aria2c]="nginx is missing and apt-get could not install it"
  fi
fi
for t in "${!SKIP[@]}"; do echo "bench_single_source: skipping $t: ${SKIP[$t]}"; done

# ---- work area: one tmpfs for the seeder's games and the downloads ----
big_bytes=$((big_mib << 20))
small_total=$((small_files * small_bytes))
# tmpfs pages: a small file takes a whole page.
small_pages=$((small_files * ((small_bytes + 4095) / 4096) * 4096))
tmpfs_mib=$(((2 * big_bytes + 2 * small_pages) / 1048576 + 512))
avail_mib=$(awk '/MemAvailable/ {print int($2 / 1024)}' /proc/meminfo)
((avail_mib > tmpfs_mib + 1024)) ||
  { echo "bench_single_source: needs about $((tmpfs_mib + 1024)) MiB of free memory, $avail_mib available"; exit 1; }

data=$(mktemp -d /tmp/lanspread-single.XXXXXX)
chmod 755 "$data"
# Run by netns_down once every process of ours is stopped (no EXIT trap of
# our own: it would have to keep $? intact for netns_down).
cleanup_bench() {
  if mountpoint -q "$data"; then umount -l "$data"; fi
  rm -rf "$data"
}
netns_at_exit cleanup_bench
netns_up 2 || { echo "bench_single_source: could not build the test bed"; exit 1; }
mount -t tmpfs -o "size=${tmpfs_mib}m,mode=0755" lsbench "$data" ||
  { echo "bench_single_source: cannot mount a tmpfs"; exit 1; }
seed_games=$data/seed/games
target=$data/target
mkdir -p "$seed_games" "$target" "$data/sums" "$data/run"

# ---- the games ----
declare -A GAME_ID=([big]=bench-big [small]=bench-small)
declare -A GAME_BYTES=([big]=$big_bytes [small]=$small_total)
declare -A GAME_FILES=([big]=$big_files [small]=$small_files)
t0=$(date +%s.%N)
src=$seed_games/${GAME_ID[big]}
mkdir -p "$src"
for ((f = 1; f <= big_files; f++)); do
  # Incompressible and fast: an AES-CTR keystream.
  openssl enc -aes-128-ctr -nosalt -pass "pass:lanspread-single-$f" -in /dev/zero 2>/dev/null |
    head -c "$((big_bytes / big_files))" >"$src/part-$f.bin"
done
echo "version=1.0" >"$src/version.ini"
python3 - "$seed_games/${GAME_ID[small]}" "$small_files" "$small_bytes" "$small_per_dir" <<'PY'
import os, sys
root, count, size, per_dir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
for i in range(count):
    d = os.path.join(root, "data", "d%04d" % (i // per_dir))
    if i % per_dir == 0:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%05d.dat" % i), "wb") as f:
        f.write(os.urandom(size))
with open(os.path.join(root, "version.ini"), "w") as f:
    f.write("version=1.0\n")
PY
for g in big small; do
  (cd "$seed_games/${GAME_ID[$g]}" && find . -type f -printf '%P\n' | sort | xargs -d '\n' sha256sum) \
    >"$data/sums/$g.sha256"
done
log "made the games in $(echo "$(date +%s.%N) - $t0" | bc) s"
catalog=$data/catalog.json
echo "{\"games\":[{\"id\":\"${GAME_ID[big]}\",\"name\":\"Big\"},{\"id\":\"${GAME_ID[small]}\",\"name\":\"Small\"}]}" >"$catalog"

# ---- seeders on host 2 ----
seed_addr=$(netns_addr 2)
netns_run 2 seed-lanspread "$lanspread" daemon --games "$seed_games" --state "$data/seed/state" \
  --listen "$seed_addr:$ls_port" --catalog "$catalog" --json-events --no-mdns
if [[ -z ${SKIP[rsync]:-} ]] && want_tool rsync; then
  cat >"$data/rsyncd.conf" <<EOF
pid file = $data/run/rsyncd.pid
use chroot = no
uid = root
gid = root
[games]
  path = $seed_games
  read only = yes
EOF
  netns_run 2 seed-rsync rsync --daemon --no-detach --config="$data/rsyncd.conf" \
    --address="$seed_addr" --port="$rsync_port"
fi
if [[ -z ${SKIP[aria2c]:-} ]] && want_tool aria2c; then
  mkdir -p "$data/nginx"
  cat >"$data/nginx/nginx.conf" <<EOF
user root;
worker_processes 1;
daemon off;
pid $data/nginx/nginx.pid;
error_log $data/nginx/error.log;
events { worker_connections 256; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  client_body_temp_path $data/nginx/body;
  proxy_temp_path $data/nginx/proxy;
  fastcgi_temp_path $data/nginx/fastcgi;
  uwsgi_temp_path $data/nginx/uwsgi;
  scgi_temp_path $data/nginx/scgi;
  server {
    listen $seed_addr:$http_port;
    root $seed_games;
  }
}
EOF
  netns_run 2 seed-nginx nginx -c "$data/nginx/nginx.conf" -p "$data/nginx"
fi
is_ready() { grep -q '"event":"ready"' "$NETNS_LOG_DIR/seed-lanspread.out" 2>/dev/null; }
t0=$(date +%s)
netns_wait "$ready_timeout_s" is_ready ||
  { echo "bench_single_source: the lanspread seeder did not get ready"; netns_dump_logs; exit 1; }
log "lanspread seeder ready (library scan) in $(($(date +%s) - t0)) s"

# ---- measuring ----
# The processes that serve for a tool: the root we started and every
# descendant (nginx's worker, the rsync daemon's per-connection child).
tree_pids() {
  local queue=("$1") out=() p t kids n=0
  while ((${#queue[@]} > 0 && n++ < 1000)); do
    p=${queue[0]}
    queue=("${queue[@]:1}")
    [[ -d /proc/$p ]] || continue
    out+=("$p")
    for t in /proc/"$p"/task/*/children; do
      read -r -a kids <"$t" 2>/dev/null || true
      queue+=("${kids[@]}")
    done
  done
  echo "${out[@]}"
}
hz=$(getconf CLK_TCK)
# utime + stime + cutime + cstime, in ticks, of the processes given: a live
# process's own time, and that of the children it has reaped.
cpu_ticks() {
  local pid sum=0 t
  for pid in "$@"; do
    t=$(awk '{sub(/^.*\) /, ""); print $12 + $13 + $14 + $15}' "/proc/$pid/stat" 2>/dev/null) || continue
    sum=$((sum + t))
  done
  echo "$sum"
}
# Samples the peak RSS (VmHWM, kB) of a process tree until $1.stop exists;
# writes the largest value seen to $1.
sampler_py='
import glob, os, sys, time
out, root, period = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
def tree():
    keep, queue = [], [root]
    while queue and len(keep) < 1000:
        pid = queue.pop()
        keep.append(pid)
        for path in glob.glob(f"/proc/{pid}/task/*/children"):
            try:
                queue += [int(x) for x in open(path).read().split()]
            except OSError:
                pass
    return keep
peak, deadline = 0, time.monotonic() + 3600
while time.monotonic() < deadline:
    for pid in tree():
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
        except OSError:
            pass
    if os.path.exists(out + ".stop"):
        break
    time.sleep(period)
with open(out, "w") as f:
    f.write(str(peak))
'
# Runs a client in host 1 under a wait4 wrapper: JSON with wall seconds,
# user and sys CPU and ru_maxrss (of the client and all it waited for).
rusage_py='
import json, os, sys, time
out, argv = sys.argv[1], sys.argv[2:]
t0 = time.monotonic()
pid = os.fork()
if pid == 0:
    os.execvp(argv[0], argv)
_, status, ru = os.wait4(pid, 0)
wall = time.monotonic() - t0
with open(out, "w") as f:
    json.dump({"wall_s": wall, "user_s": ru.ru_utime, "sys_s": ru.ru_stime,
               "maxrss_kib": ru.ru_maxrss, "status": os.waitstatus_to_exitcode(status)}, f)
'

declare -a ROWS=()

# measure NAME SEED_ROOT_PID CMD...: runs CMD in host 1, measuring both
# sides; the seeder's CPU seconds and peak RSS (kB) land in SEED_CPU and
# SEED_RSS, the client's in $data/run/NAME.json.
SEED_CPU=- SEED_RSS=-
measure() {
  local name=$1 root=$2 pid pids before after peak hwm sampler
  shift 2
  read -r -a pids <<<"$(tree_pids "$root")"
  for pid in "${pids[@]}"; do echo 5 >"/proc/$pid/clear_refs" 2>/dev/null; done
  before=$(cpu_ticks "${pids[@]}")
  rm -f "$data/run/$name.hwm" "$data/run/$name.hwm.stop"
  python3 -c "$sampler_py" "$data/run/$name.hwm" "$root" "$sample_s" &
  sampler=$!
  netns_run 1 "$name" python3 -c "$rusage_py" "$data/run/$name.json" "$@"
  pid=${NETNS_PID[$name]}
  # A blocking wait: polling would take CPU from the run it measures.
  wait "$pid" 2>/dev/null
  unset "NETNS_PID[$name]"
  # Let the seeder reap a per-connection child, so its time is counted.
  sleep 0.3
  read -r -a pids <<<"$(tree_pids "$root")"
  after=$(cpu_ticks "${pids[@]}")
  touch "$data/run/$name.hwm.stop"
  wait "$sampler" 2>/dev/null
  peak=$(cat "$data/run/$name.hwm" 2>/dev/null || echo 0)
  for pid in "${pids[@]}"; do
    hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
    ((${hwm:-0} > peak)) && peak=$hwm
  done
  SEED_CPU=$(echo "scale=3; ($after - $before) / $hz" | bc)
  SEED_RSS=$peak
}

verify() { # verify GAME DIR
  (cd "$2" && sha256sum --quiet --strict -c "$data/sums/$1.sha256" >/dev/null 2>&1)
}

# row MTU GAME TOOL STATUS SECONDS DL_CPU DL_RSS_KIB SEED_CPU SEED_RSS_KIB CHECK NOTE
row() { ROWS+=("$(printf '%s\t' "$@")"); }

run_rsync() {
  local mtu=$1 g=$2 id=${GAME_ID[$2]} name="rsync-$1-$2"
  local dest=$target/$name/$id
  mkdir -p "$dest"
  log "$name"
  measure "$name" "${NETNS_PID[seed-rsync]}" timeout -s KILL "$tool_timeout_s" \
    rsync -a --whole-file "rsync://$seed_addr:$rsync_port/games/$id/" "$dest/"
  report_client "$mtu" "$g" rsync "$name" "$dest" ""
}

run_aria2c() {
  local mtu=$1 g=$2 id=${GAME_ID[$2]} name="aria2c-$1-$2"
  local dest=$target/$name/$id input=$data/run/$name.txt j s
  mkdir -p "$dest"
  (cd "$seed_games/$id" && find . -type f -printf '%P\n' | sort) |
    awk -v base="http://$seed_addr:$http_port/$id" '{print base "/" $0; print "  out=" $0}' >"$input"
  if ((${GAME_FILES[$g]} >= connections)); then
    j=$connections s=1
  else
    j=${GAME_FILES[$g]} s=$((connections / ${GAME_FILES[$g]}))
  fi
  log "$name (-j $j -s $s -x $s)"
  measure "$name" "${NETNS_PID[seed-nginx]}" timeout -s KILL "$tool_timeout_s" \
    aria2c -q -d "$dest" -i "$input" -j "$j" -s "$s" -x "$s" -k 1M --file-allocation=none \
    --allow-overwrite=true --auto-file-renaming=false --summary-interval=0 \
    --console-log-level=warn
  report_client "$mtu" "$g" aria2c "$name" "$dest" "$((j * s)) connections"
}

run_lanspread() {
  local mtu=$1 g=$2 id=${GAME_ID[$2]} name="lanspread-$1-$2"
  local dest=$target/$name
  mkdir -p "$dest"
  log "$name (capped at $ls_cap_s s)"
  measure "$name" "${NETNS_PID[seed-lanspread]}" timeout -s KILL $((ls_cap_s + 60)) \
    "$fetch" --games "$dest" --state "$data/run/$name-state" --game "$id" --catalog "$catalog" \
    --timeout "$ls_cap_s" --no-install --peer "$seed_addr:$ls_port"
  local result note
  result=$(tail -n 1 "$NETNS_LOG_DIR/$name.out")
  note=$(python3 -c 'import json,sys
r = json.loads(sys.argv[1])
if r["result"] == "finished":
    print("download_s %.2f (command to finished)" % r["download_s"])
else:
    print("%s: %s" % (r["result"], r["reason"]))' "$result" 2>/dev/null || echo "no result from ls_fetch")
  if [[ $note == timeout* ]]; then
    local progress
    progress=$(grep -o 'progress [0-9]*/[0-9]*' "$NETNS_LOG_DIR/$name.err" | tail -n 1 | cut -d' ' -f2)
    [[ -n $progress ]] && note="$note; $((${progress%/*} >> 20)) of $((${progress#*/} >> 20)) MiB done"
  fi
  report_client "$mtu" "$g" lanspread "$name" "$dest/$id" "$note"
}

# Runs the CLI until its `download-finished` line, then stops it (the
# daemon goes on to install: not part of the download). Writes JSON with
# the downloader daemon's CPU ticks and VmHWM (kB) read at that moment.
cli_runner_py='
import json, subprocess, sys
out, daemon, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
def daemon_now():
    with open(f"/proc/{daemon}/stat") as f:
        v = f.read().rsplit(")", 1)[1].split()
    hwm = 0
    with open(f"/proc/{daemon}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return sum(int(x) for x in v[11:15]), hwm
cli = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
result = {"finished": False, "last": ""}
for line in cli.stdout:
    result["last"] = line.strip()
    if line.startswith("download-finished"):
        result["finished"] = True
        result["daemon_ticks"], result["daemon_hwm_kib"] = daemon_now()
        break
    if "-failed" in line:
        break
cli.terminate()
cli.wait()
with open(out, "w") as f:
    json.dump(result, f)
sys.exit(0 if result["finished"] else 1)
'

DL_EXTRA_CPU="" DL_RSS_OVERRIDE=""
run_lanspread_cli() {
  local mtu=$1 g=$2 id=${GAME_ID[$2]} name="lanspread-cli-$1-$2"
  local games=$data/run/$name-games state=$data/run/$name-state dl=dl-$name
  mkdir -p "$games"
  netns_run 1 "$dl" "$lanspread" daemon --games "$games" --state "$state" \
    --listen "$(netns_addr 1):$ls_port" --peer "$seed_addr:$ls_port" --catalog "$catalog" \
    --no-mdns --http "$dl_http"
  local daemon=${NETNS_PID[$dl]}
  sees_game() {
    ip netns exec "$(netns_host 1)" "$lanspread" games --state "$state" 2>/dev/null |
      grep -w -- "$id" | grep -qw remote
  }
  if ! netns_wait 120 sees_game; then
    row "$mtu" "$g" lanspread-cli failed - - - - - - "the downloader daemon never listed the game"
    netns_stop "$dl"
    return
  fi
  log "$name (capped at $ls_cap_s s)"
  echo 5 >"/proc/$daemon/clear_refs"
  local before
  before=$(cpu_ticks "$daemon")
  measure "$name" "${NETNS_PID[seed-lanspread]}" timeout -s KILL $((ls_cap_s + 60)) \
    python3 -c "$cli_runner_py" "$data/run/$name.cli.json" "$daemon" \
    "$lanspread" download "$id" --state "$state" --timeout "$ls_cap_s"
  local note finished
  finished=$(python3 -c 'import json,sys
r = json.load(open(sys.argv[1]))
print("yes %s %s" % (r["daemon_ticks"], r["daemon_hwm_kib"]) if r["finished"] else "no " + r["last"].replace(" ", "_"))' \
    "$data/run/$name.cli.json" 2>/dev/null || echo "no no-result")
  if [[ $finished == yes* ]]; then
    read -r _ after hwm <<<"$finished"
    DL_EXTRA_CPU=$(echo "scale=3; ($after - $before) / $hz" | bc)
    DL_RSS_OVERRIDE=$hwm
    note="CPU and RSS: downloader daemon + CLI"
  else
    note="no download-finished: ${finished#no }"
    [[ $(grep -c . "$NETNS_LOG_DIR/$name.err" 2>/dev/null) -gt 0 ]] &&
      note="$note; $(tail -n 1 "$NETNS_LOG_DIR/$name.err" | cut -c1-120)"
    # A run that hit the cap is reported as such, with how far it got.
    local progress
    progress=$(grep -o '[0-9]*% ([^)]*)' "$NETNS_LOG_DIR/$name.out" 2>/dev/null | tail -n 1)
    [[ -n $progress ]] && note="$note; at $progress"
    local wall
    wall=$(python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["wall_s"]))' \
      "$data/run/$name.json" 2>/dev/null || echo 0)
    ((wall >= ls_cap_s)) && note="timeout: $note"
  fi
  report_client "$mtu" "$g" lanspread-cli "$name" "$games/$id" "$note"
  DL_EXTRA_CPU="" DL_RSS_OVERRIDE=""
  netns_stop "$dl"
  rm -rf "$games" "$state"
}

# report_client MTU GAME TOOL NAME DIR NOTE (after measure)
report_client() {
  local mtu=$1 g=$2 tool=$3 name=$4 dir=$5 note=$6 status wall cpu rss check
  local seed_cpu=$SEED_CPU seed_rss=$SEED_RSS
  if [[ ! -s $data/run/$name.json ]]; then
    row "$mtu" "$g" "$tool" failed - - - "$seed_cpu" "$seed_rss" - "no measurement; $note"
    return
  fi
  read -r status wall cpu rss < <(python3 -c 'import json,sys
r = json.load(open(sys.argv[1]))
print(r["status"], "%.3f" % r["wall_s"], "%.3f" % (r["user_s"] + r["sys_s"]), r["maxrss_kib"])' \
    "$data/run/$name.json")
  [[ -n $DL_EXTRA_CPU ]] && cpu=$(echo "$cpu + $DL_EXTRA_CPU" | bc)
  [[ -n $DL_RSS_OVERRIDE ]] && rss=$DL_RSS_OVERRIDE
  if ((status == 0)) && verify "$g" "$dir"; then
    check="all files match"
  elif ((status == 0)); then
    check=MISMATCH
  else
    check="exit $status"
  fi
  if [[ $tool == lanspread* && $note == timeout* ]]; then
    status=capped
  elif ((status == 0)); then
    status=ok
  else
    status=failed
  fi
  row "$mtu" "$g" "$tool" "$status" "$wall" "$cpu" "$rss" "$seed_cpu" "$seed_rss" "$check" "$note"
  log "  $tool $g: $status, $wall s, $check; $note"
  rm -rf "${target:?}/$name"
}

for mtu in $mtus; do
  netns_set_mtu "$mtu" || { echo "bench_single_source: cannot set MTU $mtu"; exit 1; }
  log "MTU $mtu"
  for g in $games; do
    for t in $tools; do
      if [[ -n ${SKIP[$t]:-} ]]; then
        row "$mtu" "$g" "$t" skipped - - - - - - "${SKIP[$t]}"
        continue
      fi
      case $t in
      rsync) run_rsync "$mtu" "$g" ;;
      aria2c) run_aria2c "$mtu" "$g" ;;
      lanspread) run_lanspread "$mtu" "$g" ;;
      lanspread-cli) run_lanspread_cli "$mtu" "$g" ;;
      *) echo "bench_single_source: unknown tool $t" ;;
      esac
    done
  done
done

# ---- report ----
table=$(python3 - "$ls_cap_s" "${GAME_BYTES[big]}" "${GAME_BYTES[small]}" "$big_files" "$small_files" "$small_bytes" "${ROWS[@]}" <<'PY'
import sys
cap = float(sys.argv[1])
size = {"big": int(sys.argv[2]), "small": int(sys.argv[3])}
desc = {"big": "%d MiB in %s files" % (size["big"] >> 20, sys.argv[4]),
        "small": "%s files x %s B" % (sys.argv[5], sys.argv[6])}
rows = [r.rstrip("\t").split("\t") for r in sys.argv[7:]]
def num(x):
    try:
        return float(x)
    except ValueError:
        return None
base = {}
for r in rows:
    if r[2] == "rsync" and r[3] == "ok":
        base[(r[0], r[1])] = float(r[4])
print("| MTU | game | tool | time s | MiB/s | x rsync | CPU s/GiB downloader | CPU s/GiB seeder | CPU s/GiB both | peak RSS MiB downloader | peak RSS MiB seeder | files | note |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    mtu, g, tool, status, wall, dcpu, drss, scpu, srss, check = r[:10]
    note = r[10] if len(r) > 10 else ""
    gib = size[g] / 2**30
    w, dc, sc = num(wall), num(dcpu), num(scpu)
    if status == "capped":
        t = "> %.0f" % cap
        rate = ratio = "-"
    elif status == "ok" and w:
        t = "%.2f" % w
        rate = "%.0f" % (size[g] / 2**20 / w)
        ratio = "%.2f" % (w / base[(mtu, g)]) if (mtu, g) in base else "-"
    else:
        t, rate, ratio = status, "-", "-"
    f = lambda v: "%.2f" % v if v is not None else "-"
    both = dc + sc if dc is not None and sc is not None else None
    mib = lambda k: "%.0f" % (float(k) / 1024) if num(k) else "-"
    print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
        mtu, desc[g], tool, t, rate, ratio, f(dc / gib if dc is not None else None),
        f(sc / gib if sc is not None else None), f(both / gib if both is not None else None),
        mib(drss), mib(srss), check, note))
PY
)
echo
echo "== bench_single_source: one seeder, one downloader, unshaped veth; data on tmpfs"
echo "$table"
[[ -z $out_file ]] || echo "$table" >"$out_file"
# The verdict: every run that ended must have every file right; a capped
# lanspread run is a measurement, not a failure.
for r in "${ROWS[@]}"; do
  IFS=$'\t' read -r -a f <<<"$r"
  [[ ${f[3]} == ok && ${f[9]} != "all files match" ]] && exit 1
  [[ ${f[3]} == failed ]] && exit 1
done
exit 0
