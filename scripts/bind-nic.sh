#!/usr/bin/env bash
# A careful wrapper around dpdk-devbind.py (Debian package dpdk) to hand a NIC
# to DPDK and back.
#
# Usage:
#   scripts/bind-nic.sh status
#       the network devices and their drivers (dpdk-devbind.py --status-dev net)
#   scripts/bind-nic.sh [--force] [--dry-run] bind PCI_ADDR [DRIVER]
#       bind the device to DRIVER (default vfio-pci; or uio_pci_generic,
#       igb_uio), loading the module first. Refuses when a kernel interface
#       of the device is UP or has routes or addresses (you would cut off
#       whatever uses it, perhaps your own SSH session), when the device is
#       not a network device, when it is a Mellanox/NVIDIA NIC (its DPDK
#       driver works on top of the kernel driver: do not rebind it), and
#       when vfio-pci has no IOMMU; --force overrides the first three.
#       Prints the command that undoes it.
#   scripts/bind-nic.sh [--force] [--dry-run] unbind PCI_ADDR KERNEL_DRIVER
#       give the device back to its kernel driver (e.g. ixgbe, i40e, ice,
#       virtio-pci, e1000e). Refuses while a process (a DPDK application)
#       holds the device's VFIO group open, unless --force.
#
# PCI_ADDR is DDDD:BB:DD.F or BB:DD.F (domain 0000), as `status` shows it.
set -euo pipefail

devbind=${DPDK_DEVBIND:-dpdk-devbind.py}
force=0
dry_run=0
args=()

usage() {
    sed -n '2,22s/^# \{0,1\}//p' "$0"
}

die() {
    echo "bind-nic: $*" >&2
    exit 1
}

run() {
    echo "+ $*"
    if ((dry_run == 0)); then
        "$@"
    fi
}

for a in "$@"; do
    case $a in
        --force) force=1 ;;
        --dry-run) dry_run=1 ;;
        -h | --help)
            usage
            exit 0
            ;;
        -*) die "unknown option $a (see --help)" ;;
        *) args+=("$a") ;;
    esac
done
set -- "${args[@]+"${args[@]}"}"

command -v "$devbind" >/dev/null || die "$devbind not found: apt-get install dpdk"

