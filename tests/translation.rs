//! Translation cases, in the style of Katran's `KatranBaseTestFixtures.h`: each
//! row is a description, an input frame, the expected action and the expected
//! output frame. Expected frames are built with etherparse from a description
//! of the packet (never by running natrix's rewrite) and compared byte for
//! byte, checksums included. Stateful behaviour (connections, removal,
//! draining, timeouts, a full table) is tested with sequences of packets
//! through one data path. Every packet also checks the counters: rx moves by
//! one, the named drop counter by exactly one, and rx == sent + dropped.

mod support;

use natrix::config::Backend;
use natrix::dataplane::counters::{DropReason, Event};
use natrix::dataplane::flow::TcpState;
use natrix::dataplane::select::Mode;
use natrix::dataplane::snapshot::Snapshot;
use natrix::dataplane::Verdict;
use natrix::wire::MacAddr;
use std::net::{Ipv4Addr, SocketAddrV4};
use support::translation::*;

use DropReason::*;

/// One row of the table.
struct Case {
    what: &'static str,
    input: Vec<u8>,
    want: Want,
    /// Events that must move by exactly one for this packet.
    events: Vec<Event>,
    /// A backend's packet: its connection is opened first ([`Lb::open`]).
    reply: Option<Pkt>,
}

fn case(what: &'static str, input: Vec<u8>, want: Want) -> Case {
    Case {
        what,
        input,
        want,
        events: Vec::new(),
        reply: None,
    }
}

/// A backend's packet `p` to a connection that its client opened first.
fn reply_case(snap: &Snapshot, what: &'static str, p: Pkt) -> Case {
    let mut c = case(what, p.build(), returning(snap, &p));
    c.reply = Some(p);
    c
}

impl Case {
    fn event(mut self, e: Event) -> Case {
        self.events.push(e);
        self
    }
}

fn client(port: u16) -> (Ipv4Addr, u16) {
    (CLIENT, port)
}

fn drop(what: &'static str, input: Vec<u8>, r: DropReason) -> Case {
    case(what, input, Want::Drop(r))
}

/// The built frame of `p`, after a raw edit at `at(p)` and a fresh IP checksum.
fn edited(p: &Pkt, edit: impl FnOnce(&mut Vec<u8>, &Pkt)) -> Vec<u8> {
    let mut f = p.build();
    edit(&mut f, p);
    f
}

fn arp_reply_to(req_mac: [u8; 6], req_ip: Ipv4Addr, asked: Ipv4Addr) -> Vec<u8> {
    arp(req_mac, 2, LB_MAC, asked, req_mac, req_ip)
}

