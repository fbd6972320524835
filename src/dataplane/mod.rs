//! `dataplane`: the per-core packet path. Classify and rewrite (here), the
//! flow table (`flow`), backend selection (`select`), per-worker counters
//! (`counters`), the immutable snapshot the workers read (`snapshot`) and the
//! poll loop (`worker`).
//!
//! May import: `wire`, `ports`. Never the configuration file or the control
//! plane: what the workers need reaches them in the [`snapshot::Snapshot`].
//!
//! A burst goes through two passes, as DPDK's l3fwd and VPP do it:
//! 1. parse and classify every packet; packets that need no flow state (ARP,
//!    return traffic, inbound NAT rules, drops) are finished here, and for
//!    the connections' packets the flow key is hashed and both flow-table
//!    buckets are prefetched;
//! 2. in burst order, look up or create each pending connection and rewrite
//!    the packet, by which time its buckets are (mostly) in the cache; and
//!    handle ICMP messages, so that an error finds a connection that a packet
//!    before it in the same burst created.
//!
//! Nothing here locks, allocates, logs or formats.

pub mod counters;
pub mod flow;
pub mod fragment;
pub mod handoff;
pub mod neighbour;
pub mod reset;
pub mod select;
pub mod siit;
pub mod snapshot;
pub mod v6;
pub mod worker;

use crate::dataplane::counters::{Counters, DropReason, Event};
use crate::dataplane::flow::{Claim, Dir, FlowKey, FlowTable, Key6, Lookup};
use crate::dataplane::select::{Mode, NONE};
use crate::dataplane::snapshot::{
    BackendEntry, BackendStatus, Service, ServiceKind, Snapshot, SnapshotCell, TTL_DECREMENT_DELTA,
};
use crate::ports::{PacketBuf, BURST};
use crate::wire::ethernet::{self, EtherType};
use crate::wire::{arp, checksum, icmp, ipv4, tcp, udp, IpProtocol, MacAddr};
use std::sync::Arc;

/// Seed of the consistent hashes (Maglev, source-ip). Fixed, so that every
/// worker and every natrix instance maps a key to the same backend.
pub const HASH_SEED: u64 = 0x6e61_7472_6978_0001;

/// What to do with a packet after processing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Translated client -> backend: send toward the private side.
    ToPrivate,
    /// Translated backend -> client: send toward the public side.
    ToPublic,
    /// An answer (ARP reply, ICMP echo reply): send back out the receiving port.
    Reply,
    /// Another worker owns the packet's connection: hand it to that worker
    /// ([`handoff`]), untouched.
    Handoff(u16),
    /// A fragment ahead of its datagram's first fragment: the worker holds
    /// it (see [`fragment`]) for the datagram in this slot of its table.
    Hold(u16),
    /// Not sent; counted under the reason.
    Drop(DropReason),
}

/// Where a packet's headers lie in its frame: the IPv4 header at `l3`, the
/// TCP, UDP or ICMP header at `l4`, the end of the datagram (before any
/// link-layer padding) at `end`. Small and `Copy`: it travels by value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Offsets {
    /// At most 22 (Ethernet with two VLAN tags).
    l3: u16,
    /// At most 82 (`l3` and a 60-byte IPv4 header).
    l4: u16,
    /// Up to `l3` + 65535.
    end: u32,
}

impl Offsets {
    #[inline(always)]
    fn new(l3: usize, l4: usize, end: usize) -> Offsets {
        Offsets {
            l3: l3 as u16,
            l4: l4 as u16,
            end: end as u32,
        }
    }

    /// Start of the IPv4 header.
    #[inline(always)]
    fn l3(self) -> usize {
        self.l3 as usize
    }

    /// Start of the IPv4 payload.
    #[inline(always)]
    fn l4(self) -> usize {
        self.l4 as usize
    }

    /// End of the IPv4 datagram.
    #[inline(always)]
    fn end(self) -> usize {
        self.end as usize
    }
}

/// What the second pass does with a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Finished in the first pass.
    Done,
    /// A connection's packet: look up or create the connection, rewrite.
    Connect,
    /// A backend's packet: check its connection, rewrite.
    Return,
    /// An ICMP message (errors look connections up).
    Icmp,
    /// `Connect`, `Return` and `Icmp` of IPv6.
    Connect6,
    Return6,
    Icmp6,
    /// `Connect6` of a SIIT frontend: translated to IPv4 (`siit`).
    Siit,
    /// A backend's IPv4 packet to a SIIT source: translated to IPv6
    /// (`siit`), in a buffer grown at the front.
    SiitReturn,
}

/// Per-packet state carried from the first pass to the second.
#[derive(Clone, Copy)]
struct Pending {
    /// The IPv4 flow key (0 for IPv6, whose 20-byte key the second pass
    /// reads again from the packet: [`Family::key`]).
    key: u64,
    hash: u64,
    at: Offsets,
    /// The frontend's service (`Connect`), or the backend (`Return`).
    service: u16,
    /// TCP or UDP.
    proto: IpProtocol,
    /// The TCP flags; 0 for UDP, so that UDP is never `syn` and has no TCP state.
    tcp_flags: u8,
    stage: Stage,
    /// A first fragment's datagram slot ([`fragment::NONE`]: not a fragment).
    frag: u16,
}

impl Default for Pending {
    #[inline(always)]
    fn default() -> Pending {
        Pending {
            key: 0,
            hash: 0,
            at: Offsets::default(),
            service: 0,
            proto: IpProtocol::Tcp,
            tcp_flags: 0,
            stage: Stage::Done,
            frag: fragment::NONE,
        }
    }
}

impl Pending {
    /// A TCP SYN without ACK: the first packet of a connection.
    #[inline(always)]
    fn syn(&self) -> bool {
        self.tcp_flags & tcp::FLAG_SYN != 0 && self.tcp_flags & tcp::FLAG_ACK == 0
    }
}

/// Where a translated ICMP error goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ErrorTo {
    /// It came from the client side, about a reply a frontend sent: to the
    /// backend of the connection.
    Backend,
    /// It came from a backend, about a client's packet: to that client, from
    /// the frontend.
    Client,
}

/// The packet an ICMP or ICMPv6 error quotes: its addresses, ports and
/// protocol (TCP or UDP).
#[derive(Clone, Copy, Debug)]
struct QuotedTuple<A> {
    src: A,
    dst: A,
    sport: u16,
    dport: u16,
    proto: IpProtocol,
}

/// Which port of a TCP or UDP header a rewrite replaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PortSide {
    Src,
    Dst,
}

/// One worker's data path: its snapshot, flow table and counters.
pub struct Dataplane {
    cell: Arc<SnapshotCell>,
    snap: Arc<Snapshot>,
    flows: FlowTable,
    /// The IPv6 connections: a table of its own, with 28-byte entries;
    /// a token one until a snapshot has an IPv6 frontend.
    flows6: FlowTable<Key6>,
    flow_table_size: u32,
    now: u32,
    /// Until when (clock seconds) a mid-stream TCP miss may belong to a
    /// connection that the table-full path served without an entry: the
    /// last table-full packet's time plus its rule's idle timeout. 0: never.
    hashed_until: u32,
    /// Two-arm, and the burst came in on the public port: backends are not
    /// there, so nothing from a backend is accepted.
    from_public_arm: bool,
    /// Drop frames not sent to natrix's MAC (see [`Dataplane::set_mac_filter`]).
    mac_filter: bool,
    /// This worker's number, of `workers`: it owns the connections of the
    /// clients [`handoff::owner`] gives it, and hands the packets of others on.
    worker: u16,
    workers: u16,
    /// The burst was handed over by another worker: process all of it here.
    handed: bool,
    /// Idle connections the sweep found, waiting for their RSTs (`reset`).
    resets: reset::Resets,
    /// The datagrams whose fragments this worker forwards (`fragment`).
    frags: fragment::Table,
    /// Where the ARP and ND messages it sees go (the neighbour cache).
    neighbours: Option<Arc<neighbour::Link>>,
    /// The port of the bursts being processed.
    arm: neighbour::Arm,
    /// The SIIT source ports this worker gives its connections (`siit`).
    siit: siit::Sources,
    /// Set by a SIIT translation to IPv4: how far the frame's start moved.
    siit_shift: u16,
    /// Set by an ICMP error to translate to ICMPv6 (`siit`): the buffer is
    /// to grow before it is written.
    siit_error: Option<siit::PendingError>,
    pub counters: Counters,
}

