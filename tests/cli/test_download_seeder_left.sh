#!/usr/bin/env bash
# A download whose only seeder leaves keeps running (it waits
# LS_DL_PEERLESS_GRACE_MS for a seeder, the page shows "waiting for peers").
# A second download request in that moment (a user clicking again, or the
# CLI asked once more) is refused as busy with the download named, not as
# "no peer has game": the download is there, and cancel is what ends it
# (found by tests/netns/chaos.sh, seed 2).
set -euo pipefail
source "$(dirname "$0")/lib_daemons.sh"

start_pair_big 16
# Slow enough that alpha leaves in the middle of the transfer.
"$bin" limits --max-upload 1M --state "$A" >/dev/null || fail "alpha refused the upload limit"

out=$(api "$B" POST "/api/games/$game/download")
[[ ${out%%$'\n'*} == 202 ]] || fail "the download was refused: $out"
wait_for 20 json_check "$B" "/api/games/$game" \
  "doc['state'] == 'downloading' and doc['operation']['progress']['bytes_done'] > 0" \
  || fail "bravo's download never got a chunk"

kill -TERM "${pids[0]}"
wait "${pids[0]}" || fail "alpha exited non-zero on SIGTERM"
wait_for 10 json_check "$B" "/api/games/$game" "doc['peer_count'] == 0" \
  || fail "bravo still lists alpha as having $game"

out=$(api "$B" POST "/api/games/$game/download")
echo "second request while the download waits for peers: $out"
[[ ${out%%$'\n'*} == 409 && $out == *"busy: download in progress"* ]] \
  || fail "a second request while the download waits for a seeder was not refused as busy: $out"
json_check "$B" "/api/games/$game" "doc['state'] == 'downloading'" \
  || fail "the game is not listed downloading any more: $(api "$B" GET "/api/games/$game")"

# The download is there to cancel: cancel is accepted and ends it.
out=$(api "$B" POST "/api/games/$game/cancel")
[[ ${out%%$'\n'*} == 202 ]] || fail "cancel of the waiting download was refused: $out"
# Canceled, the game is either listed in another state (files kept for a
# resume) or not known here at all (404): its only seeder left and the
# first verified chunk may have been a small file, which the abort drops
# with the rest when nothing else of it was verified.
not_downloading() {
  local out
  out=$(api "$B" GET "/api/games/$game") || return 1
  [[ ${out%%$'\n'*} == 404 ]] || json_check "$B" "/api/games/$game" "doc['state'] != 'downloading'"
}
wait_for 10 not_downloading || fail "the canceled download still runs: $(api "$B" GET "/api/games/$game")"
echo "PASS: a download waiting for peers is busy, and cancelable"
