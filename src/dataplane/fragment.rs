//! IP fragments, forwarded without reassembly.
//!
//! Only the first fragment of a datagram (offset 0, more-fragments set)
//! carries the TCP or UDP header, so only it can be classified: it goes
//! through the data path like any packet (frontend connection, return
//! traffic, NAT rule) and is rewritten there, its L4 checksum patched once for
//! the whole datagram. What was done to it is recorded here, in a per-worker
//! table of datagrams ([`Table`]), under the datagram's key: source,
//! destination, protocol and identification (RFC 791). The later fragments
//! of the datagram get the same IP-level rewrite (address, TTL, header
//! checksum, MACs) and the same verdict, a drop included.
//!
//! Every fragment carries the client's address (the source inbound, the
//! destination on return), so every fragment of a datagram reaches the
//! connection's owner ([`super::handoff::owner`]) through the usual handoff,
//! and the table is that worker's alone.
//!
//! Fragments that arrive before their first fragment are held by the worker
//! ([`Hold`], a preallocated area bounded in packets and bytes) for at most
//! the configured timeout; they are rewritten and sent when the first
//! fragment arrives, or dropped as `fragment-no-first`. A first fragment
//! toward a next hop not resolved is dropped as `neighbour-unresolved`, and
//! its datagram's other fragments, released or later, with it.
//!
//! The table is separate from the flow table and bounded: when a datagram
//! finds no room, its fragments are dropped as `fragment-table-full`; no
//! connection is ever evicted for a fragment. A record ends when its
//! datagram's bytes have all been seen, or at its timeout.
//!
//! IPv6 fragments (RFC 8200 section 4.5) take the same path and share the
//! table and the hold area: keys hold 128-bit addresses (IPv4 mapped as
//! `::ffff:a.b.c.d`) and a 32-bit identification, and an IPv6 datagram is
//! matched on source, destination and identification alone (protocol 0 in
//! the key: the Next Header values of one packet's fragments may differ).
//! The header chain walker ([`ipv6::Packet::chain`]) has checked what RFC
//! 8200 and RFC 7112 ask of a fragment: lengths in multiples of 8 bytes,
//! and a first fragment that holds the whole chain and the TCP or UDP
//! header. A later IPv6 fragment gets the first one's address and hop limit
//! (there is no header checksum); its Fragment header and any other
//! extension headers stay as they are. A later IPv6 fragment that starts
//! inside the first one's data overlaps it (RFC 5722) and is dropped.

use crate::dataplane::counters::{DropReason, Event};
use crate::dataplane::select::mix64;
use crate::dataplane::snapshot::{Snapshot, TTL_DECREMENT_DELTA};
use crate::dataplane::{next_hop_checked, Dataplane, Offsets, Pending, Stage, Verdict};
use crate::ports::{Burst, PacketBuf, BURST};
use crate::wire::ethernet;
use crate::wire::ethernet::EtherType;
use crate::wire::ipv6::{self, Chain};
use crate::wire::{checksum, ipv4, IpProtocol, MacAddr};
use arrayvec::ArrayVec;

/// No fragment table slot: the packet is not a first fragment.
pub const NONE: u16 = u16::MAX;

/// Default `appliance.fragment_table_size`: datagrams per worker.
pub const DEFAULT_TABLE_SIZE: u32 = 4096;
/// Smallest accepted `appliance.fragment_table_size`.
pub const MIN_TABLE_SIZE: u32 = 16;
/// Largest accepted `appliance.fragment_table_size`: slots are numbered
/// with a `u16`, `NONE` kept free.
pub const MAX_TABLE_SIZE: u32 = 1 << 15;
/// Default `appliance.fragment_hold_packets`, per worker.
pub const DEFAULT_HOLD_PACKETS: u32 = 64;
/// Largest accepted `appliance.fragment_hold_packets` (0 holds nothing:
/// fragments ahead of their first one are dropped).
pub const MAX_HOLD_PACKETS: u32 = 4096;
/// Default `appliance.fragment_hold_bytes`, per worker.
pub const DEFAULT_HOLD_BYTES: u32 = 128 * 1024;
/// Largest accepted `appliance.fragment_hold_bytes`.
pub const MAX_HOLD_BYTES: u32 = 16 << 20;
/// Default `appliance.fragment_timeout`, seconds.
pub const DEFAULT_TIMEOUT_SECS: u32 = 1;
/// Smallest accepted `appliance.fragment_timeout`, seconds.
pub const MIN_TIMEOUT_SECS: u32 = 1;
/// Largest accepted `appliance.fragment_timeout`, seconds (RFC 791
/// suggests 15 for reassembly; Linux waits 30).
pub const MAX_TIMEOUT_SECS: u32 = 30;

/// Slots a key may occupy, from its hash on: the table's associativity.
const WINDOW: usize = 8;

/// The fragment limits of each worker (`[appliance]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Datagrams whose fragments are followed at once (rounded up to a
    /// power of two).
    pub table_size: u32,
    /// Fragments held while their first fragment is awaited.
    pub hold_packets: u32,
    /// Bytes (whole frames) held.
    pub hold_bytes: u32,
    /// Seconds a fragment waits for its first fragment, and a datagram's
    /// later fragments are matched after its first one (measured on the
    /// worker's clock of whole seconds: between this and one more).
    pub timeout_secs: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            table_size: DEFAULT_TABLE_SIZE,
            hold_packets: DEFAULT_HOLD_PACKETS,
            hold_bytes: DEFAULT_HOLD_BYTES,
            timeout_secs: DEFAULT_TIMEOUT_SECS,
        }
    }
}

