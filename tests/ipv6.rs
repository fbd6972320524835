//! The IPv6 data path against frames built independently with etherparse:
//! translation both ways (TCP and UDP, extension headers, NAT rules), the
//! named drops, Neighbor Discovery and echo answers, ICMPv6 errors that
//! follow their connection, and several workers in replay.

use etherparse::{Icmpv6Type, PacketBuilder, SlicedPacket, TransportSlice};
use natrix::config::Config;
use natrix::control::plane::ControlPlane;
use natrix::dataplane::counters::{DropReason, Event};
use natrix::dataplane::Verdict;
use std::net::Ipv6Addr;

mod support;
use support::translation::{replay_frames, Lb, BE_SIDE_MAC, GW_MAC, LB_MAC, PEER_MAC};

const CONFIG: &str = concat!(
    r#"
[appliance]
mac = "02:00:00:00:00:01"
addresses = ["198.18.0.1", "2001:db8::1"]
gateway_mac = "02:00:00:00:00:fe"

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

[[frontend]]
name = "web4"
address = "198.18.1.10"
port = 80
protocol = "tcp"

"#,
    include_str!("fixtures/ipv6_pools.toml"),
    r#"
[[pool]]
name = "web4"
next_hop_mac = "02:00:00:00:01:fe"

[[pool.backend]]
address = "198.19.1.11"
port = 8080

[[rule]]
frontend = "web6"
pool = "web6"

[[rule]]
frontend = "dns6"
pool = "dns6"
mode = "maglev"

[[rule]]
frontend = "web4"
pool = "web4"

[[nat_rule]]
frontend = "ssh6"
address = "2001:db8:1::22"
port = 22
mac = "02:00:00:00:01:16"
"#
);

const BE_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x01, 0xfe];
const NAT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x01, 0x16];

fn a(s: &str) -> [u8; 16] {
    s.parse::<Ipv6Addr>().unwrap().octets()
}

fn fe() -> [u8; 16] {
    a("2001:db8::10")
}

fn client(i: u16) -> [u8; 16] {
    let mut c = a("2001:db8:ffff::");
    c[14..].copy_from_slice(&i.to_be_bytes());
    c[8] = 0x5a;
    c
}

fn web_backends() -> Vec<[u8; 16]> {
    ["2001:db8:1::11", "2001:db8:1::12", "2001:db8:1::13"]
        .iter()
        .map(|s| a(s))
        .collect()
}

fn lb() -> Lb {
    Lb::with(CONFIG, 1 << 12)
}

/// A TCP segment over IPv6, every field and checksum by etherparse.
#[allow(clippy::too_many_arguments)]
fn tcp6(
    macs: ([u8; 6], [u8; 6]),
    src: ([u8; 16], u16),
    dst: ([u8; 16], u16),
    hops: u8,
    syn: bool,
    seq: u32,
    payload: &[u8],
) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv6(src.0, dst.0, hops)
        .tcp(src.1, dst.1, seq, 64000);
    let b = if syn { b.syn() } else { b.ack(1).psh() };
    let mut out = Vec::new();
    b.write(&mut out, payload).unwrap();
    out
}

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

/// The destination address of an IPv6 frame without VLAN tags.
fn dst_of(frame: &[u8]) -> [u8; 16] {
    frame[38..54].try_into().unwrap()
}