impl Dataplane {
    /// A data path for worker number `worker`, with room for `flow_table_size` connections.
    pub fn new(cell: Arc<SnapshotCell>, flow_table_size: u32, worker: usize) -> Dataplane {
        let snap = cell.load();
        let seed = snap.seed ^ select::mix64(worker as u64 + 1);
        let mut counters = Counters::default();
        counters.ensure_backends(snap.backends.len());
        let mut flows = FlowTable::new(flow_table_size, select::mix64(seed ^ 0x5eed));
        if snap.resets_on_idle() {
            flows.track_seqs();
        }
        let mut flows6 = FlowTable::new(
            ipv6_table_size(&snap, flow_table_size),
            select::mix64(seed ^ 0x5eed6),
        );
        if snap.resets_on_idle() {
            flows6.track_seqs();
        }
        let mut frags = fragment::Table::new(snap.fragments, select::mix64(seed ^ 0xf4a9));
        frags.on_snapshot(&snap);
        let mut dp = Dataplane {
            flows,
            flows6,
            flow_table_size,
            frags,
            resets: reset::Resets::new(),
            neighbours: None,
            arm: neighbour::Arm::Public,
            cell,
            snap,
            now: 0,
            hashed_until: 0,
            from_public_arm: false,
            mac_filter: false,
            worker: worker as u16,
            workers: 1,
            handed: false,
            siit: siit::Sources::none(),
            siit_shift: 0,
            siit_error: None,
            counters,
        };
        dp.siit_setup();
        dp
    }

    /// Picks up a newer snapshot if the control plane published one. Call between bursts.
    #[inline]
    pub fn refresh(&mut self) {
        if self.cell.generation() != self.snap.generation {
            self.snap = self.cell.load();
            self.counters.ensure_backends(self.snap.backends.len());
            if self.snap.resets_on_idle() {
                self.flows.track_seqs();
            }
            let size6 = ipv6_table_size(&self.snap, self.flow_table_size);
            if FlowTable::<Key6>::capacity_for(size6) > self.flows6.capacity() {
                // The first IPv6 frontend: no IPv6 connection can be in
                // the token table, which is replaced (between bursts).
                let seed = self.flows6.hash(Key6::default());
                self.flows6 = FlowTable::new(size6, seed);
            }
            if self.snap.resets_on_idle() {
                self.flows6.track_seqs();
            }
            self.frags.on_snapshot(&self.snap);
            self.siit_setup();
        }
    }

    /// The snapshot in use.
    pub fn snapshot(&self) -> &Arc<Snapshot> {
        &self.snap
    }

    /// Sets the clock (seconds) used for timeouts.
    #[inline]
    pub fn set_clock(&mut self, now: u32) {
        self.now = now;
    }

    /// Says where the next bursts come from: `true` for the public port of a
    /// two-arm worker (where no backend is), `false` for its private port
    /// and for one-arm. Between bursts.
    #[inline]
    pub fn set_public_arm(&mut self, public_arm: bool) {
        self.from_public_arm = public_arm;
    }

    /// Sends what ARP and Neighbor Discovery messages say (sender address
    /// and MAC) to the neighbour cache through `link`.
    pub fn set_neighbour_link(&mut self, link: Arc<neighbour::Link>) {
        self.neighbours = Some(link);
    }

    /// Says which port the next bursts come from (for what ARP and ND
    /// messages say). Between bursts.
    #[inline]
    pub fn set_arm(&mut self, arm: neighbour::Arm) {
        self.arm = arm;
    }

    /// Queues a sighting for the neighbour cache, counted.
    #[inline(never)]
    fn see(&mut self, ip: std::net::IpAddr, mac: MacAddr, seen: neighbour::Seen) {
        let Some(link) = &self.neighbours else {
            return;
        };
        if mac == MacAddr::ZERO || mac.is_multicast() || ip.is_unspecified() {
            return;
        }
        let s = neighbour::Sighting {
            ip,
            mac,
            arm: self.arm,
            seen,
        };
        if link.seen(self.worker as usize, s) {
            self.counters.event(Event::NeighbourSeen);
        } else {
            self.counters.event(Event::NeighbourSeenLost);
        }
    }

    /// Drops, as `not-our-mac`, every frame whose destination MAC is not
    /// natrix's (broadcast is taken for ARP). On for real ports, which run
    /// promiscuous; off by default, so that `replay` takes captures made
    /// anywhere.
    pub fn set_mac_filter(&mut self, on: bool) {
        self.mac_filter = on;
    }

    /// Says how many workers share the traffic (this one being the number
    /// given to [`Dataplane::new`]): packets of connections that another
    /// worker owns get [`Verdict::Handoff`]. One (the default): none do.
    pub fn set_workers(&mut self, workers: usize) {
        self.workers = workers.clamp(1, u16::MAX as usize) as u16;
        self.siit_setup();
    }

    /// Says whether the next bursts were handed over by other workers
    /// (processed here whoever owns them, and counted as `handed-in`
    /// rather than received). Between bursts.
    #[inline]
    pub fn set_handed(&mut self, handed: bool) {
        self.handed = handed;
    }

    /// The worker that owns `client`'s connections, if not this one (and
    /// the packet was not handed over already).
    #[inline(always)]
    fn elsewhere(&self, client: u32) -> Option<Verdict> {
        if self.workers <= 1 || self.handed {
            return None;
        }
        let o = handoff::owner(client, self.workers as usize) as u16;
        (o != self.worker).then_some(Verdict::Handoff(o))
    }

    pub fn flows(&self) -> &FlowTable {
        &self.flows
    }

    /// The IPv6 connections' table.
    pub fn flows6(&self) -> &FlowTable<Key6> {
        &self.flows6
    }

    /// Frees the flow entries expired at the worker's clock in the next
    /// `buckets` buckets of the table ([`FlowTable::sweep_with`]), and
    /// queues the established connections of `tcp_reset_on_idle` rules
    /// among them for their RSTs (see `reset`; the sweep stops early when
    /// that queue is full). Between bursts only. Returns how many it freed.
    pub fn sweep(&mut self, buckets: usize) -> usize {
        let snap = &*self.snap;
        let resets = &mut self.resets;
        let freed = self.flows.sweep_with(
            buckets,
            self.now,
            |e| snap.flow_timeout(e),
            |e, seqs| reset::on_expired(snap, resets, e, seqs),
        );
        freed
            + self.flows6.sweep_with(
                buckets,
                self.now,
                |e| snap.flow_timeout(e),
                |e, seqs| reset::on_expired(snap, resets, e, seqs),
            )
    }

    /// The connections in the flow table: the live ones, and those that
    /// expired since the sweep last passed them.
    pub fn active_connections(&self) -> u64 {
        (self.flows.occupied() + self.flows6.occupied()) as u64
    }

