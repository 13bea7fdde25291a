#!/usr/bin/env bash
# Runs the example server (ssechat) and the hand-written baseline side by
# side with the same token source, and loads each in turn with N concurrent
# streams: examples/load/compare.sh [streams] [runes]. Linux (it reads
# /proc for CPU and memory).
set -euo pipefail
cd "$(dirname "$0")/../.."
streams=${1:-2000}
runes=${2:-150}
bin=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$bin"' EXIT
go build -o "$bin/server" ./examples/server
go build -o "$bin/handwritten" ./examples/load/handwritten
go build -o "$bin/load" ./examples/load
"$bin/server" -addr 127.0.0.1:18301 -mock-delay 30ms -detach 0 -keepalive 0 >/dev/null 2>&1 &
ssechat=$!
"$bin/handwritten" -addr 127.0.0.1:18302 -mock-delay 30ms >/dev/null 2>&1 &
hand=$!
sleep 1
echo "== ssechat (examples/server), $streams streams"
"$bin/load" -url http://127.0.0.1:18301/chat -streams "$streams" -runes "$runes" -pid $ssechat || true
echo "== hand-written (fmt.Fprintf + Flush), $streams streams"
"$bin/load" -url http://127.0.0.1:18302/chat -streams "$streams" -runes "$runes" -pid $hand || true
