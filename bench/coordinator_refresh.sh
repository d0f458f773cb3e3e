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
