#!/usr/bin/env bash
# A hostile network (issue #14): a seeder under attack keeps serving a
# legitimate downloader. Three hosts on one bridge:
#   1 the seeder, a `lanspread daemon` with mDNS on (so it hears the bogus
#     services) and the web API on, started with `ulimit -n` $nofile (the
#     systemd default soft limit), uplink shaped to $rate with htb;
#   2 the downloader, ls_fetch (the peer runtime in-process, --peer seeder);
#   3 the attacker, ls_hostile (tests/netns/ls_hostile.c) in every mode at
#     once: pre-hello connection and stream floods from $flood_addrs extra
#     addresses, oversized and trickled frames, a verified peer announcing
#     10,000 games and re-handshaking every 2 s, $identities verified peers
#     holding chunk streams they never read, and $mdns_services bogus mDNS
#     services (loopback, off-subnet, an unused on-link address, its own
#     tarpit; one spoofing the downloader's id with a TXT record that
#     changes every second). Not shaped: a party PC has a fast link.
# (ls_hostile can advertise 1,024 services, but avahi-core's cost grows
# with the square of its records, and the attacker shares the machine's two
# cores with the seeder: its CPU would slow the download, not the seeder's
# defences. The same holds for the pacing of its oversized frames.)
# The same download (a $mib MiB game) runs twice: unloaded, then with the
# attack running for $ramp_s s before it starts. Checks:
#   the loaded download finishes within 1.5 x the unloaded one (wall time of
#   the downloader, from its start: being let in is part of it; the better
#   of at most two tries under attack, as other load on the machine slows a
#   3 s download too);
#   the seeder's peak RSS (VmHWM) stays under LS_HOSTILE_RSS_MIB (64 MiB,
#   the issue's goal; measured 44-47 MiB, see ARCHITECTURE.md);
#   the seeder never runs out of file descriptors: the most it held (sampled
#   from /proc/PID/fd every 0.2 s) stays below its limit, and its log never
#   says "Too many open files";
#   the seeder is still running.
# Prints a table of the figures (unloaded, loaded, limit) and the attacker's
# counters. A seeder whose RSS passes $rss_kill_mib MiB is killed (the
# machine is shared): that fails the RSS check.
# Usage: test_hostile.sh [build dir]  (needs root; skips otherwise)
# Env: LS_HOSTILE_EXPECT=0 prints the figures without failing on them (the
# benchmark, bench/bench_hostile.sh); LS_HOSTILE_MODES (ls_hostile --modes,
# default all); LS_HOSTILE_NOFILE (the seeder's fd limit, default 1024);
# NETNS_KEEP_LOGS=1.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/netns/lib.sh
source "$here/lib.sh"
# shellcheck source=tests/netns/shape.sh
source "$here/shape.sh"

bin_dir=${1:-$NETNS_BUILD_DIR}
lanspread=$bin_dir/lanspread
fetch=$bin_dir/ls_fetch
hostile=$bin_dir/ls_hostile
expect=${LS_HOSTILE_EXPECT:-1}
modes=${LS_HOSTILE_MODES:-all}
game=hostgame
port=7000
mib=32
rate=100mbit
nofile=${LS_HOSTILE_NOFILE:-1024}
flood_addrs=16
identities=8
mdns_services=256
oversize_mib=128
oversize_rate=8 # MiB/s
ramp_s=5
ratio_max=1.5
rss_max_mib=${LS_HOSTILE_RSS_MIB:-64}
rss_kill_mib=1024

netns_require
netns_shape_require
netns_need_bin "$lanspread" "$fetch" "$hostile"
command -v openssl >/dev/null || netns_skip "openssl is not installed"

# The benchmark (LS_HOSTILE_EXPECT=0) prints the figures without failing on them.
if [[ $expect != 1 ]]; then
  fail() { echo "  (not checked, LS_HOSTILE_EXPECT=0) $*"; }
fi

data=$(mktemp -d /tmp/lanspread-hostile.XXXXXX)
netns_at_exit rm -rf "$data"
netns_up 3 || { echo "FAIL: could not build the test bed"; exit 1; }
seed_addr=$(netns_addr 1)
att_host=$(netns_host 3)

# The game: AES-CTR keystream (fast), two files, version.ini last.
src=$data/seed/games/$game
mkdir -p "$src/data"
openssl enc -aes-128-ctr -nosalt -pass pass:hostile -in /dev/zero 2>/dev/null |
  head -c $((mib << 20)) >"$data/stream.bin"