/// A datagram's identity (RFC 791 section 2.3; RFC 8200 section 4.5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Key {
    pub src: u128,
    pub dst: u128,
    pub id: u32,
    /// The IP protocol for IPv4; 0 for IPv6, whose fragments are matched
    /// without it.
    pub proto: u8,
}

impl Key {
    /// An IPv4 datagram's key, its addresses mapped into IPv6 (RFC 4291 2.5.5.2).
    #[inline(always)]
    pub fn v4(src: u32, dst: u32, id: u16, proto: u8) -> Key {
        Key {
            src: mapped(src),
            dst: mapped(dst),
            id: id as u32,
            proto,
        }
    }

    /// An IPv6 datagram's key.
    #[inline(always)]
    pub fn v6(src: u128, dst: u128, id: u32) -> Key {
        Key {
            src,
            dst,
            id,
            proto: 0,
        }
    }

    #[inline(always)]
    fn hash(&self, seed: u64) -> u64 {
        let a = (self.src as u64) ^ ((self.src >> 64) as u64).rotate_left(17);
        let b = (self.dst as u64) ^ ((self.dst >> 64) as u64).rotate_left(29);
        mix64(mix64(a ^ seed) ^ b ^ ((self.id as u64) << 8 | self.proto as u64))
    }
}

/// `::ffff:a.b.c.d`.
#[inline(always)]
fn mapped(v4: u32) -> u128 {
    (0xffffu128 << 32) | v4 as u128
}

/// Where a datagram stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Free,
    /// Later fragments came; the first has not.
    Waiting,
    /// The first fragment is in this burst, not yet translated.
    Claimed,
    /// The first fragment was translated: later ones get [`Rewrite`].
    Forward,
    /// The first fragment was dropped: later ones are, for the same reason.
    Dropped(DropReason),
}

/// What the first fragment's translation did at the IP level, for the later
/// fragments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rewrite {
    /// [`Verdict::ToPrivate`] (the destination became the backend) or
    /// [`Verdict::ToPublic`] (the source became the frontend).
    verdict: Verdict,
    /// The new address (IPv4 mapped).
    addr: u128,
    /// The new destination MAC.
    mac: MacAddr,
    /// IPv4 header checksum delta: the address change and the TTL decrement.
    delta: u32,
    /// The backend, for its packet counter (`u16::MAX`: unknown).
    backend: u16,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    key: Key,
    state: State,
    /// Clock second after which the entry is gone.
    deadline: u32,
    /// Fragments the worker was told to hold.
    held: u16,
    rewrite: Rewrite,
    /// Payload bytes of the datagram forwarded or dropped so far.
    seen: u32,
    /// The datagram's length, once its last fragment was seen (0 before).
    total: u32,
    /// IPv6: the bytes of the first fragment's data; a later fragment
    /// starting before this overlaps it (RFC 5722). 0 for IPv4.
    first_end: u32,
}

const EMPTY: Entry = Entry {
    key: Key {
        src: 0,
        dst: 0,
        id: 0,
        proto: 0,
    },
    state: State::Free,
    deadline: 0,
    held: 0,
    rewrite: Rewrite {
        verdict: Verdict::ToPrivate,
        addr: 0,
        mac: MacAddr::ZERO,
        delta: 0,
        backend: u16::MAX,
    },
    seen: 0,
    total: 0,
    first_end: 0,
};

/// One worker's datagrams: a fixed array, each key in a window of
/// eight slots from its hash. Nothing allocates after [`Table::new`]
/// but [`Table::on_snapshot`], between bursts.
pub struct Table {
    entries: Box<[Entry]>,
    mask: usize,
    seed: u64,
    limits: Limits,
    /// Slots whose first fragment arrived in this burst while fragments
    /// were held for them: the worker sends what it holds after the burst.
    released: ArrayVec<u16, BURST>,
    /// Backend addresses, sorted: the sources of return traffic.
    backends: Vec<u32>,
    /// The same for IPv6 backends.
    backends6: Vec<u128>,
}

