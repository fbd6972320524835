//! Golden packets for every header view: parse and check every field, emit the
//! same bytes from a zeroed buffer with the setters, cross-check against
//! etherparse, and fuzz the checked constructors.

use std::net::Ipv4Addr;

use natrix::wire::{arp, checksum, ethernet, icmp, ipv4, tcp, udp, Error, IpProtocol, MacAddr};
use proptest::prelude::*;

const MAC_GW: MacAddr = MacAddr([0x02, 0x00, 0x00, 0x00, 0x00, 0x01]);
const MAC_HOST: MacAddr = MacAddr([0x02, 0x00, 0x00, 0x00, 0x00, 0x02]);
const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);
const SERVER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);

/// Ethernet / IPv4 / TCP SYN with MSS, SACK-permitted, timestamps, NOP and
/// window scale options; 192.168.1.10:51234 -> 203.0.113.7:443.
#[rustfmt::skip]
const TCP_SYN_FRAME: [u8; 74] = [
    // Ethernet: dst, src, EtherType IPv4
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x08, 0x00,
    // IPv4: v4 IHL 5, DSCP 0, total 60, ident 0x1c46, DF, TTL 64, TCP, checksum 0x20bc
    0x45, 0x00, 0x00, 0x3c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06, 0x20, 0xbc,
    0xc0, 0xa8, 0x01, 0x0a, 0xcb, 0x00, 0x71, 0x07,
    // TCP: ports, seq, ack, offset 10, SYN, window 64240, checksum 0x7d98, urgent 0
    0xc8, 0x22, 0x01, 0xbb, 0x7a, 0x1c, 0x3f, 0x05, 0x00, 0x00, 0x00, 0x00,
    0xa0, 0x02, 0xfa, 0xf0, 0x7d, 0x98, 0x00, 0x00,
    // TCP options
    0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x9c, 0x4e, 0x21,
    0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
];

/// IPv4 / UDP DNS query for example.com A; 10.1.2.3:53000 -> 10.53.0.1:53.
#[rustfmt::skip]
const UDP_DNS_PACKET: [u8; 57] = [
    // IPv4: total 57, ident 0xbeef, no flags, TTL 63, UDP, checksum 0xa68b
    0x45, 0x00, 0x00, 0x39, 0xbe, 0xef, 0x00, 0x00, 0x3f, 0x11, 0xa6, 0x8b,
    0x0a, 0x01, 0x02, 0x03, 0x0a, 0x35, 0x00, 0x01,
    // UDP: ports, length 37, checksum 0x9ef1
    0xcf, 0x08, 0x00, 0x35, 0x00, 0x25, 0x9e, 0xf1,
    // DNS
    0xab, 0xcd, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x07, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 0x03, b'c', b'o', b'm', 0x00,
    0x00, 0x01, 0x00, 0x01,
];
const DNS_PAYLOAD_AT: usize = 28;

/// ICMP echo request, ident 0x1234, seq 7, 16 bytes of data.
#[rustfmt::skip]
const ICMP_ECHO: [u8; 24] = [
    0x08, 0x00, 0x39, 0x08, 0x12, 0x34, 0x00, 0x07,
    b'n', b'a', b't', b'r', b'i', b'x', b'-', b'p', b'i', b'n', b'g', b'-', b'0', b'1', b'2', b'3',
];

/// ICMP Destination Unreachable, fragmentation needed (next-hop MTU 1400,
/// RFC 1191), quoting the IPv4 header and the first 8 bytes of the TCP SYN
/// above: the minimum RFC 792 asks for.
#[rustfmt::skip]
const ICMP_FRAG_NEEDED: [u8; 36] = [
    // type 3, code 4, checksum 0x7484, unused, next-hop MTU 1400
    0x03, 0x04, 0x74, 0x84, 0x00, 0x00, 0x05, 0x78,
    // the quoted IPv4 header
    0x45, 0x00, 0x00, 0x3c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06, 0x20, 0xbc,
    0xc0, 0xa8, 0x01, 0x0a, 0xcb, 0x00, 0x71, 0x07,
    // the quoted TCP ports and sequence number
    0xc8, 0x22, 0x01, 0xbb, 0x7a, 0x1c, 0x3f, 0x05,
];

