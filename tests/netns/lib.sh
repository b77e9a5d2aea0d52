# Multi-host test bed: N hosts as network namespaces on one bridge.
# Source it from a test script (bash), then:
#   netns_require            skip (print "SKIPPED: <why>", exit 0; CTest
#                            reports it skipped) unless namespaces can be made
#   netns_skip WHY           the same skip, for a test's own reasons
#   netns_up N               hosts 1..N at 198.18.0.1..N/24 on one bridge, each
#                            with eth0 and lo up; makes $NETNS_LOG_DIR and
#                            installs the EXIT trap (netns_down). Non-zero on
#                            any error (the trap still cleans up).
#   netns_at_exit CMD...     one more cleanup step for netns_down, run after our
#                            processes are stopped (e.g. rm -rf of a work dir).
#                            A script never sets its own EXIT trap: that would
#                            replace netns_down, or put commands before it
#                            whose status netns_down would read as the verdict.
#   netns_host I             the namespace name of host I (for ip netns exec / ip -n)
#   netns_addr I             its address, 198.18.0.I
#   netns_run I NAME cmd...  run cmd in host I in the background; stdout/stderr go
#                            to $NETNS_LOG_DIR/NAME.out and NAME.err; pid in NETNS_PID[NAME]
#   netns_stop NAME          SIGTERM the process NAME, SIGKILL after 3 s, reap it
#   netns_set_mtu MTU        every link of the bed (hosts' eth0, their bridge
#                            ports, the bridge) to MTU; non-zero on an error
#   netns_wait SECS cmd...   poll cmd every 0.1 s until it succeeds or SECS pass
#   netns_is_alive PID / netns_is_dead PID   (a zombie counts as dead)
#   netns_now_ms             wall clock in milliseconds
#   netns_find_python        NETNS_PYTHON = the python3 interpreter itself, not
#                            a wrapper in PATH (a pyenv shim is a bash script
#                            that costs ~0.1 CPU s per start: watchers of a
#                            timed run start inside its window)
#   netns_log MSG            timestamped line on stderr
#   netns_down               kill our processes, run the netns_at_exit steps,
#                            delete our namespaces (runs on EXIT; exits with the
#                            script's status, 1 on a leak; cleanup never changes
#                            a failure into a pass)
# For test scripts (the preamble and verdict every tests/netns script shares):
#   NETNS_BUILD_DIR          the build directory: $LS_TEST_BINARY_DIR (CTest
#                            sets it), else build/ beside the sources
#   failures                 failed checks so far (0 when lib.sh is sourced)
#   fail MSG                 prints "FAIL: MSG" and counts it (CTest's
#                            FAIL_REGULAR_EXPRESSION fails the test on the line
#                            alone); the script goes on with its next check
#   pass MSG                 prints "ok: MSG"
#   netns_need_bin FILE...   "FAIL: FILE not found (build first)" and exit 1
#                            unless every FILE is executable
#   netns_verdict MSG        the script's last line: with failures, prints
#                            "FAILED: N check(s)" and exits 1; else prints MSG
#                            and exits 0 (netns_down keeps that status)
# Environment: NETNS_KEEP_LOGS=1 keeps $NETNS_LOG_DIR (it is kept anyway, and
# the tails of the logs printed, when the script fails).
# A test may put its own files in $NETNS_LOG_DIR; it is removed on success.
# Every name carries a per-run tag, so parallel runs and leftovers from other
# programs are never touched. The bridge lives in its own namespace: the root
# namespace gets no new link, and test traffic cannot leave the bed.
# shellcheck shell=bash

NETNS_TAG="ls$$"
NETNS_BRIDGE_NS="${NETNS_TAG}br"
NETNS_HOSTS=0
NETNS_CREATED=()  # namespaces, in creation order
declare -A NETNS_PID=()
NETNS_AT_EXIT=()  # cleanup commands, each one shell-quoted line
NETNS_LOG_DIR=""
NETNS_KEEP_LOGS="${NETNS_KEEP_LOGS:-}"
NETNS_OWNER=""  # $BASHPID of the shell that installed the EXIT trap

