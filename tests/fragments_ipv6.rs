//! IPv6 fragments, forwarded without reassembly (docs/packets.md, "IP fragments"), as
//! IPv4's are (tests/fragments.rs).
//!
//! Whole packets are built with etherparse; the test splits them into
//! fragments itself, writing each Fragment header by hand (etherparse 0.16
//! writes the offset and M bits of an IPv6 Fragment header wrongly, its
//! issue 150), never with natrix's code. What natrix must send is the same
//! split of the translated packet, also built with etherparse, compared byte
//! for byte; the output is also reassembled here and its TCP or UDP checksum
//! verified with etherparse. In order and out of order, both directions,
//! with 1 and 2 workers, software RSS by owner and by 5-tuple; every replay
//! keeps rx == tx + drops.

mod support;

use etherparse::{PacketBuilder, TcpHeader, UdpHeader};
use natrix::app::replay::Rss;
use natrix::app::summary::Summary;
use natrix::config::Config;
use natrix::control::plane::ControlPlane;
use natrix::dataplane::counters::{DropReason, Event};
use natrix::dataplane::Verdict;
use std::net::Ipv6Addr;
use support::translation::{
    replay_frames_in_phases, Lb, Want, BE_SIDE_MAC, GW_MAC, LB_MAC, PEER_MAC,
};

const CONFIG: &str = concat!(
    r#"
[appliance]
mac = "02:00:00:00:00:01"
addresses = ["198.18.0.1", "2001:db8::1"]
gateway_mac = "02:00:00:00:00:fe"
# So that `natrix run` chooses the backends that a replay does.
seed = 7

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
name = "syslog6"
address = "2001:db8::10"
port = 514
protocol = "udp"

"#,
    include_str!("fixtures/ipv6_pools.toml"),
    r#"
[[rule]]
frontend = "web6"
pool = "web6"

[[rule]]
frontend = "dns6"
pool = "dns6"

[[nat_rule]]
frontend = "syslog6"
address = "2001:db8:1::31"
port = 5514
mac = "02:00:00:00:01:31"
"#
);

const BE_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x01, 0xfe];
const NAT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x01, 0x31];
/// Data bytes per fragment: a 1500-byte MTU less the IPv6 and Fragment
/// headers, rounded down to a multiple of 8.
const CHUNK: usize = 1448;
/// The identification of the test datagrams.
const ID: u32 = 0x5eed_4d2c;

fn a(s: &str) -> [u8; 16] {
    s.parse::<Ipv6Addr>().unwrap().octets()
}

fn fe() -> [u8; 16] {
    a("2001:db8::10")
}

fn client(i: u16) -> [u8; 16] {
    let mut c = a("2001:db8:ffff::");
    c[8] = 0x5a;
    c[14..].copy_from_slice(&i.to_be_bytes());
    c
}

/// `n` bytes of payload.
fn bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + 3) as u8).collect()
}

/// A UDP datagram over IPv6, every field and checksum by etherparse.
fn udp6(
    macs: ([u8; 6], [u8; 6]),
    src: ([u8; 16], u16),
    dst: ([u8; 16], u16),
    hops: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv6(src.0, dst.0, hops)
        .udp(src.1, dst.1)
        .write(&mut out, payload)
        .unwrap();
    out
}

/// A TCP segment over IPv6 (a SYN, or data with ACK and PSH).
fn tcp6(
    macs: ([u8; 6], [u8; 6]),
    src: ([u8; 16], u16),
    dst: ([u8; 16], u16),
    hops: u8,
    syn: bool,
    payload: &[u8],
) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv6(src.0, dst.0, hops)
        .tcp(src.1, dst.1, 1000, 64000);
    let b = if syn { b.syn() } else { b.ack(1).psh() };
    let mut out = Vec::new();
    b.write(&mut out, payload).unwrap();
    out
}

/// An 8-byte Hop-by-Hop Options header (a PadN option) naming `next`.
fn hop_by_hop(next: u8) -> [u8; 8] {
    [next, 0, 1, 4, 0, 0, 0, 0]
}

