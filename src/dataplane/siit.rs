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
//! - **Fragments** of SIIT connections are dropped (`siit-fragment`) both
//!   ways.

use super::{Dataplane, Pending, Verdict, V6};
use crate::dataplane::counters::{DropReason, Event};
use crate::dataplane::flow::{FlowKey, Key6, Lookup};
use crate::dataplane::{bump, handoff, select};
use crate::wire::ethernet::EtherType;
use crate::wire::{checksum, ipv4, ipv6, tcp, udp, IpProtocol};

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
        let s = &self.siit;
        let total = s.capacity();
        if total == 0 {
            return None;
        }
        let n = s.own.len();
        let mut t = (select::mix64(hash) % total as u64) as usize;
        let mut free = None;
        for _ in 0..PROBES.min(total) {
            let at = ((t / n) << 16) | usize::from(s.own[t % n]);
            let k = s.held[at];
            if k == key {
                return Some(at);
            }
            if free.is_none() && (k.is_free() || !self.live6(k)) {
                free = Some(at);
            }
            t += 1;
            if t == total {
                t = 0;
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
        {
            let mut ip = ipv4::Packet::new_unchecked(&mut data[h..l4]);
            ip.set_version(4);
            ip.set_header_len(20);
            ip.set_dscp_ecn(tc);
            ip.set_total_len(total_len as u16);
            ip.set_ident(0);
            ip.set_flags_and_frag(true, false, 0);
            ip.set_ttl(hops - 1);
            ip.set_protocol(p.proto);
            ip.set_src_addr_raw(s4);
            ip.set_dst_addr_raw(be.addr_raw);
            ip.fill_checksum();
        }
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
        {
            let mut ip = ipv6::Packet::new_unchecked(&mut data[l3..l4]);
            ip.set_version(6);
            ip.set_traffic_class(tos);
            ip.set_flow_label(0);
            ip.set_payload_len(l4_len as u16);
            ip.set_next_header(p.proto);
            ip.set_hop_limit(ttl - 1);
            ip.set_src_addr_raw(svc.addr6);
            ip.set_dst_addr_raw(client);
        }
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