# shellcheck disable=SC2034 # read by the scripts that source this file
NETNS_BUILD_DIR=${LS_TEST_BINARY_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build}
failures=0

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

pass() { echo "ok: $*"; }

netns_need_bin() {
  local b
  for b in "$@"; do
    [[ -x $b ]] || { echo "FAIL: $b not found (build first)"; exit 1; }
  done
}

netns_verdict() {
  if ((failures > 0)); then
    echo "FAILED: $failures check(s)"
    exit 1
  fi
  echo "$*"
  exit 0
}

netns_log() { printf '[netns %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

netns_skip() {
  echo "SKIPPED: $*"
  exit 0
}

netns_host() { echo "${NETNS_TAG}h$1"; }

netns_addr() { echo "198.18.0.$1"; }

netns_require() {
  [[ $(id -u) -eq 0 ]] || netns_skip "network namespaces need root (CAP_NET_ADMIN)"
  command -v ip >/dev/null || netns_skip "iproute2 (ip) is not installed"
  if ! ip netns add "${NETNS_TAG}chk" 2>/dev/null; then
    netns_skip "cannot create a network namespace (ip netns add failed)"
  fi
  local why=""
  ip -n "${NETNS_TAG}chk" link add b0 type bridge 2>/dev/null ||
    why="cannot create a bridge inside a network namespace"
  [[ -n $why ]] || ip netns exec "${NETNS_TAG}chk" true 2>/dev/null ||
    why="cannot run a program in a network namespace (ip netns exec failed)"
  ip netns del "${NETNS_TAG}chk"
  [[ -z $why ]] || netns_skip "$why"
}

netns_at_exit() { NETNS_AT_EXIT+=("${*@Q}"); }

netns_add_ns() {
  ip netns add "$1" || return 1
  NETNS_CREATED+=("$1")
  ip -n "$1" link set lo up
}

# Makes the bridge namespace and N hosts. Fails (non-zero) on any error; the
# EXIT trap removes whatever was made.
netns_up() {
  local n=$1 i host
  NETNS_LOG_DIR=$(mktemp -d "/tmp/lanspread-netns.XXXXXX")
  NETNS_OWNER=$BASHPID
  trap netns_down EXIT
  trap 'exit 130' INT TERM
  netns_add_ns "$NETNS_BRIDGE_NS" || return 1
  # Snooping off: with no multicast router on the bridge, IGMP snooping could
  # drop mDNS between ports.
  ip -n "$NETNS_BRIDGE_NS" link add br0 type bridge mcast_snooping 0 || return 1
  ip -n "$NETNS_BRIDGE_NS" link set br0 up || return 1
  # A LAN switch does not hand frames to a host's IP firewall. Where the
  # kernel has br_netfilter loaded, its per-namespace default (1) sends
  # every bridged packet through the IP hooks, with a routing lookup each:
  # a cost of the bed that the hosts' daemons paid (in their sends).
  local hook
  for hook in iptables ip6tables arptables; do
    ip netns exec "$NETNS_BRIDGE_NS" sh -c "echo 0 >/proc/sys/net/bridge/bridge-nf-call-$hook" \
      2>/dev/null || true
  done
  for ((i = 1; i <= n; i++)); do
    host=$(netns_host "$i")
    netns_add_ns "$host" || return 1
    ip -n "$NETNS_BRIDGE_NS" link add "v$i" type veth peer name eth0 netns "$host" || return 1
    ip -n "$NETNS_BRIDGE_NS" link set "v$i" master br0 up || return 1
    ip -n "$host" addr add "$(netns_addr "$i")/24" dev eth0 || return 1
    ip -n "$host" link set eth0 multicast on up || return 1
  done
  NETNS_HOSTS=$n
  netns_log "up: $n hosts (tag $NETNS_TAG), logs in $NETNS_LOG_DIR"
}

# Runs a command in host I in the background, recording its pid under NAME.
netns_run() {
  local i=$1 name=$2
  shift 2
  ip netns exec "$(netns_host "$i")" "$@" >"$NETNS_LOG_DIR/$name.out" 2>"$NETNS_LOG_DIR/$name.err" &
  NETNS_PID[$name]=$!
}

# Sets the MTU of every link of the bed (after netns_up).
netns_set_mtu() {
  local mtu=$1 i
  for ((i = 1; i <= NETNS_HOSTS; i++)); do
    ip -n "$NETNS_BRIDGE_NS" link set "v$i" mtu "$mtu" || return 1
    ip -n "$(netns_host "$i")" link set eth0 mtu "$mtu" || return 1
  done
  ip -n "$NETNS_BRIDGE_NS" link set br0 mtu "$mtu"
}

# Polls until the command succeeds; non-zero after SECS seconds.
netns_now_ms() { echo $(($(date +%s%N) / 1000000)); }

netns_find_python() {
  NETNS_PYTHON=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)
  [[ -n $NETNS_PYTHON ]] || NETNS_PYTHON=python3
}