/// Splits the IPv6 packet of untagged Ethernet frame `frame` (no extension
/// headers) into fragments of at most `chunk` data bytes, with
/// identification `id` (RFC 8200 section 4.5), written here byte by byte.
/// With `hbh`, each fragment carries a Hop-by-Hop header (unfragmentable)
/// before its Fragment header.
fn fragment6(frame: &[u8], id: u32, chunk: usize, hbh: bool) -> Vec<Vec<u8>> {
    assert_eq!(chunk % 8, 0);
    let header = &frame[14..54];
    let next = header[6];
    let len = u16::from_be_bytes([header[4], header[5]]) as usize;
    let payload = &frame[54..54 + len];
    payload
        .chunks(chunk)
        .enumerate()
        .map(|(i, part)| {
            let offset = i * chunk;
            let more = offset + part.len() < payload.len();
            let mut out = frame[..14].to_vec();
            let mut h = header.to_vec();
            let unfragmentable = if hbh { 8 } else { 0 };
            h[4..6].copy_from_slice(&((unfragmentable + 8 + part.len()) as u16).to_be_bytes());
            h[6] = if hbh { 0 } else { 44 };
            out.extend_from_slice(&h);
            if hbh {
                out.extend_from_slice(&hop_by_hop(44));
            }
            // Next Header, Reserved, Fragment Offset (13 bits) | Res | M,
            // Identification.
            let word = (offset as u16) | more as u16;
            out.extend_from_slice(&[next, 0]);
            out.extend_from_slice(&word.to_be_bytes());
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(part);
            out
        })
        .collect()
}

/// Where a fragment's Fragment header starts in its frame.
fn frag_header_at(f: &[u8]) -> usize {
    if f[20] == 0 {
        62
    } else {
        assert_eq!(f[20], 44);
        54
    }
}

/// The fragment offset (bytes) of fragment frame `f`.
fn offset_of(f: &[u8]) -> usize {
    let at = frag_header_at(f);
    (u16::from_be_bytes([f[at + 2], f[at + 3]]) & 0xfff8) as usize
}

/// The packet of `frags` put back together: source, destination, Next
/// Header (of the first fragment) and the upper-layer header and data.
/// Panics on gaps, overlaps, mixed identifications or M flags that lie.
fn reassemble6(frags: &[Vec<u8>]) -> ([u8; 16], [u8; 16], u8, Vec<u8>) {
    let mut frags = frags.to_vec();
    frags.sort_by_key(|f| offset_of(f));
    let mut data = Vec::new();
    let first = &frags[0];
    let at = frag_header_at(first);
    let ident = &first[at + 4..at + 8];
    for (i, f) in frags.iter().enumerate() {
        let at = frag_header_at(f);
        assert_eq!(&f[at + 4..at + 8], ident, "identification");
        assert_eq!(offset_of(f), data.len(), "a gap or an overlap");
        let len = u16::from_be_bytes([f[18], f[19]]) as usize;
        let end = 54 + len;
        data.extend_from_slice(&f[at + 8..end]);
        let more = f[at + 3] & 1 == 1;
        assert_eq!(more, i + 1 < frags.len(), "M flag");
    }
    (
        first[22..38].try_into().unwrap(),
        first[38..54].try_into().unwrap(),
        first[at],
        data,
    )
}

/// The destination (or source, `src`) port of a reassembled packet,
/// checked: its TCP or UDP checksum verifies over the pseudo-header
/// (etherparse's computation).
fn checked_port(frags: &[Vec<u8>], src: bool) -> u16 {
    let (s, d, next, l4) = reassemble6(frags);
    let (sport, dport) = match next {
        17 => {
            let (u, payload) = UdpHeader::from_slice(&l4).unwrap();
            assert_eq!(u.length as usize, l4.len());
            let sum = u.calc_checksum_ipv6_raw(s, d, payload).unwrap();
            assert_eq!(u.checksum, sum, "UDP checksum");
            (u.source_port, u.destination_port)
        }
        6 => {
            let (t, payload) = TcpHeader::from_slice(&l4).unwrap();
            let sum = t.calc_checksum_ipv6_raw(s, d, payload).unwrap();
            assert_eq!(t.checksum, sum, "TCP checksum");
            (t.source_port, t.destination_port)
        }
        p => panic!("next header {p}"),
    };
    if src {
        sport
    } else {
        dport
    }
}

