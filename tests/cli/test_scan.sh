#!/usr/bin/env bash
# `lanspread demo-library` and `lanspread scan` as a person or a script uses them.
set -euo pipefail
bin=$1
work=$(mktemp -d "${TMPDIR:-/tmp}/lstest-cli-XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$bin" demo-library "$work/games" --games 5 --files-per-game 4 --file-size 2048 >/dev/null

out=$("$bin" scan "$work/games" --state "$work/state")
echo "$out" | grep -q "^quake3\|^aoe2" || fail "table lacks catalog games: $out"
echo "$out" | grep -q "5 games, 5 announced" || fail "summary line wrong: $out"

json=$("$bin" scan "$work/games" --state "$work/state" --json)
python3 - "$json" <<'PY' || fail "json output wrong"
import json, sys
doc = json.loads(sys.argv[1])
assert len(doc["games"]) == 5, doc
assert doc["announced"] == 5
assert doc["stats"]["files_hashed"] == 0, "warm scan must hash nothing"
assert all(g["file_count"] == 4 and g["downloaded"] for g in doc["games"])
assert len(doc["digest"]) == 64
PY

# A cancelled download leaves a game folder without version.ini. That is a
# normal state: the next start must reuse the saved index, not rehash it all.
first=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["games"][0]["id"])' "$json")
rm "$work/games/$first/version.ini"
"$bin" scan "$work/games" --state "$work/state" >/dev/null 2>&1
json=$("$bin" scan "$work/games" --state "$work/state" --json 2>"$work/err")
! grep -q "unreadable" "$work/err" || fail "index lost over a not-downloaded game: $(cat "$work/err")"
python3 - "$json" "$first" <<'PY' || fail "restart with a not-downloaded game rehashed: $json"
import json, sys
doc, first = json.loads(sys.argv[1]), sys.argv[2]
assert doc["stats"]["files_hashed"] == 0 and doc["stats"]["bytes_hashed"] == 0, doc["stats"]
assert not doc["stats"]["rev_bumped"]
assert len(doc["games"]) == 5 and doc["announced"] == 4
assert [g for g in doc["games"] if g["id"] == first][0]["downloaded"] is False
PY

# Usage errors exit 2, run-time errors exit 1, each with a message.
set +e
"$bin" scan 2>"$work/err"; [[ $? -eq 2 ]] || fail "missing DIR should exit 2"
grep -q "expected one game directory" "$work/err" || fail "no usage message"
"$bin" scan "$work/nope" --state "$work/state" 2>"$work/err"; [[ $? -eq 1 ]] || fail "missing dir should exit 1"
grep -q "not found" "$work/err" || fail "no reason for missing dir: $(cat "$work/err")"
echo '{"games": [' > "$work/bad.json"
"$bin" scan "$work/games" --state "$work/state" --catalog "$work/bad.json" 2>"$work/err"
[[ $? -eq 1 ]] || fail "bad catalog should exit 1"
grep -q "bad.json: line" "$work/err" || fail "catalog error lacks position: $(cat "$work/err")"
"$bin" demo-library "$work/x" --games -3 2>/dev/null; [[ $? -eq 2 ]] || fail "negative count should exit 2"
"$bin" frobnicate 2>/dev/null; [[ $? -eq 2 ]] || fail "unknown command should exit 2"
set -e
"$bin" --help | grep -q "demo-library" || fail "help lacks commands"
echo "cli scan: all checks passed"
