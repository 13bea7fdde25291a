#!/usr/bin/env bash
# Runs the example server (ssechat) and the baselines of
# examples/load/handwritten (fmt.Fprintf, go-sse, raw writes) side by side
# with the same token source, and loads each in turn with the same streams. Linux (the load tool reads /proc for CPU and memory).
#
#   examples/load/compare.sh [streams] [runes] [delay]
#       streams answers of runes/3 events, one every delay (default 2000 600 30ms)
#   HOLD=12s examples/load/compare.sh [streams]
#       streams that stay silent after their first event (a model thinking,
#       keep-alive every 5 s) for 12 s: what one costs the server
#   REDIS_URL=redis://127.0.0.1:6379/0 examples/load/compare.sh ...
#       also ssechat with the Redis store
#   ROUNDS=3 examples/load/compare.sh ...
#       every server 3 times, in turn, then a summary: runs vary by 10-20 %,
#       so a change of a few percent shows only over several rounds
#
# ssechat runs twice: with -detach 0 (a generation ends with its request,
# and runs on the request's goroutine) and with -detach 30s (the example
# server's default: generations outlive their requests, for resume).
set -euo pipefail
cd "$(dirname "$0")/../.."
streams=${1:-2000}
runes=${2:-600}
delay=${3:-30ms}
hold=${HOLD:-}
rounds=${ROUNDS:-1}
summary=()
bin=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$bin"' EXIT
go build -o "$bin/server" ./examples/server
go build -o "$bin/handwritten" ./examples/load/handwritten
go build -o "$bin/load" ./examples/load
load=(-streams "$streams" -runes "$runes")
if [ -n "$hold" ]; then
	delay=10m
	load=(-streams "$streams" -hold "$hold" -ramp 5s)
fi
port=18300

# run NAME COMMAND...: starts a server on the next port, loads it, stops it.
run() {
	local name=$1
	shift
	port=$((port + 1))
	"$@" -addr "127.0.0.1:$port" >/dev/null 2>&1 &
	local pid=$!
	for _ in $(seq 50); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
		sleep 0.1
	done
	echo "== $name: ${load[*]}, a chunk every $delay"
	if ! kill -0 $pid 2>/dev/null; then
		echo "the server did not start (is port $port taken?)"
		return
	fi
	"$bin/load" -url "http://127.0.0.1:$port/chat" "${load[@]}" -pid $pid | tee "$bin/out" || true
	kill $pid 2>/dev/null || true
	wait $pid 2>/dev/null || true
	local figures
	figures=$(sed -nE 's/.* ([0-9.]+ us) per event.*(peak RSS .*)/\1, \2/p; s/^gaps between events: .*(p99 [^,]*),.*/gap \1/p; s/.*: ([0-9.]+ KB per held stream)/\1/p' "$bin/out" | paste -sd ';' -)
	summary+=("$name: ${figures//;/, }")
}

for round in $(seq "$rounds"); do
	if [ "$rounds" -gt 1 ]; then echo "=== round $round of $rounds"; fi
	# The example server takes $REDIS_URL as its -redis default: the memory
	# store's runs clear it.
	run "ssechat, -detach 0" env -u REDIS_URL "$bin/server" -mock-delay "$delay" -keepalive 5s -detach 0
	run "ssechat, -detach 30s" env -u REDIS_URL "$bin/server" -mock-delay "$delay" -keepalive 5s -detach 30s
	if [ -n "${REDIS_URL:-}" ]; then
		run "ssechat, -detach 0, Redis" "$bin/server" -mock-delay "$delay" -keepalive 5s -detach 0 -redis "$REDIS_URL"
	fi
	run "hand-written (fmt.Fprintf + Flush)" "$bin/handwritten" -mock-delay "$delay" -kind fprintf
	run "go-sse (Session.Send + Flush)" "$bin/handwritten" -mock-delay "$delay" -kind gosse
	run "raw writes (no net/http)" "$bin/handwritten" -mock-delay "$delay" -kind raw
done
if [ "$rounds" -gt 1 ]; then
	echo "=== summary, round by round"
	printf '%s\n' "${summary[@]}" | sort -s -t: -k1,1
fi
