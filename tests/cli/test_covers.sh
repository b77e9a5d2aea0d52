#!/usr/bin/env bash
# Cover images (docs/API.md, GET /api/games/ID/cover): alpha's game folders
# hold a real PNG cover, a cover.jpg that is text (wrong first bytes) and a
# WebP cover above LS_COVER_MAX. Alpha lists only the PNG one (by its
# SHA-256) and says why the others were skipped; bravo, which has not
# downloaded anything, lists the same cover hash for alpha's game and
# serves the image through its own API (fetched from alpha with get_cover,
# checked, cached in STATE/covers), with its type, its hash as ETag, and a
# 304 for a browser that has it; a game without a cover answers 404. The
# other way round too: bravo dials alpha, so its first hello cannot know
# that alpha takes covers; its cover reaches alpha with the re-handshake.
set -euo pipefail
source "$(dirname "$0")/lib_daemons.sh"

"$bin" demo-library "$work/a" --games 3 --file-size 1024 >/dev/null
"$bin" demo-library "$work/b" --games 6 --file-size 1024 >/dev/null
for id in $(ls "$work/a"); do rm -rf "${work:?}/b/$id"; done
read -r g_png g_text g_big <<<"$(ls "$work/a" | sed -n 1,3p | tr '\n' ' ')"
python3 - "$work/a/$g_png/cover.png" "$work/a/$g_big/cover.webp" <<'EOF'
import struct, sys, zlib
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
raw = b"".join(b"\0" + bytes([(x * 7) % 256, (y * 5) % 256, 128]) * 64 for x in range(64) for y in [x])
png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 64, 64, 8, 2, 0, 0, 0))
       + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
open(sys.argv[1], "wb").write(png)
big = 300 * 1024
open(sys.argv[2], "wb").write(b"RIFF" + struct.pack("<I", big - 8) + b"WEBP" + b"\0" * (big - 12))
EOF
echo "this is not a JPEG" >"$work/a/$g_text/cover.jpg"
g_bravo=$(ls "$work/b" | sed -n 1p)
cp "$work/a/$g_png/cover.png" "$work/b/$g_bravo/cover.png"
want=$(sha256sum "$work/a/$g_png/cover.png" | cut -d' ' -f1)
start_daemons
A="$work/sa"; B="$work/sb"

wait_for 20 json_check "$A" "/api/games/$g_png" "doc['cover'] == '$want'" \
  || fail "alpha does not list $g_png's cover as $want"
json_check "$A" "/api/games/$g_text" "doc['cover'] is None" || fail "a text cover.jpg became a cover"
json_check "$A" "/api/games/$g_big" "doc['cover'] is None" || fail "a cover above LS_COVER_MAX became a cover"
grep -q "$g_text/cover.jpg skipped: not a PNG, JPEG or WebP" "$work/a.err" \
  || fail "alpha did not say why $g_text/cover.jpg is no cover"
grep -q "$g_big/cover.webp skipped: larger than" "$work/a.err" \
  || fail "alpha did not say why $g_big/cover.webp is no cover"

wait_for 20 json_check "$B" "/api/games/$g_png" "doc['state'] == 'remote' and doc['cover'] == '$want'" \
  || fail "bravo does not list alpha's cover of $g_png"

python3 - "$B" "$g_png" "$g_text" "$want" "$work/a/$g_png/cover.png" <<'EOF' || fail "bravo's cover answers are wrong (above)"
import json, socket, sys
state, game, bare, want, path = sys.argv[1:6]
ep = json.load(open(state + "/api.json"))
host = ep["url"][len("http://"):].rstrip("/")
addr, port = host.rsplit(":", 1)
def get(url, extra=""):
    s = socket.create_connection((addr, int(port)), timeout=30)
    s.sendall(("GET %s HTTP/1.0\r\nHost: %s\r\nAuthorization: Bearer %s\r\n%s\r\n"
               % (url, host, ep["token"], extra)).encode())
    data = b""
    while True:
        c = s.recv(65536)
        if not c:
            break
        data += c
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    hdr = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:]}
    return int(lines[0].split()[1]), hdr, body
status, hdr, body = get("/api/games/%s/cover?v=%s" % (game, want))
assert status == 200, "cover: %d %s" % (status, body[:200])
assert body == open(path, "rb").read(), "cover bytes differ from alpha's file"
assert hdr.get("content-type") == "image/png", hdr
assert hdr.get("etag") == '"%s"' % want, hdr
assert "immutable" in hdr.get("cache-control", ""), hdr
status, hdr, body = get("/api/games/%s/cover" % game, 'If-None-Match: "%s"\r\n' % want)
assert status == 304 and body == b"", "revalidation: %d" % status
assert "no-cache" in hdr.get("cache-control", ""), hdr
status, _, body = get("/api/games/%s/cover" % bare)
assert status == 404, "a game without a cover: %d" % status
print("covers ok")
EOF
[[ -f "$B/covers/$want.png" ]] || fail "bravo did not cache the cover in STATE/covers"

wait_for 20 json_check "$A" "/api/games/$g_bravo" "doc['state'] == 'remote' and doc['cover'] == '$want'" \
  || fail "alpha never learnt the cover of bravo's $g_bravo (the dialler's re-handshake)"
# sed reads all: no SIGPIPE for apitool under pipefail
api "$A" GET "/api/games/$g_bravo/cover" --bearer | sed -n 1p | grep -qx 200 \
  || fail "alpha cannot show bravo's cover"
echo "PASS"
