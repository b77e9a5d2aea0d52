#!/usr/bin/env bash
# 1 GiB over loopback through the lanspread QUIC transport and through plain
# TCP in the same run. Usage: bench_quic_vs_tcp.sh <build>/lanspread [MiB]
set -euo pipefail
bin="$(dirname "$1")/bench_quic_vs_tcp"
exec "$bin" "${2:-1024}"
