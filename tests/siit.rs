//! SIIT (RFC 7915): IPv6 clients of a frontend with `siit = true` served
//! by IPv4 backends, against frames built independently with etherparse:
//! TCP and UDP both ways, the source ports (distinct, owned by the
//! connection's worker, exhausted by name), ICMP errors both ways, the named
//! drops, and several workers.

use natrix::dataplane::counters::{DropReason, Event};
use natrix::dataplane::{handoff, siit, v6, Dataplane, Verdict};
use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, Ipv6Addr};

mod support;
use support::siit::*;
use support::translation::{inet_checksum, Lb, BE_SIDE_MAC, GW_MAC, LB_MAC, PEER_MAC};

fn drop(r: DropReason) -> support::translation::Want {
    support::translation::Want::Drop(r)
}

#[test]
fn tcp_both_ways_matches_etherparse() {
    let mut lb = lb();
    let mut backends = HashSet::new();
    let mut taken = HashSet::new();
    for i in 1..=60u32 {
        let c = (client(i), 40000 + i as u16);
        let syn = T::Tcp {
            syn: true,
            seq: 1000,
        };
        let (v, out) = lb.one(&v6((PEER_MAC, LB_MAC), c, (fe(), 80), 64, 0, syn, &[]));
        assert_eq!(v, Verdict::ToPrivate, "client {i}'s SYN");
        let (src, be) = ends4(&out);
        assert!(sources().contains(&src.0), "client {i} left from {src:?}");
        assert!(src.1 >= siit::FIRST_PORT, "source port {}", src.1);
        assert!(taken.insert(src), "source {src:?} given twice");
        assert_eq!(be.1, 8080);
        backends.insert(be.0);
        let want = v4((LB_MAC, BE_MAC), src, be, 63, syn, &[]);
        assert_eq!(out, want, "client {i}'s SYN as the backend gets it");

        // Data on the connection: the same source and backend.
        let data = T::Tcp {
            syn: false,
            seq: 1001,
        };
        let get = b"GET / HTTP/1.1\r\n\r\n";
        let (v, out) = lb.one(&v6((PEER_MAC, LB_MAC), c, (fe(), 80), 9, 0, data, get));
        assert_eq!(v, Verdict::ToPrivate);
        assert_eq!(
            out,
            v4((LB_MAC, BE_MAC), src, be, 8, data, get),
            "client {i}'s data"
        );

        // The backend's reply reaches the client from the frontend.
        let ok = b"HTTP/1.1 200 OK\r\n";
        let reply = T::Tcp {
            syn: false,
            seq: 5000,
        };
        let (v, out) = lb.one(&v4((BE_SIDE_MAC, LB_MAC), be, src, 64, reply, ok));
        assert_eq!(v, Verdict::ToPublic, "client {i}'s reply");
        let want = v6((LB_MAC, GW_MAC), (fe(), 80), c, 63, 0, reply, ok);
        assert_eq!(out, want, "client {i}'s reply as the client gets it");
    }
    assert_eq!(backends.len(), 3, "60 clients over three backends");
    assert_eq!(lb.event(Event::ConnectionCreated), 60);
    assert_eq!(lb.event(Event::SiitTranslated), 180);
    assert_eq!(lb.event(Event::Return), 60);
    assert_eq!(lb.dp.flows6().occupied(), 60);
    assert_eq!(lb.dp.flows().occupied(), 0, "no IPv4 connection");
}

#[test]
fn udp_both_ways_and_a_backend_without_checksum() {
    let mut lb = lb();
    for i in 1..=20u32 {
        let c = (client(i), 50000 + i as u16);
        let q = v6((PEER_MAC, LB_MAC), c, (fe(), 53), 64, 0, T::Udp, b"query");
        let (v, out) = lb.one(&q);
        assert_eq!(v, Verdict::ToPrivate);
        let (src, be) = ends4(&out);
        assert!(sources().contains(&src.0));
        assert_eq!(out, v4((LB_MAC, BE_MAC), src, be, 63, T::Udp, b"query"));
        let r = v4((BE_SIDE_MAC, LB_MAC), be, src, 64, T::Udp, b"answer");
        let want = v6((LB_MAC, GW_MAC), (fe(), 53), c, 63, 0, T::Udp, b"answer");
        assert_eq!(lb.one(&r), (Verdict::ToPublic, want.clone()));
        // IPv4 allows a UDP datagram without a checksum; IPv6 does not:
        // natrix computes it.
        let mut bare = r.clone();
        bare[40..42].copy_from_slice(&[0, 0]);
        assert_eq!(
            lb.one(&bare),
            (Verdict::ToPublic, want),
            "checksum 0 from the backend"
        );
    }
}

