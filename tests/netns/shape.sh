# Link shaping for the multi-host test bed (tests/netns/lib.sh), with
# `tc ... htb` (netem and tbf are not available). Source after lib.sh.
#   netns_shape_require      skip (exit 0, "SKIPPED: ...") unless htb works
#   netns_shape_up I RATE    host I's uplink: egress of its eth0 (e.g. 400mbit)
#   netns_shape_down I RATE  host I's downlink: egress of the bridge-side veth
# Each is one htb class (rate = ceil) as the root qdisc's default, with a
# burst big enough for the rate (the default of one MTU under-runs at
# hundreds of Mbit/s with the kernel timer) and a queue of 2000 packets.
# The qdiscs go away with the namespaces.
# shellcheck shell=bash

netns_shape_apply() {
  local ns=$1 dev=$2 rate=$3
  ip netns exec "$ns" tc qdisc add dev "$dev" root handle 1: htb default 10 r2q 1000 &&
    ip netns exec "$ns" tc class add dev "$dev" parent 1: classid 1:10 htb \
      rate "$rate" ceil "$rate" burst 256k cburst 256k quantum 60000 &&
    ip netns exec "$ns" tc qdisc add dev "$dev" parent 1:10 handle 10: pfifo limit 2000
}

netns_shape_up() { netns_shape_apply "$(netns_host "$1")" eth0 "$2"; }

netns_shape_down() { netns_shape_apply "$NETNS_BRIDGE_NS" "v$1" "$2"; }

# Tries htb on a throw-away veth pair in a throw-away namespace.
netns_shape_require() {
  local ns="${NETNS_TAG}tc" why=""
  ip netns add "$ns" 2>/dev/null || netns_skip "cannot create a network namespace"
  if ! ip -n "$ns" link add ta type veth peer name tb 2>/dev/null; then
    why="cannot create a veth pair"
  elif ! ip netns exec "$ns" tc qdisc add dev ta root handle 1: htb default 10 2>/dev/null; then
    why="tc htb is not available (sch_htb, iproute2 tc)"
  fi
  ip netns del "$ns"
  [[ -z $why ]] || netns_skip "$why"
}
