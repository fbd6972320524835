//! ICMP errors through the NAT, both ways, as translation cases: the input an
//! error as a router or a backend sends it, the expected output built with
//! etherparse from a description of the packet (checksums computed by
//! etherparse, the quoted datagram rebuilt whole and cut to the same length),
//! compared byte for byte.
//!
//! - From the client side, about a packet a frontend sent (a reply): a router
//!   that cannot forward a reply (fragmentation needed, for path MTU
//!   discovery) tells the frontend; natrix passes it to the connection's
//!   backend, quoting the packet as the backend sent it.
//! - From a backend, about a packet it was sent (a client's): port
//!   unreachable and the like go to the client, from the frontend, quoting
//!   the packet as the client sent it.

mod support;

use natrix::app::replay::Rss;
use natrix::app::summary::Summary;
use natrix::config::Config;
use natrix::control::plane::ControlPlane;
use natrix::dataplane::counters::{DropReason, Event};
use natrix::dataplane::snapshot::{BackendEntry, ServiceKind, Snapshot};
use natrix::dataplane::Verdict;
use std::net::Ipv4Addr;
use support::translation::*;

/// A router on the client side.
const ROUTER: Ipv4Addr = Ipv4Addr::new(198, 18, 250, 1);
/// An ICMP error's type, code, and the word after the checksum.
type Kind = (u8, u8, [u8; 4]);
/// A frontend as (address, port).
type Endpoint = (Ipv4Addr, u16);

/// Fragmentation needed, next-hop MTU 1400 (RFC 1191).
const FRAG_NEEDED: Kind = (3, 4, [0, 0, 0x05, 0x78]);
const PORT_UNREACHABLE: Kind = (3, 3, [0; 4]);
const TTL_EXCEEDED: Kind = (11, 0, [0; 4]);

fn client(port: u16) -> (Ipv4Addr, u16) {
    (CLIENT, port)
}

/// The first `n` bytes of `p`'s IPv4 datagram, as an ICMP error quotes it.
fn quote(p: &Pkt, n: usize) -> Vec<u8> {
    let frame = p.build();
    let ip = &frame[p.l3()..];
    ip[..n.min(ip.len())].to_vec()
}

/// An ICMP error carrying `quoted`.
fn error(src: Ipv4Addr, dst: Ipv4Addr, kind: Kind, quoted: &[u8]) -> Pkt {
    Pkt::icmp(src, dst, kind.0, kind.1, kind.2).payload(quoted)
}

/// The backend a connection's first packet went to, read off natrix's output.
fn backend_of<'a>(snap: &'a Snapshot, out: &[u8]) -> &'a BackendEntry {
    let addr = Ipv4Addr::new(out[30], out[31], out[32], out[33]);
    let port = u16::from_be_bytes([out[36], out[37]]);
    snap.backends
        .iter()
        .find(|b| b.address == addr && b.port == port)
        .unwrap_or_else(|| panic!("{addr}:{port} is no backend"))
}

/// A reply of backend `be` to a client, as the backend sends it and as natrix
/// sends it on (`to_client`), with a payload large enough to need
/// fragmenting at the router's MTU.
fn reply(
    be: &BackendEntry,
    to: (Ipv4Addr, u16),
    tcp: bool,
    frontend: (Ipv4Addr, u16),
) -> (Pkt, Pkt) {
    let from = (Ipv4Addr::from(be.addr_raw), be.port);
    let sent = if tcp {
        Pkt::tcp(from, to, TCP_ACK | TCP_PSH).payload(&[0x5a; 1440])
    } else {
        Pkt::udp(from, to).payload(&[0xa5; 1440])
    }
    .macs(BE_SIDE_MAC, LB_MAC);
    let on = to_client(&sent, frontend);
    (sent, on)
}