impl Table {
    pub fn new(limits: Limits, seed: u64) -> Table {
        let size = (limits.table_size.clamp(MIN_TABLE_SIZE, MAX_TABLE_SIZE) as usize)
            .next_power_of_two()
            .max(WINDOW);
        Table {
            entries: vec![EMPTY; size].into_boxed_slice(),
            mask: size - 1,
            seed,
            limits,
            released: ArrayVec::new(),
            backends: Vec::new(),
            backends6: Vec::new(),
        }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Slots in the table.
    pub fn capacity(&self) -> usize {
        self.entries.len()
    }

    /// Datagrams followed at clock `now`.
    pub fn live(&self, now: u32) -> usize {
        self.entries
            .iter()
            .filter(|e| e.state != State::Free && now <= e.deadline)
            .count()
    }

    /// Takes in a new snapshot's backends (between bursts).
    pub fn on_snapshot(&mut self, snap: &Snapshot) {
        let live = || {
            snap.backends
                .iter()
                .filter(|b| b.status != crate::dataplane::snapshot::BackendStatus::Removed)
        };
        self.backends.clear();
        self.backends
            .extend(live().filter(|b| b.address.is_ipv4()).map(|b| b.addr_raw));
        self.backends.sort_unstable();
        self.backends.dedup();
        self.backends6.clear();
        self.backends6
            .extend(live().filter(|b| b.address.is_ipv6()).map(|b| b.addr6));
        self.backends6.sort_unstable();
        self.backends6.dedup();
    }

    #[inline(always)]
    fn is_backend(&self, addr: u32) -> bool {
        self.backends.binary_search(&addr).is_ok()
    }

    #[inline(always)]
    fn is_backend6(&self, addr: u128) -> bool {
        self.backends6.binary_search(&addr).is_ok()
    }

    /// The live entry of `key`.
    #[inline]
    fn lookup(&self, key: &Key, now: u32) -> Option<u16> {
        let start = key.hash(self.seed) as usize;
        (0..WINDOW)
            .map(|i| (start + i) & self.mask)
            .find(|&s| {
                let e = &self.entries[s];
                e.state != State::Free && now <= e.deadline && e.key == *key
            })
            .map(|s| s as u16)
    }

    /// The live entry of `key`, or a new one (`Waiting`); None when its
    /// window is full of live datagrams.
    #[inline]
    fn claim(&mut self, key: &Key, now: u32) -> Option<u16> {
        if let Some(s) = self.lookup(key, now) {
            return Some(s);
        }
        let start = key.hash(self.seed) as usize;
        let s = (0..WINDOW).map(|i| (start + i) & self.mask).find(|&s| {
            let e = &self.entries[s];
            e.state == State::Free || now > e.deadline
        })?;
        self.entries[s] = Entry {
            key: *key,
            state: State::Waiting,
            deadline: now.saturating_add(self.limits.timeout_secs),
            ..EMPTY
        };
        Some(s as u16)
    }

    /// Counts `payload` bytes of the datagram in `slot` (the fragment at
    /// `offset`, the last one unless `more`), and ends the record once
    /// every byte was seen.
    #[inline]
    fn account(&mut self, slot: u16, offset: u32, payload: u32, more: bool) {
        let e = &mut self.entries[slot as usize];
        e.seen = e.seen.saturating_add(payload);
        if !more {
            e.total = offset + payload;
        }
        if e.total != 0 && e.seen >= e.total && e.held == 0 {
            e.state = State::Free;
        }
    }

    /// The next slot whose held fragments may go.
    pub fn take_released(&mut self) -> Option<u16> {
        self.released.pop()
    }

    pub fn has_released(&self) -> bool {
        !self.released.is_empty()
    }
}

/// A fragment's IP header (and IPv6 Fragment header), read once.
struct Frag {
    key: Key,
    /// IPv4: the protocol. IPv6: the Next Header of the upper layer in a
    /// first fragment, of the Fragment header in a later one.
    proto: IpProtocol,
    /// Offset in the datagram (IPv6: in its fragmentable part), bytes.
    offset: u32,
    more: bool,
    /// Payload of this fragment (IPv6: its data, after the Fragment
    /// header), bytes.
    payload: u32,
    v6: bool,
}

impl Frag {
    fn read(data: &[u8], at: Offsets) -> Frag {
        let ip = ipv4::Packet::new_unchecked(&data[at.l3()..at.end()]);
        let proto = ip.protocol();
        Frag {
            key: Key::v4(
                ip.src_addr_raw(),
                ip.dst_addr_raw(),
                ip.ident(),
                proto.number(),
            ),
            proto,
            offset: ip.frag_offset() as u32,
            more: ip.more_frags(),
            payload: (at.end() - at.l4()) as u32,
            v6: false,
        }
    }

    /// An IPv6 fragment at `l3`, its chain walked (`chain.fragment` is set).
    fn read6(data: &[u8], l3: usize, chain: &Chain) -> Option<Frag> {
        let f = chain.fragment?;
        let ip = ipv6::Packet::new_unchecked(&data[l3..]);
        let end = l3 + ip.total_len();
        Some(Frag {
            key: Key::v6(ip.src_addr_raw(), ip.dst_addr_raw(), f.ident),
            proto: chain.protocol,
            offset: f.offset as u32,
            more: f.more,
            payload: end.saturating_sub(l3 + f.data_offset()) as u32,
            v6: true,
        })
    }

    /// Where its headers lie: the IP header, the fragment's data (IPv4) or
    /// its upper-layer header (the first IPv6 fragment), the end.
    fn offsets6(data: &[u8], l3: usize, chain: &Chain) -> Offsets {
        let ip = ipv6::Packet::new_unchecked(&data[l3..]);
        Offsets::new(l3, l3 + chain.l4_offset, l3 + ip.total_len())
    }
}

/// What the data path does next with an IPv4 fragment.
pub(super) enum Step {
    /// A first fragment, its datagram in this slot: classify it as any packet.
    First(u16),
    /// Finished.
    Done(Verdict),
}

impl Dataplane {
    /// The fragment limits of this worker.
    pub fn fragment_limits(&self) -> Limits {
        self.frags.limits()
    }

