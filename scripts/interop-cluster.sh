#!/usr/bin/env bash
# Cluster interop: three real slotcache nodes formed from seeds, then Redis's own
# cluster tools and the cluster clients of three libraries against them:
#   redis-cli -c, redis-cli --cluster check / info, redis-benchmark --cluster
#   (a short run, then a saturating one of CLUSTER_SOAK seconds, default 60, during
#   which no node may be declared failed), redis-py's RedisCluster, ioredis's Cluster
#   and node-redis's createCluster (each writing and reading 10,000 keys); the proxy
#   port with redis-cli and redis-benchmark that know nothing of clusters; then the
#   side port's ring page in headless Chromium, before and after a node is killed.
# Installs redis-tools when missing; the client libraries go into throwaway
# directories. Exits non-zero on the first failure.
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
SOAK=${CLUSTER_SOAK:-60}
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
    echo "interop-cluster FAILED: $*" >&2
    for f in "$WORK"/node*.log; do echo "== $f" >&2; tail -20 "$f" >&2; done
    exit 1
}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start_node N [SEED]: a node on a free port (and its side HTTP port on another), its
# directory and log under $WORK; sets PORTS[N] and HTTP_PORTS[N].
PORTS=()
HTTP_PORTS=()
PROXY_PORTS=()
start_node() {
    local n=$1 seed=${2:-}
    mkdir -p "$WORK/node$n"
    HTTP_PORTS[n]=$(free_port)
    PROXY_PORTS[n]=$(free_port)
    local args=(--bind 127.0.0.1 --port 0 --metrics-port "${HTTP_PORTS[n]}" --threads 1 --cluster-enabled yes
        --cluster-proxy-port "${PROXY_PORTS[n]}" --dir "$WORK/node$n")
    [ -n "$seed" ] && args+=(--cluster-seeds "$seed")
    "$BIN" "${args[@]}" >"$WORK/node$n.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 1 100); do
        local port
        port=$(grep -o 'Ready to accept connections tcp 127.0.0.1:[0-9]*' "$WORK/node$n.log" | head -1 | sed 's/.*://') || true
        if [ -n "$port" ]; then PORTS[n]=$port; return 0; fi
        sleep 0.1
    done
    fail "node $n did not start"
}

start_node 0
start_node 1 "127.0.0.1:${PORTS[0]}"
start_node 2 "127.0.0.1:${PORTS[0]}"
echo "nodes on ports ${PORTS[*]}"

# Formed: every node ok, all slots served by three nodes, the same map everywhere.
formed() {
    local first="" p map
    for p in "${PORTS[@]}"; do
        redis-cli -p "$p" cluster info 2>/dev/null | grep -q "cluster_state:ok" || return 1
        [ "$(redis-cli -p "$p" cluster nodes 2>/dev/null | awk 'NF > 8' | wc -l)" = 3 ] || return 1
        map=$(redis-cli -p "$p" cluster slots 2>/dev/null)
        [ -z "$first" ] && first=$map
        [ "$map" = "$first" ] || return 1
    done
}
# Checked once per try: asked again after it held, a replica list that changes as a
# node's copy finishes loading (a heartbeat later everywhere) would fail it.
ok=""
for _ in $(seq 1 300); do formed && { ok=1; break; }; sleep 0.1; done
if [ -z "$ok" ]; then
    for p in "${PORTS[@]}"; do
        echo "== node on $p" >&2
        redis-cli -p "$p" cluster info 2>&1 | grep cluster_state >&2
        redis-cli -p "$p" cluster nodes >&2 2>&1
        redis-cli -p "$p" cluster slots 2>&1 | tr '\n' ' ' >&2
        echo >&2
    done
    fail "the cluster did not form"
fi
echo "cluster formed"

P0=${PORTS[0]}
# redis-cli -c follows MOVED to whichever node serves a key: 10,000 keys written
# through one node and read back through another.
out=$(seq 1 10000 | awk '{print "SET cli:" $1 " v" $1}' | redis-cli -c -p "$P0" | grep -v '^-> Redirected' | sort | uniq -c)
[ "$(echo $out)" = "10000 OK" ] || fail "redis-cli -c set: $out"
out=$(seq 1 10000 | awk '{print "GET cli:" $1}' | redis-cli -c -p "${PORTS[2]}" | grep -v '^-> Redirected' \
    | awk '$0 != "v" NR {bad++} END {print NR, bad + 0}')
