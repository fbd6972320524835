//! The IPv6 half of the data path: classification of IPv6 packets, their
//! rewrites, Neighbor Discovery and echo for natrix's own addresses, and
//! ICMPv6 errors that follow their connection.
//!
//! The connection path itself (flow lookup, backend choice, TCP state) is
//! the one of IPv4, run over the IPv6 flow table through the data path's `Family` trait.
//! IPv6 differs where the wire does: no header checksum, a hop limit for a
//! TTL, a header chain walked with a fixed limit ([`ipv6::Packet::chain`]),
//! a UDP checksum that may not be 0 (RFC 8200 section 8.1), and Neighbor
//! Discovery in place of ARP.

use super::{
    bump, patch_l4, Dataplane, ErrorTo, Offsets, Pending, PortSide, QuotedTuple, Stage, Verdict, V6,
};
use crate::dataplane::counters::{Counters, DropReason, Event};
use crate::dataplane::flow::Key6;
use crate::dataplane::fragment;
use crate::dataplane::neighbour;
use crate::dataplane::snapshot::{BackendEntry, Service, ServiceKind, Snapshot};
use crate::wire::ipv6::{self, ChainError};
use crate::wire::{checksum, ethernet, icmpv6, tcp, udp, IpProtocol, MacAddr};
use std::net::{IpAddr, Ipv6Addr};

/// Where the source address lies in an IPv6 header.
const SRC: usize = 8;
/// Where the destination address lies in an IPv6 header.
const DST: usize = 24;

/// Reads the 128-bit address at `at` of `data`.
#[inline(always)]
pub(super) fn addr_at(data: &[u8], at: usize) -> u128 {
    let mut a = [0u8; 16];
    a.copy_from_slice(&data[at..at + 16]);
    u128::from_be_bytes(a)
}

/// Writes the 128-bit address `addr` at `at` of `data`.
#[inline(always)]
pub(super) fn set_addr_at(data: &mut [u8], at: usize, addr: u128) {
    data[at..at + 16].copy_from_slice(&addr.to_be_bytes());
}

/// The 32 bits of an IPv6 client address that choose its owner worker
/// (`handoff::owner`): every word of it, folded.
#[inline(always)]
pub fn owner_input(client: u128) -> u32 {
    let x = (client as u64) ^ ((client >> 64) as u64);
    (x as u32) ^ ((x >> 32) as u32)
}

/// Sources no client can have: unspecified, loopback and multicast (RFC
/// 4291), and IPv4-mapped addresses, which never appear on the wire. A
/// link-local source is kept: Neighbor Discovery comes from one.
#[inline(always)]
fn is_martian6(addr: u128) -> bool {
    addr <= 1 || (addr >> 120) == 0xff || (addr >> 32) == 0xffff
}

/// A destination no translated IPv6 packet may have: a martian, or a
/// link-local address.
#[inline(always)]
pub(super) fn is_martian_destination(addr: u128) -> bool {
    is_martian6(addr) || is_link_local6(addr)
}

/// Link-local (fe80::/10): such an address cannot be translated to another
/// link.
#[inline(always)]
fn is_link_local6(addr: u128) -> bool {
    (addr >> 118) == 0xfe80 >> 6
}

/// The drop reason of a header chain natrix does not walk.
fn chain_drop(e: ChainError) -> DropReason {
    match e {
        ChainError::UnsupportedHeader
        | ChainError::RoutingSegmentsLeft
        | ChainError::NoNextHeader => DropReason::Ipv6ExtHeader,
        ChainError::Truncated
        | ChainError::TooManyHeaders
        | ChainError::TooLong
        | ChainError::HopByHopNotFirst
        | ChainError::NestedFragment
        | ChainError::IncompleteFirstFragment
        | ChainError::BadFragmentLen => DropReason::MalformedIpv6Ext,
    }
}

