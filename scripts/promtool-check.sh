#!/usr/bin/env bash
# Validates what Prometheus will read: a live /metrics scrape of a running slotcache
# (promtool check metrics) and the alert rules (promtool check rules). Installs
# Debian's prometheus package (which ships promtool) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
if ! command -v promtool >/dev/null; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq prometheus >/dev/null
fi
command -v redis-cli >/dev/null || { echo "redis-cli is needed (scripts/interop.sh installs it)" >&2; exit 1; }

cargo build --release --quiet
WORK=$(mktemp -d)
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

# A free port for the metrics side port (0 would disable it).
MPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
target/release/slotcache --bind 127.0.0.1 --port 0 --metrics-port "$MPORT" >"$WORK/log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do
    PORT=$(grep -o 'Ready to accept connections tcp 127.0.0.1:[0-9]*' "$WORK/log" | sed 's/.*://') || true
    [ -n "${PORT:-}" ] && break
    sleep 0.1
done
[ -n "${PORT:-}" ] || { cat "$WORK/log" >&2; exit 1; }

# Some traffic so labelled series and histograms appear.
redis-cli -p "$PORT" set a 1 >/dev/null
redis-cli -p "$PORT" get a >/dev/null
redis-cli -p "$PORT" get missing >/dev/null
redis-cli -p "$PORT" incr a >/dev/null
redis-cli -p "$PORT" nosuchcommand >/dev/null 2>&1 || true

python3 - "$MPORT" >"$WORK/metrics.txt" <<'PY'
import sys, urllib.request
print(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=10).read().decode(), end="")
PY
promtool check metrics <"$WORK/metrics.txt"
echo "promtool check metrics: ok ($(grep -vc '^#' "$WORK/metrics.txt") samples)"
promtool check rules conf/alerts.yml
promtool check config conf/prometheus.yml >/dev/null
echo "promtool check config conf/prometheus.yml: ok"

# Every query of the Grafana dashboard parses: check them as recording rules.
python3 - conf/grafana-dashboard.json >"$WORK/dashboard-rules.yml" <<'PY'
import json, sys
dash = json.load(open(sys.argv[1]))
print("groups:\n  - name: dashboard\n    rules:")
for p in dash["panels"]:
    for t in p["targets"]:
        expr = t["expr"].replace("$instance", ".*")
        print(f"      - record: dashboard:panel{p['id']}:{t['refId']}\n        expr: {json.dumps(expr)}")
PY
promtool check rules "$WORK/dashboard-rules.yml" >/dev/null
echo "grafana dashboard queries: ok"