    /// Processes a burst in place. `verdicts[i]` says what to do with `bufs[i]`;
    /// drops are already counted.
    pub fn process<B: PacketBuf>(&mut self, bufs: &mut [B], verdicts: &mut [Verdict; BURST]) {
        let n = bufs.len().min(BURST);
        if self.handed {
            self.counters.events[Event::HandedIn as usize] += n as u64;
        } else {
            self.counters.rx += n as u64;
        }
        let mut pending = [Pending::default(); BURST];
        for i in 0..n {
            verdicts[i] = self.classify(bufs[i].data_mut(), &mut pending[i]);
        }
        for i in 0..n {
            match pending[i].stage {
                Stage::Done => {}
                Stage::Connect => verdicts[i] = self.connect::<V4>(bufs[i].data_mut(), &pending[i]),
                Stage::Return => verdicts[i] = self.reply::<V4>(bufs[i].data_mut(), &pending[i]),
                Stage::Icmp => {
                    verdicts[i] = self.icmp(bufs[i].data_mut(), pending[i].at);
                    if let Some(e) = self.siit_error.take() {
                        verdicts[i] = if bufs[i].prepend(2 * siit::GROWTH) {
                            self.siit_error4(bufs[i].data_mut(), pending[i].at, e)
                        } else {
                            Verdict::Drop(DropReason::SiitNoHeadroom)
                        };
                    }
                }
                Stage::Connect6 => {
                    verdicts[i] = self.connect::<V6>(bufs[i].data_mut(), &pending[i])
                }
                Stage::Siit => {
                    verdicts[i] = self.connect::<S6>(bufs[i].data_mut(), &pending[i]);
                    if self.siit_shift != 0 {
                        // Translated to IPv4: the frame starts further on.
                        let moved = bufs[i].adj(usize::from(self.siit_shift));
                        debug_assert!(moved);
                        self.siit_shift = 0;
                    }
                }
                Stage::Return6 => verdicts[i] = self.reply::<V6>(bufs[i].data_mut(), &pending[i]),
                Stage::Icmp6 => {
                    verdicts[i] = self.icmp6(bufs[i].data_mut(), pending[i].at);
                    if self.siit_shift != 0 {
                        let moved = bufs[i].adj(usize::from(self.siit_shift));
                        debug_assert!(moved);
                        self.siit_shift = 0;
                    }
                }
                Stage::SiitReturn => {
                    verdicts[i] = match self.siit_connection(&pending[i]) {
                        Err(v) => v,
                        Ok(key) if bufs[i].prepend(siit::GROWTH) => {
                            self.siit_return(bufs[i].data_mut(), &pending[i], key)
                        }
                        Ok(_) => Verdict::Drop(DropReason::SiitNoHeadroom),
                    }
                }
            }
            if pending[i].frag != fragment::NONE {
                verdicts[i] = self.first_fragment(bufs[i].data(), &pending[i], verdicts[i]);
            }
        }
        for (v, b) in verdicts[..n].iter_mut().zip(bufs.iter()) {
            *v = next_hop_checked(*v, b.data());
            if let Verdict::Drop(r) = v {
                self.counters.drop(*r);
            }
        }
    }

    /// First pass: parse, classify, finish what needs no flow state.
    #[inline(always)]
    fn classify(&mut self, data: &mut [u8], p: &mut Pending) -> Verdict {
        use DropReason::*;
        let snap = &*self.snap;
        let Ok(eth) = ethernet::Frame::new_checked(&*data) else {
            return Verdict::Drop(MalformedEth);
        };
        let (l3, ethertype) = match eth.l3_offset() {
            Ok(x) => x,
            Err(crate::wire::Error::Unsupported) => return Verdict::Drop(VlanUnsupported),
            Err(_) => return Verdict::Drop(MalformedEth),
        };
        // Ports run promiscuous: of what natrix would act on (IPv4, ARP),
        // take only what is sent to it, so that two appliances on one segment
        // do not both forward. Other frames keep their own drop reason.
        let dst_mac = eth.dst_addr();
        let ours = !self.mac_filter || dst_mac == snap.mac;
        match ethertype {
            EtherType::Ipv4 if ours => {}
            EtherType::Arp if ours || dst_mac == MacAddr::BROADCAST => {
                if self.neighbours.is_some() {
                    self.see_arp(&data[l3..]);
                }
                return answer_arp(&self.snap, &mut self.counters, data, l3);
            }
            // Neighbor Discovery comes to a multicast MAC (33:33:...).
            EtherType::Ipv6 if ours || dst_mac.is_multicast() => {
                return self.classify6(data, l3, !ours, p)
            }
            EtherType::Ipv4 | EtherType::Arp | EtherType::Ipv6 => return Verdict::Drop(NotOurMac),
            _ => return Verdict::Drop(UnsupportedEthertype),
        }
        let Ok(ip) = ipv4::Packet::new_checked(&data[l3..]) else {
            return Verdict::Drop(MalformedIp);
        };
        if !ip.verify_checksum() {
            return Verdict::Drop(IpChecksum);
        }
        let src = ip.src_addr_raw();
        let dst = ip.dst_addr_raw();
        if is_martian(src) {
            return Verdict::Drop(MartianSource);
        }
        let at = Offsets::new(
            l3,
            l3 + ip.header_len() as usize,
            l3 + ip.total_len() as usize,
        );
        let ttl = ip.ttl();
        let proto = ip.protocol();
        let mut frag = fragment::NONE;
        if ip.is_fragment() {
            match self.fragment_v4(data, at, ttl) {
                fragment::Step::First(slot) => frag = slot,
                fragment::Step::Done(v) => return v,
            }
            p.frag = frag;
        }
        let snap = &*self.snap;
        let l4 = &data[at.l4()..at.end()];
        let (sport, dport, flags) = match proto {
            IpProtocol::Tcp => match tcp::Packet::new_checked(l4) {
                Ok(t) => (t.src_port(), t.dst_port(), t.flags()),
                Err(_) => return Verdict::Drop(MalformedTcp),
            },
            IpProtocol::Udp => match udp::Packet::new_checked(l4) {
                Ok(u) => (u.src_port(), u.dst_port(), 0),
                // A first fragment: its length covers the whole datagram
                // (`fragment_v4` checked the header).
                Err(_) if frag != fragment::NONE => {
                    let u = udp::Packet::new_unchecked(l4);
                    (u.src_port(), u.dst_port(), 0)
                }
                Err(_) => return Verdict::Drop(MalformedUdp),
            },
            IpProtocol::Icmp => {
                // In the second pass, in burst order (see the module's doc).
                p.at = at;
                p.stage = Stage::Icmp;
                return Verdict::Drop(MalformedIcmp);
            }
            _ => return Verdict::Drop(UnsupportedProtocol),
        };
        if let Some(s) = snap.frontend(dst, dport, proto) {
            if ttl <= 1 {
                return Verdict::Drop(TtlExpired);
            }
            let svc = &snap.services[s as usize];
            if svc.kind == ServiceKind::Nat {
                // Stateless, so checked on every packet (a rule's connections
                // are checked once, when their entry is created).
                if snap.is_local(src) {
                    return Verdict::Drop(OwnSource);
                }
                let id = svc.members[0];
                let be = &snap.backends[id as usize];
                rewrite_inbound(data, at, proto, be, snap.mac);
                self.counters.event(Event::NatRule);
                bump(&mut self.counters.backend_packets, id);
                return Verdict::ToPrivate;
            }
            if let Some(v) = self.elsewhere(src) {
                return v;
            }
            let key = flow::flow_key(src, sport, s);
            let hash = self.flows.hash(key);
            self.flows.prefetch(hash);
            *p = Pending {
                key,
                hash,
                at,
                service: s,
                proto,
                tcp_flags: flags,
                stage: Stage::Connect,
                frag,
            };
            return Verdict::ToPrivate;
        }
        if let Some(id) = snap.return_backend(src, sport, proto) {
            if self.from_public_arm {
                return Verdict::Drop(BackendOnPublic);
            }
            if is_martian(dst) {
                return Verdict::Drop(MartianDestination);
            }
            if ttl <= 1 {
                return Verdict::Drop(TtlExpired);
            }
            let be = &snap.backends[id as usize];
            let svc = &snap.services[be.service as usize];
            if svc.siit {
                // To a SIIT source port: translated to IPv6 (`siit`).
                let Some(a) = snap.siit_index(dst) else {
                    return Verdict::Drop(ReturnNoFlow);
                };
                if frag != fragment::NONE {
                    return Verdict::Drop(SiitFragment);
                }
                if at.l4() - at.l3() != 20 {
                    return Verdict::Drop(SiitUntranslatable);
                }
                if let Some(v) = self.elsewhere(siit::owner_input(dport)) {
                    return v;
                }
                *p = Pending {
                    key: ((a as u64) << 16) | u64::from(dport),
                    hash: 0,
                    at,
                    service: id,
                    proto,
                    tcp_flags: flags,
                    stage: Stage::SiitReturn,
                    frag,
                };
                return Verdict::ToPublic;
            }
            if svc.kind == ServiceKind::Nat {
                // A NAT rule keeps no state: both ways are translated as
                // they come.
                rewrite_return(data, at, proto, be, svc.addr_raw, svc.port, snap);
                self.counters.event(Event::NatRule);
                bump(&mut self.counters.backend_packets, id);
                return Verdict::ToPublic;
            }
            if let Some(v) = self.elsewhere(dst) {
                return v;
            }
            // The client's connection, looked up in the second pass.
            let key = flow::flow_key(dst, dport, be.service);
            let hash = self.flows.hash(key);
            self.flows.prefetch(hash);
            *p = Pending {
                key,
                hash,
                at,
                service: id,
                proto,
                tcp_flags: flags,
                stage: Stage::Return,
                frag,
            };
            return Verdict::ToPublic;
        }
        Verdict::Drop(NoService)
    }