impl Dataplane {
    /// First pass of an IPv6 packet at `l3`, sent to natrix's MAC or to a
    /// multicast one (Neighbor Discovery). Out of line: the IPv4 path's
    /// classification stays as small as it was.
    #[inline(never)]
    pub(super) fn classify6(
        &mut self,
        data: &mut [u8],
        l3: usize,
        multicast: bool,
        p: &mut Pending,
    ) -> Verdict {
        use DropReason::*;
        let Ok(ip) = ipv6::Packet::new_checked(&data[l3..]) else {
            return Verdict::Drop(MalformedIp);
        };
        let src = ip.src_addr_raw();
        let dst = ip.dst_addr_raw();
        if is_martian6(src) {
            return Verdict::Drop(MartianSource);
        }
        let chain = match ip.chain() {
            Ok(c) => c,
            Err(e) => return Verdict::Drop(chain_drop(e)),
        };
        let at = Offsets::new(l3, l3 + chain.l4_offset, l3 + ip.total_len());
        let hops = ip.hop_limit();
        let mut frag = fragment::NONE;
        if chain.is_fragment() {
            // Neighbor Discovery is never fragmented (RFC 6980).
            if multicast {
                return Verdict::Drop(NotOurMac);
            }
            match self.fragment_v6(data, l3, &chain) {
                fragment::Step::First(slot) => frag = slot,
                fragment::Step::Done(v) => return v,
            }
            p.frag = frag;
        }
        let snap = &*self.snap;
        let proto = chain.protocol;
        let l4 = &data[at.l4()..at.end()];
        let (sport, dport, flags) = match proto {
            IpProtocol::Tcp => match tcp::Packet::new_checked(l4) {
                Ok(t) => (t.src_port(), t.dst_port(), t.flags()),
                Err(_) => return Verdict::Drop(MalformedTcp),
            },
            IpProtocol::Udp => match udp::Packet::new_checked(l4) {
                // RFC 8200 section 8.1: a zero UDP checksum is not allowed
                // over IPv6 (and natrix's patch could not keep it).
                Ok(u) if u.checksum() == 0 => return Verdict::Drop(UdpZeroChecksum),
                Ok(u) => (u.src_port(), u.dst_port(), 0),
                // A first fragment: its length covers the whole datagram
                // (the chain's walk checked that the header is here).
                Err(_) if frag != fragment::NONE => {
                    let u = udp::Packet::new_unchecked(l4);
                    if u.checksum() == 0 {
                        return Verdict::Drop(UdpZeroChecksum);
                    }
                    (u.src_port(), u.dst_port(), 0)
                }
                Err(_) => return Verdict::Drop(MalformedUdp),
            },
            IpProtocol::Icmpv6 => {
                p.at = at;
                p.stage = Stage::Icmp6;
                return Verdict::Drop(MalformedIcmp);
            }
            _ => return Verdict::Drop(UnsupportedProtocol),
        };
        // Only Neighbor Discovery is taken on a multicast MAC.
        if multicast {
            return Verdict::Drop(NotOurMac);
        }
        if let Some(s) = snap.frontend6(dst, dport, proto) {
            if hops <= 1 {
                return Verdict::Drop(TtlExpired);
            }
            if is_link_local6(src) {
                return Verdict::Drop(MartianSource);
            }
            let svc = &snap.services[s as usize];
            if svc.kind == ServiceKind::Nat {
                if snap.is_local6(src) {
                    return Verdict::Drop(OwnSource);
                }
                let id = svc.members[0];
                let be = &snap.backends[id as usize];
                rewrite_inbound6(data, at, proto, be, snap.mac);
                self.counters.event(Event::NatRule);
                bump(&mut self.counters.backend_packets, id);
                return Verdict::ToPrivate;
            }
            if frag != fragment::NONE && svc.siit {
                return Verdict::Drop(SiitFragment);
            }
            if let Some(v) = self.elsewhere(owner_input(src)) {
                return v;
            }
            let key = Key6::new(src, sport, s);
            let hash = self.flows6.hash(key);
            self.flows6.prefetch(hash);
            *p = Pending {
                key: 0,
                hash,
                at,
                service: s,
                proto,
                tcp_flags: flags,
                stage: if svc.siit {
                    Stage::Siit
                } else {
                    Stage::Connect6
                },
                frag,
            };
            return Verdict::ToPrivate;
        }
        if let Some(id) = snap.return_backend6(src, sport, proto) {
            if self.from_public_arm {
                return Verdict::Drop(BackendOnPublic);
            }
            if is_martian6(dst) || is_link_local6(dst) {
                return Verdict::Drop(MartianDestination);
            }
            if hops <= 1 {
                return Verdict::Drop(TtlExpired);
            }
            let be = &snap.backends[id as usize];
            let svc = &snap.services[be.service as usize];
            if svc.kind == ServiceKind::Nat {
                rewrite_return6(data, at, proto, be, svc, snap);
                self.counters.event(Event::NatRule);
                bump(&mut self.counters.backend_packets, id);
                return Verdict::ToPublic;
            }
            if let Some(v) = self.elsewhere(owner_input(dst)) {
                return v;
            }
            let key = Key6::new(dst, dport, be.service);
            let hash = self.flows6.hash(key);
            self.flows6.prefetch(hash);
            *p = Pending {
                key: 0,
                hash,
                at,
                service: id,
                proto,
                tcp_flags: flags,
                stage: Stage::Return6,
                frag,
            };
            return Verdict::ToPublic;
        }
        Verdict::Drop(NoService)
    }

