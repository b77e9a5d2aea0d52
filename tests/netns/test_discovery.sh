#!/usr/bin/env bash
# Discovery between real hosts: mdns_probe (ls_discovery on a libuv loop) in
# network namespaces on one bridge. Scenarios:
#   two hosts see each other; a clean stop (goodbye) is reported lost;
#   ten hosts plus a second peer on one host all see each other;
#   a protocol-3 peer is ignored with one log line per observer;
#   a TXT update (new rev) reaches every other peer;
#   a SIGKILLed peer is never re-announced (and is it reported lost?);
#   a system avahi-daemon in one host keeps working beside the peers there.
# Usage: test_discovery.sh [path/to/mdns_probe]  (needs root; skips otherwise)
# LS_NETNS_KILL_WAIT=N waits N s (default 15) for the SIGKILLed peer to be lost.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/netns/lib.sh
source "$here/lib.sh"

probe=${1:-$NETNS_BUILD_DIR/mdns_probe}
kill_wait=${LS_NETNS_KILL_WAIT:-15}
probe_seconds=$((kill_wait + 85))

netns_require
netns_need_bin "$probe"

# Probes derive their peer_id from their name: sha256(name) in hex. Cached,
# since the visibility checks below poll many times a second.
declare -A ID_CACHE=()
id_of() {
  [[ -n ${ID_CACHE[$1]:-} ]] || ID_CACHE[$1]=$(printf '%s' "$1" | sha256sum | cut -c1-64)
  echo "${ID_CACHE[$1]}"
}
for name in a1 a2 old blind daemonpeer n{1..11}; do id_of "$name" >/dev/null; done


# True when probe NAME has reported every peer in the remaining arguments.
sees_all() {
  local name=$1 peer
  shift
  for peer in "$@"; do
    grep -q "^found id=${ID_CACHE[$peer]} " "$NETNS_LOG_DIR/$name.out" 2>/dev/null || return 1
  done
}

everyone_sees_everyone() {
  local a b others
  for a in "$@"; do
    others=()
    for b in "$@"; do [[ $b == "$a" ]] || others+=("$b"); done
    sees_all "$a" "${others[@]}" || return 1
  done
}

has_line() { grep -q "$2" "$NETNS_LOG_DIR/$1.out" 2>/dev/null; }

all_have_line() {
  local pattern=$1 name
  shift
  for name in "$@"; do has_line "$name" "$pattern" || return 1; done
}

