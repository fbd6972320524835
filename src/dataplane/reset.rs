//! TCP reset on idle (a rule's `tcp_reset_on_idle`): when an established
//! connection of such a rule reaches its idle timeout, natrix sends a RST
//! to the client, from the frontend, and one to the backend, from the
//! client, so that both applications learn at once that the connection is
//! gone rather than on their next write.
//!
//! Each RST carries the sequence number its receiver expects next (its
//! RCV.NXT), which RFC 5961 section 3.2 requires for a RST to be taken
//! (any other number in the window only draws a challenge ACK). Both are
//! tracked from the client's segments alone ([`Seqs`], in the flow table's
//! side array): the backend's RCV.NXT is the client's next sequence number,
//! the client's RCV.NXT the last acknowledgment number it sent; on an idle
//! connection every byte has been acknowledged, so they are exact.
//!
//! The worker's sweep ([`Dataplane::sweep`]) finds the expired connections
//! and queues them here; the worker takes them out between bursts, gets a
//! buffer from its port for each RST ([`crate::ports::Port::alloc`]) and has
//! [`Dataplane::write_reset`] write it.
//!
//! ```text
//!  to the client:  frontend addr:port -> client addr:port   RST|ACK  seq = client_ack   ack = client_next
//!  to the backend: client addr:port   -> backend addr:port  RST|ACK  seq = client_next  ack = client_ack
//! ```

use crate::dataplane::flow::{Dir, Entry, FlowKey, FlowTable, Key6, Seqs, Slot};
use crate::dataplane::snapshot::{BackendStatus, Snapshot};
use crate::dataplane::Dataplane;
use crate::wire::{ethernet, ipv4, ipv6, tcp, IpProtocol, MacAddr};
use arrayvec::ArrayVec;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Length of an IPv4 RST frame: Ethernet, IPv4 and TCP headers without
/// options (the Ethernet minimum of 60 bytes is the driver's padding).
pub const RESET_FRAME_LEN: usize = ETH_LEN + IP_LEN + TCP_LEN;
/// Length of an IPv6 RST frame.
pub const RESET_FRAME_LEN6: usize = ETH_LEN + ipv6::HEADER_LEN + TCP_LEN;
const ETH_LEN: usize = 14;
const IP_LEN: usize = 20;
const TCP_LEN: usize = 20;

/// Connections waiting for their RSTs: the sweep stops when this is full
/// and goes on after the worker has sent them.
pub const RESET_QUEUE: usize = 64;

/// TTL of the RSTs natrix builds.
const RESET_TTL: u8 = 64;

/// The flow key of a connection to reset, of either family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetKey {
    V4(u64),
    V6(Key6),
}

/// The flow keys whose connections can be reset.
pub trait Resettable: FlowKey {
    fn reset_key(&self) -> ResetKey;
}

impl Resettable for u64 {
    fn reset_key(&self) -> ResetKey {
        ResetKey::V4(*self)
    }
}

impl Resettable for Key6 {
    fn reset_key(&self) -> ResetKey {
        ResetKey::V6(*self)
    }
}

/// An idle connection to reset both ways.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reset {
    /// Its flow key: client address and port, service.
    pub key: ResetKey,
    /// Its backend id.
    pub backend: u16,
    pub seqs: Seqs,
}

impl Reset {
    /// Its service (rule).
    pub fn service(&self) -> u16 {
        match self.key {
            ResetKey::V4(k) => k.service(),
            ResetKey::V6(k) => k.service(),
        }
    }

    /// The length of each of its RST frames.
    pub fn frame_len(&self) -> usize {
        match self.key {
            ResetKey::V4(_) => RESET_FRAME_LEN,
            ResetKey::V6(_) => RESET_FRAME_LEN6,
        }
    }
}

/// The queue of connections to reset, between the sweep and the worker.
pub type Resets = ArrayVec<Reset, RESET_QUEUE>;