/// Ethernet broadcast / ARP "who has 192.168.1.1? tell 192.168.1.10".
#[rustfmt::skip]
const ARP_REQUEST_FRAME: [u8; 42] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x08, 0x06,
    // htype 1, ptype 0x0800, hlen 6, plen 4, op request
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01,
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0xc0, 0xa8, 0x01, 0x0a,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0xa8, 0x01, 0x01,
];

/// The same ARP request behind an 802.1Q tag (PCP 1, VID 100).
#[rustfmt::skip]
const ARP_REQUEST_VLAN_FRAME: [u8; 46] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
    0x81, 0x00, 0x20, 0x64, 0x08, 0x06,
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01,
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0xc0, 0xa8, 0x01, 0x0a,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0xa8, 0x01, 0x01,
];

// ----------------------------------------------------------------------------
// Golden parse

#[test]
fn parse_tcp_syn_frame() {
    let frame = ethernet::Frame::new_checked(&TCP_SYN_FRAME[..]).unwrap();
    assert_eq!(frame.dst_addr(), MAC_GW);
    assert_eq!(frame.src_addr(), MAC_HOST);
    assert_eq!(frame.ethertype(), ethernet::EtherType::Ipv4);
    assert_eq!(frame.l3_offset(), Ok((14, ethernet::EtherType::Ipv4)));

    let ip = ipv4::Packet::new_checked(&TCP_SYN_FRAME[14..]).unwrap();
    assert_eq!(ip.version(), 4);
    assert_eq!(ip.header_len(), 20);
    assert_eq!(ip.dscp_ecn(), 0);
    assert_eq!(ip.total_len(), 60);
    assert_eq!(ip.ident(), 0x1c46);
    assert!(ip.dont_frag());
    assert!(!ip.more_frags());
    assert_eq!(ip.frag_offset(), 0);
    assert!(!ip.is_fragment());
    assert_eq!(ip.ttl(), 64);
    assert_eq!(ip.protocol(), IpProtocol::Tcp);
    assert_eq!(ip.checksum(), 0x20bc);
    assert_eq!(ip.src_addr(), CLIENT);
    assert_eq!(ip.dst_addr(), SERVER);
    assert_eq!(ip.src_addr_raw(), 0xc0a8_010a);
    assert_eq!(ip.dst_addr_raw(), 0xcb00_7107);
    assert!(ip.options().is_empty());
    assert_eq!(ip.payload().len(), 40);
    assert!(ip.verify_checksum());

    let tcp = tcp::Packet::new_checked(ip.payload()).unwrap();
    assert_eq!(tcp.src_port(), 51234);
    assert_eq!(tcp.dst_port(), 443);
    assert_eq!(tcp.seq_number(), 0x7a1c_3f05);
    assert_eq!(tcp.ack_number(), 0);
    assert_eq!(tcp.header_len(), 40);
    assert_eq!(tcp.flags(), tcp::FLAG_SYN);
    assert!(tcp.syn() && !tcp.ack() && !tcp.fin() && !tcp.rst() && !tcp.psh());
    assert_eq!(tcp.window_len(), 64240);
    assert_eq!(tcp.checksum(), 0x7d98);
    assert_eq!(tcp.urgent_at(), 0);
    assert_eq!(tcp.options(), &TCP_SYN_FRAME[54..74]);
    assert!(tcp.payload().is_empty());
    assert!(tcp.verify_checksum(CLIENT, SERVER));
    assert!(!tcp.verify_checksum(CLIENT, Ipv4Addr::new(203, 0, 113, 8)));
}

