//! The immutable service snapshot that workers read. The control plane
//! (`control::plane`) builds and publishes it.
//!
//! This is the one module where control plane and data path meet: the
//! management thread builds a [`Snapshot`], publishes it through a
//! [`SnapshotCell`], and each worker picks it up between bursts with one atomic
//! load of the generation. Workers never lock.

use crate::dataplane::flow::{Entry, FlowKey, Timeouts};
use crate::dataplane::select::{MaglevTable, Mode, WeightedTable, NONE};
use crate::wire::{IpProtocol, MacAddr};
use arc_swap::ArcSwap;
use hashbrown::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Backend ids are u16 indices into `Snapshot::backends`; this bounds them so
/// that per-backend counters can be preallocated.
pub const MAX_BACKEND_IDS: usize = 4096;

/// Ones'-complement delta of an IPv4 TTL decrement: the word (ttl, protocol)
/// goes from m to m - 0x100, and ~m + (m - 0x100) = 0xFEFF for any TTL >= 1.
pub const TTL_DECREMENT_DELTA: u32 = 0xFEFF;

/// A backend's state as the workers see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendStatus {
    /// Takes new connections (weight > 0).
    Active,
    /// Weight 0: keeps its connections, takes no new ones.
    Draining,
    /// Gone: its connections are dropped.
    Removed,
    /// Failed its health probes, pool with `down_connections = "keep"`: takes
    /// no new connections, keeps its existing ones.
    Down,
    /// Failed its health probes, pool with `down_connections = "drop"`: takes
    /// no new connections, and its TCP connections are dropped (and counted
    /// as `backend-down`) on their next packet.
    DownDrop,
}

impl BackendStatus {
    pub fn name(self) -> &'static str {
        match self {
            BackendStatus::Active => "active",
            BackendStatus::Draining => "draining",
            BackendStatus::Removed => "removed",
            BackendStatus::Down => "down",
            BackendStatus::DownDrop => "down-drop",
        }
    }

    /// Down after failed health probes (either way of handling connections).
    pub fn is_down(self) -> bool {
        matches!(self, BackendStatus::Down | BackendStatus::DownDrop)
    }
}

/// One backend of one service, with its precomputed rewrite.
#[derive(Clone, Debug)]
pub struct BackendEntry {
    /// The service (frontend) it serves.
    pub service: u16,
    /// Pool index in the configuration (`u16::MAX` for an inbound NAT rule).
    pub pool: u16,
    /// IPv4 or IPv6; the raw forms below are what the data path uses.
    pub address: IpAddr,
    pub port: u16,
    /// The destination MAC toward it (written by hand, or resolved);
    /// [`MacAddr::ZERO`] while not resolved.
    pub mac: MacAddr,
    /// The address whose MAC is resolved to reach it (its own or its
    /// pool's next hop); none when its MAC is written by hand.
    pub next_hop: Option<IpAddr>,
    /// The configured weight (0 while draining or removed; kept while down).
    pub weight: u32,
    pub status: BackendStatus,
    /// Health probes' verdict (always true without a `[pool.health]`). A
    /// draining backend can be down too; its status then says `down`.
    pub healthy: bool,
    /// The IPv4 address as a number (0 for IPv6), for the rewrite.
    pub addr_raw: u32,
    /// The IPv6 address as a number (`u128::from(Ipv6Addr)`; 0 for IPv4).
    pub addr6: u128,
    /// Checksum deltas (RFC 1624) of the inbound rewrite: IP header (with the TTL
    /// decrement; 0 for IPv6, which has no header checksum) and TCP/UDP
    /// (pseudo-header address and port: [`checksum::delta32`] of the
    /// addresses for IPv4, [`checksum::delta128`] for IPv6, with
    /// [`checksum::delta16`] of the ports).
    ///
    /// [`checksum::delta32`]: crate::wire::checksum::delta32
    /// [`checksum::delta128`]: crate::wire::checksum::delta128
    /// [`checksum::delta16`]: crate::wire::checksum::delta16
    pub in_ip_delta: u32,
    pub in_l4_delta: u32,
    /// The same for the return rewrite.
    pub out_ip_delta: u32,
    pub out_l4_delta: u32,
}

