//! The poll loop's port routing: one-arm sends everything back out its one
//! port; two-arm sends translated inbound packets to the private port, return
//! packets to the public port, and answers out the port they came from.

mod support;

use etherparse::PacketBuilder;
use natrix::config::Config;
use natrix::control::plane::ControlPlane;
use natrix::dataplane::counters::SharedCounters;
use natrix::dataplane::worker::Worker;
use natrix::dataplane::Dataplane;
use natrix::ports::{Burst, HeapBuf, PacketBuf, Port};
use std::collections::VecDeque;
use std::sync::Arc;

/// A port fed from a list of frames that keeps what it transmits.
struct ListPort {
    rx: VecDeque<Vec<u8>>,
    sent: Vec<Vec<u8>>,
}

impl ListPort {
    fn new(frames: Vec<Vec<u8>>) -> ListPort {
        ListPort {
            rx: frames.into(),
            sent: Vec::new(),
        }
    }
}

impl Port for ListPort {
    type Buf = HeapBuf;
    fn rx_burst(&mut self, rx: &mut Burst<HeapBuf>) {
        while !rx.is_full() {
            let Some(f) = self.rx.pop_front() else { break };
            let mut b = HeapBuf::new(2048);
            b.fill(&f);
            rx.push(b);
        }
    }
    fn tx_burst(&mut self, tx: &mut Burst<HeapBuf>) {
        self.sent.extend(tx.drain(..).map(|b| b.data().to_vec()));
    }
    fn clock(&self) -> u32 {
        0
    }
    fn is_exhausted(&self) -> bool {
        self.rx.is_empty()
    }
}

const CONFIG: &str = support::fixtures::TWO_ARM;

fn syn() -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 0xfe], [2, 0, 0, 0, 0, 1])
        .ipv4([198, 18, 200, 1], [198, 18, 1, 10], 64)
        .tcp(40000, 80, 1, 1000)
        .syn()
        .write(&mut v, &[])
        .unwrap();
    v
}

fn reply() -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 1, 0x0b], [2, 0, 0, 0, 0, 1])
        .ipv4([198, 19, 1, 11], [198, 18, 200, 1], 64)
        .tcp(8080, 40000, 1, 1000)
        .syn()
        .ack(2)
        .write(&mut v, &[])
        .unwrap();
    v
}

fn arp_request(target: [u8; 4], sender: [u8; 4]) -> Vec<u8> {
    let mut v = vec![0xff; 6];
    v.extend_from_slice(&[2, 0, 0, 0, 9, 9, 0x08, 0x06]);
    v.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 9, 9]);
    v.extend_from_slice(&sender);
    v.extend_from_slice(&[0; 6]);
    v.extend_from_slice(&target);
    v
}

fn dst_ip(f: &[u8]) -> [u8; 4] {
    [f[30], f[31], f[32], f[33]]
}

#[test]
fn two_arm_routes_each_direction_to_its_side() {
    let cp = ControlPlane::new(Config::parse(CONFIG, "t.toml").unwrap()).unwrap();
    let dp = Dataplane::new(cp.cell(), 1024, 0);
    let public = ListPort::new(vec![
        syn(),
        arp_request([198, 18, 1, 10], [198, 18, 200, 1]),
    ]);
    let private = ListPort::new(vec![
        reply(),
        arp_request([198, 19, 0, 1], [198, 19, 1, 11]),
    ]);
    let mut w = Worker::two_arm(dp, public, private, Arc::new(SharedCounters::new(16)));
    w.run(&std::sync::atomic::AtomicBool::new(false));
    let public = &w.port.sent;
    let private = &w.private.as_ref().unwrap().sent;
    assert_eq!(private.len(), 2, "inbound SYN and the private ARP answer");
    assert_eq!(dst_ip(&private[0]), [198, 19, 1, 11]);
    assert_eq!(&private[1][12..14], &[0x08, 0x06]);
    assert_eq!(
        public.len(),
        2,
        "the public ARP answer and the return packet"
    );
    assert!(public.iter().any(|f| f[12..14] == [0x08, 0x06]));
    assert!(public
        .iter()
        .any(|f| f.len() > 33 && dst_ip(f) == [198, 18, 200, 1]));
    assert_eq!(w.dp.counters.rx, 4);
    assert_eq!(w.dp.counters.tx, 4);
}

#[test]
fn one_arm_sends_everything_out_the_one_port() {
    let cp = ControlPlane::new(Config::parse(CONFIG, "t.toml").unwrap()).unwrap();
    let dp = Dataplane::new(cp.cell(), 1024, 0);
    let port = ListPort::new(vec![syn(), reply()]);
    let mut w = Worker::new(dp, port, Arc::new(SharedCounters::new(16)));
    w.run(&std::sync::atomic::AtomicBool::new(false));
    assert_eq!(w.port.sent.len(), 2);
    assert_eq!(dst_ip(&w.port.sent[0]), [198, 19, 1, 11]);
    assert_eq!(dst_ip(&w.port.sent[1]), [198, 18, 200, 1]);
}
