#!/usr/bin/env bash
# Delivery benchmark: what one open page and an idle daemon cost, for this code and for a
# binary of the code before it, side by side in one run, on the demo's seed fixture (30
# days, static: the demo's live writer does not run). Prints one table.
#
#   bash bench/delivery.sh BEFORE_BIN [SOAK_SECONDS]
#
# BEFORE_BIN is an energy-monitor binary built from the code to compare with (e.g. the
# commit before the delivery work, built in a directory of its own). SOAK_SECONDS is the
# page-like soak (default 600). Both daemons run at once, each measured in its own process:
#
# - RSS at start (as soon as /health answers), after a warm-up (every route fetched 20
#   times, plain and gzip, then one minute of the soak's own load: the page open, as
#   below; read 6 minutes after the start, so that every cache was built once) and after
#   the soak (VmRSS from /proc);
# - idle CPU: the run time of all its threads (/proc/PID/task/*/schedstat) over 60 s with
#   no client, from 150 s after the start (past the start-up reads);
# - bytes per hour of one open page with default intervals during the soak, after its
#   first load: the code before polls /api/dashboard every 5 s with If-None-Match (what
#   its page does); this code's page keeps /events open, taking gzip as a browser does
#   (counted on the wire, headers and heartbeats included), and its polling fallback is
#   measured as well;
# - composer and renderer runs per minute with no client (a second daemon at log level
#   trace, counted from its log over 60 s from 150 s after the start).
#
# Needs curl and python3. Loopback only; every loop is bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."
before="${1:?usage: bash bench/delivery.sh BEFORE_BIN [SOAK_SECONDS]}"
soak="${2:-600}"
cargo build --release --locked --quiet --bin energy-monitor
after="${CARGO_TARGET_DIR:-target}/release/energy-monitor"

work=$(mktemp -d)
pids=()
cleanup() {
    # Daemons started in the measuring subshells are listed in a file.
    for p in "${pids[@]}" $(cat "$work/pids" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The seed fixture, written once; each daemon gets a config of its own (port, log level).
"$after" demo --no-serve --dir "$work/demo" --days 30 --port 8080 > /dev/null
config() { # name port level
    sed -e "s/^  port: .*/  port: $2/" -e "s/^log_level: .*/log_level: $3/" \
        "$work/demo/energy-monitor.yaml" > "$work/demo/$1.yaml"
    echo "$work/demo/$1.yaml"
}
start() { # name bin port level -> pid
    "$2" -c "$(config "$1" "$3" "$4")" > /dev/null 2> "$work/$1.log" &
    local pid=$!
    echo "$pid" >> "$work/pids"
    for _ in $(seq 600); do curl -sf "http://127.0.0.1:$3/health" > /dev/null 2>&1 && break; sleep 0.05; done
    echo "$pid"
}
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
# CPU time of every thread of the process, in ns (schedstat: exact, where the tick-based
# utime + stime would round a few milliseconds to 0 or 10).
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {print s}'; }

routes=(/ /app.js /api/dashboard /status /prices /current-state /decisions?time_range=24h
    /decisions?time_range=30d /metrics /historical-data /historical-data?range=7d
    /monthly-summary /monthly-comparison /metrics/prometheus /logs/files)

# One open page as the code before has it: polls every 5 s with If-None-Match, one
# keep-alive connection, as a browser does. Prints the bytes after the first load.
poll_page() { # port seconds gzip
    python3 - "$1" "$2" "$3" <<'PY'
import http.client, sys, time
port, secs, gz = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3] == "1"
conn, etag, total, first = None, None, 0, None
end = time.time() + secs
while time.time() < end:
    if conn is None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    h = {"Accept-Encoding": "gzip"} if gz else {}
    if etag:
        h["If-None-Match"] = etag
    try:
        conn.request("GET", "/api/dashboard", headers=h)
        r = conn.getresponse()
        body = r.read()
    except Exception:
        conn = None
        time.sleep(5)
        continue
    head = len(f"HTTP/1.1 {r.status} {r.reason}\r\n") + sum(len(k) + len(v) + 4 for k, v in r.getheaders()) + 2
    if r.status == 200:
        etag = r.getheader("ETag")
    if first is None:
        first = head + len(body)
    else:
        total += head + len(body)
    time.sleep(5)
print(total)
PY
}

# One open page as this code has it: /events kept open. Prints the bytes after the first
# document event.
stream_page() { # port seconds
    python3 - "$1" "$2" <<'PY'
import socket, sys, time, zlib
port, secs = int(sys.argv[1]), float(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port))
# As a browser's EventSource asks: it takes gzip.
s.sendall(b"GET /events HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n"
          b"Accept-Encoding: gzip, deflate, br\r\n\r\n")
s.settimeout(1.0)
raw, text, end = b"", b"", time.time() + secs
head_end, inflate, after_doc = None, zlib.decompressobj(31), None
while time.time() < end:
    try:
        chunk = s.recv(65536)
    except socket.timeout:
        continue
    if not chunk:
        break
    raw += chunk
    if head_end is None and b"\r\n\r\n" in raw:
        head_end = raw.index(b"\r\n\r\n") + 4
        gz = b"content-encoding: gzip" in raw[:head_end].lower()
        body = raw[head_end:]
    elif head_end is not None:
        body = chunk
    else:
        continue
    text += inflate.decompress(body) if gz else body
    doc = text.find(b"event: document")
    if after_doc is None and doc >= 0 and text.find(b"\n\n", doc) >= 0:
        # The bytes on the wire after the chunk that completed the first document.
        after_doc = len(raw)
print(len(raw) - (after_doc if after_doc is not None else 0))
PY
}

