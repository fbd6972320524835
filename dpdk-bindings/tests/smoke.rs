//! Smoke tests against the real DPDK libraries: EAL with a `net_null` vdev,
//! an mbuf pool, the inline-function shim, a null port's RX/TX and rings.
//!
//! `rte_eal_init` succeeds once per process, so this file is its own test
//! binary and every test goes through [`eal`], which initialises EAL once.
//! Needs root (EAL opens /dev and /var/run paths even with --no-huge).

use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::ptr;
use std::sync::OnceLock;

use dpdk_sys::*;

const NULL_VDEV: &str = "net_null0";
const POOL_SIZE: u32 = 2047;

/// Raw DPDK handles shared by the tests (DPDK objects are thread-safe to
/// use from several threads for the calls made here).
struct Eal {
    pool: *mut rte_mempool,
}

// SAFETY: the pool pointer is only passed to mempool functions, which are
// multi-thread safe; the pool is never freed.
unsafe impl Send for Eal {}
// SAFETY: as above: nothing is reached through a shared Eal but the pool.
unsafe impl Sync for Eal {}

fn eal() -> &'static Eal {
    static EAL: OnceLock<Eal> = OnceLock::new();
    EAL.get_or_init(|| {
        let args = [
            "natrix-dpdk-smoke",
            "-l",
            "0",
            "--no-huge",
            "-m",
            "512",
            "--no-pci",
            "--no-shconf",
            "--vdev",
            NULL_VDEV,
            "--log-level=error",
        ];
        // EAL may keep and reorder argv: give it strings that live forever.
        let mut argv: Vec<*mut c_char> = args
            .iter()
            .map(|a| CString::new(*a).unwrap().into_raw())
            .collect();
        let argv: &'static mut [*mut c_char] = Box::leak(argv.split_off(0).into_boxed_slice());
        // SAFETY: argv holds argc NUL-terminated strings leaked for the life
        // of the process, as EAL may keep them.
        let rc = unsafe { rte_eal_init(argv.len() as c_int, argv.as_mut_ptr()) };
        assert!(rc >= 0, "rte_eal_init failed: {}", errno_message());

        // Checked here, before any test can add a port of its own. A vdev
        // that fails to probe does not fail rte_eal_init.
        // SAFETY: EAL is initialised.
        assert_eq!(unsafe { rte_eth_dev_count_avail() }, 1);
        // This thread became the main lcore.
        // SAFETY: reads this thread's lcore id.
        assert_eq!(unsafe { rte_lcore_id() }, 0);

        let name = CString::new("smoke_pool").unwrap();
        // SAFETY: EAL is initialised; the name is copied by DPDK.
        let pool = unsafe {
            rte_pktmbuf_pool_create(
                name.as_ptr(),
                POOL_SIZE,
                32,
                0,
                RTE_MBUF_DEFAULT_BUF_SIZE as u16,
                rte_socket_id() as c_int,
            )
        };
        assert!(
            !pool.is_null(),
            "rte_pktmbuf_pool_create: {}",
            errno_message()
        );
        Eal { pool }
    })
}

fn errno_message() -> String {
    // SAFETY: rte_strerror returns a NUL-terminated string that stays valid
    // until the next call on this thread; it is copied at once.
    unsafe { CStr::from_ptr(rte_strerror(rte_errno())) }
        .to_string_lossy()
        .into_owned()
}

fn port_by_name(name: &str) -> u16 {
    let name = CString::new(name).unwrap();
    let mut port = u16::MAX;
    // SAFETY: `name` is NUL-terminated; `port` is a valid u16 to write.
    let rc = unsafe { rte_eth_dev_get_port_by_name(name.as_ptr(), &mut port) };
    assert_eq!(rc, 0, "no port named {name:?}");
    port
}

#[test]
fn eal_comes_up_with_one_null_port() {
    eal();
    let port = port_by_name(NULL_VDEV);
    // SAFETY: EAL is initialised; these calls only read its state or the TSC.
    assert_eq!(unsafe { rte_eth_dev_is_valid_port(port) }, 1);
    // SAFETY: as above.
    assert!(unsafe { rte_get_tsc_hz() } > 0);
    // SAFETY: as above.
    let t0 = unsafe { rte_get_tsc_cycles() };
    // SAFETY: busy-waits 10 us.
    unsafe { rte_delay_us_block(10) };
    // SAFETY: reads the TSC.
    assert!(unsafe { rte_get_tsc_cycles() } > t0);
}

