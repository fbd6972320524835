//! The per-worker flow table: connection -> backend.
//!
//! Each worker owns one; nothing is shared, so nothing locks. It is a bucketised
//! two-choice hash table: a key may live in either of two buckets, each one cache
//! line of four 16-byte entries. A lookup reads at most two cache lines, and the
//! worker prefetches both for a whole burst before it looks anything up.
//!
//! ```text
//!  bucket (64 bytes, cache-line aligned)
//!  +----------------+----------------+----------------+----------------+
//!  | entry 0 (16 B) | entry 1        | entry 2        | entry 3        |
//!  +----------------+----------------+----------------+----------------+
//!  entry: key u64 (client ip | client port | service) | last_seen u32 | backend u16 | flags u8 | pad
//! ```
//!
//! Entries are moved only by the cuckoo step, each within its own two buckets.
//! An expired entry stays where it is until a new connection reuses its slot
//! or the worker's sweep ([`FlowTable::sweep`], a few buckets at a time
//! between bursts) frees it. A lookup reads every way of both buckets, so a
//! freed slot never needs a tombstone.

use crate::dataplane::select::mix64;
use crate::wire::tcp;

/// Entries per bucket.
pub const WAYS: usize = 4;

// TCP state of an entry (`Entry::flags`), after RFC 7857 section 2.2 (the
// state machine of RFC 6146 section 3.5.2, reduced to what picks a timeout):
//
// ```text
//  client SYN ──► SYN-ONLY ──(client segment without SYN)──► ESTABLISHED
//                    │                                        │        │
//                  RST                           FIN from one side    RST
//                    ▼                                        ▼        │
//          SYN-ONLY + CLOSING           FIN-CLIENT or FIN-BACKEND      │
//          (SYN-only timeout)          (half-closed: still established) │
//                                                 │ FIN from the other │
//                                                 ▼ side, or RST       ▼
//                                              CLOSING ◄───────────────┘
// ```
//
// A new SYN from the client on a closing entry opens a new connection. UDP
// entries have no flag: established, with the rule's idle timeout.

/// Entry flag: only the client's SYN seen (half-open, never established);
/// expires after the rule's SYN-only timeout, so that a SYN flood clears.
pub const FLAG_SYN_ONLY: u8 = 1;

/// Entry flag: closing (FINs both ways, or a RST either way); expires after
/// the rule's transitory timeout, and a new SYN on it opens a new connection.
pub const FLAG_CLOSING: u8 = 2;

/// Entry flag: a FIN seen from the client (half-closed toward the backend).
pub const FLAG_FIN_CLIENT: u8 = 4;

/// Entry flag: a FIN seen from the backend (half-closed toward the client).
pub const FLAG_FIN_BACKEND: u8 = 8;

/// Entry flag: the table's side array holds this connection's sequence
/// numbers ([`Seqs`]; rules with `tcp_reset_on_idle` only).
pub const FLAG_SEQS: u8 = 16;

/// Entry flag: its [`Seqs::client_ack`] holds an acknowledgment the client
/// sent (its SYN carries none).
pub const FLAG_SEQ_ACK: u8 = 32;

/// What a RST needs to be accepted by each end of an idle connection (RFC
/// 5961 section 3.2: a RST whose sequence number is exactly the receiver's
/// RCV.NXT resets the connection), tracked from the client's segments
/// alone: on an idle connection every byte has been acknowledged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Seqs {
    /// The client's next sequence number (its last segment's sequence
    /// number plus its length, SYN and FIN counting one): the backend's
    /// RCV.NXT.
    pub client_next: u32,
    /// The last acknowledgment number the client sent: the client's RCV.NXT.
    pub client_ack: u32,
}

impl Seqs {
    /// Takes in a client segment's numbers: sequence `seq`, `len` bytes of
    /// payload, TCP flags `tcp_flags`, acknowledgment `ack`. A number only
    /// moves forward (in sequence space, RFC 1982), so a retransmission or
    /// a reordered segment does not take it back; `first` (the connection's
    /// first segment) takes the sequence number as it is, and `first_ack`
    /// (no acknowledgment taken yet: the SYN has none) the acknowledgment.
    /// Without `first_ack`, the first ACK would be compared with whatever
    /// the slot held before, and one in two would never be taken.
    #[inline(always)]
    pub fn update(
        &mut self,
        first: bool,
        first_ack: bool,
        seq: u32,
        len: u32,
        tcp_flags: u8,
        ack: u32,
    ) {
        let ctl =
            u32::from(tcp_flags & tcp::FLAG_SYN != 0) + u32::from(tcp_flags & tcp::FLAG_FIN != 0);
        let next = seq.wrapping_add(len).wrapping_add(ctl);
        if first || (next.wrapping_sub(self.client_next) as i32) > 0 {
            self.client_next = next;
        }
        if tcp_flags & tcp::FLAG_ACK != 0
            && (first_ack || (ack.wrapping_sub(self.client_ack) as i32) > 0)
        {
            self.client_ack = ack;
        }
    }
}

/// Which way a packet of a connection goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// Client -> frontend.
    Client,
    /// Backend -> client (the return direction).
    Backend,
}

/// A connection's TCP state, as its entry's flags say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpState {
    /// The client's SYN and nothing else from it (RFC 7857's half-open).
    SynOnly,
    /// Established (and every UDP entry).
    Established,
    /// Established, the client has sent its FIN.
    FinClient,
    /// Established, the backend has sent its FIN.
    FinBackend,
    /// FINs both ways, or a RST.
    Closing,
}

/// A rule's timeouts, in seconds, by TCP state: [`Entry::timeout`] picks one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// SYN-only (half-open) entries, also after a RST.
    pub syn: u32,
    /// Established entries, half-closed ones included, and UDP (the idle
    /// timeout; RFC 5382 REQ-5 asks for at least 2 h 4 min).
    pub established: u32,
    /// Closing entries of a connection that was established (RFC 5382
    /// REQ-5's transitory idle timeout: at least 4 minutes).
    pub transitory: u32,
}

/// A TCP segment that opens a connection: SYN without ACK.
#[inline(always)]
const fn opens(tcp_flags: u8) -> bool {
    tcp_flags & (tcp::FLAG_SYN | tcp::FLAG_ACK) == tcp::FLAG_SYN
}