#[test]
fn tcp_both_ways_matches_etherparse() {
    let mut lb = lb();
    let mut seen = std::collections::HashSet::new();
    for i in 1..=60u16 {
        let c = (client(i), 40000 + i);
        let syn = tcp6((PEER_MAC, LB_MAC), c, (fe(), 80), 64, true, 1000, &[]);
        let (v, out) = lb.one(&syn);
        assert_eq!(v, Verdict::ToPrivate, "client {i}'s SYN");
        let be = dst_of(&out);
        assert!(web_backends().contains(&be), "client {i} went to {be:02x?}");
        seen.insert(be);
        let want = tcp6((LB_MAC, BE_MAC), c, (be, 8080), 63, true, 1000, &[]);
        assert_eq!(out, want, "client {i}'s SYN as the backend gets it");
        // Data on the same connection goes to the same backend.
        let data = tcp6(
            (PEER_MAC, LB_MAC),
            c,
            (fe(), 80),
            9,
            false,
            1001,
            b"GET / HTTP/1.1\r\n\r\n",
        );
        let (v, out) = lb.one(&data);
        assert_eq!(v, Verdict::ToPrivate);
        let want = tcp6(
            (LB_MAC, BE_MAC),
            c,
            (be, 8080),
            8,
            false,
            1001,
            b"GET / HTTP/1.1\r\n\r\n",
        );
        assert_eq!(out, want, "client {i}'s data");
        // The backend's reply leaves from the frontend.
        let reply = tcp6(
            (BE_SIDE_MAC, LB_MAC),
            (be, 8080),
            c,
            64,
            false,
            5000,
            b"HTTP/1.1 200 OK\r\n",
        );
        let (v, out) = lb.one(&reply);
        assert_eq!(v, Verdict::ToPublic, "client {i}'s reply");
        let want = tcp6(
            (LB_MAC, GW_MAC),
            (fe(), 80),
            c,
            63,
            false,
            5000,
            b"HTTP/1.1 200 OK\r\n",
        );
        assert_eq!(out, want, "client {i}'s reply as the client gets it");
    }
    assert_eq!(seen.len(), 3, "60 clients over three backends");
    assert_eq!(lb.event(Event::ConnectionCreated), 60);
    assert_eq!(lb.event(Event::Return), 60);
    assert_eq!(lb.dp.flows6().occupied(), 60);
    assert_eq!(lb.dp.flows().occupied(), 0);
}

#[test]
fn udp_both_ways_matches_etherparse() {
    let mut lb = lb();
    for i in 1..=20u16 {
        let c = (client(i), 50000 + i);
        let q = udp6((PEER_MAC, LB_MAC), c, (fe(), 53), 64, b"query");
        let (v, out) = lb.one(&q);
        assert_eq!(v, Verdict::ToPrivate);
        let be = dst_of(&out);
        assert!([a("2001:db8:1::21"), a("2001:db8:1::22")].contains(&be));
        assert_eq!(out, udp6((LB_MAC, BE_MAC), c, (be, 5353), 63, b"query"));
        let r = udp6((BE_SIDE_MAC, LB_MAC), (be, 5353), c, 64, b"answer");
        let (v, out) = lb.one(&r);
        assert_eq!(v, Verdict::ToPublic);
        assert_eq!(out, udp6((LB_MAC, GW_MAC), (fe(), 53), c, 63, b"answer"));
    }
}

#[test]
fn nat_rule_both_ways() {
    let mut lb = lb();
    let c = (client(7), 41000);
    let be = (a("2001:db8:1::22"), 22);
    let (v, out) = lb.one(&tcp6((PEER_MAC, LB_MAC), c, (fe(), 2222), 64, true, 7, &[]));
    assert_eq!(v, Verdict::ToPrivate);
    assert_eq!(out, tcp6((LB_MAC, NAT_MAC), c, be, 63, true, 7, &[]));
    let (v, out) = lb.one(&tcp6(
        (BE_SIDE_MAC, LB_MAC),
        be,
        c,
        64,
        false,
        9,
        b"SSH-2.0",
    ));
    assert_eq!(v, Verdict::ToPublic);
    assert_eq!(
        out,
        tcp6((LB_MAC, GW_MAC), (fe(), 2222), c, 63, false, 9, b"SSH-2.0")
    );
}

/// Inserts `n` Destination Options headers (8 bytes of PadN each) between
/// the IPv6 header and the upper layer; the last one names `last` as its
/// next header, or the upper layer.
fn with_dest_options(frame: &[u8], n: usize, last: Option<u8>) -> Vec<u8> {
    let upper = frame[20];
    let mut out = frame[..54].to_vec();
    out[20] = 60;
    for i in 0..n {
        let next = if i + 1 == n {
            last.unwrap_or(upper)
        } else {
            60
        };
        out.extend_from_slice(&[next, 0, 1, 4, 0, 0, 0, 0]);
    }
    out.extend_from_slice(&frame[54..]);
    let len = (out.len() - 54) as u16;
    out[18..20].copy_from_slice(&len.to_be_bytes());
    out
}

