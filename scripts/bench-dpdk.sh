#!/usr/bin/env bash
# natrix run vs dpdk-testpmd (macswap) on the same virtual device, net_null0,
# one forwarding lcore each (lcore 1; lcore 0 is the main/management lcore).
#
# Usage: scripts/bench-dpdk.sh [ROUNDS] [SECONDS]
#   ROUNDS   rounds per connection count and family (default 5); each round
#            runs natrix, then testpmd (alternating, so drifting machine load
#            hits both)
#   SECONDS  length of the measured interval of each run (default 5)
# Environment:
#   WARMUP=S       seconds between the start of forwarding and the first
#                  sample (default 1)
#   FLOWS="N ..."  connection counts (default "1000 1000000")
#   FAMILIES="ipv4 ipv6"
#                  address families of the connections (default both): IPv4
#                  runs examples/bench.toml with 64-byte frames, IPv6
#                  examples/bench6.toml with 84-byte frames (natrix run
#                  --synthetic-ipv6); net_null's frame size follows, for
#                  testpmd too.
#
# Method (BENCHMARKS.md, "DPDK: natrix run vs testpmd macswap on net_null"):
# both programs are measured the same way, from outside, on the port's own
# counters (rte_eth_stats_get, read through DPDK's telemetry socket, which
# the EAL serves from a control thread that does not run on the forwarding
# lcore). Once the port has transmitted more than the SYN phase (natrix: one
# SYN per connection) and WARMUP more seconds have passed, opackets is
# sampled, again SECONDS later, and the rate is the difference over the
# interval between the samples. EAL start-up, connection setup and shutdown
# are outside the interval. natrix's own JSON report at SIGINT is then
# checked: nothing dropped, packets_out == packets_in, every connection in
# the flow table, and its port counters equal to its packet counters.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${1:-5}
seconds=${2:-5}
warmup=${WARMUP:-1}
flows_list=${FLOWS:-"1000 1000000"}
families=${FAMILIES:-"ipv4 ipv6"}
for f in $families; do
    [[ $f == ipv4 || $f == ipv6 ]] || { echo "bench-dpdk: not a family: $f (ipv4 or ipv6)" >&2; exit 2; }
done
for v in "$rounds" "$seconds" "$warmup"; do
    [[ $v =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "bench-dpdk: not a number: $v" >&2; exit 2; }
done

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
command -v dpdk-testpmd >/dev/null || { echo "bench-dpdk: dpdk-testpmd not found (apt-get install dpdk)" >&2; exit 1; }
echo "building natrix (release, --features dpdk) ..." >&2
cargo build --release --features dpdk --quiet
bin=$CARGO_TARGET_DIR/release/natrix

# Where the EAL puts its runtime directory (and telemetry socket).
if [[ $(id -u) == 0 ]]; then
    rundir=/var/run/dpdk
else
    rundir=${XDG_RUNTIME_DIR:-/tmp}/dpdk
fi

work=$(mktemp -d /tmp/bench-dpdk.XXXXXX)
pids=()
prefixes=()
cleanup() {
    local p
    for p in "${pids[@]}"; do
        kill -INT "$p" 2>/dev/null || true
    done
    sleep 0.5
    for p in "${pids[@]}"; do
        kill -KILL "$p" 2>/dev/null || true
    done
    for p in "${prefixes[@]}"; do
        rm -rf "${rundir:?}/${p:?}"
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The same EAL arguments for both: one forwarding lcore (1), no hugepages,
# no PCI, the same null device (no copy; its frame size is the family's,
# appended by run_one).
eal=(-l 0-1 --no-huge -m 1024 --no-pci --no-shconf --log-level=error)

# sample PID SOCKET MIN_OUT -> one JSON line {tx_pps, rx_pps, interval}
cat >"$work/sample.py" <<'EOF'
import json, os, socket, sys, time
pid, path, min_out, warmup, secs = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])

def alive():
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True

def fail(msg):
    print(json.dumps({"error": msg}))
    sys.exit(1)

