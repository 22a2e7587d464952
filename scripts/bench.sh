#!/usr/bin/env bash
# slotcache vs redis-server, side by side on this machine.
#
# Both servers are pinned to CPU 0 (slotcache with one I/O thread, so both use one
# core), redis-benchmark to CPU 1. Before the throughput cases each server is given a
# resident set as a production cache has (RESIDENT=0 skips it): the 1,000,000 keys the
# benchmark's `-r 1000000` draws from (`key:000000000000`..., 100-byte values, so every
# GET hits; the script checks the misses), 1,000,000 other 100-byte keys and 100,000 of
# 1 KiB, each written once through `redis-cli --pipe`. Runs alternate between the
# servers; each case reports the median of ROUNDS runs of ops/s, of requests served per
# second of server CPU time (user + system, from /proc), with the slotcache/redis
# ratios, and of redis-benchmark's p50 and p99 latency (ms). Without
# pipelining the single-threaded redis-benchmark saturates its core before either
# server does, so ops/s there measure the client; ops per CPU-second measure the server. Then memory per key:
# RSS growth and used_memory growth per key after loading 1,000,000 keys (11-byte
# keys, 100-byte values) into each server, and per element of a 1,000,000-element
# hash, set and sorted set.
#
# Usage: scripts/bench.sh            (ROUNDS=3 KEYS=1000000 RESIDENT=1 by default)
#        MODE=hitpath scripts/bench.sh        (only the string cases on the resident set)
#        MODE=scaling THREADS="1 2 4 8" scripts/bench.sh   (ops/s per core count, below)
#        MODE=cluster scripts/bench.sh        (3 slotcache nodes vs a 3-node Redis Cluster)
#        MODE=persistence scripts/bench.sh    (snapshots: BGSAVE, load, file size, serving
#                                              while saving; below)
#        MODE=replication scripts/bench.sh    (SET -P 16 on a primary with a replica vs
#                                              without; below)
#        ROUNDS=5 scripts/bench.sh
#        METRICS_PORT=9199 scripts/bench.sh   (slotcache with its metrics port on,
#                                              scraped once a second during the runs)
#        MODE=metrics scripts/bench.sh        (no redis: slotcache with metrics off vs
#                                              on and scraped once a second, same run)
#        MODE=evict scripts/bench.sh          (only the eviction case below)
#        MODE=types scripts/bench.sh          (only the data-type cases and the memory
#                                              per collection element)
#        MODE=memory scripts/bench.sh         (only the memory per key and per element)
#        SC_ARGS="--activedefrag no" scripts/bench.sh   (extra slotcache flags)
#
# Last, eviction under a sustained write load: fresh servers with maxmemory EVICT_MB
# (64) and allkeys-lru take 3,000,000 pipelined SETs of 100-byte values over 10,000,000
# random keys; it reports the peak RSS (sampled every 0.2 s) against maxmemory, the
# used_memory and the keys held at the end, and the evictions.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
MODE=${MODE:-redis}
RESIDENT=${RESIDENT:-1}
MEM_KEYS=${KEYS:-1000000}
EVICT_MB=${EVICT_MB:-64}
SERVER_ARGS=()
SC_ARGS=${SC_ARGS:-}
SC_PORT=${SC_PORT:-7701}
RD_PORT=${RD_PORT:-7702}
OUT=bench-results
mkdir -p "$OUT"

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server redis-tools >/dev/null
fi
cargo build --release --quiet

PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

wait_ready() {
    for _ in $(seq 1 100); do redis-cli -p "$1" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
    echo "server on $1 did not start" >&2; exit 1
}

start_scraper() {
    ( while sleep 1; do
          exec 3<>"/dev/tcp/127.0.0.1/$1" || continue
          printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3 && cat <&3 >/dev/null
          exec 3<&-
      done ) &
    PIDS+=($!)
}