netns_wait() {
  local deadline=$(($(netns_now_ms) + $1 * 1000)) tries=100000
  shift
  while ((tries-- > 0)); do
    "$@" && return 0
    (($(netns_now_ms) < deadline)) || return 1
    sleep 0.1
  done
  return 1
}

# A zombie (exited, not yet reaped) counts as dead.
netns_is_alive() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $state && $state != Z ]]
}

netns_is_dead() { ! netns_is_alive "$1"; }

# Stops one recorded process: SIGTERM, then SIGKILL after 3 s.
netns_stop() {
  local name=$1 pid=${NETNS_PID[$1]:-}
  [[ -n $pid ]] || return 0
  # A process that already exited makes kill and wait fail; under set -e
  # that must not abort the caller (netns_down would leak namespaces).
  kill -TERM "$pid" 2>/dev/null || true
  netns_wait 3 netns_is_dead "$pid" || kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  unset "NETNS_PID[$name]"
}

netns_dump_logs() {
  local f
  for f in "$NETNS_LOG_DIR"/*; do
    [[ -f $f && -s $f ]] || continue
    echo "---- ${f##*/} (last 15 lines)" >&2
    tail -n 15 "$f" >&2
  done
}

# The EXIT trap. $? on entry is the script's verdict: it is read first, and
# only a leak may change it (to 1). Teardown is best-effort (set +e): a
# failing step must neither stop it halfway nor become the exit status.
netns_down() {
  local rc=$? name ns left i step
  # A child of netns_run signalled before its exec still has our traps and
  # would tear the bed down (and run the cleanup steps) in our place.
  [[ $BASHPID == "$NETNS_OWNER" ]] || exit "$rc"
  set +e
  trap - EXIT INT TERM
  for name in "${!NETNS_PID[@]}"; do
    netns_stop "$name"
  done
  for step in "${NETNS_AT_EXIT[@]}"; do
    eval "$step" || netns_log "cleanup step failed: $step"
  done
  NETNS_AT_EXIT=()
  for ((i = ${#NETNS_CREATED[@]} - 1; i >= 0; i--)); do
    ns=${NETNS_CREATED[$i]}
    ip netns del "$ns" 2>/dev/null || netns_log "could not delete namespace $ns"
  done
  NETNS_CREATED=()
  left=$(ip netns list 2>/dev/null | grep -c "^${NETNS_TAG}" || true)
  if [[ $left -ne 0 ]]; then
    netns_log "LEAK: $left namespaces of this run remain"
    rc=1
  else
    netns_log "down: every namespace, link and process of this run is gone"
  fi
  if [[ -n $NETNS_LOG_DIR && -d $NETNS_LOG_DIR ]]; then
    if [[ $rc -ne 0 || -n $NETNS_KEEP_LOGS ]]; then
      [[ $rc -ne 0 ]] && netns_dump_logs
      netns_log "logs kept in $NETNS_LOG_DIR"
    else
      rm -rf "$NETNS_LOG_DIR"
    fi
  fi
  exit "$rc"
}
