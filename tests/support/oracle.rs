//! The oracle of the burst fuzzer (`fuzz/`) and of `tests/burst_oracle.rs`.
//! An input is a run of records, each a big-endian `u16` length and that
//! many bytes of an Ethernet frame; every 32
//! frames make one burst, and the clock moves on one second per burst. The
//! frames go through one `Dataplane` built from the translation tests'
//! configuration (every mode, NAT rules, a pool of drained backends), with
//! IPv6 frontends, pools and a NAT rule added ([`IPV6`]).
//!
//! On every burst it checks:
//! 1. nothing panics;
//! 2. packets in = packets out + drops, and each drop reason's counter moved
//!    by exactly the number of packets dropped under it;
//! 3. every frame sent has a valid IPv4 header checksum (IPv6: consistent
//!    lengths) and, when it holds a whole datagram whose TCP, UDP, ICMP or
//!    ICMPv6 checksum was valid on the way in,
//!    a valid one on the way out (RFC 1071 sums, written here, not natrix's
//!    own; natrix patches checksums and does not verify them, so a damaged
//!    one stays damaged);
//! 4. nothing is sent that no rule allows: toward the private side only to a
//!    configured backend, toward the public side and as a reply only from
//!    one of natrix's own addresses, and nothing but IPv4, IPv6 and ARP at
//!    all.

use natrix::config::Config;
use natrix::control::plane::ControlPlane;
use natrix::dataplane::counters::DropReason;
use natrix::dataplane::snapshot::Snapshot;
use natrix::dataplane::{Dataplane, Verdict};
use natrix::ports::{HeapBuf, PacketBuf, BURST};
use std::sync::{Arc, OnceLock};

/// The configuration every input runs against: the translation tests'
/// and [`IPV6`].
const CONFIG: &str = include_str!("../fixtures/translation.toml");

/// IPv6 frontends (TCP 80 over three backends, UDP 53 by Maglev, a NAT
/// rule on 2222) added to [`CONFIG`], and an IPv6 appliance address.
pub const IPV6: &str = concat!(
    r#"
[[frontend]]
name = "web6"
address = "2001:db8::10"
port = 80
protocol = "tcp"

[[frontend]]
name = "dns6"
address = "2001:db8::10"
port = 53
protocol = "udp"

[[frontend]]
name = "ssh6"
address = "2001:db8::10"
port = 2222
protocol = "tcp"

"#,
    include_str!("../fixtures/ipv6_pools.toml"),
    r#"
[[rule]]
frontend = "web6"
pool = "web6"

[[rule]]
frontend = "dns6"
pool = "dns6"
mode = "maglev"

[[nat_rule]]
frontend = "ssh6"
address = "2001:db8:1::22"
port = 22
mac = "02:00:00:00:01:16"
"#
);

/// SIIT frontends (TCP 80 and UDP 53 of 2001:db8::64, over IPv4 pools)
/// added to [`CONFIG`] and [`IPV6`], and the SIIT address 198.19.0.100.
pub const SIIT: &str = r#"
[[frontend]]
name = "web64"
address = "2001:db8::64"
port = 80
protocol = "tcp"
siit = true

[[frontend]]
name = "dns64"
address = "2001:db8::64"
port = 53
protocol = "udp"
siit = true

[[pool]]
name = "web64"
next_hop_mac = "02:00:00:00:01:fe"

[[pool.backend]]
address = "198.19.64.11"
port = 8080

[[pool.backend]]
address = "198.19.64.12"
port = 8080

[[pool]]
name = "dns64"
next_hop_mac = "02:00:00:00:01:fe"

[[pool.backend]]
address = "198.19.64.21"
port = 5353

[[rule]]
frontend = "web64"
pool = "web64"

[[rule]]
frontend = "dns64"
pool = "dns64"
mode = "maglev"
"#;

/// Flow-table size: small, so that inputs reach the table-full paths.
const FLOWS: u32 = 1024;

/// Largest frame a record may hold (a jumbo-free Ethernet frame and tags).
const MAX_FRAME: usize = 1600;

fn control_plane() -> &'static ControlPlane {
    static CP: OnceLock<ControlPlane> = OnceLock::new();
    CP.get_or_init(|| {
        let text = CONFIG.replace(
            r#"addresses = ["198.18.0.1", "198.18.0.2"]"#,
            "addresses = [\"198.18.0.1\", \"198.18.0.2\", \"2001:db8::1\"]\nsiit_addresses = [\"198.19.0.100\"]",
        ) + IPV6
            + SIIT;
        let config = Config::parse(&text, "tests/fixtures/translation.toml + IPv6 + SIIT")
            .expect("the fuzzer's configuration is valid");
        ControlPlane::new(config).expect("the fuzzer's control plane builds")
    })
}

/// A data path like the one each input meets (worker 0, the same table
/// size), for building traffic that depends on its choices (SIIT's
/// source ports).
pub fn model() -> Dataplane {
    Dataplane::new(control_plane().cell(), FLOWS, 0)
}