#[test]
fn parse_udp_dns_packet() {
    let src = Ipv4Addr::new(10, 1, 2, 3);
    let dst = Ipv4Addr::new(10, 53, 0, 1);
    let ip = ipv4::Packet::new_checked(&UDP_DNS_PACKET[..]).unwrap();
    assert_eq!(ip.version(), 4);
    assert_eq!(ip.header_len(), 20);
    assert_eq!(ip.total_len(), 57);
    assert_eq!(ip.ident(), 0xbeef);
    assert!(!ip.dont_frag() && !ip.more_frags() && !ip.is_fragment());
    assert_eq!(ip.ttl(), 63);
    assert_eq!(ip.protocol(), IpProtocol::Udp);
    assert_eq!(ip.checksum(), 0xa68b);
    assert_eq!(ip.src_addr(), src);
    assert_eq!(ip.dst_addr(), dst);
    assert!(ip.verify_checksum());

    let udp = udp::Packet::new_checked(ip.payload()).unwrap();
    assert_eq!(udp.src_port(), 53000);
    assert_eq!(udp.dst_port(), 53);
    assert_eq!(udp.len(), 37);
    assert_eq!(udp.checksum(), 0x9ef1);
    assert_eq!(udp.payload(), &UDP_DNS_PACKET[DNS_PAYLOAD_AT..]);
    assert!(udp.verify_checksum(src, dst));
    assert!(!udp.verify_checksum(dst, dst));
}

#[test]
fn parse_icmp_frag_needed() {
    let p = icmp::Packet::new_checked(&ICMP_FRAG_NEEDED[..]).unwrap();
    assert_eq!(p.msg_type(), icmp::Message::DstUnreachable);
    assert!(p.msg_type().is_error());
    assert_eq!(
        icmp::DstUnreachable::from(p.code()),
        icmp::DstUnreachable::FragRequired
    );
    assert!(p.verify_checksum());
    let q = icmp::Quoted::parse(&ICMP_FRAG_NEEDED).unwrap();
    assert_eq!(q.src, u32::from(CLIENT));
    assert_eq!(q.dst, u32::from(SERVER));
    assert_eq!(q.proto, IpProtocol::Tcp);
    assert_eq!((q.header_len, q.sport, q.dport), (20, 51234, 443));
    // One byte short of the 8 the quote must hold after the IPv4 header.
    assert_eq!(icmp::Quoted::parse(&ICMP_FRAG_NEEDED[..35]), None);
}

#[test]
fn parse_icmp_echo() {
    let p = icmp::Packet::new_checked(&ICMP_ECHO[..]).unwrap();
    assert_eq!(p.msg_type(), icmp::Message::EchoRequest);
    assert_eq!(p.code(), 0);
    assert_eq!(p.checksum(), 0x3908);
    assert_eq!(p.echo_ident(), 0x1234);
    assert_eq!(p.echo_seq_no(), 7);
    assert_eq!(p.payload(), b"natrix-ping-0123");
    assert!(p.verify_checksum());
}

fn check_arp_request(p: &arp::Packet<&[u8]>) {
    assert_eq!(p.hardware_type(), 1);
    assert_eq!(p.protocol_type(), 0x0800);
    assert_eq!(p.hardware_len(), 6);
    assert_eq!(p.protocol_len(), 4);
    assert_eq!(p.operation(), arp::Operation::Request);
    assert_eq!(p.sender_hardware_addr(), MAC_HOST);
    assert_eq!(p.sender_protocol_addr(), CLIENT);
    assert_eq!(p.target_hardware_addr(), MacAddr::ZERO);
    assert_eq!(p.target_protocol_addr(), Ipv4Addr::new(192, 168, 1, 1));
}

#[test]
fn parse_arp_request_frame() {
    let frame = ethernet::Frame::new_checked(&ARP_REQUEST_FRAME[..]).unwrap();
    assert_eq!(frame.dst_addr(), MacAddr::BROADCAST);
    assert_eq!(frame.src_addr(), MAC_HOST);
    assert_eq!(frame.ethertype(), ethernet::EtherType::Arp);
    let (at, et) = frame.l3_offset().unwrap();
    assert_eq!((at, et), (14, ethernet::EtherType::Arp));
    check_arp_request(&arp::Packet::new_checked(&ARP_REQUEST_FRAME[at..]).unwrap());
}