#[test]
fn extension_headers_are_walked_and_limited() {
    let mut lb = lb();
    let c = (client(3), 40003);
    let syn = tcp6((PEER_MAC, LB_MAC), c, (fe(), 80), 64, true, 1, &[]);
    // Two Destination Options headers: walked, forwarded, the headers kept.
    let (v, out) = lb.one(&with_dest_options(&syn, 2, None));
    assert_eq!(v, Verdict::ToPrivate);
    let be = dst_of(&out);
    let want = with_dest_options(
        &tcp6((LB_MAC, BE_MAC), c, (be, 8080), 63, true, 1, &[]),
        2,
        None,
    );
    assert_eq!(out, want);
    // Nine: more than the walker crosses.
    let (v, _) = lb.one(&with_dest_options(&syn, 9, None));
    assert_eq!(v, Verdict::Drop(DropReason::MalformedIpv6Ext));
    // ESP after a Destination Options header: not crossed.
    let (v, _) = lb.one(&with_dest_options(&syn, 1, Some(50)));
    assert_eq!(v, Verdict::Drop(DropReason::Ipv6ExtHeader));
}

#[test]
fn named_drops() {
    let mut lb = lb();
    let c = (client(1), 40001);
    let cases: Vec<(&str, Vec<u8>, DropReason)> = vec![
        (
            "hop limit 1",
            tcp6((PEER_MAC, LB_MAC), c, (fe(), 80), 1, true, 1, &[]),
            DropReason::TtlExpired,
        ),
        (
            "UDP without checksum",
            {
                let mut f = udp6((PEER_MAC, LB_MAC), c, (fe(), 53), 64, b"x");
                f[60..62].copy_from_slice(&[0, 0]);
                f
            },
            DropReason::UdpZeroChecksum,
        ),
        (
            "from ::1",
            tcp6(
                (PEER_MAC, LB_MAC),
                (a("::1"), 1),
                (fe(), 80),
                64,
                true,
                1,
                &[],
            ),
            DropReason::MartianSource,
        ),
        (
            "from a multicast address",
            tcp6(
                (PEER_MAC, LB_MAC),
                (a("ff02::1"), 1),
                (fe(), 80),
                64,
                true,
                1,
                &[],
            ),
            DropReason::MartianSource,
        ),
        (
            "from a link-local address to a frontend",
            tcp6(
                (PEER_MAC, LB_MAC),
                (a("fe80::1"), 1),
                (fe(), 80),
                64,
                true,
                1,
                &[],
            ),
            DropReason::MartianSource,
        ),
        (
            "to no frontend",
            tcp6((PEER_MAC, LB_MAC), c, (fe(), 81), 64, true, 1, &[]),
            DropReason::NoService,
        ),
        (
            "a backend's packet for no connection",
            tcp6(
                (BE_SIDE_MAC, LB_MAC),
                (web_backends()[0], 8080),
                c,
                64,
                false,
                1,
                &[],
            ),
            DropReason::ReturnNoFlow,
        ),
        (
            "mid-stream for no connection",
            tcp6((PEER_MAC, LB_MAC), c, (fe(), 80), 64, false, 1, b"x"),
            DropReason::NoFlow,
        ),
        (
            "an IPv6 header cut short",
            tcp6((PEER_MAC, LB_MAC), c, (fe(), 80), 64, true, 1, &[])[..40].to_vec(),
            DropReason::MalformedIp,
        ),
    ];
    for (what, frame, want) in cases {
        let (v, _) = lb.one(&frame);
        assert_eq!(v, Verdict::Drop(want), "{what}");
    }
}

/// A Neighbor Solicitation for `target` from `src`, with a Source
/// Link-Layer Address option unless `bare`.
fn ns(src: [u8; 16], target: [u8; 16], hops: u8, bare: bool) -> Vec<u8> {
    let mut snm = a("ff02::1:ff00:0");
    snm[13..].copy_from_slice(&target[13..]);
    let mut body = vec![0u8; 4];
    body.extend_from_slice(&target);
    if !bare {
        body.extend_from_slice(&[1, 1]);
        body.extend_from_slice(&PEER_MAC);
    }
    let mut out = Vec::new();
    PacketBuilder::ethernet2(PEER_MAC, [0x33, 0x33, 0xff, snm[13], snm[14], snm[15]])
        .ipv6(src, snm, hops)
        .icmpv6(Icmpv6Type::Unknown {
            type_u8: 135,
            code_u8: 0,
            bytes5to8: [0; 4],
        })
        .write(&mut out, &body[4..])
        .unwrap();
    out
}