[ "$out" = "10000 0" ] || fail "redis-cli -c get (lines, wrong values): $out"
out=$(redis-cli -p "$P0" set cli:1 x 2>&1 || true)
slot=$(redis-cli -p "$P0" cluster keyslot cli:1)
case "$out" in OK | "MOVED $slot 127.0.0.1:"*) ;; *) fail "redirect without -c: $out" ;; esac
echo "redis-cli -c ok"

# redis-cli --cluster check / info: agreement, coverage, no open slots.
out=$(redis-cli --cluster check "127.0.0.1:$P0" 2>&1) || fail "cluster check: $out"
echo "$out" | grep -q "\[OK\] All nodes agree about slots configuration." || fail "check agreement: $out"
echo "$out" | grep -q "\[OK\] All 16384 slots covered." || fail "check coverage: $out"
out=$(redis-cli --cluster info "127.0.0.1:$P0" 2>&1) || fail "cluster info: $out"
[ "$(echo "$out" | grep -c "slots |")" = 3 ] || fail "cluster info: $out"
echo "redis-cli --cluster check/info ok"

# redis-benchmark --cluster: a short run must see no error.
out=$(timeout 120 redis-benchmark --cluster -p "$P0" -t set,get -n 200000 -P 16 -q 2>&1 | tr '\r' '\n') || fail "benchmark: $out"
echo "$out" | grep -q "^GET: .* requests per second" || fail "benchmark: $out"
echo "$out" | grep -qi "error" && fail "benchmark errors: $out"
echo "redis-benchmark --cluster ok: $(echo "$out" | grep 'requests per second' | tr '\n' ' ')"

# A saturating load for $SOAK seconds: no node may be declared failed meanwhile.
timeout "$SOAK" redis-benchmark --cluster -p "$P0" -t set,get -n 1000000000 -c 50 -P 16 -q >/dev/null 2>&1 || true
if grep -h "Cluster: node .* failed\|Cluster state fail\|majority lost" "$WORK"/node*.log | grep -v "^.*0 slots served here"; then
    fail "a node was declared failed under load"
fi
for p in "${PORTS[@]}"; do
    redis-cli -p "$p" cluster info | grep -q "cluster_state:ok" || fail "state after the soak on $p"
done
echo "no false failure during ${SOAK}s of saturating load"

# redis-py RedisCluster
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
"$PY" - "$P0" <<'PY' || fail "redis-py RedisCluster"
import sys
from redis.cluster import RedisCluster

rc = RedisCluster(host="127.0.0.1", port=int(sys.argv[1]), decode_responses=True)
assert len(rc.get_nodes()) == 3, rc.get_nodes()
for i in range(10000):
    rc.set(f"py:{i}", i)
assert all(rc.get(f"py:{i}") == str(i) for i in range(0, 10000, 3))
rc.mset_nonatomic({f"pym:{i}": i for i in range(100)})
assert rc.mget_nonatomic([f"pym:{i}" for i in range(100)]) == [str(i) for i in range(100)]
try:
    rc.execute_command("MSET", "{a}x", 1, "{b}x", 2)
    raise SystemExit("cross-slot MSET passed")
except Exception as e:
    assert "slot" in str(e).lower(), e
print("redis-py RedisCluster ok")
PY

# ioredis and node-redis cluster clients
mkdir -p "$WORK/node"
(cd "$WORK/node" && npm init -y >/dev/null && npm install --silent --no-audit --no-fund ioredis redis >/dev/null 2>&1) \
    || fail "npm install ioredis redis"
cat >"$WORK/node/check.js" <<'JS'
const port = Number(process.argv[2]);
const Redis = require("ioredis");
const { createCluster } = require("redis");

async function ioredis() {
  const c = new Redis.Cluster([{ host: "127.0.0.1", port }]);
  for (let b = 0; b < 10000; b += 500) {
    await Promise.all(Array.from({ length: 500 }, (_, i) => c.set(`io:${b + i}`, b + i)));
  }
  for (let i = 0; i < 10000; i += 7) {
    const v = await c.get(`io:${i}`);
    if (v !== String(i)) throw new Error(`ioredis io:${i} = ${v}`);
  }
  await c.quit();
  console.log("ioredis Cluster ok");
}