#[test]
fn parse_arp_request_vlan_frame() {
    let frame = ethernet::Frame::new_checked(&ARP_REQUEST_VLAN_FRAME[..]).unwrap();
    assert_eq!(frame.ethertype(), ethernet::EtherType::Vlan);
    let (at, et) = frame.l3_offset().unwrap();
    assert_eq!((at, et), (18, ethernet::EtherType::Arp));
    check_arp_request(&arp::Packet::new_checked(&ARP_REQUEST_VLAN_FRAME[at..]).unwrap());
}

// ----------------------------------------------------------------------------
// Golden emit: the same bytes from a zeroed buffer

#[test]
fn emit_tcp_syn_frame() {
    let mut buf = [0u8; 74];
    let mut frame = ethernet::Frame::new_unchecked(&mut buf[..]);
    frame.set_dst_addr(MAC_GW);
    frame.set_src_addr(MAC_HOST);
    frame.set_ethertype(ethernet::EtherType::Ipv4);

    let mut ip = ipv4::Packet::new_unchecked(frame.payload_mut());
    ip.set_version(4);
    ip.set_header_len(20);
    ip.set_dscp_ecn(0);
    ip.set_total_len(60);
    ip.set_ident(0x1c46);
    ip.set_flags_and_frag(true, false, 0);
    ip.set_ttl(64);
    ip.set_protocol(IpProtocol::Tcp);
    ip.set_src_addr(CLIENT);
    ip.set_dst_addr(SERVER);
    ip.fill_checksum();

    let mut tcp = tcp::Packet::new_unchecked(ip.payload_mut());
    tcp.set_src_port(51234);
    tcp.set_dst_port(443);
    tcp.set_seq_number(0x7a1c_3f05);
    tcp.set_ack_number(0);
    tcp.set_header_len(40);
    tcp.set_flags(tcp::FLAG_SYN);
    tcp.set_window_len(64240);
    tcp.set_urgent_at(0);
    tcp.options_mut().copy_from_slice(&TCP_SYN_FRAME[54..74]);
    tcp.fill_checksum(CLIENT, SERVER);

    assert_eq!(buf, TCP_SYN_FRAME);
}

#[test]
fn emit_udp_dns_packet() {
    let mut buf = [0u8; 57];
    let mut ip = ipv4::Packet::new_unchecked(&mut buf[..]);
    ip.set_version(4);
    ip.set_header_len(20);
    ip.set_total_len(57);
    ip.set_ident(0xbeef);
    ip.set_flags_and_frag(false, false, 0);
    ip.set_ttl(63);
    ip.set_protocol(IpProtocol::Udp);
    ip.set_src_addr_raw(0x0a01_0203);
    ip.set_dst_addr(Ipv4Addr::new(10, 53, 0, 1));
    ip.fill_checksum();

    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let mut udp = udp::Packet::new_unchecked(ip.payload_mut());
    udp.set_src_port(53000);
    udp.set_dst_port(53);
    udp.set_len(37);
    udp.payload_mut()
        .copy_from_slice(&UDP_DNS_PACKET[DNS_PAYLOAD_AT..]);
    udp.fill_checksum(src, dst);

    assert_eq!(buf, UDP_DNS_PACKET);
}

#[test]
fn emit_icmp_echo() {
    let mut buf = [0u8; 24];
    let mut p = icmp::Packet::new_unchecked(&mut buf[..]);
    p.set_msg_type(icmp::Message::EchoRequest);
    p.set_code(0);
    p.set_echo_ident(0x1234);
    p.set_echo_seq_no(7);
    p.payload_mut().copy_from_slice(b"natrix-ping-0123");
    p.fill_checksum();
    assert_eq!(buf, ICMP_ECHO);
}