/// The stateless table: every row runs on a fresh data path, and then all rows
/// run again together, in bursts, through one data path. The rows come by
/// topic, each from its own function below, in this order.
fn table(snap: &Snapshot) -> Vec<Case> {
    [
        new_connections(snap),
        checksum_corners(snap),
        nat_rules(snap),
        return_direction(snap),
        arp_requests(),
        icmp_messages(snap),
        frame_drops(),
        ip_drops(snap),
        transport_drops(),
        ttl_drops(),
        unserved_drops(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// An address and port on the private side (a backend's, or not).
fn be1(ip: [u8; 4], port: u16) -> (Ipv4Addr, u16) {
    (Ipv4Addr::from(ip), port)
}

/// The SYN whose edits make the malformed rows of the drop tables.
fn syn_to_web() -> Pkt {
    Pkt::tcp(client(40100), WEB, TCP_SYN)
}

/// Inbound: a new connection to each frontend, every distribution mode, with
/// VLAN tags, IPv4 options, TTLs, padding, and mid-stream segments.
fn new_connections(snap: &Snapshot) -> Vec<Case> {
    let mut t = Vec::new();
    for (what, fe, cport) in [
        ("inbound TCP SYN, random mode", WEB, 40001),
        ("inbound TCP SYN, maglev mode", TLS, 40002),
        ("inbound TCP SYN, source-ip-protocol mode", API, 40003),
    ] {
        let p = Pkt::tcp(client(cport), fe, TCP_SYN);
        t.push(case(what, p.build(), inbound(snap, &p)).event(Event::ConnectionCreated));
    }
    let p = Pkt::udp(client(40004), DNS);
    t.push(
        case(
            "inbound UDP with checksum, source-ip mode",
            p.build(),
            inbound(snap, &p),
        )
        .event(Event::ConnectionCreated),
    );
    let p = Pkt::udp(client(40005), DNS).no_udp_checksum();
    t.push(
        case(
            "inbound UDP with checksum 0 (stays 0)",
            p.build(),
            inbound(snap, &p),
        )
        .event(Event::ConnectionCreated),
    );
    let p = Pkt::udp(client(40006), DNS).payload(b"odd");
    t.push(case(
        "inbound UDP, odd payload length",
        p.build(),
        inbound(snap, &p),
    ));
    let p = Pkt::tcp(client(40007), WEB, TCP_SYN).vlans(&[100]);
    t.push(case(
        "inbound TCP SYN in 802.1Q: tag kept",
        p.build(),
        inbound(snap, &p),
    ));
    let p = Pkt::tcp(client(40008), TLS, TCP_SYN).vlans(&[200, 100]);
    t.push(case(
        "inbound TCP SYN in QinQ: tags kept",
        p.build(),
        inbound(snap, &p),
    ));
    let p = Pkt::udp(client(40009), DNS).vlans(&[300, 7]);
    t.push(case("inbound UDP in QinQ", p.build(), inbound(snap, &p)));
    let p = Pkt::tcp(client(40010), API, TCP_SYN).ip_options(&[0x94, 0x04, 0x00, 0x00]);
    t.push(case(
        "inbound TCP SYN, IPv4 options (IHL 6)",
        p.build(),
        inbound(snap, &p),
    ));
    let p = Pkt::tcp(client(40011), WEB, TCP_SYN).ip_options(&[
        0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x00, 0x94, 0x04, 0, 0,
    ]);
    t.push(case(
        "inbound TCP SYN, IPv4 options (IHL 8)",
        p.build(),
        inbound(snap, &p),
    ));
    let p = Pkt::udp(client(40012), DNS)
        .ip_options(&[0x94, 0x04, 0x00, 0x00])
        .vlans(&[42]);
    t.push(case(
        "inbound UDP, IPv4 options in 802.1Q",
        p.build(),
        inbound(snap, &p),
    ));
    let p = Pkt::tcp(client(40013), TLS, TCP_SYN).ttl(2);
    t.push(case(
        "inbound TCP SYN, TTL 2 becomes 1",
        p.build(),
        inbound(snap, &p),
    ));
    let p = Pkt::tcp(client(40014), TLS, TCP_SYN).ttl(255);
    t.push(case(
        "inbound TCP SYN, TTL 255",
        p.build(),
        inbound(snap, &p),
    ));
    let p = Pkt::tcp(client(40015), TLS, TCP_ACK).padding(6);
    t.push(case(
        "inbound 54-byte ACK padded to 60: padding kept",
        p.build(),
        inbound(snap, &p),
    ));
    let p = Pkt::tcp(client(40016), TLS, TCP_ACK);
    t.push(
        case(
            "midstream ACK to maglev: served by hash, not dropped",
            p.build(),
            inbound(snap, &p),
        )
        .event(Event::MidstreamHashed),
    );
    let p = Pkt::tcp(client(40017), TLS, TCP_ACK | TCP_PSH).payload(b"GET / HTTP/1.1\r\n\r\n");
    t.push(case(
        "midstream data to maglev",
        p.build(),
        inbound(snap, &p),
    ));
    t
}

/// Checksum corner values (RFC 1624 section 4, RFC 768): a 2-byte
/// payload is searched so that the checksum, before or after the rewrite,
/// takes the value in question.
fn checksum_corners(snap: &Snapshot) -> Vec<Case> {
    let mut t = Vec::new();
    let l4c = |f: &[u8], p: &Pkt, at: usize| {
        u16::from_be_bytes([f[p.l4_offset() + at], f[p.l4_offset() + at + 1]])
    };
    let udp_with = |port: u16, v: u16| Pkt::udp(client(port), DNS).payload(&v.to_be_bytes());
    let tcp_with = |port: u16, v: u16| {
        Pkt::tcp(client(port), TLS, TCP_ACK | TCP_PSH).payload(&v.to_be_bytes())
    };
    let exact = |w: Want| match w {
        Want::Exact(_, b) => b,
        _ => unreachable!(),
    };
    let v = (0..=u16::MAX)
        .find(|&v| {
            let p = udp_with(40040, v);
            let out = exact(inbound(snap, &p));
            l4c(&out, &p, 6) == 0xffff
        })
        .unwrap();
    let p = udp_with(40040, v);
    t.push(case(
        "inbound UDP whose new checksum computes to 0: sent as 0xFFFF",
        p.build(),
        inbound(snap, &p),
    ));
    let v = (0..=u16::MAX)
        .find(|&v| {
            let p = udp_with(40041, v);
            l4c(&p.build(), &p, 6) == 0xffff
        })
        .unwrap();
    let p = udp_with(40041, v);
    t.push(case(
        "inbound UDP with checksum 0xFFFF",
        p.build(),
        inbound(snap, &p),
    ));
    let v = (0..=u16::MAX)
        .find(|&v| {
            let p = tcp_with(40042, v);
            let out = exact(inbound(snap, &p));
            l4c(&out, &p, 16) == 0
        })
        .unwrap();
    let p = tcp_with(40042, v);
    t.push(case(
        "inbound TCP whose new checksum is 0x0000",
        p.build(),
        inbound(snap, &p),
    ));
    let v = (0..=u16::MAX)
        .find(|&v| {
            let p = tcp_with(40043, v);
            l4c(&p.build(), &p, 16) == 0
        })
        .unwrap();
    let p = tcp_with(40043, v);
    t.push(case(
        "inbound TCP with checksum 0x0000",
        p.build(),
        inbound(snap, &p),
    ));
    t
}

/// Inbound NAT rules, both ways.
fn nat_rules(snap: &Snapshot) -> Vec<Case> {
    let mut t = Vec::new();
    let p = Pkt::tcp(client(40020), SSH, TCP_SYN);
    t.push(
        case(
            "NAT rule inbound TCP",
            p.build(),
            Want::Exact(Verdict::ToPrivate, toward(snap, &p, NAT_BE, 22)),
        )
        .event(Event::NatRule),
    );
    let p = Pkt::tcp(client(40021), SSH, TCP_ACK | TCP_PSH).payload(b"SSH-2.0-x\r\n");
    t.push(case(
        "NAT rule inbound TCP mid-stream (no state needed)",
        p.build(),
        Want::Exact(Verdict::ToPrivate, toward(snap, &p, NAT_BE, 22)),
    ));
    let p = Pkt::udp(client(40022), SYSLOG).payload(b"<34>Oct 11 22:14:15 host su: x");
    t.push(case(
        "NAT rule inbound UDP",
        p.build(),
        Want::Exact(Verdict::ToPrivate, toward(snap, &p, NAT_BE, 514)),
    ));
    let p = Pkt::tcp((NAT_BE, 22), client(40020), TCP_SYN | TCP_ACK).macs(BE_SIDE_MAC, LB_MAC);
    t.push(case("NAT rule return TCP", p.build(), returning(snap, &p)).event(Event::NatRule));
    let p = Pkt::udp((NAT_BE, 514), client(40022))
        .macs(BE_SIDE_MAC, LB_MAC)
        .no_udp_checksum();
    t.push(case(
        "NAT rule return UDP, checksum 0",
        p.build(),
        returning(snap, &p),
    ));
    t
}

/// Return direction: backend to client, rewritten to come from the frontend,
/// for connections the client opened (natrix translates nothing else from a
/// backend). Each row's client is one that natrix gives to its backend.
fn return_direction(snap: &Snapshot) -> Vec<Case> {
    let to = |be: (Ipv4Addr, u16), proto: u8, from: u16| client_to(snap, be, proto, client(from));
    let mut t = Vec::new();
    let be = be1([198, 19, 1, 12], 8080);
    let p = Pkt::tcp(be, to(be, 6, 40030), TCP_SYN | TCP_ACK).macs(BE_SIDE_MAC, LB_MAC);
    t.push(reply_case(snap, "return TCP SYN-ACK, random pool", p).event(Event::Return));
    let be = be1([198, 19, 1, 13], 8081);
    let p = Pkt::tcp(be, to(be, 6, 41030), TCP_ACK | TCP_PSH)
        .macs(BE_SIDE_MAC, LB_MAC)
        .payload(b"HTTP/1.1 200 OK\r\n\r\n");
    t.push(reply_case(snap, "return TCP data, other port", p));
    let be = be1([198, 19, 2, 14], 8443);
    let p = Pkt::tcp(be, to(be, 6, 42030), TCP_ACK | TCP_FIN)
        .macs(BE_SIDE_MAC, LB_MAC)
        .vlans(&[10, 20]);
    t.push(reply_case(snap, "return TCP FIN in QinQ, maglev pool", p));
    let be = be1([198, 19, 3, 13], 53);
    let p = Pkt::udp(be, to(be, 17, 43030)).macs(BE_SIDE_MAC, LB_MAC);
    t.push(reply_case(snap, "return UDP with checksum", p));
    let be = be1([198, 19, 3, 11], 5353);
    let p = Pkt::udp(be, to(be, 17, 44030))
        .macs(BE_SIDE_MAC, LB_MAC)
        .no_udp_checksum();
    t.push(reply_case(snap, "return UDP with checksum 0 (stays 0)", p));
    let be = be1([198, 19, 4, 12], 9000);
    let p = Pkt::tcp(be, to(be, 6, 45030), TCP_ACK)
        .macs(BE_SIDE_MAC, LB_MAC)
        .ip_options(&[0x94, 0x04, 0, 0]);
    t.push(reply_case(snap, "return TCP with IPv4 options", p));
    // A backend's packet for no connection: spoofed, or late.
    let p = Pkt::tcp(be1([198, 19, 1, 12], 8080), client(46030), TCP_RST).macs(BE_SIDE_MAC, LB_MAC);
    t.push(drop(
        "backend packet for no connection",
        p.build(),
        DropReason::ReturnNoFlow,
    ));
    t
}

/// ARP (RFC 826): requests for natrix's addresses answered, the rest dropped.
fn arp_requests() -> Vec<Case> {
    let mut t = Vec::new();
    let req = |tpa| arp([0xff; 6], 1, PEER_MAC, CLIENT, [0; 6], tpa);
    t.push(
        case(
            "ARP request for a frontend address",
            req(WEB.0),
            Want::Exact(Verdict::Reply, arp_reply_to(PEER_MAC, CLIENT, WEB.0)),
        )
        .event(Event::ArpReplied),
    );
    t.push(case(
        "ARP request for an appliance address",
        req(LB_ADDR2),
        Want::Exact(Verdict::Reply, arp_reply_to(PEER_MAC, CLIENT, LB_ADDR2)),
    ));
    let mut padded = req(LB_ADDR);
    padded.resize(60, 0);
    let mut padded_reply = arp_reply_to(PEER_MAC, CLIENT, LB_ADDR);
    padded_reply.resize(60, 0);
    t.push(case(
        "ARP request padded to 60 bytes: padding kept",
        padded,
        Want::Exact(Verdict::Reply, padded_reply),
    ));
    t.push(case(
        "ARP request in 802.1Q: tag kept",
        with_tags(&req(TLS.0), &[(0x8100, 5)]),
        Want::Exact(
            Verdict::Reply,
            with_tags(&arp_reply_to(PEER_MAC, CLIENT, TLS.0), &[(0x8100, 5)]),
        ),
    ));
    t.push(drop(
        "ARP request for another address",
        req(Ipv4Addr::new(198, 18, 9, 9)),
        ArpNotForUs,
    ));
    t.push(drop(
        "ARP request for a backend address",
        req(Ipv4Addr::new(198, 19, 1, 11)),
        ArpNotForUs,
    ));
    t.push(drop(
        "ARP reply",
        arp(LB_MAC, 2, PEER_MAC, CLIENT, LB_MAC, LB_ADDR),
        ArpNotForUs,
    ));
    let mut bad = req(WEB.0);
    bad[14..16].copy_from_slice(&6u16.to_be_bytes());
    t.push(drop("malformed ARP (htype 6)", bad, MalformedArp));
    let mut bad = req(WEB.0);
    bad[16..18].copy_from_slice(&0x86ddu16.to_be_bytes());
    t.push(drop("malformed ARP (ptype IPv6)", bad, MalformedArp));
    t.push(drop(
        "truncated ARP",
        req(WEB.0)[..40].to_vec(),
        MalformedArp,
    ));
    t
}

/// ICMP (RFC 792): echo requests to natrix's addresses answered, other ICMP
/// dropped (with one UDP row padded to 60 bytes, beside the padded echo).
fn icmp_messages(snap: &Snapshot) -> Vec<Case> {
    let mut t = Vec::new();
    let ping = Pkt::echo_request(CLIENT, WEB.0, 0x1234, 7);
    let mut pong = Pkt::echo_request(WEB.0, CLIENT, 0x1234, 7);
    pong.l4 = L4::EchoReply { id: 0x1234, seq: 7 };
    let pong = pong.ttl(64).macs(LB_MAC, PEER_MAC);
    t.push(
        case(
            "ICMP echo request to a frontend",
            ping.clone().ttl(57).build(),
            Want::Exact(Verdict::Reply, pong.build()),
        )
        .event(Event::EchoReplied),
    );
    let ping2 = Pkt::echo_request(CLIENT, LB_ADDR, 0xbeef, 65535).ttl(1);
    let mut pong2 = Pkt::echo_request(LB_ADDR, CLIENT, 0xbeef, 65535);
    pong2.l4 = L4::EchoReply {
        id: 0xbeef,
        seq: 65535,
    };
    t.push(case(
        "ICMP echo request to an appliance address, TTL 1",
        ping2.build(),
        Want::Exact(Verdict::Reply, pong2.ttl(64).macs(LB_MAC, PEER_MAC).build()),
    ));
    let ping3 = Pkt::echo_request(CLIENT, TLS.0, 9, 9)
        .payload(b"pad")
        .padding(15);
    let mut pong3 = Pkt::echo_request(TLS.0, CLIENT, 9, 9)
        .payload(b"pad")
        .padding(15);
    pong3.l4 = L4::EchoReply { id: 9, seq: 9 };
    t.push(case(
        "ICMP echo request padded to 60 bytes: padding kept, not summed",
        ping3.build(),
        Want::Exact(Verdict::Reply, pong3.ttl(64).macs(LB_MAC, PEER_MAC).build()),
    ));
    let p = Pkt::udp(client(40044), DNS).payload(b"x").padding(17);
    t.push(case(
        "inbound UDP padded to 60 bytes",
        p.build(),
        inbound(snap, &p),
    ));
    t.push(drop(
        "ICMP echo to a non-local address",
        Pkt::echo_request(CLIENT, Ipv4Addr::new(198, 19, 1, 11), 1, 1).build(),
        IcmpUnsupported,
    ));
    t.push(drop(
        "ICMP echo with a bad ICMP checksum",
        edited(&ping, |f, p| f[p.l4_offset() + 3] ^= 0x01),
        MalformedIcmp,
    ));
    t.push(drop(
        "ICMP truncated to 4 bytes",
        edited(&Pkt::icmp(CLIENT, WEB.0, 8, 0, [0; 4]), |f, p| {
            let l3 = p.l3();
            f.truncate(p.l4_offset() + 4);
            let total = (f.len() - l3) as u16;
            f[l3 + 2..l3 + 4].copy_from_slice(&total.to_be_bytes());
            fix_ip_checksum(f, l3);
        }),
        MalformedIcmp,
    ));
    t.push(drop(
        "ICMP destination unreachable quoting neither TCP nor UDP",
        Pkt::icmp(CLIENT, WEB.0, 3, 1, [0; 4])
            .payload(&[0x45; 28])
            .build(),
        IcmpUnsupported,
    ));
    t.push(drop(
        "ICMP echo reply to a frontend",
        Pkt::icmp(CLIENT, WEB.0, 0, 0, [0, 1, 0, 1]).build(),
        IcmpUnsupported,
    ));
    t
}

/// Drops at layer 2: short frames, VLAN stacks, other ethertypes, IPv6.
fn frame_drops() -> Vec<Case> {
    let mut t = Vec::new();
    let syn = syn_to_web();
    t.push(drop("10-byte frame", vec![0xff; 10], MalformedEth));
    t.push(drop(
        "VLAN tag cut off",
        with_tags(&syn.build()[..12], &[(0x8100, 1)]),
        MalformedEth,
    ));
    t.push(drop(
        "three VLAN tags",
        with_tags(&syn.build(), &[(0x88a8, 1), (0x8100, 2), (0x8100, 3)]),
        VlanUnsupported,
    ));
    let mut lldp = vec![0x01, 0x80, 0xc2, 0, 0, 0x0e];
    lldp.extend_from_slice(&PEER_MAC);
    lldp.extend_from_slice(&[0x88, 0xcc, 0x02, 0x07, 0x04, 2, 0, 0, 0, 0xaa, 1, 0, 0]);
    t.push(drop("LLDP", lldp, UnsupportedEthertype));
    let mut stp = vec![0x01, 0x80, 0xc2, 0, 0, 0];
    stp.extend_from_slice(&PEER_MAC);
    stp.extend_from_slice(&[0x00, 0x26, 0x42, 0x42, 0x03]);
    stp.resize(60, 0);
    t.push(drop("802.3 length frame (STP)", stp, UnsupportedEthertype));
    let mut v6 = Vec::new();
    etherparse::PacketBuilder::ethernet2(PEER_MAC, LB_MAC)
        .ipv6(
            [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
            64,
        )
        .tcp(40000, 80, 1, 1000)
        .syn()
        .write(&mut v6, &[])
        .unwrap();
    t.push(drop("IPv6 to no frontend", v6, NoService));
    t
}

/// Drops of malformed or unsupported IPv4: version, IHL, lengths, checksum,
/// martian sources, fragments, other protocols.
fn ip_drops(snap: &Snapshot) -> Vec<Case> {
    let mut t = Vec::new();
    let syn = syn_to_web();
    let ip_edit = |b: usize, v: u8| {
        edited(&syn, move |f, p| {
            f[p.l3() + b] = v;
            fix_ip_checksum(f, p.l3());
        })
    };
    t.push(drop("IP version 5", ip_edit(0, 0x55), MalformedIp));
    t.push(drop("IHL 4", ip_edit(0, 0x44), MalformedIp));
    t.push(drop(
        "IHL 15 past the frame end",
        ip_edit(0, 0x4f),
        MalformedIp,
    ));
    t.push(drop(
        "total length > frame",
        edited(&syn, |f, p| {
            let total = (f.len() - p.l3() + 1) as u16;
            f[p.l3() + 2..p.l3() + 4].copy_from_slice(&total.to_be_bytes());
            fix_ip_checksum(f, p.l3());
        }),
        MalformedIp,
    ));
    t.push(drop(
        "total length < header",
        edited(&syn, |f, p| {
            f[p.l3() + 2..p.l3() + 4].copy_from_slice(&19u16.to_be_bytes());
            fix_ip_checksum(f, p.l3());
        }),
        MalformedIp,
    ));
    t.push(drop(
        "IPv4 header cut off",
        syn.build()[..30].to_vec(),
        MalformedIp,
    ));
    t.push(drop(
        "bad IP checksum",
        edited(&syn, |f, p| f[p.l3() + 11] ^= 0x40),
        IpChecksum,
    ));
    for (what, src) in [
        ("martian source 0.0.0.0", Ipv4Addr::new(0, 0, 0, 0)),
        ("martian source 127.0.0.1", Ipv4Addr::new(127, 0, 0, 1)),
        ("martian source 224.0.0.1", Ipv4Addr::new(224, 0, 0, 1)),
        ("martian source 255.255.255.255", Ipv4Addr::BROADCAST),
    ] {
        t.push(drop(
            what,
            Pkt::tcp((src, 40101), WEB, TCP_SYN).build(),
            MartianSource,
        ));
    }
    // Fragments are forwarded (tests/fragments.rs): a first fragment
    // opens its connection like the whole segment would, with the MF bit
    // kept; a later fragment whose first has not come is held.
    let mf = |f: &mut Vec<u8>, l3: usize| {
        f[l3 + 6] |= 0x20;
        fix_ip_checksum(f, l3);
    };
    let Want::Any(cands) = inbound(snap, &syn) else {
        panic!("web is in random mode");
    };
    let cands = cands
        .into_iter()
        .map(|mut f| {
            mf(&mut f, syn.l3());
            f
        })
        .collect();
    t.push(
        case(
            "first fragment (MF)",
            edited(&syn, |f, p| mf(f, p.l3())),
            Want::Any(cands),
        )
        .event(Event::ConnectionCreated)
        .event(Event::FragmentFirst),
    );
    let mut later = syn.clone();
    later.ident = 0x1c47;
    t.push(case(
        "later fragment (offset 185)",
        edited(&later, |f, p| {
            f[p.l3() + 6..p.l3() + 8].copy_from_slice(&185u16.to_be_bytes());
            fix_ip_checksum(f, p.l3());
        }),
        Want::Hold,
    ));
    t.push(drop(
        "ICMP fragment",
        edited(&Pkt::echo_request(CLIENT, LB_ADDR, 1, 1), |f, p| {
            mf(f, p.l3())
        }),
        IpFragment,
    ));
    t.push(drop(
        "GRE (protocol 47) to a frontend",
        ip_other(CLIENT, WEB.0, 47, &[0, 0, 0x08, 0, 0x45, 0, 0, 0]),
        UnsupportedProtocol,
    ));
    t
}

/// Drops of malformed TCP and UDP headers.
fn transport_drops() -> Vec<Case> {
    let mut t = Vec::new();
    let syn = syn_to_web();
    t.push(drop(
        "TCP data offset 4",
        edited(&syn, |f, p| f[p.l4_offset() + 12] = 0x40),
        MalformedTcp,
    ));
    t.push(drop(
        "TCP data offset past the segment",
        edited(&syn, |f, p| f[p.l4_offset() + 12] = 0xf0),
        MalformedTcp,
    ));
    t.push(drop(
        "TCP header cut off (IP total length 30)",
        edited(&syn, |f, p| {
            f[p.l3() + 2..p.l3() + 4].copy_from_slice(&30u16.to_be_bytes());
            fix_ip_checksum(f, p.l3());
        }),
        MalformedTcp,
    ));
    let dns = Pkt::udp(client(40102), DNS);
    t.push(drop(
        "UDP length 4",
        edited(&dns, |f, p| {
            f[p.l4_offset() + 4..p.l4_offset() + 6].copy_from_slice(&4u16.to_be_bytes())
        }),
        MalformedUdp,
    ));
    t.push(drop(
        "UDP length past the datagram",
        edited(&dns, |f, p| {
            let n = (f.len() - p.l4_offset() + 1) as u16;
            f[p.l4_offset() + 4..p.l4_offset() + 6].copy_from_slice(&n.to_be_bytes());
        }),
        MalformedUdp,
    ));
    t
}

/// Drops of packets whose TTL runs out here, both ways.
fn ttl_drops() -> Vec<Case> {
    vec![
        drop(
            "TTL 1 inbound",
            Pkt::tcp(client(40103), WEB, TCP_SYN).ttl(1).build(),
            TtlExpired,
        ),
        drop(
            "TTL 0 inbound",
            Pkt::udp(client(40104), DNS).ttl(0).build(),
            TtlExpired,
        ),
        drop(
            "TTL 1 inbound NAT rule",
            Pkt::tcp(client(40105), SSH, TCP_SYN).ttl(1).build(),
            TtlExpired,
        ),
        drop(
            "TTL 1 return",
            Pkt::tcp(be1([198, 19, 1, 11], 8080), client(40106), TCP_ACK)
                .macs(BE_SIDE_MAC, LB_MAC)
                .ttl(1)
                .build(),
            TtlExpired,
        ),
        drop(
            "TTL 0 return",
            Pkt::udp(be1([198, 19, 3, 11], 5353), client(40107))
                .macs(BE_SIDE_MAC, LB_MAC)
                .ttl(0)
                .build(),
            TtlExpired,
        ),
    ]
}

/// Drops of what no frontend, backend or connection serves.
fn unserved_drops() -> Vec<Case> {
    vec![
        drop(
            "TCP to an unconfigured port of a frontend address",
            Pkt::tcp(client(40108), (WEB.0, 81), TCP_SYN).build(),
            NoService,
        ),
        drop(
            "UDP to a TCP-only frontend port",
            Pkt::udp(client(40109), WEB).build(),
            NoService,
        ),
        drop(
            "TCP to a non-frontend address",
            Pkt::tcp(client(40110), (Ipv4Addr::new(198, 18, 9, 9), 80), TCP_SYN).build(),
            NoService,
        ),
        drop(
            "TCP to an appliance address",
            Pkt::tcp(client(40111), (LB_ADDR, 22), TCP_SYN).build(),
            NoService,
        ),
        drop(
            "client sending straight to a backend",
            Pkt::tcp(client(40112), be1([198, 19, 1, 11], 8080), TCP_SYN).build(),
            NoService,
        ),
        drop(
            "reply from a non-backend",
            Pkt::tcp(be1([198, 19, 1, 99], 8080), client(40113), TCP_ACK)
                .macs(BE_SIDE_MAC, LB_MAC)
                .build(),
            NoService,
        ),
        drop(
            "reply from a backend address, wrong port",
            Pkt::tcp(be1([198, 19, 1, 11], 8081), client(40114), TCP_ACK)
                .macs(BE_SIDE_MAC, LB_MAC)
                .build(),
            NoService,
        ),
        drop(
            "reply from a TCP backend over UDP",
            Pkt::udp(be1([198, 19, 1, 11], 8080), client(40115))
                .macs(BE_SIDE_MAC, LB_MAC)
                .build(),
            NoService,
        ),
        drop(
            "TCP ACK without a connection, random mode",
            Pkt::tcp(client(40116), WEB, TCP_ACK).build(),
            NoFlow,
        ),
        drop(
            "TCP ACK without a connection, source-ip-protocol mode",
            Pkt::tcp(client(40117), API, TCP_ACK).build(),
            NoFlow,
        ),
        drop(
            "TCP RST without a connection, random mode",
            Pkt::tcp(client(40118), WEB, TCP_RST).build(),
            NoFlow,
        ),
        drop(
            "SYN to a pool whose backends all weigh 0",
            Pkt::tcp(client(40119), EMPTY, TCP_SYN).build(),
            NoBackend,
        ),
    ]
}

#[test]
fn translation_table() {
    let snap = Lb::new().snap();
    let cases = table(&snap);
    // Each row alone, on a fresh data path.
    for c in &cases {
        let mut lb = Lb::new();
        if let Some(reply) = &c.reply {
            lb.open(reply);
        }
        let before = lb.counters().clone();
        lb.expect(c.what, &c.input, &c.want);
        for e in &c.events {
            assert_eq!(
                lb.event(*e) - before.event_count(*e),
                1,
                "{}: event {}",
                c.what,
                e.name()
            );
        }
    }
    // All rows together, in bursts of 32, through one data path: the rows do
    // not share a connection, so every row must come out the same.
    let mut lb = Lb::new();
    for reply in cases.iter().filter_map(|c| c.reply.as_ref()) {
        lb.open(reply);
    }
    for chunk in cases.chunks(32) {
        let frames: Vec<Vec<u8>> = chunk.iter().map(|c| c.input.clone()).collect();
        let out = lb.run(&frames);
        for (c, got) in chunk.iter().zip(&out) {
            lb.check(c.what, &c.input, got, &c.want);
        }
    }
    eprintln!("{} translation cases", cases.len());
    assert!(cases.len() >= 80, "{} cases", cases.len());
}

/// A row of a stateful sequence: the clock, the packet and what must happen.
struct Step {
    at: u32,
    what: &'static str,
    input: Vec<u8>,
    want: Want,
}

fn run_steps(lb: &mut Lb, steps: &[Step]) {
    for s in steps {
        lb.dp.set_clock(s.at);
        lb.expect(s.what, &s.input, &s.want);
    }
}

#[test]
fn established_connections_stay_on_their_backend() {
    let mut lb = Lb::new();
    let snap = lb.snap();
    let mut used = std::collections::HashSet::new();
    for i in 0..50u16 {
        let c = client(41000 + i);
        let syn = Pkt::tcp(c, WEB, TCP_SYN);
        let ack = Pkt::tcp(c, WEB, TCP_ACK);
        let data = Pkt::tcp(c, WEB, TCP_ACK | TCP_PSH).payload(b"GET /index.html HTTP/1.1\r\n\r\n");
        let Want::Any(syn_cands) = inbound(&snap, &syn) else {
            unreachable!()
        };
        let Want::Any(ack_cands) = inbound(&snap, &ack) else {
            unreachable!()
        };
        let Want::Any(data_cands) = inbound(&snap, &data) else {
            unreachable!()
        };
        run_steps(
            &mut lb,
            &[
                Step {
                    at: 1,
                    what: "SYN",
                    input: syn.build(),
                    want: Want::Any(syn_cands),
                },
                Step {
                    at: 1,
                    what: "ACK",
                    input: ack.build(),
                    want: Want::Same(ack_cands),
                },
                Step {
                    at: 2,
                    what: "data",
                    input: data.build(),
                    want: Want::Same(data_cands.clone()),
                },
                Step {
                    at: 3,
                    what: "retransmitted SYN",
                    input: syn.build(),
                    want: Want::Same(match inbound(&snap, &syn) {
                        Want::Any(v) => v,
                        _ => unreachable!(),
                    }),
                },
            ],
        );
        used.insert(lb.chosen.unwrap());
        // The backend's answer goes back out from the frontend.
        let be = pool(&snap, WEB, 6)[lb.chosen.unwrap()];
        let reply = Pkt::tcp(be, c, TCP_ACK | TCP_PSH)
            .macs(BE_SIDE_MAC, LB_MAC)
            .payload(b"HTTP/1.1 200 OK\r\n\r\n");
        lb.expect("reply", &reply.build(), &returning(&snap, &reply));
    }
    assert_eq!(lb.event(Event::ConnectionCreated), 50);
    assert_eq!(lb.event(Event::FlowHit), 150);
    assert_eq!(lb.event(Event::Return), 50);
    assert_eq!(
        used.len(),
        3,
        "50 connections all went to the same backends"
    );
}

#[test]
fn syn_and_ack_in_one_burst_meet_the_same_backend() {
    let mut lb = Lb::new();
    let snap = lb.snap();
    let mut frames = Vec::new();
    let mut wants = Vec::new();
    for i in 0..16u16 {
        let c = client(42000 + i);
        let syn = Pkt::tcp(c, WEB, TCP_SYN);
        let ack = Pkt::tcp(c, WEB, TCP_ACK);
        frames.push(syn.build());
        frames.push(ack.build());
        wants.push(inbound(&snap, &syn));
        wants.push(match inbound(&snap, &ack) {
            Want::Any(v) => Want::Same(v),
            w => w,
        });
    }
    let out = lb.run(&frames);
    for ((f, got), w) in frames.iter().zip(&out).zip(&wants) {
        lb.check("burst", f, got, w);
    }
    assert_eq!(lb.event(Event::ConnectionCreated), 16);
    assert_eq!(lb.event(Event::FlowHit), 16);
}

#[test]
fn hash_modes_keep_affinity() {
    let mut lb = Lb::new();
    let snap = lb.snap();
    // source-ip: every port of a client, one backend.
    let first = Pkt::udp(client(43000), DNS);
    let b = hashed(&snap, &first, Mode::SourceIp);
    for port in 43000..43020 {
        let p = Pkt::udp(client(port), DNS);
        assert_eq!(hashed(&snap, &p, Mode::SourceIp), b);
        lb.expect("source-ip", &p.build(), &inbound(&snap, &p));
    }
    // Different clients spread over the pool.
    let mut seen = std::collections::HashSet::new();
    for host in 1..60u8 {
        let p = Pkt::udp((Ipv4Addr::new(198, 18, 201, host), 5000), DNS);
        seen.insert(hashed(&snap, &p, Mode::SourceIp));
        lb.expect("source-ip spread", &p.build(), &inbound(&snap, &p));
        let q = Pkt::tcp((Ipv4Addr::new(198, 18, 201, host), 5000), API, TCP_SYN);
        lb.expect("source-ip-protocol", &q.build(), &inbound(&snap, &q));
        let r = Pkt::tcp((Ipv4Addr::new(198, 18, 201, host), 5000), TLS, TCP_SYN);
        lb.expect("maglev", &r.build(), &inbound(&snap, &r));
    }
    assert_eq!(seen.len(), 3);
}

#[test]
fn midstream_maglev_ack_creates_a_connection() {
    let mut lb = Lb::new();
    let snap = lb.snap();
    let ack = Pkt::tcp(client(44000), TLS, TCP_ACK);
    let want = inbound(&snap, &ack);
    lb.expect("first midstream ACK", &ack.build(), &want);
    assert_eq!(lb.event(Event::MidstreamHashed), 1);
    assert_eq!(lb.event(Event::ConnectionCreated), 1);
    lb.expect("second ACK", &ack.build(), &want);
    assert_eq!(lb.event(Event::MidstreamHashed), 1);
    assert_eq!(lb.event(Event::FlowHit), 1);
}

fn sock(a: (Ipv4Addr, u16)) -> SocketAddrV4 {
    SocketAddrV4::new(a.0, a.1)
}

#[test]
fn removed_backend_drops_its_connections() {
    let mut lb = Lb::new();
    let snap = lb.snap();
    let c = client(45000);
    let syn = Pkt::tcp(c, WEB, TCP_SYN);
    let ack = Pkt::tcp(c, WEB, TCP_ACK);
    lb.expect("SYN", &syn.build(), &inbound(&snap, &syn));
    let gone = pool(&snap, WEB, 6)[lb.chosen.unwrap()];
    // Another connection, on another backend, must survive.
    let mut other = None;
    for port in 45001..45100 {
        let s = Pkt::tcp(client(port), WEB, TCP_SYN);
        lb.expect("other SYN", &s.build(), &inbound(&snap, &s));
        let b = pool(&snap, WEB, 6)[lb.chosen.unwrap()];
        if b != gone {
            other = Some((port, b));
            break;
        }
    }
    let (oport, ob) = other.expect("every connection went to one backend");

    lb.cp.remove_backend("web", sock(gone)).unwrap();
    lb.dp.refresh();
    let snap2 = lb.snap();
    assert_eq!(pool(&snap2, WEB, 6).len(), 2);

    lb.expect(
        "ACK after removal",
        &ack.build(),
        &Want::Drop(BackendRemoved),
    );
    let o = Pkt::tcp(client(oport), WEB, TCP_ACK);
    lb.expect(
        "other connection",
        &o.build(),
        &Want::Exact(Verdict::ToPrivate, toward(&snap2, &o, ob.0, ob.1)),
    );
    // The removed backend's replies are no longer translated.
    let reply = Pkt::tcp(gone, c, TCP_ACK).macs(BE_SIDE_MAC, LB_MAC);
    lb.expect("reply from removed", &reply.build(), &Want::Drop(NoService));
    // A second ACK: the connection is gone, random mode does not guess.
    lb.expect("ACK again", &ack.build(), &Want::Drop(NoFlow));
    // A new SYN from the same client port: a new connection on a remaining backend.
    let created = lb.event(Event::ConnectionCreated);
    lb.expect("new SYN", &syn.build(), &inbound(&snap2, &syn));
    assert_eq!(lb.event(Event::ConnectionCreated), created + 1);
    let nb = pool(&snap2, WEB, 6)[lb.chosen.unwrap()];
    assert_ne!(nb, gone);
    let Want::Any(v) = inbound(&snap2, &ack) else {
        unreachable!()
    };
    lb.expect("ACK on the new connection", &ack.build(), &Want::Same(v));
}

#[test]
fn removed_backend_then_syn_without_intervening_ack() {
    // The SYN arrives while the old entry still points to the removed backend.
    let mut lb = Lb::new();
    let snap = lb.snap();
    let c = client(45500);
    let syn = Pkt::tcp(c, WEB, TCP_SYN);
    lb.expect("SYN", &syn.build(), &inbound(&snap, &syn));
    let gone = pool(&snap, WEB, 6)[lb.chosen.unwrap()];
    lb.cp.remove_backend("web", sock(gone)).unwrap();
    lb.dp.refresh();
    let snap2 = lb.snap();
    lb.expect("SYN again", &syn.build(), &inbound(&snap2, &syn));
    let ack = Pkt::tcp(c, WEB, TCP_ACK);
    let Want::Any(v) = inbound(&snap2, &ack) else {
        unreachable!()
    };
    lb.expect("ACK", &ack.build(), &Want::Same(v));
}

#[test]
fn draining_backend_keeps_connections_and_takes_no_new_ones() {
    let mut lb = Lb::new();
    let snap = lb.snap();
    let backends = pool(&snap, WEB, 6);
    let mut conns = Vec::new();
    for i in 0..30u16 {
        let c = client(46000 + i);
        let syn = Pkt::tcp(c, WEB, TCP_SYN);
        lb.expect("SYN", &syn.build(), &inbound(&snap, &syn));
        conns.push((c, backends[lb.chosen.unwrap()]));
    }
    let drained = conns[0].1;
    lb.cp.drain_backend("web", sock(drained)).unwrap();
    lb.dp.refresh();
    let snap2 = lb.snap();
    let mut kept = 0;
    for (c, b) in &conns {
        let ack = Pkt::tcp(*c, WEB, TCP_ACK);
        lb.expect(
            "existing connection",
            &ack.build(),
            &Want::Exact(Verdict::ToPrivate, toward(&snap2, &ack, b.0, b.1)),
        );
        kept += (*b == drained) as u32;
    }
    assert!(kept >= 1);
    // Replies from the draining backend are still translated.
    let reply = Pkt::tcp(drained, conns[0].0, TCP_ACK).macs(BE_SIDE_MAC, LB_MAC);
    lb.expect(
        "reply from draining",
        &reply.build(),
        &returning(&snap2, &reply),
    );
    for i in 0..100u16 {
        let syn = Pkt::tcp(client(47000 + i), WEB, TCP_SYN);
        let want = inbound(&snap2, &syn);
        let Want::Any(ref v) = want else {
            unreachable!()
        };
        assert_eq!(v.len(), 2, "the draining backend is no candidate");
        lb.expect("new SYN while draining", &syn.build(), &want);
    }
    // Undrain: it takes new connections again.
    lb.cp.set_weight("web", sock(drained), 1).unwrap();
    lb.dp.refresh();
    let snap3 = lb.snap();
    let mut back = false;
    for i in 0..100u16 {
        let syn = Pkt::tcp(client(48000 + i), WEB, TCP_SYN);
        lb.expect(
            "new SYN after undrain",
            &syn.build(),
            &inbound(&snap3, &syn),
        );
        back |= pool(&snap3, WEB, 6)[lb.chosen.unwrap()] == drained;
    }
    assert!(back);
}

#[test]
fn draining_under_maglev_moves_no_other_connection() {
    let mut lb = Lb::new();
    let snap = lb.snap();
    let drained = pool(&snap, TLS, 6)[1];
    lb.cp.drain_backend("tls", sock(drained)).unwrap();
    lb.dp.refresh();
    let snap2 = lb.snap();
    for i in 0..200u16 {
        let syn = Pkt::tcp(client(49000 + i), TLS, TCP_SYN);
        let before = hashed(&snap, &syn, Mode::Maglev);
        let after = hashed(&snap2, &syn, Mode::Maglev);
        assert_ne!(snap2.backends[after as usize].address, drained.0);
        if snap.backends[before as usize].address != drained.0 {
            assert_eq!(before, after, "a key moved off a backend that stayed");
        }
        lb.expect(
            "maglev SYN while draining",
            &syn.build(),
            &inbound(&snap2, &syn),
        );
    }
}

#[test]
fn no_backend_after_all_removed_or_drained() {
    let mut lb = Lb::new();
    let snap = lb.snap();
    for b in pool(&snap, DNS, 17) {
        lb.cp.drain_backend("dns", sock(b)).unwrap();
    }
    lb.dp.refresh();
    let p = Pkt::udp(client(50000), DNS);
    lb.expect(
        "UDP to an all-drained pool",
        &p.build(),
        &Want::Drop(NoBackend),
    );
    // Adding a backend brings the frontend back.
    lb.cp
        .add_backend(
            "dns",
            Backend {
                address: Ipv4Addr::new(198, 19, 3, 20).into(),
                port: 5353,
                weight: 1,
                mac: MacAddr([0x02, 0, 0, 0, 0x03, 0x14]),
            },
        )
        .unwrap();
    lb.dp.refresh();
    let snap2 = lb.snap();
    lb.expect(
        "UDP after add_backend",
        &p.build(),
        &Want::Exact(
            Verdict::ToPrivate,
            toward(&snap2, &p, Ipv4Addr::new(198, 19, 3, 20), 5353),
        ),
    );
}

fn any(snap: &Snapshot, p: &Pkt) -> Vec<Vec<u8>> {
    match inbound(snap, p) {
        Want::Any(v) => v,
        w => panic!("not random mode: {w:?}"),
    }
}

#[test]
fn half_open_connection_expires_after_the_transitory_timeout() {
    let mut lb = Lb::new();
    let snap = lb.snap();
    let c = client(51000);
    let syn = Pkt::tcp(c, WEB, TCP_SYN);
    let ack = Pkt::tcp(c, WEB, TCP_ACK);
    run_steps(
        &mut lb,
        &[
            Step {
                at: 100,
                what: "SYN",
                input: syn.build(),
                want: Want::Any(any(&snap, &syn)),
            },
            Step {
                at: 100 + TRANSITORY_SECS + 1,
                what: "ACK after the transitory timeout",
                input: ack.build(),
                want: Want::Drop(NoFlow),
            },
        ],
    );
    // At exactly the timeout it is still alive.
    let c2 = client(51001);
    let syn2 = Pkt::tcp(c2, WEB, TCP_SYN);
    let ack2 = Pkt::tcp(c2, WEB, TCP_ACK);
    run_steps(
        &mut lb,
        &[
            Step {
                at: 200,
                what: "SYN",
                input: syn2.build(),
                want: Want::Any(any(&snap, &syn2)),
            },
            Step {
                at: 200 + TRANSITORY_SECS,
                what: "ACK at the transitory timeout",
                input: ack2.build(),
                want: Want::Same(any(&snap, &ack2)),
            },
            // Now established: the rule's idle timeout applies.
            Step {
                at: 200 + TRANSITORY_SECS + 100,
                what: "ACK 100 s later",
                input: ack2.build(),
                want: Want::Same(any(&snap, &ack2)),
            },
        ],
    );
}

#[test]
fn established_connection_lives_for_the_idle_timeout() {
    let mut lb = Lb::new();
    let snap = lb.snap();
    for (fe, idle, port) in [(WEB, WEB_IDLE_SECS, 52000), (API, API_IDLE_SECS, 52001)] {
        let c = client(port);
        let syn = Pkt::tcp(c, fe, TCP_SYN);
        let ack = Pkt::tcp(c, fe, TCP_ACK);
        let want_syn = inbound(&snap, &syn);
        let want_ack = match inbound(&snap, &ack) {
            Want::Any(v) => Want::Same(v),
            w => w,
        };
        let t0 = 1000;
        run_steps(
            &mut lb,
            &[
                Step {
                    at: t0,
                    what: "SYN",
                    input: syn.build(),
                    want: want_syn,
                },
                Step {
                    at: t0 + 1,
                    what: "ACK",
                    input: ack.build(),
                    want: want_ack.clone(),
                },
                Step {
                    at: t0 + 1 + idle,
                    what: "ACK after exactly the idle timeout",
                    input: ack.build(),
                    want: want_ack.clone(),
                },
                Step {
                    at: t0 + 1 + 2 * idle,
                    what: "ACK after the idle timeout again (last_seen moved)",
                    input: ack.build(),
                    want: want_ack,
                },
                Step {
                    at: t0 + 2 + 3 * idle,
                    what: "ACK after the idle timeout + 1",
                    input: ack.build(),
                    want: Want::Drop(NoFlow),
                },
            ],
        );
    }
}

#[test]
fn expired_maglev_connection_is_recreated_by_hash() {
    let mut lb = Lb::new();
    let snap = lb.snap();
    let c = client(52500);
    let syn = Pkt::tcp(c, TLS, TCP_SYN);
    let ack = Pkt::tcp(c, TLS, TCP_ACK);
    lb.dp.set_clock(10);
    lb.expect("SYN", &syn.build(), &inbound(&snap, &syn));
    lb.expect("ACK", &ack.build(), &inbound(&snap, &ack));
    lb.dp.set_clock(10 + WEB_IDLE_SECS + 1);
    lb.expect(
        "ACK after idle timeout",
        &ack.build(),
        &inbound(&snap, &ack),
    );
    assert_eq!(lb.event(Event::ExpiredReused), 1);
    assert_eq!(lb.event(Event::MidstreamHashed), 1);
    assert_eq!(lb.event(Event::ConnectionCreated), 2);
}

fn state_of(lb: &Lb, port: u16) -> TcpState {
    let mut f = None;
    lb.dp.flows().for_each(|e| {
        if (e.key >> 16) as u16 == port && (e.key >> 32) as u32 == u32::from(CLIENT) {
            f = Some(e.state());
        }
    });
    f.expect("no entry")
}

#[test]
fn rst_closes_a_connection_and_a_client_fin_half_closes_it() {
    // RFC 7857 section 2.2: a RST closes a connection, a FIN from one side
    // only half-closes it (issue 8, defect 2: a client FIN used to make the
    // connection transitory, so the client's ACKs of a download were
    // dropped as `no-flow` 10 s later).
    let mut lb = Lb::new();
    let snap = lb.snap();
    for (port, close) in [(53000u16, TCP_FIN | TCP_ACK), (53001, TCP_RST)] {
        let rst = close == TCP_RST;
        let c = client(port);
        let syn = Pkt::tcp(c, WEB, TCP_SYN);
        let ack = Pkt::tcp(c, WEB, TCP_ACK);
        let fin = Pkt::tcp(c, WEB, close);
        lb.dp.set_clock(100);
        lb.expect("SYN", &syn.build(), &Want::Any(any(&snap, &syn)));
        assert_eq!(state_of(&lb, port), TcpState::SynOnly);
        lb.dp.set_clock(101);
        lb.expect("ACK", &ack.build(), &Want::Same(any(&snap, &ack)));
        assert_eq!(state_of(&lb, port), TcpState::Established);
        lb.dp.set_clock(102);
        lb.expect("FIN/RST", &fin.build(), &Want::Same(any(&snap, &fin)));
        let (after, timeout) = if rst {
            (TcpState::Closing, WEB_TRANSITORY_SECS)
        } else {
            (TcpState::FinClient, WEB_IDLE_SECS)
        };
        assert_eq!(state_of(&lb, port), after);
        // An ACK after the FIN or RST does not make it established again.
        lb.dp.set_clock(102 + timeout);
        lb.expect("last ACK", &ack.build(), &Want::Same(any(&snap, &ack)));
        assert_eq!(state_of(&lb, port), after, "still");
        lb.dp.set_clock(102 + 2 * timeout + 1);
        lb.expect("ACK after the timeout", &ack.build(), &Want::Drop(NoFlow));
    }
}

#[test]
fn full_table_still_forwards_by_hash() {
    // flow_table_size 1024 (the configuration minimum): 2048 slots.
    let mut lb = Lb::with(CONFIG, 1024);
    let snap = lb.snap();
    // Fill with UDP connections (never transitory) from many clients.
    let mut n = 0u32;
    let mut full_at = None;
    'fill: for host in 1..=250u8 {
        for port in 0..40u16 {
            let p = Pkt::udp((Ipv4Addr::new(198, 18, 210, host), 20000 + port), DNS);
            lb.expect("fill", &p.build(), &inbound(&snap, &p));
            n += 1;
            if lb.event(Event::TableFull) > 0 {
                full_at = Some(p);
                break 'fill;
            }
        }
    }
    let p = full_at.expect("the table never filled");
    assert!(n as usize <= lb.dp.flows().capacity() + 1);
    assert_eq!(lb.event(Event::ConnectionCreated), u64::from(n) - 1);
    // The same datagram again: still no room, same backend, counted again.
    lb.expect("again", &p.build(), &inbound(&snap, &p));
    assert_eq!(lb.event(Event::TableFull), 2);
    // Established TCP connections fill the rest; a new one is then served by
    // the 5-tuple hash, and so is its ACK.
    let mut tcp_full = None;
    'tcp: for host in 1..=250u8 {
        for port in 0..40u16 {
            let c = (Ipv4Addr::new(198, 18, 220, host), 30000 + port);
            let syn = Pkt::tcp(c, WEB, TCP_SYN);
            let before = lb.event(Event::TableFull);
            let out = lb.one(&syn.build());
            if lb.event(Event::TableFull) > before {
                tcp_full = Some((syn, out));
                break 'tcp;
            }
            lb.check("fill SYN", &syn.build(), &out, &Want::Any(any(&snap, &syn)));
            let ack = Pkt::tcp(c, WEB, TCP_ACK);
            lb.expect("fill ACK", &ack.build(), &Want::Same(any(&snap, &ack)));
        }
    }
    let (syn, out) = tcp_full.expect("the table never filled with TCP");
    let b = &snap.backends[hashed(&snap, &syn, Mode::Random) as usize];
    let want = Want::Exact(Verdict::ToPrivate, to_backend(&syn, b).build());
    lb.check("SYN with the table full", &syn.build(), &out, &want);
    let ack = Pkt::tcp((syn.src, syn.sport()), WEB, TCP_ACK);
    let before = lb.event(Event::TableFull);
    lb.expect(
        "ACK with the table full",
        &ack.build(),
        &Want::Exact(Verdict::ToPrivate, to_backend(&ack, b).build()),
    );
    assert_eq!(lb.event(Event::TableFull), before + 1);
    assert_eq!(lb.counters().dropped(), 0);
}

#[test]
fn checksums_survive_many_rewrites() {
    // A sweep over ports, addresses, payloads and TTLs, so that the incremental
    // checksum updates meet carries, 0x0000 and 0xFFFF along the way.
    let mut lb = Lb::new();
    let snap = lb.snap();
    let mut x: u32 = 0x1234_5678;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    for i in 0..2000u32 {
        let r = next();
        let src = (
            Ipv4Addr::new(198, 18 + (r & 1) as u8, (r >> 8) as u8, (r >> 16) as u8 | 1),
            (r >> 3) as u16 | 1024,
        );
        let len = (next() % 40) as usize;
        let payload: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let ttl = (next() % 254) as u8 + 2;
        let p = if i % 2 == 0 {
            Pkt::udp(src, DNS).payload(&payload).ttl(ttl)
        } else {
            Pkt::tcp(src, TLS, TCP_ACK | TCP_PSH)
                .payload(&payload)
                .ttl(ttl)
        };
        let out = lb.expect("sweep inbound", &p.build(), &inbound(&snap, &p));
        // The backend answers the connection natrix gave it.
        let be = (
            Ipv4Addr::new(out[30], out[31], out[32], out[33]),
            u16::from_be_bytes([out[36], out[37]]),
        );
        let q = if i % 2 == 0 {
            Pkt::udp(be, src).payload(&payload).ttl(ttl)
        } else {
            Pkt::tcp(be, src, TCP_ACK).payload(&payload).ttl(ttl)
        }
        .macs(BE_SIDE_MAC, LB_MAC);
        lb.expect("sweep return", &q.build(), &returning(&snap, &q));
    }
}

#[test]
fn new_connection_on_a_closed_client_port_becomes_established() {
    // A client reuses its port within the transitory timeout of the previous
    // connection's FIN: the new SYN meets the closing entry. It is a new
    // connection, so its backend is chosen afresh (and counted); once it is
    // established it must live for the idle timeout, not the transitory one.
    let mut lb = Lb::new();
    let snap = lb.snap();
    let c = client(54000);
    let syn = Pkt::tcp(c, WEB, TCP_SYN);
    let ack = Pkt::tcp(c, WEB, TCP_ACK);
    let fin = Pkt::tcp(c, WEB, TCP_FIN | TCP_ACK);
    let steps = [
        (100, "SYN", &syn),
        (100, "ACK", &ack),
        (101, "FIN", &fin),
        (102, "ACK of the FIN", &ack),
        (105, "new SYN on the same port", &syn),
        (105, "new ACK", &ack),
        (105 + 60, "data a minute later", &ack),
    ];
    lb.dp.set_clock(100);
    lb.expect("first SYN", &syn.build(), &Want::Any(any(&snap, &syn)));
    for (at, what, p) in &steps[1..] {
        lb.dp.set_clock(*at);
        let want = if *what == "new SYN on the same port" {
            Want::Any(any(&snap, p))
        } else {
            Want::Same(any(&snap, p))
        };
        lb.expect(what, &p.build(), &want);
    }
    assert_eq!(
        lb.dp
            .counters
            .event_count(natrix::dataplane::counters::Event::ConnectionCreated),
        2,
        "the reused port is a second connection"
    );
    assert_eq!(
        state_of(&lb, 54000),
        TcpState::Established,
        "established again"
    );
}

#[test]
fn midstream_after_table_full_keeps_its_backend() {
    // Issue 8, defect 3: a connection served by the table-full path (no
    // entry) must keep its backend once the table has room again, rather than
    // being dropped as `no-flow` (random mode).
    let mut lb = Lb::with(CONFIG, 1024);
    let snap = lb.snap();
    lb.dp.set_clock(100);
    let mut filled = false;
    'fill: for host in 1..=250u8 {
        for port in 0..40u16 {
            let c = (Ipv4Addr::new(198, 18, 220, host), 30000 + port);
            let syn = Pkt::tcp(c, WEB, TCP_SYN);
            let before = lb.event(Event::TableFull);
            let out = lb.one(&syn.build());
            if lb.event(Event::TableFull) > before {
                filled = true;
                break 'fill;
            }
            lb.check("fill SYN", &syn.build(), &out, &Want::Any(any(&snap, &syn)));
            let ack = Pkt::tcp(c, WEB, TCP_ACK);
            lb.expect("fill ACK", &ack.build(), &Want::Same(any(&snap, &ack)));
        }
    }
    assert!(filled, "the table never filled");
    // Just before the fill expires: new connections until one finds its
    // buckets full and is served by hash (the others are SYN-only entries).
    lb.dp.set_clock(100 + WEB_IDLE_SECS - 1);
    let mut hashed_conn = None;
    for port in 41000..42000u16 {
        let c = (Ipv4Addr::new(198, 18, 230, 9), port);
        let syn = Pkt::tcp(c, WEB, TCP_SYN);
        let before = lb.event(Event::TableFull);
        let out = lb.one(&syn.build());
        if lb.event(Event::TableFull) > before {
            let b = &snap.backends[hashed(&snap, &syn, Mode::Random) as usize];
            let want = Want::Exact(Verdict::ToPrivate, to_backend(&syn, b).build());
            lb.check("SYN with the table full", &syn.build(), &out, &want);
            hashed_conn = Some((c, b));
            break;
        }
        lb.check(
            "SYN with room",
            &syn.build(),
            &out,
            &Want::Any(any(&snap, &syn)),
        );
    }
    let (c, b) = hashed_conn.expect("no SYN met a full table");
    // The fill expires and the sweep frees it: room again.
    lb.dp.set_clock(100 + WEB_IDLE_SECS + TRANSITORY_SECS + 2);
    let cap = lb.dp.flows().capacity();
    lb.dp.sweep(cap);
    assert_eq!(lb.dp.active_connections(), 0);
    // The connection's next segments still reach the same backend.
    for what in ["first ACK with room", "second ACK with room"] {
        let ack = Pkt::tcp(c, WEB, TCP_ACK).payload(b"more");
        lb.expect(
            what,
            &ack.build(),
            &Want::Exact(Verdict::ToPrivate, to_backend(&ack, b).build()),
        );
    }
    assert_eq!(lb.event(Event::MidstreamHashed), 1);
    assert_eq!(lb.dp.active_connections(), 1);
    // A stray ACK long after the table was last full is still `no-flow`.
    lb.dp.set_clock(100 + 3 * WEB_IDLE_SECS);
    let stray = Pkt::tcp((Ipv4Addr::new(198, 18, 230, 10), 41001), WEB, TCP_ACK);
    lb.expect("stray ACK", &stray.build(), &Want::Drop(NoFlow));
}