#[test]
fn traffic_class_and_tos_carry_over_and_headers_check() {
    let mut lb = lb();
    let c = (client(7), 41000);
    let syn = T::Tcp { syn: true, seq: 1 };
    let (v, out) = lb.one(&v6((PEER_MAC, LB_MAC), c, (fe(), 80), 64, 0xb8, syn, &[]));
    assert_eq!(v, Verdict::ToPrivate);
    assert_eq!(out[15], 0xb8, "traffic class -> type of service");
    assert_eq!(inet_checksum(&out[14..34]), 0, "IPv4 header checksum");
    let (src, be) = ends4(&out);
    let mut reply = v4(
        (BE_SIDE_MAC, LB_MAC),
        be,
        src,
        64,
        T::Tcp { syn: false, seq: 9 },
        b"x",
    );
    reply[15] = 0x28;
    support::translation::fix_ip_checksum(&mut reply, 14);
    let (v, out) = lb.one(&reply);
    assert_eq!(v, Verdict::ToPublic);
    assert_eq!(
        ((out[14] & 0x0f) << 4) | (out[15] >> 4),
        0x28,
        "type of service -> traffic class"
    );
}

#[test]
fn named_drops() {
    let mut lb = lb();
    let c = (client(1), 40001);
    let syn = T::Tcp { syn: true, seq: 1 };
    let (_, out) = lb.one(&v6((PEER_MAC, LB_MAC), c, (fe(), 80), 64, 0, syn, &[]));
    let (src, be) = ends4(&out);
    let reply = T::Tcp { syn: false, seq: 9 };

    // A reply to a source port no connection holds.
    let other = (src.0, if src.1 == 65535 { 1024 } else { src.1 + 1 });
    let f = v4((BE_SIDE_MAC, LB_MAC), be, other, 64, reply, b"x");
    lb.expect("unheld source port", &f, &drop(DropReason::ReturnNoFlow));
    // From another backend than the connection's.
    let stranger = if be.0 == Ipv4Addr::new(198, 19, 1, 11) {
        Ipv4Addr::new(198, 19, 1, 12)
    } else {
        Ipv4Addr::new(198, 19, 1, 11)
    };
    let f = v4(
        (BE_SIDE_MAC, LB_MAC),
        (stranger, 8080),
        src,
        64,
        reply,
        b"x",
    );
    lb.expect("another backend", &f, &drop(DropReason::ReturnNoFlow));
    // To an address that is no SIIT source.
    let f = v4(
        (BE_SIDE_MAC, LB_MAC),
        be,
        (Ipv4Addr::new(198, 19, 0, 99), src.1),
        64,
        reply,
        b"x",
    );
    lb.expect("not a SIIT source", &f, &drop(DropReason::ReturnNoFlow));
    // With IPv4 options (a no-op and an end of list).
    let mut f = v4((BE_SIDE_MAC, LB_MAC), be, src, 64, reply, b"x");
    f.splice(34..34, [1, 1, 1, 0]);
    f[14] = 0x46;
    let total = u16::from_be_bytes([f[16], f[17]]) + 4;
    f[16..18].copy_from_slice(&total.to_be_bytes());
    support::translation::fix_ip_checksum(&mut f, 14);
    lb.expect("IPv4 options", &f, &drop(DropReason::SiitUntranslatable));
    // A fragment, either way: a first fragment (offset 0, more to come)
    // of a UDP datagram, its checksum by etherparse.
    let mut f = v6(
        (PEER_MAC, LB_MAC),
        (c.0, 50000),
        (fe(), 53),
        64,
        0,
        T::Udp,
        &[7u8; 64],
    );
    f.splice(54..54, [17, 0, 0, 1, 0, 0, 0, 77]);
    f[20] = 44;
    let len = u16::from_be_bytes([f[18], f[19]]) + 8;
    f[18..20].copy_from_slice(&len.to_be_bytes());
    lb.expect("IPv6 first fragment", &f, &drop(DropReason::SiitFragment));
    let (_, out) = lb.one(&v6(
        (PEER_MAC, LB_MAC),
        (client(2), 5000),
        (fe(), 53),
        64,
        0,
        T::Udp,
        b"q",
    ));
    let (usrc, ube) = ends4(&out);
    let mut f = v4((BE_SIDE_MAC, LB_MAC), ube, usrc, 64, T::Udp, &[9u8; 64]);
    f[20] = 0x20; // more fragments
    f[21] = 0;
    f[20] &= !0x40;
    support::translation::fix_ip_checksum(&mut f, 14);
    lb.expect("IPv4 first fragment", &f, &drop(DropReason::SiitFragment));
    // Still translated: the connection's own packets.
    let f = v4((BE_SIDE_MAC, LB_MAC), be, src, 64, reply, b"x");
    assert_eq!(lb.one(&f).0, Verdict::ToPublic);
}