#[test]
fn emit_arp_request_frame() {
    let mut buf = [0u8; 42];
    let mut frame = ethernet::Frame::new_unchecked(&mut buf[..]);
    frame.set_dst_addr(MacAddr::BROADCAST);
    frame.set_src_addr(MAC_HOST);
    frame.set_ethertype(ethernet::EtherType::Arp);
    let mut p = arp::Packet::new_unchecked(frame.payload_mut());
    p.set_hardware_type(1);
    p.set_protocol_type(0x0800);
    p.set_hardware_len(6);
    p.set_protocol_len(4);
    p.set_operation(arp::Operation::Request);
    p.set_sender_hardware_addr(MAC_HOST);
    p.set_sender_protocol_addr(CLIENT);
    p.set_target_hardware_addr(MacAddr::ZERO);
    p.set_target_protocol_addr(Ipv4Addr::new(192, 168, 1, 1));
    assert_eq!(buf, ARP_REQUEST_FRAME);
}

// ----------------------------------------------------------------------------
// Incremental update on a golden packet: the NAT rewrite of the data path

#[test]
fn dnat_rewrite_with_precomputed_deltas() {
    let backend = Ipv4Addr::new(10, 0, 7, 21);
    let backend_port = 8443u16;
    let mut buf = TCP_SYN_FRAME;
    let ip_delta = checksum::delta32(u32::from(SERVER), u32::from(backend));
    let l4_delta = checksum::combine(ip_delta, checksum::delta16(443, backend_port));

    let mut ip = ipv4::Packet::new_checked(&mut buf[14..]).unwrap();
    ip.set_dst_addr(backend);
    let c = checksum::apply(ip.checksum(), ip_delta);
    ip.set_checksum(c);
    let mut tcp = tcp::Packet::new_checked(ip.payload_mut()).unwrap();
    tcp.set_dst_port(backend_port);
    let c = checksum::apply(tcp.checksum(), l4_delta);
    tcp.set_checksum(c);

    // Compare with a full recomputation.
    let mut full = buf;
    let mut ip = ipv4::Packet::new_unchecked(&mut full[14..]);
    ip.fill_checksum();
    tcp::Packet::new_unchecked(ip.payload_mut()).fill_checksum(CLIENT, backend);
    assert_eq!(buf, full);
    let ip = ipv4::Packet::new_checked(&buf[14..]).unwrap();
    assert!(ip.verify_checksum());
    assert!(tcp::Packet::new_checked(ip.payload())
        .unwrap()
        .verify_checksum(CLIENT, backend));
}

// ----------------------------------------------------------------------------
// Negative cases on golden packets

#[test]
fn negative_cases() {
    // Truncated at every layer.
    assert_eq!(
        ethernet::Frame::new_checked(&TCP_SYN_FRAME[..13]).err(),
        Some(Error::Truncated)
    );
    assert_eq!(
        ipv4::Packet::new_checked(&TCP_SYN_FRAME[14..33]).err(),
        Some(Error::Truncated)
    );
    assert_eq!(
        tcp::Packet::new_checked(&TCP_SYN_FRAME[34..53]).err(),
        Some(Error::Truncated)
    );
    assert_eq!(
        udp::Packet::new_checked(&UDP_DNS_PACKET[20..27]).err(),
        Some(Error::Truncated)
    );
    assert_eq!(
        icmp::Packet::new_checked(&ICMP_ECHO[..7]).err(),
        Some(Error::Truncated)
    );
    assert_eq!(
        arp::Packet::new_checked(&ARP_REQUEST_FRAME[14..41]).err(),
        Some(Error::Truncated)
    );

    // IPv4 cut short of its total length (the packet lost its tail).
    assert_eq!(
        ipv4::Packet::new_checked(&TCP_SYN_FRAME[14..73]).err(),
        Some(Error::BadTotalLen)
    );
    // IPv6 in an IPv4 EtherType.
    let mut ip = UDP_DNS_PACKET;
    ip[0] = 0x65;
    assert_eq!(
        ipv4::Packet::new_checked(&ip[..]).err(),
        Some(Error::BadVersion)
    );
    // IHL 15 (a 60-byte header) does not fit this 57-byte packet.
    let mut ip = UDP_DNS_PACKET;
    ip[0] = 0x4f;
    assert_eq!(
        ipv4::Packet::new_checked(&ip[..]).err(),
        Some(Error::BadHeaderLen)
    );
    // Total length 22 below a 24-byte header (IHL 6).
    let mut ip = UDP_DNS_PACKET;
    ip[0] = 0x46;
    ip[2..4].copy_from_slice(&22u16.to_be_bytes());
    assert_eq!(
        ipv4::Packet::new_checked(&ip[..]).err(),
        Some(Error::BadTotalLen)
    );
    // TCP options cut off by the segment end.
    assert_eq!(
        tcp::Packet::new_checked(&TCP_SYN_FRAME[34..60]).err(),
        Some(Error::BadDataOffset)
    );
    // UDP length past the received datagram.
    assert_eq!(
        udp::Packet::new_checked(&UDP_DNS_PACKET[20..56]).err(),
        Some(Error::BadLength)
    );
    // ARP over a hardware type other than Ethernet.
    let mut a = ARP_REQUEST_FRAME;
    a[15] = 6;
    assert_eq!(
        arp::Packet::new_checked(&a[14..]).err(),
        Some(Error::Unsupported)
    );
    // VLAN tag cut off.
    let f = ethernet::Frame::new_checked(&ARP_REQUEST_VLAN_FRAME[..16]).unwrap();
    assert_eq!(f.l3_offset(), Err(Error::Truncated));
    // Three tags.
    let mut three = Vec::from(&ARP_REQUEST_VLAN_FRAME[..12]);
    three.extend_from_slice(&[0x88, 0xa8, 0x00, 0x01, 0x81, 0x00, 0x00, 0x02]);
    three.extend_from_slice(&ARP_REQUEST_VLAN_FRAME[12..]);
    let f = ethernet::Frame::new_checked(&three[..]).unwrap();
    assert_eq!(f.l3_offset(), Err(Error::Unsupported));
}

