/*
 * natrix DPDK shim: DPDK's fast-path API is made of `static inline`
 * functions (and a thread-local `rte_errno`) that have no symbol in any
 * shared library, so Rust cannot call them directly. Each function here
 * exports one of them under a `natrix_` name; src/lib.rs declares these
 * with `#[link_name]` so Rust code calls them by their DPDK names.
 *
 * Keep every signature here in sync with src/shim.rs.
 */
#include "wrapper.h"

/* ---- errors and lcore ------------------------------------------------ */

int natrix_rte_errno(void)
{
	return rte_errno;
}

void natrix_rte_errno_set(int value)
{
	rte_errno = value;
}

unsigned int natrix_rte_lcore_id(void)
{
	return rte_lcore_id();
}

uint64_t natrix_rte_get_tsc_cycles(void)
{
	return rte_get_tsc_cycles();
}

uint64_t natrix_rte_get_timer_cycles(void)
{
	return rte_get_timer_cycles();
}

uint64_t natrix_rte_get_timer_hz(void)
{
	return rte_get_timer_hz();
}

/* ---- ethdev fast path ------------------------------------------------ */

uint16_t natrix_rte_eth_rx_burst(uint16_t port_id, uint16_t queue_id,
				 struct rte_mbuf **rx_pkts, uint16_t nb_pkts)
{
	return rte_eth_rx_burst(port_id, queue_id, rx_pkts, nb_pkts);
}

uint16_t natrix_rte_eth_tx_burst(uint16_t port_id, uint16_t queue_id,
				 struct rte_mbuf **tx_pkts, uint16_t nb_pkts)
{
	return rte_eth_tx_burst(port_id, queue_id, tx_pkts, nb_pkts);
}

uint16_t natrix_rte_eth_tx_prepare(uint16_t port_id, uint16_t queue_id,
				   struct rte_mbuf **tx_pkts, uint16_t nb_pkts)
{
	return rte_eth_tx_prepare(port_id, queue_id, tx_pkts, nb_pkts);
}

/* ---- mbuf alloc / free ----------------------------------------------- */

struct rte_mbuf *natrix_rte_pktmbuf_alloc(struct rte_mempool *mp)
{
	return rte_pktmbuf_alloc(mp);
}

int natrix_rte_pktmbuf_alloc_bulk(struct rte_mempool *mp,
				  struct rte_mbuf **mbufs, unsigned int count)
{
	return rte_pktmbuf_alloc_bulk(mp, mbufs, count);
}

void natrix_rte_pktmbuf_free(struct rte_mbuf *m)
{
	rte_pktmbuf_free(m);
}

void natrix_rte_pktmbuf_reset(struct rte_mbuf *m)
{
	rte_pktmbuf_reset(m);
}

uint16_t natrix_rte_mbuf_refcnt_read(const struct rte_mbuf *m)
{
	return rte_mbuf_refcnt_read(m);
}

/* ---- packet data ----------------------------------------------------- */

/* rte_pktmbuf_mtod(m, char *) */
char *natrix_rte_pktmbuf_mtod(struct rte_mbuf *m)
{
	return rte_pktmbuf_mtod(m, char *);
}

uint16_t natrix_rte_pktmbuf_data_len(const struct rte_mbuf *m)
{
	return rte_pktmbuf_data_len(m);
}

uint32_t natrix_rte_pktmbuf_pkt_len(const struct rte_mbuf *m)
{
	return rte_pktmbuf_pkt_len(m);
}

/*
 * Sets both lengths of a single-segment mbuf (the packet is rewritten in
 * place and may shrink or grow within its buffer). The caller keeps
 * data_off + len within the buffer: check rte_pktmbuf_tailroom first.
 */
void natrix_rte_pktmbuf_set_len(struct rte_mbuf *m, uint16_t len)
{
	m->data_len = len;
	m->pkt_len = len;
}

uint16_t natrix_rte_pktmbuf_headroom(const struct rte_mbuf *m)
{
	return rte_pktmbuf_headroom(m);
}

uint16_t natrix_rte_pktmbuf_tailroom(const struct rte_mbuf *m)
{
	return rte_pktmbuf_tailroom(m);
}

char *natrix_rte_pktmbuf_append(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_append(m, len);
}

char *natrix_rte_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_prepend(m, len);
}

char *natrix_rte_pktmbuf_adj(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_adj(m, len);
}

int natrix_rte_pktmbuf_trim(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_trim(m, len);
}

/* ---- metadata: RSS hash, offload flags, header lengths ---------------- */

uint32_t natrix_rte_mbuf_rss_hash(const struct rte_mbuf *m)
{
	return m->hash.rss;
}

uint64_t natrix_rte_mbuf_ol_flags(const struct rte_mbuf *m)
{
	return m->ol_flags;
}

void natrix_rte_mbuf_set_ol_flags(struct rte_mbuf *m, uint64_t flags)
{
	m->ol_flags = flags;
}

uint16_t natrix_rte_mbuf_port(const struct rte_mbuf *m)
{
	return m->port;
}

/* TX checksum offload: lengths of the L2, L3 and L4 headers in bytes. */
void natrix_rte_mbuf_set_tx_lens(struct rte_mbuf *m, uint16_t l2_len,
				 uint16_t l3_len, uint16_t l4_len)
{
	m->l2_len = l2_len;
	m->l3_len = l3_len;
	m->l4_len = l4_len;
}

/* ---- rings ------------------------------------------------------------ */

unsigned int natrix_rte_ring_enqueue_burst(struct rte_ring *r,
					   void *const *obj_table,
					   unsigned int n,
					   unsigned int *free_space)
{
	return rte_ring_enqueue_burst(r, obj_table, n, free_space);
}

unsigned int natrix_rte_ring_dequeue_burst(struct rte_ring *r,
					   void **obj_table, unsigned int n,
					   unsigned int *available)
{
	return rte_ring_dequeue_burst(r, obj_table, n, available);
}

unsigned int natrix_rte_ring_count(const struct rte_ring *r)
{
	return rte_ring_count(r);
}