#[test]
fn macro_constants_and_zeroed_structs() {
    // RTE_BIT64(1): only evaluated through clang_macro_fallback.
    assert_eq!(RTE_ETH_TX_OFFLOAD_IPV4_CKSUM, 1u64 << 1);
    assert_eq!(RTE_ETH_TX_OFFLOAD_UDP_CKSUM, 1u64 << 2);
    assert_eq!(RTE_ETH_TX_OFFLOAD_TCP_CKSUM, 1u64 << 3);
    assert_eq!(
        RTE_ETH_RX_OFFLOAD_CHECKSUM,
        (1u64 << 1) | (1 << 2) | (1 << 3)
    );
    assert_eq!(RTE_ETH_RSS_IPV4, 1u64 << 2);
    assert_eq!(RTE_MBUF_DEFAULT_BUF_SIZE, 2048 + 128);

    // NewType enums: an all-zero rte_eth_conf is a valid value.
    // SAFETY: rte_eth_conf is plain data; bindgen's NewType enums make every
    // all-zero field a valid value.
    let conf: rte_eth_conf = unsafe { std::mem::zeroed() };
    assert_eq!(conf.rxmode.mq_mode, rte_eth_rx_mq_mode::RTE_ETH_MQ_RX_NONE);
    assert_eq!(conf.txmode.offloads, 0);
    let _ = rte_eth_conf::default();
}

#[test]
fn strerror_of_errno_is_a_message() {
    eal();
    let msg = errno_message();
    assert!(!msg.is_empty());
    // SAFETY: sets this thread's rte_errno.
    unsafe { rte_errno_set(22) };
    // SAFETY: reads this thread's rte_errno.
    assert_eq!(unsafe { rte_errno() }, 22);
    assert!(!errno_message().is_empty());
    // SAFETY: sets this thread's rte_errno.
    unsafe { rte_errno_set(0) };
}

#[test]
fn mbuf_alloc_write_read_free() {
    let pool = eal().pool;
    // SAFETY: the pool is live; every mbuf is used only between its
    // allocation and its free, and every write stays within data_len.
    unsafe {
        let m = rte_pktmbuf_alloc(pool);
        assert!(!m.is_null());
        assert_eq!(rte_mbuf_refcnt_read(m), 1);
        assert_eq!(rte_pktmbuf_data_len(m), 0);
        assert_eq!(rte_pktmbuf_headroom(m) as u32, RTE_PKTMBUF_HEADROOM);

        let payload: Vec<u8> = (0..64u8).collect();
        let data = rte_pktmbuf_append(m, payload.len() as u16);
        assert!(!data.is_null());
        assert_eq!(data, rte_pktmbuf_mtod(m));
        ptr::copy_nonoverlapping(payload.as_ptr(), data.cast::<u8>(), payload.len());
        assert_eq!(rte_pktmbuf_data_len(m), 64);
        assert_eq!(rte_pktmbuf_pkt_len(m), 64);

        // Rewrite in place and read back through a fresh mtod pointer.
        let bytes = std::slice::from_raw_parts_mut(
            rte_pktmbuf_mtod(m).cast::<u8>(),
            rte_pktmbuf_data_len(m) as usize,
        );
        assert_eq!(bytes, &payload[..]);
        bytes[0] = 0xaa;
        rte_pktmbuf_set_len(m, 60);
        assert_eq!(rte_pktmbuf_data_len(m), 60);
        assert_eq!(rte_pktmbuf_pkt_len(m), 60);
        assert_eq!(*rte_pktmbuf_mtod(m).cast::<u8>(), 0xaa);

        assert_eq!(rte_pktmbuf_trim(m, 10), 0);
        assert_eq!(rte_pktmbuf_pkt_len(m), 50);
        let p = rte_pktmbuf_adj(m, 14);
        assert_eq!(*p.cast::<u8>(), 14);
        let p = rte_pktmbuf_prepend(m, 14);
        assert_eq!(*p.cast::<u8>(), 0xaa);
        assert_eq!(rte_pktmbuf_data_len(m), 50);

        let flags = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_UDP_CKSUM;
        rte_mbuf_set_ol_flags(m, flags);
        assert_eq!(rte_mbuf_ol_flags(m), flags);
        rte_mbuf_set_tx_lens(m, 14, 20, 8);
        let lens = (*m).__bindgen_anon_3.tx_offload;
        assert_eq!(lens & 0x7f, 14);
        assert_eq!((lens >> 7) & 0x1ff, 20);
        assert_eq!((lens >> 16) & 0xff, 8);
        let _ = rte_mbuf_rss_hash(m);

        rte_pktmbuf_reset(m);
        assert_eq!(rte_pktmbuf_data_len(m), 0);
        assert_eq!(rte_mbuf_ol_flags(m), 0);
        rte_pktmbuf_free(m);

        let mut bulk = [ptr::null_mut::<rte_mbuf>(); 8];
        assert_eq!(rte_pktmbuf_alloc_bulk(pool, bulk.as_mut_ptr(), 8), 0);
        assert!(bulk.iter().all(|m| !m.is_null()));
        rte_pktmbuf_free_bulk(bulk.as_mut_ptr(), 8);
    }
}

