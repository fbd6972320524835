//! Issue 8, defects 5 and 14: traffic that must not be translated is dropped
//! under a named reason, while the normal traffic still passes.
//!
//! - packets from natrix's own addresses (a frontend's or the appliance's):
//!   `own-source` (hairpinning is not supported);
//! - translated traffic to a martian destination: `martian-destination`;
//! - frames not sent to natrix's MAC (ports run promiscuous), or broadcast
//!   other than ARP: `not-our-mac`;
//! - in two-arm, packets from a backend's address and port arriving on the
//!   public port: `backend-on-public`;
//! - in one-arm, on a Maglev rule too, a backend's RST, data or ICMP error
//!   for a client with no connection: `return-no-flow`, `icmp-no-flow`.
//!
//! Every packet goes through [`Lb::expect`], which also checks that it is
//! counted once (rx == sent + dropped, the named drop counter by one).

mod support;

use natrix::dataplane::counters::DropReason::*;
use natrix::dataplane::Verdict;
use natrix::ports::{Burst, HeapBuf, PacketBuf, Port};
use std::net::Ipv4Addr;
use support::translation::*;

/// A backend of the WEB pool, and a reply of it to `to`.
fn backend_reply(lb: &Lb, to: (Ipv4Addr, u16)) -> Pkt {
    let be = pool(&lb.snap(), WEB, 6)[0];
    Pkt::tcp(be, to, TCP_ACK).macs(BE_SIDE_MAC, LB_MAC)
}

/// A reply of the first web backend on a connection a client opened (from
/// port `from` on), which natrix translates.
fn tracked_reply(lb: &mut Lb, from: u16) -> Pkt {
    let be = pool(&lb.snap(), WEB, 6)[0];
    let to = client_to(&lb.snap(), be, 6, (CLIENT, from));
    let p = backend_reply(lb, to);
    lb.open(&p);
    p
}

#[test]
fn own_source_is_dropped() {
    let mut lb = Lb::new();
    let snap = lb.snap();
    for (what, src) in [
        ("SYN from the frontend address", (WEB.0, 40000)),
        ("SYN from another frontend address", (TLS.0, 40001)),
        ("SYN from the appliance address", (LB_ADDR, 40002)),
        ("SYN from the second appliance address", (LB_ADDR2, 40003)),
    ] {
        let syn = Pkt::tcp(src, WEB, TCP_SYN);
        lb.expect(what, &syn.build(), &Want::Drop(OwnSource));
        // Not even a mid-stream segment (maglev mode would hash it).
        let ack = Pkt::tcp(src, TLS, TCP_ACK);
        lb.expect(what, &ack.build(), &Want::Drop(OwnSource));
    }
    let udp = Pkt::udp((LB_ADDR, 5353), DNS);
    lb.expect(
        "UDP from the appliance",
        &udp.build(),
        &Want::Drop(OwnSource),
    );
    let nat = Pkt::tcp((WEB.0, 40010), SSH, TCP_SYN);
    lb.expect(
        "NAT rule from a frontend",
        &nat.build(),
        &Want::Drop(OwnSource),
    );
    let ping = Pkt::echo_request(LB_ADDR, LB_ADDR2, 1, 1);
    lb.expect(
        "echo request from the appliance",
        &ping.build(),
        &Want::Drop(OwnSource),
    );
    assert_eq!(lb.dp.active_connections(), 0);
    // The normal traffic still passes.
    let syn = Pkt::tcp((CLIENT, 40020), WEB, TCP_SYN);
    lb.expect("client SYN", &syn.build(), &inbound(&snap, &syn));
    let nat = Pkt::tcp((CLIENT, 40021), SSH, TCP_SYN);
    lb.expect("client NAT rule", &nat.build(), &inbound(&snap, &nat));
}

