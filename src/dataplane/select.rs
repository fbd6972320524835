//! Backend selection: the rule's [`Mode`] and the tables behind it.
//!
//! This module builds the immutable lookup structures that the data path
//! consults to choose a backend for a new connection:
//!
//! * [`WeightedTable`]: O(1) weighted random choice over a fixed array of
//!   [`WEIGHTED_SLOTS`] slots.
//! * [`MaglevTable`]: weighted Maglev consistent hashing (Eisenbud et al.,
//!   NSDI 2016), with a stable-removal variant ([`MaglevTable::without`]) that
//!   moves no key that was not on a removed backend.
//!
//! It also provides the fast non-cryptographic hashing ([`mix64`],
//! [`hash_tuple`], [`hash_src`], [`hash_src_proto`]) and the per-worker PRNG
//! ([`Rng`]) used throughout natrix.
//!
//! Tables are built by the management thread (allocation is fine there) and
//! are read-only afterwards; lookups do no allocation and are branch-free
//! apart from the slice bounds check.
//!
//! Backends are identified by a `u16` slot index chosen by the caller;
//! [`NONE`] (`u16::MAX`) means "no backend". Consequently at most
//! `u16::MAX` backends (indices `0..=65534`) can be described.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;

/// How a load-balancing rule picks the backend of a new connection.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum Mode {
    /// Weighted random choice per new connection.
    #[default]
    Random,
    /// Maglev consistent hash of the 5-tuple.
    Maglev,
    /// Consistent hash of the client address (2-tuple affinity).
    SourceIp,
    /// Consistent hash of the client address and protocol (3-tuple affinity).
    SourceIpProtocol,
}

impl Mode {
    pub const ALL: [Mode; 4] = [
        Mode::Random,
        Mode::Maglev,
        Mode::SourceIp,
        Mode::SourceIpProtocol,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Mode::Random => "random",
            Mode::Maglev => "maglev",
            Mode::SourceIp => "source-ip",
            Mode::SourceIpProtocol => "source-ip-protocol",
        }
    }

    pub fn from_name(s: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.name() == s)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// "No backend".
pub const NONE: u16 = u16::MAX;

/// Number of slots in a [`WeightedTable`] (a power of two, `2^WEIGHTED_BITS`).
pub const WEIGHTED_SLOTS: usize = 1 << WEIGHTED_BITS;
const WEIGHTED_BITS: u32 = 12;

/// Largest number of backends a table can describe (indices `0..MAX_BACKENDS`).
const MAX_BACKENDS: usize = NONE as usize;

/// 2^64 / golden ratio, an odd constant with well-spread bits.
const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;
/// Domain-separation constants so the different hash functions never agree
/// by construction.
const TAG_TUPLE: u64 = 0x243f_6a88_85a3_08d3;
const TAG_SRC: u64 = 0x1319_8a2e_0370_7344;
const TAG_SRC_PROTO: u64 = 0xa409_3822_299f_31d0;
const TAG_TUPLE6: u64 = 0x082e_fa98_ec4e_6c89;
const TAG_SRC6: u64 = 0x4528_21e6_38d0_1377;
const TAG_SRC_PROTO6: u64 = 0xbe54_66cf_34e9_0c6c;
const TAG_OFFSET: u64 = 0x082e_fa98_ec4e_6c89;
const TAG_SKIP: u64 = 0x4528_21e6_38d0_1377;

// ---------------------------------------------------------------------------
// Hashing
// ---------------------------------------------------------------------------