    /// An ICMP message (second pass), its IPv4 header checked by the first:
    /// echo requests to a local address are answered; errors about a TCP or
    /// UDP packet of a frontend or a backend are translated and passed on; the
    /// rest is dropped. Rare, so out of line.
    #[inline(never)]
    fn icmp(&mut self, data: &mut [u8], at: Offsets) -> Verdict {
        let (ttl, src, dst) = {
            let ip = ipv4::Packet::new_unchecked(&data[at.l3()..at.end()]);
            (ip.ttl(), ip.src_addr_raw(), ip.dst_addr_raw())
        };
        if self.snap.is_local(src) {
            return Verdict::Drop(DropReason::OwnSource);
        }
        let message = &data[at.l4()..at.end()];
        let msg_type = match icmp::Packet::new_checked(message) {
            Ok(m) => m.msg_type(),
            Err(_) => return Verdict::Drop(DropReason::MalformedIcmp),
        };
        if !msg_type.is_error() {
            return answer_echo(&self.snap, &mut self.counters, data, at, dst);
        }
        let Some(q) = icmp::Quoted::parse(message) else {
            return Verdict::Drop(DropReason::MalformedIcmp);
        };
        if !icmp::Packet::new_unchecked(message).verify_checksum() {
            return Verdict::Drop(DropReason::MalformedIcmp);
        }
        if !matches!(q.proto, IpProtocol::Tcp | IpProtocol::Udp) {
            return Verdict::Drop(DropReason::IcmpUnsupported);
        }
        if let Some(a) = self.snap.siit_index(q.src) {
            // About a packet from a SIIT source: translated to ICMPv6 once
            // the buffer has grown (`process`).
            let e = self.siit_error4_check(&q, a, dst, ttl, at, message);
            return match e {
                Ok(e) => {
                    self.siit_error = Some(e);
                    Verdict::ToPublic
                }
                Err(v) => v,
            };
        }
        let quoted = QuotedTuple {
            src: q.src,
            dst: q.dst,
            sport: q.sport,
            dport: q.dport,
            proto: q.proto,
        };
        let (id, to, fe_addr, fe_port) = match self.error_route::<V4>(&quoted, dst) {
            Ok(r) => r,
            Err(v) => return v,
        };
        let snap = self.snap.clone();
        let snap = &*snap;
        let be = &snap.backends[id as usize];
        if ttl <= 1 {
            return Verdict::Drop(DropReason::TtlExpired);
        }
        translate_icmp_error(data, at, &q, to, be, fe_addr, fe_port);
        let mut eth = ethernet::Frame::new_unchecked(&mut data[..]);
        eth.set_src_addr(snap.mac);
        self.counters.event(Event::IcmpErrorForwarded);
        match to {
            ErrorTo::Backend => {
                eth.set_dst_addr(be.mac);
                Verdict::ToPrivate
            }
            ErrorTo::Client => {
                eth.set_dst_addr(snap.gateway_mac);
                Verdict::ToPublic
            }
        }
    }

    /// Where an ICMP or ICMPv6 error about the `quoted` packet goes, the
    /// error being addressed to `dst`: to the backend of the connection
    /// when it came from the client side about a frontend's reply, or to
    /// the client, from the frontend, when it came from the private side
    /// about a client's packet. Returns the backend id, the direction, and
    /// the frontend's address and port; or the verdict (a drop, or the
    /// handoff to the connection's owner). An error does not refresh its
    /// connection.
    #[inline(never)]
    fn error_route<F: Family>(
        &mut self,
        q: &QuotedTuple<F::Addr>,
        dst: F::Addr,
    ) -> Result<(u16, ErrorTo, F::Addr, u16), Verdict> {
        use DropReason::{BackendOnPublic, IcmpNoFlow, IcmpUnsupported, MartianDestination};
        // Either way, an error goes to the source of the packet it quotes.
        if dst != q.src {
            return Err(Verdict::Drop(IcmpUnsupported));
        }
        // Its own handle on the snapshot (errors are rare): the flow table
        // is looked up while backend entries are borrowed.
        let snap = self.snap.clone();
        let snap = &*snap;
        if let Some(s) = F::frontend(snap, q.src, q.sport, q.proto) {
            // From the client side, about a packet a frontend sent (a reply):
            // to the backend of the connection.
            let svc = &snap.services[s as usize];
            let id = if svc.kind == ServiceKind::Nat {
                svc.members[0]
            } else {
                if let Some(v) = self.elsewhere(F::owner_input(q.dst)) {
                    return Err(v);
                }
                // The connection, if live.
                let key = F::flow_key(q.dst, q.dport, s);
                let flows = F::pick(&self.flows, &self.flows6);
                let Lookup::Hit(slot) = flows.lookup(key, flows.hash(key)) else {
                    return Err(Verdict::Drop(IcmpNoFlow));
                };
                let e = flows.get(slot);
                if e.is_expired(self.now, e.timeout(&svc.timeouts)) {
                    return Err(Verdict::Drop(IcmpNoFlow));
                }
                e.backend
            };
            return match snap.backends.get(id as usize) {
                Some(be) if be.status != BackendStatus::Removed => {
                    Ok((id, ErrorTo::Backend, q.src, q.sport))
                }
                _ => Err(Verdict::Drop(IcmpNoFlow)),
            };
        }
        let Some(id) = F::return_backend(snap, q.dst, q.dport, q.proto) else {
            return Err(Verdict::Drop(IcmpUnsupported));
        };
        // From a backend (or a router on the private side), about a packet
        // it was sent (a client's): to the client, from the frontend. Never
        // from the public side of two-arm, nor to a martian.
        if self.from_public_arm {
            return Err(Verdict::Drop(BackendOnPublic));
        }
        if F::is_martian_destination(dst) {
            return Err(Verdict::Drop(MartianDestination));
        }
        let be = &snap.backends[id as usize];
        let svc = &snap.services[be.service as usize];
        if svc.siit {
            return Err(Verdict::Drop(IcmpUnsupported));
        }
        if svc.kind != ServiceKind::Nat {
            if let Some(v) = self.elsewhere(F::owner_input(q.src)) {
                return Err(v);
            }
            // Only about a connection natrix tracks, as for the backend's
            // own packets.
            let key = F::flow_key(q.src, q.sport, be.service);
            let hash = F::pick(&self.flows, &self.flows6).hash(key);
            if !self.tracked::<F>(key, hash, id, None)
                && !self.hashed_to::<F>(svc, key, q.proto, id)
            {
                return Err(Verdict::Drop(IcmpNoFlow));
            }
        }
        Ok((id, ErrorTo::Client, F::frontend_addr(svc), svc.port))
    }

