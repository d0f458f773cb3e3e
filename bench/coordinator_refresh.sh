#!/bin/sh
# Builds a DB holding a year of coordinator data and prints the refresh times of the
# coordinator-data sources (and the peak RSS of the measuring process).
# Usage: bench/coordinator_refresh.sh [DIR]   (default: a temporary directory)
set -eu
cd "$(dirname "$0")/.."
dir="${1:-$(mktemp -d)}"
cargo build --release --example coordinator_bench
bin=target/release/examples/coordinator_bench
"$bin" build "$dir"
"$bin" measure "$dir"

# The daemon itself on the same data: peak RSS after the routes have been rendered and
# requested (all sources, renderers and snapshot bodies included).
cargo build --release --bin energy-monitor
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$dir/bench-config.yaml" <<YAML
web_server:
  host: 127.0.0.1
  port: $port
coordinator:
  root: $dir
data_dir: $dir/monitor-data
prices:
  # Loopback, refused at once: a benchmark never calls the real PSE API.
  api_url: http://127.0.0.1:9/api/csdac-pln
log_level: warn
YAML
mkdir -p "$dir/monitor-data" "$dir/logs"
target/release/energy-monitor --config "$dir/bench-config.yaml" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  if curl -fs "http://127.0.0.1:$port/metrics" >/dev/null 2>&1; then break; fi
  sleep 0.1
done
rss() { grep -E 'VmRSS|VmHWM' /proc/$pid/status | tr -s ' \t' ' ' | tr '\n' ' '; }
sleep 5   # the first refreshes build the older months one second apart
echo "daemon, refreshed, no requests yet: $(rss)"
for route in /current-state /decisions "/decisions?time_range=30d" /metrics /monthly-summary /monthly-comparison /historical-data /status; do
  size=$(curl -s -o /dev/null -w '%{size_download}' "http://127.0.0.1:$port$route")
  echo "daemon: GET $route -> $size bytes"
done
echo "daemon, after one request per route: $(rss)"
curls=""
for _ in 1 2 3 4 5 6 7 8; do
  curl -s -o /dev/null "http://127.0.0.1:$port/decisions?time_range=30d" &
  curls="$curls $!"
done
# shellcheck disable=SC2086
wait $curls
echo "daemon, after 8 parallel requests of the 1 MB body: $(rss)"
