//! SIIT: IPv6 clients of a frontend with `siit = true`, served by IPv4
//! backends. The headers are translated as RFC 7915 says; the connection's
//! IPv4 source is one port of one of `appliance.siit_addresses`, held for
//! the connection's life, as a stateful NAT64 (RFC 6146) would.
//!
//! - **The connection** is an IPv6 one: its entry in the IPv6 flow table,
//!   keyed by the client, carries the backend and the TCP state, as for any
//!   IPv6 frontend. Only the packets differ.
//! - **Source ports:** each worker has its own share of every SIIT
//!   address's ports 1024-65535: those whose owner ([`owner_input`]) it is.
//!   A backend's reply is addressed to that port, so it reaches the owner of
//!   the connection like any return packet (replay's software RSS and the
//!   handoff compute the same owner). A connection's port is found by
//!   probing [`PROBES`] places from the hash of its key in the worker's
//!   [`Sources`], which maps each (address, port) back to the connection
//!   holding it. A place is free when no live connection holds it.
//! - **Inbound** (IPv6 to IPv4): the IPv4 header is written where the last
//!   20 bytes of the IPv6 header chain were, and the Ethernet header moves
//!   up behind it; the buffer's start moves with it
//!   ([`crate::ports::PacketBuf::adj`]). Extension headers are passed over
//!   (RFC 7915 section 5.1). DF is set and the identification is 0.
//! - **Return** (IPv4 to IPv6): the buffer grows by 20 bytes at the front
//!   ([`crate::ports::PacketBuf::prepend`]). IPv4 options are not
//!   translated: such packets are dropped (`siit-untranslatable`).
//! - **Checksums:** the TCP and UDP checksums are patched for the new
//!   pseudo-header and ports; an IPv4 UDP datagram without a checksum gets
//!   one computed (IPv6 requires it).
//! - **ICMP errors** follow their connection across the translation
//!   (RFC 7915 sections 4.2 and 5.2): an ICMPv6 error from the client side
//!   about a reply reaches the backend as ICMPv4 from the SIIT source (Packet
//!   Too Big as "fragmentation needed" with the MTU less 20), and an ICMP
//!   error from the private side about a client's packet reaches the client
//!   as ICMPv6 from the frontend (with the MTU plus 20). The quoted packet is
//!   translated too, as the error's receiver sent it. Types RFC 7915 does
//!   not translate are dropped (`icmp-unsupported`).
//! - **Fragments** of SIIT connections are dropped (`siit-fragment`) both
//!   ways.

use super::{Dataplane, Offsets, Pending, Verdict, V6};
use crate::dataplane::counters::{DropReason, Event};
use crate::dataplane::flow::{FlowKey, Key6, Lookup};
use crate::dataplane::{bump, handoff, select};
use crate::wire::ethernet::EtherType;
use crate::wire::{checksum, icmp, icmpv6, ipv4, ipv6, tcp, udp, IpProtocol};
use std::net::Ipv6Addr;

/// The lowest source port given to a connection (the ones below are
/// well-known: a backend may treat them otherwise).
pub const FIRST_PORT: u16 = 1024;

/// Places probed for a connection's source port.
pub const PROBES: usize = 16;

/// Bytes an IPv6 header has over an IPv4 header without options.
pub const GROWTH: usize = 20;

/// The input of [`handoff::owner`] for a SIIT source port: the worker that
/// owns it, and so its connections' return packets.
#[inline(always)]
pub fn owner_input(port: u16) -> u32 {
    0x5349_0000 | u32::from(port)
}

/// One worker's SIIT source ports and the connections that hold them.
pub struct Sources {
    /// The ports this worker owns, in probing order.
    own: Vec<u16>,
    /// (address index << 16 | port) -> the connection holding it; the free
    /// key for none (a stale key is free too, once its connection is gone).
    held: Vec<Key6>,
    addresses: usize,
    workers: u16,
}

impl Sources {
    /// No SIIT addresses: nothing allocated.
    pub fn none() -> Sources {
        Sources {
            own: Vec::new(),
            held: Vec::new(),
            addresses: 0,
            workers: 1,
        }
    }