/// The flags of a new connection's entry, from its first (client) packet's
/// TCP flags (0 for UDP): SYN-only for a SYN; for a segment met mid-stream,
/// what it says (a FIN half-closes, a RST closes).
#[inline(always)]
pub const fn initial_flags(tcp_flags: u8) -> u8 {
    if tcp_flags & tcp::FLAG_RST != 0 {
        FLAG_CLOSING
    } else if opens(tcp_flags) {
        FLAG_SYN_ONLY
    } else if tcp_flags & tcp::FLAG_FIN != 0 {
        FLAG_FIN_CLIENT
    } else {
        0
    }
}

/// The key of a connection in a [`FlowTable`]: the client's address and
/// port and the service. IPv4 keys are a `u64` ([`flow_key`]); IPv6 keys a
/// [`Key6`]. The all-zero key marks a free slot: a client's address is
/// never 0.0.0.0 (martian) or :: (unspecified), which the data path drops.
pub trait FlowKey: Copy + Eq + Default + std::fmt::Debug {
    /// Whether this is the free slot's key.
    fn is_free(&self) -> bool;
    /// The key's hash under the table's `seed`.
    fn mix(&self, seed: u64) -> u64;
    /// The service index stored in the key.
    fn service(&self) -> u16;
}

impl FlowKey for u64 {
    #[inline(always)]
    fn is_free(&self) -> bool {
        *self == 0
    }

    #[inline(always)]
    fn mix(&self, seed: u64) -> u64 {
        mix64(*self ^ seed)
    }

    #[inline(always)]
    fn service(&self) -> u16 {
        key_service(*self)
    }
}

/// The key of an IPv6 connection: 20 bytes, aligned to 4, so that its
/// [`Entry`] takes 28.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct Key6 {
    /// The client's address, big-endian, in four words.
    pub client: [u32; 4],
    pub port: u16,
    pub service: u16,
}

impl Key6 {
    /// The key of `client` (`u128::from(Ipv6Addr)`), `port`, `service`.
    #[inline(always)]
    pub fn new(client: u128, port: u16, service: u16) -> Key6 {
        Key6 {
            client: [
                (client >> 96) as u32,
                (client >> 64) as u32,
                (client >> 32) as u32,
                client as u32,
            ],
            port,
            service,
        }
    }

    /// The client's address as a number.
    #[inline(always)]
    pub fn client(&self) -> u128 {
        let c = self.client;
        ((c[0] as u128) << 96) | ((c[1] as u128) << 64) | ((c[2] as u128) << 32) | c[3] as u128
    }
}

impl FlowKey for Key6 {
    #[inline(always)]
    fn is_free(&self) -> bool {
        *self == Key6::default()
    }

    #[inline(always)]
    fn mix(&self, seed: u64) -> u64 {
        let c = self.client;
        let hi = ((c[0] as u64) << 32) | c[1] as u64;
        let lo = ((c[2] as u64) << 32) | c[3] as u64;
        let tail = ((self.port as u64) << 16) | self.service as u64;
        mix64(mix64(hi ^ seed) ^ lo ^ tail.rotate_left(40))
    }

    #[inline(always)]
    fn service(&self) -> u16 {
        self.service
    }
}

/// One tracked connection. A free key ([`FlowKey::is_free`]) marks a free slot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Entry<K = u64> {
    pub key: K,
    /// Seconds on the worker's clock when the connection last saw a packet.
    pub last_seen: u32,
    /// Backend id in the snapshot.
    pub backend: u16,
    /// TCP state: the `FLAG_*` bits.
    pub flags: u8,
    _pad: u8,
}

impl<K: FlowKey> Entry<K> {
    /// Established (half-closed too), neither SYN-only nor closing.
    #[inline(always)]
    pub const fn is_established(&self) -> bool {
        self.flags & (FLAG_SYN_ONLY | FLAG_CLOSING) == 0
    }

    /// Half-open or closing: the entries a new connection may evict when
    /// both of its buckets are full.
    #[inline(always)]
    pub const fn is_transitory(&self) -> bool {
        self.flags & (FLAG_SYN_ONLY | FLAG_CLOSING) != 0
    }

    /// FINs both ways, or a RST, seen.
    #[inline(always)]
    pub const fn is_closing(&self) -> bool {
        self.flags & FLAG_CLOSING != 0
    }

    /// Whether a SYN from the client opens a new connection on this entry's
    /// key, rather than repeating this connection's: the entry is closing,
    /// or the client has sent its FIN (a client that has closed its side
    /// cannot send a SYN on it, so the SYN is a new connection's, from the
    /// same port).
    #[inline(always)]
    pub const fn reopens_on_syn(&self) -> bool {
        self.flags & (FLAG_CLOSING | FLAG_FIN_CLIENT) != 0
    }

    /// The connection's TCP state.
    #[inline]
    pub const fn state(&self) -> TcpState {
        let f = self.flags;
        if f & FLAG_CLOSING != 0 {
            TcpState::Closing
        } else if f & FLAG_SYN_ONLY != 0 {
            TcpState::SynOnly
        } else if f & FLAG_FIN_CLIENT != 0 {
            TcpState::FinClient
        } else if f & FLAG_FIN_BACKEND != 0 {
            TcpState::FinBackend
        } else {
            TcpState::Established
        }
    }

    /// The one place that chooses an entry's timeout, in seconds, from its
    /// rule's timeouts: never established (SYN only, even after a RST):
    /// `syn`; closing: `transitory`; otherwise (established, half-closed,
    /// UDP): `established`.
    #[inline(always)]
    pub const fn timeout(&self, t: &Timeouts) -> u32 {
        if self.flags & FLAG_SYN_ONLY != 0 {
            t.syn
        } else if self.flags & FLAG_CLOSING != 0 {
            t.transitory
        } else {
            t.established
        }
    }

    /// Whether the entry has been idle at `now` for longer than `timeout`. A
    /// clock that went backwards (a replay looping over its capture) counts
    /// as idle 0.
    #[inline(always)]
    pub fn is_expired(&self, now: u32, timeout: u32) -> bool {
        now.saturating_sub(self.last_seen) > timeout
    }

