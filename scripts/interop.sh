#!/usr/bin/env bash
# Interop checks with Redis's own tools against a real slotcache:
#   redis-cli (plain, RESP3 with -3, --pipe of 100k SETs) and redis-benchmark.
# Installs redis-tools when missing. Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
if ! command -v redis-cli >/dev/null || ! command -v redis-benchmark >/dev/null; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-tools >/dev/null
fi

cargo build --release --quiet
BIN=target/release/slotcache
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "interop FAILED: $*" >&2; exit 1; }

# Starts slotcache with the given flags on a free port; sets PORT.
start() {
    "$BIN" --bind 127.0.0.1 --port 0 --metrics-port 0 "$@" >"$WORK/server.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 1 100); do
        PORT=$(grep -o 'Ready to accept connections tcp 127.0.0.1:[0-9]*' "$WORK/server.log" | head -1 | sed 's/.*://') || true
        [ -n "${PORT:-}" ] && return 0
        sleep 0.1
    done
    cat "$WORK/server.log" >&2
    fail "server did not start"
}

start
CLI="redis-cli -p $PORT"
echo "slotcache on port $PORT"

# redis-cli basics
[ "$($CLI ping)" = "PONG" ] || fail "ping"
[ "$($CLI set greeting hello)" = "OK" ] || fail "set"
[ "$($CLI get greeting)" = "hello" ] || fail "get"
[ "$($CLI incrby counter 5)" = "5" ] || fail "incrby"
$CLI nosuchcommand 2>&1 | grep -q "ERR unknown command 'nosuchcommand'" || fail "unknown command error"
$CLI --no-raw get missing | grep -q "(nil)" || fail "nil reply"
$CLI info server | grep -q "redis_version:7.0.15" || fail "info"
$CLI command docs get >/dev/null || fail "command docs"
echo "redis-cli basics ok"

# RESP3 through redis-cli -3
$CLI -3 hello 3 | grep -q "proto" || fail "hello 3"
out=$($CLI -3 --no-raw config get maxclients)
echo "$out" | grep -q '"maxclients" => "10000"' || fail "RESP3 map reply: $out"
[ "$($CLI -3 --no-raw get missing)" = "(nil)" ] || fail "RESP3 null"
echo "redis-cli -3 ok"

# redis-cli --pipe: 100k SETs, zero errors
python3 - "$WORK/pipe.txt" <<'PY'
import sys
with open(sys.argv[1], "wb") as f:
    for i in range(100000):
        k, v = b"pipe:%d" % i, b"value:%d" % i
        f.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(v), v))
PY
out=$($CLI --pipe <"$WORK/pipe.txt")
echo "$out" | grep -q "errors: 0, replies: 100000" || fail "--pipe: $out"
[ "$($CLI get pipe:99999)" = "value:99999" ] || fail "--pipe data"
[ "$($CLI dbsize)" = "100002" ] || fail "dbsize after --pipe: $($CLI dbsize)"
echo "redis-cli --pipe ok"

# redis-benchmark: zero errors
$CLI config resetstat >/dev/null
bench=$(redis-benchmark -p "$PORT" -t set,get,incr,mset -n 50000 -q 2>&1 | tr '\r' '\n' | grep -v -e 'rps=' -e '^ *$')
echo "$bench"
if echo "$bench" | grep -qiE "error|ERR "; then fail "redis-benchmark reported errors"; fi
for t in SET GET INCR MSET; do
    echo "$bench" | grep -qE "^ *$t.*: [0-9.]+ requests per second" || fail "redis-benchmark did not run $t"
done
errors=$($CLI info stats | grep total_error_replies | cut -d: -f2 | tr -d '\r')
[ "$errors" = "0" ] || fail "server counted $errors error replies during redis-benchmark"
echo "redis-benchmark ok"

# Graceful shutdown
$CLI shutdown >/dev/null 2>&1 || true
for _ in $(seq 1 50); do kill -0 "${PIDS[0]}" 2>/dev/null || break; sleep 0.1; done
kill -0 "${PIDS[0]}" 2>/dev/null && fail "server still running after SHUTDOWN"

# With no arguments it serves 127.0.0.1:6379 and metrics on 127.0.0.1:9121, when
# those ports are free.
if ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null && ! (exec 3<>/dev/tcp/127.0.0.1/9121) 2>/dev/null; then
    "$BIN" >"$WORK/default.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 1 50); do redis-cli -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done
    [ "$(redis-cli -p 6379 ping)" = "PONG" ] || fail "no-argument start on 6379"
    health=$(exec 3<>/dev/tcp/127.0.0.1/9121 && printf 'GET /healthz HTTP/1.0\r\n\r\n' >&3 && cat <&3)
    echo "$health" | grep -q "200 OK" || fail "no-argument start: /healthz on 9121: $health"
    redis-cli -p 6379 shutdown >/dev/null 2>&1 || true
    echo "default start on 127.0.0.1:6379 (metrics on 9121) ok"
else
    echo "port 6379 or 9121 busy: skipped the no-argument start check"
fi

echo "interop: all checks passed"