# Longest time, over the probes named, from a probe's start until it had
# found every other one (from the probes' own clocks: no polling delay).
slowest_full_view() {
  local name worst=0 t ids=""
  for name in "$@"; do ids+="id=${ID_CACHE[$name]} "; done
  for name in "$@"; do
    t=$(grep '^found' "$NETNS_LOG_DIR/$name.out" | awk -v ids="$ids" '
      index(ids, $2 " ") && !($2 in seen) { seen[$2] = 1; sub("ms=", "", $NF); last = $NF }
      END { print last + 0 }')
    ((t > worst)) && worst=$t
  done
  echo "$worst"
}

start_probe() { # host name [extra args]
  local host=$1 name=$2
  shift 2
  netns_run "$host" "$name" "$probe" --name "$name" --port $((4000 + host)) --seconds "$probe_seconds" "$@"
}

netns_up 10 || { echo "FAIL: could not build the test bed"; exit 1; }

# ---- two hosts -------------------------------------------------------------
t0=$(netns_now_ms)
start_probe 1 a1
start_probe 2 a2
if netns_wait 20 everyone_sees_everyone a1 a2; then
  pass "2 hosts see each other: $(slowest_full_view a1 a2) ms after a probe starts ($(($(netns_now_ms) - t0)) ms wall clock)"
else
  fail "2 hosts did not see each other within 20 s"
fi
if has_line a2 "found id=$(id_of a1) pv=5 rev=0 .*addr=198.18.0.1:4001 if=eth0"; then
  pass "a2 reports a1's rev, address and interface"
else
  fail "a2's report of a1 lacks rev/address/interface: $(grep found "$NETNS_LOG_DIR/a2.out" | head -1)"
fi
t0=$(netns_now_ms)
netns_stop a1
if netns_wait 10 has_line a2 "^lost id=$(id_of a1) "; then
  pass "clean stop (goodbye) reported lost after $(($(netns_now_ms) - t0)) ms"
else
  fail "a2 did not report a1 lost within 10 s of its clean stop"
fi
netns_stop a2

# ---- ten hosts, two peers on host 1, an old peer, a system avahi-daemon -----
# The system daemon also publishes two _lanspread._udp services from static
# files: a valid one (proves its announcements reach the peers through the
# shared port 5353) and a malformed one (must be ignored with one log line).
daemon_id=$(id_of daemonpeer)
write_service_files() {
  local dir=$1
  mkdir -p "$dir"
  cat >"$dir/valid.service" <<EOF
<?xml version="1.0" standalone='no'?>
<!DOCTYPE service-group SYSTEM "avahi-service.dtd">
<service-group><name>daemonpeer</name><service><type>_lanspread._udp</type>
<port>4667</port><txt-record>pv=5</txt-record><txt-record>id=$daemon_id</txt-record>
<txt-record>rev=5</txt-record><txt-record>dg=$daemon_id</txt-record></service></service-group>
EOF
  cat >"$dir/broken.service" <<EOF
<?xml version="1.0" standalone='no'?>
<!DOCTYPE service-group SYSTEM "avahi-service.dtd">
<service-group><name>broken</name><service><type>_lanspread._udp</type>
<port>4668</port><txt-record>pv=5</txt-record><txt-record>id=not-hex</txt-record>
<txt-record>rev=99999999999999999999999</txt-record></service></service-group>
EOF
}

daemon=""
if command -v avahi-daemon >/dev/null && command -v unshare >/dev/null &&
  [[ -d /run/avahi-daemon && -d /etc/avahi/services ]]; then
  conf="$NETNS_LOG_DIR/avahi-daemon.conf"
  cat >"$conf" <<EOF
[server]
host-name=sysavahi6
use-ipv4=yes
use-ipv6=no
enable-dbus=no
allow-interfaces=eth0
[wide-area]
enable-wide-area=no
[publish]
publish-hinfo=yes
publish-workstation=yes
EOF
  write_service_files "$NETNS_LOG_DIR/services"
  # A private mount namespace: our pid file and service files, so a system
  # daemon elsewhere on this machine is neither met nor changed.
  netns_run 6 avahi-daemon unshare -m --propagation private sh -c \
    'mount -t tmpfs none /run/avahi-daemon && mount --bind "$2" /etc/avahi/services &&
     exec avahi-daemon -f "$1" --no-drop-root --no-chroot --no-rlimits' \
    sh "$conf" "$NETNS_LOG_DIR/services"
  daemon=avahi-daemon
  if ! netns_wait 10 grep -q "Server startup complete" "$NETNS_LOG_DIR/avahi-daemon.err"; then
    # Depends on the machine (mounts in a mount namespace), not on our code.
    echo "note: avahi-daemon did not start here: coexistence not tested"
    tail -n 5 "$NETNS_LOG_DIR/avahi-daemon.err"
    netns_stop avahi-daemon
    daemon=""
  fi
else
  echo "note: avahi-daemon not installed (scripts/deps.sh installs it): coexistence not tested"
fi

peers=()
t0=$(netns_now_ms)
for i in $(seq 1 10); do
  extra=()
  ((i == 2)) && extra=(--iface eth0) # an allow-list naming the link in use
  start_probe "$i" "n$i" "${extra[@]}"
  peers+=("n$i")
done
# An allow-list naming no interface of the host: sees nobody, nobody sees it.
netns_run 8 blind "$probe" --name blind --port 4088 --seconds "$probe_seconds" --iface nope0
netns_run 1 n11 "$probe" --name n11 --port 4011 --seconds "$probe_seconds"
peers+=(n11)
netns_run 2 old "$probe" --name old --port 4099 --seconds "$probe_seconds" --pv 3
if netns_wait 40 everyone_sees_everyone "${peers[@]}"; then
  pass "11 peers on 10 hosts see all 10 others: $(slowest_full_view "${peers[@]}") ms after a probe starts ($(($(netns_now_ms) - t0)) ms wall clock, incl. polling)"
else
  fail "11 peers did not all see each other within 40 s"
  for p in "${peers[@]}"; do
    echo "  $p sees $(grep -c '^found' "$NETNS_LOG_DIR/$p.out") reports"
  done
fi
if sees_all n1 n11 && sees_all n11 n1; then
  pass "two peers in the same namespace see each other"
else
  fail "n1 and n11 (same host) do not see each other"
fi

bad=0
grep -q '^found' "$NETNS_LOG_DIR/blind.out" && { fail "a peer limited to a missing interface found peers"; bad=1; }
for p in "${peers[@]}"; do
  grep -q "^found id=$(id_of blind)" "$NETNS_LOG_DIR/$p.out" && { fail "$p found the blind peer"; bad=1; }
done
((bad)) || pass "the interface allow-list is honoured (a peer limited to a missing interface stays apart)"

# The old peer: never reported, one warning per observer.
old_id=$(id_of old)
bad=0
for p in "${peers[@]}"; do
  grep -q "^found id=$old_id" "$NETNS_LOG_DIR/$p.out" && { fail "$p reported the pv=3 peer"; bad=1; }
  n=$(grep -c "ignoring peer $old_id" "$NETNS_LOG_DIR/$p.err")
  [[ $n -eq 1 ]] || { fail "$p logged the pv=3 peer $n times (want 1)"; bad=1; }
done
((bad)) || pass "the pv=3 peer is ignored by all 11, with exactly one log line each"

# A peer that stops from inside its own found callback exits cleanly.
netns_run 7 quitter "$probe" --name quitter --port 4077 --seconds 30 --stop-after-found 3
if netns_wait 15 netns_is_dead "${NETNS_PID[quitter]}" && wait "${NETNS_PID[quitter]}" \
  && has_line quitter "^exit "; then
  pass "stopping from inside found_cb exits cleanly"
else
  fail "a probe stopping inside found_cb did not exit cleanly"
fi
unset "NETNS_PID[quitter]"

# TXT update: n3 bumps its rev to 1.
others=()
for p in "${peers[@]}"; do [[ $p == n3 ]] || others+=("$p"); done
t0=$(netns_now_ms)
kill -USR1 "${NETNS_PID[n3]}"
if netns_wait 15 all_have_line "^found id=$(id_of n3) pv=5 rev=1 " "${others[@]}"; then
  pass "TXT update (rev 0 -> 1) reached all 10 others after $(($(netns_now_ms) - t0)) ms"
else
  fail "TXT update of n3 did not reach every peer within 15 s"
fi

# SIGKILL: no goodbye. Count who reports it lost, and check nobody re-finds it.
n4_id=$(id_of n4)
others=()
for p in "${peers[@]}"; do [[ $p == n4 ]] || others+=("$p"); done
declare -A before=()
for p in "${others[@]}"; do before[$p]=$(grep -c "^found id=$n4_id" "$NETNS_LOG_DIR/$p.out"); done
t0=$(netns_now_ms)
kill -KILL "${NETNS_PID[n4]}"
wait "${NETNS_PID[n4]}" 2>/dev/null
unset "NETNS_PID[n4]"
netns_wait "$kill_wait" all_have_line "^lost id=$n4_id " "${others[@]}"
lost=0
for p in "${others[@]}"; do has_line "$p" "^lost id=$n4_id " && lost=$((lost + 1)); done
echo "measure: SIGKILLed peer reported lost by $lost of ${#others[@]} peers within $(($(netns_now_ms) - t0)) ms" \
  "(wait limit ${kill_wait} s; records expire after their 120 s TTL)"
bad=0
for p in "${others[@]}"; do
  after=$(grep -c "^found id=$n4_id" "$NETNS_LOG_DIR/$p.out")
  [[ $after -eq ${before[$p]} ]] || { fail "$p re-reported the SIGKILLed peer"; bad=1; }
done
((bad)) || pass "the SIGKILLed peer was not re-announced to anyone"

# Clean stop in a crowd: every other peer hears the goodbye.
others=()
for p in "${peers[@]}"; do [[ $p == n5 || $p == n4 ]] || others+=("$p"); done
t0=$(netns_now_ms)
netns_stop n5
if netns_wait 10 all_have_line "^lost id=$(id_of n5) " "${others[@]}"; then
  pass "clean stop of n5 reported lost by all 9 others after $(($(netns_now_ms) - t0)) ms"
else
  fail "clean stop of n5 not reported lost by every peer within 10 s"
fi

if [[ -n $daemon ]]; then
  if netns_wait 10 all_have_line "^found id=$daemon_id pv=5 rev=5 .*addr=198.18.0.6:4667 " "${peers[@]}"; then
    pass "a service published by avahi-daemon reached all 11 peers (shared port 5353)"
  else
    fail "the avahi-daemon service did not reach every peer"
  fi
  bad=0
  for p in "${peers[@]}"; do
    n=$(grep -c "ignoring service 'broken'" "$NETNS_LOG_DIR/$p.err")
    [[ $n -eq 1 ]] || { fail "$p logged the malformed service $n times (want 1)"; bad=1; }
  done
  ((bad)) || pass "a malformed TXT record is ignored by all 11, one log line each"
  err="$NETNS_LOG_DIR/avahi-daemon.err"
  if ! netns_is_alive "${NETNS_PID[avahi-daemon]}"; then
    fail "avahi-daemon in host 6 died"
  elif grep -qiE "conflict|collision" "$err"; then
    fail "avahi-daemon saw a name conflict: $(grep -iE 'conflict|collision' "$err" | head -2)"
  elif ! sees_all n6 n1 n2 n3 n7 n8 n9 n10 n11; then
    fail "the peer next to avahi-daemon does not see the others"
  else
    pass "avahi-daemon in host 6 kept its name (sysavahi6.local) and ran beside peer n6"
  fi
fi

netns_verdict "test_discovery: all passed"
