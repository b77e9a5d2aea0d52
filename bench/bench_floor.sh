#!/usr/bin/env bash
# The per-byte cost floor of a single-source transfer (issue #16): what each
# step a verified QUIC transfer of this design cannot skip costs on this
# machine, in CPU seconds per GiB of file data, next to rsync's and
# lanspread's whole cost from bench_single_source.sh in the same run.
# Steps (bench/bench_floor.c; each 3 times: the median and the spread printed):
#   sha256 / write / aes128gcm-open   downloader, data on a tmpfs
#   pread / aes128gcm-seal            seeder
#   header-protection                 each side, once per packet
#   udp-send / udp-recv               the kernel's UDP path with GSO and
#                                     GRO + recvmmsg, over loopback and over
#                                     a veth between two namespaces
# for packets of 1452 bytes (MTU 1500) and 8952 (MTU 9000). The floor of a
# side is the sum of its steps with the veth's UDP path (on veth the
# receive softirq runs on whichever CPU sends, so only the sum of the two
# sides' UDP rows is a clean number).
# Usage: bench_floor.sh [<build>/lanspread]   (root; skips otherwise)
# Env: LS_FLOOR_MIB (1024), LS_FLOOR_MTUS ("1500 9000"), LS_FLOOR_REF (1:
#      also run bench_single_source.sh with LS_BENCH_TOOLS="rsync
#      lanspread" LS_BENCH_GAMES=big at MTU 1500; 0: the floor alone),
#      LS_FLOOR_OUT (also write the table there), NETNS_KEEP_LOGS=1.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/netns/lib.sh
source "$here/../tests/netns/lib.sh"

lanspread=${1:-$here/../build/lanspread}
lanspread=$(cd "$(dirname "$lanspread")" && pwd)/$(basename "$lanspread")
bin=$(dirname "$lanspread")/bench_floor
mib=${LS_FLOOR_MIB:-1024}
mtus=${LS_FLOOR_MTUS:-1500 9000}
with_ref=${LS_FLOOR_REF:-1}
out_file=${LS_FLOOR_OUT:-}
reps=3
port=7100
ref_mtu=1500
udp_timeout_s=90 # a backstop: bench_floor bounds its own run at 60 s