/// 64-bit avalanche finaliser (xor-shift / multiply, in the style of
/// murmur3's fmix64 and splitmix64's output function).
///
/// It is a bijection on `u64`; every input bit affects every output bit with
/// probability close to 1/2. Note that `mix64(0) == 0`: callers that may feed
/// zero should add a constant first (the `hash_*` functions do).
#[inline]
pub fn mix64(x: u64) -> u64 {
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Hash of a connection 5-tuple (addresses and ports in host order).
///
/// The 104 input bits are absorbed in two 64-bit words, each followed by a
/// full [`mix64`] round, so every field influences every output bit.
#[inline]
pub fn hash_tuple(
    src_ip: u32,
    dst_ip: u32,
    src_port: u16,
    dst_port: u16,
    proto: u8,
    seed: u64,
) -> u64 {
    let addrs = (u64::from(src_ip) << 32) | u64::from(dst_ip);
    let rest = (u64::from(src_port) << 48) | (u64::from(dst_port) << 32) | (u64::from(proto) << 24);
    let h = mix64(addrs ^ seed ^ TAG_TUPLE);
    mix64(h ^ rest.wrapping_add(GOLDEN))
}

/// Hash of the client address alone (2-tuple / source affinity key).
#[inline]
pub fn hash_src(src_ip: u32, seed: u64) -> u64 {
    mix64((u64::from(src_ip) ^ seed ^ TAG_SRC).wrapping_mul(GOLDEN))
}

/// Hash of client address and protocol (3-tuple affinity key).
#[inline]
pub fn hash_src_proto(src_ip: u32, proto: u8, seed: u64) -> u64 {
    let x = (u64::from(src_ip) << 8) | u64::from(proto);
    mix64((x ^ seed ^ TAG_SRC_PROTO).wrapping_mul(GOLDEN))
}

/// [`hash_tuple`] of an IPv6 connection: the two 128-bit addresses are
/// absorbed a 64-bit word at a time, each followed by a full [`mix64`] round.
#[inline]
pub fn hash_tuple6(
    src_ip: u128,
    dst_ip: u128,
    src_port: u16,
    dst_port: u16,
    proto: u8,
    seed: u64,
) -> u64 {
    let rest = (u64::from(src_port) << 48) | (u64::from(dst_port) << 32) | (u64::from(proto) << 24);
    let mut h = mix64(seed ^ TAG_TUPLE6);
    for w in [src_ip >> 64, src_ip, dst_ip >> 64, dst_ip] {
        h = mix64(h ^ w as u64);
    }
    mix64(h ^ rest.wrapping_add(GOLDEN))
}

/// [`hash_src`] of an IPv6 client.
#[inline]
pub fn hash_src6(src_ip: u128, seed: u64) -> u64 {
    let h = mix64(((src_ip >> 64) as u64) ^ seed ^ TAG_SRC6);
    mix64((h ^ src_ip as u64).wrapping_mul(GOLDEN))
}

/// [`hash_src_proto`] of an IPv6 client.
#[inline]
pub fn hash_src_proto6(src_ip: u128, proto: u8, seed: u64) -> u64 {
    let h = mix64(((src_ip >> 64) as u64) ^ seed ^ TAG_SRC_PROTO6 ^ u64::from(proto));
    mix64((h ^ src_ip as u64).wrapping_mul(GOLDEN))
}

// ---------------------------------------------------------------------------
// PRNG
// ---------------------------------------------------------------------------

/// Small, fast PRNG for per-worker random choices (splitmix64: a Weyl
/// sequence passed through [`mix64`]). Not cryptographic.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator whose sequence is fully determined by `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// Next 64 uniformly distributed bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN);
        mix64(self.state)
    }
}

// ---------------------------------------------------------------------------
// Weighted random choice
// ---------------------------------------------------------------------------

/// Weighted random choice in O(1).
///
/// The table has [`WEIGHTED_SLOTS`] slots; each backend owns a number of
/// slots proportional to its weight (largest-remainder apportionment). A
/// backend with weight > 0 is guaranteed at least one slot as long as there
/// are at most `WEIGHTED_SLOTS` such backends. Weight 0 means no slots
/// (draining). When no backend has a positive weight every slot holds
/// [`NONE`].
#[derive(Clone, PartialEq, Eq)]
pub struct WeightedTable {
    slots: Box<[u16; WEIGHTED_SLOTS]>,
    empty: bool,
}

impl WeightedTable {
    /// Builds the table; index `i` of `weights` is backend slot `i`.
    ///
    /// Panics if `weights.len()` exceeds 65535 (index `u16::MAX` is [`NONE`]).
    pub fn build(weights: &[u32]) -> WeightedTable {
        assert!(
            weights.len() <= MAX_BACKENDS,
            "at most {MAX_BACKENDS} backends"
        );
        let counts = apportion(weights, WEIGHTED_SLOTS as u64);
        let mut slots = Box::new([NONE; WEIGHTED_SLOTS]);
        let mut at = 0usize;
        for (backend, &count) in counts.iter().enumerate() {
            let count = count as usize;
            slots[at..at + count].fill(backend as u16);
            at += count;
        }
        debug_assert!(at == 0 || at == WEIGHTED_SLOTS);
        WeightedTable {
            slots,
            empty: at == 0,
        }
    }