    /// Worker `worker`'s share of the ports of `addresses` SIIT addresses
    /// among `workers` workers.
    pub fn new(addresses: usize, worker: u16, workers: u16) -> Sources {
        if addresses == 0 {
            return Sources::none();
        }
        let own = (FIRST_PORT..=u16::MAX)
            .filter(|&p| handoff::owner(owner_input(p), workers as usize) == worker as usize)
            .collect();
        Sources {
            own,
            held: vec![Key6::default(); addresses << 16],
            addresses,
            workers,
        }
    }

    /// Whether these are the sources for `addresses` addresses and `workers` workers.
    pub fn fits(&self, addresses: usize, workers: u16) -> bool {
        self.addresses == addresses && (addresses == 0 || self.workers == workers)
    }

    /// The connection holding (address index << 16 | port), if any.
    #[inline(always)]
    pub fn holder(&self, at: usize) -> Option<Key6> {
        self.held.get(at).copied().filter(|k| !k.is_free())
    }

    /// How many source ports this worker has, over all addresses.
    pub fn capacity(&self) -> usize {
        self.own.len() * self.addresses
    }

    /// The places (address index << 16 | port) that a connection whose key
    /// hashes to `hash` may hold, in the order they are probed: from a
    /// place the hash picks (by multiplication, no division), on through
    /// this worker's ports, address after address.
    #[inline(always)]
    fn places(&self, hash: u64) -> impl Iterator<Item = usize> + '_ {
        let n = self.own.len();
        let h = select::mix64(hash);
        let mut a = (((h >> 32) * self.addresses as u64) >> 32) as usize;
        let mut j = (((h & 0xffff_ffff) * n as u64) >> 32) as usize;
        (0..PROBES.min(self.capacity())).map(move |_| {
            let at = (a << 16) | usize::from(self.own[j]);
            j += 1;
            if j == n {
                j = 0;
                a = if a + 1 == self.addresses { 0 } else { a + 1 };
            }
            at
        })
    }
}

/// The partial checksum sum of an IPv4 address's two words.
#[inline(always)]
fn sum32(a: u32) -> u32 {
    (a >> 16) + (a & 0xffff)
}

impl Dataplane {
    /// Builds the worker's SIIT sources when the snapshot's addresses or
    /// the number of workers changed (between bursts; at start in practice,
    /// since a reload does not change the appliance's addresses).
    pub(super) fn siit_setup(&mut self) {
        let n = self.snap.siit.len();
        if !self.siit.fits(n, self.workers) {
            self.siit = Sources::new(n, self.worker, self.workers);
        }
    }

    /// Whether the IPv6 flow table holds `key` as a live connection.
    fn live6(&self, key: Key6) -> bool {
        match self.flows6.lookup(key, self.flows6.hash(key)) {
            Lookup::Hit(slot) => {
                let e = self.flows6.get(slot);
                !e.is_expired(self.now, self.snap.flow_timeout(e))
            }
            Lookup::Miss(_) => false,
        }
    }

    /// The SIIT source (address index << 16 | port) of connection `key`:
    /// the one it holds, or else the first free one of its probes, now
    /// held. None when all of them are held by live connections.
    fn siit_source(&mut self, key: Key6, hash: u64) -> Option<usize> {
        let mut free = None;
        for at in self.siit.places(hash) {
            let k = self.siit.held[at];
            if k == key {
                return Some(at);
            }
            if free.is_none() && (k.is_free() || !self.live6(k)) {
                free = Some(at);
            }
        }
        let at = free?;
        self.siit.held[at] = key;
        Some(at)
    }