    /// The datagrams this worker follows.
    pub fn fragments(&self) -> &Table {
        &self.frags
    }

    /// Whether fragments held for a first fragment that has now arrived
    /// wait to be sent ([`Dataplane::release`]).
    #[inline(always)]
    pub fn has_released(&self) -> bool {
        self.frags.has_released()
    }

    /// The next datagram slot whose held fragments may go.
    pub fn take_released(&mut self) -> Option<u16> {
        self.frags.take_released()
    }

    /// An IPv4 fragment (first pass), its header checked: the first one is
    /// classified as any packet once its datagram has a slot; a later one is
    /// rewritten as its first was, or held until it comes. Out of line:
    /// the common path pays one branch for it.
    #[inline(never)]
    pub(super) fn fragment_v4(&mut self, data: &mut [u8], at: Offsets, ttl: u8) -> Step {
        use DropReason::*;
        let f = Frag::read(data, at);
        if !matches!(f.proto, IpProtocol::Tcp | IpProtocol::Udp) {
            return Step::Done(Verdict::Drop(IpFragment));
        }
        // RFC 791: every fragment but the last carries a multiple of 8 bytes.
        if f.more && (f.payload == 0 || !f.payload.is_multiple_of(8)) {
            return Step::Done(Verdict::Drop(FragmentTooSmall));
        }
        let snap = &*self.snap;
        let (src, dst) = (f.key.src as u32, f.key.dst as u32);
        // The client, whose owner handles every fragment of the datagram: the
        // source of what is sent to a frontend, the destination of what a
        // backend sends. Nothing else is natrix's to forward.
        let inbound = snap.is_local(dst);
        let client = if inbound {
            src
        } else if self.frags.is_backend(src) {
            if self.from_public_arm {
                return Step::Done(Verdict::Drop(BackendOnPublic));
            }
            dst
        } else {
            return Step::Done(Verdict::Drop(NoService));
        };
        if ttl <= 1 {
            return Step::Done(Verdict::Drop(TtlExpired));
        }
        if let Some(v) = self.elsewhere(client) {
            return Step::Done(v);
        }
        let key = f.key;
        let now = self.now;
        if f.offset == 0 {
            // The first fragment must hold the whole TCP or UDP header: the
            // ports, and TCP's flags (RFC 1858 3.1, tiny fragments).
            let l4 = &data[at.l4()..at.end()];
            let need = match f.proto {
                IpProtocol::Tcp if l4.len() > 12 => ((l4[12] >> 4) as usize * 4).max(20),
                IpProtocol::Tcp => 20,
                _ => 8,
            };
            if l4.len() < need {
                return Step::Done(Verdict::Drop(FragmentTooSmall));
            }
            if f.proto == IpProtocol::Udp && (u16::from_be_bytes([l4[4], l4[5]]) as usize) < need {
                return Step::Done(Verdict::Drop(MalformedUdp));
            }
            return match self.frags.claim(&key, now) {
                Some(slot) => {
                    let e = &mut self.frags.entries[slot as usize];
                    if e.state == State::Waiting {
                        e.state = State::Claimed;
                    }
                    Step::First(slot)
                }
                None => Step::Done(Verdict::Drop(FragmentTableFull)),
            };
        }
        // RFC 1858 3.2: a TCP fragment starting inside the smallest header
        // would rewrite the ports or flags natrix translated.
        if f.proto == IpProtocol::Tcp && f.offset < 20 {
            return Step::Done(Verdict::Drop(FragmentOverlap));
        }
        let Some(slot) = self.frags.claim(&key, now) else {
            return Step::Done(Verdict::Drop(FragmentTableFull));
        };
        Step::Done(self.later(data, at, &f, slot, false))
    }