#[test]
fn neighbor_solicitations_for_our_addresses_are_answered() {
    let mut lb = lb();
    let asker = a("2001:db8::99");
    for target in [fe(), a("2001:db8::1")] {
        let (v, out) = lb.one(&ns(asker, target, 255, false));
        assert_eq!(v, Verdict::Reply);
        let p = SlicedPacket::from_ethernet(&out).unwrap();
        let eth = p.link.as_ref().unwrap().to_header().unwrap();
        let eth = match eth {
            etherparse::LinkHeader::Ethernet2(e) => e,
            _ => panic!("not Ethernet II"),
        };
        assert_eq!((eth.source, eth.destination), (LB_MAC, PEER_MAC));
        let Some(etherparse::NetSlice::Ipv6(ip)) = &p.net else {
            panic!("not IPv6")
        };
        let h = ip.header();
        assert_eq!(h.source(), target);
        assert_eq!(h.destination(), asker);
        assert_eq!(h.hop_limit(), 255);
        let Some(TransportSlice::Icmpv6(icmp)) = &p.transport else {
            panic!("not ICMPv6")
        };
        assert_eq!(icmp.type_u8(), 136, "a Neighbor Advertisement");
        // Solicited and Override, not Router.
        assert_eq!(icmp.bytes5to8(), [0x60, 0, 0, 0]);
        let payload = icmp.payload();
        assert_eq!(&payload[..16], &target);
        assert_eq!(
            &payload[16..18],
            &[2, 1],
            "Target Link-Layer Address option"
        );
        assert_eq!(&payload[18..24], &LB_MAC);
        // The checksum, recomputed by etherparse over the same message.
        let header = icmp.header();
        let want = header
            .icmp_type
            .calc_checksum(target, asker, payload)
            .unwrap();
        assert_eq!(header.checksum, want);
    }
    assert_eq!(lb.event(Event::NdAnswered), 2);
    let cases = [
        (
            "another address",
            ns(asker, a("2001:db8::77"), 255, false),
            DropReason::NdNotForUs,
        ),
        (
            "duplicate address detection",
            ns(a("::"), fe(), 255, true),
            DropReason::MartianSource,
        ),
        (
            "hop limit not 255",
            ns(asker, fe(), 64, false),
            DropReason::MalformedNd,
        ),
    ];
    for (what, frame, want) in cases {
        let (v, _) = lb.one(&frame);
        assert_eq!(v, Verdict::Drop(want), "{what}");
    }
    // Without an option to make room in, the answer has none (RFC 4861
    // 7.2.4 allows it for a unicast solicitation).
    let (v, out) = lb.one(&ns(asker, fe(), 255, true));
    assert_eq!(v, Verdict::Reply);
    assert_eq!(u16::from_be_bytes([out[18], out[19]]), 24);
}

#[test]
fn echo_requests_to_our_addresses_are_answered() {
    let mut lb = lb();
    let asker = a("2001:db8::99");
    let mut req = Vec::new();
    PacketBuilder::ethernet2(PEER_MAC, LB_MAC)
        .ipv6(asker, fe(), 64)
        .icmpv6_echo_request(0x1234, 7)
        .write(&mut req, b"ping")
        .unwrap();
    let (v, out) = lb.one(&req);
    assert_eq!(v, Verdict::Reply);
    let mut want = Vec::new();
    PacketBuilder::ethernet2(LB_MAC, PEER_MAC)
        .ipv6(fe(), asker, 64)
        .icmpv6_echo_reply(0x1234, 7)
        .write(&mut want, b"ping")
        .unwrap();
    assert_eq!(out, want);
}

/// An ICMPv6 error of `ty` from `src` to `dst` quoting `quoted` (an IPv6
/// packet without its Ethernet header), checksum by etherparse.
fn icmp6_error(
    macs: ([u8; 6], [u8; 6]),
    src: [u8; 16],
    dst: [u8; 16],
    ty: Icmpv6Type,
    quoted: &[u8],
) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv6(src, dst, 64)
        .icmpv6(ty)
        .write(&mut out, quoted)
        .unwrap();
    out
}

