#!/usr/bin/env bash
# The party key from the command line, on loopback:
#  - `party-key new` prints a typeable 128-bit key alone on its last line;
#  - a peer started with a key that dials a peer without one shows it
#    nothing: the keyless peer's list-games never lists the keyed peer's
#    games (issue #14: it used to, from the keyed peer's first hello);
#  - a peer with another key gets nothing either way; the same key (from a
#    file, or the environment) gets in;
#  - --party-key on the command line works but warns (ps shows it); a short
#    passphrase warns.
set -euo pipefail
source "$(dirname "$0")/lib_daemons.sh"

# --- party-key new ------------------------------------------------------
form='^[a-z2-7]{4}(-[a-z2-7]{4}){6}$'
declare -A seen=()
for _ in $(seq 20); do
  out=$("$bin" party-key new) || fail "party-key new failed"
  key=$(printf '%s\n' "$out" | tail -n 1)
  [[ $key =~ $form ]] || fail "party-key new's last line is not a key: '$key'"
  [[ -z ${seen[$key]:-} ]] || fail "party-key new printed the same key twice: $key"
  seen[$key]=1
done
# 28 base32 letters carry 140 bits; 128 of them random: the 20 keys differ
# in about half of their letters from one another, not in a few.
python3 - "${!seen[@]}" <<'EOF' || fail "generated keys look alike"
import sys
keys = [k.replace("-", "") for k in sys.argv[1:]]
pairs = [(a, b) for i, a in enumerate(keys) for b in keys[i + 1:]]
same = min(sum(x != y for x, y in zip(a, b)) for a, b in pairs)
sys.exit(0 if same >= 14 else 1)
EOF
"$bin" party-key >/dev/null 2>&1 && fail "party-key without 'new' should be a usage error"

# --- keyed dialer, keyless acceptor --------------------------------------
"$bin" demo-library "$work/a" --games 2 --file-size 1024 >/dev/null
"$bin" demo-library "$work/b" --games 4 --file-size 1024 >/dev/null
for id in $(ls "$work/a"); do rm -rf "${work:?}/b/$id"; done
b_games=$(ls "$work/b" | tr "\n" " ")
printf '%s\n' "$key" >"$work/party.key"

# start NAME GAMES [ARGS...]: a daemon with its events in $work/NAME.out;
# its QUIC port ends up in ${NAME}_port.
start() {
  local name=$1 games=$2; shift 2
  : >"$work/$name.conf"
  "$bin" daemon --games "$games" --state "$work/s-$name" --name "$name" --listen 127.0.0.1:0 \
    --no-http --no-mdns --config "$work/$name.conf" --json-events "$@" \
    >"$work/$name.out" 2>"$work/$name.err" &
  pids+=($!)
  local port=""
  for _ in $(seq 100); do port=$(ready_port "$work/$name.out"); [[ -n $port ]] && break; sleep 0.1; done
  [[ -n $port ]] || fail "daemon $name never became ready"
  printf -v "${name}_port" '%s' "$port"
}

# lists OUT-FILE ID...: some list-games event in OUT-FILE lists one of IDs.
lists_any() {
  python3 - "$@" <<'EOF'
import json, sys
ids = set(sys.argv[2:])
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("event") == "list-games" and ids & {g.get("id") for g in e["data"].get("games", [])}:
        sys.exit(0)
sys.exit(1)
EOF
}

start open "$work/a"
start keyed "$work/b" --party-key-file "$work/party.key" --peer "127.0.0.1:$open_port"
wait_for 15 grep -q "wrong or missing party key proof" "$work/keyed.err" ||
  fail "the keyed peer never refused the keyless peer's hello_ack"
sleep 1 # a second dial round (reconnect interval) must change nothing
# shellcheck disable=SC2086
lists_any "$work/open.out" $b_games && fail "the keyless peer lists the keyed peer's games"
grep -q '"name":"keyed"' "$work/open.out" && fail "the keyless peer reported the keyed peer"
lists_any "$work/keyed.out" $(ls "$work/a") && fail "the keyed peer applied the keyless one's games"
grep -q "warning: --party-key on the command line" "$work/keyed.err" &&
  fail "--party-key-file warned like --party-key"

# --- another key gets nothing, the same key (from the environment) gets in
start wrong "$work/a" --party-key "not-the-party-key-at-all" --peer "127.0.0.1:$keyed_port"
grep -q "warning: --party-key on the command line" "$work/wrong.err" ||
  fail "--party-key on the command line gave no warning"
wait_for 15 grep -q "wrong party key" "$work/keyed.err" || fail "the other key was not refused"
# shellcheck disable=SC2086
lists_any "$work/wrong.out" $b_games && fail "a peer with another key lists the keyed games"
lists_any "$work/keyed.out" $(ls "$work/a") && fail "the keyed peer lists the other key's games"

LANSPREAD_PARTY_KEY=$key start friend "$work/a" --peer "127.0.0.1:$keyed_port"
# shellcheck disable=SC2086
wait_for 15 lists_any "$work/friend.out" $b_games || fail "the same key (environment) got nothing"
wait_for 15 lists_any "$work/keyed.out" $(ls "$work/a") || fail "the keyed peer lists not its friend"

# --- a short passphrase warns, a typo in a generated key is refused -------
# run_until_line NAME PATTERN ARGS...: a daemon that must print PATTERN on
# stderr (then it is stopped).
run_until_line() {
  local name=$1 pattern=$2; shift 2
  "$bin" daemon --games "$work/a" --state "$work/s-$name" --listen 127.0.0.1:0 --no-http \
    --no-mdns "$@" >"$work/$name.out" 2>"$work/$name.err" &
  local pid=$!
  pids+=($pid)
  wait_for 15 grep -q "$pattern" "$work/$name.err" || fail "$name: no '$pattern' on stderr"
  kill "$pid" 2>/dev/null || true
}
printf 'short\n' >"$work/short.key"
run_until_line short "passphrase is short" --party-key-file "$work/short.key"
grep -q "stretched with Argon2id" "$work/short.err" || fail "a passphrase was not stretched with Argon2id"
grep -q "Argon2id" "$work/keyed.err" && fail "a generated key went through Argon2id"

# The documented check (PROTOCOL.md, party key), recomputed here: the key
# passes it; the same key with one letter changed so that it fails.
typo=$(python3 - "$key" <<'EOF'
import hashlib, sys
A = "abcdefghijklmnopqrstuvwxyz234567"
def bits(text):
    return "".join(format(A.index(c), "05b") for c in text.replace("-", ""))
def check_ok(text):
    b = bits(text)
    rnd = int(b[:128], 2).to_bytes(16, "big")
    d = hashlib.sha256(b"lanspread party key check" + rnd).digest()
    return b[128:140] == format(int.from_bytes(d[:2], "big") >> 4, "012b")
key = sys.argv[1]
if not check_ok(key):
    sys.exit("the generated key fails the documented check")
for c in A:
    t = c + key[1:]
    if c != key[0] and not check_ok(t):
        print(t)
        break
EOF
) || fail "party-key new's key does not follow PROTOCOL.md"
rc=0
timeout 10 "$bin" daemon --games "$work/a" --state "$work/s-typo" --listen 127.0.0.1:0 --no-http \
  --no-mdns --party-key "$typo" >"$work/typo.out" 2>"$work/typo.err" || rc=$?
[[ $rc -ne 0 && $rc -ne 124 ]] || fail "a mistyped generated key was accepted (exit $rc)"
grep -q "check letters do not match" "$work/typo.err" || fail "no clear message for a mistyped key"

echo "cli party key: all checks passed"