start_servers() {
    cleanup; PIDS=()
    if [ "$MODE" = metrics ]; then
        # "A" is slotcache without metrics, "B" slotcache with metrics scraped each second.
        local mport=${METRICS_PORT:-9199}
        taskset -c 0 target/release/slotcache --bind 127.0.0.1 --port "$RD_PORT" --threads 1 --shards 1 \
            --metrics-port 0 --loglevel warning >"$OUT/slotcache-a.log" 2>&1 &
        PIDS+=($!); RD_PID=$!
        taskset -c 0 target/release/slotcache --bind 127.0.0.1 --port "$SC_PORT" --threads 1 --shards 1 \
            --metrics-port "$mport" --loglevel warning >"$OUT/slotcache-b.log" 2>&1 &
        PIDS+=($!); SC_PID=$!
        wait_ready "$SC_PORT"; wait_ready "$RD_PORT"
        start_scraper "$mport"
        return
    fi
    taskset -c 0 target/release/slotcache --bind 127.0.0.1 --port "$SC_PORT" --threads 1 --shards 1 \
        --metrics-port "${METRICS_PORT:-0}" --loglevel warning "${SERVER_ARGS[@]}" $SC_ARGS >"$OUT/slotcache.log" 2>&1 &
    PIDS+=($!); SC_PID=$!
    taskset -c 0 redis-server --bind 127.0.0.1 --port "$RD_PORT" --save "" --appendonly no \
        --daemonize no --loglevel warning "${SERVER_ARGS[@]}" >"$OUT/redis.log" 2>&1 &
    PIDS+=($!); RD_PID=$!
    wait_ready "$SC_PORT"; wait_ready "$RD_PORT"
    if [ "${METRICS_PORT:-0}" != 0 ]; then
        start_scraper "$METRICS_PORT"
    fi
}

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
used_memory() { redis-cli -p "$1" info memory | awk -F: '/^used_memory:/ {print $2}' | tr -d '\r'; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# The resident set (see the top), streamed to `redis-cli --pipe` on PORT.
preload() {
    python3 scripts/resident.py | redis-cli -p "$1" --pipe >/dev/null
}

# bench PORT PID REQUESTS ARGS... -> "ops/s requests-per-server-CPU-second p50-ms p99-ms"
# With ARGS = --pipe-file FILE, FILE (REQUESTS units of work, e.g. transactions) is sent
# over one connection by `redis-cli --pipe` instead of running redis-benchmark (no
# latencies: 0 0).
bench() {
    local port=$1 pid=$2 n=$3; shift 3
    local t0 t1 res
    t0=$(cpu_ticks "$pid")
    if [ "${1:-}" = --pipe-file ]; then
        local s0 s1
        s0=$(date +%s.%N)
        taskset -c 1 redis-cli -p "$port" --pipe <"$2" >/dev/null
        s1=$(date +%s.%N)
        res=$(awk -v n="$n" -v a="$s0" -v b="$s1" 'BEGIN {printf "%.0f 0 0", n / (b - a)}')
    else
        # CSV: "test","rps","avg","min","p50","p95","p99","max"
        res=$(taskset -c 1 redis-benchmark -p "$port" --csv -n "$n" "$@" 2>/dev/null \
            | awk -F'","' 'NR==2 {print $2, $5, $7}')
    fi
    t1=$(cpu_ticks "$pid")
    awk -v r="$res" -v n="$n" -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" \
        'BEGIN {split(r, f, " "); printf "%s %.0f %s %s\n", f[1], (t > 0 ? n / (t / hz) : 0), f[2], f[3]}'
}

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

info_field() { redis-cli -p "$1" info "$2" | awk -F: -v f="$3" '$1 == f {print $2}' | tr -d '\r'; }

evict_section() {
    SERVER_ARGS=(--maxmemory "${EVICT_MB}mb" --maxmemory-policy allkeys-lru)
    start_servers
    printf "\n%-10s %14s %12s %14s %12s %12s\n" "server" "peak RSS MB" "RSS/max" "used_memory MB" \
        "keys held" "evicted" | tee "$OUT/evict.txt"
    for which in redis slotcache; do
        if [ "$which" = redis ]; then port=$RD_PORT; pid=$RD_PID; else port=$SC_PORT; pid=$SC_PID; fi
        taskset -c 1 redis-benchmark -p "$port" -q -c 50 -P 16 -t set -d 100 -r 10000000 -n 3000000 \
            >/dev/null 2>&1 &
        local load=$! peak=0 r
        while kill -0 "$load" 2>/dev/null; do
            r=$(rss_kb "$pid"); (( r > peak )) && peak=$r
            sleep 0.2
        done
        wait "$load" || true
        awk -v w="$which" -v p="$peak" -v m="$EVICT_MB" -v u="$(used_memory "$port")" \
            -v k="$(redis-cli -p "$port" dbsize)" -v e="$(info_field "$port" stats evicted_keys)" \
            'BEGIN {printf "%-10s %14.1f %12.2f %14.1f %12d %12d\n", w, p / 1024, p / 1024 / m, u / 1048576, k, e}' \
            | tee -a "$OUT/evict.txt"
    done
    SERVER_ARGS=()
}

# MODE=scaling: for each N of THREADS, slotcache with N threads on cores 0..N-1 against
# redis-server with `io-threads N` and `io-threads-do-reads yes` on the same cores, both
# holding the resident set; redis-benchmark (GET and SET -P 16, 50 clients per server
# thread) runs on the cores left, with LOADGEN threads (default 1; LOADGEN=per-core
# gives it N). Prints ops/s per N. Where N plus the load generator exceed the cores,
# they share cores and the figures say so rather than measure scaling.
scaling_section() {
    local ncpu n cores load_cores load_threads
    ncpu=$(nproc)
    printf "%-8s %-6s %14s %14s %7s  %s\n" "threads" "case" "redis ops/s" "slotcache" "ratio" "note" \
        | tee "$OUT/scaling.txt"
    for n in ${THREADS:-1 2 4 8}; do
        cores="0-$((n - 1))"
        if (( n < ncpu )); then load_cores="$n-$((ncpu - 1))"; note=""; else load_cores="0-$((ncpu - 1))"; note="shares cores ($ncpu)"; fi
        load_threads=${LOADGEN:-1}; [ "$load_threads" = per-core ] && load_threads=$n
        cleanup; PIDS=()
        taskset -c "$cores" target/release/slotcache --bind 127.0.0.1 --port "$SC_PORT" --threads "$n" \
            --metrics-port 0 --loglevel warning $SC_ARGS >"$OUT/slotcache.log" 2>&1 &
        PIDS+=($!)
        taskset -c "$cores" redis-server --bind 127.0.0.1 --port "$RD_PORT" --save "" --appendonly no \
            --daemonize no --loglevel warning --io-threads "$n" --io-threads-do-reads yes >"$OUT/redis.log" 2>&1 &
        PIDS+=($!)
        wait_ready "$SC_PORT"; wait_ready "$RD_PORT"
        for port in "$RD_PORT" "$SC_PORT"; do preload "$port"; done
        for t in get set; do
            local r s
            r=$(taskset -c "$load_cores" redis-benchmark -p "$RD_PORT" --threads "$load_threads" -c $((50 * n)) \
                -r 1000000 -d 100 -P 16 -t $t -n 2000000 --csv 2>/dev/null | awk -F'","' 'NR==2 {print $2}')
            s=$(taskset -c "$load_cores" redis-benchmark -p "$SC_PORT" --threads "$load_threads" -c $((50 * n)) \
                -r 1000000 -d 100 -P 16 -t $t -n 2000000 --csv 2>/dev/null | awk -F'","' 'NR==2 {print $2}')
            awk -v n="$n" -v t="$t" -v r="$r" -v s="$s" -v note="$note" \
                'BEGIN {printf "%-8s %-6s %14.0f %14.0f %7.2f  %s\n", n, t, r, s, s / r, note}' | tee -a "$OUT/scaling.txt"
        done
    done
}

# MODE=cluster: three slotcache nodes formed from seeds against a three-node Redis 7.0
# cluster (`redis-cli --cluster create`, no replicas), all six servers pinned to CPU 0
# with one I/O thread each, `redis-benchmark --cluster` on CPU 1 (SET and GET, -P 1
# and -P 16, 100-byte values over 1M random keys). The clusters take turns, ROUNDS
# times; prints the medians of ops/s and of requests per second of the three servers'
# summed CPU time, with the slotcache/redis ratios. Then slotcache's proxy port
# (`cluster-proxy-port` on the first node; plain redis-benchmark, no --cluster) against
# direct cluster access, as ops/s and their ratio.
CL_BASE=${CL_BASE:-7800}
cluster_section() {
    local work i port
    work=$(mktemp -d)
    cleanup; PIDS=()
    local sc_pids=() rd_pids=() sc_ports=() rd_ports=()
    for i in 0 1 2; do
        port=$((CL_BASE + i)); sc_ports+=("$port")
        mkdir -p "$work/sc$i"
        local seed=()
        (( i > 0 )) && seed=(--cluster-seeds "127.0.0.1:$CL_BASE")
        taskset -c 0 target/release/slotcache --bind 127.0.0.1 --port "$port" --threads 1 --shards 1 \
            --metrics-port 0 --loglevel warning --cluster-enabled yes --dir "$work/sc$i" "${seed[@]}" \
            --cluster-proxy-port $((CL_BASE + 20 + i)) \
            >"$OUT/cluster-sc$i.log" 2>&1 &
        PIDS+=($!); sc_pids+=($!)
        port=$((CL_BASE + 10 + i)); rd_ports+=("$port")
        mkdir -p "$work/rd$i"
        taskset -c 0 redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no --dir "$work/rd$i" \
            --cluster-enabled yes --cluster-config-file nodes.conf --daemonize no --loglevel warning \
            >"$OUT/cluster-rd$i.log" 2>&1 &
        PIDS+=($!); rd_pids+=($!)
    done
    for p in "${sc_ports[@]}" "${rd_ports[@]}"; do wait_ready "$p"; done
    redis-cli --cluster create "${rd_ports[@]/#/127.0.0.1:}" --cluster-replicas 0 --cluster-yes >/dev/null
    local ok
    for _ in $(seq 1 300); do
        ok=1
        for p in "${sc_ports[@]}" "${rd_ports[@]}"; do
            redis-cli -p "$p" cluster info | grep -q "cluster_state:ok" || ok=0
        done
        [ "$(redis-cli -p "${sc_ports[0]}" cluster nodes | awk 'NF > 8' | wc -l)" = 3 ] || ok=0
        (( ok )) && break
        sleep 0.1
    done
    (( ok )) || { echo "the clusters did not form" >&2; exit 1; }
    # The CPU of a cluster is its three servers' sum.
    cpu_sum() { local t=0 p; for p in "$@"; do t=$((t + $(cpu_ticks "$p"))); done; echo "$t"; }
    printf "%-12s %14s %14s %7s %16s %16s %7s\n" "case" "redis ops/s" "slotcache" "ratio" "redis ops/CPU-s" \
        "slotcache" "ratio" | tee "$OUT/cluster.txt"
    local t pl n
    for t in set get; do
        for pl in 1 16; do
            n=$(( pl > 1 ? 2000000 : 300000 ))
            local rs=() ss=() rc=() scpu=()
            for _ in $(seq 1 "$ROUNDS"); do
                for which in redis slotcache; do
                    local port0 pids t0 t1 ops
                    if [ "$which" = redis ]; then port0=${rd_ports[0]}; pids=("${rd_pids[@]}"); else port0=${sc_ports[0]}; pids=("${sc_pids[@]}"); fi
                    t0=$(cpu_sum "${pids[@]}")
                    ops=$(taskset -c 1 redis-benchmark --cluster -p "$port0" -c 50 -r 1000000 -d 100 -P "$pl" -t "$t" \
                        -n "$n" --csv 2>/dev/null | awk -F'","' '/"(SET|GET)/ {print $2}' | tail -1)
                    t1=$(cpu_sum "${pids[@]}")
                    local per_cpu
                    per_cpu=$(awk -v n="$n" -v d="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.0f", (d > 0 ? n / (d / hz) : 0)}')
                    if [ "$which" = redis ]; then rs+=("$ops"); rc+=("$per_cpu"); else ss+=("$ops"); scpu+=("$per_cpu"); fi
                done
            done
            local r s rcm scm
            r=$(printf "%s\n" "${rs[@]}" | median); s=$(printf "%s\n" "${ss[@]}" | median)
            rcm=$(printf "%s\n" "${rc[@]}" | median); scm=$(printf "%s\n" "${scpu[@]}" | median)
            awk -v c="${t^^} -P $pl" -v r="$r" -v s="$s" -v rc="$rcm" -v sc="$scm" \
                'BEGIN {printf "%-12s %14.0f %14.0f %7.2f %16.0f %16.0f %7.2f\n", c, r, s, s / r, rc, sc, sc / rc}' \
                | tee -a "$OUT/cluster.txt"
        done
    done
    printf "\n%-12s %14s %14s %7s\n" "case" "direct ops/s" "proxy ops/s" "ratio" | tee -a "$OUT/cluster.txt"
    for t in set get; do
        for pl in 1 16; do
            n=$(( pl > 1 ? 2000000 : 300000 ))
            local ds=() ps=()
            for _ in $(seq 1 "$ROUNDS"); do
                ds+=("$(taskset -c 1 redis-benchmark --cluster -p "${sc_ports[0]}" -c 50 -r 1000000 -d 100 -P "$pl" -t "$t" \
                    -n "$n" --csv 2>/dev/null | awk -F'","' '/"(SET|GET)/ {print $2}' | tail -1)")
                ps+=("$(taskset -c 1 redis-benchmark -p $((CL_BASE + 20)) -c 50 -r 1000000 -d 100 -P "$pl" -t "$t" \
                    -n "$n" --csv 2>/dev/null | awk -F'","' '/"(SET|GET)/ {print $2}' | tail -1)")
            done
            local d p
            d=$(printf "%s\n" "${ds[@]}" | median); p=$(printf "%s\n" "${ps[@]}" | median)
            awk -v c="${t^^} -P $pl" -v d="$d" -v p="$p" 'BEGIN {printf "%-12s %14.0f %14.0f %7.2f\n", c, d, p, p / d}' \
                | tee -a "$OUT/cluster.txt"
        done
    done
    cleanup; PIDS=()
    rm -rf "$work"
}

# MODE=persistence: both servers pinned to CPU 0 (slotcache with one I/O thread) hold
# scripts/persist_data.py's dataset (1,000,000 keys of 100 bytes and 1,000 collections
# of 10,000 elements). Reported, medians of ROUNDS: BGSAVE's wall time and MB/s of file
# written, the file's size, and the start-up load time (from launch until PING answers
# PONG rather than -LOADING). Then a SET load (redis-benchmark on CPU 1, -P 16 -c 50 over
# the 1,000,000 keys) for 10 s without saving and 10 s while background saves run back
# to back: ops/s during saves as a fraction of without, and the peak memory during
# saves against before them (PSS of the server and, for Redis, its fork child: pages
# they share count once), sampled every 0.1 s.
persistence_section() {
    local work which port pid
    work=$(mktemp -d)
    cleanup; PIDS=()
    mkdir -p "$work/slotcache" "$work/redis"
    start_one() {
        if [ "$1" = slotcache ]; then
            taskset -c 0 target/release/slotcache --bind 127.0.0.1 --port "$SC_PORT" --threads 1 --shards 1 \
                --metrics-port 0 --loglevel warning --save "" --dir "$work/slotcache" $SC_ARGS \
                >>"$OUT/persist-slotcache.log" 2>&1 &
            SC_PID=$!
        else
            taskset -c 0 redis-server --bind 127.0.0.1 --port "$RD_PORT" --save "" --appendonly no \
                --dir "$work/redis" --daemonize no --loglevel warning >>"$OUT/persist-redis.log" 2>&1 &
            RD_PID=$!
        fi
        PIDS+=($!)
    }
    port_of() { if [ "$1" = slotcache ]; then echo "$SC_PORT"; else echo "$RD_PORT"; fi; }
    pid_of() { if [ "$1" = slotcache ]; then echo "$SC_PID"; else echo "$RD_PID"; fi; }
    # Until PING answers PONG (not -LOADING), in seconds.
    ready_after() {
        local t0=$1
        until [ "$(redis-cli -p "$2" ping 2>/dev/null)" = PONG ]; do sleep 0.01; done
        awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.3f", b - a}'
    }
    bgsave_wait() {
        until [ "$(info_field "$1" persistence rdb_bgsave_in_progress)" = 0 ]; do sleep 0.01; done
    }
    # redis-benchmark's progress lines, cut short by timeout: the last overall rate.
    overall_rps() { tr '\r' '\n' | sed -n 's/.*SET: rps=[0-9.]* (overall: \([0-9.]*\)).*/\1/p' | tail -1; }
    pss_kb() {
        local total=0 p
        for p in "$@"; do
            total=$((total + $(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)))
        done
        echo "$total"
    }
    for which in redis slotcache; do
        start_one "$which"; wait_ready "$(port_of "$which")"
        python3 scripts/persist_data.py | redis-cli -p "$(port_of "$which")" --pipe >/dev/null
    done
    printf "%-26s %12s %12s %7s\n" "case" "redis" "slotcache" "ratio" | tee "$OUT/persistence.txt"
    local -A save_s mbps size load_s
    for which in redis slotcache; do
        port=$(port_of "$which")
        local saves=() loads=()
        for _ in $(seq 1 "$ROUNDS"); do
            local t0 t1
            t0=$(date +%s.%N)
            redis-cli -p "$port" bgsave >/dev/null
            sleep 0.01
            bgsave_wait "$port"
            t1=$(date +%s.%N)
            saves+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')")
        done
        save_s[$which]=$(printf "%s\n" "${saves[@]}" | median)
        size[$which]=$(stat -c %s "$work/$which/dump.rdb")
        mbps[$which]=$(awk -v s="${size[$which]}" -v t="${save_s[$which]}" 'BEGIN {printf "%.1f", s / 1048576 / t}')
        for _ in $(seq 1 "$ROUNDS"); do
            kill "$(pid_of "$which")"; wait "$(pid_of "$which")" 2>/dev/null || true
            local t0
            t0=$(date +%s.%N)
            start_one "$which"
            loads+=("$(ready_after "$t0" "$port")")
        done
        load_s[$which]=$(printf "%s\n" "${loads[@]}" | median)
    done
    row() { awk -v c="$1" -v r="$2" -v s="$3" 'BEGIN {printf "%-26s %12s %12s %7.2f\n", c, r, s, (r > 0 ? s / r : 0)}'; }
    row "BGSAVE seconds" "${save_s[redis]}" "${save_s[slotcache]}" | tee -a "$OUT/persistence.txt"
    row "BGSAVE MB/s" "${mbps[redis]}" "${mbps[slotcache]}" | tee -a "$OUT/persistence.txt"
    row "load seconds" "${load_s[redis]}" "${load_s[slotcache]}" | tee -a "$OUT/persistence.txt"
    row "file bytes" "${size[redis]}" "${size[slotcache]}" | tee -a "$OUT/persistence.txt"
    # Serving while saving.
    local -A idle_ops saving_ops before_kb peak_kb
    for which in redis slotcache; do
        port=$(port_of "$which"); pid=$(pid_of "$which")
        idle_ops[$which]=$(timeout 10 taskset -c 1 redis-benchmark -p "$port" -c 50 -P 16 -r 1000000 -d 100 -t set \
            -n 100000000 2>/dev/null | overall_rps || true)
        before_kb[$which]=$(pss_kb "$pid")
        ( end=$((SECONDS + 10)); while [ $SECONDS -lt $end ]; do
              redis-cli -p "$port" bgsave >/dev/null 2>&1; sleep 0.05; bgsave_wait "$port"; done ) &
        local saver=$! peak=0 sampler
        ( p=0; while kill -0 "$saver" 2>/dev/null; do
              k=$(pss_kb "$pid" $(pgrep -P "$pid" || true)); [ "$k" -gt "$p" ] && p=$k; echo "$p" >"$work/peak"; sleep 0.1
          done ) &
        sampler=$!
        saving_ops[$which]=$(timeout 10 taskset -c 1 redis-benchmark -p "$port" -c 50 -P 16 -r 1000000 -d 100 -t set \
            -n 100000000 2>/dev/null | overall_rps || true)
        wait "$saver" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true
        peak_kb[$which]=$(cat "$work/peak")
    done
    printf "\n%-26s %12s %12s\n" "case" "redis" "slotcache" | tee -a "$OUT/persistence.txt"
    awk -v ri="${idle_ops[redis]}" -v rs="${saving_ops[redis]}" -v si="${idle_ops[slotcache]}" -v ss="${saving_ops[slotcache]}" \
        'BEGIN {printf "%-26s %12.0f %12.0f\n%-26s %12.0f %12.0f\n%-26s %12.2f %12.2f\n", "SET ops/s, no save", ri, si, \
            "SET ops/s, saving", rs, ss, "saving / no save", rs / ri, ss / si}' | tee -a "$OUT/persistence.txt"
    awk -v rb="${before_kb[redis]}" -v rp="${peak_kb[redis]}" -v sb="${before_kb[slotcache]}" -v sp="${peak_kb[slotcache]}" \
        'BEGIN {printf "%-26s %12.0f %12.0f\n%-26s %12.0f %12.0f\n%-26s %12.2f %12.2f\n", "memory MB before", rb / 1024, sb / 1024, \
            "peak MB while saving", rp / 1024, sp / 1024, "peak / before", rp / rb, sp / sb}' | tee -a "$OUT/persistence.txt"
    cleanup; PIDS=()
    rm -rf "$work"
}

# MODE=replication: what a replica costs its primary. Each primary pinned to CPU 0
# (slotcache with one I/O thread), its replica (same kind) and redis-benchmark on CPU 1;
# SET -P 16 -c 50 over 1,000,000 keys (2,000,000 requests) against the primary alone,
# then against a fresh primary with a replica attached (after its full sync). Medians of
# ROUNDS of ops/s and of requests per primary CPU-second; the ratio with a replica /
# without is the price of replication (the issue's target: >= 0.8).
replication_section() {
    local kind with port pid rport rpid res
    declare -A ops cpu
    start_kind() { # kind port cpu -> pid
        if [ "$1" = slotcache ]; then
            taskset -c "$3" target/release/slotcache --bind 127.0.0.1 --port "$2" --threads 1 --shards 1 \
                --metrics-port 0 --loglevel warning --save "" --dir "$(mktemp -d)" $SC_ARGS \
                >>"$OUT/replication-slotcache.log" 2>&1 &
        else
            taskset -c "$3" redis-server --bind 127.0.0.1 --port "$2" --save "" --appendonly no \
                --dir "$(mktemp -d)" --daemonize no --loglevel warning >>"$OUT/replication-redis.log" 2>&1 &
        fi
        PIDS+=($!)
        LAST_PID=$!
        wait_ready "$2"
    }
    for _ in $(seq 1 "$ROUNDS"); do
        for kind in redis slotcache; do
            for with in 0 1; do
                cleanup; PIDS=()
                port=$SC_PORT; rport=$RD_PORT
                start_kind "$kind" "$port" 0; pid=$LAST_PID
                if [ "$with" = 1 ]; then
                    start_kind "$kind" "$rport" 1
                    redis-cli -p "$rport" replicaof 127.0.0.1 "$port" >/dev/null
                    for _ in $(seq 1 100); do
                        redis-cli -p "$rport" info replication | grep -q "master_link_status:up" && break
                        sleep 0.1
                    done
                fi
                res=$(bench "$port" "$pid" 2000000 -t set -P 16 -c 50 -r 1000000)
                if [ "$with" = 1 ]; then
                    # The replica has it all: every SET acknowledged, the same keys.
                    [ "$(redis-cli -p "$port" wait 1 30000)" = 1 ] || echo "$kind: WAIT 1 did not answer 1" >&2
                    [ "$(redis-cli -p "$port" dbsize)" = "$(redis-cli -p "$rport" dbsize)" ] \
                        || echo "$kind: the replica holds another number of keys" >&2
                fi
                ops[$kind.$with]+="$(echo "$res" | cut -d' ' -f1) "
                cpu[$kind.$with]+="$(echo "$res" | cut -d' ' -f2) "
            done
        done
    done
    cleanup; PIDS=()
    printf '%-34s %12s %12s\n' "SET -P 16 (median of $ROUNDS)" redis slotcache | tee "$OUT/replication.txt"
    m() { echo "$1" | tr ' ' '\n' | grep . | median; }
    local r0 r1 s0 s1 rc0 rc1 sc0 sc1
    r0=$(m "${ops[redis.0]}"); r1=$(m "${ops[redis.1]}"); s0=$(m "${ops[slotcache.0]}"); s1=$(m "${ops[slotcache.1]}")
    rc0=$(m "${cpu[redis.0]}"); rc1=$(m "${cpu[redis.1]}"); sc0=$(m "${cpu[slotcache.0]}"); sc1=$(m "${cpu[slotcache.1]}")
    awk -v r0="$r0" -v r1="$r1" -v s0="$s0" -v s1="$s1" -v rc0="$rc0" -v rc1="$rc1" -v sc0="$sc0" -v sc1="$sc1" 'BEGIN {
        printf "%-34s %12.0f %12.0f\n%-34s %12.0f %12.0f\n%-34s %12.2f %12.2f\n", "ops/s, no replica", r0, s0, \
            "ops/s, one replica", r1, s1, "with / without", r1 / r0, s1 / s0
        printf "%-34s %12.0f %12.0f\n%-34s %12.0f %12.0f\n%-34s %12.2f %12.2f\n", "requests per CPU-s, no replica", rc0, sc0, \
            "requests per CPU-s, one replica", rc1, sc1, "with / without", rc1 / rc0, sc1 / sc0}' | tee -a "$OUT/replication.txt"
}

if [ "$MODE" = persistence ]; then
    persistence_section
    exit 0
fi
if [ "$MODE" = replication ]; then
    replication_section
    exit 0
fi
if [ "$MODE" = evict ]; then
    evict_section
    exit 0
fi
if [ "$MODE" = cluster ]; then
    cluster_section
    exit 0
fi
if [ "$MODE" = scaling ]; then
    scaling_section
    exit 0
fi

if [ "$MODE" != memory ]; then
start_servers
if [ "$MODE" = metrics ]; then A="metrics off"; B="on"; else A="redis"; B="slotcache"; fi
if [ "$RESIDENT" = 1 ]; then
    for port in "$RD_PORT" "$SC_PORT"; do preload "$port"; done
    echo "resident set: redis $(redis-cli -p "$RD_PORT" dbsize) keys, slotcache $(redis-cli -p "$SC_PORT" dbsize) keys" \
        | tee "$OUT/throughput.txt"
else
    : >"$OUT/throughput.txt"
fi
printf "%-12s %12s %12s %6s   %14s %14s %6s   %13s %13s\n" "case" "$A ops/s" "$B" "ratio" \
    "$A ops/cpu-s" "$B" "ratio" "p50 ms A/B" "p99 ms A/B" | tee -a "$OUT/throughput.txt"
# misses PORT -> keyspace misses so far
misses() { info_field "$1" stats keyspace_misses; }
run_case() {
    local name=$1 n=$2; shift 2
    local rd=() sc=()
    for r in $(seq 1 "$ROUNDS"); do
        if (( r % 2 )); then
            rd+=("$(bench "$RD_PORT" "$RD_PID" "$n" "$@")"); sc+=("$(bench "$SC_PORT" "$SC_PID" "$n" "$@")")
        else
            sc+=("$(bench "$SC_PORT" "$SC_PID" "$n" "$@")"); rd+=("$(bench "$RD_PORT" "$RD_PID" "$n" "$@")")
        fi
    done
    col() { printf "%s\n" "${@:2}" | cut -d' ' -f"$1" | median; }
    awk -v n="$name" -v r="$(col 1 "${rd[@]}")" -v s="$(col 1 "${sc[@]}")" \
        -v re="$(col 2 "${rd[@]}")" -v se="$(col 2 "${sc[@]}")" \
        -v r50="$(col 3 "${rd[@]}")" -v s50="$(col 3 "${sc[@]}")" \
        -v r99="$(col 4 "${rd[@]}")" -v s99="$(col 4 "${sc[@]}")" \
        'BEGIN {printf "%-12s %12.0f %12.0f %6.2f   %14.0f %14.0f %6.2f   %6.3f/%-6.3f %6.3f/%-6.3f\n",
                n, r, s, s / r, re, se, se / re, r50, s50, r99, s99}' \
        | tee -a "$OUT/throughput.txt"
}
# GET cases must hit every time on the resident set: checked around them.
get_case() {
    local m0r m0s
    m0r=$(misses "$RD_PORT"); m0s=$(misses "$SC_PORT")
    run_case "$@"
    if [ "$RESIDENT" = 1 ] && { [ "$(misses "$RD_PORT")" != "$m0r" ] || [ "$(misses "$SC_PORT")" != "$m0s" ]; }; then
        echo "  warning: $1 missed (redis $((  $(misses "$RD_PORT") - m0r )), slotcache $(( $(misses "$SC_PORT") - m0s )))" \
            | tee -a "$OUT/throughput.txt"
    fi
}
COMMON=(-c 50 -r 1000000 -d 100)
if [ "$MODE" != types ]; then
run_case "SET -P 1"  200000  "${COMMON[@]}" -t set  -P 1
get_case "GET -P 1"  200000  "${COMMON[@]}" -t get  -P 1
run_case "SET -P 16" 2000000 "${COMMON[@]}" -t set  -P 16
get_case "GET -P 16" 2000000 "${COMMON[@]}" -t get  -P 16
run_case "INCR -P 1" 200000  "${COMMON[@]}" -t incr -P 1
run_case "MSET -P 1" 100000  "${COMMON[@]}" -t mset -P 1
fi
[ "$MODE" = hitpath ] && exit 0
# Data types, pipelined (server-bound): pushes and pops on one list, fields of one hash,
# members of one set and one sorted set (random members), then ranges of that sorted set.
run_case "LPUSH -P 16" 2000000 "${COMMON[@]}" -t lpush -P 16
run_case "LPOP -P 16"  1000000 "${COMMON[@]}" -t lpop  -P 16
run_case "HSET -P 16"  2000000 "${COMMON[@]}" -t hset  -P 16
run_case "SADD -P 16"  2000000 "${COMMON[@]}" -t sadd  -P 16
run_case "ZADD -P 16"  2000000 "${COMMON[@]}" -t zadd  -P 16
run_case "ZRANGE -P 16" 1000000 -c 50 -P 16 zrange myzset 0 9 WITHSCORES
if [ "$MODE" != types ]; then
# Transactions (MULTI, SET, INCR, EXEC) pipelined over one connection; ops are
# transactions.
TX=200000
python3 - "$OUT/multi.resp" "$TX" <<'PY'
import sys
with open(sys.argv[1], "wb") as f:
    for i in range(int(sys.argv[2])):
        k = b"tx:%d" % (i % 10000)
        f.write(b"*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$3\r\nabc\r\n"
                b"*2\r\n$4\r\nINCR\r\n$7\r\ncounter\r\n*1\r\n$4\r\nEXEC\r\n" % (len(k), k))
PY
run_case "MULTI/EXEC" "$TX" --pipe-file "$OUT/multi.resp"
rm -f "$OUT/multi.resp"
fi

fi

[ "$MODE" = metrics ] && exit 0

if [ "$MODE" != types ]; then
# Memory per key: fresh servers, load MEM_KEYS keys of 11 bytes with 100-byte values.
start_servers
python3 - "$OUT/load.resp" "$MEM_KEYS" <<'PY'
import sys
n = int(sys.argv[2])
val = b"x" * 100
with open(sys.argv[1], "wb") as f:
    for i in range(n):
        k = b"key:%07d" % i
        f.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$100\r\n%s\r\n" % (len(k), k, val))
PY
echo | tee -a "$OUT/throughput.txt"
printf "%-10s %16s %22s\n" "server" "RSS B/key" "used_memory B/key" | tee "$OUT/memory.txt"
for which in redis slotcache; do
    if [ "$which" = redis ]; then port=$RD_PORT; pid=$RD_PID; else port=$SC_PORT; pid=$SC_PID; fi
    rss0=$(rss_kb "$pid"); used0=$(used_memory "$port")
    redis-cli -p "$port" --pipe <"$OUT/load.resp" >/dev/null
    n=$(redis-cli -p "$port" dbsize)
    sleep 1
    rss1=$(rss_kb "$pid"); used1=$(used_memory "$port")
    awk -v w="$which" -v r0="$rss0" -v r1="$rss1" -v u0="$used0" -v u1="$used1" -v n="$n" \
        'BEGIN {printf "%-10s %16.1f %22.1f\n", w, (r1 - r0) * 1024 / n, (u1 - u0) / n}' | tee -a "$OUT/memory.txt"
done
rm -f "$OUT/load.resp"
fi

# Memory per element of one large collection: fresh servers, a hash of MEM_KEYS fields
# (`field:0000001` -> `value:0000001`), a set and a sorted set of MEM_KEYS members
# (`member:0000001`, scores = the number), written 100 per command.
python3 - "$OUT" "$MEM_KEYS" <<'PY'
import sys
out, n = sys.argv[1], int(sys.argv[2])
def cmd(*args):
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)
for kind in ("hash", "set", "zset"):
    with open(f"{out}/{kind}.resp", "wb") as f:
        for start in range(0, n, 100):
            args = []
            for i in range(start, min(start + 100, n)):
                if kind == "hash":
                    args += [b"field:%07d" % i, b"value:%07d" % i]
                elif kind == "set":
                    args.append(b"member:%07d" % i)
                else:
                    args += [b"%d" % i, b"member:%07d" % i]
            name = {"hash": b"HSET", "set": b"SADD", "zset": b"ZADD"}[kind]
            f.write(cmd(name, b"big:" + kind.encode(), *args))