    /// Records a packet of the connection at `now`, going `dir`, with TCP
    /// flags `tcp_flags` (0 for UDP): a RST closes it; the client's first
    /// segment without SYN establishes it; a FIN half-closes it, and the
    /// second direction's FIN closes it (RFC 7857 section 2.2). A closing
    /// entry stays closing (a new SYN on it is a new connection: the caller
    /// creates that one afresh).
    #[inline(always)]
    pub fn seen(&mut self, now: u32, dir: Dir, tcp_flags: u8) {
        self.last_seen = now;
        let mut f = self.flags;
        if tcp_flags & tcp::FLAG_RST != 0 {
            f |= FLAG_CLOSING;
        } else {
            if dir == Dir::Client && !opens(tcp_flags) && f & FLAG_CLOSING == 0 {
                f &= !FLAG_SYN_ONLY;
            }
            if tcp_flags & tcp::FLAG_FIN != 0 {
                f |= match dir {
                    Dir::Client => FLAG_FIN_CLIENT,
                    Dir::Backend => FLAG_FIN_BACKEND,
                };
                if f & (FLAG_FIN_CLIENT | FLAG_FIN_BACKEND) == FLAG_FIN_CLIENT | FLAG_FIN_BACKEND {
                    f |= FLAG_CLOSING;
                }
            }
        }
        self.flags = f;
    }
}

#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct Bucket<K> {
    entries: [Entry<K>; WAYS],
}

/// Builds a flow key from the client's address and port and the service index.
#[inline(always)]
pub fn flow_key(client_ip: u32, client_port: u16, service: u16) -> u64 {
    ((client_ip as u64) << 32) | ((client_port as u64) << 16) | service as u64
}

/// The service index stored in a key.
#[inline(always)]
pub fn key_service(key: u64) -> u16 {
    key as u16
}

/// Where an entry lives: bucket index * WAYS + way.
pub type Slot = usize;

/// What a lookup found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    Hit(Slot),
    /// Not found; carries a free slot in one of the key's buckets if there is one.
    Miss(Option<Slot>),
}

/// How a slot was obtained for a new connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    Free,
    Expired,
    TransitoryEvicted,
}

pub struct FlowTable<K = u64> {
    buckets: Vec<Bucket<K>>,
    seed: u64,
    occupied: usize,
    /// The bucket the next [`FlowTable::sweep`] starts at.
    sweep_at: usize,
    /// Sequence numbers by slot, for the entries with [`FLAG_SEQS`]; empty
    /// until [`FlowTable::track_seqs`] (only rules with `tcp_reset_on_idle`
    /// need them, 8 bytes a slot). Moved along with entries by the cuckoo step.
    seqs: Vec<Seqs>,
}

impl<K: FlowKey> FlowTable<K> {
    /// A table for about `connections` connections (rounded up so that the
    /// two-choice table stays below ~80% full at that many).
    pub fn new(connections: u32, seed: u64) -> FlowTable<K> {
        let n = Self::buckets_for(connections);
        // Advise before the buckets are written: a page first touched inside
        // a MADV_HUGEPAGE range is faulted in as a huge page, while pages
        // already backed by 4 KiB ones wait for khugepaged.
        let mut buckets = Vec::with_capacity(n as usize);
        advise_huge_pages(
            buckets.as_ptr() as usize,
            n as usize * std::mem::size_of::<Bucket<K>>(),
        );
        buckets.resize(n as usize, Bucket::default());
        FlowTable {
            buckets,
            seed,
            occupied: 0,
            sweep_at: 0,
            seqs: Vec::new(),
        }
    }

    /// Allocates the side array of sequence numbers, one [`Seqs`] a slot,
    /// if it is not there yet. Not on the data path: when a snapshot first
    /// has a rule with `tcp_reset_on_idle`.
    pub fn track_seqs(&mut self) {
        if self.seqs.is_empty() {
            let n = self.capacity();
            let mut seqs = Vec::with_capacity(n);
            advise_huge_pages(seqs.as_ptr() as usize, n * std::mem::size_of::<Seqs>());
            seqs.resize(n, Seqs::default());
            self.seqs = seqs;
        }
    }

    /// Whether the table keeps sequence numbers ([`FlowTable::track_seqs`]).
    #[inline(always)]
    pub fn tracks_seqs(&self) -> bool {
        !self.seqs.is_empty()
    }

    /// The sequence numbers of `slot`, if the table keeps them and its
    /// entry has them ([`FLAG_SEQS`]).
    #[inline(always)]
    pub fn seqs(&self, slot: Slot) -> Option<Seqs> {
        let e = self.get(slot);
        if e.flags & FLAG_SEQS != 0 {
            self.seqs.get(slot).copied()
        } else {
            None
        }
    }

    /// Takes in a client segment of the connection in `slot` (see
    /// [`Seqs::update`]) and marks its entry as having sequence numbers.
    /// Nothing if the table keeps none.
    #[inline(always)]
    pub fn track(&mut self, slot: Slot, seq: u32, len: u32, tcp_flags: u8, ack: u32) {
        let Some(s) = self.seqs.get_mut(slot) else {
            return;
        };
        let e = &mut self.buckets[slot / WAYS].entries[slot % WAYS];
        s.update(
            e.flags & FLAG_SEQS == 0,
            e.flags & FLAG_SEQ_ACK == 0,
            seq,
            len,
            tcp_flags,
            ack,
        );
        e.flags |= FLAG_SEQS;
        if tcp_flags & tcp::FLAG_ACK != 0 {
            e.flags |= FLAG_SEQ_ACK;
        }
    }

    /// Buckets for `connections`: 25% more slots than connections (the
    /// two-choice table with its cuckoo moves fills past 90%), in any
    /// number of buckets: a key's buckets are its hash's halves scaled to
    /// that number ([`FlowTable::buckets_of`]), not masked to a power of two,
    /// which would take up to twice the memory.
    fn buckets_for(connections: u32) -> u64 {
        (connections as u64 * 5 / 4).div_ceil(WAYS as u64).max(2)
    }

    /// Entry slots of a table made for `connections` connections.
    pub fn capacity_for(connections: u32) -> usize {
        Self::buckets_for(connections) as usize * WAYS
    }

    /// Number of entry slots.
    pub fn capacity(&self) -> usize {
        self.buckets.len() * WAYS
    }

    /// Slots holding an entry: the live ones, and those that expired since
    /// the sweep last passed them.
    pub fn occupied(&self) -> usize {
        self.occupied
    }