    /// Second pass: find or create the connection, then rewrite.
    #[inline(always)]
    fn connect<F: Family>(&mut self, data: &mut [u8], p: &Pending) -> Verdict {
        let snap = &*self.snap;
        let svc = &snap.services[p.service as usize];
        let now = self.now;
        let key = F::key(p, data, snap);
        let syn = p.syn();

        let (slot, claim) = match F::pick(&self.flows, &self.flows6).lookup(key, p.hash) {
            Lookup::Hit(slot) => {
                let e = *F::pick(&self.flows, &self.flows6).get(slot);
                let timeout = e.timeout(&svc.timeouts);
                let status = snap
                    .backends
                    .get(e.backend as usize)
                    .map_or(BackendStatus::Removed, |b| b.status);
                if !e.is_expired(now, timeout) {
                    let gone = matches!(status, BackendStatus::Removed | BackendStatus::DownDrop);
                    // A SYN on a closing (or client-closed) entry is a new
                    // connection reusing the client port: it is chosen afresh
                    // below (so a draining or down backend takes no new
                    // connection this way).
                    let reopen = syn && e.reopens_on_syn();
                    if !gone && !reopen {
                        // Established: the common case.
                        F::pick_mut(&mut self.flows, &mut self.flows6)
                            .get_mut(slot)
                            .seen(now, Dir::Client, p.tcp_flags);
                        if svc.reset_on_idle {
                            self.track_seqs::<F>(slot, data, p);
                        }
                        self.counters.event(Event::FlowHit);
                        return self.forward::<F>(data, p, e.backend, key);
                    }
                    if matches!(p.proto, IpProtocol::Tcp) && !syn {
                        // The backend is gone (or down, and the pool drops its
                        // connections), and with it the connection.
                        F::pick_mut(&mut self.flows, &mut self.flows6).remove(slot);
                        return Verdict::Drop(if status == BackendStatus::DownDrop {
                            DropReason::BackendDown
                        } else {
                            DropReason::BackendRemoved
                        });
                    }
                    // A new SYN, or UDP: start over on another backend.
                    (Some(slot), Claim::Free)
                } else {
                    // Expired before the sweep came by. A SYN opens a new
                    // connection on this port, which a RST could hit.
                    if svc.reset_on_idle && !syn {
                        F::reset_expired(snap, &self.flows, &self.flows6, &mut self.resets, slot);
                    }
                    (Some(slot), Claim::Expired)
                }
            }
            Lookup::Miss(free) => {
                let found = (free.map(|s| (s, Claim::Free))).or_else(|| {
                    F::pick_mut(&mut self.flows, &mut self.flows6)
                        .reclaim(p.hash, now, |e| snap.flow_timeout(e))
                });
                if let Some((s, Claim::Expired)) = found {
                    // Another connection's entry, about to be overwritten.
                    F::reset_expired(snap, &self.flows, &self.flows6, &mut self.resets, s);
                }
                found.map_or((None, Claim::Free), |(s, c)| (Some(s), c))
            }
        };

        // Only a new connection comes this far (or a packet served without an
        // entry): its client is checked once, here. natrix's own addresses
        // are no clients (hairpinning is not supported).
        if F::own_client(snap, &key) {
            return Verdict::Drop(DropReason::OwnSource);
        }
        // The consistent hash of the rule: the 5-tuple (Maglev, and random mode
        // when the table is full), or the client for the affinity modes.
        let hash = F::rule_hash(svc, &key, p.proto);
        let Some(slot) = slot else {
            // No room: serve by hash without an entry, so that every packet of
            // the connection still meets the same backend (and the affinity
            // modes keep their affinity).
            if F::siit_key(&key).is_some() {
                // A SIIT connection needs its entry: its source port is
                // found again through it.
                return Verdict::Drop(DropReason::SiitTableFull);
            }
            self.counters.event(Event::TableFull);
            self.hashed_until = self
                .hashed_until
                .max(now.saturating_add(svc.timeouts.established));
            let b = svc.pick_hash(hash);
            if b == NONE {
                return Verdict::Drop(no_backend(svc));
            }
            return self.forward::<F>(data, p, b, key);
        };
        let midstream = matches!(p.proto, IpProtocol::Tcp) && !syn;
        // A mid-stream miss in random or source-ip mode is a stray, unless
        // the table was full lately: then it may belong to a connection the
        // table-full path served by hash, and it goes where that path sent
        // it (and gets an entry, so that it is tracked again from now on).
        let hashed = midstream
            && (svc.mode == Mode::Maglev || (self.hashed_until != 0 && now <= self.hashed_until));
        if midstream && !hashed {
            return Verdict::Drop(DropReason::NoFlow);
        }
        let b = match svc.mode {
            // A draw by weight, from the connection's hash keyed with the
            // appliance's seed: as good as random to anyone without the seed,
            // and the same on every worker, so that a replay's result does not
            // depend on which worker a connection meets (nor does `natrix
            // gen`'s prediction of it).
            Mode::Random if !hashed => svc.pick_random(select::mix64(hash ^ snap.seed)),
            _ => svc.pick_hash(hash),
        };
        if b == NONE {
            return Verdict::Drop(no_backend(svc));
        }
        F::pick_mut(&mut self.flows, &mut self.flows6).put(
            slot,
            key,
            b,
            flow::initial_flags(p.tcp_flags),
            now,
        );
        if svc.reset_on_idle {
            self.track_seqs::<F>(slot, data, p);
        }
        match claim {
            Claim::Free => {}
            Claim::Expired => self.counters.event(Event::ExpiredReused),
            Claim::TransitoryEvicted => self.counters.event(Event::TransitoryEvicted),
        }
        if midstream {
            self.counters.event(Event::MidstreamHashed);
        }
        self.counters.event(Event::ConnectionCreated);
        bump(&mut self.counters.backend_connections, b);
        self.forward::<F>(data, p, b, key)
    }

    /// Second pass of a backend's packet: translated only for a connection
    /// natrix tracks, which it refreshes, or, while the table was full
    /// lately, one that the rule's consistent hash gives to that backend
    /// (the table-full path served it without an entry). Anything else from
    /// a backend's address and port is spoofed, or late.
    #[inline(always)]
    fn reply<F: Family>(&mut self, data: &mut [u8], p: &Pending) -> Verdict {
        let id = p.service;
        let key = F::key(p, data, &self.snap);
        let service = self.snap.backends[id as usize].service;
        if !self.tracked::<F>(key, p.hash, id, Some(p.tcp_flags))
            && !self.hashed_to::<F>(&self.snap.services[service as usize], key, p.proto, id)
        {
            return Verdict::Drop(DropReason::ReturnNoFlow);
        }
        let snap = &*self.snap;
        let be = &snap.backends[id as usize];
        let svc = &snap.services[service as usize];
        F::rewrite_return(data, p.at, p.proto, be, svc, snap);
        self.counters.event(Event::Return);
        bump(&mut self.counters.backend_packets, id);
        Verdict::ToPublic
    }

    /// Whether the flow table holds a live connection under `key` to backend
    /// `id`; `seen` records a packet of it from the backend, with these TCP
    /// flags (0 for UDP), at the worker's clock.
    #[inline(always)]
    fn tracked<F: Family>(&mut self, key: F::Key, hash: u64, id: u16, seen: Option<u8>) -> bool {
        let Lookup::Hit(slot) = F::pick(&self.flows, &self.flows6).lookup(key, hash) else {
            return false;
        };
        let snap = &*self.snap;
        let now = self.now;
        let e = F::pick_mut(&mut self.flows, &mut self.flows6).get_mut(slot);
        if e.backend != id || e.is_expired(now, snap.flow_timeout(e)) {
            return false;
        }
        if let Some(flags) = seen {
            e.seen(now, Dir::Backend, flags);
        }
        true
    }

    /// Whether natrix may have served `key`'s connection by hash without an
    /// entry (the table was full lately) and the rule's consistent hash gives
    /// it to backend `id`. Not otherwise, in any mode: a Maglev connection
    /// has an entry too, from its client's first packet (a mid-stream one
    /// included), and a backend's packet for none is spoofed.
    #[inline(always)]
    fn hashed_to<F: Family>(&self, svc: &Service, key: F::Key, proto: IpProtocol, id: u16) -> bool {
        let by_hash = self.hashed_until != 0 && self.now <= self.hashed_until;
        by_hash && svc.pick_hash(F::rule_hash(svc, &key, proto)) == id
    }