    /// An ICMPv6 message (second pass), its IPv6 header checked by the
    /// first: Neighbor Solicitations and echo requests for natrix's
    /// addresses are answered; errors about a TCP or UDP packet of a
    /// frontend or a backend follow their connection; the rest is dropped.
    #[inline(never)]
    pub(super) fn icmp6(&mut self, data: &mut [u8], at: Offsets) -> Verdict {
        let (hops, src, dst) = {
            let ip = ipv6::Packet::new_unchecked(&data[at.l3()..at.end()]);
            (ip.hop_limit(), ip.src_addr_raw(), ip.dst_addr_raw())
        };
        let (msg_type, code) = {
            let message = &data[at.l4()..at.end()];
            match icmpv6::Packet::new_checked(message) {
                Ok(m) if m.verify_checksum(Ipv6Addr::from(src), Ipv6Addr::from(dst)) => {
                    (m.msg_type(), m.code())
                }
                _ => return Verdict::Drop(DropReason::MalformedIcmp),
            }
        };
        if self.neighbours.is_some()
            && matches!(
                msg_type,
                icmpv6::Message::NeighborSolicit | icmpv6::Message::NeighborAdvert
            )
        {
            self.see_nd(data, at, hops, code, src, msg_type);
        }
        match msg_type {
            icmpv6::Message::NeighborSolicit => {
                return answer_ns(&self.snap, &mut self.counters, data, at, hops, code, src)
            }
            icmpv6::Message::EchoRequest => {
                return answer_echo6(&self.snap, &mut self.counters, data, at, dst, code)
            }
            m if m.is_ndp() => return Verdict::Drop(DropReason::NdNotForUs),
            m if !m.is_error() => return Verdict::Drop(DropReason::IcmpUnsupported),
            _ => {}
        }
        if self.snap.is_local6(src) {
            return Verdict::Drop(DropReason::OwnSource);
        }
        // An error: it follows the connection of the packet it quotes.
        let Some(q) = icmpv6::Quoted::parse(&data[at.l4()..at.end()]) else {
            return Verdict::Drop(DropReason::MalformedIcmp);
        };
        let (Some((qsport, qdport)), IpProtocol::Tcp | IpProtocol::Udp) = (q.ports, q.proto) else {
            return Verdict::Drop(DropReason::IcmpUnsupported);
        };
        let quoted = QuotedTuple {
            src: q.src,
            dst: q.dst,
            sport: qsport,
            dport: qdport,
            proto: q.proto,
        };
        let (id, to, fe_addr, fe_port) = match self.error_route::<V6>(&quoted, dst) {
            Ok(r) => r,
            Err(v) => return v,
        };
        let snap = self.snap.clone();
        let snap = &*snap;
        let be = &snap.backends[id as usize];
        if hops <= 1 {
            return Verdict::Drop(DropReason::TtlExpired);
        }
        if snap.services[be.service as usize].siit {
            // To an IPv4 backend: translated to ICMPv4 (`siit`).
            return self.siit_error6(data, at, &q, id, hops);
        }
        translate_icmp6_error(data, at, &q, to, be, fe_addr, fe_port);
        let mut eth = ethernet::Frame::new_unchecked(&mut data[..]);
        eth.set_src_addr(snap.mac);
        self.counters.event(Event::IcmpErrorForwarded);
        match to {
            ErrorTo::Backend => {
                eth.set_dst_addr(be.mac);
                Verdict::ToPrivate
            }
            ErrorTo::Client => {
                eth.set_dst_addr(snap.gateway_mac6);
                Verdict::ToPublic
            }
        }
    }
}