    /// A client's packet of SIIT connection `key` (entry in place) to IPv4
    /// backend `b`: translated to IPv4 from the connection's SIIT source.
    /// The frame now starts `self.siit_shift` bytes further on.
    pub(super) fn siit_forward(
        &mut self,
        data: &mut [u8],
        p: &Pending,
        b: u16,
        key: Key6,
    ) -> Verdict {
        let (l3, l4, end) = (p.at.l3(), p.at.l4(), p.at.end());
        let total_len = end - l4 + 20;
        if total_len > usize::from(u16::MAX) {
            return Verdict::Drop(DropReason::SiitUntranslatable);
        }
        let Some(at) = self.siit_source(key, p.hash) else {
            return Verdict::Drop(DropReason::SiitPortsExhausted);
        };
        let snap = &*self.snap;
        let be = &snap.backends[b as usize];
        let (sport, s4) = (at as u16, snap.siit[at >> 16]);
        let (tc, hops, client, frontend) = {
            let ip = ipv6::Packet::new_unchecked(&data[l3..]);
            (
                ip.traffic_class(),
                ip.hop_limit(),
                ip.src_addr_raw(),
                ip.dst_addr_raw(),
            )
        };
        // The pseudo-header's addresses, and both ports (the backend's
        // precomputed delta holds the destination port's).
        let delta = checksum::sum128(!client)
            + checksum::sum128(!frontend)
            + sum32(s4)
            + sum32(be.addr_raw)
            + checksum::delta16(key.port, sport)
            + be.in_l4_delta;
        set_ports(&mut data[l4..end], p.proto, sport, be.port, delta);
        let h = l4 - 20;
        write_ipv4(
            &mut data[h..l4],
            tc,
            total_len as u16,
            hops - 1,
            p.proto,
            s4,
            be.addr_raw,
        );
        // The Ethernet header (VLAN tags included) moves up to the IPv4 one.
        let shift = h - l3;
        data.copy_within(0..l3, shift);
        set_link(&mut data[shift..], l3, be.mac, snap.mac, EtherType::Ipv4);
        self.siit_shift = shift as u16;
        self.counters.event(Event::Inbound);
        self.counters.event(Event::SiitTranslated);
        bump(&mut self.counters.backend_packets, b);
        Verdict::ToPrivate
    }

    /// The connection of a backend's packet to a SIIT source (`p.key`:
    /// address index << 16 | port): live, and that backend's, which the
    /// packet refreshes. Checked before the buffer grows, so that a dropped
    /// frame is left as it came.
    pub(super) fn siit_connection(&mut self, p: &Pending) -> Result<Key6, Verdict> {
        let id = p.service;
        let Some(key) = self.siit.holder(p.key as usize) else {
            return Err(Verdict::Drop(DropReason::ReturnNoFlow));
        };
        let service = self.snap.backends[id as usize].service;
        if key.service != service
            || !self.tracked::<V6>(key, self.flows6.hash(key), id, Some(p.tcp_flags))
        {
            return Err(Verdict::Drop(DropReason::ReturnNoFlow));
        }
        Ok(key)
    }

    /// A backend's packet of SIIT connection `key` ([`Dataplane::siit_connection`]),
    /// in a buffer grown by [`GROWTH`] bytes at the front (the received
    /// frame follows them): translated to IPv6, from the frontend to the
    /// client.
    pub(super) fn siit_return(&mut self, data: &mut [u8], p: &Pending, key: Key6) -> Verdict {
        let id = p.service;
        let service = key.service;
        let snap = &*self.snap;
        let be = &snap.backends[id as usize];
        let svc = &snap.services[service as usize];
        // Offsets in the received frame, which starts at GROWTH; its IPv4
        // header has no options, so the translated IPv6 header ends where
        // the IPv4 one did.
        let (l3, l4, end) = (p.at.l3(), p.at.l4() + GROWTH, p.at.end() + GROWTH);
        let (tos, ttl, s4, b4) = {
            let ip = ipv4::Packet::new_unchecked(&data[l3 + GROWTH..l4]);
            (
                ip.dscp_ecn(),
                ip.ttl(),
                ip.dst_addr_raw(),
                ip.src_addr_raw(),
            )
        };
        let (client, sport) = (key.client(), p.key as u16);
        let delta = checksum::sum128(svc.addr6)
            + checksum::sum128(client)
            + sum32(!b4)
            + sum32(!s4)
            + be.out_l4_delta
            + checksum::delta16(sport, key.port);
        let l4_len = end - l4;
        set_ports(&mut data[l4..end], p.proto, svc.port, key.port, delta);
        if p.proto == IpProtocol::Udp && data[l4 + 6..l4 + 8] == [0, 0] {
            // RFC 768 allows no checksum over IPv4; RFC 8200 does not.
            let sum = checksum::combine(
                checksum::pseudo_header_v6_raw(svc.addr6, client, IpProtocol::Udp, l4_len as u32),
                checksum::sum(&data[l4..end]),
            );
            let c = checksum::finish(sum);
            let c = if c == 0 { 0xffff } else { c };
            data[l4 + 6..l4 + 8].copy_from_slice(&c.to_be_bytes());
        }
        data.copy_within(GROWTH..GROWTH + l3, 0);
        set_link(data, l3, snap.gateway_mac6, snap.mac, EtherType::Ipv6);
        write_ipv6(
            &mut data[l3..l4],
            tos,
            l4_len as u16,
            p.proto,
            ttl - 1,
            svc.addr6,
            client,
        );
        self.counters.event(Event::Return);
        self.counters.event(Event::SiitTranslated);
        bump(&mut self.counters.backend_packets, id);
        Verdict::ToPublic
    }
}

