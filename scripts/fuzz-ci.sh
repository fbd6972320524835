#!/usr/bin/env bash
# CI's short run of the burst fuzzer (scripts/fuzz.sh is the long one), on the
# pinned stable toolchain and without cargo-fuzz: the target is built as
# cargo-fuzz builds it with `--sanitizer none` (libFuzzer's coverage
# instrumentation and `--cfg fuzzing` are stable `-C` flags; only the
# sanitizers need nightly), unoptimized with debug assertions, then run
# seeded with the shared captures. A crash, an oracle breach or a timeout
# fails the run; the input is kept under fuzz/artifacts/ci/.
#
# usage: scripts/fuzz-ci.sh [SECONDS]      (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
host=$(rustc -vV | sed -n 's/^host: //p')

# The seed writer, built like the tests (it shares their compiled dependencies).
cargo build --quiet --manifest-path fuzz/Cargo.toml --target-dir target --bin seeds
corpus=fuzz/corpus/ci
rm -rf "$corpus"
mkdir -p "$corpus" fuzz/artifacts/ci
shopt -s nullglob
captures=(../shared/corpus/tcpdump/*)
if ((${#captures[@]} > 0)); then
    target/debug/seeds "$corpus" "${captures[@]}"
else
    echo "fuzz-ci.sh: no captures in ../shared/corpus/tcpdump: unseeded" >&2
fi

# --target keeps the instrumentation off build scripts and proc macros.
RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module \
-Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
-Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares \
-Cdebug-assertions -Coverflow-checks" \
    cargo build --quiet --manifest-path fuzz/Cargo.toml --target-dir fuzz/target/ci \
    --target "$host" --bin burst
exec "fuzz/target/ci/$host/debug/burst" -max_total_time="$secs" -timeout=30 \
    -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix=fuzz/artifacts/ci/ "$corpus"
