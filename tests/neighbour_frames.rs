//! The ARP and Neighbor Discovery frames natrix sends to resolve its next
//! hops and to announce its addresses, against frames built independently
//! (etherparse for Ethernet, IPv6 and the ICMPv6 checksum; ARP, which
//! etherparse does not build, from RFC 826's field table by hand).

use etherparse::{EtherType, Ethernet2Header, Icmpv6Type, PacketBuilder};
use natrix::wire::{arp, icmpv6, MacAddr};
use std::net::{Ipv4Addr, Ipv6Addr};

const OURS: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
const THEIRS: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x0b]);

/// An Ethernet frame with an ARP packet, field by field (RFC 826).
fn arp_frame(
    dst: [u8; 6],
    op: u16,
    (sha, spa): ([u8; 6], Ipv4Addr),
    (tha, tpa): ([u8; 6], Ipv4Addr),
) -> Vec<u8> {
    let mut f = Ethernet2Header {
        destination: dst,
        source: sha,
        ether_type: EtherType::ARP,
    }
    .to_bytes()
    .to_vec();
    f.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4]);
    f.extend_from_slice(&op.to_be_bytes());
    f.extend_from_slice(&sha);
    f.extend_from_slice(&spa.octets());
    f.extend_from_slice(&tha);
    f.extend_from_slice(&tpa.octets());
    f
}

#[test]
fn arp_request_broadcast_and_unicast_refresh() {
    let (me, them) = (Ipv4Addr::new(10, 1, 0, 1), Ipv4Addr::new(10, 1, 0, 11));
    let mut buf = [0u8; 64];
    let n = arp::emit_request(&mut buf, OURS, me, them, None).unwrap();
    assert_eq!(n, 42);
    assert_eq!(
        buf[..n],
        arp_frame([0xff; 6], 1, (OURS.0, me), ([0; 6], them))[..]
    );
    let n = arp::emit_request(&mut buf, OURS, me, them, Some(THEIRS)).unwrap();
    assert_eq!(
        buf[..n],
        arp_frame(THEIRS.0, 1, (OURS.0, me), ([0; 6], them))[..]
    );
    assert!(arp::emit_request(&mut buf[..41], OURS, me, them, None).is_err());
}

#[test]
fn gratuitous_arp_names_the_address_twice() {
    let vip = Ipv4Addr::new(198, 51, 100, 10);
    let mut buf = [0u8; 64];
    let n = arp::emit_gratuitous(&mut buf, OURS, vip).unwrap();
    assert_eq!(
        buf[..n],
        arp_frame([0xff; 6], 1, (OURS.0, vip), ([0; 6], vip))[..]
    );
}

/// An Ethernet frame with a Neighbor Solicitation (135) or Advertisement
/// (136) and one link-layer address option (`option` 1 or 2).
fn nd_frame(
    (src_mac, dst_mac): ([u8; 6], [u8; 6]),
    (src, dst): (Ipv6Addr, Ipv6Addr),
    type_u8: u8,
    flags: u8,
    target: Ipv6Addr,
    option: u8,
) -> Vec<u8> {
    let mut body = target.octets().to_vec();
    body.extend_from_slice(&[option, 1]);
    body.extend_from_slice(&src_mac);
    let mut f = Vec::new();
    PacketBuilder::ethernet2(src_mac, dst_mac)
        .ipv6(src.octets(), dst.octets(), 255)
        .icmpv6(Icmpv6Type::Unknown {
            type_u8,
            code_u8: 0,
            bytes5to8: [flags, 0, 0, 0],
        })
        .write(&mut f, &body)
        .unwrap();
    f
}

#[test]
fn neighbor_solicitation_multicast_and_unicast_refresh() {
    let me: Ipv6Addr = "2001:db8:2::1".parse().unwrap();
    let them: Ipv6Addr = "2001:db8:2::ab:cd11".parse().unwrap();
    let group: Ipv6Addr = "ff02::1:ffab:cd11".parse().unwrap();
    let mut buf = [0u8; 128];
    let n = icmpv6::emit_solicitation(&mut buf, OURS, me, them, None).unwrap();
    assert_eq!(n, icmpv6::ND_FRAME_LEN);
    let want = nd_frame(
        (OURS.0, [0x33, 0x33, 0xff, 0xab, 0xcd, 0x11]),
        (me, group),
        135,
        0,
        them,
        1,
    );
    assert_eq!(buf[..n], want[..]);
    let n = icmpv6::emit_solicitation(&mut buf, OURS, me, them, Some(THEIRS)).unwrap();
    assert_eq!(
        buf[..n],
        nd_frame((OURS.0, THEIRS.0), (me, them), 135, 0, them, 1)[..]
    );
}

#[test]
fn unsolicited_advertisement_overrides_to_all_nodes() {
    let vip: Ipv6Addr = "2001:db8:1::10".parse().unwrap();
    let all: Ipv6Addr = "ff02::1".parse().unwrap();
    let mut buf = [0u8; 128];
    let n = icmpv6::emit_unsolicited_advertisement(&mut buf, OURS, vip).unwrap();
    // Override set, Solicited and Router clear (RFC 4861 section 7.2.6).
    let want = nd_frame(
        (OURS.0, [0x33, 0x33, 0, 0, 0, 1]),
        (vip, all),
        136,
        0x20,
        vip,
        2,
    );
    assert_eq!(buf[..n], want[..]);
}
