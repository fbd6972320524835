//! SIIT test helpers: a configuration with IPv6 frontends over IPv4 pools,
//! both families' frames built by etherparse (never by natrix's own code),
//! and workers that hand frames to their owner as `natrix replay` does.

use super::translation::Lb;
use etherparse::{IpHeaders, Ipv4Extensions, Ipv4Header, Ipv6Header, PacketBuilder, TcpHeader};
use natrix::dataplane::counters::DropReason;
use natrix::dataplane::{Dataplane, Verdict};
use natrix::ports::{HeapBuf, PacketBuf, BURST};
use std::net::{Ipv4Addr, Ipv6Addr};

pub const CONFIG: &str = r#"
[appliance]
mac = "02:00:00:00:00:01"
addresses = ["198.18.0.1", "2001:db8::1"]
gateway_mac = "02:00:00:00:00:fe"
siit_addresses = ["198.19.0.100", "198.19.0.101"]

[[frontend]]
name = "web6"
address = "2001:db8::10"
port = 80
protocol = "tcp"
siit = true

[[frontend]]
name = "dns6"
address = "2001:db8::10"
port = 53
protocol = "udp"
siit = true

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
port = 8080

[[pool]]
name = "dns4"
next_hop_mac = "02:00:00:00:01:fe"

[[pool.backend]]
address = "198.19.1.21"
port = 5353

[[pool.backend]]
address = "198.19.1.22"
port = 5353

[[rule]]
frontend = "web6"
pool = "web4"

[[rule]]
frontend = "dns6"
pool = "dns4"
mode = "maglev"
"#;

pub const BE_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x01, 0xfe];

pub fn sources() -> [Ipv4Addr; 2] {
    [
        Ipv4Addr::new(198, 19, 0, 100),
        Ipv4Addr::new(198, 19, 0, 101),
    ]
}

pub fn fe() -> [u8; 16] {
    "2001:db8::10".parse::<Ipv6Addr>().unwrap().octets()
}

pub fn client(i: u32) -> [u8; 16] {
    let mut c = "2001:db8:ffff:5a00::".parse::<Ipv6Addr>().unwrap().octets();
    c[12..].copy_from_slice(&i.to_be_bytes());
    c
}

pub fn lb() -> Lb {
    Lb::with(CONFIG, 1 << 12)
}

/// The transport of a test packet.
#[derive(Clone, Copy)]
pub enum T {
    /// A SYN (with an MSS option), or data with ACK and PSH.
    Tcp {
        syn: bool,
        seq: u32,
    },
    Udp,
}

/// A TCP header as both families' frames carry it.
pub fn tcp_header(sport: u16, dport: u16, syn: bool, seq: u32) -> TcpHeader {
    let mut t = TcpHeader::new(sport, dport, seq, 64240);
    if syn {
        t.syn = true;
        t.set_options_raw(&[0x02, 0x04, 0x05, 0x8c]).unwrap();
    } else {
        t.ack = true;
        t.psh = true;
        t.acknowledgment_number = 0x0bad_cafe;
    }
    t
}

/// An IPv6 frame, every field and checksum by etherparse.
pub fn v6(
    macs: ([u8; 6], [u8; 6]),
    src: ([u8; 16], u16),
    dst: ([u8; 16], u16),
    hops: u8,
    tc: u8,
    t: T,
    payload: &[u8],
) -> Vec<u8> {
    let ip = Ipv6Header {
        traffic_class: tc,
        hop_limit: hops,
        source: src.0,
        destination: dst.0,
        ..Default::default()
    };
    let step = PacketBuilder::ethernet2(macs.0, macs.1).ip(IpHeaders::Ipv6(ip, Default::default()));
    let mut out = Vec::new();
    match t {
        T::Tcp { syn, seq } => step
            .tcp_header(tcp_header(src.1, dst.1, syn, seq))
            .write(&mut out, payload)
            .unwrap(),
        T::Udp => step.udp(src.1, dst.1).write(&mut out, payload).unwrap(),
    }
    out
}

