#!/usr/bin/env bash
# A download seen through the control API as the web UI sees it: polled
# every 50 ms from the request to the end of the install, the game never
# goes back to "remote" (no moment where a finished download looks not
# downloaded and offers Download again), a second download request is
# refused with 409 while it downloads and once it is downloaded, and the
# library takes the verified hashes instead of hashing the game again.
set -euo pipefail
source "$(dirname "$0")/lib_daemons.sh"

# Big enough that the transfer spans many polls.
start_pair_big 192

python3 - "$B" "$game" "$A" >"$work/poll.txt" <<'EOF' || { cat "$work/poll.txt" >&2; fail "the game's state went wrong (above)"; }
import json, socket, sys, time
state_dir, game, seeder_dir = sys.argv[1:4]
ep = json.load(open(state_dir + "/api.json"))
seeder_ep = json.load(open(seeder_dir + "/api.json"))

def call(method, path, ep=ep):
    host = ep["url"][len("http://"):].rstrip("/")
    addr, port = host.rsplit(":", 1)
    s = socket.create_connection((addr, int(port)), timeout=10)
    req = "%s %s HTTP/1.0\r\nHost: %s\r\nX-Lanspread-Token: %s\r\nContent-Length: 0\r\n\r\n" % (
        method, path, host, ep["token"])
    s.sendall(req.encode())
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body.decode()

status, body = call("POST", "/api/games/%s/download" % game)
assert status == 202, "first download request: %d %s" % (status, body)
seen, refused_running, refused_done = [], None, None
upload_peers = set()  # the seeder's "to N peers" for the game, as polled
deadline = time.time() + 90
while time.time() < deadline:
    status, body = call("GET", "/api/games/" + game)
    state = json.loads(body)["state"]
    if not seen or seen[-1] != state:
        seen.append(state)
        print("state:", state, flush=True)
    if state == "remote":
        sys.exit("FAIL: the game looked remote again after the download was requested: %s" % seen)
    if state == "failed":
        sys.exit("FAIL: the download failed: %s" % body)
    if state == "downloading" and refused_running is None:
        refused_running = call("POST", "/api/games/%s/download" % game)
    if state == "downloading":
        _, seeder = call("GET", "/api/status", seeder_ep)
        upload_peers.update(g["peers"] for g in json.loads(seeder)["uploads"]["games"]
                            if g["game_id"] == game)
    if state == "installed":
        refused_done = call("POST", "/api/games/%s/download" % game)
        break
    time.sleep(0.05)
else:
    sys.exit("FAIL: not installed within 90 s: %s" % seen)
print("states:", " -> ".join(seen))
if refused_running is None:
    sys.exit("FAIL: never saw the download running (too fast to test?)")
if refused_running[0] != 409:
    sys.exit("FAIL: a second download while downloading got %d %s" % refused_running)
if refused_done[0] != 409:
    sys.exit("FAIL: a download of the installed game got %d %s" % refused_done)
# one downloader with several chunks in flight is one peer (it showed as
# "to 3 peers": transfers counted instead of peers)
if max(upload_peers, default=0) > 1:
    sys.exit("FAIL: the seeder said it uploads to %s peers, with one downloader" % sorted(upload_peers))
print("seeder's upload peers seen:", sorted(upload_peers))
print("refused while downloading:", refused_running[1].strip())
print("refused once downloaded:", refused_done[1].strip())
EOF
cat "$work/poll.txt"
# The game was published from the verified manifest: bravo's rescans read
# no file of it (its first scan, of its own games, is the only one hashing).
grep -E "rescan: .* hashed" "$work/b.err" && fail "bravo hashed files again after the download"
cmp -s "$work/a/$game/data.bin" "$work/b/$game/data.bin" || fail "bravo's copy differs from alpha's"
# The seeding peer shows what it served (upload-progress folded into its
# status; the CLI prints it).
wait_for 5 json_check "$A" /api/status \
  "any(g['game_id'] == '$game' and g['bytes'] >= 192 * 1024 * 1024 for g in doc['uploads']['games'])" \
  || fail "alpha's status does not show the upload of $game: $(api "$A" GET /api/status)"
"$bin" status --state "$A" | grep -q "^uploading:" || fail "lanspread status prints no upload line"
# Once the download is over no transfer of it runs: the last upload-progress
# says so (a quiet second, with no bytes acknowledged, must not end the
# events while transfers still run).
wait_for 5 json_check "$A" /api/status \
  "all(g['peers'] == 0 for g in doc['uploads']['games']) and doc['uploads']['rate_bps'] == 0" \
  || fail "alpha's status still shows transfers running: $(api "$A" GET /api/status)"
echo "PASS"
