#!/usr/bin/env bash
# Installs the Debian packages that natrix's build and tests need, only those
# that are missing (nothing is installed when all are present). Run as root
# when something is missing; scripts/test.sh calls it first.
#
#   build, `dpdk` feature   DPDK 22.11 (dpdk, dpdk-dev, libdpdk-dev), libclang
#                           (bindgen), pkg-config
#   tests/tcpdump.rs        tcpdump
#   tests/dpdk_ipv6.rs      tshark (checks the checksums of IPv6 output)
#   tests/top.rs            tmux
#   tests/telemetry.rs      dpdk-telemetry.py (dpdk-dev) and python3
#   scripts/fuzz-ci.sh      g++ (libfuzzer-sys builds libFuzzer)
#   tests/netns_lab.rs      iproute2, ethtool, procps (sysctl), curl,
#                           apache2-utils (ab), tcpdump, python3, hping3,
#                           nftables
#
# The Rust toolchain itself comes from rust-toolchain.toml (rustup).
set -euo pipefail

need=()
# A package, when dpkg does not have it.
package() {
    local p
    for p in "$@"; do
        dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
    done
}
# A command's package, when the command is not on PATH (it may come from
# elsewhere than Debian).
command_of() {
    command -v "$1" >/dev/null 2>&1 || need+=("$2")
}

package dpdk dpdk-dev libdpdk-dev libclang-dev
command_of pkg-config pkg-config
command_of tcpdump tcpdump
command_of c++ g++
command_of tshark tshark
command_of tmux tmux
command_of python3 python3
command_of ip iproute2
command_of ethtool ethtool
command_of sysctl procps
command_of curl curl
command_of ab apache2-utils
command_of hping3 hping3
command_of nft nftables

if ((${#need[@]} == 0)); then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh: missing ${need[*]}: install them, or run as root to have them installed" >&2
    exit 1
fi
echo "setup.sh: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