/// One SIIT address, more connections than its ports: each live
/// connection holds a port of its own, and those that find none are
/// dropped by name; once connections expire, their ports are given again.
#[test]
fn source_ports_are_distinct_and_run_out_by_name() {
    let config = CONFIG.replace(
        r#"siit_addresses = ["198.19.0.100", "198.19.0.101"]"#,
        r#"siit_addresses = ["198.19.0.100"]"#,
    );
    let mut lb = Lb::with(&config, 1 << 17);
    let mut held: HashMap<u16, u32> = HashMap::new();
    let n = 70_000u32;
    let mut exhausted = 0;
    for i in 0..n {
        let c = (client(i + 1), 7000);
        let (v, out) = lb.one(&v6((PEER_MAC, LB_MAC), c, (fe(), 53), 64, 0, T::Udp, b"q"));
        match v {
            Verdict::ToPrivate => {
                let (src, _) = ends4(&out);
                assert_eq!(src.0, Ipv4Addr::new(198, 19, 0, 100));
                if let Some(j) = held.insert(src.1, i) {
                    panic!("port {} held by clients {j} and {i}", src.1);
                }
            }
            Verdict::Drop(DropReason::SiitPortsExhausted) => exhausted += 1,
            other => panic!("client {i}: {other:?}"),
        }
    }
    let ports = u32::from(u16::MAX - siit::FIRST_PORT) + 1;
    assert!(held.len() as u32 <= ports);
    assert!(exhausted >= n - ports, "{exhausted} exhausted");
    assert!(
        held.len() as u32 > ports * 9 / 10,
        "only {} ports given",
        held.len()
    );
    assert_eq!(
        lb.counters().drop_count(DropReason::SiitPortsExhausted),
        u64::from(exhausted)
    );
    // Five minutes on, the UDP connections have expired: new clients get ports again.
    lb.dp.set_clock(10 * 60);
    let c = (client(n + 1), 7000);
    let (v, _) = lb.one(&v6((PEER_MAC, LB_MAC), c, (fe(), 53), 64, 0, T::Udp, b"q"));
    assert_eq!(v, Verdict::ToPrivate, "a port once its holder expired");
}