/// Checks that `got` (natrix's fragments, in any order) is exactly `want`,
/// fragment by fragment, and that its reassembly carries `port` at `src`.
fn same_fragments(what: &str, got: &[Vec<u8>], want: &[Vec<u8>], port: u16, src: bool) {
    let mut got = got.to_vec();
    got.sort_by_key(|f| offset_of(f));
    assert_eq!(got.len(), want.len(), "{what}: fragments sent");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            g == w,
            "{what}: fragment {i} differs\n got: {g:02x?}\nwant: {w:02x?}"
        );
    }
    assert_eq!(checked_port(&got, src), port, "{what}: port");
}

fn cp() -> ControlPlane {
    ControlPlane::new(Config::parse(CONFIG, "fragments6.toml").unwrap()).unwrap()
}

/// The backend natrix gives a new connection from `c` to frontend port
/// `port` (TCP or UDP): where a whole packet of it goes.
fn backend_of(c: ([u8; 16], u16), port: u16, tcp: bool) -> [u8; 16] {
    let mut lb = Lb::with(CONFIG, 1 << 12);
    let p = if tcp {
        tcp6((PEER_MAC, LB_MAC), c, (fe(), port), 64, true, &[])
    } else {
        udp6((PEER_MAC, LB_MAC), c, (fe(), port), 64, b"q")
    };
    let (v, out) = lb.one(&p);
    assert_eq!(v, Verdict::ToPrivate);
    out[38..54].try_into().unwrap()
}

/// Replays `frames` (each at its time, ms) with `workers` workers and
/// software RSS `rss`, in phases split before each index of `phases`;
/// checks that every packet is accounted for.
fn replay(
    cp: &mut ControlPlane,
    frames: Vec<(u64, Vec<u8>)>,
    workers: usize,
    rss: Rss,
    phases: &[usize],
    name: &str,
) -> (Summary, Vec<Vec<u8>>) {
    let (s, out) = replay_frames_in_phases(cp, frames, workers, rss, phases, name);
    assert_eq!(
        s.packets_in,
        s.packets_out + s.dropped(),
        "rx == tx + drops\n{}",
        s.render()
    );
    assert_eq!(s.packets_out as usize, out.len());
    (s, out)
}

/// The orders the fragments of a 3-fragment packet are sent in.
const ORDERS: [(&str, [usize; 3]); 4] = [
    ("in order", [0, 1, 2]),
    ("last first", [2, 0, 1]),
    ("middle first", [1, 0, 2]),
    ("reversed", [2, 1, 0]),
];

/// Checks the fragment counters of a replay that sent `datagrams`
/// fragmented packets of 3 fragments, and that with `--rss owner` no
/// fragment needed a handoff (replay's software RSS placed it at its owner).
fn check_counters(what: &str, s: &Summary, datagrams: u64, rss: Rss) {
    let c = &s.counters;
    assert_eq!(s.dropped(), 0, "{what}\n{}", s.render());
    assert_eq!(c.event_count(Event::FragmentFirst), datagrams, "{what}");
    assert_eq!(
        c.event_count(Event::FragmentForwarded),
        2 * datagrams,
        "{what}"
    );
    assert_eq!(
        c.event_count(Event::FragmentHeld),
        c.event_count(Event::FragmentReleased),
        "{what}"
    );
    if rss == Rss::Owner {
        assert_eq!(c.event_count(Event::HandedOff), 0, "{what}\n{}", s.render());
    }
}

