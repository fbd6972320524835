#!/usr/bin/env bash
# Instructions per packet of natrix bench's worker loop, under callgrind.
# usage: callgrind.sh BINARY [FLOWS] [SECONDS] [BENCH OPTIONS...]
# (e.g. --tcp-reset-on-idle)
set -euo pipefail
bin=$1; flows=${2:-1000}; secs=${3:-3}; shift $(( $# < 3 ? $# : 3 ))
out=$(mktemp -d)
valgrind --tool=callgrind --callgrind-out-file="$out/cg.out" "$bin" bench --flows "$flows" --seconds "$secs" --json "$@" > "$out/bench.json" 2> "$out/valgrind.log"
packets=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["packets"])' "$out/bench.json")
ir=$(callgrind_annotate --inclusive=yes "$out/cg.out" 2>/dev/null | grep -E 'Worker<P>::run' | head -1 | awk '{gsub(",","",$1); print $1}')
echo "packets=$packets worker_run_ir=$ir ipp=$(python3 -c "print(round($ir/$packets,1))")"
rm -rf "$out"