head -c $((mib << 19)) "$data/stream.bin" >"$src/$game.pak"
tail -c $((mib << 19)) "$data/stream.bin" >"$src/data/part-1.bin"
rm -f "$data/stream.bin"
echo "version=1.0" >"$src/version.ini"
catalog=$data/catalog.json
echo "{\"games\":[{\"id\":\"$game\",\"name\":\"Hostile Game\"}]}" >"$catalog"
: >"$data/empty.conf"

netns_shape_up 1 "$rate" || { echo "FAIL: shaping the seeder"; exit 1; }

# The attacker's extra addresses: flood connections from each (a peer limits
# connections per address), two for its verified peers.
flood_binds=() verified_binds=()
for ((i = 0; i < flood_addrs; i++)); do
  ip -n "$att_host" addr add "198.18.0.$((100 + i))/24" dev eth0 || { echo "FAIL: address"; exit 1; }
  flood_binds+=(--bind "198.18.0.$((100 + i))")
done
for i in 90 91; do
  ip -n "$att_host" addr add "198.18.0.$i/24" dev eth0 || { echo "FAIL: address"; exit 1; }
  verified_binds+=(--verified-bind "198.18.0.$i")
done

# shellcheck disable=SC2016 # $1 and $@ belong to the inner shell
netns_run 1 seed bash -c 'ulimit -n "$1" && shift && exec "$@"' _ "$nofile" "$lanspread" daemon \
  --games "$data/seed/games" --state "$data/seed/state" --name seed \
  --listen "$seed_addr:$port" --http 127.0.0.1:7797 --catalog "$catalog" \
  --config "$data/empty.conf"
seed_pid=${NETNS_PID[seed]}
# Ready once its first scan found the game (a hello before that is held).
# The daemon runs as people run it: human log lines, no --json-events (whose
# whole-list JSON text is for scripts, not what a PC at a party runs).
seed_ready() { netns_is_alive "$seed_pid" && grep -q "first scan: 1 games" "$NETNS_LOG_DIR/seed.err"; }
netns_wait 30 seed_ready || { echo "FAIL: the seeder did not start: $(tail -n 3 "$NETNS_LOG_DIR/seed.err")"; exit 1; }

# sample_seeder FILE: "ms fds rss_kib" lines every 0.2 s until killed; kills
# the seeder if its RSS passes rss_kill_mib.
sample_seeder() {
  local out=$1 fds rss n=0
  while ((n++ < 3000)) && [[ -d /proc/$seed_pid ]]; do
    fds=$(find "/proc/$seed_pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$seed_pid/status" 2>/dev/null)
    echo "$(netns_now_ms) $fds ${rss:-0}" >>"$out"
    if ((${rss:-0} > rss_kill_mib * 1024)); then
      echo "killed: RSS ${rss} KiB" >>"$out"
      kill -KILL "$seed_pid" 2>/dev/null
      return 0
    fi
    sleep 0.2
  done
}
start_sampler() {
  sample_seeder "$1" &
  NETNS_PID["sampler"]=$!
}
stop_sampler() { netns_stop sampler; }
max_fds() { awk '$2 ~ /^[0-9]+$/ && $2 > m {m = $2} END {print m + 0}' "$1"; }
# cpu_ticks PID: user + system time in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
cpu_s() { awk -v t="$1" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.1f", t / hz}'; }
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$seed_pid/status" 2>/dev/null || echo 0; }
fd_limit() { awk '/^Max open files/ {print $4}' "/proc/$seed_pid/limits"; }

# download NAME STATE TIMEOUT: ls_fetch in host 2; sets WALL_MS and prints
# its JSON line to $NETNS_LOG_DIR/NAME.json. Non-zero unless finished.
download() {
  local name=$1 state=$2 timeout=$3 t0 rc
  rm -rf "$data/dl/games"
  mkdir -p "$data/dl/games"
  t0=$(netns_now_ms)
  ip netns exec "$(netns_host 2)" "$fetch" --games "$data/dl/games" --state "$state" \
    --peer "$seed_addr:$port" --game "$game" --catalog "$catalog" --no-install \
    --timeout "$timeout" >"$NETNS_LOG_DIR/$name.json" 2>"$NETNS_LOG_DIR/$name.err"
  rc=$?
  WALL_MS=$(($(netns_now_ms) - t0))
  return $rc
}
json_field() { python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline()).get(sys.argv[2], ""))' "$@" 2>/dev/null; }
secs() { awk -v ms="$1" 'BEGIN {printf "%.2f", ms / 1000}'; }
mib_of() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