/// Two workers: a connection's source port is one its worker owns, so the
/// backend's reply, received by either worker, is handed to that one.
#[test]
fn two_workers_own_their_source_ports() {
    let lb = lb();
    let mut w: Vec<Dataplane> = (0..2)
        .map(|i| {
            let mut dp = Dataplane::new(lb.cp.cell(), 1 << 12, i);
            dp.set_workers(2);
            dp
        })
        .collect();
    for i in 1..=40u32 {
        let c = (client(i), 42000);
        let owner = handoff::owner(v6::owner_input(u128::from_be_bytes(c.0)), 2);
        let syn = v6(
            (PEER_MAC, LB_MAC),
            c,
            (fe(), 80),
            64,
            0,
            T::Tcp { syn: true, seq: 1 },
            &[],
        );
        assert_eq!(
            at(&mut w[1 - owner], &syn, false).0,
            Verdict::Handoff(owner as u16)
        );
        let (v, out) = at(&mut w[owner], &syn, true);
        assert_eq!(v, Verdict::ToPrivate);
        let (src, be) = ends4(&out);
        assert_eq!(
            handoff::owner(siit::owner_input(src.1), 2),
            owner,
            "client {i}'s source port {} is another worker's",
            src.1
        );
        let reply = v4(
            (BE_SIDE_MAC, LB_MAC),
            be,
            src,
            64,
            T::Tcp { syn: false, seq: 3 },
            b"r",
        );
        assert_eq!(
            at(&mut w[1 - owner], &reply, false).0,
            Verdict::Handoff(owner as u16)
        );
        let (v, out) = at(&mut w[owner], &reply, true);
        assert_eq!(v, Verdict::ToPublic);
        let want = v6(
            (LB_MAC, GW_MAC),
            (fe(), 80),
            c,
            63,
            0,
            T::Tcp { syn: false, seq: 3 },
            b"r",
        );
        assert_eq!(out, want);
    }
}