    /// Picks a backend from 64 uniformly random bits (only the top
    /// `log2(WEIGHTED_SLOTS)` bits are used). Returns [`NONE`] when the table
    /// is empty.
    #[inline]
    pub fn pick(&self, random: u64) -> u16 {
        self.slots[(random >> (64 - WEIGHTED_BITS)) as usize]
    }

    /// True when no backend has a positive weight.
    pub fn is_empty(&self) -> bool {
        self.empty
    }

    /// The raw slot array (for inspection and tests).
    pub fn slots(&self) -> &[u16] {
        &self.slots[..]
    }
}

impl fmt::Debug for WeightedTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeightedTable")
            .field("slots", &WEIGHTED_SLOTS)
            .field("empty", &self.empty)
            .finish()
    }
}

/// Largest-remainder (Hamilton) apportionment of `total` seats over
/// `weights`, then a fix-up giving every positive weight at least one seat
/// (taken from whoever holds the most) when that is possible.
///
/// Returns one count per weight; the counts sum to `total`, or to 0 when all
/// weights are 0.
fn apportion(weights: &[u32], total: u64) -> Vec<u64> {
    let sum: u64 = weights.iter().map(|&w| u64::from(w)).sum();
    let mut counts = vec![0u64; weights.len()];
    if sum == 0 {
        return counts;
    }
    // Exact quota = w * total / sum; products fit u128 comfortably.
    let mut assigned = 0u64;
    let mut remainders: Vec<(u128, usize)> = Vec::new();
    for (i, &w) in weights.iter().enumerate() {
        if w == 0 {
            continue;
        }
        let num = u128::from(w) * u128::from(total);
        let q = num / u128::from(sum);
        counts[i] = q as u64;
        assigned += q as u64;
        remainders.push((num % u128::from(sum), i));
    }
    // Hand the leftover seats to the largest remainders (ties: lower index).
    let leftover = (total - assigned) as usize;
    remainders.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, i) in remainders.iter().take(leftover) {
        counts[i] += 1;
    }

    // Guarantee one seat per positive weight when there are enough seats.
    let positive = remainders.len() as u64;
    if positive <= total {
        let starved: Vec<usize> = remainders
            .iter()
            .map(|&(_, i)| i)
            .filter(|&i| counts[i] == 0)
            .collect();
        if !starved.is_empty() {
            // Max-heap by count (ties: lower index first for determinism).
            let mut heap: BinaryHeap<(u64, Reverse<usize>)> = remainders
                .iter()
                .map(|&(_, i)| (counts[i], Reverse(i)))
                .filter(|&(c, _)| c > 1)
                .collect();
            for i in starved {
                let (c, Reverse(donor)) = heap.pop().expect("enough seats for every backend");
                counts[donor] = c - 1;
                counts[i] = 1;
                if c - 1 > 1 {
                    heap.push((c - 1, Reverse(donor)));
                }
            }
        }
    }
    counts
}

// ---------------------------------------------------------------------------
// Maglev
// ---------------------------------------------------------------------------

/// Weighted Maglev consistent-hashing table (Eisenbud et al., NSDI 2016).
///
/// Each entry holds a backend slot index (or [`NONE`] when the table was
/// built without any usable backend). A flow hash is mapped to an entry by
/// [`MaglevTable::lookup`]; the mapping from hash to entry index depends only
/// on the table size, so tables of equal size agree wherever their entries
/// agree.
#[derive(Clone, PartialEq, Eq)]
pub struct MaglevTable {
    entries: Box<[u16]>,
}

/// A backend's Maglev permutation: `perm(n) = (offset + n * skip) mod size`.
#[derive(Clone, Copy)]
struct Perm {
    offset: u64,
    skip: u64,
}

