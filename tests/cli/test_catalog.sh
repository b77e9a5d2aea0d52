#!/usr/bin/env bash
# The game directory's own catalog (.lanspread-catalog.json) is live: an
# edit applies on `lanspread rescan` and when the directory watcher fires, a
# new game directory brings its catalog (and drops the old one's), and a game
# that only another peer's catalog lists stays listed once downloaded, across
# a rescan and a restart.
set -euo pipefail
source "$(dirname "$0")/lib_daemons.sh"

# make_game DIR ID: a downloaded game folder no bundled catalog knows.
make_game() {
  mkdir -p "$1/$2"
  head -c 3000 /dev/urandom >"$1/$2/data.bin"
  printf 'version=1.0\n' >"$1/$2/version.ini"
}
# catalog DIR ID...: DIR's local catalog lists these ids.
catalog() {
  local dir=$1 sep="" entries=""; shift
  for id in "$@"; do
    entries+="$sep{\"id\":\"$id\",\"name\":\"Name of $id\",\"description\":\"About $id\",\"genre\":\"Puzzle\",\"max_players\":4}"
    sep=","
  done
  printf '{"games":[%s]}\n' "$entries" >"$dir/.lanspread-catalog.json"
}
# state_of STATE-DIR ID: the game's state in that daemon's API, or "absent".
state_of() {
  api "$1" GET /api/games | python3 -c 'import json,sys
lines = sys.stdin.read().split("\n", 1)
games = {g["id"]: g for g in json.loads(lines[1])["games"]}
print(games[sys.argv[1]]["state"] if sys.argv[1] in games else "absent")' "$2"
}
is_state() { [[ $(state_of "$1" "$2") == "$3" ]]; }

"$bin" demo-library "$work/a" --games 2 --file-size 1024 >/dev/null
mkdir -p "$work/b"
for id in kilo lima mike; do make_game "$work/a" "$id-custom"; done
catalog "$work/a" kilo-custom
start_daemons
A="$work/sa"; B="$work/sb"

wait_for 10 is_state "$A" kilo-custom downloaded || fail "alpha does not list kilo-custom from its catalog"
is_state "$A" lima-custom absent || fail "lima-custom is listed before any catalog lists it"

# --- an edit applies on `lanspread rescan` ---
catalog "$work/a" kilo-custom lima-custom
"$bin" rescan --state "$A" >/dev/null || fail "lanspread rescan failed"
wait_for 5 is_state "$A" lima-custom downloaded \
  || fail "lima-custom, added to the catalog, is not listed after lanspread rescan"

# --- and when the watcher sees it, without a command ---
catalog "$work/a" kilo-custom lima-custom mike-custom
wait_for 10 is_state "$A" mike-custom downloaded \
  || fail "mike-custom, added to the catalog, is not listed without a restart"

# --- a game only alpha's catalog lists: downloaded by bravo, it stays ---
wait_for 10 is_state "$B" kilo-custom remote || fail "bravo does not see alpha's kilo-custom"
"$bin" download --state "$B" --timeout 60 kilo-custom >/dev/null || fail "lanspread download kilo-custom failed"
wait_for 30 is_state "$B" kilo-custom installed \
  || fail "kilo-custom is not listed installed on bravo after its download: $(state_of "$B" kilo-custom)"
grep -q '"kilo-custom"' "$work/b/.lanspread-catalog.json" \
  || fail "bravo's catalog did not get kilo-custom's entry"
"$bin" rescan --state "$B" >/dev/null || fail "lanspread rescan on bravo failed"
sleep 1
is_state "$B" kilo-custom installed || fail "kilo-custom vanished from bravo after a rescan"
kill -TERM "$bravo_pid"; wait "$bravo_pid" || fail "bravo did not exit cleanly"
start_bravo
wait_for 10 json_check "$B" /api/status "doc['ready']" || fail "bravo did not come back"
is_state "$B" kilo-custom installed || fail "kilo-custom vanished from bravo after a restart"
json_check "$B" /api/games/kilo-custom "doc['name'] == 'Name of kilo-custom' and \
  doc['description'] == 'About kilo-custom' and doc['genre'] == 'Puzzle'" \
  || fail "kilo-custom lost alpha's catalog entry: $(api "$B" GET /api/games/kilo-custom)"

# --- a new game directory brings its own catalog ---
mkdir "$work/a2"
make_game "$work/a2" november-custom
make_game "$work/a2" kilo-custom # a folder, but a2's catalog does not list it
catalog "$work/a2" november-custom
"$bin" set-game-dir --state "$A" "$work/a2" >/dev/null || fail "set-game-dir failed"
wait_for 10 is_state "$A" november-custom downloaded \
  || fail "november-custom from the new directory's catalog is not listed"
for id in lima-custom mike-custom; do
  is_state "$A" "$id" absent || fail "$id of the old directory's catalog is still listed"
done
[[ $(state_of "$A" kilo-custom) != downloaded ]] \
  || fail "kilo-custom is listed from the old directory's catalog"

# --- a malformed edit is reported and changes nothing ---
printf '{"games":[{"id":"november-custom"}]}\n' >"$work/a2/.lanspread-catalog.json"
wait_for 10 json_check "$A" /api/status \
  "any(f['what'] == 'local catalog' and \"games[0]: field 'name' is missing\" in f['reason'] \
       for f in doc['failures'])" || fail "a malformed catalog is not reported: $(api "$A" GET /api/status)"
is_state "$A" november-custom downloaded || fail "a malformed catalog edit dropped november-custom"
echo "cli catalog: all checks passed"
