/*
 * Headers that bindgen turns into Rust declarations (see build.rs) and that
 * src/shim.c compiles against. rte_config.h comes in through the
 * `-include rte_config.h` flag from `pkg-config --cflags libdpdk`.
 */
#ifndef NATRIX_DPDK_WRAPPER_H
#define NATRIX_DPDK_WRAPPER_H

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_launch.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <rte_telemetry.h>
#include <rte_bus_vdev.h>
#include <rte_eth_ring.h>

#endif