/// Client -> frontend becomes client -> backend.
#[inline(always)]
pub(super) fn rewrite_inbound6(
    data: &mut [u8],
    at: Offsets,
    proto: IpProtocol,
    be: &BackendEntry,
    mac: MacAddr,
) {
    {
        let mut eth = ethernet::Frame::new_unchecked(&mut data[..]);
        eth.set_dst_addr(be.mac);
        eth.set_src_addr(mac);
    }
    {
        let mut ip = ipv6::Packet::new_unchecked(&mut data[at.l3()..]);
        ip.set_dst_addr_raw(be.addr6);
        let hops = ip.hop_limit();
        ip.set_hop_limit(hops - 1);
    }
    patch_l4(
        &mut data[at.l4()..],
        proto,
        PortSide::Dst,
        be.port,
        be.in_l4_delta,
    );
}

/// Backend -> client becomes frontend -> client.
#[inline(always)]
pub(super) fn rewrite_return6(
    data: &mut [u8],
    at: Offsets,
    proto: IpProtocol,
    be: &BackendEntry,
    svc: &Service,
    snap: &Snapshot,
) {
    let (fe_addr, fe_port) = (svc.addr6, svc.port);
    let (gateway_mac, mac) = (snap.gateway_mac6, snap.mac);
    {
        let mut eth = ethernet::Frame::new_unchecked(&mut data[..]);
        eth.set_dst_addr(gateway_mac);
        eth.set_src_addr(mac);
    }
    {
        let mut ip = ipv6::Packet::new_unchecked(&mut data[at.l3()..]);
        ip.set_src_addr_raw(fe_addr);
        let hops = ip.hop_limit();
        ip.set_hop_limit(hops - 1);
    }
    patch_l4(
        &mut data[at.l4()..],
        proto,
        PortSide::Src,
        fe_port,
        be.out_l4_delta,
    );
}

/// Rewrites an ICMPv6 error and the packet it quotes, in place, as
/// `translate_icmp_error` does for IPv4: toward the backend, the outer
/// destination and the quoted source (a frontend) become the backend's;
/// toward the client, the outer source (whoever sent the error) and the
/// quoted destination become the frontend's. The quoted TCP/UDP checksum
/// takes the backend's precomputed delta, which covers the pseudo-header's
/// address as well as the port; the ICMPv6 checksum, over the new
/// pseudo-header and the rewritten quote, is computed afresh.
fn translate_icmp6_error(
    data: &mut [u8],
    at: Offsets,
    q: &icmpv6::Quoted,
    to: ErrorTo,
    be: &BackendEntry,
    fe_addr: u128,
    fe_port: u16,
) {
    let l3 = at.l3();
    {
        let mut ip = ipv6::Packet::new_unchecked(&mut data[l3..]);
        let hops = ip.hop_limit();
        ip.set_hop_limit(hops - 1);
        match to {
            ErrorTo::Backend => ip.set_dst_addr_raw(be.addr6),
            ErrorTo::Client => ip.set_src_addr_raw(fe_addr),
        }
    }
    let il3 = at.l4() + icmpv6::ERROR_HEADER_LEN;
    match to {
        ErrorTo::Backend => set_addr_at(data, il3 + SRC, be.addr6),
        ErrorTo::Client => set_addr_at(data, il3 + DST, fe_addr),
    }
    let il4 = il3 + q.l4_offset;
    let quoted_l4 = &mut data[il4..at.end()];
    match to {
        ErrorTo::Backend => patch_l4(quoted_l4, q.proto, PortSide::Src, be.port, be.in_l4_delta),
        ErrorTo::Client => patch_l4(quoted_l4, q.proto, PortSide::Dst, fe_port, be.out_l4_delta),
    }
    let (src, dst) = (addr_at(data, l3 + SRC), addr_at(data, l3 + DST));
    icmpv6::Packet::new_unchecked(&mut data[at.l4()..at.end()])
        .fill_checksum(Ipv6Addr::from(src), Ipv6Addr::from(dst));
}

