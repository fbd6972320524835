#!/usr/bin/env bash
# The whole test suite: installs the system packages the tests need when they
# are missing, then formatting, clippy with warnings as errors, and every test.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v tcpdump >/dev/null 2>&1 || need+=(tcpdump)
# DPDK 22.11 for the `dpdk` feature (bindgen needs libclang), and the tools of
# the namespace lab.
dpkg -s libdpdk-dev >/dev/null 2>&1 || need+=(dpdk dpdk-dev libdpdk-dev)
dpkg -s libclang-dev >/dev/null 2>&1 || need+=(libclang-dev)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v ethtool >/dev/null 2>&1 || need+=(ethtool)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v ab >/dev/null 2>&1 || need+=(apache2-utils)
command -v tmux >/dev/null 2>&1 || need+=(tmux)
if ((${#need[@]})); then
    if [ "$(id -u)" -ne 0 ]; then
        echo "test.sh: missing ${need[*]}: install them, or run as root to have them installed" >&2
        exit 1
    fi
    echo "test.sh: installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

echo "test.sh: cargo fmt --check"
cargo fmt --all -- --check
echo "test.sh: cargo clippy (warnings are errors), without and with DPDK"
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy --workspace --all-targets --features natrix/dpdk -- -D warnings
echo "test.sh: cargo test (with DPDK)"
cargo test --workspace --features natrix/dpdk