    /// An IPv6 fragment (first pass), its header chain walked and checked
    /// ([`ipv6::Packet::chain`]: lengths, and a first fragment that holds
    /// the whole chain and upper-layer header): as [`Dataplane::fragment_v4`].
    #[inline(never)]
    pub(super) fn fragment_v6(&mut self, data: &mut [u8], l3: usize, chain: &Chain) -> Step {
        use DropReason::*;
        let Some(f) = Frag::read6(data, l3, chain) else {
            return Step::Done(Verdict::Drop(IpFragment));
        };
        let at = Frag::offsets6(data, l3, chain);
        // The walker checked the multiples of 8 (RFC 8200 section 4.5), not
        // an empty fragment.
        if f.more && f.payload == 0 {
            return Step::Done(Verdict::Drop(FragmentTooSmall));
        }
        let first = f.offset == 0;
        // A first fragment names its upper layer: only TCP and UDP are
        // forwarded. A later one names the first header of the fragmentable
        // part, which may be an extension header; ICMPv6 (a large echo) is
        // dropped at once, the rest follows its first fragment.
        let forwarded = matches!(f.proto, IpProtocol::Tcp | IpProtocol::Udp);
        if (first && !forwarded) || f.proto == IpProtocol::Icmpv6 {
            return Step::Done(Verdict::Drop(IpFragment));
        }
        let hops = ipv6::Packet::new_unchecked(&data[l3..]).hop_limit();
        let snap = &*self.snap;
        let (src, dst) = (f.key.src, f.key.dst);
        let client = if snap.is_local6(dst) {
            src
        } else if self.frags.is_backend6(src) {
            if self.from_public_arm {
                return Step::Done(Verdict::Drop(BackendOnPublic));
            }
            dst
        } else {
            return Step::Done(Verdict::Drop(NoService));
        };
        // (A first fragment's hop limit is checked by the data path, which
        // records the drop for the later fragments.)
        if !first && hops <= 1 {
            return Step::Done(Verdict::Drop(TtlExpired));
        }
        if let Some(v) = self.elsewhere(super::v6::owner_input(client)) {
            return Step::Done(v);
        }
        let now = self.now;
        if first {
            let l4 = &data[at.l4()..at.end()];
            if f.proto == IpProtocol::Udp && (u16::from_be_bytes([l4[4], l4[5]]) as usize) < 8 {
                return Step::Done(Verdict::Drop(MalformedUdp));
            }
            return match self.frags.claim(&f.key, now) {
                Some(slot) => {
                    let e = &mut self.frags.entries[slot as usize];
                    if e.state == State::Waiting {
                        e.state = State::Claimed;
                    }
                    Step::First(slot)
                }
                None => Step::Done(Verdict::Drop(FragmentTableFull)),
            };
        }
        // RFC 1858 3.2, as for IPv4: a TCP fragment starting inside the
        // smallest TCP header.
        if f.proto == IpProtocol::Tcp && f.offset < 20 {
            return Step::Done(Verdict::Drop(FragmentOverlap));
        }
        let Some(slot) = self.frags.claim(&f.key, now) else {
            return Step::Done(Verdict::Drop(FragmentTableFull));
        };
        Step::Done(self.later(data, at, &f, slot, false))
    }

    /// A later fragment of the datagram in `slot`: rewritten as its first
    /// fragment was, dropped as it was, or held for it (never when
    /// `released`: the first came).
    #[inline]
    fn later(
        &mut self,
        data: &mut [u8],
        at: Offsets,
        f: &Frag,
        slot: u16,
        released: bool,
    ) -> Verdict {
        let e = &mut self.frags.entries[slot as usize];
        match e.state {
            // IPv6: it would overwrite what the first fragment carried, the
            // translated ports among it (RFC 5722: overlaps are attacks).
            State::Forward if f.offset < e.first_end => Verdict::Drop(DropReason::FragmentOverlap),
            State::Forward => {
                // (A backend's fragment on the public arm of two-arm never
                // comes this far: `fragment_v4`.)
                let rw = e.rewrite;
                self.frags.account(slot, f.offset, f.payload, f.more);
                if f.v6 {
                    rewrite_v6(data, at, &rw, self.snap.mac);
                } else {
                    rewrite_v4(data, at, &rw, self.snap.mac);
                }
                self.counters.event(Event::FragmentForwarded);
                if let Some(c) = self.counters.backend_packets.get_mut(rw.backend as usize) {
                    *c += 1;
                }
                rw.verdict
            }
            State::Dropped(r) => {
                self.frags.account(slot, f.offset, f.payload, f.more);
                Verdict::Drop(r)
            }
            State::Waiting | State::Claimed if !released => {
                // The hold's deadline is the entry's: it is pushed on.
                e.held = e.held.saturating_add(1);
                e.deadline = self.now.saturating_add(self.frags.limits.timeout_secs);
                Verdict::Hold(slot)
            }
            State::Free | State::Waiting | State::Claimed => {
                Verdict::Drop(DropReason::FragmentNoFirst)
            }
        }
    }

    /// Second pass of a first fragment, given the verdict the data path gave
    /// it: records what its translation did (or why it was dropped) for the
    /// later fragments, and lets the fragments held for it go.
    #[inline(never)]
    pub(super) fn first_fragment(&mut self, data: &[u8], p: &Pending, v: Verdict) -> Verdict {
        let slot = p.frag;
        // Toward a next hop not resolved, the first fragment is dropped,
        // and the datagram's other fragments with it (held ones included).
        let v = next_hop_checked(v, data);
        let Ok((l3, ethertype)) = ethernet::Frame::new_unchecked(data).l3_offset() else {
            return v;
        };
        if ethertype == EtherType::Ipv6 {
            return self.first_fragment6(data, l3, p, v);
        }
        let ip = ipv4::Packet::new_unchecked(&data[l3..]);
        let at = Offsets::new(
            l3,
            l3 + ip.header_len() as usize,
            l3 + ip.total_len() as usize,
        );
        let payload = (at.end() - at.l4()) as u32;
        let (new_src, new_dst) = (ip.src_addr_raw(), ip.dst_addr_raw());
        let proto = ip.protocol();
        let l4 = &data[at.l4()..];
        let (sport, dport) = (
            u16::from_be_bytes([l4[0], l4[1]]),
            u16::from_be_bytes([l4[2], l4[3]]),
        );
        let mac = ethernet::Frame::new_unchecked(data).dst_addr();
        let snap = &*self.snap;
        let e = &mut self.frags.entries[slot as usize];
        let state = match v {
            Verdict::ToPrivate | Verdict::ToPublic => {
                let (old, new, backend) = if v == Verdict::ToPrivate {
                    let b = snap.return_backend(new_dst, dport, proto);
                    (e.key.dst as u32, new_dst, b.unwrap_or(u16::MAX))
                } else {
                    let b = if p.stage == Stage::Return {
                        p.service
                    } else {
                        snap.frontend(new_src, sport, proto)
                            .and_then(|s| snap.services[s as usize].members.first().copied())
                            .unwrap_or(u16::MAX)
                    };
                    (e.key.src as u32, new_src, b)
                };
                let rw = Rewrite {
                    verdict: v,
                    addr: mapped(new),
                    mac,
                    delta: checksum::combine(checksum::delta32(old, new), TTL_DECREMENT_DELTA),
                    backend,
                };
                if e.state == State::Forward && e.rewrite != rw {
                    // Another first fragment of this datagram went elsewhere:
                    // its later fragments follow the first one's record.
                    return Verdict::Drop(DropReason::FragmentOverlap);
                }
                e.rewrite = rw;
                State::Forward
            }
            Verdict::Drop(r) => match e.state {
                // A duplicate first fragment dropped: the record stands.
                State::Forward | State::Dropped(_) => return v,
                _ => State::Dropped(r),
            },
            _ => return v,
        };
        self.record_first(slot, state, payload);
        v
    }