/// Writes the source and destination ports of a TCP or UDP header and
/// applies `delta` to its checksum (a UDP checksum of 0, none, is kept).
#[inline(always)]
fn set_ports(l4: &mut [u8], proto: IpProtocol, sport: u16, dport: u16, delta: u32) {
    if proto == IpProtocol::Tcp {
        let mut t = tcp::Packet::new_unchecked(l4);
        t.set_src_port(sport);
        t.set_dst_port(dport);
        if t.holds_checksum() {
            let c = checksum::apply(t.checksum(), delta);
            t.set_checksum(c);
        }
    } else {
        let mut u = udp::Packet::new_unchecked(l4);
        u.set_src_port(sport);
        u.set_dst_port(dport);
        if u.holds_checksum() && u.checksum() != 0 {
            let c = checksum::apply(u.checksum(), delta);
            u.set_checksum(if c == 0 { 0xffff } else { c });
        }
    }
}

/// Sets the MACs of the frame's Ethernet header and the EtherType before
/// its network header at `l3` (after any VLAN tags).
#[inline(always)]
fn set_link(
    frame: &mut [u8],
    l3: usize,
    dst: crate::wire::MacAddr,
    src: crate::wire::MacAddr,
    ethertype: EtherType,
) {
    frame[0..6].copy_from_slice(&dst.0);
    frame[6..12].copy_from_slice(&src.0);
    frame[l3 - 2..l3].copy_from_slice(&u16::from(ethertype).to_be_bytes());
}

/// A backend's ICMP error about a client's packet of a SIIT connection,
/// checked ([`Dataplane::siit_error4_check`]) and waiting for its buffer to
/// grow by two IPv6 headers' worth.
#[derive(Clone, Copy, Debug)]
pub(super) struct PendingError {
    key: Key6,
    backend: u16,
    /// The ICMPv6 type, code and 32-bit body (MTU or pointer).
    icmp6: (u8, u8, u32),
}

/// RFC 1191's plateaus, for an IPv4 "fragmentation needed" that names no MTU.
const PLATEAUS: [u16; 10] = [32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68];

/// ICMPv4 error type and code to ICMPv6 (RFC 7915 section 4.2): type,
/// code and body; None for what is not translated. `rest` is the ICMPv4
/// header's last four bytes, `quoted_len` the quoted datagram's total length.
fn icmp4_to_6(ty: u8, code: u8, rest: [u8; 4], quoted_len: u16) -> Option<(u8, u8, u32)> {
    const UNREACH: u8 = 1;
    const TOO_BIG: u8 = 2;
    const EXCEEDED: u8 = 3;
    const PARAM: u8 = 4;
    Some(match (ty, code) {
        (3, 0 | 1 | 5..=8 | 11 | 12) => (UNREACH, 0, 0),
        (3, 2) => (PARAM, 1, 6),
        (3, 3) => (UNREACH, 4, 0),
        (3, 4) => {
            let mtu = u16::from_be_bytes([rest[2], rest[3]]);
            let mtu = if mtu != 0 {
                mtu
            } else {
                *PLATEAUS.iter().find(|&&p| p < quoted_len).unwrap_or(&68)
            };
            (TOO_BIG, 0, u32::from(mtu) + 20)
        }
        (3, 9 | 10 | 13 | 15) => (UNREACH, 1, 0),
        (11, 0 | 1) => (EXCEEDED, code, 0),
        (12, 0 | 2) => {
            let pointer = match rest[0] {
                p @ (0 | 1) => u32::from(p),
                2 | 3 => 4,
                8 => 7,
                9 => 6,
                12..=15 => 8,
                16..=19 => 24,
                _ => return None,
            };
            (PARAM, 0, pointer)
        }
        _ => return None,
    })
}

