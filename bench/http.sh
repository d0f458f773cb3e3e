#!/usr/bin/env bash
# HTTP benchmark: requests/s and latency of /status and /health at 16 connections, and the
# cost of energy-monitor's Connection: close design against plain tiny_http keep-alive
# serving the same bytes. Loopback only; every load loop is bounded in time.
#
#   bash bench/http.sh [seconds-per-row]   (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-5}"
cargo build --release --locked --quiet --bin energy-monitor --example http_load
bin=target/release/energy-monitor
load=target/release/examples/http_load

work=$(mktemp -d)
trap 'kill $daemon $ref $ref2 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
refport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ref2port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/root/logs"
cat > "$work/config.yaml" <<YAML
web_server:
  host: 127.0.0.1
  port: $port
coordinator:
  root: root
data_dir: data
log_level: warn
YAML
"$bin" --config "$work/config.yaml" & daemon=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.05; done
curl -sf "http://127.0.0.1:$port/status" > "$work/status.json"
"$load" --reference-server "127.0.0.1:$refport" "$work/status.json" & ref=$!
"$load" --reference-server "127.0.0.1:$ref2port" "$work/status.json" --no-nodelay & ref2=$!
sleep 0.3

echo "machine: $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ); /status body $(wc -c < "$work/status.json") bytes; ${secs}s per row"
echo
echo "| what | connections | req/s | p50 ms | p99 ms | max ms | errors |"
echo "|---|---|---|---|---|---|---|"
"$load" "127.0.0.1:$port" /status 16 "$secs" close "energy-monitor /status (Connection: close)"
"$load" "127.0.0.1:$port" /health 16 "$secs" close "energy-monitor /health (Connection: close)"
"$load" "127.0.0.1:$port" /status 1 "$secs" close "energy-monitor /status, one client"
"$load" "127.0.0.1:$refport" /status 16 "$secs" keepalive "reference: tiny_http keep-alive + TCP_NODELAY, same bytes"
"$load" "127.0.0.1:$refport" /status 1 "$secs" keepalive "reference: tiny_http keep-alive + TCP_NODELAY, one client"
"$load" "127.0.0.1:$ref2port" /status 16 "$secs" keepalive "reference: tiny_http keep-alive without TCP_NODELAY"