/// What the sweep does with an expired entry `e` (sequence numbers `seqs`
/// if it has them): queues a reset if its rule resets idle connections and
/// it is established. Returns false, and queues nothing, when the queue is
/// full: the entry must then stay for the next sweep.
#[inline]
pub(super) fn on_expired<K: Resettable>(
    snap: &Snapshot,
    resets: &mut Resets,
    e: &Entry<K>,
    seqs: Option<Seqs>,
) -> bool {
    let Some(seqs) = seqs else {
        return true;
    };
    let resets_idle = snap
        .services
        .get(e.key.service() as usize)
        .is_some_and(|s| s.reset_on_idle);
    if !resets_idle || !e.is_established() {
        return true;
    }
    if resets.is_full() {
        return false;
    }
    resets.push(Reset {
        key: e.key.reset_key(),
        backend: e.backend,
        seqs,
    });
    true
}

/// Queues the RSTs of the expired entry in `slot` of `flows` if its rule
/// resets idle connections (as the sweep does), before a new connection
/// reuses the slot. Cold: only for expired entries met by a packet.
#[inline(never)]
pub(super) fn reset_expired<K: Resettable>(
    snap: &Snapshot,
    flows: &FlowTable<K>,
    resets: &mut Resets,
    slot: Slot,
) {
    if flows.tracks_seqs() {
        on_expired(snap, resets, flows.get(slot), flows.seqs(slot));
    }
}

/// A client segment's sequence number, payload length, flags and
/// acknowledgment number (for [`Seqs::update`]), from the TCP header at the
/// start of `l4`, `l4` ending with the datagram. None if `l4` is shorter
/// than a TCP header (the first pass has checked that it is not).
#[inline(always)]
pub(super) fn segment_numbers(l4: &[u8]) -> Option<(u32, u32, u8, u32)> {
    // A fixed-size header: the accessors' bounds checks fold away.
    let h: &[u8; TCP_LEN] = l4.first_chunk()?;
    let t = tcp::Packet::new_unchecked(&h[..]);
    let len = l4.len().saturating_sub(usize::from(t.header_len())) as u32;
    Some((t.seq_number(), len, t.flags(), t.ack_number()))
}

impl Dataplane {
    /// Whether connections wait for their RSTs.
    #[inline(always)]
    pub fn has_resets(&self) -> bool {
        !self.resets.is_empty()
    }

    /// The next connection to reset, if any.
    pub fn take_reset(&mut self) -> Option<Reset> {
        self.resets.pop()
    }

    /// Writes the RST of `r` toward `to` (the client, from the frontend; or
    /// the backend, from the client) into `frame`, [`Reset::frame_len`]
    /// bytes. False, and nothing written, if the connection's rule or
    /// backend is gone from the snapshot (or `frame` is too short).
    pub fn write_reset(&self, r: &Reset, to: Dir, frame: &mut [u8]) -> bool {
        let snap = &*self.snap;
        if frame.len() < r.frame_len() {
            return false;
        }
        let Some(svc) = snap.services.get(r.service() as usize) else {
            return false;
        };
        let (client4, client6, cport) = match r.key {
            ResetKey::V4(k) => (
                Ipv4Addr::from((k >> 32) as u32),
                Ipv6Addr::UNSPECIFIED,
                (k >> 16) as u16,
            ),
            ResetKey::V6(k) => (Ipv4Addr::UNSPECIFIED, Ipv6Addr::from(k.client()), k.port),
        };
        let v6 = matches!(r.key, ResetKey::V6(_));
        match to {
            Dir::Client => {
                let seg = Segment {
                    macs: (
                        snap.mac,
                        if v6 {
                            snap.gateway_mac6
                        } else {
                            snap.gateway_mac
                        },
                    ),
                    ports: (svc.port, cport),
                    seq: r.seqs.client_ack,
                    ack: r.seqs.client_next,
                };
                // No gateway MAC resolved: no RST toward the client.
                if seg.macs.1 == MacAddr::ZERO {
                    return false;
                }
                if v6 {
                    seg.write6(frame, Ipv6Addr::from(svc.addr6), client6);
                } else {
                    seg.write4(frame, Ipv4Addr::from(svc.addr_raw), client4);
                }
            }
            Dir::Backend => {
                let Some(be) = snap.backends.get(r.backend as usize) else {
                    return false;
                };
                // A backend id freed and reused since is another backend.
                if be.status == BackendStatus::Removed || be.service != r.service() {
                    return false;
                }
                let seg = Segment {
                    macs: (snap.mac, be.mac),
                    ports: (cport, be.port),
                    seq: r.seqs.client_next,
                    ack: r.seqs.client_ack,
                };
                if be.mac == MacAddr::ZERO {
                    return false;
                }
                if v6 {
                    seg.write6(frame, client6, Ipv6Addr::from(be.addr6));
                } else {
                    seg.write4(frame, client4, Ipv4Addr::from(be.addr_raw));
                }
            }
        }
        true
    }
}

