#!/usr/bin/env bash
# Runs `natrix bench` several rounds per size and prints the medians.
# Usage: scripts/bench.sh [ROUNDS] [SECONDS] [WORKERS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
seconds=${2:-3}
workers=${3:-1}
cargo build --release --quiet
bin=target/release/natrix
printf '%-10s %8s %14s %16s %12s  (median of %s rounds, %s s each, %s worker(s))\n' \
    flows mpps/core "mpps (min-max)" "new conns M/s" bytes/conn "$rounds" "$seconds" "$workers"
for flows in 1000 100000 1000000 10000000; do
    for ((r = 0; r < rounds; r++)); do
        "$bin" bench --flows "$flows" --seconds "$seconds" --workers "$workers" --json
    done | python3 -c '
import json, statistics, sys
runs = [json.loads(l) for l in sys.stdin if l.strip()]
m = [r["mpps_per_core"] for r in runs]
n = [r["new_connections_per_sec_per_core"] / 1e6 for r in runs]
b = runs[0]["bytes_per_connection"]
assert all(r["dropped"] == 0 for r in runs), "the benchmark dropped packets"
print("%-10d %8.2f %14s %16.2f %12.1f" % (runs[0]["flows"], statistics.median(m),
      "%.2f-%.2f" % (min(m), max(m)), statistics.median(n), b))
'
done