/// From the client side, about replies natrix sent for each kind of service:
/// to the connection's backend, quoting the reply as the backend sent it.
/// Quotes of 28 bytes (RFC 792's minimum: no TCP checksum), 40, and the whole
/// datagram.
#[test]
fn errors_about_replies_go_to_the_connections_backend() {
    let mut lb = Lb::new();
    let snap = lb.snap();
    let cases: [(&str, (Ipv4Addr, u16), bool); 4] = [
        ("web, random, tcp", WEB, true),
        ("tls, maglev, tcp", TLS, true),
        ("dns, source-ip, udp", DNS, false),
        ("api, source-ip-protocol, tcp", API, true),
    ];
    let mut forwarded = 0;
    for (i, (what, fe, tcp)) in cases.into_iter().enumerate() {
        let c = client(45000 + i as u16);
        let first = if tcp {
            Pkt::tcp(c, fe, TCP_SYN)
        } else {
            Pkt::udp(c, fe)
        };
        let out = lb.expect(what, &first.build(), &inbound(&snap, &first));
        let be = backend_of(&snap, &out);
        let (sent, on) = reply(be, c, tcp, fe);
        for n in [28, 40, 20 + 1460] {
            let input = error(ROUTER, fe.0, FRAG_NEEDED, &quote(&on, n)).ttl(50);
            let mut want = error(
                ROUTER,
                Ipv4Addr::from(be.addr_raw),
                FRAG_NEEDED,
                &quote(&sent, n),
            )
            .ttl(49)
            .macs(LB_MAC, be.mac.0);
            // The quote keeps the TTL the reply had when the router saw it.
            let mut q = sent.clone();
            q.ttl = on.ttl;
            want = want.payload(&quote(&q, n));
            lb.expect(
                &format!("{what}: frag-needed quoting {n} bytes"),
                &input.build(),
                &Want::Exact(Verdict::ToPrivate, want.build()),
            );
            forwarded += 1;
        }
    }
    assert_eq!(lb.event(Event::IcmpErrorForwarded), forwarded);
}

/// An inbound NAT rule has no connection state: its one backend.
#[test]
fn errors_about_nat_rule_replies_go_to_its_backend() {
    let mut lb = Lb::new();
    let snap = lb.snap();
    let be = snap
        .backends
        .iter()
        .find(|b| b.address == NAT_BE && b.port == 22)
        .expect("the ssh NAT rule's backend");
    let c = client(46000);
    let (sent, on) = reply(be, c, true, SSH);
    let input = error(ROUTER, SSH.0, FRAG_NEEDED, &quote(&on, 48));
    let mut q = sent.clone();
    q.ttl = on.ttl;
    let want = error(ROUTER, NAT_BE, FRAG_NEEDED, &quote(&q, 48))
        .ttl(63)
        .macs(LB_MAC, be.mac.0);
    lb.expect(
        "ssh NAT rule",
        &input.build(),
        &Want::Exact(Verdict::ToPrivate, want.build()),
    );
}

/// A client, from `from` on, whose connection to `fe` natrix gives to the
/// first backend of its pool (any client, for a NAT rule), its first packet
/// (a SYN or a datagram), and that backend.
fn first_backend_client(
    snap: &Snapshot,
    fe: Endpoint,
    tcp: bool,
    from: Endpoint,
) -> (Endpoint, Pkt, &BackendEntry) {
    let proto = if tcp { 6 } else { 17 };
    let svc = service_of(snap, fe.0, fe.1, proto);
    let be = &snap.backends[svc.members[0] as usize];
    let c = if svc.kind == ServiceKind::Nat {
        from
    } else {
        client_to(snap, (Ipv4Addr::from(be.addr_raw), be.port), proto, from)
    };
    let sent = if tcp {
        Pkt::tcp(c, fe, TCP_SYN)
    } else {
        Pkt::udp(c, fe)
    };
    (c, sent, be)
}

