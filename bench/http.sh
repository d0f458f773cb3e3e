#!/usr/bin/env bash
# HTTP benchmark: energy-monitor against nginx serving the same bytes, side by side in one
# run. For /status and /api/dashboard, with keep-alive and with `Connection: close`, at 1, 16
# and 64 connections, each row is measured in ABAB order (energy-monitor, nginx,
# energy-monitor, nginx) with examples/http_load.rs as the client. The table gives the mean
# req/s of the two runs of each server, the worse p50/p99 of the two, and the ratio.
# Loopback only; every load loop is bounded in time; nginx runs as a child in a temp dir.
#
#   bash bench/http.sh [seconds-per-run]   (default 2; a row takes 4 runs)
#
# Needs nginx (Debian/Ubuntu: apt-get install nginx-light) and curl.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-2}"
command -v nginx >/dev/null || { echo "nginx not found: apt-get install nginx-light" >&2; exit 1; }
cargo build --release --locked --quiet --bin energy-monitor --example http_load
target="${CARGO_TARGET_DIR:-target}"
bin="$target/release/energy-monitor"
load="$target/release/examples/http_load"

work=$(mktemp -d)
daemon=""
ngx=""
trap 'kill $daemon $ngx 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
nport=$(free_port)

mkdir -p "$work/www/api" "$work/nginx/tmp" "$work/nginx/logs"
# The demo: a week of synthetic coordinator data, so the bodies have their real sizes.
"$bin" demo --dir "$work/demo" --port "$port" --days 7 > "$work/daemon.log" 2>&1 & daemon=$!
for _ in $(seq 600); do curl -sf "http://127.0.0.1:$port/api/dashboard" >/dev/null 2>&1 && break; sleep 0.05; done
curl -sf "http://127.0.0.1:$port/status" > "$work/www/status"
curl -sf "http://127.0.0.1:$port/api/dashboard" > "$work/www/api/dashboard"

# nginx's workers may run as another user (when started as root): let them read the bodies.
chmod 755 "$work"
chmod -R a+rX "$work/www"
cat > "$work/nginx/nginx.conf" <<NGINX
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $work/nginx/tmp/body;
    proxy_temp_path $work/nginx/tmp/proxy;
    fastcgi_temp_path $work/nginx/tmp/fastcgi;
    uwsgi_temp_path $work/nginx/tmp/uwsgi;
    scgi_temp_path $work/nginx/tmp/scgi;
    keepalive_requests 1000000;
    tcp_nodelay on;
    default_type application/json;
    etag on;
    server {
        listen 127.0.0.1:$nport;
        root $work/www;
        location / { add_header Cache-Control no-cache; }
    }
}
NGINX
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' 2> "$work/nginx/logs/stderr.log" & ngx=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$nport/status" >/dev/null 2>&1 && break; sleep 0.05; done
curl -sf "http://127.0.0.1:$nport/status" > "$work/check"
cmp -s "$work/www/status" "$work/check" || { echo "nginx does not serve the same bytes:" >&2; cat "$work/nginx/logs/"* >&2; exit 1; }

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%Y-%m-%dT%H:%MZ)"
echo "bodies: /status $(wc -c < "$work/www/status") bytes, /api/dashboard $(wc -c < "$work/www/api/dashboard") bytes; ${secs}s per run, ABAB"
echo
echo "| path | mode | conns | energy-monitor req/s | p50 ms | p99 ms | nginx req/s | p50 ms | p99 ms | ratio | errors |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for path in /status /api/dashboard; do
  for mode in keepalive close; do
    for conns in 1 16 64; do
      a1=$("$load" "127.0.0.1:$port" "$path" "$conns" "$secs" "$mode")
      b1=$("$load" "127.0.0.1:$nport" "$path" "$conns" "$secs" "$mode")
      a2=$("$load" "127.0.0.1:$port" "$path" "$conns" "$secs" "$mode")
      b2=$("$load" "127.0.0.1:$nport" "$path" "$conns" "$secs" "$mode")
      # Fields: path mode conns, then rps p50 p99 max errors for A1, B1, A2, B2.
      echo "$path $mode $conns $a1 $b1 $a2 $b2" | awk '
        function max(x, y) { return x > y ? x : y }
        {
          ar = ($4 + $14) / 2; br = ($9 + $19) / 2; ratio = br > 0 ? 100 * ar / br : 0
          errors = $8 + $13 + $18 + $23
          printf "| %s | %s | %s | %.0f | %.2f | %.2f | %.0f | %.2f | %.2f | %.0f %% | %d |\n", $1, $2, $3, ar, max($5, $15), max($6, $16), br, max($10, $20), max($11, $21), ratio, errors
        }'
    done
  done
done