#[test]
fn a_fragmented_udp_datagram_reaches_its_backend_in_any_order() {
    for workers in [1, 2] {
        for rss in [Rss::Owner, Rss::Tuple] {
            for (what, order) in ORDERS {
                for hbh in [false, true] {
                    let c = (client(100 + workers as u16), 40_000);
                    let be = backend_of(c, 53, false);
                    let p = udp6((PEER_MAC, LB_MAC), c, (fe(), 53), 64, &bytes(4000));
                    let input = fragment6(&p, ID, CHUNK, hbh);
                    assert_eq!(input.len(), 3);
                    let want = udp6((LB_MAC, BE_MAC), c, (be, 5353), 63, &bytes(4000));
                    let want = fragment6(&want, ID, CHUNK, hbh);
                    let frames = order.iter().map(|&i| (0, input[i].clone())).collect();
                    let what =
                        format!("UDP {what}, hop-by-hop {hbh}, {workers} worker(s), {rss:?}");
                    let (s, out) = replay(&mut cp(), frames, workers, rss, &[], "frag6-udp");
                    same_fragments(&what, &out, &want, 5353, false);
                    check_counters(&what, &s, 1, rss);
                    if order[0] != 0 && workers == 1 {
                        assert!(s.counters.event_count(Event::FragmentHeld) >= 1, "{what}");
                    }
                    assert_eq!(s.connections(), 1, "{what}");
                }
            }
        }
    }
}

#[test]
fn a_fragmented_tcp_segment_follows_its_connection() {
    for workers in [1, 2] {
        for rss in [Rss::Owner, Rss::Tuple] {
            for (what, order) in ORDERS {
                let c = (client(200), 41_000 + workers as u16);
                let be = backend_of(c, 80, true);
                let syn = tcp6((PEER_MAC, LB_MAC), c, (fe(), 80), 64, true, &[]);
                let data = tcp6((PEER_MAC, LB_MAC), c, (fe(), 80), 64, false, &bytes(4000));
                let input = fragment6(&data, ID, CHUNK, false);
                assert_eq!(input.len(), 3);
                let want = tcp6((LB_MAC, BE_MAC), c, (be, 8080), 63, false, &bytes(4000));
                let want = fragment6(&want, ID, CHUNK, false);
                let mut frames = vec![(0, syn)];
                frames.extend(order.iter().map(|&i| (0, input[i].clone())));
                let what = format!("TCP {what}, {workers} worker(s), {rss:?}");
                let (s, out) = replay(&mut cp(), frames, workers, rss, &[1], "frag6-tcp");
                let syn_out = tcp6((LB_MAC, BE_MAC), c, (be, 8080), 63, true, &[]);
                assert_eq!(out[0], syn_out, "{what}: SYN");
                same_fragments(&what, &out[1..], &want, 8080, false);
                check_counters(&what, &s, 1, rss);
                assert_eq!(s.connections(), 1, "{what}");
            }
        }
    }
}

#[test]
fn a_backends_fragmented_reply_reaches_the_client_from_the_frontend() {
    for workers in [1, 2] {
        for rss in [Rss::Owner, Rss::Tuple] {
            for (what, order) in ORDERS {
                for tcp in [false, true] {
                    let c = (client(300), 42_000 + workers as u16);
                    let (port, be_port) = if tcp { (80, 8080) } else { (53, 5353) };
                    let be = backend_of(c, port, tcp);
                    let (opener, reply, want) = if tcp {
                        (
                            tcp6((PEER_MAC, LB_MAC), c, (fe(), port), 64, true, &[]),
                            tcp6(
                                (BE_SIDE_MAC, LB_MAC),
                                (be, be_port),
                                c,
                                64,
                                false,
                                &bytes(4000),
                            ),
                            tcp6((LB_MAC, GW_MAC), (fe(), port), c, 63, false, &bytes(4000)),
                        )
                    } else {
                        (
                            udp6((PEER_MAC, LB_MAC), c, (fe(), port), 64, b"query"),
                            udp6((BE_SIDE_MAC, LB_MAC), (be, be_port), c, 64, &bytes(4000)),
                            udp6((LB_MAC, GW_MAC), (fe(), port), c, 63, &bytes(4000)),
                        )
                    };
                    let input = fragment6(&reply, ID + 1, CHUNK, false);
                    let want = fragment6(&want, ID + 1, CHUNK, false);
                    let mut frames = vec![(0, opener)];
                    frames.extend(order.iter().map(|&i| (0, input[i].clone())));
                    let what = format!("reply (TCP {tcp}) {what}, {workers} worker(s), {rss:?}");
                    let (s, out) = replay(&mut cp(), frames, workers, rss, &[1], "frag6-reply");
                    same_fragments(&what, &out[1..], &want, port, true);
                    check_counters(&what, &s, 1, rss);
                    assert_eq!(s.connections(), 1, "{what}");
                }
            }
        }
    }
}