/// An IPv4 frame as a translator writes it (identification 0, DF set)
/// or a backend sends it; every field and checksum by etherparse.
pub fn v4(
    macs: ([u8; 6], [u8; 6]),
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
    ttl: u8,
    t: T,
    payload: &[u8],
) -> Vec<u8> {
    let ip = Ipv4Header {
        time_to_live: ttl,
        identification: 0,
        dont_fragment: true,
        source: src.0.octets(),
        destination: dst.0.octets(),
        ..Default::default()
    };
    let step =
        PacketBuilder::ethernet2(macs.0, macs.1).ip(IpHeaders::Ipv4(ip, Ipv4Extensions::default()));
    let mut out = Vec::new();
    match t {
        T::Tcp { syn, seq } => step
            .tcp_header(tcp_header(src.1, dst.1, syn, seq))
            .write(&mut out, payload)
            .unwrap(),
        T::Udp => step.udp(src.1, dst.1).write(&mut out, payload).unwrap(),
    }
    out
}

/// The source and destination of an IPv4 frame without VLAN tags.
pub fn ends4(frame: &[u8]) -> ((Ipv4Addr, u16), (Ipv4Addr, u16)) {
    let a = |at: usize| Ipv4Addr::new(frame[at], frame[at + 1], frame[at + 2], frame[at + 3]);
    let p = |at: usize| u16::from_be_bytes([frame[at], frame[at + 1]]);
    ((a(26), p(34)), (a(30), p(36)))
}

/// Processes one frame at `dp`, as received or as handed over.
pub fn at(dp: &mut Dataplane, frame: &[u8], handed: bool) -> (Verdict, Vec<u8>) {
    let mut bufs = vec![HeapBuf::new(2048)];
    assert!(bufs[0].fill(frame));
    let mut verdicts = [Verdict::Drop(DropReason::TxFull); BURST];
    dp.set_handed(handed);
    dp.process(&mut bufs, &mut verdicts);
    dp.set_handed(false);
    (verdicts[0], bufs[0].data().to_vec())
}

/// `n` workers, as `natrix replay` runs them: a frame goes to the worker
/// it reaches first (0), which hands it to its owner.
pub struct Workers(pub Vec<Dataplane>);

impl Workers {
    pub fn new(lb: &Lb, n: usize) -> Workers {
        Workers(
            (0..n)
                .map(|i| {
                    let mut dp = Dataplane::new(lb.cp.cell(), 1 << 12, i);
                    dp.set_workers(n);
                    dp
                })
                .collect(),
        )
    }

    pub fn one(&mut self, frame: &[u8]) -> (Verdict, Vec<u8>) {
        match at(&mut self.0[0], frame, false) {
            (Verdict::Handoff(o), _) => at(&mut self.0[o as usize], frame, true),
            r => r,
        }
    }
}

pub fn icmp4(
    macs: ([u8; 6], [u8; 6]),
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ttl: u8,
    ty: etherparse::Icmpv4Type,
    quoted: &[u8],
) -> Vec<u8> {
    let ip = Ipv4Header {
        time_to_live: ttl,
        identification: 0,
        dont_fragment: true,
        source: src.octets(),
        destination: dst.octets(),
        ..Default::default()
    };
    let mut out = Vec::new();
    PacketBuilder::ethernet2(macs.0, macs.1)
        .ip(IpHeaders::Ipv4(ip, Ipv4Extensions::default()))
        .icmpv4(ty)
        .write(&mut out, quoted)
        .unwrap();
    out
}

pub fn icmp6(
    macs: ([u8; 6], [u8; 6]),
    src: [u8; 16],
    dst: [u8; 16],
    hops: u8,
    ty: etherparse::Icmpv6Type,
    quoted: &[u8],
) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv6(src, dst, hops)
        .icmpv6(ty)
        .write(&mut out, quoted)
        .unwrap();
    out
}
