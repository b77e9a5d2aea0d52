#!/usr/bin/env bash
# Installs (Debian 12, as root) every package the build, the tests and the
# benchmarks need — only those missing. Quiet when everything is there.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  libuv1-dev libjansson-dev libgnutls28-dev nettle-dev
  libngtcp2-dev libngtcp2-crypto-gnutls-dev
  libavahi-core-dev libarchive-dev libmicrohttpd-dev libcmocka-dev
  libargon2-dev # Argon2id: a party passphrase is stretched into its key
  clang libclang-rt-14-dev
  clang-format # scripts/checksrc.py pins clang-format 14, Debian 12's
  iproute2 procps python3
  avahi-daemon # only run inside a test namespace (tests/netns), never as a service
  chromium nodejs # the browser test (tests/browser); playwright-core comes from npm
  aria2 nginx-light bc openssl # bench/bench_download.sh: aria2c from nginx mirrors
)

missing=()
for pkg in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done
# Debian's npm, unless one came with another nodejs build (NodeSource's
# nodejs ships npm and conflicts with Debian's npm package).
command -v npm >/dev/null || missing+=(npm)
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
  echo "deps.sh: missing packages: ${missing[*]}" >&2
  echo "deps.sh: run as root (or install them) first" >&2
  exit 1
fi
echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
