#!/usr/bin/env bash
# Browser test of the web UI: headless Chromium (Debian's, never a downloaded
# one) driven by playwright-core against two daemons on loopback. Prints
# SKIPPED and exits 0 when Chromium or playwright-core cannot be had.
# usage: run.sh LANSPREAD-BINARY   (LS_TEST_BINARY_DIR: where screenshots go)
set -euo pipefail
PLAYWRIGHT_VERSION=1.65.1
chromium=${LS_CHROMIUM:-/usr/bin/chromium}
build_dir=${LS_TEST_BINARY_DIR:-$(pwd)}
deps="$build_dir/browser-deps"
skip() { echo "SKIPPED: $*"; exit 0; }

[[ -x $chromium ]] || skip "$chromium not installed (scripts/deps.sh installs Debian's chromium)"
"$chromium" --headless --no-sandbox --disable-gpu --version >/dev/null 2>&1 \
  || skip "$chromium does not start"
command -v node >/dev/null || skip "node not installed"
if [[ ! -f "$deps/node_modules/playwright-core/package.json" ]]; then
  mkdir -p "$deps"
  # playwright-core only: it never downloads a browser
  npm install --prefix "$deps" --no-save --no-audit --no-fund \
    "playwright-core@$PLAYWRIGHT_VERSION" >"$deps/npm.log" 2>&1 \
    || skip "npm install playwright-core@$PLAYWRIGHT_VERSION failed (see $deps/npm.log)"
fi

# Big enough files that a download takes a moment and the bar can move.
export LS_DEMO_FILE_SIZE=${LS_DEMO_FILE_SIZE:-4194304}
source "$(dirname "$0")/../cli/lib_daemons.sh"
start_pair
shots="$build_dir/screenshots"
mkdir -p "$shots"
url=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$work/sa/api.json")
b_first=${b_games%% *}

NODE_PATH="$deps/node_modules" node "$(dirname "$0")/ui_test.mjs" \
  --url "$url" --game "$b_first" --peer bravo --chromium "$chromium" \
  --profile "$work/chromium-profile" --shots "$shots" \
  || fail "browser test failed"