#[test]
fn martian_destinations_are_dropped() {
    let mut lb = Lb::new();
    let snap = lb.snap();
    for (what, dst) in [
        ("reply to 255.255.255.255", Ipv4Addr::BROADCAST),
        ("reply to 224.0.0.1", Ipv4Addr::new(224, 0, 0, 1)),
        ("reply to 239.1.2.3", Ipv4Addr::new(239, 1, 2, 3)),
        ("reply to 240.0.0.1", Ipv4Addr::new(240, 0, 0, 1)),
        ("reply to 127.0.0.1", Ipv4Addr::new(127, 0, 0, 1)),
        ("reply to 0.1.2.3", Ipv4Addr::new(0, 1, 2, 3)),
    ] {
        let p = backend_reply(&lb, (dst, 5000));
        lb.expect(what, &p.build(), &Want::Drop(MartianDestination));
    }
    let p = tracked_reply(&mut lb, 5000);
    lb.expect("reply to a client", &p.build(), &returning(&snap, &p));
    // The same from a client port with no connection: spoofed, or late.
    let p = backend_reply(&lb, (p.dst, p.dport() + 1));
    lb.expect(
        "reply for no connection",
        &p.build(),
        &Want::Drop(ReturnNoFlow),
    );
}

#[test]
fn frames_to_other_macs_are_dropped() {
    const OTHER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x99, 0x99];
    let mut lb = Lb::new();
    let snap = lb.snap();
    let syn = Pkt::tcp((CLIENT, 41000), WEB, TCP_SYN);
    let arp_req = arp([0xff; 6], 1, PEER_MAC, CLIENT, [0; 6], LB_ADDR);
    let arp_reply = arp(PEER_MAC, 2, LB_MAC, LB_ADDR, PEER_MAC, CLIENT);
    // Without the filter (replay, captures made anywhere): taken.
    let other = Pkt::tcp((CLIENT, 41001), WEB, TCP_SYN).macs(PEER_MAC, OTHER_MAC);
    let mut want_other = other.clone();
    want_other.src_mac = PEER_MAC;
    want_other.dst_mac = LB_MAC;
    lb.expect(
        "foreign MAC, filter off",
        &other.build(),
        &inbound(&snap, &want_other),
    );
    // Real ports run promiscuous: the filter is on.
    lb.dp.set_mac_filter(true);
    let other = Pkt::tcp((CLIENT, 41002), WEB, TCP_SYN).macs(PEER_MAC, OTHER_MAC);
    lb.expect("foreign MAC", &other.build(), &Want::Drop(NotOurMac));
    let bcast = Pkt::tcp((CLIENT, 41003), WEB, TCP_SYN).macs(PEER_MAC, [0xff; 6]);
    lb.expect("broadcast TCP", &bcast.build(), &Want::Drop(NotOurMac));
    let mcast = Pkt::udp((CLIENT, 41004), DNS).macs(PEER_MAC, [0x01, 0, 0x5e, 0, 0, 1]);
    lb.expect("multicast UDP", &mcast.build(), &Want::Drop(NotOurMac));
    let reply = backend_reply(&lb, (CLIENT, 41005)).macs(BE_SIDE_MAC, OTHER_MAC);
    lb.expect("foreign MAC reply", &reply.build(), &Want::Drop(NotOurMac));
    let mut arp_other = arp_req.clone();
    arp_other[..6].copy_from_slice(&OTHER_MAC);
    lb.expect("ARP to another MAC", &arp_other, &Want::Drop(NotOurMac));
    // The normal traffic still passes.
    lb.expect("SYN to our MAC", &syn.build(), &inbound(&snap, &syn));
    let reply = tracked_reply(&mut lb, 41005);
    lb.expect(
        "reply to our MAC",
        &reply.build(),
        &returning(&snap, &reply),
    );
    lb.expect(
        "broadcast ARP request",
        &arp_req,
        &Want::Exact(Verdict::Reply, arp_reply),
    );
}