    /// The IPv6 half of [`Dataplane::first_fragment`]: the same record,
    /// with 128-bit addresses and no header checksum delta.
    fn first_fragment6(&mut self, data: &[u8], l3: usize, p: &Pending, v: Verdict) -> Verdict {
        let slot = p.frag;
        let ip = ipv6::Packet::new_unchecked(&data[l3..]);
        let Ok(chain) = ip.chain() else {
            return v;
        };
        let Some(f) = Frag::read6(data, l3, &chain) else {
            return v;
        };
        let (new_src, new_dst) = (ip.src_addr_raw(), ip.dst_addr_raw());
        let proto = chain.protocol;
        let l4 = &data[l3 + chain.l4_offset..];
        let (sport, dport) = (
            u16::from_be_bytes([l4[0], l4[1]]),
            u16::from_be_bytes([l4[2], l4[3]]),
        );
        let mac = ethernet::Frame::new_unchecked(data).dst_addr();
        let snap = &*self.snap;
        let e = &mut self.frags.entries[slot as usize];
        let state = match v {
            Verdict::ToPrivate | Verdict::ToPublic => {
                let (addr, backend) = if v == Verdict::ToPrivate {
                    let b = snap.return_backend6(new_dst, dport, proto);
                    (new_dst, b.unwrap_or(u16::MAX))
                } else {
                    let b = if p.stage == Stage::Return6 {
                        p.service
                    } else {
                        snap.frontend6(new_src, sport, proto)
                            .and_then(|s| snap.services[s as usize].members.first().copied())
                            .unwrap_or(u16::MAX)
                    };
                    (new_src, b)
                };
                let rw = Rewrite {
                    verdict: v,
                    addr,
                    mac,
                    delta: 0,
                    backend,
                };
                if e.state == State::Forward && e.rewrite != rw {
                    return Verdict::Drop(DropReason::FragmentOverlap);
                }
                e.rewrite = rw;
                State::Forward
            }
            Verdict::Drop(r) => match e.state {
                State::Forward | State::Dropped(_) => return v,
                _ => State::Dropped(r),
            },
            _ => return v,
        };
        e.first_end = f.payload;
        self.record_first(slot, state, f.payload);
        v
    }

    /// Records what became of the first fragment of the datagram in `slot`
    /// (`payload` bytes of it), and lets the fragments held for it go.
    fn record_first(&mut self, slot: u16, state: State, payload: u32) {
        let now = self.now;
        let e = &mut self.frags.entries[slot as usize];
        // A duplicate first fragment is not counted again, so that it does
        // not end the record before the datagram's other fragments came.
        let duplicate = matches!(e.state, State::Forward | State::Dropped(_));
        if !duplicate {
            self.counters.event(Event::FragmentFirst);
        }
        e.state = state;
        e.deadline = now.saturating_add(self.frags.limits.timeout_secs);
        if e.held > 0 && !self.frags.released.is_full() {
            self.frags.released.push(slot);
        }
        if !duplicate {
            self.frags.account(slot, 0, payload, true);
        }
    }

    /// Sends fragments held for a first fragment that has come: each is
    /// rewritten as its first was (or dropped as it was), as in
    /// [`Dataplane::process`] but not counted received again (they were,
    /// when they came). `verdicts[i]` says what to do with `bufs[i]`; drops
    /// are counted.
    pub fn release<B: PacketBuf>(
        &mut self,
        slot: u16,
        bufs: &mut [B],
        verdicts: &mut [Verdict; BURST],
    ) {
        let n = bufs.len().min(BURST);
        if let Some(e) = self.frags.entries.get_mut(slot as usize) {
            e.held = e.held.saturating_sub(n as u16);
        }
        for i in 0..n {
            let data = bufs[i].data_mut();
            // The same next-hop check as every forwarded packet.
            verdicts[i] = next_hop_checked(self.release_one(data), data);
            if let Verdict::Drop(r) = verdicts[i] {
                self.counters.drop(r);
            } else {
                self.counters.event(Event::FragmentReleased);
            }
        }
    }

