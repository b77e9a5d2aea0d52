#!/usr/bin/env bash
# Bandwidth limits through the CLI and the API: the daemon's options set
# them, `lanspread limits` shows and changes them live, a change is saved
# in the config and kept by the next start, status reports them, and bad
# values are refused (a usage error in the CLI, 400 from the API) without
# changing anything. (The rates themselves: tests/netns/test_bandwidth.sh.)
set -euo pipefail
source "$(dirname "$0")/lib_daemons.sh"
mkdir -p "$work/a"
"$bin" demo-library "$work/a" --games 1 --file-size 1024 >/dev/null
: >"$work/a.conf"

# start_alpha ARGS...: one daemon on $work/a with the config $work/a.conf.
start_alpha() {
  rm -f "$work/sa/api.json"
  "$bin" daemon --games "$work/a" --state "$work/sa" --listen 127.0.0.1:0 --http 127.0.0.1:0 \
    --config "$work/a.conf" --no-mdns --json-events "$@" >"$work/a.out" 2>"$work/a.err" &
  alpha_pid=$!
  pids+=("$alpha_pid")
  wait_for 10 test -f "$work/sa/api.json" || fail "alpha wrote no api.json"
}

# limit_is KEY VALUE: `lanspread limits --json` has KEY == VALUE.
limit_is() {
  "$bin" limits --state "$work/sa" --json |
    python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(str(d.get(sys.argv[1])) != sys.argv[2])' "$1" "$2"
}

start_alpha --max-upload 5M --peer-upload-share 40
wait_for 10 limit_is max_upload $((5 << 20)) || fail "--max-upload 5M not in force: $("$bin" limits --state "$work/sa" --json)"
limit_is peer_upload_share 40 || fail "--peer-upload-share 40 not in force"
limit_is playing_upload $((1 << 20)) || fail "the playing rate is not 1M by default"
limit_is max_download 0 || fail "max_download is not unlimited by default"
out=$("$bin" limits --state "$work/sa")
grep -q "max upload: *5.0 MiB/s" <<<"$out" && grep -q "max download: *unlimited" <<<"$out" ||
  fail "limits (table): $out"

# A live change: in force at once, shown by status, saved in the config.
out=$("$bin" limits --state "$work/sa" --max-download 2M --playing-upload 0 --json)
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(not (d["max_download"] == 2 << 20 and d["playing_upload"] == 0 and d["max_upload"] == 5 << 20))' "$out" ||
  fail "limits --max-download 2M --playing-upload 0: $out"
"$bin" status --state "$work/sa" --json |
  python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(not (d["limits"]["max_download"] == 2 << 20 and d["playing"] is None))' ||
  fail "status does not report the limits"
grep -qx 'max-download = "2M"' "$work/a.conf" && grep -qx 'playing-upload = "0"' "$work/a.conf" ||
  fail "the change is not saved in the config: $(cat "$work/a.conf")"

# Refusals change nothing.
set +e
"$bin" limits --state "$work/sa" --max-upload 5X >/dev/null 2>"$work/cli.err"; rc=$?
set -e
[[ $rc -eq 2 ]] && grep -q "max-upload 5X" "$work/cli.err" || fail "limits --max-upload 5X: exit $rc, $(cat "$work/cli.err")"
for body in '{"max_upload":"-1"}' '{"speed":"5M"}' '{"peer_upload_share":0}' '{}' '{"max_upload":1.5}'; do
  status=$(api "$work/sa" POST /api/limits --body "$body")
  status=${status%%$'\n'*}
  [[ $status == 400 ]] || fail "POST /api/limits $body: $status, expected 400"
done
limit_is max_upload $((5 << 20)) || fail "a refused change changed the limit"
status=$(api "$work/sa" POST /api/limits --body '{"max_upload":1048576}')
status=${status%%$'\n'*}
[[ $status == 202 ]] || fail "POST /api/limits with a number: $status"
wait_for 5 limit_is max_upload 1048576 || fail "a rate given as a number is not in force"

# The next start keeps what was saved.
kill "$alpha_pid"
wait "$alpha_pid" 2>/dev/null || true
start_alpha
wait_for 10 limit_is max_download $((2 << 20)) || fail "the saved max-download is not kept by a restart"
limit_is max_upload 1048576 || fail "the saved max-upload is not kept by a restart"
echo "ok: limits set by options, shown, changed live, saved, kept, bad values refused"