/// What a frontend does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceKind {
    /// A load-balancing rule over a pool.
    Balance,
    /// An inbound NAT rule: one backend, translated without state.
    Nat,
}

/// A frontend and how it is served.
#[derive(Clone, Debug)]
pub struct Service {
    pub name: String,
    /// The frontend's address, IPv4 or IPv6.
    pub address: IpAddr,
    pub port: u16,
    pub protocol: IpProtocol,
    /// The IPv4 address as a number (0 for IPv6).
    pub addr_raw: u32,
    /// The IPv6 address as a number (0 for IPv4).
    pub addr6: u128,
    pub kind: ServiceKind,
    pub mode: Mode,
    /// The rule's timeouts by TCP state ([`Entry::timeout`] picks one).
    pub timeouts: Timeouts,
    /// `tcp_reset_on_idle`: an established connection that reaches its idle
    /// timeout is reset both ways.
    pub reset_on_idle: bool,
    /// SIIT: an IPv6 frontend over IPv4 backends (`dataplane::siit`).
    pub siit: bool,
    /// Pool index (`u16::MAX` for NAT rules).
    pub pool: u16,
    /// Backend ids in table-slot order (append-only: removed ones stay, weight 0).
    pub members: Vec<u16>,
    /// No member takes new connections because every member that would (weight
    /// > 0) is down: new connections are dropped as `pool-down`, not `no-backend`.
    pub pool_down: bool,
    pub weighted: WeightedTable,
    pub maglev: MaglevTable,
}

impl Service {
    /// Backend id for a weighted random draw, or NONE.
    #[inline(always)]
    pub fn pick_random(&self, random: u64) -> u16 {
        let s = self.weighted.pick(random);
        if s == NONE {
            NONE
        } else {
            self.members[s as usize]
        }
    }

    /// Backend id for a consistent-hash key, or NONE.
    #[inline(always)]
    pub fn pick_hash(&self, hash: u64) -> u16 {
        let s = self.maglev.lookup(hash);
        if s == NONE {
            NONE
        } else {
            self.members[s as usize]
        }
    }
}

/// Everything a worker needs to translate packets, immutable once published.
pub struct Snapshot {
    pub generation: u64,
    pub mac: MacAddr,
    /// The destination MAC of IPv4 return traffic (the gateway toward the
    /// clients); [`MacAddr::ZERO`] while not resolved.
    pub gateway_mac: MacAddr,
    /// The same for IPv6 (the same MAC when written by hand).
    pub gateway_mac6: MacAddr,
    pub seed: u64,
    /// Flow-table capacity per worker.
    pub flow_table_size: u32,
    /// Each worker's fragment table and hold area.
    pub fragments: crate::dataplane::fragment::Limits,
    pub pool_names: Vec<String>,
    pub services: Vec<Service>,
    pub backends: Vec<BackendEntry>,
    /// Frontend endpoint -> service id (read through [`Snapshot::frontend`]).
    pub frontends: EndpointMap,
    /// Backend endpoint -> backend id (read through [`Snapshot::return_backend`]).
    pub returns: EndpointMap,
    /// Frontend addresses and the appliance's own (read through [`Snapshot::is_local`]).
    pub local: HashSet<u32>,
    /// IPv6 frontend endpoint -> service id ([`Snapshot::frontend6`]).
    pub frontends6: EndpointMap<Endpoint6>,
    /// IPv6 backend endpoint -> backend id ([`Snapshot::return_backend6`]).
    pub returns6: EndpointMap<Endpoint6>,
    /// IPv6 frontend addresses and the appliance's own ([`Snapshot::is_local6`]).
    pub local6: HashSet<u128>,
    /// `appliance.siit_addresses`: the IPv4 sources of SIIT connections
    /// ([`Snapshot::siit_index`]); also in `local`.
    pub siit: Vec<u32>,
}

/// A key of an [`EndpointMap`]: one value is never a real key (`EMPTY`),
/// and `spread` mixes the key into 64 bits whose high bits index the map.
pub trait MapKey: Copy + Eq {
    const EMPTY: Self;
    fn spread(self) -> u64;
}