    fn release_one(&mut self, data: &mut [u8]) -> Verdict {
        // Checked when it came.
        let Ok((l3, ethertype)) = ethernet::Frame::new_unchecked(&*data).l3_offset() else {
            return Verdict::Drop(DropReason::FragmentNoFirst);
        };
        if ethertype == EtherType::Ipv6 {
            let chain = ipv6::Packet::new_unchecked(&data[l3..]).chain();
            let Some((f, at)) = chain.ok().and_then(|c| {
                let f = Frag::read6(data, l3, &c)?;
                Some((f, Frag::offsets6(data, l3, &c)))
            }) else {
                return Verdict::Drop(DropReason::FragmentNoFirst);
            };
            return match self.frags.lookup(&f.key, self.now) {
                Some(slot) => self.later(data, at, &f, slot, true),
                None => Verdict::Drop(DropReason::FragmentNoFirst),
            };
        }
        let at = {
            let ip = ipv4::Packet::new_unchecked(&data[l3..]);
            Offsets::new(
                l3,
                l3 + ip.header_len() as usize,
                l3 + ip.total_len() as usize,
            )
        };
        let f = Frag::read(data, at);
        match self.frags.lookup(&f.key, self.now) {
            Some(slot) => self.later(data, at, &f, slot, true),
            None => Verdict::Drop(DropReason::FragmentNoFirst),
        }
    }

    /// Fragments held (told [`Verdict::Hold`]) for the datagram in `slot`
    /// that the worker no longer holds (dropped when their time was up, or
    /// when the hold area was full).
    pub fn unhold(&mut self, slot: u16, n: usize) {
        if let Some(e) = self.frags.entries.get_mut(slot as usize) {
            e.held = e.held.saturating_sub(n as u16);
        }
    }
}

/// A later fragment's rewrite: the address its first fragment's translation
/// changed, the TTL, the header checksum (by the recorded delta) and the MACs.
#[inline]
fn rewrite_v4(data: &mut [u8], at: Offsets, rw: &Rewrite, mac: MacAddr) {
    {
        let mut eth = ethernet::Frame::new_unchecked(&mut data[..]);
        eth.set_dst_addr(rw.mac);
        eth.set_src_addr(mac);
    }
    let mut ip = ipv4::Packet::new_unchecked(&mut data[at.l3()..]);
    let addr = rw.addr as u32;
    if rw.verdict == Verdict::ToPrivate {
        ip.set_dst_addr_raw(addr);
    } else {
        ip.set_src_addr_raw(addr);
    }
    let ttl = ip.ttl();
    ip.set_ttl(ttl - 1);
    let c = checksum::apply(ip.checksum(), rw.delta);
    ip.set_checksum(c);
}

/// A later IPv6 fragment's rewrite: the address its first fragment's
/// translation changed, the hop limit and the MACs. Its Fragment header and
/// any other extension headers stay as they are.
#[inline]
fn rewrite_v6(data: &mut [u8], at: Offsets, rw: &Rewrite, mac: MacAddr) {
    {
        let mut eth = ethernet::Frame::new_unchecked(&mut data[..]);
        eth.set_dst_addr(rw.mac);
        eth.set_src_addr(mac);
    }
    let mut ip = ipv6::Packet::new_unchecked(&mut data[at.l3()..]);
    if rw.verdict == Verdict::ToPrivate {
        ip.set_dst_addr_raw(rw.addr);
    } else {
        ip.set_src_addr_raw(rw.addr);
    }
    let hops = ip.hop_limit();
    ip.set_hop_limit(hops - 1);
}

/// A held fragment.
struct Held<B> {
    buf: B,
    slot: u16,
    deadline: u32,
}

/// The fragments a worker holds for their first fragment: a preallocated
/// area, bounded in packets and bytes; nothing allocates after
/// [`Hold::new`]. Owned by the worker (the buffers are its port's).
pub struct Hold<B> {
    held: Box<[Option<Held<B>>]>,
    count: usize,
    bytes: usize,
    max_bytes: usize,
    timeout: u32,
    /// The earliest deadline held (`u32::MAX`: none).
    next_deadline: u32,
}

impl<B: PacketBuf> Hold<B> {
    pub fn new(limits: &Limits) -> Hold<B> {
        Hold {
            held: (0..limits.hold_packets).map(|_| None).collect(),
            count: 0,
            bytes: 0,
            max_bytes: limits.hold_bytes as usize,
            timeout: limits.timeout_secs,
            next_deadline: u32::MAX,
        }
    }

    /// Fragments held.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Holds `buf` for datagram `slot` from clock `now`; gives it back when
    /// the area is full (in packets or bytes).
    pub fn put(&mut self, buf: B, slot: u16, now: u32) -> Result<(), B> {
        let len = buf.data().len();
        if self.bytes + len > self.max_bytes {
            return Err(buf);
        }
        let Some(free) = self.held.iter_mut().find(|h| h.is_none()) else {
            return Err(buf);
        };
        let deadline = now.saturating_add(self.timeout);
        *free = Some(Held {
            buf,
            slot,
            deadline,
        });
        self.count += 1;
        self.bytes += len;
        self.next_deadline = self.next_deadline.min(deadline);
        Ok(())
    }

    /// Whether some held fragment's time is up at clock `now`.
    #[inline(always)]
    pub fn due(&self, now: u32) -> bool {
        now > self.next_deadline
    }