    /// Takes in the sequence numbers of a client segment of the connection
    /// in `slot`, for its RSTs when it goes idle (`reset`).
    #[inline(always)]
    fn track_seqs<F: Family>(&mut self, slot: flow::Slot, data: &[u8], p: &Pending) {
        if let Some((seq, len, flags, ack)) = reset::segment_numbers(&data[p.at.l4()..p.at.end()]) {
            F::pick_mut(&mut self.flows, &mut self.flows6).track(slot, seq, len, flags, ack);
        }
    }

    #[inline(always)]
    fn forward<F: Family>(&mut self, data: &mut [u8], p: &Pending, b: u16, key: F::Key) -> Verdict {
        if let Some(k6) = F::siit_key(&key) {
            return self.siit_forward(data, p, b, k6);
        }
        let snap = &*self.snap;
        let be = &snap.backends[b as usize];
        F::rewrite_inbound(data, p.at, p.proto, be, snap.mac);
        self.counters.event(Event::Inbound);
        bump(&mut self.counters.backend_packets, b);
        Verdict::ToPrivate
    }
}

/// What the connection path needs of an address family: its flow table and
/// keys, its rule hashes and its rewrites. [`Dataplane::connect`] and
/// [`Dataplane::reply`] are written once over it; `V4` and `V6` compile
/// to their own copies.
trait Family {
    type Key: FlowKey;
    /// An address of the family, as a number.
    type Addr: Copy + PartialEq;
    /// The service of a frontend endpoint.
    fn frontend(snap: &Snapshot, addr: Self::Addr, port: u16, proto: IpProtocol) -> Option<u16>;
    /// The backend id of a backend endpoint.
    fn return_backend(
        snap: &Snapshot,
        addr: Self::Addr,
        port: u16,
        proto: IpProtocol,
    ) -> Option<u16>;
    /// The flow key of `client`'s connection from `port` to `service`.
    fn flow_key(client: Self::Addr, port: u16, service: u16) -> Self::Key;
    /// The key of a connection that may be SIIT's: IPv6 only (None, and
    /// compiled away, for IPv4).
    fn siit_key(key: &Self::Key) -> Option<Key6>;
    /// What chooses the owner worker of `client`'s connections.
    fn owner_input(client: Self::Addr) -> u32;
    /// A destination no translated packet may have.
    fn is_martian_destination(addr: Self::Addr) -> bool;
    /// The frontend's address of `svc`.
    fn frontend_addr(svc: &Service) -> Self::Addr;
    /// This family's of the two tables (taking both fields, so that the
    /// caller keeps its other fields, such as the snapshot, borrowed).
    fn pick<'a>(v4: &'a FlowTable, v6: &'a FlowTable<Key6>) -> &'a FlowTable<Self::Key>;
    fn pick_mut<'a>(
        v4: &'a mut FlowTable,
        v6: &'a mut FlowTable<Key6>,
    ) -> &'a mut FlowTable<Self::Key>;
    /// The key of a pending packet's connection.
    fn key(p: &Pending, data: &[u8], snap: &Snapshot) -> Self::Key;
    /// Whether the connection's client is one of natrix's own addresses.
    fn own_client(snap: &Snapshot, key: &Self::Key) -> bool;
    /// The rule's consistent hash for the connection ([`rule_hash`]).
    fn rule_hash(svc: &Service, key: &Self::Key, proto: IpProtocol) -> u64;
    fn rewrite_inbound(
        data: &mut [u8],
        at: Offsets,
        proto: IpProtocol,
        be: &BackendEntry,
        mac: MacAddr,
    );
    fn rewrite_return(
        data: &mut [u8],
        at: Offsets,
        proto: IpProtocol,
        be: &BackendEntry,
        svc: &Service,
        snap: &Snapshot,
    );
    /// Queues the RSTs of the expired entry in `slot`, about to be reused
    /// (`tcp_reset_on_idle`).
    fn reset_expired(
        snap: &Snapshot,
        v4: &FlowTable,
        v6: &FlowTable<Key6>,
        resets: &mut reset::Resets,
        slot: flow::Slot,
    );
}

/// IPv4: `u64` keys ([`flow::flow_key`]), computed in the first pass.
struct V4;

impl Family for V4 {
    type Key = u64;
    type Addr = u32;

    fn frontend(snap: &Snapshot, addr: u32, port: u16, proto: IpProtocol) -> Option<u16> {
        snap.frontend(addr, port, proto)
    }

    fn return_backend(snap: &Snapshot, addr: u32, port: u16, proto: IpProtocol) -> Option<u16> {
        snap.return_backend(addr, port, proto)
    }

    #[inline(always)]
    fn siit_key(_: &u64) -> Option<Key6> {
        None
    }

    fn flow_key(client: u32, port: u16, service: u16) -> u64 {
        flow::flow_key(client, port, service)
    }

    fn owner_input(client: u32) -> u32 {
        client
    }

    fn is_martian_destination(addr: u32) -> bool {
        is_martian(addr)
    }

    fn frontend_addr(svc: &Service) -> u32 {
        svc.addr_raw
    }

    #[inline(always)]
    fn pick<'a>(v4: &'a FlowTable, _: &'a FlowTable<Key6>) -> &'a FlowTable {
        v4
    }

    #[inline(always)]
    fn pick_mut<'a>(v4: &'a mut FlowTable, _: &'a mut FlowTable<Key6>) -> &'a mut FlowTable {
        v4
    }

    #[inline(always)]
    fn key(p: &Pending, _: &[u8], _: &Snapshot) -> u64 {
        p.key
    }

    #[inline(always)]
    fn own_client(snap: &Snapshot, key: &u64) -> bool {
        snap.is_local((key >> 32) as u32)
    }

    #[inline(always)]
    fn rule_hash(svc: &Service, key: &u64, proto: IpProtocol) -> u64 {
        rule_hash(svc, (key >> 32) as u32, (key >> 16) as u16, proto)
    }

    #[inline(always)]
    fn rewrite_inbound(
        data: &mut [u8],
        at: Offsets,
        proto: IpProtocol,
        be: &BackendEntry,
        mac: MacAddr,
    ) {
        rewrite_inbound(data, at, proto, be, mac)
    }

    #[inline(always)]
    fn rewrite_return(
        data: &mut [u8],
        at: Offsets,
        proto: IpProtocol,
        be: &BackendEntry,
        svc: &Service,
        snap: &Snapshot,
    ) {
        rewrite_return(data, at, proto, be, svc.addr_raw, svc.port, snap)
    }

    #[inline(always)]
    fn reset_expired(
        snap: &Snapshot,
        v4: &FlowTable,
        _: &FlowTable<Key6>,
        resets: &mut reset::Resets,
        slot: flow::Slot,
    ) {
        reset::reset_expired(snap, v4, resets, slot);
    }
}

/// IPv6: [`Key6`] keys, read again from the packet in the second pass (the
/// client is the source of a client's packet, the destination of a
/// backend's). `SIIT`: the connections of a SIIT frontend, whose packets
/// are translated to IPv4 ([`siit`]); a type of its own, so that the plain
/// IPv6 path does not test for it.
struct V6Of<const SIIT: bool>;

/// IPv6 connections.
type V6 = V6Of<false>;
/// SIIT connections: IPv6 ones whose backends are IPv4.
type S6 = V6Of<true>;

impl<const SIIT: bool> Family for V6Of<SIIT> {
    type Key = Key6;
    type Addr = u128;

    fn frontend(snap: &Snapshot, addr: u128, port: u16, proto: IpProtocol) -> Option<u16> {
        snap.frontend6(addr, port, proto)
    }

    fn return_backend(snap: &Snapshot, addr: u128, port: u16, proto: IpProtocol) -> Option<u16> {
        snap.return_backend6(addr, port, proto)
    }

    #[inline(always)]
    fn siit_key(key: &Key6) -> Option<Key6> {
        SIIT.then_some(*key)
    }

    fn flow_key(client: u128, port: u16, service: u16) -> Key6 {
        Key6::new(client, port, service)
    }

    fn owner_input(client: u128) -> u32 {
        v6::owner_input(client)
    }

    fn is_martian_destination(addr: u128) -> bool {
        v6::is_martian_destination(addr)
    }