/// Splits `data` into frames: a `u16` length, then the frame.
pub fn frames(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while data.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([data[0], data[1]])) % (MAX_FRAME + 1);
        data = &data[2..];
        let len = len.min(data.len());
        out.push(&data[..len]);
        data = &data[len..];
    }
    out
}

/// The input that holds `frames` (each cut to the largest frame a record holds).
pub fn input<'a>(frames: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for f in frames {
        let f = &f[..f.len().min(MAX_FRAME)];
        out.extend_from_slice(&(f.len() as u16).to_be_bytes());
        out.extend_from_slice(f);
    }
    out
}

/// Runs one input through a fresh data path and checks the oracle; panics
/// (which the fuzzer reports) on any breach.
pub fn check(data: &[u8]) {
    let cp = control_plane();
    let cell = cp.cell();
    let snap: Arc<Snapshot> = cell.load();
    let mut dp = Dataplane::new(cell, FLOWS, 0);
    let frames = frames(data);
    for (round, burst) in frames.chunks(BURST).enumerate() {
        let mut bufs: Vec<HeapBuf> = burst
            .iter()
            .map(|f| {
                let mut b = HeapBuf::new(MAX_FRAME);
                assert!(b.fill(f), "a frame of {} bytes fits the buffer", f.len());
                b
            })
            .collect();
        let before = dp.counters.clone();
        let mut verdicts = [Verdict::Drop(DropReason::TxFull); BURST];
        dp.set_clock(1 + round as u32);
        dp.process(&mut bufs, &mut verdicts);
        let verdicts = &verdicts[..burst.len()];

        let after = &dp.counters;
        assert_eq!(
            after.rx - before.rx,
            burst.len() as u64,
            "rx counts every packet"
        );
        let mut dropped = 0;
        for &r in DropReason::ALL.iter() {
            let n = verdicts.iter().filter(|v| **v == Verdict::Drop(r)).count() as u64;
            assert_eq!(
                after.drop_count(r) - before.drop_count(r),
                n,
                "the counter of {} moved by the wrong amount",
                r.name()
            );
            dropped += n;
        }
        let sent = verdicts
            .iter()
            .filter(|v| !matches!(v, Verdict::Drop(_)))
            .count() as u64;
        assert_eq!(sent + dropped, burst.len() as u64, "in = out + drops");

        for ((v, b), input) in verdicts.iter().zip(&bufs).zip(burst) {
            if matches!(v, Verdict::Hold(_)) {
                // A fragment ahead of its first one, kept by the worker.
                assert!(b.data() == &input[..], "a held fragment was modified");
            } else if !matches!(v, Verdict::Drop(_)) {
                check_sent(&snap, *v, input, b.data());
            }
        }
    }
}

/// RFC 1071: the ones'-complement sum of `bytes` added to `sum`, unfolded.
fn sum16(mut sum: u32, bytes: &[u8]) -> u32 {
    let mut chunks = bytes.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    sum
}

fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// One frame natrix decided to send.
fn check_sent(snap: &Snapshot, v: Verdict, input: &[u8], f: &[u8]) {
    assert!(f.len() >= 14, "sent a frame of {} bytes", f.len());
    let mut l3 = 14;
    let mut ethertype = u16::from_be_bytes([f[12], f[13]]);
    while ethertype == 0x8100 || ethertype == 0x88a8 {
        assert!(f.len() >= l3 + 4, "sent a frame cut inside its VLAN tag");
        ethertype = u16::from_be_bytes([f[l3 + 2], f[l3 + 3]]);
        l3 += 4;
    }
    match ethertype {
        0x0806 => {
            assert_eq!(v, Verdict::Reply, "ARP is only ever answered");
            assert!(f.len() >= l3 + 28, "sent a short ARP packet");
            let sender = be32(&f[l3 + 14..]);
            assert!(
                snap.is_local(sender),
                "answered ARP for {sender:#x}, not ours"
            );
        }
        0x0800 => check_ipv4(snap, v, input, f, &f[l3..]),
        0x86dd => check_ipv6(snap, v, input, f, &f[l3..]),
        other => panic!("sent a frame of ethertype {other:#06x}"),
    }
}

