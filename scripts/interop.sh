#!/usr/bin/env bash
# Interop checks with Redis's own tools against a real slotcache:
#   redis-cli (plain, RESP3 with -3, configuration, CLIENT PAUSE, --pipe of 100k SETs,
#   subscribe, MULTI/EXEC),
#   redis-benchmark, and redis-py (pipelines, WATCH, pub/sub); then persistence with a
#   real redis-server 7.0: redis-check-rdb accepts slotcache's dump.rdb, redis-server
#   loads it with the same DEBUG DIGEST, and MIGRATE moves keys into it; then replication
#   both ways with a live redis-server (REPLICAOF it under writes; it as a replica).
# Installs redis-tools and redis-server when missing. Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
if ! command -v redis-cli >/dev/null || ! command -v redis-benchmark >/dev/null \
    || ! command -v redis-server >/dev/null; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-tools redis-server >/dev/null
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

# Redis 7.0 configuration surface and protected commands, as redis-cli shows them
[ "$($CLI config get hash-max-ziplist-value | head -1)" = "hash-max-ziplist-value" ] || fail "config alias name"
[ "$($CLI config get repl-backlog-size | tail -1)" = "1048576" ] || fail "a Redis-only parameter"
$CLI config set save garbage 2>&1 | grep -q "Invalid save parameters" || fail "save grammar"
$CLI debug sleep 0 2>&1 | grep -q "DEBUG command not allowed" || fail "DEBUG gated by default"
$CLI lolwut | grep -q "Redis ver. 7.0.15" || fail "lolwut"
[ "$($CLI client pause 100 write)" = "OK" ] || fail "client pause"
[ "$($CLI get greeting)" = "hello" ] || fail "reads go on during a WRITE pause"
[ "$($CLI set paused yes)" = "OK" ] || fail "a write held by the pause runs after it"
$CLI del paused >/dev/null
echo "redis-cli config aliases, DEBUG gating, LOLWUT, CLIENT PAUSE ok"

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

# Pub/Sub through redis-cli: a subscriber in the background, a publish, the message.
timeout 5 $CLI subscribe news >"$WORK/sub.txt" 2>&1 &
for _ in $(seq 1 50); do [ "$($CLI pubsub numsub news | tail -1)" = "1" ] && break; sleep 0.1; done
[ "$($CLI publish news hello)" = "1" ] || fail "publish to one subscriber"
for _ in $(seq 1 50); do grep -q hello "$WORK/sub.txt" && break; sleep 0.1; done
grep -q hello "$WORK/sub.txt" || fail "subscriber did not get the message: $(cat "$WORK/sub.txt")"
echo "redis-cli subscribe/publish ok"

# MULTI/EXEC through redis-cli
out=$(printf 'MULTI\nINCR tx\nINCR tx\nEXEC\n' | $CLI)
[ "$(echo "$out" | grep -c QUEUED)" = "2" ] || fail "MULTI/EXEC: $out"
[ "$($CLI get tx)" = "2" ] || fail "MULTI/EXEC applied: $($CLI get tx)"
echo "redis-cli MULTI/EXEC ok"

# redis-py: pipeline() (a MULTI/EXEC transaction by default), WATCH, pub/sub,
# keyspace notifications. Installed into a throwaway venv when missing.
PY=python3
if ! python3 -c "import redis" 2>/dev/null; then
    if ! python3 -m venv "$WORK/venv" 2>/dev/null; then
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv "$WORK/venv"
    fi
    "$WORK/venv/bin/pip" install -q redis
    PY="$WORK/venv/bin/python"
fi
"$PY" - "$PORT" <<'PY'
import sys, time
import redis

r = redis.Redis(port=int(sys.argv[1]), decode_responses=True)
with r.pipeline() as p:
    assert p.set("py:a", 1).incr("py:a").get("py:a").execute() == [True, 2, "2"]
# Optimistic locking with WATCH: another client's write makes the transaction retry.
with r.pipeline() as p:
    p.watch("py:a")
    r.set("py:a", 10)
    p.multi()
    p.incr("py:a")
    try:
        p.execute()
        raise SystemExit("EXEC should have failed after a watched key changed")
    except redis.WatchError:
        pass
assert r.transaction(lambda p: p.multi() or p.incr("py:a"), "py:a") == [11]
ps = r.pubsub()
ps.subscribe("py:ch")
ps.psubscribe("__keyevent@0__:*")
assert ps.get_message(timeout=5)["type"] == "subscribe"
assert ps.get_message(timeout=5)["type"] == "psubscribe"
assert r.publish("py:ch", "hi") == 1
m = ps.get_message(timeout=5)
assert (m["type"], m["channel"], m["data"]) == ("message", "py:ch", "hi"), m
r.config_set("notify-keyspace-events", "E$")
r.set("py:k", "v")
m = ps.get_message(timeout=5)
assert (m["channel"], m["data"]) == ("__keyevent@0__:set", "py:k"), m
r.config_set("notify-keyspace-events", "")
ps.close()
print("redis-py pipeline, WATCH, pub/sub, keyspace notifications ok")