/// From a backend, about a client's packet it was sent: to the client, from
/// the frontend, quoting the packet as the client sent it.
#[test]
fn errors_from_backends_go_to_the_client_from_the_frontend() {
    let mut lb = Lb::new();
    let snap = lb.snap();
    let cases: [(&str, Endpoint, bool, Kind, usize); 4] = [
        ("dns: port unreachable", DNS, false, PORT_UNREACHABLE, 576),
        ("web: ttl exceeded", WEB, true, TTL_EXCEEDED, 28),
        (
            "tls: port unreachable, 40 bytes",
            TLS,
            true,
            PORT_UNREACHABLE,
            40,
        ),
        ("syslog NAT rule", SYSLOG, false, PORT_UNREACHABLE, 576),
    ];
    for (i, (what, fe, tcp, kind, n)) in cases.into_iter().enumerate() {
        let (c, sent, be) = first_backend_client(&snap, fe, tcp, client(47000 + i as u16));
        assert_eq!(
            lb.one(&sent.build()).0,
            Verdict::ToPrivate,
            "{what}: opener"
        );
        // What the backend received: the client's packet, translated.
        let got = to_backend(&sent, be);
        let input = error(Ipv4Addr::from(be.addr_raw), c.0, kind, &quote(&got, n))
            .macs(BE_SIDE_MAC, LB_MAC);
        let mut q = sent.clone();
        q.ttl = got.ttl;
        let want = error(fe.0, c.0, kind, &quote(&q, n))
            .ttl(63)
            .macs(LB_MAC, GW_MAC);
        lb.expect(
            what,
            &input.build(),
            &Want::Exact(Verdict::ToPublic, want.build()),
        );
    }
    assert_eq!(lb.event(Event::IcmpErrorForwarded), 4);
}

/// Errors natrix cannot place, or that are damaged, are dropped under a
/// named reason and left untouched.
#[test]
fn errors_that_cannot_be_placed_are_dropped_and_counted() {
    let mut lb = Lb::new();
    let snap = lb.snap();
    let web_be = &snap.backends[service_of(&snap, WEB.0, WEB.1, 6).members[0] as usize];
    let (_, on) = reply(web_be, client(48000), true, WEB);
    let cases: Vec<(&str, Vec<u8>, DropReason)> = vec![
        (
            "a reply of a connection natrix never saw",
            error(ROUTER, WEB.0, FRAG_NEEDED, &quote(&on, 28)).build(),
            DropReason::IcmpNoFlow,
        ),
        (
            "a quote cut inside the ports",
            error(ROUTER, WEB.0, FRAG_NEEDED, &quote(&on, 24)).build(),
            DropReason::MalformedIcmp,
        ),
        (
            "a quote that is no IPv4 header",
            error(ROUTER, WEB.0, FRAG_NEEDED, &[0x60; 48]).build(),
            DropReason::MalformedIcmp,
        ),
        (
            "a bad ICMP checksum",
            {
                let p = error(ROUTER, WEB.0, FRAG_NEEDED, &quote(&on, 28));
                let mut f = p.build();
                let at = p.l4_offset() + 7;
                f[at] ^= 0x01;
                f
            },
            DropReason::MalformedIcmp,
        ),
        (
            "about an echo request",
            error(
                ROUTER,
                WEB.0,
                FRAG_NEEDED,
                &quote(&Pkt::echo_request(WEB.0, CLIENT, 1, 1), 28),
            )
            .build(),
            DropReason::IcmpUnsupported,
        ),
        (
            "about a packet of no frontend or backend",
            error(
                ROUTER,
                Ipv4Addr::new(198, 18, 77, 7),
                FRAG_NEEDED,
                &quote(
                    &Pkt::udp((Ipv4Addr::new(198, 18, 77, 7), 53), client(48001)),
                    28,
                ),
            )
            .build(),
            DropReason::IcmpUnsupported,
        ),
        (
            "addressed to the appliance, not to the quoted frontend",
            error(ROUTER, LB_ADDR, FRAG_NEEDED, &quote(&on, 28)).build(),
            DropReason::IcmpUnsupported,
        ),
        (
            "a redirect (type 5)",
            error(ROUTER, WEB.0, (5, 1, [198, 18, 250, 2]), &quote(&on, 28)).build(),
            DropReason::IcmpUnsupported,
        ),
    ];
    for (what, frame, reason) in cases {
        lb.expect(what, &frame, &Want::Drop(reason));
    }
    // TTL 1: not forwarded, whichever way.
    let c = client(48002);
    let syn = Pkt::tcp(c, WEB, TCP_SYN);
    let out = lb.expect("syn", &syn.build(), &inbound(&snap, &syn));
    let be = backend_of(&snap, &out);
    let (_, on) = reply(be, c, true, WEB);
    let input = error(ROUTER, WEB.0, FRAG_NEEDED, &quote(&on, 28)).ttl(1);
    lb.expect("ttl 1", &input.build(), &Want::Drop(DropReason::TtlExpired));
    // A live connection: the same error with a TTL to spare goes through.
    let input = error(ROUTER, WEB.0, FRAG_NEEDED, &quote(&on, 28));
    let got = lb.one(&input.build());
    assert_eq!(got.0, Verdict::ToPrivate);
    assert_eq!(lb.event(Event::IcmpErrorForwarded), 1);
}