#[test]
fn backend_traffic_on_the_public_arm_is_dropped() {
    let mut lb = Lb::new();
    let snap = lb.snap();
    lb.dp.set_public_arm(true);
    let spoof = backend_reply(&lb, (CLIENT, 42000));
    lb.expect(
        "backend-sourced on the public arm",
        &spoof.build(),
        &Want::Drop(BackendOnPublic),
    );
    let mut rst = backend_reply(&lb, (CLIENT, 42001));
    rst = Pkt::tcp((rst.src, rst.sport()), (CLIENT, 42001), TCP_RST).macs(PEER_MAC, LB_MAC);
    lb.expect(
        "spoofed RST on the public arm",
        &rst.build(),
        &Want::Drop(BackendOnPublic),
    );
    let bcast = backend_reply(&lb, (Ipv4Addr::BROADCAST, 42002));
    lb.expect(
        "spoofed to broadcast on the public arm",
        &bcast.build(),
        &Want::Drop(BackendOnPublic),
    );
    // Clients still come in on the public arm.
    let syn = Pkt::tcp((CLIENT, 42003), WEB, TCP_SYN);
    lb.expect(
        "client SYN on the public arm",
        &syn.build(),
        &inbound(&snap, &syn),
    );
    // The private arm (and one-arm) still takes the backends' replies.
    lb.dp.set_public_arm(false);
    let reply = tracked_reply(&mut lb, 42000);
    lb.expect(
        "reply on the private arm",
        &reply.build(),
        &returning(&snap, &reply),
    );
}

/// A port fed from a list of frames that keeps what it transmits.
struct ListPort {
    rx: std::collections::VecDeque<Vec<u8>>,
    sent: Vec<Vec<u8>>,
}

impl Port for ListPort {
    type Buf = HeapBuf;
    fn rx_burst(&mut self, rx: &mut Burst<Self::Buf>) {
        while !rx.is_full() {
            let Some(f) = self.rx.pop_front() else { break };
            let mut b = HeapBuf::new(2048);
            assert!(b.fill(&f));
            rx.push(b);
        }
    }
    fn tx_burst(&mut self, tx: &mut Burst<Self::Buf>) {
        self.sent.extend(tx.drain(..).map(|b| b.data().to_vec()));
    }
    fn clock(&self) -> u32 {
        0
    }
    fn is_exhausted(&self) -> bool {
        self.rx.is_empty()
    }
}

#[test]
fn two_arm_worker_drops_backend_traffic_on_its_public_port() {
    use natrix::config::Config;
    use natrix::control::plane::ControlPlane;
    use natrix::dataplane::counters::SharedCounters;
    use natrix::dataplane::worker::Worker;
    use natrix::dataplane::Dataplane;
    use std::sync::Arc;

    let cfg = Config::parse(support::fixtures::TWO_ARM, "t.toml").unwrap();
    let cp = ControlPlane::new(cfg).unwrap();
    let dp = Dataplane::new(cp.cell(), 1024, 0);
    // A backend's reply (as in tests/two_arm.rs), from natrix's gateway side.
    let reply = |src_mac: [u8; 6]| {
        let mut v = Vec::new();
        etherparse::PacketBuilder::ethernet2(src_mac, [2, 0, 0, 0, 0, 1])
            .ipv4([198, 19, 1, 11], [198, 18, 200, 1], 64)
            .tcp(8080, 40000, 1, 1000)
            .rst()
            .write(&mut v, &[])
            .unwrap();
        v
    };
    // The client's SYN opens the connection the replies claim.
    let mut syn = Vec::new();
    etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 0xfe], [2, 0, 0, 0, 0, 1])
        .ipv4([198, 18, 200, 1], [198, 18, 1, 10], 64)
        .tcp(40000, 80, 1, 1000)
        .syn()
        .write(&mut syn, &[])
        .unwrap();
    let public = ListPort {
        rx: vec![syn, reply([2, 0, 0, 0, 0, 0xfe])].into(),
        sent: Vec::new(),
    };
    let private = ListPort {
        rx: vec![reply([2, 0, 0, 0, 1, 0x0b])].into(),
        sent: Vec::new(),
    };
    let mut w = Worker::two_arm(dp, public, private, Arc::new(SharedCounters::new(16)));
    w.run(&std::sync::atomic::AtomicBool::new(false));
    assert_eq!(w.port.sent.len(), 1, "only the private side's reply");
    assert_eq!(w.private.as_ref().unwrap().sent.len(), 1, "the SYN");
    assert_eq!(w.dp.counters.rx, 3);
    assert_eq!(w.dp.counters.tx, 2);
    assert_eq!(w.dp.counters.drops[BackendOnPublic as usize], 1);
}