deadline = time.monotonic() + 120
s = None
while s is None:
    if not alive():
        fail("the process exited before its telemetry socket appeared")
    if time.monotonic() > deadline:
        fail("no telemetry socket at " + path)
    try:
        c = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        c.connect(path)
        c.recv(16384)  # the greeting
        s = c
    except OSError:
        time.sleep(0.05)

def stats():
    a = time.monotonic()
    s.send(b"/ethdev/stats,0")
    d = json.loads(s.recv(1 << 16))["/ethdev/stats"]
    b = time.monotonic()
    return (a + b) / 2, d["opackets"], d["ipackets"]

# Wait until forwarding is past the connection setup.
while True:
    t, o, i = stats()
    if o > min_out:
        break
    if not alive():
        fail("the process exited before forwarding %d packets" % min_out)
    if time.monotonic() > deadline:
        fail("forwarded only %d packets in 120 s" % o)
    time.sleep(0.02)
time.sleep(warmup)
t0, o0, i0 = stats()
time.sleep(secs)
t1, o1, i1 = stats()
if not alive():
    fail("the process exited during the measurement")
print(json.dumps({"tx_pps": (o1 - o0) / (t1 - t0), "rx_pps": (i1 - i0) / (t1 - t0),
                  "interval": t1 - t0}))
EOF

# check_natrix FLOWS OUTPUT -> prints "ok <whole-run Mpps>" or an error
cat >"$work/check.py" <<'EOF'
import json, sys
flows, out = int(sys.argv[1]), sys.argv[2]
lines = [l for l in open(out, errors="replace") if l.startswith("{")]
if not lines:
    print("no JSON report from natrix"); sys.exit(1)
r = json.loads(lines[-1])
errs = []
if r["dropped"] != 0:
    errs.append("dropped %d: %s" % (r["dropped"], {k: v for k, v in r["drops"].items() if v}))
if r["packets_out"] != r["packets_in"]:
    errs.append("packets_out %d != packets_in %d" % (r["packets_out"], r["packets_in"]))
if r["connections"] != flows:
    errs.append("%d connections in the flow table, expected %d" % (r["connections"], flows))
p = r["ports"][0]
if p["opackets"] != r["packets_out"] or p["ipackets"] != r["packets_in"]:
    errs.append("port counters %d/%d differ from natrix's %d/%d" % (
        p["ipackets"], p["opackets"], r["packets_in"], r["packets_out"]))
if errs:
    print("; ".join(errs)); sys.exit(1)
print("ok %.2f" % (r["packets_in"] / r["elapsed_seconds"] / 1e6))
EOF

mpps() { awk -v p="$1" 'BEGIN { printf "%.2f", p / 1e6 }'; }