impl Dataplane {
    /// Tells the neighbour cache what a valid (RFC 4861 sections 7.1.1 and
    /// 7.1.2) Neighbor Solicitation or Advertisement says: a solicitation's
    /// source and its Source Link-Layer Address; an advertisement's target,
    /// its Target Link-Layer Address and its flags.
    #[inline(never)]
    fn see_nd(
        &mut self,
        data: &[u8],
        at: Offsets,
        hops: u8,
        code: u8,
        src: u128,
        msg_type: icmpv6::Message,
    ) {
        let message = &data[at.l4()..at.end()];
        if hops != icmpv6::NDP_HOP_LIMIT
            || code != icmpv6::ZERO_CODE
            || message.len() < icmpv6::NDP_HEADER_LEN
        {
            return;
        }
        let m = icmpv6::Packet::new_unchecked(message);
        let (ip, kind, seen) = match msg_type {
            icmpv6::Message::NeighborSolicit if src != 0 => (
                src,
                icmpv6::NdpOptionType::SourceLinkAddr,
                neighbour::Seen::Solicitation,
            ),
            icmpv6::Message::NeighborAdvert => (
                addr_at(message, icmpv6::NDP_HEADER_LEN - 16),
                icmpv6::NdpOptionType::TargetLinkAddr,
                neighbour::Seen::Advertisement {
                    solicited: m.na_solicited(),
                    override_: m.na_override(),
                },
            ),
            _ => return,
        };
        let Ok(Some(mac)) = m.ndp_options().link_addr(kind) else {
            return;
        };
        self.see(IpAddr::V6(Ipv6Addr::from(ip)), mac, seen);
    }
}

/// Answers a Neighbor Solicitation for a frontend or appliance address with
/// a solicited Neighbor Advertisement carrying natrix's MAC, in place (RFC
/// 4861 sections 7.1.1 and 7.2.4). The solicitation's options make room for
/// the Target Link-Layer Address option: a solicitation without any (a
/// unicast one may omit its source's) is answered without it. Duplicate
/// address detection (from ::) is not answered: it is counted.
fn answer_ns(
    snap: &Snapshot,
    counters: &mut Counters,
    data: &mut [u8],
    at: Offsets,
    hops: u8,
    code: u8,
    src: u128,
) -> Verdict {
    let message = &data[at.l4()..at.end()];
    if hops != icmpv6::NDP_HOP_LIMIT
        || code != icmpv6::ZERO_CODE
        || message.len() < icmpv6::NDP_HEADER_LEN
        || icmpv6::Packet::new_unchecked(message)
            .ndp_options()
            .check()
            .is_err()
    {
        return Verdict::Drop(DropReason::MalformedNd);
    }
    let target = addr_at(message, icmpv6::NDP_HEADER_LEN - 16);
    if !snap.is_local6(target) || src == 0 {
        return Verdict::Drop(DropReason::NdNotForUs);
    }
    let with_option = message.len() >= icmpv6::NDP_HEADER_LEN + icmpv6::LINK_ADDR_OPTION_LEN;
    let len = icmpv6::NDP_HEADER_LEN
        + if with_option {
            icmpv6::LINK_ADDR_OPTION_LEN
        } else {
            0
        };
    {
        let m = &mut data[at.l4()..at.l4() + len];
        let mut na = icmpv6::Packet::new_unchecked(&mut m[..]);
        na.set_msg_type(icmpv6::Message::NeighborAdvert);
        na.set_code(icmpv6::ZERO_CODE);
        na.set_body_word(0);
        na.set_na_flags(false, true, true);
        if with_option {
            let _ = icmpv6::emit_link_addr_option(
                &mut m[icmpv6::NDP_HEADER_LEN..],
                icmpv6::NdpOptionType::TargetLinkAddr,
                snap.mac,
            );
        }
    }
    let l3 = at.l3();
    {
        let mut ip = ipv6::Packet::new_unchecked(&mut data[l3..]);
        ip.set_src_addr_raw(target);
        ip.set_dst_addr_raw(src);
        ip.set_hop_limit(icmpv6::NDP_HOP_LIMIT);
        ip.set_payload_len((at.l4() - l3 - ipv6::HEADER_LEN + len) as u16);
    }
    icmpv6::Packet::new_unchecked(&mut data[at.l4()..at.l4() + len])
        .fill_checksum(Ipv6Addr::from(target), Ipv6Addr::from(src));
    let mut eth = ethernet::Frame::new_unchecked(&mut data[..]);
    let requester = eth.src_addr();
    eth.set_dst_addr(requester);
    eth.set_src_addr(snap.mac);
    counters.event(Event::NdAnswered);
    Verdict::Reply
}

