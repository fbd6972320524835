//! `Port::alloc` on a DPDK queue (issue 8, TCP reset on idle): buffers for
//! the packets natrix builds itself come from the port's mempool, with the
//! length asked for, go out by `tx_burst` like received ones, and return to
//! the pool when dropped. The EAL initialises once per process, so this file
//! is its own test binary with one test.
#![cfg(feature = "dpdk")]

mod support;

use natrix::ports::dpdk::{Eal, EthPort, Mempool};
use natrix::ports::{Burst, PacketBuf, Port};

#[test]
fn a_queue_allocates_buffers_for_the_packets_natrix_builds() {
    let eal = Eal::init(&support::eal::null()).expect("EAL");
    let pool = Mempool::new(eal, "natrix_alloc", 1023, eal.socket_id()).expect("pool");
    let (port, mut queues) = EthPort::start(eal, 0, 1, &pool).expect("net_null port");
    let q = &mut queues[0];

    let mut m = q.alloc(54).expect("an mbuf");
    assert_eq!(m.data().len(), 54);
    m.data_mut().fill(0xab);
    assert!(m.data().iter().all(|&b| b == 0xab));
    // More than an mbuf holds: none, and nothing leaks.
    assert!(q.alloc(70_000).is_none());
    assert!(q.alloc(4096).is_none());

    // Sent like a received buffer: net_null takes it.
    let mut tx: Burst<_> = Burst::new();
    tx.push(m);
    q.tx_burst(&mut tx);
    assert!(tx.is_empty(), "net_null refused the frame");

    // Dropped buffers go back to the pool: many more allocations than it
    // holds all succeed.
    for i in 0..5000 {
        let m = q.alloc(60).unwrap_or_else(|| panic!("pool empty at {i}"));
        drop(m);
    }
    drop(queues);
    drop(port);
}
