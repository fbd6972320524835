//! Every packet of a connection at one worker, its owner.
//!
//! A connection's state lives in one worker's flow table, so every packet
//! about it must reach that worker: the client's packets, the backend's
//! replies, and the ICMP errors about either. The owner is a function of the
//! client's address alone ([`owner`]), computed the same way wherever the
//! packet is seen: the client is the source of an inbound packet, the
//! destination of a return packet, and the far end of the header an ICMP
//! error quotes.
//!
//! A NIC's RSS (or the kernel's fanout, for `net_af_packet`) spreads packets
//! by hashes of its own, so the worker that receives a packet is often not
//! its owner. It then hands the packet over through a ring of [`Handoff`]:
//! one bounded lockless ring per ordered pair of workers, so each ring has
//! one producer and one consumer. The owner processes what it is handed as if
//! it had received it, and sends it on its own transmit queue. A packet is
//! handed over at most once: what a worker is handed it always processes.
//!
//! `natrix replay`'s software RSS places each frame at its owner directly
//! ([`client_of`]), so a replay hands over only frames whose owner its
//! snapshot could not tell (a backend added mid-replay).

use crate::dataplane::select::mix64;
use crate::dataplane::snapshot::{BackendStatus, ServiceKind, Snapshot};
use crate::wire::ethernet::{self, EtherType};
use crate::wire::{icmp, ipv4, IpProtocol};
use crossbeam::queue::ArrayQueue;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Packets each ring holds. At 32 packets a burst, 32 bursts: a worker
/// stalled for that long loses what does not fit (`handoff-full`).
pub const RING_SIZE: usize = 1024;

/// Mixed into the client address, so that the owner is not the low bits of
/// a hash used elsewhere (the flow table's, the selection's).
const OWNER_SEED: u64 = 0x6f77_6e65_7200_0001;

/// The owner of a client's connections among `workers` workers. Every
/// worker, and replay's software RSS, computes it the same way.
#[inline(always)]
pub fn owner(client: u32, workers: usize) -> usize {
    let h = mix64(client as u64 ^ OWNER_SEED) >> 32;
    ((h * workers as u64) >> 32) as usize
}

/// One packet in a ring: the buffer, the clock second it was received at,
/// and whether it arrived on the public port of a two-arm worker.
pub struct Handed<B> {
    pub buf: B,
    pub clock: u32,
    pub public_arm: bool,
}

/// The rings between `workers` workers, and how many of them still receive
/// from their ports.
pub struct Handoff<B> {
    workers: usize,
    /// A full ring makes the sender wait (processing what it is handed
    /// meanwhile) rather than drop: for replays, whose result must not
    /// depend on how the threads were scheduled.
    lossless: bool,
    /// Ring `from * workers + to`.
    rings: Vec<ArrayQueue<Handed<B>>>,
    receiving: AtomicUsize,
}

impl<B> Handoff<B> {
    /// Rings that drop what does not fit (`handoff-full`), as a NIC's full
    /// receive queue would: a stalled worker does not stall the others.
    pub fn new(workers: usize) -> Handoff<B> {
        Self::build(workers, false)
    }

    /// Rings whose senders wait for room instead, processing what they are
    /// handed while they wait (so two workers waiting on each other both
    /// make progress): nothing is dropped, whatever the scheduling.
    pub fn lossless(workers: usize) -> Handoff<B> {
        Self::build(workers, true)
    }

    fn build(workers: usize, lossless: bool) -> Handoff<B> {
        let workers = workers.max(1);
        Handoff {
            workers,
            lossless,
            rings: (0..workers * workers)
                .map(|_| ArrayQueue::new(RING_SIZE))
                .collect(),
            receiving: AtomicUsize::new(workers),
        }
    }

    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Whether senders wait for room ([`Handoff::lossless`]).
    pub fn is_lossless(&self) -> bool {
        self.lossless
    }

    /// Hands `p` from worker `from` to worker `to`; gives it back if the
    /// ring is full.
    #[inline(always)]
    pub fn push(&self, from: usize, to: usize, p: Handed<B>) -> Result<(), Handed<B>> {
        self.rings[from * self.workers + to].push(p)
    }

    /// The next packet worker `from` handed to worker `to`.
    #[inline(always)]
    pub fn pop(&self, from: usize, to: usize) -> Option<Handed<B>> {
        self.rings[from * self.workers + to].pop()
    }

    /// Says that a worker will receive nothing more from its ports, so hands
    /// over nothing more (it processes what it is handed, and never hands
    /// that on). Once each of `workers` has said so, what the rings hold is
    /// all there will ever be.
    pub fn finish(&self) {
        self.receiving.fetch_sub(1, Ordering::AcqRel);
    }