/// Answers an ICMPv6 echo request to a local address, in place (RFC 4443
/// section 4.2).
fn answer_echo6(
    snap: &Snapshot,
    counters: &mut Counters,
    data: &mut [u8],
    at: Offsets,
    dst: u128,
    code: u8,
) -> Verdict {
    if !snap.is_local6(dst) || code != icmpv6::ZERO_CODE {
        return Verdict::Drop(DropReason::IcmpUnsupported);
    }
    {
        let mut m = icmpv6::Packet::new_unchecked(&mut data[at.l4()..at.end()]);
        m.set_msg_type(icmpv6::Message::EchoReply);
        // The type is the high byte of the first word; the code stays, and
        // the pseudo-header's sum does not change when its addresses swap.
        let word = |t: icmpv6::Message| u16::from(u8::from(t)) << 8;
        let c = checksum::update16(
            m.checksum(),
            word(icmpv6::Message::EchoRequest),
            word(icmpv6::Message::EchoReply),
        );
        m.set_checksum(c);
    }
    {
        let l3 = at.l3();
        let (s, d) = (addr_at(data, l3 + SRC), addr_at(data, l3 + DST));
        let mut ip = ipv6::Packet::new_unchecked(&mut data[l3..]);
        ip.set_src_addr_raw(d);
        ip.set_dst_addr_raw(s);
        ip.set_hop_limit(64);
    }
    let mut eth = ethernet::Frame::new_unchecked(&mut data[..]);
    let requester = eth.src_addr();
    eth.set_dst_addr(requester);
    eth.set_src_addr(snap.mac);
    counters.event(Event::EchoReplied);
    Verdict::Reply
}

/// The owner worker's input for an IPv6 frame's client, as
/// [`super::handoff::client_of`] needs it for replay's software RSS.
pub fn client_of6(snap: &Snapshot, frame: &[u8], l3: usize) -> Option<u32> {
    let ip = ipv6::Packet::new_checked(&frame[l3..]).ok()?;
    let chain = ip.chain().ok()?;
    let (src, dst) = (ip.src_addr_raw(), ip.dst_addr_raw());
    if chain.is_fragment() {
        // As the data path tells a fragment's client (`fragment`): later
        // fragments carry no ports, and every fragment of a datagram, NAT
        // rules' included, goes to the owner.
        if snap.is_local6(dst) {
            return Some(owner_input(src));
        }
        let from_backend = snap.backends.iter().any(|b| {
            b.address.is_ipv6()
                && b.addr6 == src
                && b.status != crate::dataplane::snapshot::BackendStatus::Removed
        });
        return from_backend.then_some(owner_input(dst));
    }
    let l4 = frame.get(l3 + chain.l4_offset..l3 + ip.total_len())?;
    let stateful = |service: u16| snap.services[service as usize].kind != ServiceKind::Nat;
    match chain.protocol {
        IpProtocol::Tcp | IpProtocol::Udp if l4.len() >= 4 => {
            let sport = u16::from_be_bytes([l4[0], l4[1]]);
            let dport = u16::from_be_bytes([l4[2], l4[3]]);
            if let Some(s) = snap.frontend6(dst, dport, chain.protocol) {
                return stateful(s).then_some(owner_input(src));
            }
            let be = snap.return_backend6(src, sport, chain.protocol)?;
            stateful(snap.backends[be as usize].service).then_some(owner_input(dst))
        }
        IpProtocol::Icmpv6 => {
            let q = icmpv6::Quoted::parse(l4)?;
            let (qs, qd) = q.ports?;
            if let Some(s) = snap.frontend6(q.src, qs, q.proto) {
                return stateful(s).then_some(owner_input(q.dst));
            }
            let be = snap.return_backend6(q.dst, qd, q.proto)?;
            stateful(snap.backends[be as usize].service).then_some(owner_input(q.src))
        }
        _ => None,
    }
}
