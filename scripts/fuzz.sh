#!/usr/bin/env bash
# The burst fuzzer (libFuzzer, through cargo-fuzz on nightly Rust) over the
# data path, with the oracle of tests/support/oracle.rs. Seeds: every capture
# of ../shared/corpus/tcpdump. CI runs the same oracle on stable Rust in
# tests/burst_oracle.rs, and this target for 60 s (scripts/fuzz-ci.sh, no
# sanitizer); this is for the long runs.
#
# usage: scripts/fuzz.sh [SECONDS]      (default 600)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
rustup run nightly rustc --version >/dev/null
cd fuzz
cargo +nightly build --release --bin seeds
mkdir -p corpus/burst
./target/release/seeds corpus/burst ../../shared/corpus/tcpdump/*
exec cargo +nightly fuzz run burst -- -max_total_time="$secs" -rss_limit_mb=4096 -print_final_stats=1