measure() { # name bin -> writes $work/name.result
    local name=$1 bin=$2 port pid
    port=$(free_port)
    pid=$(start "$name" "$bin" "$port" info)
    pids+=("$pid")
    local rss0; rss0=$(rss_kb "$pid")
    local started=$SECONDS
    # Past the start-up work (the first reads, a second read of a just-written DB).
    sleep 150
    local t0; t0=$(cpu_ns "$pid")
    sleep 60
    local t1; t1=$(cpu_ns "$pid")
    for _ in $(seq 20); do
        for r in "${routes[@]}"; do
            curl -s -o /dev/null "http://127.0.0.1:$port$r"
            curl -s -o /dev/null -H 'Accept-Encoding: gzip' "http://127.0.0.1:$port$r"
        done
    done
    # Warm: one minute of the soak's load, so that what it builds once (its connections,
    # the stream's compressor) is counted in the warm-up and not as growth.
    open_page "$port" 60 "$work/$name.warm"
    # Every cache built once (month summaries are rebuilt after 5 minutes).
    local left=$((360 - (SECONDS - started)))
    [ "$left" -gt 0 ] && sleep "$left"
    local rss1; rss1=$(rss_kb "$pid")
    open_page "$port" "$soak" "$work/$name"
    local rss2; rss2=$(rss_kb "$pid")
    echo "$rss0 $rss1 $rss2 $((t1 - t0)) $(cat "$work/$name.page") $(cat "$work/$name.fallback")" \
        > "$work/$name.result"
}

# One open page for SECONDS: /events kept open and, beside it, the polling fallback where
# the code has /events; else the polls its page makes. Writes PREFIX.page and
# PREFIX.fallback (bytes after the first load, "-" when there is no fallback).
open_page() { # port seconds prefix
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$1/events" || true)
    if [ "$code" = 200 ]; then
        stream_page "$1" "$2" > "$3.page" &
        local sp=$!
        poll_page "$1" "$2" 1 > "$3.fallback"
        wait "$sp"
    else
        poll_page "$1" "$2" 1 > "$3.page"
        echo - > "$3.fallback"
    fi
}

runs() { # name bin -> composer and renderer runs per minute with no client
    local name=$1 bin=$2 port pid
    port=$(free_port)
    pid=$(start "$name" "$bin" "$port" trace)
    pids+=("$pid")
    sleep 150
    local c0 r0
    c0=$(grep -c 'composer ran' "$work/$name.log" || true)
    r0=$(grep -c 'renderer ran' "$work/$name.log" || true)
    sleep 60
    local c1 r1
    c1=$(grep -c 'composer ran' "$work/$name.log" || true)
    r1=$(grep -c 'renderer ran' "$work/$name.log" || true)
    if [ "$c1" = 0 ] && [ "$r1" = 0 ]; then
        echo "n/a n/a" > "$work/$name.result"
    else
        echo "$((c1 - c0)) $((r1 - r0))" > "$work/$name.result"
    fi
    # Renderer runs that are not the ticking small bodies (/status, /current-state).
    grep 'renderer ran' "$work/$name.log" | sed 's/.*renderer ran: //' | sort | uniq -c | sort -rn > "$work/$name.detail"
}

echo "soak: ${soak} s; idle window: 60 s from 150 s after the start; warm-up: every route, then the page open 1 min, read at 6 min; fixture: demo seed, 30 days, static" >&2
measure before "$before" &
m1=$!
measure after "$after" &
m2=$!
runs before-runs "$before" &
r1=$!
runs after-runs "$after" &
r2=$!
wait $m1 $m2 $r1 $r2

for f in before after before-runs after-runs; do echo "$f raw: $(cat "$work/$f.result")" >&2; done
echo "renderer runs of this code with no client (whole run, by first route):" >&2
cat "$work/after-runs.detail" >&2
read -r b0 b1 b2 bt bp _ < "$work/before.result"
read -r a0 a1 a2 at ap af < "$work/after.result"
read -r bc br < "$work/before-runs.result"
read -r ac ar < "$work/after-runs.result"
python3 - "$soak" "$b0" "$b1" "$b2" "$bt" "$bp" "$a0" "$a1" "$a2" "$at" "$ap" "$af" "$bc" "$br" "$ac" "$ar" <<'PY'
import sys
a = sys.argv[1:]
soak = float(a[0])
b0, b1, b2, bt, bp = (float(x) for x in a[1:6])
num = lambda x: float("nan") if x == "-" else float(x)
a0, a1, a2, at, ap, af = (num(x) for x in a[6:12])
bc, br, ac, ar = a[12:16]
mb_h = lambda n: "-" if n != n else f"{n * 3600 / soak / 1e6:.3f} MB/h"
cpu = lambda ns: f"{ns / 1e9 / 60 * 100:.3f} % ({ns / 1e6:.0f} ms)"
mb = lambda kb: f"{kb / 1024:.1f} MB"
rows = [
    ("one open page, default intervals", mb_h(bp) + " (polls)", mb_h(ap) + " (/events)"),
    ("  the page's polling fallback (gzip)", "-", mb_h(af)),
    ("composer runs per minute, no client", bc, ac),
    ("renderer runs per minute, no client", br, ar),
    ("idle CPU over 60 s, no client (from 150 s after the start)", cpu(bt), cpu(at)),
    ("RSS at start", mb(b0), mb(a0)),
    ("RSS after warm-up (6 min: every route fetched, the page open 1 min)", mb(b1), mb(a1)),
    (f"RSS after a {soak:.0f} s page-like soak", mb(b2), mb(a2)),
]
w = max(len(r[0]) for r in rows)
print(f"| {'measure':<{w}} | before | after |")
print(f"|{'-' * (w + 2)}|---|---|")
for r in rows:
    print(f"| {r[0]:<{w}} | {r[1]} | {r[2]} |")
PY
