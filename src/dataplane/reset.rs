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

use crate::dataplane::flow::{self, Dir, Entry, FlowTable, Seqs, Slot};
use crate::dataplane::snapshot::{BackendStatus, Snapshot};
use crate::dataplane::Dataplane;
use crate::wire::{ethernet, ipv4, tcp, IpProtocol};
use arrayvec::ArrayVec;
use std::net::Ipv4Addr;

/// Length of a RST frame: Ethernet, IPv4 and TCP headers without options
/// (the Ethernet minimum of 60 bytes is the driver's padding).
pub const RESET_FRAME_LEN: usize = ETH_LEN + IP_LEN + TCP_LEN;
const ETH_LEN: usize = 14;
const IP_LEN: usize = 20;
const TCP_LEN: usize = 20;

/// Connections waiting for their RSTs: the sweep stops when this is full
/// and goes on after the worker has sent them.
pub const RESET_QUEUE: usize = 64;

/// TTL of the RSTs natrix builds.
const RESET_TTL: u8 = 64;

/// An idle connection to reset both ways.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reset {
    /// Its flow key: client address and port, service.
    pub key: u64,
    /// Its backend id.
    pub backend: u16,
    pub seqs: Seqs,
}

/// The queue of connections to reset, between the sweep and the worker.
pub type Resets = ArrayVec<Reset, RESET_QUEUE>;

/// What the sweep does with an expired entry `e` (sequence numbers `seqs`
/// if it has them): queues a reset if its rule resets idle connections and
/// it is established. Returns false, and queues nothing, when the queue is
/// full: the entry must then stay for the next sweep.
#[inline]
pub(super) fn on_expired(
    snap: &Snapshot,
    resets: &mut Resets,
    e: &Entry,
    seqs: Option<Seqs>,
) -> bool {
    let Some(seqs) = seqs else {
        return true;
    };
    let resets_idle = snap
        .services
        .get(flow::key_service(e.key) as usize)
        .is_some_and(|s| s.reset_on_idle);
    if !resets_idle || !e.is_established() {
        return true;
    }
    if resets.is_full() {
        return false;
    }
    resets.push(Reset {
        key: e.key,
        backend: e.backend,
        seqs,
    });
    true
}

/// Queues the RSTs of the expired entry in `slot` of `flows` if its rule
/// resets idle connections (as the sweep does), before a new connection
/// reuses the slot. Cold: only for expired entries met by a packet.
#[inline(never)]
pub(super) fn reset_expired(snap: &Snapshot, flows: &FlowTable, resets: &mut Resets, slot: Slot) {
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
    /// the backend, from the client) into `frame`, [`RESET_FRAME_LEN`]
    /// bytes. False, and nothing written, if the connection's rule or
    /// backend is gone from the snapshot (or `frame` is too short).
    pub fn write_reset(&self, r: &Reset, to: Dir, frame: &mut [u8]) -> bool {
        let snap = &*self.snap;
        if frame.len() < RESET_FRAME_LEN {
            return false;
        }
        let Some(svc) = snap.services.get(flow::key_service(r.key) as usize) else {
            return false;
        };
        let client = Ipv4Addr::from((r.key >> 32) as u32);
        let cport = (r.key >> 16) as u16;
        let (src_mac, dst_mac, src, sport, dst, dport, seq, ack) = match to {
            Dir::Client => (
                snap.mac,
                snap.gateway_mac,
                Ipv4Addr::from(svc.addr_raw),
                svc.port,
                client,
                cport,
                r.seqs.client_ack,
                r.seqs.client_next,
            ),
            Dir::Backend => {
                let Some(be) = snap.backends.get(r.backend as usize) else {
                    return false;
                };
                // A backend id freed and reused since is another backend.
                if be.status == BackendStatus::Removed || be.service != flow::key_service(r.key) {
                    return false;
                }
                (
                    snap.mac,
                    be.mac,
                    client,
                    cport,
                    Ipv4Addr::from(be.addr_raw),
                    be.port,
                    r.seqs.client_next,
                    r.seqs.client_ack,
                )
            }
        };
        let frame = &mut frame[..RESET_FRAME_LEN];
        {
            let mut eth = ethernet::Frame::new_unchecked(&mut frame[..]);
            eth.set_dst_addr(dst_mac);
            eth.set_src_addr(src_mac);
            eth.set_ethertype(ethernet::EtherType::Ipv4);
        }
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
        {
            let mut t = tcp::Packet::new_unchecked(&mut frame[ETH_LEN + IP_LEN..]);
            t.set_src_port(sport);
            t.set_dst_port(dport);
            t.set_seq_number(seq);
            t.set_ack_number(ack);
            t.set_header_len(TCP_LEN as u8);
            t.set_flags(tcp::FLAG_RST | tcp::FLAG_ACK);
            t.set_window_len(0);
            t.set_urgent_at(0);
            t.fill_checksum(src, dst);
        }
        true
    }
}
