#!/usr/bin/env bash
# Profile one server on the hit path: the server pinned to CPU 0 holding the resident
# set (scripts/resident.py), redis-benchmark on CPU 1, `perf record -g` on the server
# for DURATION seconds (8) of the run. Prints the top entries by self time and writes a flame graph.
#
# Usage: scripts/profile.sh                       (slotcache, GET -P 16)
#        TEST=set PIPELINE=1 scripts/profile.sh
#        SERVER=redis scripts/profile.sh          (redis-server, same case)
#        BIN=/tmp/old/slotcache scripts/profile.sh (another build, e.g. before a change)
#
# Needs `perf` (Debian: linux-perf; on a VM without hardware counters it samples the
# cpu-clock) and inferno for the SVG (`cargo install inferno`). Output in
# bench-results/: profile-SERVER-TEST-PPIPELINE.{svg,txt}.
set -euo pipefail
cd "$(dirname "$0")/.."

SERVER=${SERVER:-slotcache}
TEST=${TEST:-get}
PIPELINE=${PIPELINE:-16}
DURATION=${DURATION:-8}
PORT=${PORT:-7741}
OUT=bench-results
NAME="$OUT/profile-$SERVER-$TEST-P$PIPELINE"
mkdir -p "$OUT"

command -v perf >/dev/null || { echo "perf is missing (apt-get install linux-perf)" >&2; exit 1; }
if [ "$SERVER" = slotcache ]; then
    [ -n "${BIN:-}" ] || { cargo build --release --quiet; BIN=target/release/slotcache; }
    taskset -c 0 "$BIN" --bind 127.0.0.1 --port "$PORT" --threads 1 --shards 1 \
        --metrics-port 0 --loglevel warning >"$OUT/profile-server.log" 2>&1 &
else
    taskset -c 0 redis-server --bind 127.0.0.1 --port "$PORT" --save "" --appendonly no \
        --daemonize no --loglevel warning >"$OUT/profile-server.log" 2>&1 &
fi
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p "$PORT" ping >/dev/null || { echo "server did not start" >&2; exit 1; }

python3 scripts/resident.py | redis-cli -p "$PORT" --pipe >/dev/null
echo "resident set: $(redis-cli -p "$PORT" dbsize) keys"

n=$(( PIPELINE > 1 ? 20000000 : 2000000 ))
taskset -c 1 redis-benchmark -p "$PORT" -c 50 -r 1000000 -d 100 -t "$TEST" -P "$PIPELINE" -n "$n" -q \
    >"$OUT/profile-bench.txt" 2>&1 &
LOAD=$!
sleep 1
perf record -e cpu-clock -F 1999 -g -p "$PID" -o "$NAME.data" -- sleep "$DURATION" >/dev/null 2>&1
kill "$LOAD" 2>/dev/null || true
wait "$LOAD" 2>/dev/null || true

perf report -i "$NAME.data" --no-children --percent-limit 0.5 --stdio -g none 2>/dev/null \
    | grep -v '^#' | grep -v '^$' >"$NAME.txt"
head -30 "$NAME.txt"
if command -v inferno-collapse-perf >/dev/null; then
    perf script -i "$NAME.data" 2>/dev/null | inferno-collapse-perf \
        | inferno-flamegraph --title "$SERVER $TEST -P $PIPELINE, resident set" --minwidth 0.2 >"$NAME.svg"
    echo "flame graph: $NAME.svg"
else
    echo "no inferno: cargo install inferno for the flame graph" >&2
fi