#[test]
fn a_nat_rules_fragments_are_translated_at_one_worker() {
    for workers in [1, 2] {
        for rss in [Rss::Owner, Rss::Tuple] {
            for (what, order) in ORDERS {
                let c = (client(400), 43_000);
                let p = udp6((PEER_MAC, LB_MAC), c, (fe(), 514), 64, &bytes(4000));
                let want = udp6(
                    (LB_MAC, NAT_MAC),
                    c,
                    (a("2001:db8:1::31"), 5514),
                    63,
                    &bytes(4000),
                );
                let input = fragment6(&p, ID, CHUNK, false);
                let want = fragment6(&want, ID, CHUNK, false);
                let frames = order.iter().map(|&i| (0, input[i].clone())).collect();
                let what = format!("NAT rule {what}, {workers} worker(s), {rss:?}");
                let (s, out) = replay(&mut cp(), frames, workers, rss, &[], "frag6-nat");
                same_fragments(&what, &out, &want, 5514, false);
                check_counters(&what, &s, 1, rss);
            }
        }
    }
}

#[test]
fn fragments_whose_first_comes_too_late_are_dropped_and_counted() {
    let c = (client(500), 44_000);
    let p = udp6((PEER_MAC, LB_MAC), c, (fe(), 53), 64, &bytes(4000));
    let input = fragment6(&p, ID, CHUNK, false);
    for workers in [1, 2] {
        // In time (the same second): all three go.
        let frames = vec![
            (0, input[1].clone()),
            (0, input[2].clone()),
            (900, input[0].clone()),
        ];
        let (s, out) = replay(&mut cp(), frames, workers, Rss::Tuple, &[], "frag6-ok");
        assert_eq!((out.len() as u64, s.dropped()), (3, 0), "{}", s.render());
        // Three seconds later (the default timeout is 1 s): the held ones
        // are dropped before the first fragment comes; it goes alone.
        let frames = vec![
            (0, input[1].clone()),
            (0, input[2].clone()),
            (3_000, input[0].clone()),
        ];
        let (s, out) = replay(&mut cp(), frames, workers, Rss::Tuple, &[], "frag6-late");
        let c = &s.counters;
        assert_eq!(out.len(), 1, "{}", s.render());
        assert_eq!(
            c.drop_count(DropReason::FragmentNoFirst),
            2,
            "{}",
            s.render()
        );
        assert_eq!(c.event_count(Event::FragmentHeld), 2);
        assert_eq!(c.event_count(Event::FragmentReleased), 0);
        // And without any first fragment: dropped when the replay ends.
        let frames = vec![(0, input[1].clone()), (0, input[2].clone())];
        let (s, out) = replay(&mut cp(), frames, workers, Rss::Tuple, &[], "frag6-never");
        assert!(out.is_empty());
        assert_eq!(s.counters.drop_count(DropReason::FragmentNoFirst), 2);
    }
}