    fn frontend_addr(svc: &Service) -> u128 {
        svc.addr6
    }

    #[inline(always)]
    fn pick<'a>(_: &'a FlowTable, v6: &'a FlowTable<Key6>) -> &'a FlowTable<Key6> {
        v6
    }

    #[inline(always)]
    fn pick_mut<'a>(_: &'a mut FlowTable, v6: &'a mut FlowTable<Key6>) -> &'a mut FlowTable<Key6> {
        v6
    }

    #[inline(always)]
    fn key(p: &Pending, data: &[u8], snap: &Snapshot) -> Key6 {
        let l4 = p.at.l4();
        if p.stage == Stage::Return6 {
            let client = v6::addr_at(data, p.at.l3() + 24);
            let cport = u16::from_be_bytes([data[l4 + 2], data[l4 + 3]]);
            Key6::new(client, cport, snap.backends[p.service as usize].service)
        } else {
            let client = v6::addr_at(data, p.at.l3() + 8);
            let cport = u16::from_be_bytes([data[l4], data[l4 + 1]]);
            Key6::new(client, cport, p.service)
        }
    }

    #[inline(always)]
    fn own_client(snap: &Snapshot, key: &Key6) -> bool {
        snap.is_local6(key.client())
    }

    #[inline(always)]
    fn rule_hash(svc: &Service, key: &Key6, proto: IpProtocol) -> u64 {
        rule_hash6(svc, key.client(), key.port, proto)
    }

    #[inline(always)]
    fn rewrite_inbound(
        data: &mut [u8],
        at: Offsets,
        proto: IpProtocol,
        be: &BackendEntry,
        mac: MacAddr,
    ) {
        v6::rewrite_inbound6(data, at, proto, be, mac)
    }

    #[inline(always)]
    fn rewrite_return(
        data: &mut [u8],
        at: Offsets,
        proto: IpProtocol,
        be: &BackendEntry,
        svc: &Service,
        snap: &Snapshot,
    ) {
        v6::rewrite_return6(data, at, proto, be, svc, snap)
    }

    #[inline(always)]
    fn reset_expired(
        snap: &Snapshot,
        _: &FlowTable,
        v6: &FlowTable<Key6>,
        resets: &mut reset::Resets,
        slot: flow::Slot,
    ) {
        reset::reset_expired(snap, v6, resets, slot);
    }
}

/// The size of the IPv6 flow table for `snap`: `flow_table_size` once it
/// has an IPv6 frontend, else a token table.
fn ipv6_table_size(snap: &Snapshot, flow_table_size: u32) -> u32 {
    if snap.services.iter().any(|s| s.address.is_ipv6()) {
        flow_table_size
    } else {
        8
    }
}

/// [`rule_hash`] of an IPv6 client's connection.
#[inline(always)]
fn rule_hash6(svc: &Service, client: u128, cport: u16, proto: IpProtocol) -> u64 {
    let proto = proto.number();
    match svc.mode {
        Mode::Random | Mode::Maglev => {
            select::hash_tuple6(client, svc.addr6, cport, svc.port, proto, HASH_SEED)
        }
        Mode::SourceIp => select::hash_src6(client, HASH_SEED),
        Mode::SourceIpProtocol => select::hash_src_proto6(client, proto, HASH_SEED),
    }
}

/// The consistent hash of a rule for a client's connection: of the 5-tuple
/// (Maglev, and random mode when the table is full), or of the client for
/// the affinity modes.
#[inline(always)]
fn rule_hash(svc: &Service, client: u32, cport: u16, proto: IpProtocol) -> u64 {
    let proto = proto.number();
    match svc.mode {
        Mode::Random | Mode::Maglev => {
            select::hash_tuple(client, svc.addr_raw, cport, svc.port, proto, HASH_SEED)
        }
        Mode::SourceIp => select::hash_src(client, HASH_SEED),
        Mode::SourceIpProtocol => select::hash_src_proto(client, proto, HASH_SEED),
    }
}

/// The backend that a new connection from `client`:`cport` to rule `svc`
/// gets while the flow table has room: drawn by weight from the
/// connection's hash keyed with the appliance's seed (random mode), or by
/// the rule's consistent hash. `NONE` if no backend takes it. What the data
/// path does; `natrix gen` and tests predict it with this.
pub fn choose_backend(
    snap: &Snapshot,
    svc: &Service,
    client: u32,
    cport: u16,
    proto: IpProtocol,
) -> u16 {
    let hash = rule_hash(svc, client, cport, proto);
    match svc.mode {
        Mode::Random => svc.pick_random(select::mix64(hash ^ snap.seed)),
        _ => svc.pick_hash(hash),
    }
}

/// [`choose_backend`] for an IPv6 client's connection to an IPv6 rule.
pub fn choose_backend6(
    snap: &Snapshot,
    svc: &Service,
    client: u128,
    cport: u16,
    proto: IpProtocol,
) -> u16 {
    let hash = rule_hash6(svc, client, cport, proto);
    match svc.mode {
        Mode::Random => svc.pick_random(select::mix64(hash ^ snap.seed)),
        _ => svc.pick_hash(hash),
    }
}

/// Why a new connection found no backend: all of them down, or none usable.
#[inline(always)]
fn no_backend(svc: &Service) -> DropReason {
    if svc.pool_down {
        DropReason::PoolDown
    } else {
        DropReason::NoBackend
    }
}

#[inline(always)]
fn bump(v: &mut [u64], id: u16) {
    if let Some(c) = v.get_mut(id as usize) {
        *c += 1;
    }
}

/// `v`, or `neighbour-unresolved` if `v` forwards `frame` toward a next
/// hop not resolved: its MAC in the snapshot, now the frame's destination,
/// is zero. Every forwarded packet passes here, released fragments too.
#[inline(always)]
fn next_hop_checked(v: Verdict, frame: &[u8]) -> Verdict {
    if matches!(v, Verdict::ToPrivate | Verdict::ToPublic) && frame.get(..6) == Some(&[0u8; 6][..])
    {
        Verdict::Drop(DropReason::NeighbourUnresolved)
    } else {
        v
    }
}

/// Sources no client can have: "this network" 0/8, loopback 127/8, and
/// multicast, reserved and broadcast 224/3 (RFC 1812 5.3.7).
#[inline(always)]
fn is_martian(src: u32) -> bool {
    let first = (src >> 24) as u8;
    first == 0 || first == 127 || first >= 224
}

/// Rewrites the `side` port of the TCP or UDP header at the start of `l4` to
/// `port` and patches its checksum with the precomputed `delta`, if the buffer
/// holds the checksum (a header quoted in an ICMP error may be cut short). A
/// UDP checksum of 0 means "none" and stays 0; a computed 0 is sent as 0xFFFF
/// (RFC 768).
#[inline(always)]
fn patch_l4(l4: &mut [u8], proto: IpProtocol, side: PortSide, port: u16, delta: u32) {
    if matches!(proto, IpProtocol::Tcp) {
        let mut t = tcp::Packet::new_unchecked(l4);
        match side {
            PortSide::Src => t.set_src_port(port),
            PortSide::Dst => t.set_dst_port(port),
        }
        if t.holds_checksum() {
            let c = checksum::apply(t.checksum(), delta);
            t.set_checksum(c);
        }
    } else {
        let mut u = udp::Packet::new_unchecked(l4);
        match side {
            PortSide::Src => u.set_src_port(port),
            PortSide::Dst => u.set_dst_port(port),
        }
        if u.holds_checksum() {
            let c = u.checksum();
            if c != 0 {
                let n = checksum::apply(c, delta);
                u.set_checksum(if n == 0 { 0xffff } else { n });
            }
        }
    }
}

