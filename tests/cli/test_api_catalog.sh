#!/usr/bin/env bash
# Sharing your own games over the API: GET /api/folders lists the folders
# the scan skips with the scan's reasons; POST /api/catalog refuses bad
# input before writing anything, then adds the entry to the game
# directory's catalog, renames the folder to its id, writes version.ini when
# missing, rescans — and the other peer sees the game.
set -euo pipefail
source "$(dirname "$0")/lib_daemons.sh" "$1"
expect() { # expect STATUS TEXT -- apitool args...
  local want=$1 text=$2 out; shift 3
  out=$(api "$@")
  [[ $(head -n1 <<<"$out") == "$want" ]] || fail "api $*: expected $want, got: $out"
  [[ -z $text || $out == *"$text"* ]] || fail "api $*: expected '$text' in: $out"
}

"$bin" demo-library "$work/a" --games 3 --file-size 1024 >/dev/null
"$bin" demo-library "$work/b" --games 6 --file-size 1024 >/dev/null
for id in $(ls "$work/a"); do rm -rf "${work:?}/b/$id"; done
# a folder no id can name, one the catalog lacks (with version.ini), a symlink
mkdir "$work/a/My Game" "$work/a/mygame"
echo data >"$work/a/My Game/readme.txt"
echo data >"$work/a/mygame/readme.txt"
printf 'version=2.5\n' >"$work/a/mygame/version.ini"
ln -s "$work/a/mygame" "$work/a/linked"
start_daemons
A=$work/sa B=$work/sb
catalog=$work/a/.lanspread-catalog.json

wait_for 10 json_check "$A" /api/folders \
  "{f['name']: (f['kind'], f.get('suggested_id'), f['version']) for f in doc['folders']} == \
   {'My Game': ('bad-id', 'my-game', None), 'mygame': ('unlisted', 'mygame', '2.5'), \
    'linked': ('symlink', 'linked', None)} and not doc['truncated']" \
  || fail "GET /api/folders does not list the three skipped folders: $(api "$A" GET /api/folders)"
json_check "$A" /api/folders \
  "[f['reason'] for f in doc['folders'] if f['name'] == 'My Game'] == ['folder name is not a valid game id']" \
  || fail "the reason is not the scan's"

# refused before anything is written
expect 400 "'id' must be a game id" -- "$A" POST /api/catalog --body '{"folder":"My Game","id":"My Game","name":"x"}'
expect 400 "'name' is required" -- "$A" POST /api/catalog --body '{"folder":"My Game","id":"my-game"}'
expect 400 "unknown field" -- "$A" POST /api/catalog --body '{"id":"mygame","name":"x","cover":"y"}'
expect 400 "'folder'" -- "$A" POST /api/catalog --body '{"folder":"../etc","id":"mygame","name":"x"}'
expect 400 "control characters" -- "$A" POST /api/catalog --body '{"id":"mygame","name":"a\nb"}'
expect 400 "no version.ini" -- "$A" POST /api/catalog --body '{"folder":"My Game","id":"my-game","name":"x"}'
expect 404 "no folder 'nosuch'" -- "$A" POST /api/catalog --body '{"folder":"nosuch","id":"nosuch","name":"x"}'
expect 409 "exists already" -- "$A" POST /api/catalog --body '{"folder":"My Game","id":"mygame","name":"x","version":"1"}'
expect 409 "another version" -- "$A" POST /api/catalog --body '{"id":"mygame","name":"x","version":"3.0"}'
expect 409 "already in the library" -- "$A" POST /api/catalog --body "{\"id\":\"$(ls "$work/a" | sed -n 1p)\",\"name\":\"x\"}"
[[ ! -e $catalog ]] || fail "a refused request wrote $catalog"
[[ -d "$work/a/My Game" && ! -e "$work/a/my-game" ]] || fail "a refused request renamed the folder"

# added: catalog entry, rename, version.ini, rescan, announced to bravo
expect 202 '"renamed":true' -- "$A" POST /api/catalog \
  --body '{"folder":"My Game","id":"my-game","name":"My Own Game","version":"1.0","genre":"Homebrew"}'
expect 202 '"renamed":false' -- "$A" POST /api/catalog --body '{"id":"mygame","name":"Mine"}'
[[ -d $work/a/my-game && ! -e "$work/a/My Game" ]] || fail "the folder was not renamed to its id"
grep -qx 'version=1.0' "$work/a/my-game/version.ini" || fail "version.ini was not written"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))
g={e["id"]: e for e in d["games"]}
assert g["my-game"]["name"] == "My Own Game" and g["my-game"]["genre"] == "Homebrew", g
assert g["mygame"]["name"] == "Mine", g' "$catalog" || fail "the catalog file lacks the entries"
wait_for 15 json_check "$A" /api/games \
  "{g['id']: (g['state'], g['version']) for g in doc['games']}.get('my-game') == ('downloaded', '1.0') and \
   {g['id']: g['state'] for g in doc['games']}.get('mygame') == 'downloaded'" \
  || fail "the added games are not in the library: $(api "$A" GET /api/games)"
json_check "$A" /api/folders "[f['name'] for f in doc['folders']] == ['linked']" \
  || fail "the added folders are still listed as skipped"
wait_for 15 json_check "$B" /api/games \
  "{g['id']: g['peer_count'] for g in doc['games']}.get('my-game') == 1" \
  || fail "the other peer does not see the added game"
echo "api catalog: passed"