PY
echo | tee -a "$OUT/memory.txt"
printf "%-10s %-6s %16s %22s %10s\n" "server" "type" "RSS B/element" "used_memory B/element" "encoding" \
    | tee -a "$OUT/memory.txt"
for kind in hash set zset; do
    start_servers
    for which in redis slotcache; do
        if [ "$which" = redis ]; then port=$RD_PORT; pid=$RD_PID; else port=$SC_PORT; pid=$SC_PID; fi
        rss0=$(rss_kb "$pid"); used0=$(used_memory "$port")
        redis-cli -p "$port" --pipe <"$OUT/$kind.resp" >/dev/null
        sleep 1
        rss1=$(rss_kb "$pid"); used1=$(used_memory "$port")
        enc=$(redis-cli -p "$port" object encoding "big:$kind")
        awk -v w="$which" -v k="$kind" -v r0="$rss0" -v r1="$rss1" -v u0="$used0" -v u1="$used1" \
            -v n="$MEM_KEYS" -v e="$enc" \
            'BEGIN {printf "%-10s %-6s %16.1f %22.1f %10s\n", w, k, (r1 - r0) * 1024 / n, (u1 - u0) / n, e}' \
            | tee -a "$OUT/memory.txt"
    done
done
rm -f "$OUT"/hash.resp "$OUT"/set.resp "$OUT"/zset.resp

case "$MODE" in types | memory) exit 0 ;; esac
evict_section