# Data types through redis-py's own reply parsing.
assert r.hset("py:h", mapping={"a": 1, "b": 2}) == 2
assert r.hgetall("py:h") == {"a": "1", "b": "2"}
assert r.hincrbyfloat("py:h", "a", 0.5) == 1.5
assert r.rpush("py:l", "x", "y", "z") == 3 and r.lrange("py:l", 0, -1) == ["x", "y", "z"]
assert r.lpos("py:l", "z") == 2 and r.lmove("py:l", "py:l2", "LEFT", "RIGHT") == "x"
assert r.sadd("py:s", "a", "b", "c") == 3 and r.smembers("py:s") == {"a", "b", "c"}
assert r.zadd("py:z", {"a": 1, "b": 2.5}) == 2
assert r.zrange("py:z", 0, -1, withscores=True) == [("a", 1.0), ("b", 2.5)]
assert r.zrangebyscore("py:z", "(1", "+inf") == ["b"] and r.zrank("py:z", "b") == 1
assert r.zpopmin("py:z") == [("a", 1.0)]
assert r.pfadd("py:hll", "a", "b") == 1 and r.pfcount("py:hll") == 2
assert r.setbit("py:bits", 7, 1) == 0 and r.bitcount("py:bits") == 1
assert r.sort("py:l", alpha=True) == ["y", "z"]
assert r.blpop(["py:empty", "py:l"], timeout=1) == ("py:l", "y")
assert r.blpop(["py:empty"], timeout=0.1) is None
print("redis-py hashes, lists, sets, sorted sets, HLL, bitmaps, SORT, BLPOP ok")
PY

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

# Persistence against the real thing: a snapshot of every type that redis-check-rdb
# accepts and redis-server 7.0 loads with the same digest, then MIGRATE into it.
mkdir -p "$WORK/rdb"
start --dir "$WORK/rdb" --enable-debug-command yes
CLI="redis-cli -p $PORT"
$CLI rpush p:list a b 1 2 >/dev/null
$CLI hset p:hash f v n 12 >/dev/null
$CLI sadd p:ints 1 2 3 >/dev/null
$CLI sadd p:strs a b c >/dev/null
$CLI zadd p:zset 1 a 2.5 b >/dev/null
$CLI set p:int 12345 >/dev/null
$CLI set p:ttl v px 100000000 >/dev/null
$CLI set p:long "$(printf 'abc%.0s' $(seq 1 300))" >/dev/null
for i in $(seq 1 300); do echo "RPUSH p:biglist e$i"; echo "HSET p:bighash f$i v$i"; echo "SADD p:bigset m$i";
    echo "ZADD p:bigzset $i m$i"; done | $CLI >/dev/null
[ "$($CLI save)" = "OK" ] || fail "SAVE"
out=$(redis-check-rdb "$WORK/rdb/dump.rdb" 2>&1) || fail "redis-check-rdb: $out"
echo "$out" | grep -q "RDB looks OK" || fail "redis-check-rdb: $out"
RPORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --bind 127.0.0.1 --port "$RPORT" --dir "$WORK/rdb" --save "" --appendonly no \
    --enable-debug-command yes --daemonize no >"$WORK/redis.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do [ "$(redis-cli -p "$RPORT" ping 2>/dev/null)" = PONG ] && break; sleep 0.1; done
[ "$(redis-cli -p "$RPORT" dbsize)" = "$($CLI dbsize)" ] || fail "redis-server loaded another number of keys"
[ "$(redis-cli -p "$RPORT" debug digest)" = "$($CLI debug digest)" ] || fail "redis-server loaded other contents"
echo "redis-check-rdb accepts slotcache's dump.rdb; redis-server 7.0 loads it with the same digest ok"
redis-cli -p "$RPORT" flushall >/dev/null
digests=$($CLI debug digest-value p:hash p:bigzset p:ttl)
[ "$($CLI migrate 127.0.0.1 "$RPORT" "" 0 5000 KEYS p:hash p:bigzset p:ttl p:missing)" = "OK" ] || fail "MIGRATE"
[ "$(redis-cli -p "$RPORT" debug digest-value p:hash p:bigzset p:ttl)" = "$digests" ] || fail "MIGRATE contents"
[ "$($CLI exists p:hash p:bigzset p:ttl)" = "0" ] || fail "MIGRATE left the keys here"
[ "$($CLI migrate 127.0.0.1 "$RPORT" p:list 0 5000 COPY)" = "OK" ] || fail "MIGRATE COPY"
[ "$($CLI exists p:list)" = "1" ] || fail "MIGRATE COPY removed the key"
$CLI migrate 127.0.0.1 "$RPORT" p:list 0 5000 COPY 2>&1 | grep -q "Target instance replied with error: BUSYKEY" \
    || fail "MIGRATE onto an existing key"