async function nodeRedis() {
  const c = createCluster({ rootNodes: [{ url: `redis://127.0.0.1:${port}` }] });
  c.on("error", (e) => console.error("node-redis:", e.message));
  await c.connect();
  for (let b = 0; b < 10000; b += 500) {
    await Promise.all(Array.from({ length: 500 }, (_, i) => c.set(`nr:${b + i}`, String(b + i))));
  }
  for (let i = 0; i < 10000; i += 7) {
    const v = await c.get(`nr:${i}`);
    if (v !== String(i)) throw new Error(`node-redis nr:${i} = ${v}`);
  }
  await c.quit();
  console.log("node-redis createCluster ok");
}

(async () => {
  await ioredis();
  await nodeRedis();
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
JS
(cd "$WORK/node" && timeout 120 node check.js "$P0") || fail "node cluster clients"

# The proxy port: clients that know nothing of clusters.
PX=${PROXY_PORTS[1]}
for i in $(seq 1 50); do
    [ "$(redis-cli -p "$PX" set "px:$i" "v$i")" = "OK" ] || fail "redis-cli through the proxy: set px:$i"
done
[ "$(redis-cli -p "${PROXY_PORTS[2]}" get px:17)" = "v17" ] || fail "redis-cli through the proxy: get"
[ "$(redis-cli -p "$PX" mget px:1 px:2 px:3 | tr '\n' ' ')" = "v1 v2 v3 " ] || fail "mget through the proxy"
total=0
for p in "${PORTS[@]}"; do total=$((total + $(redis-cli -p "$p" dbsize))); done
[ "$(redis-cli -p "$PX" dbsize)" = "$total" ] || fail "dbsize through the proxy"
out=$(timeout 120 redis-benchmark -p "$PX" -t set,get -n 100000 -P 16 -q 2>&1 | tr '\r' '\n') || fail "benchmark through the proxy: $out"
echo "$out" | grep -q "^GET: .* requests per second" || fail "benchmark through the proxy: $out"
echo "$out" | grep -qi "error" && fail "benchmark errors through the proxy: $out"
echo "proxy port ok (redis-cli, redis-benchmark): $(echo "$out" | grep 'requests per second' | tr '\n' ' ')"

# The ring page in headless Chromium: three nodes online, then one killed.
if ! command -v chromium >/dev/null; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
page() { # page N NAME: the DOM of node N's ring page after its script ran, and a screenshot
    local url="http://127.0.0.1:${HTTP_PORTS[$1]}/"
    timeout 60 chromium --headless --no-sandbox --disable-gpu --virtual-time-budget=3000 \
        --window-size=900,520 --screenshot="$WORK/$2.png" "$url" >/dev/null 2>&1 || fail "screenshot $2"
    timeout 60 chromium --headless --no-sandbox --disable-gpu --virtual-time-budget=3000 --dump-dom "$url" \
        2>/dev/null | grep -o '<tr [^>]*data-node="[^"]*"[^>]*>.*' | sed 's#</tr>#\n#g' | sed 's/<[^>]*>/ /g'
}
rows=$(page 0 before)
[ "$(echo "$rows" | grep -c " online ")" = 3 ] || fail "ring page before: $rows"
echo "$rows" | grep -q "127.0.0.1:${PORTS[2]} *online *16 *[0-9]" || fail "ring page row of node 2: $rows"
kill -9 "${PIDS[2]}"
for _ in $(seq 1 100); do
    redis-cli -p "$P0" cluster nodes | grep -q "master,fail " && break
    sleep 0.1
done
rows=$(page 0 after)
echo "$rows" | grep -q "127.0.0.1:${PORTS[2]} *fail *16 *0 " || fail "ring page after the kill: $rows"
[ "$(echo "$rows" | grep -c " online ")" = 2 ] || fail "ring page after the kill: $rows"
for shot in before after; do
    [ "$(stat -c %s "$WORK/$shot.png")" -gt 10000 ] || fail "screenshot $shot is empty"
done
cmp -s "$WORK/before.png" "$WORK/after.png" && fail "the ring page did not change after the kill"
echo "ring page ok (before/after screenshots differ, the killed node shows failed with 0 slots)"

echo "interop-cluster: all checks passed"