/// Client -> frontend becomes client -> backend.
#[inline(always)]
fn rewrite_inbound(
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
        let mut ip = ipv4::Packet::new_unchecked(&mut data[at.l3()..]);
        ip.set_dst_addr(be.addr_raw.into());
        let ttl = ip.ttl();
        ip.set_ttl(ttl - 1);
        let c = checksum::apply(ip.checksum(), be.in_ip_delta);
        ip.set_checksum(c);
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
fn rewrite_return(
    data: &mut [u8],
    at: Offsets,
    proto: IpProtocol,
    be: &BackendEntry,
    fe_addr: u32,
    fe_port: u16,
    snap: &Snapshot,
) {
    {
        let mut eth = ethernet::Frame::new_unchecked(&mut data[..]);
        eth.set_dst_addr(snap.gateway_mac);
        eth.set_src_addr(snap.mac);
    }
    {
        let mut ip = ipv4::Packet::new_unchecked(&mut data[at.l3()..]);
        ip.set_src_addr(fe_addr.into());
        let ttl = ip.ttl();
        ip.set_ttl(ttl - 1);
        let c = checksum::apply(ip.checksum(), be.out_ip_delta);
        ip.set_checksum(c);
    }
    patch_l4(
        &mut data[at.l4()..],
        proto,
        PortSide::Src,
        fe_port,
        be.out_l4_delta,
    );
}

/// Rewrites an ICMP error and the packet it quotes, in place. To
/// [`ErrorTo::Backend`] `be`: the outer destination and the quoted source, a
/// frontend, become the backend's address and port. To [`ErrorTo::Client`],
/// from `be`: the outer source and the quoted destination become the
/// frontend's, `fe_port` being the frontend's port.
///
/// The outer IPv4 checksum takes the backend's precomputed delta toward the
/// backend (the destination was the frontend, as in its connections'
/// packets); toward the client, the change from the error's real source (the
/// backend or any router on the private side) to the frontend, with the TTL
/// decrement. The quoted TCP/UDP checksum takes the backend's precomputed
/// delta; the quoted IPv4 header's checksum the address change alone; the
/// ICMP checksum, which covers the quote, is computed afresh.
fn translate_icmp_error(
    data: &mut [u8],
    at: Offsets,
    q: &icmp::Quoted,
    to: ErrorTo,
    be: &BackendEntry,
    fe_addr: u32,
    fe_port: u16,
) {
    {
        let mut ip = ipv4::Packet::new_unchecked(&mut data[at.l3()..]);
        let ttl = ip.ttl();
        ip.set_ttl(ttl - 1);
        let delta = match to {
            ErrorTo::Backend => {
                ip.set_dst_addr(be.addr_raw.into());
                be.in_ip_delta
            }
            ErrorTo::Client => {
                // The source is whoever sent the error: the backend, or a
                // router on the private side. The change is computed from
                // that address, not taken from the backend's delta.
                let src = ip.src_addr_raw();
                ip.set_src_addr(fe_addr.into());
                checksum::combine(checksum::delta32(src, fe_addr), TTL_DECREMENT_DELTA)
            }
        };
        let c = checksum::apply(ip.checksum(), delta);
        ip.set_checksum(c);
    }
    // The quoted datagram: its IPv4 header, then the start of its TCP or UDP
    // header (Quoted::parse checked that both are there, the L4 one for
    // 8 bytes at least).
    let il3 = at.l4() + icmp::ERROR_HEADER_LEN;
    let il4 = il3 + q.header_len;
    {
        let mut ip = ipv4::Packet::new_unchecked(&mut data[il3..il4]);
        let delta = match to {
            ErrorTo::Backend => {
                ip.set_src_addr(be.addr_raw.into());
                checksum::delta32(fe_addr, be.addr_raw)
            }
            ErrorTo::Client => {
                ip.set_dst_addr(fe_addr.into());
                checksum::delta32(be.addr_raw, fe_addr)
            }
        };
        let c = checksum::apply(ip.checksum(), delta);
        ip.set_checksum(c);
    }
    // The quoted TCP or UDP header, often cut short: the ports are always
    // there (RFC 792 quotes 8 bytes), a TCP checksum not always.
    let quoted_l4 = &mut data[il4..at.end()];
    match to {
        ErrorTo::Backend => patch_l4(quoted_l4, q.proto, PortSide::Src, be.port, be.in_l4_delta),
        ErrorTo::Client => patch_l4(quoted_l4, q.proto, PortSide::Dst, fe_port, be.out_l4_delta),
    }
    icmp::Packet::new_unchecked(&mut data[at.l4()..at.end()]).fill_checksum();
}

impl Dataplane {
    /// Tells the neighbour cache the sender of an ARP packet (RFC 826
    /// merges every sender into an existing entry; replies answer natrix's
    /// requests). Probes from 0.0.0.0 say nothing.
    #[inline(never)]
    fn see_arp(&mut self, packet: &[u8]) {
        let Ok(a) = arp::Packet::new_checked(packet) else {
            return;
        };
        let seen = match a.operation() {
            arp::Operation::Request => neighbour::Seen::ArpRequest,
            arp::Operation::Reply => neighbour::Seen::ArpReply,
            arp::Operation::Unknown(_) => return,
        };
        let (ip, mac) = (a.sender_protocol_addr(), a.sender_hardware_addr());
        self.see(ip.into(), mac, seen);
    }
}

/// Answers an ARP request for a frontend or appliance address, in place (RFC 826).
fn answer_arp(snap: &Snapshot, counters: &mut Counters, data: &mut [u8], l3: usize) -> Verdict {
    let (sha, spa, tpa) = match arp::Packet::new_checked(&data[l3..]) {
        Ok(a) => {
            if a.operation() != arp::Operation::Request
                || !snap.is_local(u32::from(a.target_protocol_addr()))
            {
                return Verdict::Drop(DropReason::ArpNotForUs);
            }
            (
                a.sender_hardware_addr(),
                a.sender_protocol_addr(),
                a.target_protocol_addr(),
            )
        }
        Err(_) => return Verdict::Drop(DropReason::MalformedArp),
    };
    {
        let mut a = arp::Packet::new_unchecked(&mut data[l3..]);
        a.set_operation(arp::Operation::Reply);
        a.set_target_hardware_addr(sha);
        a.set_target_protocol_addr(spa);
        a.set_sender_hardware_addr(snap.mac);
        a.set_sender_protocol_addr(tpa);
    }
    let mut eth = ethernet::Frame::new_unchecked(&mut data[..]);
    let requester = eth.src_addr();
    eth.set_dst_addr(requester);
    eth.set_src_addr(snap.mac);
    counters.event(Event::ArpReplied);
    Verdict::Reply
}

/// Answers an ICMP echo request to a local address, in place (RFC 792).
fn answer_echo(
    snap: &Snapshot,
    counters: &mut Counters,
    data: &mut [u8],
    at: Offsets,
    dst: u32,
) -> Verdict {
    if !snap.is_local(dst) {
        return Verdict::Drop(DropReason::IcmpUnsupported);
    }
    // The caller checked the ICMP header's length.
    let m = icmp::Packet::new_unchecked(&data[at.l4()..at.end()]);
    if m.msg_type() != icmp::Message::EchoRequest || m.code() != icmp::ECHO_CODE {
        return Verdict::Drop(DropReason::IcmpUnsupported);
    }
    if !m.verify_checksum() {
        return Verdict::Drop(DropReason::MalformedIcmp);
    }
    {
        let mut m = icmp::Packet::new_unchecked(&mut data[at.l4()..at.end()]);
        m.set_msg_type(icmp::Message::EchoReply);
        // The type is the high byte of the first word; the code stays.
        let word = |t: icmp::Message| u16::from(u8::from(t)) << 8;
        let c = checksum::update16(
            m.checksum(),
            word(icmp::Message::EchoRequest),
            word(icmp::Message::EchoReply),
        );
        m.set_checksum(c);
    }
    {
        let mut ip = ipv4::Packet::new_unchecked(&mut data[at.l3()..]);
        let (s, d) = (ip.src_addr(), ip.dst_addr());
        ip.set_src_addr(d);
        ip.set_dst_addr(s);
        ip.set_ttl(64);
        ip.fill_checksum();
    }
    let mut eth = ethernet::Frame::new_unchecked(&mut data[..]);
    let requester = eth.src_addr();
    eth.set_dst_addr(requester);
    eth.set_src_addr(snap.mac);
    counters.event(Event::EchoReplied);
    Verdict::Reply
}
