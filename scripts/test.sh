#!/usr/bin/env bash
# The whole test suite: installs the system packages the tests need when they
# are missing, then formatting, clippy with warnings as errors, and every test.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v tcpdump >/dev/null 2>&1 || need+=(tcpdump)
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
echo "test.sh: cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings
echo "test.sh: cargo test"
cargo test --workspace