#[test]
fn packet_too_big_reaches_the_backend_of_its_connection() {
    let router = a("2001:db8:9::1");
    let big = Icmpv6Type::PacketTooBig { mtu: 1280 };
    for workers in [1usize, 2] {
        let cfg = Config::parse(CONFIG, "ipv6.toml").unwrap();
        let cp = ControlPlane::new(cfg).unwrap();
        let mut frames = Vec::new();
        let mut lb = lb();
        let mut expected = Vec::new();
        for i in 1..=30u16 {
            let c = (client(i), 42000 + i);
            let syn = tcp6((PEER_MAC, LB_MAC), c, (fe(), 80), 64, true, 1, &[]);
            let (_, out) = lb.one(&syn);
            let be = dst_of(&out);
            let reply = tcp6(
                (BE_SIDE_MAC, LB_MAC),
                (be, 8080),
                c,
                64,
                false,
                9,
                &[0x5a; 1400],
            );
            let (_, sent) = lb.one(&reply);
            // The router on the client side quotes what natrix sent.
            let quote = &sent[14..14 + 1232];
            let err = icmp6_error((PEER_MAC, LB_MAC), router, fe(), big, quote);
            let (v, out) = lb.one(&err);
            assert_eq!(v, Verdict::ToPrivate, "client {i}'s Packet Too Big");
            // What the backend gets: to it, quoting its own segment.
            let own = &tcp6(
                (BE_SIDE_MAC, LB_MAC),
                (be, 8080),
                c,
                63,
                false,
                9,
                &[0x5a; 1400],
            )[14..14 + 1232];
            let want = icmp6_error((LB_MAC, BE_MAC), router, be, big, own);
            let mut want = want;
            want[21] = 63; // one hop through natrix
            assert_eq!(
                out, want,
                "client {i}'s Packet Too Big as the backend gets it"
            );
            frames.push(syn);
            frames.push(reply);
            frames.push(err);
            expected.push(want);
        }
        // The same through replay with several workers: every error reaches
        // its connection's owner.
        let timed: Vec<(u64, Vec<u8>)> = frames.into_iter().map(|f| (0, f)).collect();
        let (s, out) = replay_frames(&cp, timed, workers, &format!("ptb6-{workers}"));
        assert_eq!(s.dropped(), 0, "{workers} workers: {:?}", s.counters.drops);
        let got: std::collections::HashSet<Vec<u8>> = out.into_iter().collect();
        for w in &expected {
            assert!(got.contains(w), "{workers} workers: an error missing");
        }
    }
}

#[test]
fn errors_from_the_private_side_reach_the_client_from_the_frontend() {
    let unreachable =
        Icmpv6Type::DestinationUnreachable(etherparse::icmpv6::DestUnreachableCode::Port);
    let mut lb = lb();
    for (i, from_router) in [(1u16, false), (2, true)] {
        let c = (client(i), 43000 + i);
        let q = udp6((PEER_MAC, LB_MAC), c, (fe(), 53), 64, b"query");
        let (v, sent) = lb.one(&q);
        assert_eq!(v, Verdict::ToPrivate);
        let be = dst_of(&sent);
        // The backend (or a router on the private side) quotes what it got.
        let src = if from_router { a("2001:db8:1::fe") } else { be };
        let err = icmp6_error((BE_SIDE_MAC, LB_MAC), src, c.0, unreachable, &sent[14..]);
        let (v, out) = lb.one(&err);
        assert_eq!(v, Verdict::ToPublic, "from the router: {from_router}");
        // What the client gets: from the frontend, quoting its own query.
        let mut want = icmp6_error((LB_MAC, GW_MAC), fe(), c.0, unreachable, &{
            let mut own = udp6((PEER_MAC, LB_MAC), c, (fe(), 53), 63, b"query");
            own.drain(..14);
            own
        });
        want[21] = 63;
        assert_eq!(out, want, "from the router: {from_router}");
    }
    // About no connection natrix tracks: dropped.
    let stray = udp6(
        (LB_MAC, BE_MAC),
        (client(9), 1),
        (a("2001:db8:1::21"), 5353),
        63,
        b"q",
    );
    let err = icmp6_error(
        (BE_SIDE_MAC, LB_MAC),
        a("2001:db8:1::21"),
        client(9),
        unreachable,
        &stray[14..],
    );
    let (v, _) = lb.one(&err);
    assert_eq!(v, Verdict::Drop(DropReason::IcmpNoFlow));
    // From the client side about a connection that does not exist.
    let big = Icmpv6Type::PacketTooBig { mtu: 1280 };
    let reply = tcp6(
        (LB_MAC, GW_MAC),
        (fe(), 80),
        (client(9), 1),
        63,
        false,
        1,
        &[0; 100],
    );
    let err = icmp6_error(
        (PEER_MAC, LB_MAC),
        a("2001:db8:9::1"),
        fe(),
        big,
        &reply[14..],
    );
    let (v, _) = lb.one(&err);
    assert_eq!(v, Verdict::Drop(DropReason::IcmpNoFlow));
    // An error whose checksum is wrong.
    let (v, _) = lb.one(&{
        let mut e = icmp6_error(
            (PEER_MAC, LB_MAC),
            a("2001:db8:9::1"),
            fe(),
            big,
            &reply[14..],
        );
        e[56] ^= 1;
        e
    });
    assert_eq!(v, Verdict::Drop(DropReason::MalformedIcmp));
}

