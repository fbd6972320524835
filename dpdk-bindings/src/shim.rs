//! DPDK's `static inline` fast-path functions, exported by `src/shim.c` as
//! `natrix_<name>` and declared here under their DPDK names.
//!
//! Functions that are macros or struct-field accesses in C get a
//! descriptive name: [`rte_errno`] (the per-lcore `rte_errno`),
//! [`rte_pktmbuf_mtod`] (`rte_pktmbuf_mtod(m, char *)`),
//! [`rte_pktmbuf_set_len`], [`rte_mbuf_rss_hash`], [`rte_mbuf_ol_flags`],
//! [`rte_mbuf_set_ol_flags`], [`rte_mbuf_port`] and [`rte_mbuf_set_tx_lens`].

use core::ffi::{c_char, c_int, c_uint, c_void};

use crate::bindings::{rte_mbuf, rte_mempool, rte_ring};

extern "C" {
    /// The calling thread's `rte_errno`.
    #[link_name = "natrix_rte_errno"]
    pub fn rte_errno() -> c_int;
    /// Sets the calling thread's `rte_errno`.
    #[link_name = "natrix_rte_errno_set"]
    pub fn rte_errno_set(value: c_int);
    #[link_name = "natrix_rte_lcore_id"]
    pub fn rte_lcore_id() -> c_uint;
    #[link_name = "natrix_rte_get_tsc_cycles"]
    pub fn rte_get_tsc_cycles() -> u64;
    #[link_name = "natrix_rte_get_timer_cycles"]
    pub fn rte_get_timer_cycles() -> u64;
    #[link_name = "natrix_rte_get_timer_hz"]
    pub fn rte_get_timer_hz() -> u64;

    #[link_name = "natrix_rte_eth_rx_burst"]
    pub fn rte_eth_rx_burst(
        port_id: u16,
        queue_id: u16,
        rx_pkts: *mut *mut rte_mbuf,
        nb_pkts: u16,
    ) -> u16;
    #[link_name = "natrix_rte_eth_tx_burst"]
    pub fn rte_eth_tx_burst(
        port_id: u16,
        queue_id: u16,
        tx_pkts: *mut *mut rte_mbuf,
        nb_pkts: u16,
    ) -> u16;
    #[link_name = "natrix_rte_eth_tx_prepare"]
    pub fn rte_eth_tx_prepare(
        port_id: u16,
        queue_id: u16,
        tx_pkts: *mut *mut rte_mbuf,
        nb_pkts: u16,
    ) -> u16;

    #[link_name = "natrix_rte_pktmbuf_alloc"]
    pub fn rte_pktmbuf_alloc(mp: *mut rte_mempool) -> *mut rte_mbuf;
    /// Returns 0 with all `count` mbufs allocated, or a negative errno and
    /// none.
    #[link_name = "natrix_rte_pktmbuf_alloc_bulk"]
    pub fn rte_pktmbuf_alloc_bulk(
        mp: *mut rte_mempool,
        mbufs: *mut *mut rte_mbuf,
        count: c_uint,
    ) -> c_int;
    #[link_name = "natrix_rte_pktmbuf_free"]
    pub fn rte_pktmbuf_free(m: *mut rte_mbuf);
    #[link_name = "natrix_rte_pktmbuf_reset"]
    pub fn rte_pktmbuf_reset(m: *mut rte_mbuf);
    #[link_name = "natrix_rte_mbuf_refcnt_read"]
    pub fn rte_mbuf_refcnt_read(m: *const rte_mbuf) -> u16;

    /// `rte_pktmbuf_mtod(m, char *)`: the first byte of the packet data.
    #[link_name = "natrix_rte_pktmbuf_mtod"]
    pub fn rte_pktmbuf_mtod(m: *mut rte_mbuf) -> *mut c_char;
    #[link_name = "natrix_rte_pktmbuf_data_len"]
    pub fn rte_pktmbuf_data_len(m: *const rte_mbuf) -> u16;
    #[link_name = "natrix_rte_pktmbuf_pkt_len"]
    pub fn rte_pktmbuf_pkt_len(m: *const rte_mbuf) -> u32;
    /// Sets `data_len` and `pkt_len` of a single-segment mbuf. The caller
    /// keeps `len` within `data_len + rte_pktmbuf_tailroom(m)`.
    #[link_name = "natrix_rte_pktmbuf_set_len"]
    pub fn rte_pktmbuf_set_len(m: *mut rte_mbuf, len: u16);
    #[link_name = "natrix_rte_pktmbuf_headroom"]
    pub fn rte_pktmbuf_headroom(m: *const rte_mbuf) -> u16;
    #[link_name = "natrix_rte_pktmbuf_tailroom"]
    pub fn rte_pktmbuf_tailroom(m: *const rte_mbuf) -> u16;
    /// Grows the packet at its end; null when there is no tailroom.
    #[link_name = "natrix_rte_pktmbuf_append"]
    pub fn rte_pktmbuf_append(m: *mut rte_mbuf, len: u16) -> *mut c_char;
    /// Grows the packet at its start; null when there is no headroom.
    #[link_name = "natrix_rte_pktmbuf_prepend"]
    pub fn rte_pktmbuf_prepend(m: *mut rte_mbuf, len: u16) -> *mut c_char;
    /// Removes `len` bytes from the start; null if the packet is shorter.
    #[link_name = "natrix_rte_pktmbuf_adj"]
    pub fn rte_pktmbuf_adj(m: *mut rte_mbuf, len: u16) -> *mut c_char;
    /// Removes `len` bytes from the end; -1 if the packet is shorter.
    #[link_name = "natrix_rte_pktmbuf_trim"]
    pub fn rte_pktmbuf_trim(m: *mut rte_mbuf, len: u16) -> c_int;

    /// `m->hash.rss`, valid when `RTE_MBUF_F_RX_RSS_HASH` is in ol_flags.
    #[link_name = "natrix_rte_mbuf_rss_hash"]
    pub fn rte_mbuf_rss_hash(m: *const rte_mbuf) -> u32;
    /// `m->ol_flags` (`RTE_MBUF_F_*`).
    #[link_name = "natrix_rte_mbuf_ol_flags"]
    pub fn rte_mbuf_ol_flags(m: *const rte_mbuf) -> u64;
    #[link_name = "natrix_rte_mbuf_set_ol_flags"]
    pub fn rte_mbuf_set_ol_flags(m: *mut rte_mbuf, flags: u64);
    /// `m->port`, the input port of a received mbuf.
    #[link_name = "natrix_rte_mbuf_port"]
    pub fn rte_mbuf_port(m: *const rte_mbuf) -> u16;
    /// Sets `m->l2_len`, `m->l3_len` and `m->l4_len` (bytes) for TX
    /// checksum offload (7, 9 and 8 bits wide).
    #[link_name = "natrix_rte_mbuf_set_tx_lens"]
    pub fn rte_mbuf_set_tx_lens(m: *mut rte_mbuf, l2_len: u16, l3_len: u16, l4_len: u16);

    #[link_name = "natrix_rte_ring_enqueue_burst"]
    pub fn rte_ring_enqueue_burst(
        r: *mut rte_ring,
        obj_table: *const *mut c_void,
        n: c_uint,
        free_space: *mut c_uint,
    ) -> c_uint;
    #[link_name = "natrix_rte_ring_dequeue_burst"]
    pub fn rte_ring_dequeue_burst(
        r: *mut rte_ring,
        obj_table: *mut *mut c_void,
        n: c_uint,
        available: *mut c_uint,
    ) -> c_uint;
    #[link_name = "natrix_rte_ring_count"]
    pub fn rte_ring_count(r: *const rte_ring) -> c_uint;
}