# 1. Unloaded.
start_sampler "$NETNS_LOG_DIR/unloaded.samples"
seed_cpu0=$(cpu_ticks "$seed_pid")
if ! download unloaded "$data/dl/state1" 60; then
  echo "FAIL: the unloaded download did not finish: $(head -c 300 "$NETNS_LOG_DIR/unloaded.json")"
  exit 1
fi
stop_sampler
unloaded_ms=$WALL_MS
unloaded_cpu=$(($(cpu_ticks "$seed_pid") - seed_cpu0))
unloaded_hwm=$(hwm_kib)
unloaded_fds=$(max_fds "$NETNS_LOG_DIR/unloaded.samples")
echo "unloaded: $(secs "$unloaded_ms") s wall, download_s $(json_field "$NETNS_LOG_DIR/unloaded.json" download_s)"

# The downloader keeps its identity for the loaded run: the attacker spoofs
# its id over mDNS (peer_id = SHA-256 of the certificate's public key).
mkdir -p "$data/dl/state2"
cp "$data/dl/state1/identity.key" "$data/dl/state1/identity.crt" "$data/dl/state2/"
dl_id=$(openssl x509 -in "$data/dl/state1/identity.crt" -noout -pubkey |
  openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)

# 2. Under attack.
mkdir -p "$data/attacker"
netns_run 3 attacker "$hostile" --target "$seed_addr:$port" --work "$data/attacker" \
  --modes "$modes" --seconds 150 "${flood_binds[@]}" "${verified_binds[@]}" \
  --listen "$(netns_addr 3):$port" --identities "$identities" --game "$game" \
  --oversize-mib "$oversize_mib" --oversize-rate "$oversize_rate" \
  --mdns-services "$mdns_services" --mdns-iface eth0 \
  --mdns-addr "127.0.0.1:$port" --mdns-addr "198.19.5.5:$port" \
  --mdns-addr "198.18.0.250:$port" --mdns-addr "$(netns_addr 3):$port" \
  --mdns-spoof-id "$dl_id"
start_sampler "$NETNS_LOG_DIR/loaded.samples"
sleep "$ramp_s"
seed_cpu0=$(cpu_ticks "$seed_pid")
att_cpu0=$(cpu_ticks "${NETNS_PID[attacker]}")
# Long enough to measure a slow download, bounded so the test ends.
loaded_timeout=$(awk -v u="$unloaded_ms" 'BEGIN {t = u * 4 / 1000 + 10; print int(t > 60 ? 60 : t)}')
download loaded "$data/dl/state2" "$loaded_timeout"
loaded_rc=$?
loaded_ms=$WALL_MS
# One more try, still under attack, when the first was over the bound: the
# attacker, the seeder and the downloader share two cores with whatever
# else the machine runs, and a 3 s download is easily slowed by that; the
# better of the two counts (a defence that fails is slow both times).
if [[ $loaded_rc != 0 ]] || ! awk -v a="$loaded_ms" -v b="$unloaded_ms" -v r="$ratio_max" \
  'BEGIN {exit !(a <= b * r)}'; then
  echo "loaded: first try $(secs "$loaded_ms") s (rc $loaded_rc); trying once more under attack"
  mkdir -p "$data/dl/state3"
  cp "$data/dl/state1/identity.key" "$data/dl/state1/identity.crt" "$data/dl/state3/"
  download loaded2 "$data/dl/state3" "$loaded_timeout"
  again_rc=$?
  if [[ $again_rc == 0 ]] && { [[ $loaded_rc != 0 ]] || ((WALL_MS < loaded_ms)); }; then
    loaded_rc=0 loaded_ms=$WALL_MS
  fi
fi
loaded_cpu=$(($(cpu_ticks "$seed_pid") - seed_cpu0))
attacker_cpu=$(($(cpu_ticks "${NETNS_PID[attacker]}") - att_cpu0))
stop_sampler
netns_stop attacker
loaded_hwm=$(hwm_kib)
loaded_fds=$(max_fds "$NETNS_LOG_DIR/loaded.samples")
limit=$(fd_limit)

# The figures.
ratio=$(awk -v a="$loaded_ms" -v b="$unloaded_ms" 'BEGIN {printf "%.2f", a / b}')
printf '\n%-26s %10s %10s %12s\n' figure unloaded loaded limit
loaded_wall=$(secs "$loaded_ms")
((loaded_rc == 0)) || loaded_wall=">$loaded_wall" # not finished: a lower bound
printf '%-26s %10s %10s %12s\n' "download wall s" "$(secs "$unloaded_ms")" "$loaded_wall" \
  "$(awk -v u="$unloaded_ms" -v r="$ratio_max" 'BEGIN {printf "%.2f", u * r / 1000}')"