#[test]
fn padded_ethernet_frame() {
    // A 60-byte minimum frame: IPv4 total length 20+8 with 18 bytes of padding.
    let mut frame = [0u8; 60];
    frame[12..14].copy_from_slice(&[0x08, 0x00]);
    let mut ip = ipv4::Packet::new_unchecked(&mut frame[14..]);
    ip.set_version(4);
    ip.set_header_len(20);
    ip.set_total_len(28);
    ip.set_ttl(1);
    ip.set_protocol(IpProtocol::Udp);
    ip.fill_checksum();
    let mut u = udp::Packet::new_unchecked(ip.payload_mut());
    u.set_len(8);
    u.fill_checksum(Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED);
    let ip = ipv4::Packet::new_checked(&frame[14..]).unwrap();
    assert_eq!(ip.payload().len(), 8);
    let u = udp::Packet::new_checked(ip.payload()).unwrap();
    assert!(u.verify_checksum(Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED));
}

// ----------------------------------------------------------------------------
// Cross-check with etherparse

/// Parses an Ethernet/IPv4 frame with our views; returns the IPv4 offset.
fn ipv4_offset(frame: &[u8]) -> usize {
    let f = ethernet::Frame::new_checked(frame).unwrap();
    let (at, et) = f.l3_offset().unwrap();
    assert_eq!(et, ethernet::EtherType::Ipv4);
    at
}