#[test]
fn null_port_receives_and_transmits() {
    let pool = eal().pool;
    let port = port_by_name(NULL_VDEV);
    // SAFETY: this test alone configures the null port; structs are zeroed
    // plain data; only received mbufs (ours until sent or freed) are touched.
    unsafe {
        let socket = rte_eth_dev_socket_id(port);
        let socket = if socket < 0 { 0 } else { socket as c_uint };
        let conf: rte_eth_conf = std::mem::zeroed();
        assert_eq!(rte_eth_dev_configure(port, 1, 1, &conf), 0);
        assert_eq!(
            rte_eth_rx_queue_setup(port, 0, 256, socket, ptr::null(), pool),
            0
        );
        assert_eq!(rte_eth_tx_queue_setup(port, 0, 256, socket, ptr::null()), 0);
        assert_eq!(rte_eth_dev_start(port), 0);

        let mut pkts = [ptr::null_mut::<rte_mbuf>(); 32];
        let n = rte_eth_rx_burst(port, 0, pkts.as_mut_ptr(), pkts.len() as u16);
        assert!(n > 0, "net_null produced no packets");
        for &m in &pkts[..n as usize] {
            assert!(rte_pktmbuf_data_len(m) > 0);
            assert_eq!(rte_mbuf_port(m), port);
            // The data is writable in place.
            *rte_pktmbuf_mtod(m).cast::<u8>() = 0x02;
        }
        let prepared = rte_eth_tx_prepare(port, 0, pkts.as_mut_ptr(), n);
        assert_eq!(prepared, n);
        let sent = rte_eth_tx_burst(port, 0, pkts.as_mut_ptr(), n);
        assert!(sent > 0);
        for &m in &pkts[sent as usize..n as usize] {
            rte_pktmbuf_free(m);
        }

        let mut stats: rte_eth_stats = std::mem::zeroed();
        assert_eq!(rte_eth_stats_get(port, &mut stats), 0);
        assert!(stats.ipackets >= n as u64);

        // Stopped, not closed: closing releases the port, and the tests of
        // this file run in parallel in one process, where
        // `eal_comes_up_with_one_null_port` looks it up by name (CI saw it
        // fail with ENODEV when it ran after a close here).
        assert_eq!(rte_eth_dev_stop(port), 0);
    }
}

#[test]
fn rings_and_ring_port() {
    eal();
    // SAFETY: the ring holds plain integers cast to pointers and is never
    // dereferenced; it is freed after the port that uses it is closed.
    unsafe {
        let name = CString::new("smoke_ring").unwrap();
        let ring = rte_ring_create(
            name.as_ptr(),
            64,
            rte_socket_id() as c_int,
            RING_F_SP_ENQ | RING_F_SC_DEQ,
        );
        assert!(!ring.is_null(), "rte_ring_create: {}", errno_message());
        let mut objs: Vec<*mut c_void> = (1..=10usize).map(|i| i as *mut c_void).collect();
        let mut free = 0;
        assert_eq!(
            rte_ring_enqueue_burst(ring, objs.as_ptr(), 10, &mut free),
            10
        );
        assert_eq!(rte_ring_count(ring), 10);
        let mut out = vec![ptr::null_mut::<c_void>(); 16];
        let mut avail = 0;
        assert_eq!(
            rte_ring_dequeue_burst(ring, out.as_mut_ptr(), 16, &mut avail),
            10
        );
        assert_eq!(&out[..10], &objs[..]);
        objs.clear();

        // rte_eth_from_rings lives in librte_net_ring (linked by build.rs).
        let port_name = CString::new("ring_smoke").unwrap();
        let rx = [ring];
        let tx = [ring];
        let port = rte_eth_from_rings(
            port_name.as_ptr(),
            rx.as_ptr(),
            1,
            tx.as_ptr(),
            1,
            rte_socket_id(),
        );
        assert!(port >= 0, "rte_eth_from_rings: {}", errno_message());
        // The ring PMD names its ethdev "net_ring_<name>".
        assert_eq!(port_by_name("net_ring_ring_smoke"), port as u16);
        assert_eq!(rte_eth_dev_close(port as u16), 0);
        rte_ring_free(ring);
    }
}

#[test]
fn telemetry_data_from_the_bindings() {
    eal();
    // SAFETY: the container is allocated here, filled through the
    // rte_tel_data_* API with NUL-terminated names (copied by DPDK), and freed
    // once.
    unsafe {
        let d = rte_tel_data_alloc();
        assert!(!d.is_null());
        assert_eq!(rte_tel_data_start_dict(d), 0);
        assert_eq!(rte_tel_data_add_dict_u64(d, c"rx".as_ptr(), 5), 0);
        // Names with other characters than letters, digits, `_` and `/`
        // are refused.
        assert!(rte_tel_data_add_dict_u64(d, c"no-service".as_ptr(), 1) < 0);
        assert_eq!(
            rte_tel_data_start_array(d, rte_tel_value_type::RTE_TEL_U64_VAL),
            0
        );
        assert_eq!(rte_tel_data_add_array_u64(d, 7), 0);
        rte_tel_data_free(d);
    }
}