    /// Bytes of memory the table holds (its side array of sequence numbers
    /// included).
    pub fn memory_bytes(&self) -> usize {
        self.buckets.len() * std::mem::size_of::<Bucket<K>>()
            + self.seqs.len() * std::mem::size_of::<Seqs>()
    }

    #[inline(always)]
    pub fn hash(&self, key: K) -> u64 {
        key.mix(self.seed)
    }

    /// A key's two buckets: each half of its hash scaled to the number of
    /// buckets (a multiply and a shift, Lemire's "fast range"), the second
    /// moved on by one if they meet.
    #[inline(always)]
    fn buckets_of(&self, hash: u64) -> (usize, usize) {
        let n = self.buckets.len() as u64;
        let b1 = ((hash & 0xffff_ffff) * n) >> 32;
        let mut b2 = ((hash >> 32) * n) >> 32;
        if b2 == b1 {
            b2 = if b1 + 1 == n { 0 } else { b1 + 1 };
        }
        (b1 as usize, b2 as usize)
    }

    /// Starts loading both candidate buckets of `hash` into the cache.
    #[inline(always)]
    pub fn prefetch(&self, hash: u64) {
        let (b1, b2) = self.buckets_of(hash);
        prefetch(&self.buckets[b1]);
        prefetch(&self.buckets[b2]);
        if std::mem::size_of::<Bucket<K>>() > 64 {
            // An IPv6 bucket spans two cache lines.
            prefetch(&self.buckets[b1].entries[WAYS - 1]);
            prefetch(&self.buckets[b2].entries[WAYS - 1]);
        }
        if let (Some(s1), Some(s2)) = (self.seqs.get(b1 * WAYS), self.seqs.get(b2 * WAYS)) {
            // A bucket's four Seqs are 32 bytes: in one cache line.
            prefetch(s1);
            prefetch(s2);
        }
    }

    /// Finds `key`, or a free slot where it could go: in the emptier of its two
    /// buckets (the "power of two choices" keeps buckets evenly loaded).
    #[inline(always)]
    pub fn lookup(&self, key: K, hash: u64) -> Lookup {
        let (b1, b2) = self.buckets_of(hash);
        // The common case first: the key is there. Compare only, no
        // bookkeeping for a free slot.
        for b in [b1, b2] {
            for (w, e) in self.buckets[b].entries.iter().enumerate() {
                if e.key == key {
                    return Lookup::Hit(b * WAYS + w);
                }
            }
        }
        let mut free = [None; 2];
        let mut empty = [0u8; 2];
        for (i, b) in [b1, b2].into_iter().enumerate() {
            for (w, e) in self.buckets[b].entries.iter().enumerate() {
                if e.key.is_free() {
                    empty[i] += 1;
                    if free[i].is_none() {
                        free[i] = Some(b * WAYS + w);
                    }
                }
            }
        }
        Lookup::Miss(if empty[0] >= empty[1] {
            free[0]
        } else {
            free[1]
        })
    }

    /// Finds a slot for a new connection when both of its buckets are full:
    /// an expired entry first; then room made by moving one entry to its other
    /// bucket (a breadth-first cuckoo search: the table is not full, only these
    /// two buckets are); then the oldest transitory entry. `timeout` gives an entry's
    /// timeout in seconds.
    pub fn reclaim(
        &mut self,
        hash: u64,
        now: u32,
        timeout: impl Fn(&Entry<K>) -> u32,
    ) -> Option<(Slot, Claim)> {
        let (b1, b2) = self.buckets_of(hash);
        let mut transitory: Option<(Slot, u32)> = None;
        for b in [b1, b2] {
            for (w, e) in self.buckets[b].entries.iter().enumerate() {
                if e.key.is_free() {
                    return Some((b * WAYS + w, Claim::Free));
                }
                if e.is_expired(now, timeout(e)) {
                    return Some((b * WAYS + w, Claim::Expired));
                }
                if e.is_transitory() && transitory.is_none_or(|(_, seen)| e.last_seen < seen) {
                    transitory = Some((b * WAYS + w, e.last_seen));
                }
            }
        }
        if let Some(slot) = self.make_room(b1, b2) {
            return Some((slot, Claim::Free));
        }
        transitory.map(|(s, _)| (s, Claim::TransitoryEvicted))
    }

    /// The other candidate bucket of the entry stored in bucket `b`.
    #[inline]
    fn alt_bucket(&self, b: usize, key: K) -> usize {
        let (x1, x2) = self.buckets_of(self.hash(key));
        if x1 == b {
            x2
        } else {
            x1
        }
    }

    /// Frees a slot in bucket `b1` or `b2` by moving entries along a path to a
    /// bucket with room, found breadth-first up to `CUCKOO_DEPTH` moves. Every
    /// moved entry stays in one of its own two buckets, so lookups still find
    /// it. Runs only when both buckets of a new connection are full; the search
    /// state lives on the stack.
    fn make_room(&mut self, b1: usize, b2: usize) -> Option<Slot> {
        const NODES: usize = 2 * WAYS * (1 + WAYS + WAYS * WAYS);
        // (bucket, way, parent node index or u16::MAX for a root)
        let mut nodes = [(0usize, 0u8, u16::MAX); NODES];
        let mut n = 0;
        for b in [b1, b2] {
            for w in 0..WAYS {
                nodes[n] = (b, w as u8, u16::MAX);
                n += 1;
            }
        }
        let mut head = 0;
        while head < n {
            let (b, w, _) = nodes[head];
            let key = self.buckets[b].entries[w as usize].key;
            let alt = self.alt_bucket(b, key);
            if let Some(aw) = self.buckets[alt]
                .entries
                .iter()
                .position(|e| e.key.is_free())
            {
                // Shift entries along the path, from the free end back to the root.
                let (mut to_b, mut to_w) = (alt, aw);
                let mut i = head;
                loop {
                    let (fb, fw, parent) = nodes[i];
                    self.buckets[to_b].entries[to_w] = self.buckets[fb].entries[fw as usize];
                    if !self.seqs.is_empty() {
                        self.seqs[to_b * WAYS + to_w] = self.seqs[fb * WAYS + fw as usize];
                    }
                    (to_b, to_w) = (fb, fw as usize);
                    if parent == u16::MAX {
                        // One slot filled at the far end, this one emptied:
                        // `occupied` is unchanged until the caller's `put`.
                        self.buckets[fb].entries[fw as usize] = Entry::default();
                        return Some(fb * WAYS + fw as usize);
                    }
                    i = parent as usize;
                }
            }
            if n + WAYS <= NODES {
                for aw in 0..WAYS {
                    nodes[n] = (alt, aw as u8, head as u16);
                    n += 1;
                }
            }
            head += 1;
        }
        None
    }