/// Routers on the private side, between natrix and the backends (the first
/// is the one of issue 8, defect 4).
const PRIVATE_ROUTERS: [Ipv4Addr; 3] = [
    Ipv4Addr::new(198, 19, 1, 1),
    Ipv4Addr::new(198, 19, 0, 254),
    Ipv4Addr::new(10, 7, 0, 1),
];

/// Routers on the public side, other than [`ROUTER`].
const PUBLIC_ROUTERS: [Ipv4Addr; 2] = [Ipv4Addr::new(203, 0, 113, 9), Ipv4Addr::new(192, 0, 2, 77)];

/// Checks, with the tests' own RFC 1071 sum, that a frame's outer IPv4 header
/// and its ICMP message (which covers the quote) both verify.
#[track_caller]
fn assert_checksums(what: &str, frame: &[u8]) {
    let ihl = (frame[14] & 0x0f) as usize * 4;
    let total = u16::from_be_bytes([frame[16], frame[17]]) as usize;
    assert_eq!(
        inet_checksum(&frame[14..14 + ihl]),
        0,
        "{what}: IPv4 header checksum {:#06x}",
        u16::from_be_bytes([frame[24], frame[25]])
    );
    assert_eq!(
        inet_checksum(&frame[14 + ihl..14 + total]),
        0,
        "{what}: ICMP checksum"
    );
}

/// An error from a router on the private side (not from the backend) about a
/// client's packet on its way to a backend: to the client, from the
/// frontend, with an outer IPv4 checksum computed from the router's address
/// (issue 8, defect 4: it was patched as if the backend had sent it).
#[test]
fn errors_from_private_side_routers_leave_with_valid_checksums() {
    let mut lb = Lb::new();
    let snap = lb.snap();
    let cases: [(&str, Endpoint, bool, Kind, usize); 4] = [
        ("dns: port unreachable", DNS, false, PORT_UNREACHABLE, 576),
        ("web: ttl exceeded", WEB, true, TTL_EXCEEDED, 28),
        ("tls: frag needed, 40 bytes", TLS, true, FRAG_NEEDED, 40),
        ("syslog NAT rule", SYSLOG, false, TTL_EXCEEDED, 576),
    ];
    let mut forwarded = 0;
    for (r, router) in PRIVATE_ROUTERS.into_iter().enumerate() {
        for (i, (what, fe, tcp, kind, n)) in cases.into_iter().enumerate() {
            let from = client(49000 + (r * 10 + i) as u16);
            let (c, sent, be) = first_backend_client(&snap, fe, tcp, from);
            assert_eq!(
                lb.one(&sent.build()).0,
                Verdict::ToPrivate,
                "{what}: opener"
            );
            let got = to_backend(&sent, be);
            let input = error(router, c.0, kind, &quote(&got, n)).macs(BE_SIDE_MAC, LB_MAC);
            let mut q = sent.clone();
            q.ttl = got.ttl;
            let want = error(fe.0, c.0, kind, &quote(&q, n))
                .ttl(63)
                .macs(LB_MAC, GW_MAC);
            let what = format!("{what}, from {router}");
            let out = lb.expect(
                &what,
                &input.build(),
                &Want::Exact(Verdict::ToPublic, want.build()),
            );
            assert_checksums(&what, &out);
            forwarded += 1;
        }
    }
    assert_eq!(lb.event(Event::IcmpErrorForwarded), forwarded);
}