#[test]
fn ipv4_and_ipv6_side_by_side() {
    let mut lb = lb();
    // IPv4 to its own frontend, through the IPv4 table.
    let mut syn4 = Vec::new();
    PacketBuilder::ethernet2(PEER_MAC, LB_MAC)
        .ipv4([198, 18, 200, 7], [198, 18, 1, 10], 64)
        .tcp(40000, 80, 1, 64000)
        .syn()
        .write(&mut syn4, &[])
        .unwrap();
    let (v, out) = lb.one(&syn4);
    assert_eq!(v, Verdict::ToPrivate);
    assert_eq!(&out[30..34], &[198, 19, 1, 11]);
    let (v, _) = lb.one(&tcp6(
        (PEER_MAC, LB_MAC),
        (client(1), 40000),
        (fe(), 80),
        64,
        true,
        1,
        &[],
    ));
    assert_eq!(v, Verdict::ToPrivate);
    assert_eq!(lb.dp.flows().occupied(), 1);
    assert_eq!(lb.dp.flows6().occupied(), 1);
    assert_eq!(lb.dp.active_connections(), 2);
    // An IPv6 packet to the IPv4 frontend's port on an IPv6 address that
    // is no frontend, and the other way round: no service.
    let (v, _) = lb.one(&tcp6(
        (PEER_MAC, LB_MAC),
        (client(1), 40001),
        (a("2001:db8::11"), 80),
        64,
        true,
        1,
        &[],
    ));
    assert_eq!(v, Verdict::Drop(DropReason::NoService));
}

#[test]
fn idle_ipv6_connections_are_reset_both_ways() {
    use natrix::dataplane::flow::Dir;
    let config = CONFIG.replace(
        "[[rule]]\nfrontend = \"web6\"\npool = \"web6\"\n",
        "[[rule]]\nfrontend = \"web6\"\npool = \"web6\"\ntcp_reset_on_idle = true\n",
    );
    assert_ne!(config, CONFIG);
    let mut lb = Lb::with(&config, 1 << 10);
    let c = (client(5), 44000);
    lb.dp.set_clock(10);
    let (v, out) = lb.one(&tcp6(
        (PEER_MAC, LB_MAC),
        c,
        (fe(), 80),
        64,
        true,
        1000,
        &[],
    ));
    assert_eq!(v, Verdict::ToPrivate);
    let be = dst_of(&out);
    // The client's ACK (with data) establishes the connection: its next
    // sequence number is 1001 + 5, its acknowledgment 1 (tcp6's ack(1)).
    let (v, _) = lb.one(&tcp6(
        (PEER_MAC, LB_MAC),
        c,
        (fe(), 80),
        64,
        false,
        1001,
        b"hello",
    ));
    assert_eq!(v, Verdict::ToPrivate);
    let cap = lb.dp.flows6().capacity();
    lb.dp.set_clock(10 + 240 + 1);
    assert_eq!(lb.dp.sweep(cap), 1);
    let r = lb.dp.take_reset().expect("no reset queued");
    assert!(lb.dp.take_reset().is_none());
    for (to, macs, src, dst, seq, ack) in [
        (Dir::Client, (LB_MAC, GW_MAC), (fe(), 80), c, 1, 1006),
        (Dir::Backend, (LB_MAC, BE_MAC), c, (be, 8080), 1006, 1),
    ] {
        let mut frame = vec![0u8; r.frame_len()];
        assert!(lb.dp.write_reset(&r, to, &mut frame), "{to:?}");
        let mut want = Vec::new();
        PacketBuilder::ethernet2(macs.0, macs.1)
            .ipv6(src.0, dst.0, 64)
            .tcp(src.1, dst.1, seq, 0)
            .rst()
            .ack(ack)
            .write(&mut want, &[])
            .unwrap();
        assert_eq!(frame, want, "the RST to the {to:?}");
    }
}