fn check_ipv4(snap: &Snapshot, v: Verdict, input: &[u8], f: &[u8], ip: &[u8]) {
    assert!(ip.len() >= 20, "sent a short IPv4 header");
    assert_eq!(ip[0] >> 4, 4, "sent IPv4 with version {}", ip[0] >> 4);
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    assert!(
        ihl >= 20 && ihl <= total && total <= ip.len(),
        "sent bad IPv4 lengths"
    );
    assert_eq!(fold(sum16(0, &ip[..ihl])), 0xffff, "IPv4 header checksum");
    let (src, dst) = (be32(&ip[12..]), be32(&ip[16..]));
    match v {
        Verdict::ToPrivate => assert!(
            snap.backends.iter().any(|b| b.addr_raw == dst),
            "sent toward the private side to {dst:#x}, which is no backend"
        ),
        Verdict::ToPublic | Verdict::Reply => assert!(
            snap.is_local(src),
            "sent from {src:#x}, which is not one of natrix's addresses"
        ),
        Verdict::Drop(_) | Verdict::Hold(_) => unreachable!(),
        Verdict::Handoff(_) => panic!("one worker handed a packet over"),
    }
    assert!(matches!(ip[9], 1 | 6 | 17), "sent IP protocol {}", ip[9]);
    if l4_checksum_ok(input).unwrap_or(false) {
        assert_eq!(
            l4_checksum_ok(f),
            Some(true),
            "a TCP, UDP or ICMP checksum that was right on the way in is wrong on the way out"
        );
    }
}

fn addr6(b: &[u8]) -> u128 {
    u128::from_be_bytes(b[..16].try_into().unwrap())
}

fn check_ipv6(snap: &Snapshot, v: Verdict, input: &[u8], f: &[u8], ip: &[u8]) {
    assert!(ip.len() >= 40, "sent a short IPv6 header");
    assert_eq!(ip[0] >> 4, 6, "sent IPv6 with version {}", ip[0] >> 4);
    let payload = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
    assert!(
        40 + payload <= ip.len(),
        "sent an IPv6 payload length past the frame"
    );
    let (src, dst) = (addr6(&ip[8..]), addr6(&ip[24..]));
    match v {
        Verdict::ToPrivate => assert!(
            snap.backends
                .iter()
                .any(|b| b.addr6 == dst && b.address.is_ipv6()),
            "sent toward the private side to {dst:#x}, which is no backend"
        ),
        Verdict::ToPublic | Verdict::Reply => assert!(
            snap.is_local6(src),
            "sent from {src:#x}, which is not one of natrix's addresses"
        ),
        Verdict::Drop(_) | Verdict::Hold(_) => unreachable!(),
        Verdict::Handoff(_) => panic!("one worker handed a packet over"),
    }
    if l4_checksum_ok(input).unwrap_or(false) {
        assert_eq!(
            l4_checksum_ok(f),
            Some(true),
            "a TCP, UDP or ICMPv6 checksum that was right on the way in is wrong on the way out"
        );
    }
}

/// [`l4_checksum_ok`] of an IPv6 packet without extension headers (`None`
/// with any).
fn l4_checksum_ok6(ip: &[u8]) -> Option<bool> {
    let payload = usize::from(u16::from_be_bytes([*ip.get(4)?, *ip.get(5)?]));
    let l4 = ip.get(40..40 + payload)?;
    let next = *ip.get(6)?;
    let pseudo = sum16(0, &ip[8..40]) + u32::from(next) + l4.len() as u32;
    match next {
        6 if l4.len() >= 20 => Some(fold(sum16(pseudo, l4)) == 0xffff),
        17 if l4.len() >= 8 => Some(fold(sum16(pseudo, l4)) == 0xffff),
        58 if l4.len() >= 4 => Some(fold(sum16(pseudo, l4)) == 0xffff),
        _ => None,
    }
}

/// Whether the TCP, UDP or ICMP checksum of an Ethernet frame's IPv4
/// datagram (or IPv6 packet) is right; `None` when the frame holds no whole
/// such datagram.
/// natrix patches checksums, it does not verify them: a wrong one stays
/// wrong, and a right one must stay right.
fn l4_checksum_ok(f: &[u8]) -> Option<bool> {
    let mut l3 = 14;
    let mut ethertype = u16::from_be_bytes([*f.get(12)?, *f.get(13)?]);
    while ethertype == 0x8100 || ethertype == 0x88a8 {
        ethertype = u16::from_be_bytes([*f.get(l3 + 2)?, *f.get(l3 + 3)?]);
        l3 += 4;
    }
    if ethertype == 0x86dd {
        return l4_checksum_ok6(f.get(l3..)?);
    }
    if ethertype != 0x0800 {
        return None;
    }
    let ip = f.get(l3..)?;
    let ihl = usize::from(ip.first()? & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
    if ihl < 20 || total < ihl || total > ip.len() {
        return None;
    }
    if u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0 {
        return None; // a fragment
    }
    let l4 = &ip[ihl..total];
    let pseudo = |proto: u32| sum16(0, &ip[12..20]) + proto + l4.len() as u32;
    match ip[9] {
        6 if l4.len() >= 20 => Some(fold(sum16(pseudo(6), l4)) == 0xffff),
        17 if l4.len() >= 8 => {
            Some((l4[6] == 0 && l4[7] == 0) || fold(sum16(pseudo(17), l4)) == 0xffff)
        }
        1 if l4.len() >= 8 => Some(fold(sum16(0, l4)) == 0xffff),
        _ => None,
    }
}
