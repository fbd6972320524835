#!/usr/bin/env bash
# The whole test suite: the system packages the tests need (scripts/setup.sh
# installs those missing), then formatting, clippy with warnings as errors,
# every test without and with DPDK, the tests that `cargo test` ignores because
# they need root and tools (here a missing prerequisite fails them), and the
# documentation with warnings as errors. Run it as root (CI does).
set -euo pipefail
cd "$(dirname "$0")/.."

step() {
    echo "test.sh: $*"
}

step "scripts/setup.sh"
bash scripts/setup.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings are errors), without and with DPDK"
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy --workspace --all-targets --features natrix/dpdk -- -D warnings

step "cargo test, without DPDK"
cargo test --workspace
step "cargo test, with DPDK"
cargo test --workspace --features natrix/dpdk

# Ignored by the runs above, each run here by name. (tests/corpus.rs has an
# ignored analysis helper that is not a test: never run it with
# --include-ignored.)
step "the DPDK telemetry test (needs dpdk-telemetry.py)"
cargo test --features natrix/dpdk --test telemetry -- --ignored
step "the network-namespace lab (needs root, iproute2, curl, ab, tcpdump, python3, hping3)"
cargo test --features natrix/dpdk --test netns_lab -- --ignored

step "the burst fuzzer, 60 s (scripts/fuzz-ci.sh)"
bash scripts/fuzz-ci.sh 60

step "cargo doc (warnings are errors), without and with DPDK"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace --features natrix/dpdk

step "passed"