printf '%-26s %10s %10s %12s\n' "download_s (ls_fetch)" \
  "$(json_field "$NETNS_LOG_DIR/unloaded.json" download_s | cut -c1-6)" \
  "$(json_field "$NETNS_LOG_DIR/loaded.json" download_s | cut -c1-6)" "-"
printf '%-26s %10s %10s %12s\n' "loaded / unloaded" "1.00" "$([[ $loaded_rc == 0 ]] || echo '>')$ratio" "$ratio_max"
printf '%-26s %10s %10s %12s\n' "seeder VmHWM MiB" "$(mib_of "${unloaded_hwm:-0}")" \
  "$(mib_of "${loaded_hwm:-0}")" "$rss_max_mib"
printf '%-26s %10s %10s %12s\n' "seeder open fds (max)" "$unloaded_fds" "$loaded_fds" "${limit:-?}"
# CPU while the download ran: the attacker shares the bed's cores, so a
# slow download with a busy attacker may be the bed, not the seeder.
printf '%-26s %10s %10s %12s\n' "seeder CPU s (download)" "$(cpu_s "$unloaded_cpu")" \
  "$(cpu_s "$loaded_cpu")" "-"
printf '%-26s %10s %10s %12s\n' "attacker CPU s (download)" "-" "$(cpu_s "$attacker_cpu")" "-"
echo "attacker: $(head -n 1 "$NETNS_LOG_DIR/attacker.out")"
echo "loaded download: $(head -c 400 "$NETNS_LOG_DIR/loaded.json")"
echo

# The checks. First that the attack took place: a tool that could not
# reach the seeder proves nothing.
att=$NETNS_LOG_DIR/attacker.out
took_place=$(($(json_field "$att" conns_established || echo 0) + $(json_field "$att" mdns_published || echo 0)))
if ((took_place > 0)); then
  pass "the attack took place: $(json_field "$att" conns_established) connections, $(json_field "$att" streams_opened) streams, $(json_field "$att" hellos_acked) hellos acked, at most $(json_field "$att" chunk_held_max) chunk streams held, $(json_field "$att" mdns_published) mDNS services, $(json_field "$att" dials_in) dials to its tarpit"
else
  echo "FAIL: the attacker never connected nor published: $(tail -n 2 "$NETNS_LOG_DIR/attacker.err")"
  failures=$((failures + 1))
fi
if [[ $loaded_rc -ne 0 ]]; then
  fail "the download under attack did not finish in ${loaded_timeout} s: $(json_field "$NETNS_LOG_DIR/loaded.json" reason)"
elif awk -v a="$loaded_ms" -v b="$unloaded_ms" -v r="$ratio_max" 'BEGIN {exit !(a <= b * r)}'; then
  pass "the download under attack took ${ratio} x its unloaded time (at most $ratio_max)"
else
  fail "the download under attack took ${ratio} x its unloaded time (more than $ratio_max)"
fi
if grep -q '^killed' "$NETNS_LOG_DIR/loaded.samples"; then
  fail "the seeder's RSS passed $rss_kill_mib MiB: killed ($(grep '^killed' "$NETNS_LOG_DIR/loaded.samples"))"
elif ((${loaded_hwm:-0} < rss_max_mib * 1024)); then
  pass "the seeder's peak RSS was $(mib_of "$loaded_hwm") MiB (under $rss_max_mib)"
else
  fail "the seeder's peak RSS was $(mib_of "${loaded_hwm:-0}") MiB (limit $rss_max_mib)"
fi
if [[ -z $limit ]] || ((loaded_fds >= limit)); then
  fail "the seeder held $loaded_fds file descriptors (limit ${limit:-unknown})"
else
  pass "the seeder held at most $loaded_fds file descriptors (limit $limit)"
fi
# The fd count is the main check: the daemon maps EMFILE from open() to
# LS_EIO without a log line; libuv's and glibc's texts are caught here.
emfile=$(grep -ci 'too many open files' "$NETNS_LOG_DIR/seed.err" || true)
if ((emfile > 0)); then
  fail "the seeder's log says 'Too many open files' $emfile times"
else
  pass "the seeder's log never says 'Too many open files'"
fi
if netns_is_alive "$seed_pid"; then
  pass "the seeder is still running"
else
  fail "the seeder died: $(tail -n 2 "$NETNS_LOG_DIR/seed.err")"
fi

netns_verdict "PASS: hostile peer"