/// A RST|ACK segment to write: source and destination MACs and ports, its
/// sequence and acknowledgment numbers.
struct Segment {
    macs: (MacAddr, MacAddr),
    ports: (u16, u16),
    seq: u32,
    ack: u32,
}

impl Segment {
    fn ethernet(&self, frame: &mut [u8], ethertype: ethernet::EtherType) {
        let mut eth = ethernet::Frame::new_unchecked(&mut frame[..]);
        eth.set_src_addr(self.macs.0);
        eth.set_dst_addr(self.macs.1);
        eth.set_ethertype(ethertype);
    }

    fn tcp<'a>(&self, l4: &'a mut [u8]) -> tcp::Packet<&'a mut [u8]> {
        let mut t = tcp::Packet::new_unchecked(l4);
        t.set_src_port(self.ports.0);
        t.set_dst_port(self.ports.1);
        t.set_seq_number(self.seq);
        t.set_ack_number(self.ack);
        t.set_header_len(TCP_LEN as u8);
        t.set_flags(tcp::FLAG_RST | tcp::FLAG_ACK);
        t.set_window_len(0);
        t.set_urgent_at(0);
        t
    }

    /// Writes it over IPv4 into `frame` ([`RESET_FRAME_LEN`] bytes at least).
    fn write4(&self, frame: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr) {
        let frame = &mut frame[..RESET_FRAME_LEN];
        self.ethernet(frame, ethernet::EtherType::Ipv4);
        {
            let mut ip = ipv4::Packet::new_unchecked(&mut frame[ETH_LEN..]);
            ip.set_version(4);
            ip.set_header_len(IP_LEN as u8);
            ip.set_dscp_ecn(0);
            ip.set_total_len((IP_LEN + TCP_LEN) as u16);
            ip.set_ident(0);
            ip.set_flags_and_frag(true, false, 0);
            ip.set_ttl(RESET_TTL);
            ip.set_protocol(IpProtocol::Tcp);
            ip.set_src_addr(src);
            ip.set_dst_addr(dst);
            ip.fill_checksum();
        }
        self.tcp(&mut frame[ETH_LEN + IP_LEN..])
            .fill_checksum(src, dst);
    }

    /// Writes it over IPv6 into `frame` ([`RESET_FRAME_LEN6`] bytes at least).
    fn write6(&self, frame: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr) {
        let frame = &mut frame[..RESET_FRAME_LEN6];
        self.ethernet(frame, ethernet::EtherType::Ipv6);
        {
            let mut ip = ipv6::Packet::new_unchecked(&mut frame[ETH_LEN..]);
            ip.set_version(6);
            ip.set_traffic_class(0);
            ip.set_flow_label(0);
            ip.set_payload_len(TCP_LEN as u16);
            ip.set_next_header(IpProtocol::Tcp);
            ip.set_hop_limit(RESET_TTL);
            ip.set_src_addr(src);
            ip.set_dst_addr(dst);
        }
        self.tcp(&mut frame[ETH_LEN + ipv6::HEADER_LEN..])
            .fill_checksum_v6(src, dst);
    }
}