/// ICMPv6 error type and code to ICMPv4 (RFC 7915 section 5.2): type,
/// code and the header's last four bytes; None for what is not translated.
fn icmp6_to_4(ty: u8, code: u8, body: u32) -> Option<(u8, u8, [u8; 4])> {
    Some(match (ty, code) {
        (1, 0 | 2 | 3) => (3, 1, [0; 4]),
        (1, 1) => (3, 10, [0; 4]),
        (1, 4) => (3, 3, [0; 4]),
        (2, _) => {
            let mtu = body.saturating_sub(20).min(u32::from(u16::MAX)) as u16;
            let m = mtu.to_be_bytes();
            (3, 4, [0, 0, m[0], m[1]])
        }
        (3, 0 | 1) => (11, code, [0; 4]),
        (4, 0) => {
            let pointer = match body {
                p @ (0 | 1) => p as u8,
                4 | 5 => 2,
                6 => 9,
                7 => 8,
                8..=23 => 12,
                24..=39 => 16,
                _ => return None,
            };
            (12, 0, [pointer, 0, 0, 0])
        }
        (4, 1) => (3, 2, [0; 4]),
        _ => return None,
    })
}

/// Writes the ports of a quoted TCP or UDP header and applies `delta` to
/// its checksum when the quote holds it (a quote is often cut short).
fn patch_quote(l4: &mut [u8], proto: IpProtocol, sport: u16, dport: u16, delta: u32) {
    l4[0..2].copy_from_slice(&sport.to_be_bytes());
    l4[2..4].copy_from_slice(&dport.to_be_bytes());
    let at = if proto == IpProtocol::Tcp { 16 } else { 6 };
    if let Some(c) = l4.get_mut(at..at + 2) {
        let old = u16::from_be_bytes([c[0], c[1]]);
        if proto == IpProtocol::Tcp || old != 0 {
            let new = checksum::apply(old, delta);
            let new = if proto == IpProtocol::Udp && new == 0 {
                0xffff
            } else {
                new
            };
            c.copy_from_slice(&new.to_be_bytes());
        }
    }
}

impl Dataplane {
    /// The SIIT source that connection `key` holds, if any (nothing is
    /// given out: for errors about a connection).
    fn siit_held(&self, key: Key6, hash: u64) -> Option<usize> {
        self.siit.places(hash).find(|&at| self.siit.held[at] == key)
    }

    /// An ICMPv6 error from the client side about a frontend's reply on
    /// SIIT connection of backend `id` (routed by `error_route`, hop limit
    /// checked): translated to ICMPv4 for the backend, from the
    /// connection's SIIT source, about the packet the backend sent. The
    /// frame now starts `self.siit_shift` bytes further on.
    pub(super) fn siit_error6(
        &mut self,
        data: &mut [u8],
        at: Offsets,
        q: &icmpv6::Quoted,
        id: u16,
        hops: u8,
    ) -> Verdict {
        let Some((fport, cport)) = q.ports else {
            return Verdict::Drop(DropReason::IcmpUnsupported);
        };
        if q.fragment.is_some() {
            return Verdict::Drop(DropReason::SiitFragment);
        }
        let snap = self.snap.clone();
        let be = &snap.backends[id as usize];
        let key = Key6::new(q.dst, cport, be.service);
        let Some(source) = self.siit_held(key, self.flows6.hash(key)) else {
            return Verdict::Drop(DropReason::IcmpNoFlow);
        };
        let (l3, l4, end) = (at.l3(), at.l4(), at.end());
        let body = u32::from_be_bytes([data[l4 + 4], data[l4 + 5], data[l4 + 6], data[l4 + 7]]);
        let Some((ty, code, rest)) = icmp6_to_4(data[l4], data[l4 + 1], body) else {
            return Verdict::Drop(DropReason::IcmpUnsupported);
        };
        let (sport, s4) = (source as u16, snap.siit[source >> 16]);
        let il3 = l4 + icmpv6::ERROR_HEADER_LEN;
        let il4 = il3 + q.l4_offset;
        let tc = ipv6::Packet::new_unchecked(&data[l3..]).traffic_class();
        let (qtc, qlen, qhops) = {
            let ip = ipv6::Packet::new_unchecked(&data[il3..]);
            (ip.traffic_class(), ip.payload_len(), ip.hop_limit())
        };
        // The backend's packet, as it sent it: from its address and port
        // to the SIIT source.
        let delta = checksum::sum128(!q.src)
            + checksum::sum128(!q.dst)
            + sum32(be.addr_raw)
            + sum32(s4)
            + checksum::delta16(fport, be.port)
            + checksum::delta16(cport, sport);
        patch_quote(&mut data[il4..end], q.proto, be.port, sport, delta);
        let qh = il4 - 20;
        let ext = q.l4_offset - ipv6::HEADER_LEN;
        let qtotal = usize::from(qlen).saturating_sub(ext) + 20;
        write_ipv4(
            &mut data[qh..il4],
            qtc,
            qtotal.min(usize::from(u16::MAX)) as u16,
            qhops,
            q.proto,
            be.addr_raw,
            s4,
        );
        let ih = qh - icmp::ERROR_HEADER_LEN;
        data[ih] = ty;
        data[ih + 1] = code;
        data[ih + 4..ih + 8].copy_from_slice(&rest);
        icmp::Packet::new_unchecked(&mut data[ih..end]).fill_checksum();
        let oh = ih - 20;
        write_ipv4(
            &mut data[oh..ih],
            tc,
            (end - oh) as u16,
            hops - 1,
            IpProtocol::Icmp,
            s4,
            be.addr_raw,
        );
        let shift = oh - l3;
        data.copy_within(0..l3, shift);
        set_link(&mut data[shift..], l3, be.mac, snap.mac, EtherType::Ipv4);
        self.siit_shift = shift as u16;
        self.counters.event(Event::IcmpErrorForwarded);
        self.counters.event(Event::SiitTranslated);
        Verdict::ToPrivate
    }