/// The other direction: errors from routers on the public side (other
/// addresses than the other tests use) about replies go to the connection's
/// backend with valid checksums.
#[test]
fn errors_from_public_side_routers_leave_with_valid_checksums() {
    let mut lb = Lb::new();
    let snap = lb.snap();
    let mut forwarded = 0;
    for (r, router) in PUBLIC_ROUTERS.into_iter().enumerate() {
        for (i, (fe, tcp)) in [(WEB, true), (TLS, true), (DNS, false)]
            .into_iter()
            .enumerate()
        {
            let c = client(49500 + (r * 10 + i) as u16);
            let first = if tcp {
                Pkt::tcp(c, fe, TCP_SYN)
            } else {
                Pkt::udp(c, fe)
            };
            let out = lb.expect("first packet", &first.build(), &inbound(&snap, &first));
            let be = backend_of(&snap, &out);
            let (sent, on) = reply(be, c, tcp, fe);
            let input = error(router, fe.0, FRAG_NEEDED, &quote(&on, 48)).ttl(50);
            let mut q = sent.clone();
            q.ttl = on.ttl;
            let want = error(
                router,
                Ipv4Addr::from(be.addr_raw),
                FRAG_NEEDED,
                &quote(&q, 48),
            )
            .ttl(49)
            .macs(LB_MAC, be.mac.0);
            let what = format!("{}:{} from {router}", fe.0, fe.1);
            let out = lb.expect(
                &what,
                &input.build(),
                &Want::Exact(Verdict::ToPrivate, want.build()),
            );
            assert_checksums(&what, &out);
            forwarded += 1;
        }
    }
    assert_eq!(lb.event(Event::IcmpErrorForwarded), forwarded);
}

/// Replays `frames` (one a millisecond) through the translation
/// configuration with `workers` workers; returns the summary and the frames
/// natrix sent, in capture order.
fn replay(frames: &[Vec<u8>], workers: usize, name: &str) -> (Summary, Vec<Vec<u8>>) {
    let cfg = Config::parse(CONFIG, "translation.toml").unwrap();
    let cp = ControlPlane::new(cfg).unwrap();
    let timed = (1_000..).zip(frames.iter().cloned()).collect();
    replay_frames(&cp, timed, workers, &format!("icmp-{name}"))
}

/// Defect 4 through `natrix replay`, with 1 and 2 workers: errors from
/// private-side routers about client packets all leave with valid checksums.
#[test]
fn private_router_errors_replayed_with_one_and_two_workers() {
    let snap = Lb::new().snap();
    let mut frames = Vec::new();
    for (r, router) in PRIVATE_ROUTERS.into_iter().enumerate() {
        for (i, (fe, tcp)) in [(WEB, true), (DNS, false), (TLS, true), (SYSLOG, false)]
            .into_iter()
            .enumerate()
        {
            let from = client(50000 + (r * 10 + i) as u16);
            let (c, sent, be) = first_backend_client(&snap, fe, tcp, from);
            let got = to_backend(&sent, be);
            frames.push(sent.build());
            frames.push(
                error(router, c.0, TTL_EXCEEDED, &quote(&got, 28))
                    .macs(BE_SIDE_MAC, LB_MAC)
                    .build(),
            );
        }
    }
    for workers in [1, 2] {
        let (s, out) = replay(&frames, workers, "private-router");
        assert_eq!(s.dropped(), 0, "{workers} workers");
        // Every other frame is a client's packet, then an error about it.
        assert_eq!(
            s.counters.event_count(Event::IcmpErrorForwarded),
            frames.len() as u64 / 2
        );
        assert_eq!(out.len(), frames.len());
        for (i, f) in out.iter().enumerate().filter(|(_, f)| f[23] == 1) {
            assert_checksums(&format!("{workers} workers, frame {i}"), f);
        }
    }
}