#[test]
fn a_flood_of_incomplete_datagrams_hits_the_limits_and_connections_flow_on() {
    let text = CONFIG.replacen(
        "[appliance]\n",
        "[appliance]\nfragment_table_size = 16\nfragment_hold_packets = 8\nfragment_hold_bytes = 100000\n",
        1,
    );
    let cfg = Config::parse(&text, "small.toml").unwrap();
    const FLOOD: usize = 1000;
    for workers in [1, 2] {
        let c = (client(600), 45_000);
        let be = backend_of(c, 80, true);
        let syn = tcp6((PEER_MAC, LB_MAC), c, (fe(), 80), 64, true, &[]);
        let acks: Vec<Vec<u8>> = (0..10)
            .map(|i| {
                tcp6(
                    (PEER_MAC, LB_MAC),
                    c,
                    (fe(), 80),
                    64,
                    false,
                    &[i as u8; 100],
                )
            })
            .collect();
        let mut frames = vec![(0, syn)];
        // Middle fragments of packets whose first fragment never comes,
        // from many clients, with the connection's segments among them.
        for i in 0..FLOOD {
            let src = client(1000 + i as u16);
            let p = udp6(
                (PEER_MAC, LB_MAC),
                (src, 5000),
                (fe(), 53),
                64,
                &bytes(4000),
            );
            frames.push((0, fragment6(&p, i as u32, CHUNK, false)[1].clone()));
            if i % 100 == 99 {
                frames.push((0, acks[i / 100].clone()));
            }
        }
        let mut cp = ControlPlane::new(cfg.clone()).unwrap();
        let (s, out) = replay(&mut cp, frames, workers, Rss::Tuple, &[1], "frag6-flood");
        let report = s.render();
        let cn = &s.counters;
        // The connection: every segment went to its backend.
        assert_eq!(out.len(), 11, "{report}");
        assert_eq!(out[0], tcp6((LB_MAC, BE_MAC), c, (be, 8080), 63, true, &[]));
        for (i, o) in out[1..].iter().enumerate() {
            let want = tcp6((LB_MAC, BE_MAC), c, (be, 8080), 63, false, &[i as u8; 100]);
            assert_eq!(*o, want);
        }
        assert_eq!(s.connections(), 1);
        // The flood: every fragment dropped, within each worker's limits.
        let d = |r| cn.drop_count(r);
        assert_eq!(
            d(DropReason::FragmentTableFull)
                + d(DropReason::FragmentHoldFull)
                + d(DropReason::FragmentNoFirst),
            FLOOD as u64,
            "{report}"
        );
        let held = cn.event_count(Event::FragmentHeld);
        assert!(held <= 8 * workers as u64, "{report}");
        assert!(
            held + d(DropReason::FragmentHoldFull) <= 16 * workers as u64,
            "{report}"
        );
        assert_eq!(d(DropReason::FragmentNoFirst), held, "{report}");
        assert!(d(DropReason::FragmentTableFull) >= (FLOOD - 16 * workers) as u64);
    }
}

/// Sets the fragment offset (bytes) and M flag of fragment frame `f`.
fn set_offset(f: &mut [u8], offset: usize, more: bool) {
    let at = frag_header_at(f);
    let word = offset as u16 | more as u16;
    f[at + 2..at + 4].copy_from_slice(&word.to_be_bytes());
}