#[test]
fn etherparse_tcp_ipv4() {
    let payload = b"GET / HTTP/1.1\r\nHost: example\r\n\r\n";
    let builder = etherparse::PacketBuilder::ethernet2(MAC_HOST.0, MAC_GW.0)
        .ipv4(CLIENT.octets(), SERVER.octets(), 61)
        .tcp(40000, 80, 0x0102_0304, 29200)
        .ack(0x0a0b_0c0d)
        .psh();
    let mut frame = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut frame, payload).unwrap();

    let at = ipv4_offset(&frame);
    assert_eq!(at, 14);
    let ip = ipv4::Packet::new_checked(&frame[at..]).unwrap();
    assert_eq!(ip.src_addr(), CLIENT);
    assert_eq!(ip.dst_addr(), SERVER);
    assert_eq!(ip.ttl(), 61);
    assert_eq!(ip.protocol(), IpProtocol::Tcp);
    assert_eq!(ip.total_len() as usize, frame.len() - 14);
    assert!(ip.verify_checksum());

    let t = tcp::Packet::new_checked(ip.payload()).unwrap();
    assert_eq!(t.src_port(), 40000);
    assert_eq!(t.dst_port(), 80);
    assert_eq!(t.seq_number(), 0x0102_0304);
    assert_eq!(t.ack_number(), 0x0a0b_0c0d);
    assert_eq!(t.window_len(), 29200);
    assert!(t.ack() && t.psh() && !t.syn());
    assert_eq!(t.payload(), payload);
    assert!(t.verify_checksum(CLIENT, SERVER));

    // Our fill produces etherparse's checksums.
    let (ip_ck, tcp_ck) = (ip.checksum(), t.checksum());
    let mut ours = frame.clone();
    let mut ip = ipv4::Packet::new_checked(&mut ours[at..]).unwrap();
    ip.set_checksum(0xdead);
    ip.fill_checksum();
    assert_eq!(ip.checksum(), ip_ck);
    let mut t = tcp::Packet::new_checked(ip.payload_mut()).unwrap();
    t.set_checksum(0xbeef);
    t.fill_checksum(CLIENT, SERVER);
    assert_eq!(t.checksum(), tcp_ck);
    assert_eq!(ours, frame);
}

#[test]
fn etherparse_udp_ipv4_double_vlan() {
    use etherparse::VlanId;
    let payload = [0x5au8; 99]; // odd length
    let builder = etherparse::PacketBuilder::ethernet2(MAC_HOST.0, MAC_GW.0)
        .double_vlan(VlanId::try_new(10).unwrap(), VlanId::try_new(20).unwrap())
        .ipv4([10, 9, 8, 7], [172, 16, 0, 1], 32)
        .udp(5353, 4789);
    let mut frame = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut frame, &payload).unwrap();

    let f = ethernet::Frame::new_checked(&frame[..]).unwrap();
    assert!(f.ethertype().is_vlan_tag());
    let at = ipv4_offset(&frame);
    assert_eq!(at, 22);
    let (src, dst) = (Ipv4Addr::new(10, 9, 8, 7), Ipv4Addr::new(172, 16, 0, 1));
    let ip = ipv4::Packet::new_checked(&frame[at..]).unwrap();
    assert_eq!((ip.src_addr(), ip.dst_addr()), (src, dst));
    assert_eq!(ip.protocol(), IpProtocol::Udp);
    assert!(ip.verify_checksum());

    let u = udp::Packet::new_checked(ip.payload()).unwrap();
    assert_eq!(u.src_port(), 5353);
    assert_eq!(u.dst_port(), 4789);
    assert_eq!(u.len() as usize, 8 + payload.len());
    assert_eq!(u.payload(), &payload[..]);
    assert!(u.verify_checksum(src, dst));

    let (ip_ck, udp_ck) = (ip.checksum(), u.checksum());
    let mut ours = frame.clone();
    let mut ip = ipv4::Packet::new_checked(&mut ours[at..]).unwrap();
    ip.fill_checksum();
    assert_eq!(ip.checksum(), ip_ck);
    let mut u = udp::Packet::new_checked(ip.payload_mut()).unwrap();
    u.fill_checksum(src, dst);
    assert_eq!(u.checksum(), udp_ck);
    assert_eq!(ours, frame);
}

#[test]
fn etherparse_reads_our_goldens() {
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};
    let p = SlicedPacket::from_ethernet(&TCP_SYN_FRAME).unwrap();
    let Some(NetSlice::Ipv4(ip)) = p.net else {
        panic!("not IPv4")
    };
    assert_eq!(ip.header().source_addr(), CLIENT);
    assert_eq!(ip.header().destination_addr(), SERVER);
    assert_eq!(ip.header().header_checksum(), 0x20bc);
    let Some(TransportSlice::Tcp(t)) = p.transport else {
        panic!("not TCP")
    };
    assert_eq!(
        t.calc_checksum_ipv4(CLIENT.octets(), SERVER.octets()),
        Ok(0x7d98)
    );
    assert_eq!(t.options(), &TCP_SYN_FRAME[54..74]);

    let p = SlicedPacket::from_ip(&UDP_DNS_PACKET).unwrap();
    let Some(TransportSlice::Udp(u)) = p.transport else {
        panic!("not UDP")
    };
    assert_eq!(u.length(), 37);
    assert_eq!(u.checksum(), 0x9ef1);
}