/// An error that follows, in the same burst, the SYN that creates its
/// connection finds that connection (issue 8, defect 13: errors were looked
/// up in the first pass over the burst, before the burst's new connections
/// were made in the second).
#[test]
fn error_in_the_same_burst_as_its_syn_finds_the_connection() {
    let mut lb = Lb::new();
    let snap = lb.snap();
    for (i, fe) in [WEB, TLS, API].into_iter().enumerate() {
        let c = client(51000 + i as u16);
        let syn = Pkt::tcp(c, fe, TCP_SYN);
        // The error quotes the reply as natrix sends it, from the frontend:
        // no backend needed to build it.
        let on = to_client(&Pkt::tcp((fe.0, fe.1), c, TCP_ACK | TCP_PSH), fe);
        let err = error(ROUTER, fe.0, FRAG_NEEDED, &quote(&on, 28));
        let got = lb.run(&[syn.build(), err.build()]);
        lb.check("syn", &syn.build(), &got[0], &inbound(&snap, &syn));
        let be = backend_of(&snap, &got[0].1);
        // The quote as the backend sent the reply, before natrix.
        let mut sent = on.clone();
        sent.src = Ipv4Addr::from(be.addr_raw);
        sent.set_sport(be.port);
        let want = error(
            ROUTER,
            Ipv4Addr::from(be.addr_raw),
            FRAG_NEEDED,
            &quote(&sent, 28),
        )
        .ttl(63)
        .macs(LB_MAC, be.mac.0);
        lb.check(
            &format!("error after the SYN to {}:{}", fe.0, fe.1),
            &err.build(),
            &got[1],
            &Want::Exact(Verdict::ToPrivate, want.build()),
        );
    }
    assert_eq!(lb.counters().drop_count(DropReason::IcmpNoFlow), 0);
    assert_eq!(lb.event(Event::IcmpErrorForwarded), 3);
    // Order still counts: an error before its SYN in a burst finds nothing.
    let c = client(51100);
    let syn = Pkt::tcp(c, TLS, TCP_SYN);
    let on = to_client(&Pkt::tcp(TLS, c, TCP_ACK), TLS);
    let err = error(ROUTER, TLS.0, FRAG_NEEDED, &quote(&on, 28)).build();
    let got = lb.run(&[err.clone(), syn.build()]);
    lb.check(
        "error before its SYN",
        &err,
        &got[0],
        &Want::Drop(DropReason::IcmpNoFlow),
    );
    lb.check(
        "the SYN after",
        &syn.build(),
        &got[1],
        &inbound(&snap, &syn),
    );
}

/// Defect 13 through `natrix replay`, with 1 and 2 workers: every SYN is
/// followed, in the same burst, by a "fragmentation needed" about its
/// connection's reply, and every error is forwarded.
#[test]
fn errors_in_the_burst_of_their_syn_replayed_with_one_and_two_workers() {
    for workers in [1, 2] {
        let mut frames = Vec::new();
        for i in 0..12u16 {
            let c = client(52000 + i);
            let fe = [WEB, TLS, API][i as usize % 3];
            let syn = Pkt::tcp(c, fe, TCP_SYN).build();
            let on = to_client(&Pkt::tcp(fe, c, TCP_ACK | TCP_PSH), fe);
            // Replay's software RSS puts the error at the worker that owns
            // the SYN's connection, whatever the router's address.
            let err = error(ROUTER, fe.0, FRAG_NEEDED, &quote(&on, 28)).build();
            frames.push(syn);
            frames.push(err);
        }
        let (s, out) = replay(&frames, workers, "same-burst");
        assert_eq!(
            s.counters.drop_count(DropReason::IcmpNoFlow),
            0,
            "{workers} workers"
        );
        assert_eq!(s.dropped(), 0, "{workers} workers");
        assert_eq!(s.counters.event_count(Event::IcmpErrorForwarded), 12);
        let errors: Vec<&Vec<u8>> = out.iter().filter(|f| f[23] == 1).collect();
        assert_eq!(errors.len(), 12);
        for (i, f) in errors.into_iter().enumerate() {
            assert_checksums(&format!("{workers} workers, error {i}"), f);
        }
    }
}