#[test]
fn tiny_overlapping_and_duplicate_fragments() {
    let mut lb = Lb::with(CONFIG, 1 << 12);
    let drop = |r| Want::Drop(r);
    // A first TCP fragment of 8 bytes: the ports, not the flags (RFC 7112,
    // RFC 1858): the walker refuses it.
    let c = (client(700), 46_000);
    let data = tcp6((PEER_MAC, LB_MAC), c, (fe(), 80), 64, true, &bytes(400));
    let tiny = fragment6(&data, 1, 8, false);
    let got = lb.one(&tiny[0]);
    lb.check(
        "tiny first fragment",
        &tiny[0],
        &got,
        &drop(DropReason::MalformedIpv6Ext),
    );
    // A later TCP fragment at offset 8 (it would rewrite the flags).
    let got = lb.one(&tiny[1]);
    lb.check(
        "TCP fragment at offset 8",
        &tiny[1],
        &got,
        &drop(DropReason::FragmentOverlap),
    );
    // A fragment other than the last whose data is not a multiple of 8.
    let mut odd = fragment6(&data, 2, 104, false)[1].clone();
    odd.truncate(odd.len() - 3);
    let len = (odd.len() - 54) as u16;
    odd[18..20].copy_from_slice(&len.to_be_bytes());
    let got = lb.one(&odd);
    lb.check(
        "odd-sized fragment",
        &odd,
        &got,
        &drop(DropReason::MalformedIpv6Ext),
    );
    // An empty fragment with more to come.
    let mut empty = fragment6(&data, 3, 104, false)[1].clone();
    empty.truncate(62);
    empty[18..20].copy_from_slice(&8u16.to_be_bytes());
    let got = lb.one(&empty);
    lb.check(
        "empty fragment",
        &empty,
        &got,
        &drop(DropReason::FragmentTooSmall),
    );
    // An ICMPv6 echo of 3000 bytes to the appliance, fragmented.
    let mut ping = Vec::new();
    PacketBuilder::ethernet2(PEER_MAC, LB_MAC)
        .ipv6(c.0, a("2001:db8::1"), 64)
        .icmpv6_echo_request(1, 1)
        .write(&mut ping, &bytes(3000))
        .unwrap();
    for (i, f) in fragment6(&ping, 4, CHUNK, false).iter().enumerate() {
        let got = lb.one(f);
        lb.check(
            &format!("ICMPv6 fragment {i}"),
            f,
            &got,
            &drop(DropReason::IpFragment),
        );
    }
    // Fragments to no frontend, from no backend.
    let stray = udp6(
        (PEER_MAC, LB_MAC),
        c,
        (a("2001:db8:9::9"), 53),
        64,
        &bytes(3000),
    );
    let stray = fragment6(&stray, 5, CHUNK, false);
    let got = lb.one(&stray[1]);
    lb.check(
        "later fragment to nowhere",
        &stray[1],
        &got,
        &drop(DropReason::NoService),
    );
    // A duplicate first fragment goes the same way, and so do the later
    // ones; a later one that starts inside the first one's data (RFC 5722)
    // is dropped.
    let c = (client(701), 46_001);
    let be = backend_of(c, 53, false);
    let p = udp6((PEER_MAC, LB_MAC), c, (fe(), 53), 64, &bytes(4000));
    let input = fragment6(&p, 6, CHUNK, false);
    let want = udp6((LB_MAC, BE_MAC), c, (be, 5353), 63, &bytes(4000));
    let want = fragment6(&want, 6, CHUNK, false);
    let mut overlap = input[1].clone();
    set_offset(&mut overlap, 8, true);
    for (what, frame, w) in [
        (
            "first",
            &input[0],
            Want::Exact(Verdict::ToPrivate, want[0].clone()),
        ),
        (
            "first again",
            &input[0],
            Want::Exact(Verdict::ToPrivate, want[0].clone()),
        ),
        ("overlapping", &overlap, drop(DropReason::FragmentOverlap)),
        (
            "middle",
            &input[1],
            Want::Exact(Verdict::ToPrivate, want[1].clone()),
        ),
        (
            "last",
            &input[2],
            Want::Exact(Verdict::ToPrivate, want[2].clone()),
        ),
    ] {
        let got = lb.one(frame);
        lb.check(what, frame, &got, &w);
    }
    // A packet whose first fragment has hop limit 1 is dropped, and then
    // its later fragments alike, whatever theirs.
    let c = (client(702), 46_002);
    let p = udp6((PEER_MAC, LB_MAC), c, (fe(), 53), 64, &bytes(4000));
    let late = fragment6(&p, 7, CHUNK, false);
    let mut first = late[0].clone();
    first[21] = 1;
    let got = lb.one(&first);
    lb.check("hop limit 1", &first, &got, &drop(DropReason::TtlExpired));
    let got = lb.one(&late[1]);
    lb.check(
        "hop limit 1, later",
        &late[1],
        &got,
        &drop(DropReason::TtlExpired),
    );
    // A first UDP fragment without a checksum (RFC 8200 section 8.1).
    let mut zero = fragment6(&p, 8, CHUNK, false)[0].clone();
    zero[68..70].copy_from_slice(&[0, 0]);
    let got = lb.one(&zero);
    lb.check(
        "UDP checksum 0",
        &zero,
        &got,
        &drop(DropReason::UdpZeroChecksum),
    );
    // An atomic fragment (offset 0, M clear) is a whole packet.
    let firsts = lb.event(Event::FragmentFirst);
    let c = (client(703), 46_003);
    let be = backend_of(c, 53, false);
    let p = udp6((PEER_MAC, LB_MAC), c, (fe(), 53), 64, &bytes(100));
    let atomic = fragment6(&p, 9, CHUNK, false);
    assert_eq!(atomic.len(), 1);
    let want = udp6((LB_MAC, BE_MAC), c, (be, 5353), 63, &bytes(100));
    let want = fragment6(&want, 9, CHUNK, false);
    let got = lb.one(&atomic[0]);
    lb.check(
        "atomic fragment",
        &atomic[0],
        &got,
        &Want::Exact(Verdict::ToPrivate, want[0].clone()),
    );
    assert_eq!(
        lb.event(Event::FragmentFirst),
        firsts,
        "the atomic one is none"
    );
}