    /// An ICMP error addressed to SIIT address `a` (`q` quotes a packet
    /// from it): routed as any error from the private side, about a live
    /// SIIT connection of the quoted backend, and of a type RFC 7915
    /// translates. Ok: it waits in `self.siit_error` for its buffer to grow.
    pub(super) fn siit_error4_check(
        &mut self,
        q: &icmp::Quoted,
        a: usize,
        dst: u32,
        ttl: u8,
        at: Offsets,
        message: &[u8],
    ) -> Result<PendingError, Verdict> {
        use DropReason::*;
        if dst != q.src {
            return Err(Verdict::Drop(IcmpUnsupported));
        }
        let snap = self.snap.clone();
        let Some(id) = snap.return_backend(q.dst, q.dport, q.proto) else {
            return Err(Verdict::Drop(IcmpUnsupported));
        };
        let be = &snap.backends[id as usize];
        if !snap.services[be.service as usize].siit {
            return Err(Verdict::Drop(IcmpUnsupported));
        }
        if self.from_public_arm {
            return Err(Verdict::Drop(BackendOnPublic));
        }
        if at.l4() - at.l3() != 20 || q.header_len != 20 {
            return Err(Verdict::Drop(SiitUntranslatable));
        }
        if let Some(v) = self.elsewhere(owner_input(q.sport)) {
            return Err(v);
        }
        let Some(key) = self.siit.holder((a << 16) | usize::from(q.sport)) else {
            return Err(Verdict::Drop(IcmpNoFlow));
        };
        if key.service != be.service || !self.tracked::<V6>(key, self.flows6.hash(key), id, None) {
            return Err(Verdict::Drop(IcmpNoFlow));
        }
        if ttl <= 1 {
            return Err(Verdict::Drop(TtlExpired));
        }
        let quoted = &message[icmp::ERROR_HEADER_LEN..];
        let quoted_len = u16::from_be_bytes([quoted[2], quoted[3]]);
        let rest = [message[4], message[5], message[6], message[7]];
        let Some(icmp6) = icmp4_to_6(message[0], message[1], rest, quoted_len) else {
            return Err(Verdict::Drop(IcmpUnsupported));
        };
        // An ICMPv6 error fits in the IPv6 minimum MTU (RFC 4443 2.4(c)).
        if at.end() - at.l3() + 2 * GROWTH > 1280 {
            return Err(Verdict::Drop(SiitUntranslatable));
        }
        Ok(PendingError {
            key,
            backend: id,
            icmp6,
        })
    }