/// Issue 8, defect 1: 40 connections to :443, a reply from each
/// connection's backend, then a "fragmentation needed" from a router about
/// each connection's reply. With `--rss tuple` the receive side spreads the
/// replies by the backend's address and the errors by the router's, as a
/// NIC does, so they reach any worker: each is handed to its connection's
/// owner. Every reply and every error is forwarded, to the connection's
/// backend, with 1, 2, 4 and 8 workers. (Before the owner design, 2 workers
/// forwarded 11 of the 40 errors, 4 workers 4, 8 workers 2.)
#[test]
fn path_mtu_errors_reach_their_connection_with_any_number_of_workers() {
    let snap = Lb::new().snap();
    let (mut syns, mut replies, mut errors) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..40u16 {
        let c = (Ipv4Addr::new(198, 18, 100, 1 + i as u8), 40000 + i);
        syns.push(Pkt::tcp(c, TLS, TCP_SYN).build());
        let be = backend_for(&snap, c, TLS, 6);
        replies.push(
            Pkt::tcp(be, c, TCP_SYN | TCP_ACK)
                .macs(BE_SIDE_MAC, LB_MAC)
                .build(),
        );
        let on = to_client(&Pkt::tcp(TLS, c, TCP_ACK | TCP_PSH), TLS);
        errors.push(error(ROUTER, TLS.0, FRAG_NEEDED, &quote(&on, 28)).build());
    }
    let frames: Vec<Vec<u8>> = [syns, replies, errors].concat();
    let cfg = Config::parse(CONFIG, "translation.toml").unwrap();
    let mut cp = ControlPlane::new(cfg).unwrap();
    for rss in [Rss::Owner, Rss::Tuple] {
        for workers in [1, 2, 4, 8] {
            let what = format!("{workers} workers, {rss:?} RSS");
            let timed = (1_000..).zip(frames.iter().cloned()).collect();
            // Phases keep the replies and the errors after the SYNs (they
            // come seconds later on a real network) whichever workers
            // receive them.
            let (s, out) =
                replay_frames_in_phases(&mut cp, timed, workers, rss, &[40, 80], "owner");
            assert_eq!(s.counters.drop_count(DropReason::IcmpNoFlow), 0, "{what}");
            assert_eq!(s.dropped(), 0, "{what}: {:?}", s.counters.drops);
            assert_eq!(s.counters.event_count(Event::Return), 40, "{what}");
            assert_eq!(
                s.counters.event_count(Event::IcmpErrorForwarded),
                40,
                "{what}"
            );
            // Each error went to the backend its connection's SYN went to.
            for i in 0..40 {
                let (syn, err) = (&out[i], &out[80 + i]);
                assert_eq!(err[23], 1, "{what}: frame {} is an ICMP error", 80 + i);
                assert_eq!(syn[30..34], err[30..34], "{what}: error {i}'s backend");
            }
            let handed = s.counters.event_count(Event::HandedOff);
            assert_eq!(handed, s.counters.event_count(Event::HandedIn), "{what}");
            match (rss, workers) {
                (Rss::Owner, _) | (_, 1) => assert_eq!(handed, 0, "{what}"),
                _ => assert!(handed > 0, "{what}: nothing was handed over"),
            }
        }
    }
}