impl Perm {
    fn new(key: u64, size: u64) -> Perm {
        Perm {
            offset: mix64(key ^ TAG_OFFSET) % size,
            skip: mix64(key ^ TAG_SKIP) % (size - 1) + 1,
        }
    }
}

impl MaglevTable {
    /// Builds a table of `size` entries (`size` must be prime; checked in
    /// debug builds, and `size >= 2` always). `backends[i] = (key, weight)`
    /// describes backend slot `i`: `key` is a stable 64-bit identity (e.g. a
    /// hash of its address and port), `weight` its relative capacity; weight
    /// 0 excludes it.
    ///
    /// Filling proceeds in rounds; in round `r` a backend of weight `w`
    /// claims its next free preferred entry iff
    /// `floor((r+1)·w/wmax) > floor(r·w/wmax)`, so entry shares follow the
    /// weights.
    pub fn build(size: u32, backends: &[(u64, u32)]) -> MaglevTable {
        assert!(size >= 2, "Maglev table size must be a prime >= 2");
        debug_assert!(is_prime(size), "Maglev table size {size} is not prime");
        assert!(
            backends.len() <= MAX_BACKENDS,
            "at most {MAX_BACKENDS} backends"
        );
        let n = size as usize;
        let m = u64::from(size);
        let mut entries = vec![NONE; n].into_boxed_slice();

        struct Filler {
            backend: u16,
            weight: u64,
            /// `r·w mod wmax` for the current round `r`.
            acc: u64,
            /// Current position in the permutation (an entry index).
            pos: u64,
            skip: u64,
        }
        let mut fillers: Vec<Filler> = backends
            .iter()
            .enumerate()
            .filter(|(_, &(_, w))| w > 0)
            .map(|(i, &(key, w))| {
                let p = Perm::new(key, m);
                Filler {
                    backend: i as u16,
                    weight: u64::from(w),
                    acc: 0,
                    pos: p.offset,
                    skip: p.skip,
                }
            })
            .collect();
        let Some(wmax) = fillers.iter().map(|f| f.weight).max() else {
            return MaglevTable { entries };
        };

        let mut filled = 0usize;
        'rounds: loop {
            for f in fillers.iter_mut() {
                f.acc += f.weight;
                if f.acc < wmax {
                    continue;
                }
                f.acc -= wmax;
                // Advance along the permutation to the first free entry. The
                // permutation visits every entry (skip is coprime to the
                // prime size), so this terminates while entries remain free.
                while entries[f.pos as usize] != NONE {
                    f.pos += f.skip;
                    if f.pos >= m {
                        f.pos -= m;
                    }
                }
                entries[f.pos as usize] = f.backend;
                filled += 1;
                if filled == n {
                    break 'rounds;
                }
            }
        }
        MaglevTable { entries }
    }

    /// Stable removal: returns a new table in which every entry that pointed
    /// to a backend not listed in `removed` still points to it, and every
    /// entry that pointed to a removed backend is reassigned to the remaining
    /// backend (weight > 0 in `backends`, not in `removed`) whose Maglev
    /// permutation reaches that entry earliest. Entries that were [`NONE`]
    /// are assigned the same way.
    ///
    /// `backends` must describe the same keys the table was built with
    /// (weights may have changed). Removing a backend therefore moves no key
    /// that was on another backend. If no backend remains, the affected
    /// entries become [`NONE`].
    pub fn without(&self, backends: &[(u64, u32)], removed: &[u16]) -> MaglevTable {
        assert!(
            backends.len() <= MAX_BACKENDS,
            "at most {MAX_BACKENDS} backends"
        );
        let size = self.size();
        let m = u64::from(size);
        // Membership bitmap over the whole u16 index space (NONE included,
        // so that NONE entries are treated as needing an owner).
        let mut gone = vec![false; 1 << 16];
        for &r in removed {
            gone[usize::from(r)] = true;
        }
        gone[usize::from(NONE)] = true;

        // Remaining candidates: (backend, offset, inverse of skip).
        let candidates: Vec<(u16, u64, u64)> = backends
            .iter()
            .enumerate()
            .filter(|&(i, &(_, w))| w > 0 && !gone[i])
            .map(|(i, &(key, _))| {
                let p = Perm::new(key, m);
                (i as u16, p.offset, mod_inverse_prime(p.skip, m))
            })
            .collect();

        let mut entries = self.entries.clone();
        for (j, e) in entries.iter_mut().enumerate() {
            if !gone[usize::from(*e)] {
                continue;
            }
            let j = j as u64;
            // Position of entry j in backend i's permutation:
            // n = (j - offset_i) * skip_i^-1 mod size.
            let mut best = NONE;
            let mut best_pos = u64::MAX;
            for &(b, offset, inv) in &candidates {
                let d = if j >= offset {
                    j - offset
                } else {
                    j + m - offset
                };
                let pos = d * inv % m;
                if pos < best_pos {
                    best_pos = pos;
                    best = b;
                }
            }
            *e = best;
        }
        MaglevTable { entries }
    }

    /// The backend for a flow hash: the entry at `hash` reduced onto the
    /// table size by multiply-shift (uses the high bits of `hash`). Returns
    /// [`NONE`] when the table has no backends.
    #[inline]
    pub fn lookup(&self, hash: u64) -> u16 {
        let n = self.entries.len() as u128;
        self.entries[((u128::from(hash) * n) >> 64) as usize]
    }

    /// Number of entries (a prime).
    pub fn size(&self) -> u32 {
        self.entries.len() as u32
    }

    /// The raw entries (backend slot index per entry).
    pub fn entries(&self) -> &[u16] {
        &self.entries
    }

    /// The same table without backend slot `slot`, which must own no entry
    /// (a removed backend): every higher slot moves down by one, so every
    /// entry keeps its backend and no key moves.
    pub fn without_slot(&self, slot: u16) -> MaglevTable {
        let entries = self
            .entries
            .iter()
            .map(|&e| {
                debug_assert!(e != slot || e == NONE, "slot {slot} still owns entries");
                if e != NONE && e > slot {
                    e - 1
                } else {
                    e
                }
            })
            .collect();
        MaglevTable { entries }
    }
}

