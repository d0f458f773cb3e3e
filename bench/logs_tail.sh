#!/bin/sh
# Builds a 1 GiB coordinator-style log (real bytes: a 1 MiB seed doubled ten times, no
# sparse regions) in a temp dir and times the last 100 lines with the daemon's tail reader
# (examples/logs_tail.rs), next to coreutils `tail -n 100` for reference. The file is
# removed afterwards. Needs about 2 GiB free in ${TMPDIR:-/tmp}.
#
# Usage: bench/logs_tail.sh [lines]    (run from the repository root)
set -eu
lines=${1:-100}
work=$(mktemp -d "${TMPDIR:-/tmp}/logs-tail-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
log="$work/master_coordinator.log"

# A 1 MiB seed of records of varied length, with a traceback every 50 records.
awk 'BEGIN {
  n = 0; size = 0;
  while (size < 1048576) {
    lvl = (n % 50 == 0) ? "ERROR" : ((n % 7 == 0) ? "WARNING" : "INFO");
    line = sprintf("2025-12-06 14:%02d:%02d,%03d - master_coordinator - %s - Status - State: charging, Battery: %d%%, PV: %d W, record %d %s",
                   (n / 60) % 60, n % 60, n % 1000, lvl, n % 100, (n * 37) % 9000, n, substr("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 1, n % 48));
    print line; size += length(line) + 1;
    if (lvl == "ERROR") {
      print "Traceback (most recent call last):"; print "  File \"src/master_coordinator.py\", line 412, in run"; print "TimeoutError: inverter did not answer";
      size += 120;
    }
    n++;
  }
}' > "$log"
i=0
while [ $i -lt 10 ]; do
  cat "$log" "$log" > "$log.next"
  mv "$log.next" "$log"
  i=$((i + 1))
done
ls -l "$log" | awk '{ printf "generated %s bytes\n", $5 }'

cargo build --quiet --release --example logs_tail
ex=target/release/examples/logs_tail
# Evict the file from the page cache (no root needed for clean pages), so the first run
# reads its blocks from disk.
if command -v python3 > /dev/null; then
  python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)' "$log" \
    && echo "page cache for the file dropped"
fi
"$ex" "$log" "$lines" 20

# Reference: coreutils tail on the same (now cached) file.
start=$(date +%s%N)
tail -n "$lines" "$log" > /dev/null
end=$(date +%s%N)
echo "coreutils tail -n $lines: $(( (end - start) / 1000 )) us (one run, includes process start)"