/// `natrix run` on DPDK's net_pcap, with 1 and 2 workers: IPv6 packets'
/// fragments out of order (held in mbufs until the first fragment comes),
/// another in order, and the backend's fragmented reply; with 2 workers,
/// queue 0 receives everything and hands the fragments of the clients that
/// worker 1 owns to it. Everything is sent, exactly as built here.
#[cfg(feature = "dpdk")]
#[test]
fn natrix_run_forwards_ipv6_fragments_on_net_pcap() {
    use natrix::dataplane::{handoff, v6};
    use support::fixtures::scratch_dir;

    let mut input = Vec::new();
    let mut want = Vec::new();
    for (i, order) in [[2usize, 0, 1], [0, 1, 2], [1, 2, 0], [2, 1, 0]]
        .iter()
        .enumerate()
    {
        // Clients of each worker of two, in turn.
        let owner = |k: u16| handoff::owner(v6::owner_input(u128::from_be_bytes(client(k))), 2);
        let k = (800..).find(|&k| owner(k) == i % 2 && k >= 800 + 10 * i as u16);
        let c = (client(k.unwrap()), 47_000 + i as u16);
        let be = backend_of(c, 53, false);
        let id = ID + i as u32;
        let p = udp6((PEER_MAC, LB_MAC), c, (fe(), 53), 64, &bytes(4000));
        let frags = fragment6(&p, id, CHUNK, false);
        input.extend(order.iter().map(|&k| frags[k].clone()));
        let w = udp6((LB_MAC, BE_MAC), c, (be, 5353), 63, &bytes(4000));
        want.extend(fragment6(&w, id, CHUNK, false));
        // The backend's reply, once the datagram opened the connection.
        let reply = udp6((BE_SIDE_MAC, LB_MAC), (be, 5353), c, 64, &bytes(3000));
        let frags = fragment6(&reply, id + 100, CHUNK, false);
        input.extend(order.iter().map(|&k| frags[k].clone()));
        let w = udp6((LB_MAC, GW_MAC), (fe(), 53), c, 63, &bytes(3000));
        want.extend(fragment6(&w, id + 100, CHUNK, false));
    }
    want.sort();
    for workers in [1, 2] {
        let d = scratch_dir("test-fragments6", &format!("run{workers}"));
        let pcap = d.join("in.pcap");
        let mut w = natrix::ports::capture::Writer::create(&pcap).unwrap();
        for f in &input {
            w.write(std::time::Duration::from_secs(1), f).unwrap();
        }
        w.finish().unwrap();
        let config = d.join("frag6.toml");
        std::fs::write(&config, format!("[ports]\nworkers = {workers}\n\n{CONFIG}")).unwrap();
        let run = support::net_pcap::run(&d, &config, &pcap, workers);
        let n = input.len() as u64;
        assert_eq!(run["packets_in"].as_u64(), Some(n), "{run}");
        assert_eq!(run["dropped"].as_u64(), Some(0), "{run}");
        assert_eq!(run["packets_out"].as_u64(), Some(n), "{run}");
        assert!(
            run["events"]["fragment-held"].as_u64().unwrap() > 0,
            "{run}"
        );
        assert_eq!(
            run["events"]["fragment-held"],
            run["events"]["fragment-released"]
        );
        if workers == 2 {
            assert!(run["events"]["handed-off"].as_u64().unwrap() > 0, "{run}");
        }
        let mut sent = Vec::new();
        for q in 0..workers {
            let path = d.join(format!("out{q}.pcap"));
            sent.extend(
                natrix::ports::capture::read(&path)
                    .unwrap()
                    .frames
                    .into_iter()
                    .map(|f| f.data),
            );
        }
        sent.sort();
        assert_eq!(sent.len(), want.len());
        for (g, w) in sent.iter().zip(&want) {
            assert!(
                g == w,
                "{workers} worker(s): a fragment differs\n got: {g:02x?}\nwant: {w:02x?}"
            );
        }
        std::fs::remove_dir_all(&d).ok();
    }
}
