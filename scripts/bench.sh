#!/usr/bin/env bash
# Runs `natrix bench` several rounds per size and prints the medians.
# Usage: scripts/bench.sh [ROUNDS] [SECONDS] [WORKERS]
# Environment:
#   FLOWS="N ..."        connection counts (default "1000 100000 1000000 10000000")
#   FAMILIES="ipv4 ipv6" address families (default ipv4); with both, each
#                        round runs IPv4 then IPv6 (so drifting machine load
#                        hits both), and the IPv6/IPv4 ratio is printed: the
#                        ratio of the medians, and the median of the
#                        per-round ratios
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
seconds=${2:-3}
workers=${3:-1}
flows_list=${FLOWS:-"1000 100000 1000000 10000000"}
families=${FAMILIES:-ipv4}
for f in $families; do
    [[ $f == ipv4 || $f == ipv6 ]] || { echo "bench.sh: not a family: $f (ipv4 or ipv6)" >&2; exit 2; }
done
cargo build --release --quiet
bin=target/release/natrix
if [[ $families != ipv4 ]]; then
    printf '%-7s %-10s %8s %14s %16s %12s  (median of %s rounds, %s s each, %s worker(s))\n' \
        family flows mpps/core "mpps (min-max)" "new conns M/s" bytes/conn "$rounds" "$seconds" "$workers"
    for flows in $flows_list; do
        for ((r = 0; r < rounds; r++)); do
            for f in $families; do
                opt=()
                [[ $f == ipv6 ]] && opt=(--ipv6)
                "$bin" bench --flows "$flows" --seconds "$seconds" --workers "$workers" --json "${opt[@]}"
            done
        done | python3 -c '
import json, statistics, sys
runs = [json.loads(l) for l in sys.stdin if l.strip()]
assert all(r["dropped"] == 0 for r in runs), "the benchmark dropped packets"
by = {}
for r in runs:
    by.setdefault(r.get("family", "ipv4"), []).append(r)
for f, rs in by.items():
    m = [r["mpps_per_core"] for r in rs]
    n = [r["new_connections_per_sec_per_core"] / 1e6 for r in rs]
    print("%-7s %-10d %8.2f %14s %16.2f %12.1f" % (f, rs[0]["flows"], statistics.median(m),
          "%.2f-%.2f" % (min(m), max(m)), statistics.median(n), rs[0]["bytes_per_connection"]))
if len(by) == 2:
    m4 = [r["mpps_per_core"] for r in by["ipv4"]]
    m6 = [r["mpps_per_core"] for r in by["ipv6"]]
    print("        IPv6/IPv4 %.2f (median of the per-round ratios %.2f)" % (
          statistics.median(m6) / statistics.median(m4),
          statistics.median(b / a for a, b in zip(m4, m6))))
'
    done
    exit 0
fi
printf '%-10s %8s %14s %16s %12s  (median of %s rounds, %s s each, %s worker(s))\n' \
    flows mpps/core "mpps (min-max)" "new conns M/s" bytes/conn "$rounds" "$seconds" "$workers"
for flows in $flows_list; do
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