/// One-arm (the default), a Maglev rule per address family over a pool of
/// three backends.
const MAGLEV: &str = r#"
[appliance]
mac = "02:00:00:00:00:01"
addresses = ["198.18.0.1", "2001:db8::1"]
gateway_mac = "02:00:00:00:00:fe"
seed = 7

[[frontend]]
name = "web4"
address = "198.18.1.10"
port = 80
protocol = "tcp"

[[frontend]]
name = "web6"
address = "2001:db8::10"
port = 80
protocol = "tcp"

[[pool]]
name = "web4"
next_hop_mac = "02:00:00:00:01:fe"

[[pool.backend]]
address = "198.19.1.11"
port = 8080

[[pool.backend]]
address = "198.19.1.12"
port = 8080

[[pool.backend]]
address = "198.19.1.13"
port = 8081

[[pool]]
name = "web6"
next_hop_mac = "02:00:00:00:01:fe"

[[pool.backend]]
address = "2001:db8:1::11"
port = 8080

[[pool.backend]]
address = "2001:db8:1::12"
port = 8080

[[pool.backend]]
address = "2001:db8:1::13"
port = 8081

[[rule]]
frontend = "web4"
pool = "web4"
mode = "maglev"

[[rule]]
frontend = "web6"
pool = "web6"
mode = "maglev"
"#;

/// A TCP segment between two endpoints of one family, built by etherparse.
#[derive(Clone, Copy)]
enum Seg {
    Syn,
    Ack,
    Rst,
    Data,
}

type Ep = (std::net::IpAddr, u16);

fn seg(macs: ([u8; 6], [u8; 6]), src: Ep, dst: Ep, kind: Seg) -> Vec<u8> {
    use std::net::IpAddr::{V4, V6};
    let b = etherparse::PacketBuilder::ethernet2(macs.0, macs.1);
    let b = match (src.0, dst.0) {
        (V4(s), V4(d)) => b.ipv4(s.octets(), d.octets(), 64),
        (V6(s), V6(d)) => b.ipv6(s.octets(), d.octets(), 64),
        _ => unreachable!("one family"),
    };
    let b = b.tcp(src.1, dst.1, 0x3c00_0001, 64000);
    let (b, payload): (_, &[u8]) = match kind {
        Seg::Syn => (b.syn(), &[]),
        Seg::Ack => (b.ack(1), &[]),
        Seg::Rst => (b.rst().ack(1), &[]),
        Seg::Data => (b.ack(1).psh(), b"spoofed data"),
    };
    let mut out = Vec::new();
    b.write(&mut out, payload).unwrap();
    out
}

/// A port-unreachable error from `from` to `client`, quoting the client's
/// packet as backend `be` received it.
fn unreachable_from(from: Ep, be: Ep, client: Ep) -> Vec<u8> {
    use etherparse::{icmpv4, icmpv6, Icmpv4Type, Icmpv6Type};
    use std::net::IpAddr::{V4, V6};
    let quoted = seg((LB_MAC, BE_SIDE_MAC), client, be, Seg::Data)[14..].to_vec();
    let b = etherparse::PacketBuilder::ethernet2(BE_SIDE_MAC, LB_MAC);
    let mut out = Vec::new();
    match (from.0, client.0) {
        (V4(s), V4(d)) => b
            .ipv4(s.octets(), d.octets(), 64)
            .icmpv4(Icmpv4Type::DestinationUnreachable(
                icmpv4::DestUnreachableHeader::Port,
            ))
            .write(&mut out, &quoted),
        (V6(s), V6(d)) => b
            .ipv6(s.octets(), d.octets(), 64)
            .icmpv6(Icmpv6Type::DestinationUnreachable(
                icmpv6::DestUnreachableCode::Port,
            ))
            .write(&mut out, &quoted),
        _ => unreachable!("one family"),
    }
    .unwrap();
    out
}