    #[inline(always)]
    pub fn get(&self, slot: Slot) -> &Entry<K> {
        &self.buckets[slot / WAYS].entries[slot % WAYS]
    }

    #[inline(always)]
    pub fn get_mut(&mut self, slot: Slot) -> &mut Entry<K> {
        &mut self.buckets[slot / WAYS].entries[slot % WAYS]
    }

    /// Writes a new connection into `slot`.
    #[inline(always)]
    pub fn put(&mut self, slot: Slot, key: K, backend: u16, flags: u8, now: u32) {
        let e = self.get_mut(slot);
        let was_free = e.key.is_free();
        *e = Entry {
            key,
            last_seen: now,
            backend,
            flags,
            _pad: 0,
        };
        self.occupied += was_free as usize;
    }

    /// Frees `slot`.
    #[inline(always)]
    pub fn remove(&mut self, slot: Slot) {
        let e = self.get_mut(slot);
        if !e.key.is_free() {
            *e = Entry::default();
            self.occupied -= 1;
        }
    }

    /// Frees the expired entries of the next `buckets` buckets, going round
    /// the table from where the last sweep stopped; `timeout` gives an
    /// entry's timeout in seconds. Returns how many it freed. Run a few
    /// buckets at a time between bursts, so that [`FlowTable::occupied`] comes
    /// back to the live count without a per-packet cost, and without waiting
    /// for new connections to reuse the slots.
    pub fn sweep(&mut self, buckets: usize, now: u32, timeout: impl Fn(&Entry<K>) -> u32) -> usize {
        self.sweep_with(buckets, now, timeout, |_, _| true)
    }

    /// [`FlowTable::sweep`], showing each expired entry, with its sequence
    /// numbers if it has them, to `expired` before it is freed. When
    /// `expired` returns false the entry is kept and the sweep stops there,
    /// to start again at that bucket next time.
    pub fn sweep_with(
        &mut self,
        buckets: usize,
        now: u32,
        timeout: impl Fn(&Entry<K>) -> u32,
        mut expired: impl FnMut(&Entry<K>, Option<Seqs>) -> bool,
    ) -> usize {
        let mut at = self.sweep_at;
        let mut freed = 0;
        'buckets: for _ in 0..buckets.min(self.buckets.len()) {
            for w in 0..WAYS {
                let e = self.buckets[at].entries[w];
                if !e.key.is_free() && e.is_expired(now, timeout(&e)) {
                    let seqs = if e.flags & FLAG_SEQS != 0 {
                        self.seqs.get(at * WAYS + w).copied()
                    } else {
                        None
                    };
                    if !expired(&e, seqs) {
                        break 'buckets;
                    }
                    self.buckets[at].entries[w] = Entry::default();
                    freed += 1;
                }
            }
            at = if at + 1 == self.buckets.len() {
                0
            } else {
                at + 1
            };
        }
        self.sweep_at = at;
        self.occupied -= freed;
        freed
    }

    /// Counts entries that have not expired (a full scan: for statistics only).
    pub fn count_live(&self, now: u32, timeout: impl Fn(&Entry<K>) -> u32) -> usize {
        self.buckets
            .iter()
            .flat_map(|b| b.entries.iter())
            .filter(|e| !e.key.is_free() && !e.is_expired(now, timeout(e)))
            .count()
    }

    /// Visits every occupied entry (for statistics and tests).
    pub fn for_each(&self, mut f: impl FnMut(&Entry<K>)) {
        for e in self.buckets.iter().flat_map(|b| b.entries.iter()) {
            if !e.key.is_free() {
                f(e)
            }
        }
    }
}