    /// The error of [`Dataplane::siit_error4_check`], in a buffer grown by
    /// two [`GROWTH`]s at the front (the received frame follows them):
    /// translated to ICMPv6, from the frontend to the client, about the
    /// client's packet as the client sent it.
    pub(super) fn siit_error4(&mut self, data: &mut [u8], at: Offsets, e: PendingError) -> Verdict {
        const G: usize = 2 * GROWTH;
        let snap = &*self.snap;
        let be = &snap.backends[e.backend as usize];
        let svc = &snap.services[be.service as usize];
        let (client, cport) = (e.key.client(), e.key.port);
        let l3 = at.l3();
        let end = at.end() + G;
        // The received frame's headers, all read before any is written over.
        let (tos, ttl) = {
            let ip = ipv4::Packet::new_unchecked(&data[l3 + G..]);
            (ip.dscp_ecn(), ip.ttl())
        };
        let il3 = at.l4() + G + icmp::ERROR_HEADER_LEN;
        let il4 = il3 + 20;
        let (qtos, qtotal, qttl, proto, s4, b4) = {
            let ip = ipv4::Packet::new_unchecked(&data[il3..il4]);
            (
                ip.dscp_ecn(),
                ip.total_len(),
                ip.ttl(),
                ip.protocol(),
                ip.src_addr_raw(),
                ip.dst_addr_raw(),
            )
        };
        let (sport, bport) = (
            u16::from_be_bytes([data[il4], data[il4 + 1]]),
            u16::from_be_bytes([data[il4 + 2], data[il4 + 3]]),
        );
        let delta = sum32(!s4)
            + sum32(!b4)
            + checksum::sum128(client)
            + checksum::sum128(svc.addr6)
            + checksum::delta16(sport, cport)
            + checksum::delta16(bport, svc.port);
        patch_quote(&mut data[il4..end], proto, cport, svc.port, delta);
        data.copy_within(G..G + l3, 0);
        set_link(data, l3, snap.gateway_mac6, snap.mac, EtherType::Ipv6);
        let m = l3 + ipv6::HEADER_LEN;
        write_ipv6(
            &mut data[l3..m],
            tos,
            (end - m) as u16,
            IpProtocol::Icmpv6,
            ttl - 1,
            svc.addr6,
            client,
        );
        let (ty, code, body) = e.icmp6;
        data[m] = ty;
        data[m + 1] = code;
        data[m + 4..m + 8].copy_from_slice(&body.to_be_bytes());
        let q6 = m + icmpv6::ERROR_HEADER_LEN;
        write_ipv6(
            &mut data[q6..il4],
            qtos,
            qtotal.saturating_sub(20),
            proto,
            qttl,
            client,
            svc.addr6,
        );
        icmpv6::Packet::new_unchecked(&mut data[m..end])
            .fill_checksum(Ipv6Addr::from(svc.addr6), Ipv6Addr::from(client));
        self.counters.event(Event::IcmpErrorForwarded);
        self.counters.event(Event::SiitTranslated);
        Verdict::ToPublic
    }
}

/// Writes a 20-byte IPv4 header (DF set, identification 0) and its
/// checksum: built whole on the stack and copied, so that the fields cost
/// no bounds checks of their own.
#[inline(always)]
fn write_ipv4(h: &mut [u8], tos: u8, total: u16, ttl: u8, proto: IpProtocol, src: u32, dst: u32) {
    let (t, s, d) = (total.to_be_bytes(), src.to_be_bytes(), dst.to_be_bytes());
    let mut b = [
        0x45,
        tos,
        t[0],
        t[1],
        0,
        0,
        0x40,
        0,
        ttl,
        u8::from(proto),
        0,
        0,
        s[0],
        s[1],
        s[2],
        s[3],
        d[0],
        d[1],
        d[2],
        d[3],
    ];
    let c = checksum::finish(checksum::sum(&b));
    b[10..12].copy_from_slice(&c.to_be_bytes());
    h[..20].copy_from_slice(&b);
}

/// Writes a 40-byte IPv6 header (flow label 0), built whole on the stack.
#[inline(always)]
fn write_ipv6(
    h: &mut [u8],
    tc: u8,
    payload: u16,
    next: IpProtocol,
    hops: u8,
    src: u128,
    dst: u128,
) {
    let mut b = [0u8; 40];
    b[0] = 0x60 | (tc >> 4);
    b[1] = tc << 4;
    b[4..6].copy_from_slice(&payload.to_be_bytes());
    b[6] = u8::from(next);
    b[7] = hops;
    b[8..24].copy_from_slice(&src.to_be_bytes());
    b[24..40].copy_from_slice(&dst.to_be_bytes());
    h[..40].copy_from_slice(&b);
}