/// With gateways resolved rather than written by hand, replies of IPv6
/// connections go to the IPv6 gateway's MAC and IPv4 ones to the IPv4
/// gateway's, when the two differ (replay learns both from the capture:
/// the source MACs of the frames to the frontends), with 1 and 2 workers.
#[test]
fn replies_go_to_their_own_familys_gateway() {
    let text = include_str!("../examples/lab.toml");
    let g4 = [0x02, 0, 0, 0, 0x04, 0x04];
    let g6 = [0x02, 0, 0, 0, 0x06, 0x06];
    let lab_mac = [0x02, 0x4e, 0x58, 0, 0, 0x01];
    let (c4, fe4) = ([198, 18, 1, 2], [198, 18, 1, 10]);
    let (c6, fe6) = (a("2001:2:0:1::2"), a("2001:2:0:1::10"));
    let mut frames = Vec::new();
    let mut push = |f: Vec<u8>| frames.push((frames.len() as u64, f));
    let mut syn4 = Vec::new();
    PacketBuilder::ethernet2(g4, lab_mac)
        .ipv4(c4, fe4, 64)
        .tcp(41000, 80, 1, 64000)
        .syn()
        .write(&mut syn4, &[])
        .unwrap();
    push(syn4);
    push(tcp6(
        (g6, lab_mac),
        (c6, 42000),
        (fe6, 80),
        64,
        true,
        1,
        &[],
    ));
    // A reply from each backend: the one whose connection it is passes.
    for i in 1..=3u8 {
        let be_mac = [0x02, 0, 0, 0, 0xbe, i];
        let mut r4 = Vec::new();
        PacketBuilder::ethernet2(be_mac, lab_mac)
            .ipv4([198, 19, 1, 10 + i], c4, 64)
            .tcp(8080, 41000, 5, 64000)
            .ack(2)
            .write(&mut r4, b"4")
            .unwrap();
        push(r4);
        let be6 = a(&format!("2001:2:1:1::1{i}"));
        push(tcp6(
            (be_mac, lab_mac),
            (be6, 8080),
            (c6, 42000),
            64,
            false,
            5,
            b"6",
        ));
    }
    for workers in [1usize, 2] {
        let mut cp = ControlPlane::new(Config::parse(text, "lab.toml").unwrap()).unwrap();
        // As `natrix replay` does: the neighbours from the capture.
        let capture = support::translation::timed_capture(frames.clone());
        natrix::app::replay::resolve_from_capture(&mut cp, &capture);
        let (s, out) = replay_frames(&cp, frames.clone(), workers, &format!("gw-{workers}"));
        assert_eq!(
            s.dropped(),
            4,
            "{workers} workers: the other backends' replies only"
        );
        let to_client = |f: &&Vec<u8>| f[26..30] == [198, 18, 1, 10] || f[22..38] == fe6;
        let replies: Vec<&Vec<u8>> = out.iter().filter(to_client).collect();
        assert_eq!(
            replies.len(),
            2,
            "{workers} workers: one reply per family: {out:02x?}"
        );
        for f in replies {
            let v6 = f[12..14] == [0x86, 0xdd];
            let want = if v6 { g6 } else { g4 };
            assert_eq!(
                f[..6],
                want,
                "{workers} workers: an IPv{} reply",
                if v6 { 6 } else { 4 }
            );
        }
    }
}