log() { printf '[floor %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
fail() {
  echo "bench_floor: $*"
  exit 1
}

netns_require
[[ -x $bin ]] || fail "$bin not found (build first)"
command -v python3 >/dev/null || fail "python3 missing (scripts/deps.sh)"
avail_mib=$(awk '/MemAvailable/ {print int($2 / 1024)}' /proc/meminfo)
((avail_mib > mib + 512)) || fail "needs about $((mib + 512)) MiB of free memory, $avail_mib available"

data=$(mktemp -d /tmp/lanspread-floor.XXXXXX)
cleanup_floor() {
  if mountpoint -q "$data"; then umount -l "$data"; fi
  rm -rf "$data"
}
netns_at_exit cleanup_floor
netns_up 2 || fail "could not build the test bed"
mount -t tmpfs -o "size=$((mib + 64))m,mode=0755" lsfloor "$data" || fail "cannot mount a tmpfs"
results=$NETNS_LOG_DIR/results.tsv
: >"$results"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

log "local steps (SHA-256, write, pread, AES-GCM, header protection), $mib MiB each, $reps runs"
"$bin" local "$data" "$mib" >>"$results" || fail "a local step failed"

# udp_run PATH PKT RUN: one transfer, its two result lines tagged with PATH
udp_run() {
  local path=$1 pkt=$2 run=$3 recv_host send_host addr name rc_recv rc_send
  if [[ $path == loopback ]]; then
    recv_host=1 send_host=1 addr=127.0.0.1
  else
    recv_host=2 send_host=1 addr=$(netns_addr 2)
  fi
  name=udp-$path-$pkt-$run
  netns_run "$recv_host" "$name-recv" timeout "$udp_timeout_s" "$bin" udp-recv "$port" "$mib" "$pkt"
  ip netns exec "$(netns_host "$send_host")" timeout "$udp_timeout_s" \
    "$bin" udp-send "$addr" "$port" "$mib" "$pkt" >"$NETNS_LOG_DIR/$name-send.out" \
    2>"$NETNS_LOG_DIR/$name-send.err"
  rc_send=$?
  wait "${NETNS_PID[$name-recv]}"
  rc_recv=$?
  unset "NETNS_PID[$name-recv]"
  ((rc_send == 0 && rc_recv == 0)) || {
    cat "$NETNS_LOG_DIR/$name-send.err" "$NETNS_LOG_DIR/$name-recv.err" >&2
    return 1
  }
  cat "$NETNS_LOG_DIR/$name-send.out" "$NETNS_LOG_DIR/$name-recv.out" |
    awk -v p="$path" 'BEGIN {FS = OFS = "\t"} $1 == "RESULT" {$2 = $2 " (" p ")"; print}' >>"$results"
}

for mtu in $mtus; do
  if ((mtu == 1500)); then pkt=1452; else pkt=$((mtu - 48)); fi
  netns_set_mtu "$mtu" || fail "cannot set MTU $mtu"
  for path in loopback veth; do
    log "UDP over $path, MTU $mtu ($pkt-byte packets), $reps runs"
    for ((r = 1; r <= reps; r++)); do
      udp_run "$path" "$pkt" "$r" || fail "UDP over $path with $pkt-byte packets failed"
    done
  done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

ref_table=$NETNS_LOG_DIR/reference.md
: >"$ref_table"
if [[ $with_ref == 1 ]]; then
  log "reference: bench_single_source.sh, rsync and lanspread, $mib MiB, MTU $ref_mtu"
  LS_BENCH_TOOLS="rsync lanspread" LS_BENCH_GAMES=big LS_BENCH_MTUS=$ref_mtu \
    LS_BENCH_BIG_MIB=$mib LS_BENCH_OUT=$ref_table bash "$here/bench_single_source.sh" "$lanspread" \
    >"$NETNS_LOG_DIR/reference.log" 2>&1 ||
    { tail -n 30 "$NETNS_LOG_DIR/reference.log"; fail "bench_single_source.sh failed"; }
fi
load_ref=$(cut -d' ' -f1-3 /proc/loadavg)

table=$(python3 - "$results" "$ref_table" "$ref_mtu" "$mtus" <<'PY'
import statistics, sys
results, ref_table, ref_mtu, mtus = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split()
runs = {}
for line in open(results):
    f = line.rstrip("\n").split("\t")
    if len(f) < 7 or f[0] != "RESULT":
        continue
    key = (f[1], f[2], f[3])
    runs.setdefault(key, []).append((float(f[4]), float(f[5]), f[6]))
cost = {}
print("| step | side | packet bytes | CPU s/GiB (median) | CPU s/GiB (min–max) | wall s (median) | note |")
print("|---|---|---|---|---|---|---|")
for (step, side, pkt), rs in runs.items():
    cpu = statistics.median(r[0] for r in rs)
    wall = statistics.median(r[1] for r in rs)
    cost[(step, pkt)] = cpu
    lo, hi = min(r[0] for r in rs), max(r[0] for r in rs)
    print("| %s | %s | %s | %.3f | %.3f–%.3f | %.3f | %s |" % (step, side, pkt, cpu, lo, hi, wall, rs[-1][2]))
print()
def pkt_of(mtu):
    return "1452" if mtu == "1500" else str(int(mtu) - 48)
floor = {}
print("| MTU | floor downloader | floor seeder | floor both | both with loopback's UDP path |")
print("|---|---|---|---|---|")
for mtu in mtus:
    p = pkt_of(mtu)
    common_d = cost[("sha256", "-")] + cost[("write", "-")] + cost[("aes128gcm-open", p)] + cost[("header-protection", p)]
    common_s = cost[("pread", "-")] + cost[("aes128gcm-seal", p)] + cost[("header-protection", p)]
    d = common_d + cost[("udp-recv (veth)", p)]
    s = common_s + cost[("udp-send (veth)", p)]
    lo = common_d + common_s + cost[("udp-recv (loopback)", p)] + cost[("udp-send (loopback)", p)]
    floor[mtu] = (d, s, d + s)
    print("| %s | %.2f | %.2f | %.2f | %.2f |" % (mtu, d, s, d + s, lo))
ref = []
try:
    for line in open(ref_table):
        c = [x.strip() for x in line.strip().strip("|").split("|")]
        if len(c) > 9 and c[2] in ("rsync", "lanspread") and c[0] == ref_mtu:
            ref.append(c)
except OSError:
    pass
if ref and ref_mtu in floor:
    fd, fs, fb = floor[ref_mtu]
    print()
    print("| MTU %s, same run | time s | CPU s/GiB downloader | CPU s/GiB seeder | CPU s/GiB both | × floor downloader | × floor seeder | × floor both | files |" % ref_mtu)
    print("|---|---|---|---|---|---|---|---|---|")
    print("| floor | - | %.2f | %.2f | %.2f | 1.00 | 1.00 | 1.00 | - |" % (fd, fs, fb))
    for c in ref:
        def ratio(v, base):
            try:
                return "%.2f" % (float(v) / base)
            except ValueError:
                return "-"
        print("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            c[2], c[3], c[6], c[7], c[8], ratio(c[6], fd), ratio(c[7], fs), ratio(c[8], fb), c[11]))
PY
) || fail "could not build the table"
echo
echo "== bench_floor: CPU seconds per GiB of file data (medians of $reps runs); load average $load_before before, $load_after after the floor, $load_ref after the reference"
echo "$table"
[[ -z $out_file ]] || echo "$table" >"$out_file"
exit 0
