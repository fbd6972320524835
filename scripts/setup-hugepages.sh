#!/usr/bin/env bash
# Reserves 2 MiB hugepages for DPDK and mounts hugetlbfs.
#
# Usage: scripts/setup-hugepages.sh [PAGES]   reserve PAGES x 2 MiB (default 1024 = 2 GiB)
#        scripts/setup-hugepages.sh --status  show the current reservation and mounts
#        scripts/setup-hugepages.sh --help
#
# On a NUMA machine (/sys/devices/system/node/node*) PAGES are reserved on
# every node (natrix's workers allocate from the node of their lcore), else
# through /sys/kernel/mm/hugepages. hugetlbfs is mounted at /dev/hugepages
# unless a hugetlbfs is mounted there already. The reservation does not
# survive a reboot; to make it permanent, add `hugepages=N` to the kernel
# command line or use a sysctl (vm.nr_hugepages) and an fstab entry.
# Reserving fails silently in part when memory is fragmented: the script
# reports what the kernel actually granted. To give the pages back:
# scripts/setup-hugepages.sh 0
set -euo pipefail

size_kb=2048
global=/sys/kernel/mm/hugepages/hugepages-${size_kb}kB
mnt=/dev/hugepages

usage() {
    sed -n '2,16s/^# \{0,1\}//p' "$0"
}

nodes() {
    local n
    for n in /sys/devices/system/node/node[0-9]*; do
        [[ -d $n/hugepages/hugepages-${size_kb}kB ]] && echo "$n"
    done
    return 0
}

status() {
    if [[ ! -d $global ]]; then
        echo "this kernel has no 2 MiB hugepages ($global is missing)"
        return 1
    fi
    echo "2 MiB hugepages: total $(<"$global/nr_hugepages"), free $(<"$global/free_hugepages"), reserved-by-mappings $(<"$global/resv_hugepages"), surplus $(<"$global/surplus_hugepages")"
    local n
    while read -r n; do
        [[ -n $n ]] || continue
        echo "  $(basename "$n"): total $(<"$n/hugepages/hugepages-${size_kb}kB/nr_hugepages"), free $(<"$n/hugepages/hugepages-${size_kb}kB/free_hugepages")"
    done < <(nodes)
    grep -E '^(HugePages_|Hugepagesize|Hugetlb)' /proc/meminfo | sed 's/^/  /'
    local mounts
    mounts=$(awk '$3 == "hugetlbfs" { print "  " $2 " (" $4 ")" }' /proc/mounts)
    if [[ -n $mounts ]]; then
        echo "hugetlbfs mounted at:"
        echo "$mounts"
    else
        echo "hugetlbfs: not mounted"
    fi
}

case ${1:-} in
    -h | --help)
        usage
        exit 0
        ;;
    --status)
        status
        exit
        ;;
    -*)
        echo "setup-hugepages: unknown option $1" >&2
        usage >&2
        exit 2
        ;;
esac

pages=${1:-1024}
if [[ ! $pages =~ ^[0-9]+$ ]]; then
    echo "setup-hugepages: PAGES must be a whole number, not '$pages'" >&2
    exit 2
fi
if [[ $(id -u) != 0 ]]; then
    echo "setup-hugepages: must be run as root (it writes to /sys and mounts hugetlbfs)" >&2
    exit 1
fi
if [[ ! -d $global ]]; then
    echo "setup-hugepages: this kernel has no 2 MiB hugepages ($global is missing)" >&2
    exit 1
fi

mapfile -t node_dirs < <(nodes)
if ((${#node_dirs[@]} > 0)); then
    for n in "${node_dirs[@]}"; do
        f=$n/hugepages/hugepages-${size_kb}kB/nr_hugepages
        echo "$(basename "$n"): $(<"$f") -> $pages pages of 2 MiB"
        echo "$pages" >"$f"
        got=$(<"$f")
        if ((got != pages)); then
            echo "  the kernel granted $got of $pages (memory fragmented or short; try again early after boot)" >&2
        fi
    done
else
    f=$global/nr_hugepages
    echo "all memory: $(<"$f") -> $pages pages of 2 MiB"
    echo "$pages" >"$f"
    got=$(<"$f")
    if ((got != pages)); then
        echo "  the kernel granted $got of $pages (memory fragmented or short)" >&2
    fi
fi

if awk -v m="$mnt" '$2 == m && $3 == "hugetlbfs" { found = 1 } END { exit !found }' /proc/mounts; then
    echo "hugetlbfs already mounted at $mnt"
elif ((pages > 0)); then
    mkdir -p "$mnt"
    mount -t hugetlbfs -o pagesize=2M nodev "$mnt"
    echo "mounted hugetlbfs at $mnt"
fi

echo
status
