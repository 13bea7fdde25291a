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
#   SIDE=1 examples/load/compare.sh ...
#       each ssechat server at the same time as the hand-written handler,
#       each with streams of its own, and their ratios: both see the same
#       machine, so the ratio holds to a few percent where runs in turn
#       vary by 10-20 % (the machine carries twice the streams)
#
# ssechat runs twice: with -detach 0 (a generation ends with its request,
# and runs on the request's goroutine) and with -detach 30s (the example
# server's default: generations outlive their requests, for resume). A
# third run is chat.Handler alone in the hand-written handler's place
# (handwritten -kind ssechat): the same echo, chat.NewHandler's defaults,
# none of the example server's middleware, hooks and clients.
set -euo pipefail
cd "$(dirname "$0")/../.."
streams=${1:-2000}
runes=${2:-600}
delay=${3:-30ms}
hold=${HOLD:-}
rounds=${ROUNDS:-1}
side=${SIDE:-}
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

# start NAME COMMAND...: starts a server on the next port and waits for it;
# it sets pid and url.
start() {
	local name=$1
	shift
	port=$((port + 1))
	"$@" -addr "127.0.0.1:$port" >/dev/null 2>&1 &
	pid=$!
	url="http://127.0.0.1:$port/chat"
	for _ in $(seq 50); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
		sleep 0.1
	done
	if ! kill -0 $pid 2>/dev/null; then
		echo "$name did not start (is port $port taken?)"
		return 1
	fi
}

# figure FILE WHAT: one figure of a load tool's report, as a number: the CPU
# per event (us), the peak RSS (MB), the gap p99 (ms) or a held stream's cost
# (KB); nothing when the report has none.
figure() {
	case $2 in
	cpu) sed -nE 's/.* ([0-9.]+) us per event.*/\1/p' "$1" ;;
	rss) sed -nE 's/.*peak RSS ([0-9.]+) MB.*/\1/p' "$1" ;;
	gap) sed -nE 's/^gaps between events: .*p99 ([0-9.]+)(ms|s|µs),.*/\1 \2/p' "$1" |
		awk '{ print $2 == "s" ? $1 * 1000 : $2 == "ms" ? $1 : $1 / 1000 }' ;;
	held) sed -nE 's/.*: ([0-9.]+) KB per held stream/\1/p' "$1" ;;
	esac
}

# pair NAME COMMAND...: runs the server beside the hand-written handler,
# loads both at the same time, and reports both and their ratios.
pair() {
	local name=$1 apid aurl hpid hurl
	shift
	start "$name" "$@" || return
	apid=$pid aurl=$url
	start "hand-written" "$bin/handwritten" -mock-delay "$delay" -kind fprintf || { kill $apid; return; }
	hpid=$pid hurl=$url
	echo "== $name beside the hand-written handler: ${load[*]} each, a chunk every $delay"
	"$bin/load" -url "$aurl" "${load[@]}" -pid $apid >"$bin/a" 2>&1 &
	local la=$!
	"$bin/load" -url "$hurl" "${load[@]}" -pid $hpid >"$bin/h" 2>&1 || true
	wait $la || true
	kill $apid $hpid 2>/dev/null || true
	wait $apid $hpid 2>/dev/null || true
	echo "-- $name"
	cat "$bin/a"
	echo "-- hand-written, at the same time"
	cat "$bin/h"
	local line="$name against the hand-written handler beside it:"
	for what in cpu rss gap held; do
		local a h
		a=$(figure "$bin/a" $what) h=$(figure "$bin/h" $what)
		if [ -n "$a" ] && [ -n "$h" ] && [ "$h" != 0 ]; then
			line+=" $what $a/$h = $(awk -v a="$a" -v h="$h" 'BEGIN { printf "%.2fx", a / h }')"
		fi
	done
	echo "$line"
	summary+=("$line")
}

# run NAME COMMAND...: starts a server on the next port, loads it, stops it.
run() {
	local name=$1
	shift
	echo "== $name: ${load[*]}, a chunk every $delay"
	start "$name" "$@" || return 0
	"$bin/load" -url "$url" "${load[@]}" -pid $pid | tee "$bin/out" || true
	kill $pid 2>/dev/null || true
	wait $pid 2>/dev/null || true
	local figures
	figures=$(sed -nE 's/.* ([0-9.]+ us) per event.*(peak RSS .*)/\1, \2/p; s/^gaps between events: .*(p99 [^,]*),.*/gap \1/p; s/.*: ([0-9.]+ KB per held stream)/\1/p' "$bin/out" | paste -sd ';' -)
	summary+=("$name: ${figures//;/, }")
}

for round in $(seq "$rounds"); do
	if [ "$rounds" -gt 1 ]; then echo "=== round $round of $rounds"; fi
	if [ -n "$side" ]; then
		pair "ssechat, -detach 0" env -u REDIS_URL "$bin/server" -mock-delay "$delay" -keepalive 5s -detach 0
		pair "ssechat, -detach 30s" env -u REDIS_URL "$bin/server" -mock-delay "$delay" -keepalive 5s -detach 30s
		pair "chat.Handler alone" "$bin/handwritten" -mock-delay "$delay" -kind ssechat
		continue
	fi
	# The example server takes $REDIS_URL as its -redis default: the memory
	# store's runs clear it.
	run "ssechat, -detach 0" env -u REDIS_URL "$bin/server" -mock-delay "$delay" -keepalive 5s -detach 0
	run "ssechat, -detach 30s" env -u REDIS_URL "$bin/server" -mock-delay "$delay" -keepalive 5s -detach 30s
	if [ -n "${REDIS_URL:-}" ]; then
		run "ssechat, -detach 0, Redis" "$bin/server" -mock-delay "$delay" -keepalive 5s -detach 0 -redis "$REDIS_URL"
	fi
	run "chat.Handler alone (no middleware)" "$bin/handwritten" -mock-delay "$delay" -kind ssechat
	run "hand-written (fmt.Fprintf + Flush)" "$bin/handwritten" -mock-delay "$delay" -kind fprintf
	run "go-sse (Session.Send + Flush)" "$bin/handwritten" -mock-delay "$delay" -kind gosse
	run "raw writes (no net/http)" "$bin/handwritten" -mock-delay "$delay" -kind raw
done
if [ "$rounds" -gt 1 ] || [ -n "$side" ]; then
	echo "=== summary, round by round"
	printf '%s\n' "${summary[@]}" | sort -s -t: -k1,1
fi