// ----------------------------------------------------------------------------
// Fuzz: checked constructors never panic, nor do accessors afterwards

/// Reads every getter of every view that accepts `data`.
fn read_everything(data: &[u8]) {
    let a = Ipv4Addr::new(1, 2, 3, 4);
    if let Ok(f) = ethernet::Frame::new_checked(data) {
        let _ = (f.dst_addr(), f.src_addr(), f.ethertype(), f.payload().len());
        if let Ok((at, _)) = f.l3_offset() {
            assert!(at <= data.len());
            read_everything_l3(&data[at..]);
        }
    }
    read_everything_l3(data);
    if let Ok(t) = tcp::Packet::new_checked(data) {
        let _ = (t.src_port(), t.dst_port(), t.seq_number(), t.ack_number());
        let _ = (
            t.header_len(),
            t.flags(),
            t.syn(),
            t.ack(),
            t.fin(),
            t.rst(),
        );
        let _ = (t.psh(), t.window_len(), t.checksum(), t.urgent_at());
        let _ = (
            t.options().len(),
            t.payload().len(),
            t.verify_checksum(a, a),
        );
    }
    if let Ok(u) = udp::Packet::new_checked(data) {
        let _ = (u.src_port(), u.dst_port(), u.len(), u.checksum());
        let _ = (u.payload().len(), u.verify_checksum(a, a));
    }
    if let Ok(i) = icmp::Packet::new_checked(data) {
        let _ = (i.msg_type(), i.code(), i.checksum(), i.echo_ident());
        let _ = (i.echo_seq_no(), i.payload().len(), i.verify_checksum());
    }
    let _ = icmp::Quoted::parse(data);
}

fn read_everything_l3(data: &[u8]) {
    if let Ok(p) = arp::Packet::new_checked(data) {
        let _ = (p.hardware_type(), p.protocol_type(), p.hardware_len());
        let _ = (p.protocol_len(), p.operation(), p.sender_hardware_addr());
        let _ = (p.sender_protocol_addr(), p.target_hardware_addr());
        let _ = p.target_protocol_addr();
    }
    if let Ok(ip) = ipv4::Packet::new_checked(data) {
        let _ = (ip.version(), ip.header_len(), ip.dscp_ecn(), ip.total_len());
        let _ = (
            ip.ident(),
            ip.dont_frag(),
            ip.more_frags(),
            ip.frag_offset(),
        );
        let _ = (ip.is_fragment(), ip.ttl(), ip.protocol(), ip.checksum());
        let _ = (
            ip.src_addr(),
            ip.dst_addr(),
            ip.src_addr_raw(),
            ip.dst_addr_raw(),
        );
        let _ = (ip.header().len(), ip.options().len(), ip.verify_checksum());
        read_everything(ip.payload());
    }
}

/// A golden packet with a few bytes overwritten and possibly truncated, so that
/// most inputs get past the first checks.
fn mutated_golden() -> impl Strategy<Value = Vec<u8>> {
    let goldens: [&'static [u8]; 7] = [
        &TCP_SYN_FRAME,
        &TCP_SYN_FRAME[14..],
        &UDP_DNS_PACKET,
        &ICMP_ECHO,
        &ICMP_FRAG_NEEDED,
        &ARP_REQUEST_FRAME,
        &ARP_REQUEST_VLAN_FRAME,
    ];
    (
        prop::sample::select(goldens.to_vec()),
        proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(g, edits, cut)| {
            let mut v = g.to_vec();
            for (i, b) in edits {
                let at = i.index(v.len());
                v[at] = b;
            }
            v.truncate(cut.index(v.len() + 1));
            v
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..128)) {
        read_everything(&data);
    }

    #[test]
    fn mutated_goldens_never_panic(data in mutated_golden()) {
        read_everything(&data);
    }
}