/// Asks the kernel to back a large table with transparent huge pages: a
/// lookup then costs one TLB entry per 2 MiB instead of per 4 KiB page. (With
/// THP in "madvise" mode, the default on Debian, nothing else enables them.)
/// Measured: see BENCHMARKS.md.
#[allow(unsafe_code)]
fn advise_huge_pages(start: usize, bytes: usize) {
    const HUGE: usize = 2 << 20;
    if bytes < 2 * HUGE {
        return;
    }
    let aligned = (start + HUGE - 1) & !(HUGE - 1);
    let len = (start + bytes - aligned) & !(HUGE - 1);
    #[cfg(target_os = "linux")]
    // SAFETY: the range lies inside the table's own allocation (its capacity,
    // reserved and not moved afterwards: the table never grows), which lives
    // as long as the table; MADV_HUGEPAGE only changes how the kernel backs
    // those pages, never their contents. Failure (THP off) is harmless.
    unsafe {
        libc::madvise(aligned as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = len;
}

#[inline(always)]
#[allow(unsafe_code)]
fn prefetch<T>(p: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint that never faults and reads nothing
    // architecturally; the pointer comes from a live reference.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
            p as *const T as *const i8,
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timeouts = Timeouts {
        syn: 10,
        established: 240,
        transitory: 300,
    };
    const SYN: u8 = tcp::FLAG_SYN;
    const ACK: u8 = tcp::FLAG_ACK;
    const FIN: u8 = tcp::FLAG_FIN;
    const RST: u8 = tcp::FLAG_RST;

    /// The packets after the first: direction and TCP flags.
    type Packets<'a> = &'a [(Dir, u8)];

    /// An entry opened by `first` (client), then the packets `then`.
    fn entry(first: u8, then: &[(Dir, u8)]) -> Entry {
        let mut e = Entry {
            key: 1,
            flags: initial_flags(first),
            ..Entry::default()
        };
        for (i, &(dir, flags)) in then.iter().enumerate() {
            e.seen(i as u32 + 1, dir, flags);
        }
        e
    }

    #[test]
    fn tcp_states_both_ways() {
        use Dir::{Backend as B, Client as C};
        use TcpState::*;
        // (description, first packet, the packets after it, state, timeout)
        #[rustfmt::skip]
        let cases: &[(&str, u8, Packets, TcpState, u32)] = &[
            ("SYN only", SYN, &[], SynOnly, T.syn),
            ("SYN retransmitted", SYN, &[(C, SYN)], SynOnly, T.syn),
            ("backend's SYN-ACK: still half-open", SYN, &[(B, SYN | ACK)], SynOnly, T.syn),
            ("backend data before the client's ACK", SYN, &[(B, ACK)], SynOnly, T.syn),
            ("client's ACK establishes", SYN, &[(B, SYN | ACK), (C, ACK)], Established, T.established),
            ("backend RST on a SYN: refused, short timeout", SYN, &[(B, RST | ACK)], Closing, T.syn),
            ("client RST on a SYN", SYN, &[(C, RST)], Closing, T.syn),
            ("no ACK after a RST on a SYN", SYN, &[(C, RST), (C, ACK)], Closing, T.syn),
            ("client FIN: half-closed, established", SYN, &[(C, ACK), (C, FIN | ACK)], FinClient, T.established),
            ("client FIN then data from the backend", SYN, &[(C, ACK), (C, FIN | ACK), (B, ACK), (C, ACK)], FinClient, T.established),
            ("backend FIN: half-closed, established", SYN, &[(C, ACK), (B, FIN | ACK)], FinBackend, T.established),
            ("backend FIN then client FIN: closing", SYN, &[(C, ACK), (B, FIN | ACK), (C, FIN | ACK)], Closing, T.transitory),
            ("client FIN then backend FIN: closing", SYN, &[(C, ACK), (C, FIN | ACK), (B, FIN | ACK)], Closing, T.transitory),
            ("client FIN retransmitted: not closing", SYN, &[(C, ACK), (C, FIN | ACK), (C, FIN | ACK)], FinClient, T.established),
            ("backend FIN retransmitted: not closing", SYN, &[(C, ACK), (B, FIN | ACK), (B, FIN | ACK)], FinBackend, T.established),
            ("the last ACK keeps it closing", SYN, &[(C, ACK), (C, FIN | ACK), (B, FIN | ACK), (C, ACK)], Closing, T.transitory),
            ("backend RST on established", SYN, &[(C, ACK), (B, RST)], Closing, T.transitory),
            ("client RST on established", SYN, &[(C, ACK), (C, RST | ACK)], Closing, T.transitory),
            ("backend RST on half-closed", SYN, &[(C, ACK), (C, FIN | ACK), (B, RST)], Closing, T.transitory),
            ("data after a RST: still closing", SYN, &[(C, ACK), (B, RST), (C, ACK), (B, ACK)], Closing, T.transitory),
            ("mid-stream ACK: established", ACK, &[], Established, T.established),
            ("mid-stream FIN: half-closed", FIN | ACK, &[], FinClient, T.established),
            ("mid-stream FIN, then the backend's", FIN | ACK, &[(B, FIN | ACK)], Closing, T.transitory),
            ("mid-stream RST", RST, &[], Closing, T.transitory),
            ("UDP", 0, &[(C, 0), (B, 0)], Established, T.established),
        ];
        for &(what, first, then, state, timeout) in cases {
            let e = entry(first, then);
            assert_eq!(e.state(), state, "{what}");
            assert_eq!(e.timeout(&T), timeout, "{what}");
            assert_eq!(e.last_seen, then.len() as u32, "{what}: last_seen");
            assert_eq!(
                e.is_transitory(),
                matches!(state, SynOnly | Closing),
                "{what}: transitory"
            );
        }
    }

    #[test]
    fn a_client_syn_reopens_closing_and_client_closed_entries() {
        use Dir::{Backend as B, Client as C};
        // (description, first packet, the packets after it, reopens)
        #[rustfmt::skip]
        let cases: &[(&str, u8, Packets, bool)] = &[
            ("SYN only: a retransmission", SYN, &[], false),
            ("established", SYN, &[(C, ACK)], false),
            ("the backend's FIN", SYN, &[(C, ACK), (B, FIN | ACK)], false),
            ("the client's FIN", SYN, &[(C, ACK), (C, FIN | ACK)], true),
            ("refused", SYN, &[(B, RST)], true),
            ("closed", SYN, &[(C, ACK), (B, FIN | ACK), (C, FIN | ACK)], true),
            ("UDP", 0, &[(C, 0)], false),
        ];
        for &(what, first, then, reopens) in cases {
            assert_eq!(entry(first, then).reopens_on_syn(), reopens, "{what}");
        }
    }

    #[test]
    fn sequence_numbers_follow_their_entries_through_cuckoo_moves() {
        let mut t = FlowTable::new(4096, 3);
        let plain = t.memory_bytes();
        t.track_seqs();
        assert_eq!(t.memory_bytes(), plain + t.capacity() * 8);
        let target = t.capacity() as u32 * 9 / 10;
        let mut moved = 0;
        for i in 0..target {
            let k = flow_key(0x0a00_0000 + i, 7, 1);
            let h = t.hash(k);
            let slot = match t.lookup(k, h) {
                Lookup::Miss(Some(s)) => s,
                Lookup::Miss(None) => {
                    moved += 1;
                    t.reclaim(h, 0, |_| 1000).unwrap().0
                }
                Lookup::Hit(_) => panic!("duplicate"),
            };
            t.put(slot, k, 0, 0, 0);
            assert_eq!(t.seqs(slot), None, "a new entry has no numbers yet");
            t.track(slot, i, 0, ACK, !i);
        }
        assert!(moved > 0, "the test should exercise the cuckoo step");
        for i in 0..target {
            let k = flow_key(0x0a00_0000 + i, 7, 1);
            let Lookup::Hit(slot) = t.lookup(k, t.hash(k)) else {
                panic!("lost {i}")
            };
            let s = t.seqs(slot).expect("numbers");
            assert_eq!((s.client_next, s.client_ack), (i, !i), "entry {i}");
        }
    }

    #[test]
    fn sequence_numbers_only_move_forward() {
        let mut s = Seqs::default();
        s.update(true, true, 0xffff_fff0, 0, SYN, 0);
        assert_eq!(s.client_next, 0xffff_fff1);
        // Across the wrap: 18 bytes of data and an ACK.
        s.update(false, true, 0xffff_fff1, 18, ACK, 100);
        assert_eq!((s.client_next, s.client_ack), (3, 100));
        // A retransmission, and an old ACK: nothing goes back.
        s.update(false, false, 0xffff_fff1, 18, ACK, 50);
        assert_eq!((s.client_next, s.client_ack), (3, 100));
        // A FIN counts one; a segment without ACK leaves the ACK.
        s.update(false, false, 3, 0, FIN, 0);
        assert_eq!((s.client_next, s.client_ack), (4, 100));
    }

    /// The lab found it: the first ACK of a connection whose backend's
    /// initial sequence number is 2^31 or more was taken as older than the
    /// slot's 0 (or than a former connection's numbers), so the client's
    /// RST carried a stale number and was ignored.
    #[test]
    fn the_first_ack_is_taken_whatever_the_slot_held() {
        for (stale, ack) in [(0, 0x9000_0001u32), (0x1234_5678, 0x9234_5678), (5, 4)] {
            let mut t = FlowTable::new(64, 1);
            t.track_seqs();
            let k = flow_key(0x0a00_0001, 7, 1);
            let Lookup::Miss(Some(slot)) = t.lookup(k, t.hash(k)) else {
                panic!("room")
            };
            // A former connection in the slot, then this one's SYN and ACK.
            t.put(slot, k, 0, 0, 0);
            t.track(slot, 10, 0, ACK, stale);
            t.put(slot, k, 0, initial_flags(SYN), 0);
            t.track(slot, 100, 0, SYN, 0);
            t.track(slot, 101, 0, ACK, ack);
            assert_eq!(t.seqs(slot).unwrap().client_ack, ack, "after {stale:#x}");
            assert_eq!(t.seqs(slot).unwrap().client_next, 101);
        }
    }

    #[test]
    fn sweep_stops_where_the_caller_says() {
        let mut t = FlowTable::new(1, 0);
        t.track_seqs();
        for i in 0..6u32 {
            let k = flow_key(i + 1, 1, 0);
            let Lookup::Miss(Some(s)) = t.lookup(k, t.hash(k)) else {
                panic!()
            };
            t.put(s, k, 0, 0, 0);
            if i % 2 == 0 {
                t.track(s, i, 0, ACK, i);
            }
        }
        // Room for two: the sweep stops at the third entry with numbers.
        let mut seen = Vec::new();
        let freed = t.sweep_with(
            2,
            100,
            |_| 10,
            |_, s| {
                if s.is_some() && seen.len() == 2 {
                    return false;
                }
                if let Some(s) = s {
                    seen.push(s.client_next);
                }
                true
            },
        );
        assert_eq!(seen.len(), 2);
        assert_eq!(t.occupied(), 6 - freed);
        assert!(t.occupied() >= 1);
        // The next sweep takes the rest.
        let mut rest = 0;
        t.sweep_with(
            2,
            100,
            |_| 10,
            |_, s| {
                rest += s.is_some() as usize;
                true
            },
        );
        assert_eq!(rest, 1);
        assert_eq!(t.occupied(), 0);
    }

    #[test]
    fn entry_and_bucket_sizes() {
        assert_eq!(std::mem::size_of::<Entry>(), 16);
        assert_eq!(std::mem::size_of::<Bucket<u64>>(), 64);
        assert_eq!(std::mem::align_of::<Bucket<u64>>(), 64);
        // IPv6: 28-byte entries, four to a bucket of two cache lines.
        assert_eq!(std::mem::size_of::<Key6>(), 20);
        assert_eq!(std::mem::size_of::<Entry<Key6>>(), 28);
        assert_eq!(std::mem::size_of::<Bucket<Key6>>(), 128);
    }

    #[test]
    fn ipv6_keys_find_their_entries_and_no_other() {
        let mut t: FlowTable<Key6> = FlowTable::new(1000, 7);
        let base: u128 = 0x2001_0db8 << 96;
        let key = |i: u128| Key6::new(base | i << 64 | i, 40000 + i as u16, 3);
        for i in 1..=800u128 {
            let k = key(i);
            assert_eq!(k.client(), base | i << 64 | i);
            let h = t.hash(k);
            let slot = match t.lookup(k, h) {
                Lookup::Miss(Some(s)) => s,
                Lookup::Miss(None) => t.reclaim(h, 0, |_| 100).unwrap().0,
                Lookup::Hit(_) => panic!("key {i} found before it was put"),
            };
            t.put(slot, k, i as u16, 0, 0);
        }
        assert_eq!(t.occupied(), 800);
        for i in 1..=800u128 {
            let k = key(i);
            let Lookup::Hit(s) = t.lookup(k, t.hash(k)) else {
                panic!("key {i} lost");
            };
            assert_eq!(t.get(s).backend, i as u16);
            // Another service, port or address: another connection.
            for other in [
                Key6 { service: 4, ..k },
                Key6 {
                    port: k.port ^ 1,
                    ..k
                },
                Key6::new(k.client() ^ 1 << 127, k.port, k.service),
            ] {
                assert!(!matches!(t.lookup(other, t.hash(other)), Lookup::Hit(_)));
            }
        }
    }

    #[test]
    fn insert_find_remove() {
        let mut t = FlowTable::new(1024, 7);
        let k = flow_key(0xc612_0001, 40000, 3);
        assert_eq!(key_service(k), 3);
        let h = t.hash(k);
        let Lookup::Miss(Some(slot)) = t.lookup(k, h) else {
            panic!("expected a free slot")
        };
        t.put(slot, k, 9, 0, 100);
        assert_eq!(t.occupied(), 1);
        assert_eq!(t.lookup(k, h), Lookup::Hit(slot));
        assert_eq!(t.get(slot).backend, 9);
        let other = flow_key(0xc612_0001, 40001, 3);
        assert!(matches!(t.lookup(other, t.hash(other)), Lookup::Miss(_)));
        t.remove(slot);
        assert_eq!(t.occupied(), 0);
        assert!(matches!(t.lookup(k, h), Lookup::Miss(Some(_))));
    }

    #[test]
    fn fills_to_nominal_capacity() {
        let n = 100_000u32;
        let mut t = FlowTable::new(n, 1);
        for i in 0..n {
            let k = flow_key(0x0a00_0000 + i, (i % 60000) as u16 + 1, 0);
            let h = t.hash(k);
            let slot = match t.lookup(k, h) {
                Lookup::Miss(Some(s)) => s,
                Lookup::Miss(None) => match t.reclaim(h, 0, |_| 1000) {
                    Some((s, Claim::Free)) => s,
                    other => panic!("connection {i}: {other:?}"),
                },
                Lookup::Hit(_) => panic!("duplicate key {i}"),
            };
            t.put(slot, k, 0, 0, 0);
        }
        assert_eq!(t.occupied(), n as usize);
        assert!(t.memory_bytes() / n as usize <= 64);
    }

    #[test]
    fn memory_per_connection_of_both_families() {
        // 25% headroom over the nominal size, in any number of buckets:
        // IPv4 at 20 bytes a connection, IPv6 at 40 (the issue's aim: 64).
        for n in [1_000u32, 100_000, 1_000_000, 1_234_567] {
            let v4: FlowTable<u64> = FlowTable::new(n, 1);
            let v6: FlowTable<Key6> = FlowTable::new(n, 1);
            let per = |bytes: usize| bytes as f64 / n as f64;
            assert!(
                per(v4.memory_bytes()) <= 20.5,
                "IPv4 at {n}: {}",
                per(v4.memory_bytes())
            );
            assert!(
                per(v6.memory_bytes()) <= 41.0,
                "IPv6 at {n}: {}",
                per(v6.memory_bytes())
            );
            assert!(v6.capacity() >= n as usize * 5 / 4);
        }
    }

    #[test]
    fn ipv6_table_fills_to_nominal_capacity() {
        let n = 100_000u32;
        let mut t: FlowTable<Key6> = FlowTable::new(n, 9);
        let base: u128 = 0x2001_0db8 << 96;
        for i in 0..n {
            let k = Key6::new(
                base | (i as u128) << 40 | i as u128,
                (i % 60000) as u16 + 1,
                2,
            );
            let h = t.hash(k);
            let slot = match t.lookup(k, h) {
                Lookup::Miss(Some(s)) => s,
                Lookup::Miss(None) => match t.reclaim(h, 0, |_| 1000) {
                    Some((s, Claim::Free)) => s,
                    other => panic!("connection {i}: {other:?}"),
                },
                Lookup::Hit(_) => panic!("duplicate key {i}"),
            };
            t.put(slot, k, 0, 0, 0);
        }
        assert_eq!(t.occupied(), n as usize);
    }

    #[test]
    fn cuckoo_search_fills_past_ninety_percent() {
        let mut t = FlowTable::new(4096, 3);
        let cap = t.capacity() as u32;
        let target = cap * 9 / 10;
        let mut moved = 0;
        for i in 0..target {
            let k = flow_key(0x0a00_0000 + i, 7, 1);
            let h = t.hash(k);
            let slot = match t.lookup(k, h) {
                Lookup::Miss(Some(s)) => s,
                Lookup::Miss(None) => {
                    moved += 1;
                    match t.reclaim(h, 0, |_| 1000) {
                        Some((s, Claim::Free)) => s,
                        other => panic!("entry {i} of {target}: {other:?}"),
                    }
                }
                Lookup::Hit(_) => panic!("duplicate"),
            };
            t.put(slot, k, 0, 0, 0);
        }
        assert!(moved > 0, "the test should exercise the cuckoo step");
        // Every key is still found after the moves.
        for i in 0..target {
            let k = flow_key(0x0a00_0000 + i, 7, 1);
            assert!(matches!(t.lookup(k, t.hash(k)), Lookup::Hit(_)), "lost {i}");
        }
        assert_eq!(t.occupied(), target as usize);
    }

    #[test]
    fn sweep_frees_expired_entries_round_the_table() {
        let mut t = FlowTable::new(1024, 5);
        let buckets = t.capacity() / WAYS;
        let mut keys = Vec::new();
        for i in 0..600u32 {
            let k = flow_key(0x0a00_0000 + i, 9, 0);
            let h = t.hash(k);
            let Lookup::Miss(Some(s)) = t.lookup(k, h) else {
                panic!("no room for {i}")
            };
            // Every third one seen later, so still live at 160.
            t.put(s, k, 0, 0, if i % 3 == 0 { 150 } else { 100 });
            keys.push(k);
        }
        // Before the timeout nothing goes, however far the sweep runs.
        assert_eq!(t.sweep(2 * buckets, 150, |_| 50), 0);
        assert_eq!(t.occupied(), 600);
        // A part of the table, then the rest: each expired entry freed once.
        let first = t.sweep(buckets / 4, 160, |_| 50);
        let rest = t.sweep(buckets, 160, |_| 50);
        assert_eq!(first + rest, 400);
        assert_eq!(t.occupied(), 200);
        assert_eq!(t.sweep(buckets, 160, |_| 50), 0);
        for (i, k) in keys.iter().enumerate() {
            let live = matches!(t.lookup(*k, t.hash(*k)), Lookup::Hit(_));
            assert_eq!(live, i % 3 == 0, "entry {i}");
        }
        assert_eq!(t.count_live(160, |_| 50), 200);
    }

    #[test]
    fn reclaim_prefers_expired_then_oldest_transitory() {
        // A tiny table: 2 buckets, so every key maps to both of them.
        let mut t = FlowTable::new(1, 0);
        assert_eq!(t.capacity(), 8);
        for i in 0..8u32 {
            let k = flow_key(i + 1, 1, 0);
            let flags = if i == 5 || i == 6 { FLAG_SYN_ONLY } else { 0 };
            let h = t.hash(k);
            let Lookup::Miss(Some(s)) = t.lookup(k, h) else {
                panic!()
            };
            t.put(s, k, 0, flags, 100 + i);
        }
        let k = flow_key(99, 1, 0);
        let h = t.hash(k);
        assert_eq!(t.lookup(k, h), Lookup::Miss(None));
        // Nothing expired: the oldest transitory entry (i == 5) goes.
        let (s, claim) = t.reclaim(h, 110, |_| 60).unwrap();
        assert_eq!(claim, Claim::TransitoryEvicted);
        assert_eq!(t.get(s).last_seen, 105);
        // Long after: something has expired.
        let (_, claim) = t.reclaim(h, 1000, |_| 60).unwrap();
        assert_eq!(claim, Claim::Expired);
        // No transitory, nothing expired: full.
        for s in 0..8 {
            t.get_mut(s).flags = 0;
        }
        assert_eq!(t.reclaim(h, 110, |_| 60), None);
    }
}