# run_one TOOL FAMILY FLOWS ROUND -> appends "TOOL FAMILY FLOWS ROUND PPS [WHOLE_RUN_MPPS]"
# to results
run_one() {
    local tool=$1 family=$2 flows=$3 round=$4
    local prefix="bench-dpdk-$$-$tool-$family-$flows-$round"
    local out="$work/$prefix.out" pid min_out sample pps extra=""
    local config=examples/bench.toml size=64 synthetic=()
    if [[ $family == ipv6 ]]; then
        config=examples/bench6.toml size=84 synthetic=(--synthetic-ipv6)
    fi
    local dev=(--vdev "net_null0,size=$size")
    prefixes+=("$prefix")
    if [[ $tool == natrix ]]; then
        "$bin" run --config "$config" --synthetic-flows "$flows" "${synthetic[@]}" --json \
            -- "${eal[@]}" "${dev[@]}" --file-prefix "$prefix" >"$out" 2>&1 &
        pid=$!
        min_out=$flows
    else
        dpdk-testpmd "${eal[@]}" "${dev[@]}" --file-prefix "$prefix" -- \
            --forward-mode=macswap --port-topology=loop --nb-cores=1 --rxq=1 --txq=1 \
            --burst=32 --mbcache=256 --total-num-mbufs=16384 --stats-period=1 \
            >"$out" 2>&1 </dev/null &
        pid=$!
        min_out=0
    fi
    pids+=("$pid")
    if ! sample=$(python3 "$work/sample.py" "$pid" "$rundir/$prefix/dpdk_telemetry.v2" \
        "$min_out" "$warmup" "$seconds"); then
        echo "bench-dpdk: $tool ($family, $flows connections, round $round): $sample" >&2
        tail -20 "$out" >&2
        exit 1
    fi
    kill -INT "$pid"
    local rc=0
    wait "$pid" || rc=$?
    pids=()
    rm -rf "${rundir:?}/${prefix:?}"
    if [[ $rc != 0 ]]; then
        echo "bench-dpdk: $tool exited with status $rc" >&2
        tail -20 "$out" >&2
        exit 1
    fi
    pps=$(python3 -c 'import json,sys; print("%.0f" % json.loads(sys.argv[1])["tx_pps"])' "$sample")
    if [[ $tool == natrix ]]; then
        local verdict
        if ! verdict=$(python3 "$work/check.py" "$flows" "$out"); then
            echo "bench-dpdk: natrix ($family, $flows connections, round $round): $verdict" >&2
            exit 1
        fi
        extra=" ${verdict#ok }"
    elif grep -Eq 'TX-dropped: [1-9]' "$out"; then
        echo "bench-dpdk: testpmd reported TX drops:" >&2
        grep -E 'TX-dropped' "$out" >&2
        exit 1
    fi
    echo "$tool $family $flows $round $pps$extra" >>"$work/results"
    if [[ $tool == natrix ]]; then
        printf '  round %d  natrix   %7s Mpps  (whole run incl. start-up and SYNs: %s Mpps; dropped 0, out == in)\n' \
            "$round" "$(mpps "$pps")" "${extra# }"
    else
        printf '  round %d  testpmd  %7s Mpps\n' "$round" "$(mpps "$pps")"
    fi
}

echo "natrix run vs dpdk-testpmd macswap on net_null0, one forwarding lcore each;"
echo "$rounds rounds per connection count and family, ${seconds} s measured after ${warmup} s of warm-up"
: >"$work/results"
for family in $families; do
    for flows in $flows_list; do
        echo "$family, $flows connections:"
        for ((r = 1; r <= rounds; r++)); do
            run_one natrix "$family" "$flows" "$r"
            run_one testpmd "$family" "$flows" "$r"
        done
    done
done

python3 - "$work/results" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
print()
print("%-7s %-12s %14s %16s %15s %16s %15s %8s" % ("family", "connections", "natrix Mpps",
      "(min-max)", "testpmd Mpps", "(min-max)", "natrix/testpmd", "aim"))
medians = {}
for family, flows in dict.fromkeys((r[1], int(r[2])) for r in rows):
    def pps(tool):
        return [int(r[4]) / 1e6 for r in rows
                if r[0] == tool and r[1] == family and int(r[2]) == flows]
    n, t = pps("natrix"), pps("testpmd")
    medians[family, flows] = statistics.median(n)
    ratio = statistics.median(n) / statistics.median(t)
    paired = statistics.median(a / b for a, b in zip(n, t))
    aim = 0.8 if flows <= 1000 else 0.6
    print("%-7s %-12d %14.2f %16s %15.2f %16s %8.2f (%.2f) %5s %s" % (
        family, flows, statistics.median(n), "%.2f-%.2f" % (min(n), max(n)),
        statistics.median(t), "%.2f-%.2f" % (min(t), max(t)), ratio, paired, ">=%.1f" % aim,
        "met" if ratio >= aim else "NOT met"))
print("(ratio of the medians; in parentheses the median of the per-round ratios)")
for flows in dict.fromkeys(f for _, f in medians):
    if ("ipv4", flows) in medians and ("ipv6", flows) in medians:
        print("natrix IPv6/IPv4 at %d connections: %.2f" % (
            flows, medians["ipv6", flows] / medians["ipv4", flows]))
EOF