impl fmt::Debug for MaglevTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MaglevTable")
            .field("size", &self.entries.len())
            .finish()
    }
}

/// Modular inverse of `a` modulo the prime `p` (Fermat: `a^(p-2) mod p`).
/// `a` must be non-zero modulo `p`, and `p < 2^32`.
fn mod_inverse_prime(a: u64, p: u64) -> u64 {
    debug_assert!(p < 1 << 32 && !a.is_multiple_of(p));
    let mut base = a % p;
    let mut exp = p - 2;
    let mut acc = 1u64;
    while exp > 0 {
        if exp & 1 == 1 {
            acc = acc * base % p;
        }
        base = base * base % p;
        exp >>= 1;
    }
    acc
}

// ---------------------------------------------------------------------------
// Primes
// ---------------------------------------------------------------------------

/// Deterministic primality test (trial division by 2, 3 and `6k ± 1`).
pub fn is_prime(n: u32) -> bool {
    if n < 4 {
        return n >= 2;
    }
    if n.is_multiple_of(2) || n.is_multiple_of(3) {
        return false;
    }
    let n = u64::from(n);
    let mut d = 5u64;
    while d * d <= n {
        if n.is_multiple_of(d) || n.is_multiple_of(d + 2) {
            return false;
        }
        d += 6;
    }
    true
}