    /// Moves into `out` (up to its room) the fragments held for `slot`.
    /// Returns whether some are left.
    pub fn take(&mut self, slot: u16, out: &mut Burst<B>) -> bool {
        self.take_where(out, |h| h.slot == slot)
    }

    /// Moves into `out` (up to its room) the fragments whose time is up at
    /// `now`, with their slots in `slots`. Returns whether some are left.
    pub fn expire(
        &mut self,
        now: u32,
        out: &mut Burst<B>,
        slots: &mut ArrayVec<u16, BURST>,
    ) -> bool {
        let mut more = false;
        for h in self.held.iter_mut() {
            if h.as_ref().is_some_and(|h| now > h.deadline) {
                if out.is_full() {
                    more = true;
                    break;
                }
                let x = h.take().expect("checked");
                self.count -= 1;
                self.bytes -= x.buf.data().len();
                slots.push(x.slot);
                out.push(x.buf);
            }
        }
        self.recompute_deadline();
        more
    }

    /// Moves everything held into `out` (up to its room). Returns whether
    /// some are left.
    pub fn drain(&mut self, out: &mut Burst<B>) -> bool {
        self.take_where(out, |_| true)
    }

    fn take_where(&mut self, out: &mut Burst<B>, pick: impl Fn(&Held<B>) -> bool) -> bool {
        let mut more = false;
        for h in self.held.iter_mut() {
            if h.as_ref().is_some_and(&pick) {
                if out.is_full() {
                    more = true;
                    break;
                }
                let x = h.take().expect("checked");
                self.count -= 1;
                self.bytes -= x.buf.data().len();
                out.push(x.buf);
            }
        }
        self.recompute_deadline();
        more
    }

    fn recompute_deadline(&mut self) {
        self.next_deadline = self
            .held
            .iter()
            .flatten()
            .map(|h| h.deadline)
            .min()
            .unwrap_or(u32::MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::HeapBuf;

    fn limits(size: u32, packets: u32) -> Limits {
        Limits {
            table_size: size,
            hold_packets: packets,
            hold_bytes: 4096,
            timeout_secs: 1,
        }
    }

    #[test]
    fn the_common_path_carries_no_more_than_before() {
        // Per-packet state of a burst: the fragment slot fits in what was
        // padding; a verdict is as small as before.
        assert!(std::mem::size_of::<Pending>() <= 32);
        assert!(std::mem::size_of::<Verdict>() <= 4);
    }

    #[test]
    fn keys_map_ipv4_into_ipv6() {
        let k = Key::v4(0xc612_c807, 0xc612_010a, 7, 17);
        assert_eq!(k.src, 0x0000_0000_0000_0000_0000_ffff_c612_c807);
        assert_eq!(k.id, 7);
        assert_ne!(
            Key::v6(k.src, k.dst, 7),
            k,
            "IPv6 keys leave the protocol out"
        );
    }

    #[test]
    fn a_full_window_refuses_new_datagrams_until_they_expire() {
        let mut t = Table::new(limits(16, 4), 1);
        let mut n = 0;
        let mut refused = 0;
        for id in 0..200u16 {
            match t.claim(&Key::v4(1, 2, id, 17), 10) {
                Some(_) => n += 1,
                None => refused += 1,
            }
        }
        assert_eq!(n, 16, "every slot taken");
        assert_eq!(refused, 184);
        assert_eq!(t.live(10), 16);
        // A second later (the timeout) they still live; after it, not.
        assert!(t.claim(&Key::v4(1, 2, 999, 17), 11).is_none());
        assert!(t.claim(&Key::v4(1, 2, 999, 17), 12).is_some());
        assert_eq!(t.live(12), 1);
    }

    #[test]
    fn a_datagram_ends_when_all_its_bytes_were_seen() {
        let mut t = Table::new(limits(16, 4), 1);
        let k = Key::v4(1, 2, 3, 17);
        let s = t.claim(&k, 0).unwrap();
        t.account(s, 0, 1480, true);
        t.account(s, 2960, 1048, false);
        assert!(t.lookup(&k, 0).is_some());
        t.account(s, 1480, 1480, true);
        assert!(t.lookup(&k, 0).is_none());
    }

    #[test]
    fn the_hold_area_is_bounded_and_expires() {
        let mut h: Hold<HeapBuf> = Hold::new(&limits(16, 2));
        let buf = |n: usize| {
            let mut b = HeapBuf::new(4096);
            assert!(b.fill(&vec![0u8; n]));
            b
        };
        assert!(h.put(buf(1000), 1, 5).is_ok());
        assert!(h.put(buf(4000 - 1000), 2, 5).is_ok());
        assert!(h.put(buf(10), 3, 5).is_err(), "two packets at most");
        let mut out = Burst::new();
        assert!(!h.take(1, &mut out));
        assert_eq!(out.len(), 1);
        assert!(h.put(buf(1500), 3, 5).is_err(), "4096 bytes at most");
        assert!(!h.due(6));
        assert!(h.due(7));
        let mut out = Burst::new();
        let mut slots = ArrayVec::new();
        h.expire(7, &mut out, &mut slots);
        assert_eq!((out.len(), slots.as_slice()), (1, &[2u16][..]));
        assert!(h.is_empty() && !h.due(100));
    }
}
