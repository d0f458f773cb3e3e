#!/bin/sh
# Size and render cost of the /metrics/prometheus body on the demo's seed fixture (seed
# 2026). Targets: under 16 KiB, under 1 ms per render.
# Usage: bench/prometheus.sh [DAYS]   (default 30)
set -eu
cd "$(dirname "$0")/.."
cargo build --release --locked --example prometheus_bench
"${CARGO_TARGET_DIR:-target}/release/examples/prometheus_bench" "${1:-30}"