    /// Whether every worker has called [`Handoff::finish`]: every push has
    /// happened, and is seen by a `pop` after this returns true.
    pub fn all_finished(&self) -> bool {
        self.receiving.load(Ordering::Acquire) == 0
    }
}

/// The client whose connection a frame belongs to, for the software RSS of
/// `natrix replay`: the source of a packet to a load-balanced frontend, the
/// destination of a packet from one of its backends, the far end of the
/// header that an ICMP error about either quotes; for an IP fragment, its
/// source if sent to a frontend or appliance address, its destination if
/// sent by a backend. `None` for everything
/// else (ARP, echo, inbound NAT rules, which keep no state, and what natrix
/// drops), which may go to any worker. Not for the data path: it parses the
/// frame again.
pub fn client_of(snap: &Snapshot, frame: &[u8]) -> Option<u32> {
    let eth = ethernet::Frame::new_checked(frame).ok()?;
    let (l3, ethertype) = eth.l3_offset().ok()?;
    if ethertype == EtherType::Ipv6 {
        return super::v6::client_of6(snap, frame, l3);
    }
    if ethertype != EtherType::Ipv4 {
        return None;
    }
    let ip = ipv4::Packet::new_checked(&frame[l3..]).ok()?;
    let (src, dst) = (ip.src_addr_raw(), ip.dst_addr_raw());
    if ip.is_fragment() {
        // As the data path tells a fragment's client (`fragment`): later
        // fragments carry no ports, and every fragment of a datagram, NAT
        // rules' included, goes to the owner.
        if snap.is_local(dst) {
            return Some(src);
        }
        let from_backend = snap
            .backends
            .iter()
            .any(|b| b.addr_raw == src && b.status != BackendStatus::Removed);
        return from_backend.then_some(dst);
    }
    let l4 = &frame[l3 + ip.header_len() as usize..l3 + ip.total_len() as usize];
    let stateful = |service: u16| snap.services[service as usize].kind != ServiceKind::Nat;
    let (src, dst, proto) = (ip.src_addr_raw(), ip.dst_addr_raw(), ip.protocol());
    match proto {
        IpProtocol::Tcp | IpProtocol::Udp if l4.len() >= 4 => {
            let sport = u16::from_be_bytes([l4[0], l4[1]]);
            let dport = u16::from_be_bytes([l4[2], l4[3]]);
            if let Some(s) = snap.frontend(dst, dport, proto) {
                return stateful(s).then_some(src);
            }
            let be = snap.return_backend(src, sport, proto)?;
            let service = snap.backends[be as usize].service;
            if snap.services[service as usize].siit {
                // To a SIIT source: the owner of its port.
                return Some(super::siit::owner_input(dport));
            }
            stateful(service).then_some(dst)
        }
        IpProtocol::Icmp => {
            let q = icmp::Quoted::parse(l4)?;
            if let Some(s) = snap.frontend(q.src, q.sport, q.proto) {
                return stateful(s).then_some(q.dst);
            }
            let be = snap.return_backend(q.dst, q.dport, q.proto)?;
            let service = snap.backends[be as usize].service;
            if snap.services[service as usize].siit {
                return Some(super::siit::owner_input(q.sport));
            }
            stateful(service).then_some(q.src)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_is_in_range_and_spreads() {
        for workers in 1..=8 {
            let mut seen = vec![0u32; workers];
            for c in 0..4096u32 {
                let o = owner(0xc612_0000 + c, workers);
                assert!(o < workers);
                seen[o] += 1;
            }
            // 4096 clients over at most 8 workers: each gets a fair share.
            for n in seen {
                assert!(n as usize > 4096 / workers / 2, "{workers} workers");
            }
        }
    }

    #[test]
    fn rings_are_per_pair_and_bounded() {
        let h: Handoff<u32> = Handoff::new(2);
        let p = |buf| Handed {
            buf,
            clock: 7,
            public_arm: false,
        };
        assert!(h.push(0, 1, p(1)).is_ok());
        assert!(h.pop(1, 0).is_none());
        assert_eq!(h.pop(0, 1).map(|p| (p.buf, p.clock)), Some((1, 7)));
        for i in 0..RING_SIZE as u32 {
            assert!(h.push(1, 0, p(i)).is_ok());
        }
        assert_eq!(h.push(1, 0, p(9)).err().map(|p| p.buf), Some(9));
        assert!(!h.all_finished());
        h.finish();
        h.finish();
        assert!(h.all_finished());
    }
}