echo "MIGRATE into redis-server 7.0 ok"

# Replication both ways with a live redis-server 7.0: slotcache replicates it while it
# takes writes of every type (diskless, then disk-based sync), and redis-server
# replicates slotcache.
RPORT2=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$WORK/rprimary" "$WORK/replica"
redis-server --bind 127.0.0.1 --port "$RPORT2" --dir "$WORK/rprimary" --save "" --appendonly no \
    --enable-debug-command yes --repl-diskless-sync yes --repl-diskless-sync-delay 0 \
    --daemonize no >"$WORK/rprimary.log" 2>&1 &
PIDS+=($!)
RCLI="redis-cli -p $RPORT2"
for _ in $(seq 1 100); do [ "$($RCLI ping 2>/dev/null)" = PONG ] && break; sleep 0.1; done
for i in $(seq 1 300); do echo "RPUSH r:list e$i"; echo "HSET r:hash f$i v$i"; echo "SADD r:set m$i";
    echo "SADD r:ints $i"; echo "ZADD r:zset $i m$i"; echo "SET r:str$i v$i"; echo "PFADD r:hll x$i";
    echo "SETBIT r:bits $i 1"; done | $RCLI >/dev/null
$RCLI set r:ttl v px 100000000 >/dev/null
start --dir "$WORK/replica" --enable-debug-command yes
CLI="redis-cli -p $PORT"
# Writes of every type go on while the replica syncs.
redis-benchmark -p "$RPORT2" -n 30000 -r 1000 -q -t set,incr,lpush,rpop,sadd,hset,spop,zadd,zpopmin,lrange_100 \
    >/dev/null 2>&1 &
BENCH=$!
[ "$($CLI replicaof 127.0.0.1 "$RPORT2")" = "OK" ] || fail "REPLICAOF a redis-server"
for _ in $(seq 1 100); do $CLI info replication | grep -q "master_link_status:up" && break; sleep 0.1; done
$CLI info replication | grep -q "master_link_status:up" || fail "link to redis-server: $($CLI info replication)"
wait "$BENCH"
$RCLI incrbyfloat r:float 1.5 >/dev/null
$RCLI expire r:str1 5000 >/dev/null
[ "$($RCLI wait 1 5000)" = "1" ] || fail "WAIT on redis-server for slotcache"
[ "$($CLI dbsize)" = "$($RCLI dbsize)" ] || fail "replica of redis-server: $($CLI dbsize) keys vs $($RCLI dbsize)"
[ "$($CLI debug digest)" = "$($RCLI debug digest)" ] || fail "replica of redis-server: other contents"
$CLI set x 1 2>&1 | grep -q "READONLY" || fail "a replica refuses writes"
echo "slotcache replicates a live redis-server 7.0 (diskless sync, then the stream) ok"
$RCLI config set repl-diskless-sync no >/dev/null
$CLI replicaof no one >/dev/null
$CLI flushall >/dev/null
$CLI replicaof 127.0.0.1 "$RPORT2" >/dev/null
for _ in $(seq 1 100); do $CLI info replication | grep -q "master_link_status:up" && break; sleep 0.1; done
$RCLI lpush r:after a b >/dev/null
[ "$($RCLI wait 1 5000)" = "1" ] || fail "WAIT after a disk-based sync"
[ "$($CLI debug digest)" = "$($RCLI debug digest)" ] || fail "disk-based sync: other contents"
echo "slotcache replicates redis-server after a disk-based sync ok"
$CLI replicaof no one >/dev/null
RPORT3=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$WORK/rreplica"
redis-server --bind 127.0.0.1 --port "$RPORT3" --dir "$WORK/rreplica" --save "" --appendonly no \
    --enable-debug-command yes --replicaof 127.0.0.1 "$PORT" --daemonize no >"$WORK/rreplica.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do redis-cli -p "$RPORT3" info replication 2>/dev/null | grep -q "master_link_status:up" && break; sleep 0.1; done
redis-cli -p "$RPORT3" info replication | grep -q "master_link_status:up" || fail "redis-server's link to slotcache"
$CLI hset s:hash a 1 b 2 >/dev/null
$CLI setex s:ttl 1000 v >/dev/null
$CLI spop r:set 3 >/dev/null
[ "$($CLI wait 1 5000)" = "1" ] || fail "WAIT on slotcache for redis-server"
[ "$(redis-cli -p "$RPORT3" debug digest)" = "$($CLI debug digest)" ] || fail "redis-server replica of slotcache: other contents"
echo "redis-server 7.0 replicates slotcache ok"

echo "interop: all checks passed"