/// The smallest prime `>= n`.
///
/// Panics if there is none representable in `u32` (`n > 4_294_967_291`).
pub fn next_prime(n: u32) -> u32 {
    let mut c = n.max(2);
    loop {
        if is_prime(c) {
            return c;
        }
        c = c.checked_add(1).expect("no u32 prime >= n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_names_round_trip() {
        for m in Mode::ALL {
            assert_eq!(Mode::from_name(m.name()), Some(m));
        }
        assert_eq!(Mode::from_name("round-robin"), None);
    }

    #[test]
    fn primes() {
        let small: Vec<u32> = (0..60).filter(|&n| is_prime(n)).collect();
        assert_eq!(
            small,
            [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59]
        );
        assert!(is_prime(65537));
        assert!(!is_prime(65536));
        assert!(is_prime(100003));
        assert!(!is_prime(25));
        assert!(!is_prime(65537 * 3));
        assert!(is_prime(4_294_967_291));
        assert!(!is_prime(u32::MAX));
        assert_eq!(next_prime(100_000), 100_003);
        assert_eq!(next_prime(65537), 65537);
        assert_eq!(next_prime(65536), 65537);
        assert_eq!(next_prime(0), 2);
        assert_eq!(next_prime(4_294_967_291), 4_294_967_291);
    }

    #[test]
    fn inverse() {
        for p in [2u64, 3, 5, 251, 65537, 100003, 4_294_967_291] {
            for a in [1u64, 2, p - 1, p / 2 + 1] {
                if a % p == 0 {
                    continue;
                }
                assert_eq!(a * mod_inverse_prime(a, p) % p, 1, "a={a} p={p}");
            }
        }
    }

    #[test]
    fn apportion_sums_and_minimum() {
        assert_eq!(apportion(&[], 4096), Vec::<u64>::new());
        assert_eq!(apportion(&[0, 0], 4096), vec![0, 0]);
        assert_eq!(apportion(&[1, 1, 1], 4096), vec![1366, 1365, 1365]);
        assert_eq!(apportion(&[1, 2, 3], 4096), vec![683, 1365, 2048]);
        // A tiny weight next to a huge one still gets its slot.
        let c = apportion(&[1, u32::MAX, 1], 4096);
        assert_eq!(c, vec![1, 4094, 1]);
        // 4096 positive weights: one each.
        let mut w = vec![1u32; 4096];
        w[0] = u32::MAX;
        let c = apportion(&w, 4096);
        assert!(c.iter().all(|&x| x == 1));
        // More positive weights than slots: some get none, total still 4096.
        let c = apportion(&vec![1u32; 5000], 4096);
        assert_eq!(c.iter().sum::<u64>(), 4096);
        assert!(c.iter().all(|&x| x <= 1));
    }

    #[test]
    fn weighted_basic() {
        let t = WeightedTable::build(&[]);
        assert!(t.is_empty());
        assert_eq!(t.pick(0), NONE);
        assert_eq!(t.pick(u64::MAX), NONE);
        let t = WeightedTable::build(&[0, 5]);
        assert!(!t.is_empty());
        assert!(t.slots().iter().all(|&s| s == 1));
        assert_eq!(t.pick(0), 1);
        assert_eq!(t.pick(u64::MAX), 1);
    }

    #[test]
    fn maglev_small_and_empty() {
        let t = MaglevTable::build(7, &[]);
        assert_eq!(t.size(), 7);
        assert!(t.entries().iter().all(|&e| e == NONE));
        assert_eq!(t.lookup(12345), NONE);
        let t = MaglevTable::build(2, &[(1, 1), (2, 0)]);
        assert_eq!(t.entries(), &[0, 0]);
        let t = MaglevTable::build(13, &[(1, 0), (2, 3)]);
        assert!(t.entries().iter().all(|&e| e == 1));
        // Removing everything leaves an empty table.
        let u = t.without(&[(1, 0), (2, 3)], &[1]);
        assert!(u.entries().iter().all(|&e| e == NONE));
        // An empty table gains owners when backends appear.
        let e = MaglevTable::build(13, &[]);
        let u = e.without(&[(1, 1), (2, 1)], &[]);
        assert!(u.entries().iter().all(|&e| e == 0 || e == 1));
    }

    #[test]
    fn maglev_matches_spec_permutation() {
        // With a single backend, the first entry filled is its offset, and the
        // entry reached earliest by a backend's permutation is its offset too.
        let size = 101u32;
        let key = 0xdead_beef;
        let p = Perm::new(key, u64::from(size));
        let two = MaglevTable::build(size, &[(key, 1), (key ^ 1, 1)]);
        assert_eq!(two.entries()[p.offset as usize], 0);
        // Position formula inverts the permutation.
        let inv = mod_inverse_prime(p.skip, u64::from(size));
        for n in 0..u64::from(size) {
            let j = (p.offset + n * p.skip) % u64::from(size);
            let back = ((j + u64::from(size) - p.offset) % u64::from(size)) * inv % u64::from(size);
            assert_eq!(back, n);
        }
    }
}