/// ICMP errors cross the translation both ways, quotes translated, against
/// etherparse's frames; with 1 and 2 workers, and through `natrix replay`
/// with as many.
#[test]
fn icmp_errors_follow_siit_connections_both_ways() {
    use etherparse::icmpv4::DestUnreachableHeader as Unreach4;
    use etherparse::icmpv6::DestUnreachableCode as Unreach6;
    use etherparse::{Icmpv4Type, Icmpv6Type};
    let router6 = "2001:db8:9::1".parse::<Ipv6Addr>().unwrap().octets();
    let router4 = Ipv4Addr::new(198, 19, 1, 1);
    for n in [1usize, 2] {
        let lb = lb();
        let mut w = Workers::new(&lb, n);
        let (mut frames, mut expected) = (Vec::new(), Vec::new());
        let mut send = |w: &mut Workers, f: Vec<u8>| {
            let r = w.one(&f);
            frames.push((0u64, f));
            r
        };
        for i in 1..=12u32 {
            let c = (client(i), 43000 + i as u16);
            let syn = T::Tcp { syn: true, seq: 1 };
            let (_, out) = send(
                &mut w,
                v6((PEER_MAC, LB_MAC), c, (fe(), 80), 64, 0, syn, &[]),
            );
            let (src, be) = ends4(&out);
            let syn4 = out.clone();
            let data = T::Tcp { syn: false, seq: 9 };
            let big = [0x5a; 1400];
            let (v, sent) = send(&mut w, v4((BE_SIDE_MAC, LB_MAC), be, src, 64, data, &big));
            assert_eq!(v, Verdict::ToPublic);

            // Packet Too Big from a router on the client side, quoting 1232
            // bytes of the reply: to the backend as "fragmentation needed".
            let ptb = Icmpv6Type::PacketTooBig { mtu: 1400 };
            let err = icmp6(
                (PEER_MAC, LB_MAC),
                router6,
                fe(),
                64,
                ptb,
                &sent[14..14 + 1232],
            );
            let (v, out) = send(&mut w, err);
            assert_eq!(
                v,
                Verdict::ToPrivate,
                "{n} workers, client {i}: Packet Too Big"
            );
            let own = v4((BE_SIDE_MAC, LB_MAC), be, src, 63, data, &big);
            let frag = Icmpv4Type::DestinationUnreachable(Unreach4::FragmentationNeeded {
                next_hop_mtu: 1380,
            });
            let want = icmp4((LB_MAC, BE_MAC), src.0, be.0, 63, frag, &own[14..14 + 1212]);
            assert_eq!(out, want, "{n} workers, client {i}: as the backend gets it");
            expected.push(want);

            // "Fragmentation needed" from a router on the private side about
            // the SYN: to the client as Packet Too Big, the MTU 20 more.
            let frag = Icmpv4Type::DestinationUnreachable(Unreach4::FragmentationNeeded {
                next_hop_mtu: 1300,
            });
            let err = icmp4((BE_SIDE_MAC, LB_MAC), router4, src.0, 64, frag, &syn4[14..]);
            let (v, out) = send(&mut w, err);
            assert_eq!(
                v,
                Verdict::ToPublic,
                "{n} workers, client {i}: fragmentation needed"
            );
            let quote = v6((PEER_MAC, LB_MAC), c, (fe(), 80), 63, 0, syn, &[]);
            let ptb = Icmpv6Type::PacketTooBig { mtu: 1320 };
            let want = icmp6((LB_MAC, GW_MAC), fe(), c.0, 63, ptb, &quote[14..]);
            assert_eq!(out, want, "{n} workers, client {i}: as the client gets it");
            expected.push(want);

            // A UDP query to a backend port where nothing listens.
            let uc = (c.0, 53000 + i as u16);
            let q = v6((PEER_MAC, LB_MAC), uc, (fe(), 53), 64, 0, T::Udp, b"query");
            let (_, out) = send(&mut w, q);
            let (usrc, ube) = ends4(&out);
            let port = Icmpv4Type::DestinationUnreachable(Unreach4::Port);
            let err = icmp4((BE_SIDE_MAC, LB_MAC), ube.0, usrc.0, 64, port, &out[14..]);
            let (v, out) = send(&mut w, err);
            assert_eq!(
                v,
                Verdict::ToPublic,
                "{n} workers, client {i}: port unreachable"
            );
            let quote = v6((PEER_MAC, LB_MAC), uc, (fe(), 53), 63, 0, T::Udp, b"query");
            let ty = Icmpv6Type::DestinationUnreachable(Unreach6::Port);
            let want = icmp6((LB_MAC, GW_MAC), fe(), c.0, 63, ty, &quote[14..]);
            assert_eq!(
                out, want,
                "{n} workers, client {i}: port unreachable as the client gets it"
            );
            expected.push(want);
        }
        // Errors RFC 7915 does not translate, and errors about no connection.
        let q = v6(
            (PEER_MAC, LB_MAC),
            (client(99), 1),
            (fe(), 53),
            64,
            0,
            T::Udp,
            b"q",
        );
        let (_, out) = w.one(&q);
        let (usrc, ube) = ends4(&out);
        let redirect = Icmpv4Type::Unknown {
            type_u8: 3,
            code_u8: 14,
            bytes5to8: [0; 4],
        };
        let err = icmp4(
            (BE_SIDE_MAC, LB_MAC),
            ube.0,
            usrc.0,
            64,
            redirect,
            &out[14..],
        );
        assert_eq!(w.one(&err).0, Verdict::Drop(DropReason::IcmpUnsupported));
        let mut stray = out.clone();
        stray[34..36].copy_from_slice(&(usrc.1 ^ 0x5555).to_be_bytes());
        let port = Icmpv4Type::DestinationUnreachable(Unreach4::Port);
        let err = icmp4((BE_SIDE_MAC, LB_MAC), ube.0, usrc.0, 64, port, &stray[14..]);
        let v = w.one(&err).0;
        assert_eq!(
            v,
            Verdict::Drop(DropReason::IcmpNoFlow),
            "an unheld source port"
        );

        // The same frames through replay with as many workers.
        let (s, out) =
            support::translation::replay_frames(&lb.cp, frames, n, &format!("siit-icmp-{n}"));
        let got: HashSet<Vec<u8>> = out.into_iter().collect();
        for (k, want) in expected.iter().enumerate() {
            assert!(got.contains(want), "{n} workers: replay lacks error {k}");
        }
        assert_eq!(s.dropped(), 0, "{n} workers: {:?}", s.counters.drops);
    }
}

/// examples/siit.toml translates: a client's SYN to its SIIT frontend
/// leaves from its SIIT address to one of the IPv4 backends' SIIT port.
#[test]
fn the_example_translates() {
    let mut lb = Lb::with(include_str!("../examples/siit.toml"), 1 << 12);
    let c = (client(1), 45000);
    let syn = T::Tcp { syn: true, seq: 1 };
    let (v, out) = lb.one(&v6((PEER_MAC, LB_MAC), c, (fe(), 80), 64, 0, syn, &[]));
    assert_eq!(v, Verdict::ToPrivate);
    let (src, be) = ends4(&out);
    assert_eq!(src.0, Ipv4Addr::new(198, 19, 1, 64));
    assert_eq!(be.1, 8064);
    assert!([11, 12].contains(&be.0.octets()[3]), "{be:?}");
}