/// Issue 8, defect 5 on a Maglev rule in one-arm, where a host on the
/// public side can send from a backend's address and port: a RST, a data
/// segment or an ICMP error from a backend (each of the pool's, and so the
/// one the rule's hash gives the client) to a client that has no connection
/// is dropped, as `return-no-flow` or `icmp-no-flow`. A connection the
/// client opened, or one whose client sends mid-stream (Maglev serves it
/// and creates its entry), takes its own backend's replies.
fn maglev_spoofs(workers: usize) {
    use natrix::config::Config;
    use natrix::control::plane::ControlPlane;
    use natrix::dataplane::counters::Event;
    use std::net::IpAddr;

    let cp = ControlPlane::new(Config::parse(MAGLEV, "maglev.toml").unwrap()).unwrap();
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    let families = [
        (
            (ip("198.18.1.10"), 80),
            ["198.19.1.11", "198.19.1.12", "198.19.1.13"],
            "198.18.200.",
        ),
        (
            (ip("2001:db8::10"), 80),
            ["2001:db8:1::11", "2001:db8:1::12", "2001:db8:1::13"],
            "2001:db8:ffff::",
        ),
    ];
    let mut frames: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut at = 1000u64;
    let mut push = |f: Vec<u8>| {
        frames.push((at, f));
        at += 1;
    };
    let (mut spoofs, mut errors, mut passes) = (0u64, 0u64, 0u64);
    for (fe, backends, prefix) in &families {
        let backends: Vec<Ep> = backends
            .iter()
            .zip([8080, 8080, 8081])
            .map(|(a, p)| (ip(a), p))
            .collect();
        // Clients with no connection: every backend's RST, data and error
        // to them is spoofed.
        for i in 1..=8u16 {
            let c = (ip(&format!("{prefix}{i}")), 40000 + i);
            for &be in &backends {
                push(seg((PEER_MAC, LB_MAC), be, c, Seg::Rst));
                push(seg((PEER_MAC, LB_MAC), be, c, Seg::Data));
                spoofs += 2;
                push(unreachable_from(be, be, c));
                errors += 1;
            }
        }
        // A connection the client opens, and one a client joins mid-stream:
        // each takes the replies of its own backend, of the three.
        for (i, opener) in [(50u16, Seg::Syn), (51, Seg::Ack)] {
            let c = (ip(&format!("{prefix}{i}")), 41000);
            push(seg((PEER_MAC, LB_MAC), c, *fe, opener));
            for &be in &backends {
                push(seg((BE_SIDE_MAC, LB_MAC), be, c, Seg::Data));
            }
            passes += 2;
            spoofs += 2;
        }
    }
    let n = frames.len() as u64;
    let (s, sent) = replay_frames(&cp, frames, workers, "maglev-spoofs");
    let ctx = format!("{workers} workers");
    assert_eq!(s.counters.rx, n, "{ctx}");
    assert_eq!(
        s.counters.drops[ReturnNoFlow as usize], spoofs,
        "{ctx}: spoofed backend segments"
    );
    assert_eq!(
        s.counters.drops[IcmpNoFlow as usize], errors,
        "{ctx}: errors about no connection"
    );
    assert_eq!(s.dropped(), spoofs + errors, "{ctx}: other drops");
    assert_eq!(sent.len() as u64, passes, "{ctx}: sent");
    assert_eq!(s.counters.event_count(Event::MidstreamHashed), 2, "{ctx}");
}

#[test]
fn spoofed_backend_traffic_on_a_maglev_rule_is_dropped_with_one_worker() {
    maglev_spoofs(1);
}

#[test]
fn spoofed_backend_traffic_on_a_maglev_rule_is_dropped_with_two_workers() {
    maglev_spoofs(2);
}