# Normalises a PCI address to DDDD:BB:DD.F and checks that the device exists.
pci_addr() {
    local a=${1,,}
    if [[ $a =~ ^[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$ ]]; then
        a=0000:$a
    fi
    [[ $a =~ ^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$ ]] ||
        die "'$1' is not a PCI address (DDDD:BB:DD.F or BB:DD.F; see: $0 status)"
    [[ -d /sys/bus/pci/devices/$a ]] || die "no PCI device $a (see: $0 status)"
    echo "$a"
}

current_driver() {
    local link=/sys/bus/pci/devices/$1/driver
    if [[ -L $link ]]; then
        basename "$(readlink -f "$link")"
    fi
}

# The kernel network interfaces of a device (none when a DPDK driver has it).
# Not only $dev/net/*: a virtio NIC's interface hangs off $dev/virtio0/net.
interfaces() {
    local dev n
    dev=$(readlink -f "/sys/bus/pci/devices/$1")
    for n in /sys/class/net/*; do
        [[ $(readlink -f "$n") == "$dev"/* ]] && basename "$n"
    done
    return 0
}

need_root() {
    ((dry_run == 1)) || [[ $(id -u) == 0 ]] || die "must be run as root to $1"
}

modprobe_driver() {
    local mod=${1//-/_}
    if [[ -d /sys/bus/pci/drivers/$1 ]]; then
        return 0
    fi
    if ! run modprobe "$mod"; then
        [[ $1 == igb_uio ]] && echo "bind-nic: igb_uio is out of tree (package dpdk-kmods); prefer vfio-pci" >&2
        die "cannot load the module $mod"
    fi
}

cmd_status() {
    # lspci warns about libkmod on systems without module metadata; that is noise here.
    "$devbind" --status-dev net 2> >(grep -v 'Unable to load libkmod' >&2)
}

cmd_bind() {
    (($# >= 1 && $# <= 2)) || die "usage: $0 [--force] [--dry-run] bind PCI_ADDR [DRIVER]"
    local addr driver cur class vendor refuse=0 ifs ifc
    addr=$(pci_addr "$1")
    driver=${2:-vfio-pci}
    case $driver in
        vfio-pci | uio_pci_generic | igb_uio) ;;
        *) die "'$driver' is not a DPDK-compatible driver (vfio-pci, uio_pci_generic or igb_uio)" ;;
    esac
    need_root "bind a device"
    cur=$(current_driver "$addr")
    if [[ $cur == "$driver" ]]; then
        echo "$addr is already bound to $driver; nothing to do"
        return 0
    fi

    class=$(<"/sys/bus/pci/devices/$addr/class")
    vendor=$(<"/sys/bus/pci/devices/$addr/vendor")
    if [[ $class != 0x02* ]]; then
        echo "bind-nic: $addr is not a network device (PCI class $class)" >&2
        refuse=1
    fi
    if [[ $vendor == 0x15b3 ]]; then
        echo "bind-nic: $addr is a Mellanox/NVIDIA NIC: DPDK's mlx4/mlx5 drivers run on top of the" >&2
        echo "  kernel driver ($cur); leave it bound and pass --allow $addr to the EAL" >&2
        refuse=1
    fi

    mapfile -t ifs < <(interfaces "$addr")
    for ifc in "${ifs[@]}"; do
        local flags routes addrs
        flags=$(<"/sys/class/net/$ifc/flags")
        routes=$(ip -o route show dev "$ifc" 2>/dev/null; ip -o -6 route show dev "$ifc" 2>/dev/null | grep -v '^fe80::/64' || true)
        addrs=$(ip -o addr show dev "$ifc" 2>/dev/null | awk '{ print $3, $4 }' | grep -v '^inet6 fe80:' || true)
        if ((flags & 1)); then
            echo "bind-nic: interface $ifc of $addr is UP" >&2
            refuse=1
        fi
        if [[ -n $routes ]]; then
            echo "bind-nic: interface $ifc of $addr has routes:" >&2
            echo "    ${routes//$'\n'/$'\n'    }" >&2
            refuse=1
        fi
        if [[ -n $addrs ]]; then
            echo "bind-nic: interface $ifc of $addr has addresses (note them to restore them later):" >&2
            echo "    ${addrs//$'\n'/$'\n'    }" >&2
            refuse=1
        fi
    done
    if ((refuse == 1)); then
        if ((force == 0)); then
            die "refusing to bind $addr (take the interface down first: ip link set dev IFACE down; or pass --force)"
        fi
        echo "bind-nic: --force: binding anyway" >&2
    fi

    if [[ $driver == vfio-pci ]]; then
        if [[ -z $(ls -A /sys/kernel/iommu_groups 2>/dev/null) ]] &&
            [[ $(cat /sys/module/vfio/parameters/enable_unsafe_noiommu_mode 2>/dev/null) != Y ]]; then
            echo "bind-nic: no IOMMU is enabled, so vfio-pci cannot take $addr. Either enable it" >&2
            echo "  (kernel command line: intel_iommu=on iommu=pt, or amd_iommu=on), or, on a VM without" >&2
            echo "  a virtual IOMMU, knowingly allow DMA without one:" >&2
            echo "    modprobe vfio enable_unsafe_noiommu_mode=1   (or echo 1 > /sys/module/vfio/parameters/enable_unsafe_noiommu_mode)" >&2
            echo "  or use uio_pci_generic: $0 bind $addr uio_pci_generic" >&2
            die "refusing to bind $addr to vfio-pci"
        fi
    fi
    modprobe_driver "$driver"

    local devbind_args=(--bind="$driver" "$addr")
    ((force == 1)) && devbind_args=(--force "${devbind_args[@]}")
    run "$devbind" "${devbind_args[@]}"
    if ((dry_run == 0)); then
        local now
        now=$(current_driver "$addr")
        [[ $now == "$driver" ]] || die "$addr is bound to '${now:-no driver}', not $driver (see dmesg)"
        echo "$addr is now bound to $driver"
    fi
    if [[ -n $cur ]]; then
        echo "to undo: $0 unbind $addr $cur"
        for ifc in "${ifs[@]}"; do
            echo "  then bring $ifc back: ip link set dev $ifc up (and restore its addresses and routes)"
        done
    else
        echo "$addr had no driver before; to release it: $devbind --unbind $addr"
    fi
}

# PIDs of processes that hold the device's VFIO group open.
vfio_users() {
    local group dev fd
    group=$(readlink -f "/sys/bus/pci/devices/$1/iommu_group" 2>/dev/null) || return 0
    [[ -n $group ]] || return 0
    group=$(basename "$group")
    for dev in "/dev/vfio/$group" "/dev/vfio/noiommu-$group"; do
        [[ -e $dev ]] || continue
        for fd in /proc/[0-9]*/fd/*; do
            if [[ $(readlink "$fd" 2>/dev/null) == "$dev" ]]; then
                fd=${fd#/proc/}
                echo "${fd%%/*}"
            fi
        done
    done | sort -u
}

cmd_unbind() {
    (($# == 2)) || die "usage: $0 [--force] [--dry-run] unbind PCI_ADDR KERNEL_DRIVER"
    local addr driver cur users
    addr=$(pci_addr "$1")
    driver=$2
    case $driver in
        vfio-pci | uio_pci_generic | igb_uio)
            die "$driver is a DPDK driver; give the kernel driver of the NIC (e.g. ixgbe, i40e, ice, virtio-pci)"
            ;;
    esac
    need_root "unbind a device"
    cur=$(current_driver "$addr")
    if [[ $cur == "$driver" ]]; then
        echo "$addr is already bound to $driver; nothing to do"
        return 0
    fi
    users=$(vfio_users "$addr")
    if [[ -n $users ]]; then
        echo "bind-nic: $addr is in use by a DPDK application (PIDs: $(echo "$users" | tr '\n' ' '))" >&2
        ((force == 1)) || die "stop it first (unbinding would wait for it), or pass --force"
    fi
    modprobe_driver "$driver"
    run "$devbind" --bind="$driver" "$addr"
    if ((dry_run == 0)); then
        local now ifs
        now=$(current_driver "$addr")
        [[ $now == "$driver" ]] || die "$addr is bound to '${now:-no driver}', not $driver (see dmesg)"
        mapfile -t ifs < <(interfaces "$addr")
        echo "$addr is back on $driver${ifs[0]:+, interface(s): ${ifs[*]}}"
        ((${#ifs[@]} > 0)) && echo "bring it up with: ip link set dev ${ifs[0]} up"
    fi
    if [[ -n $cur ]]; then
        echo "to undo: $0 bind $addr $cur"
    fi
}

case ${1:-} in
    status)
        shift
        (($# == 0)) || die "usage: $0 status"
        cmd_status
        ;;
    bind)
        shift
        cmd_bind "$@"
        ;;
    unbind)
        shift
        cmd_unbind "$@"
        ;;
    "")
        usage >&2
        exit 2
        ;;
    *) die "unknown command '$1' (status, bind, unbind; see --help)" ;;
esac