impl MapKey for u64 {
    const EMPTY: u64 = u64::MAX;
    #[inline(always)]
    fn spread(self) -> u64 {
        self.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }
}

/// An IPv6 (address, port, protocol) endpoint ([`endpoint_key6`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint6 {
    pub addr: u128,
    /// Port << 8 | protocol number: below 2^24.
    pub port_proto: u32,
}

impl MapKey for Endpoint6 {
    const EMPTY: Endpoint6 = Endpoint6 {
        addr: u128::MAX,
        port_proto: u32::MAX,
    };
    #[inline(always)]
    fn spread(self) -> u64 {
        let folded = (self.addr as u64) ^ ((self.addr >> 64) as u64).rotate_left(29);
        (folded ^ self.port_proto as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }
}

/// Key of an IPv6 (address, port, protocol) endpoint in the lookup maps.
#[inline(always)]
pub fn endpoint_key6(addr: u128, port: u16, proto: IpProtocol) -> Endpoint6 {
    Endpoint6 {
        addr,
        port_proto: ((port as u32) << 8) | proto.number() as u32,
    }
}

/// A small read-only open-addressing map from endpoint keys to ids, built with
/// the snapshot: one multiply to hash, linear probing, inlined into the data
/// path (a general-purpose map's lookup was 12% of a core at 1K connections).
#[derive(Clone, Debug)]
pub struct EndpointMap<K = u64> {
    slots: Box<[(K, u16)]>,
    shift: u32,
}

impl<K: MapKey + std::hash::Hash> EndpointMap<K> {
    /// Builds the map at most 25% full.
    pub fn build(entries: &HashMap<K, u16>) -> EndpointMap<K> {
        let n = (entries.len() * 4).next_power_of_two().max(8);
        let mut slots = vec![(K::EMPTY, 0u16); n].into_boxed_slice();
        let shift = 64 - n.trailing_zeros();
        let mask = n - 1;
        for (&k, &v) in entries {
            let mut i = Self::index(k, shift);
            while slots[i].0 != K::EMPTY {
                i = (i + 1) & mask;
            }
            slots[i] = (k, v);
        }
        EndpointMap { slots, shift }
    }

    #[inline(always)]
    fn index(key: K, shift: u32) -> usize {
        (key.spread() >> shift) as usize
    }

    #[inline(always)]
    pub fn get(&self, key: K) -> Option<u16> {
        let mask = self.slots.len() - 1;
        let mut i = Self::index(key, self.shift);
        loop {
            let (k, v) = self.slots[i];
            if k == key {
                return Some(v);
            }
            if k == K::EMPTY {
                return None;
            }
            i = (i + 1) & mask;
        }
    }
}

/// Key of an (address, port, protocol) endpoint in the lookup maps.
#[inline(always)]
pub fn endpoint_key(addr_raw: u32, port: u16, proto: IpProtocol) -> u64 {
    ((addr_raw as u64) << 24) | ((port as u64) << 8) | proto.number() as u64
}

impl Snapshot {
    /// The service whose frontend is (dst, port, proto).
    #[inline(always)]
    pub fn frontend(&self, dst: u32, port: u16, proto: IpProtocol) -> Option<u16> {
        self.frontends.get(endpoint_key(dst, port, proto))
    }

    /// The backend id whose endpoint is (src, port, proto), for return traffic.
    #[inline(always)]
    pub fn return_backend(&self, src: u32, port: u16, proto: IpProtocol) -> Option<u16> {
        self.returns.get(endpoint_key(src, port, proto))
    }

    /// The service whose IPv6 frontend is (dst, port, proto).
    #[inline(always)]
    pub fn frontend6(&self, dst: u128, port: u16, proto: IpProtocol) -> Option<u16> {
        self.frontends6.get(endpoint_key6(dst, port, proto))
    }

    /// The backend id whose IPv6 endpoint is (src, port, proto).
    #[inline(always)]
    pub fn return_backend6(&self, src: u128, port: u16, proto: IpProtocol) -> Option<u16> {
        self.returns6.get(endpoint_key6(src, port, proto))
    }

    /// Whether `addr` is an IPv6 frontend address or one of the appliance's own.
    #[inline(always)]
    pub fn is_local6(&self, addr: u128) -> bool {
        self.local6.contains(&addr)
    }

    /// The timeout of flow entry `e`, looking up its rule by the service in
    /// its key (where the rule is at hand, use [`Entry::timeout`] directly).
    /// An entry of a service that no longer exists has timed out.
    #[inline]
    pub fn flow_timeout<K: FlowKey>(&self, e: &Entry<K>) -> u32 {
        self.services
            .get(e.key.service() as usize)
            .map_or(0, |s| e.timeout(&s.timeouts))
    }

    /// Whether some rule resets its idle connections (then the flow tables
    /// keep sequence numbers).
    pub fn resets_on_idle(&self) -> bool {
        self.services.iter().any(|s| s.reset_on_idle)
    }

    /// Whether `addr` is a frontend address or one of the appliance's own.
    #[inline(always)]
    pub fn is_local(&self, addr: u32) -> bool {
        self.local.contains(&addr)
    }

    /// The index of `addr` in the SIIT addresses, if it is one. A short
    /// list (at most 16), scanned.
    #[inline(always)]
    pub fn siit_index(&self, addr: u32) -> Option<usize> {
        self.siit.iter().position(|&a| a == addr)
    }

    /// The pool name of a backend ("nat-rule" for NAT rules).
    pub fn pool_name(&self, b: &BackendEntry) -> &str {
        self.pool_names
            .get(b.pool as usize)
            .map(String::as_str)
            .unwrap_or("nat-rule")
    }
}

/// Publishes snapshots to workers: RCU-style, readers never block.
pub struct SnapshotCell {
    current: ArcSwap<Snapshot>,
    generation: AtomicU64,
}

impl SnapshotCell {
    pub fn new(s: Arc<Snapshot>) -> SnapshotCell {
        SnapshotCell {
            generation: AtomicU64::new(s.generation),
            current: ArcSwap::new(s),
        }
    }

    /// The generation of the newest snapshot (one atomic load: cheap enough to
    /// call between every burst).
    #[inline(always)]
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn load(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Makes `s` the current snapshot; workers see it at their next burst.
    pub fn publish(&self, s: Arc<Snapshot>) {
        let g = s.generation;
        self.current.store(s);
        self.generation.store(g, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_map_finds_every_key_and_no_other() {
        let mut m = HashMap::new();
        for i in 0..500u32 {
            m.insert(
                endpoint_key(0xc612_0000 + i * 7, (i % 3) as u16 + 80, IpProtocol::Tcp),
                i as u16,
            );
        }
        let e = EndpointMap::build(&m);
        for (k, v) in &m {
            assert_eq!(e.get(*k), Some(*v));
        }
        for i in 0..500u32 {
            assert_eq!(
                e.get(endpoint_key(0xc612_0000 + i * 7, 1000, IpProtocol::Tcp)),
                None
            );
            assert_eq!(
                e.get(endpoint_key(0xc612_0000 + i * 7, 80, IpProtocol::Udp)),
                None
            );
        }
        let empty = EndpointMap::build(&HashMap::new());
        assert_eq!(empty.get(endpoint_key(1, 2, IpProtocol::Tcp)), None);
    }

    #[test]
    fn endpoint_map6_finds_every_key_and_no_other() {
        let mut m = HashMap::new();
        let base: u128 = 0x2001_0db8_0000_0000_0000_0000_0000_0000;
        for i in 0..500u128 {
            let addr = base | (i << 64) | (i * 7);
            m.insert(endpoint_key6(addr, 443, IpProtocol::Tcp), i as u16);
        }
        let e = EndpointMap::build(&m);
        for (k, v) in &m {
            assert_eq!(e.get(*k), Some(*v));
        }
        for i in 0..500u128 {
            let addr = base | (i << 64) | (i * 7);
            assert_eq!(e.get(endpoint_key6(addr, 443, IpProtocol::Udp)), None);
            assert_eq!(
                e.get(endpoint_key6(addr ^ 1 << 100, 443, IpProtocol::Tcp)),
                None
            );
        }
    }
}
