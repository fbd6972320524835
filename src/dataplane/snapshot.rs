//! The immutable service snapshot that workers read, and the control plane that
//! builds and publishes it.
//!
//! This is the one module where control plane and data path meet: the
//! management thread builds a [`Snapshot`], publishes it through a
//! [`SnapshotCell`], and each worker picks it up between bursts with one atomic
//! load of the generation. Workers never lock.

use crate::config::{self, Config};
use crate::dataplane::select::{self, MaglevTable, WeightedTable, NONE};
use crate::types::{L4Proto, MacAddr, Mode};
use crate::wire::checksum;
use arc_swap::ArcSwap;
use hashbrown::{HashMap, HashSet};
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
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
    pub address: Ipv4Addr,
    pub port: u16,
    pub mac: MacAddr,
    /// The configured weight (0 while draining or removed; kept while down).
    pub weight: u32,
    pub status: BackendStatus,
    /// Health probes' verdict (always true without a `[pool.health]`). A
    /// draining backend can be down too; its status then says `down`.
    pub healthy: bool,
    /// Raw big-endian address, for the rewrite.
    pub addr_raw: u32,
    /// Checksum deltas (RFC 1624) of the inbound rewrite: IP header (with the TTL
    /// decrement) and TCP/UDP (pseudo-header address and port).
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
    pub address: Ipv4Addr,
    pub port: u16,
    pub protocol: L4Proto,
    pub addr_raw: u32,
    pub kind: ServiceKind,
    pub mode: Mode,
    pub idle_timeout_secs: u32,
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
    pub gateway_mac: MacAddr,
    pub transitory_timeout_secs: u32,
    pub seed: u64,
    /// Flow-table capacity per worker.
    pub flow_table_size: u32,
    pub pool_names: Vec<String>,
    pub services: Vec<Service>,
    pub backends: Vec<BackendEntry>,
    frontends: EndpointMap,
    returns: EndpointMap,
    local: HashSet<u32>,
}

/// A small read-only open-addressing map from endpoint keys to ids, built with
/// the snapshot: one multiply to hash, linear probing, inlined into the data
/// path (a general-purpose map's lookup was 12% of a core at 1K connections).
#[derive(Clone, Debug)]
pub struct EndpointMap {
    slots: Box<[(u64, u16)]>,
    shift: u32,
}

impl EndpointMap {
    const EMPTY: u64 = u64::MAX;

    /// Builds the map at most 25% full.
    pub fn build(entries: &HashMap<u64, u16>) -> EndpointMap {
        let n = (entries.len() * 4).next_power_of_two().max(8);
        let mut slots = vec![(Self::EMPTY, 0u16); n].into_boxed_slice();
        let shift = 64 - n.trailing_zeros();
        let mask = n - 1;
        for (&k, &v) in entries {
            let mut i = Self::index(k, shift);
            while slots[i].0 != Self::EMPTY {
                i = (i + 1) & mask;
            }
            slots[i] = (k, v);
        }
        EndpointMap { slots, shift }
    }

    #[inline(always)]
    fn index(key: u64, shift: u32) -> usize {
        (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> shift) as usize
    }

    #[inline(always)]
    pub fn get(&self, key: u64) -> Option<u16> {
        let mask = self.slots.len() - 1;
        let mut i = Self::index(key, self.shift);
        loop {
            let (k, v) = self.slots[i];
            if k == key {
                return Some(v);
            }
            if k == Self::EMPTY {
                return None;
            }
            i = (i + 1) & mask;
        }
    }
}

/// Key of an (address, port, protocol) endpoint in the lookup maps.
#[inline(always)]
pub fn endpoint_key(addr_raw: u32, port: u16, proto: u8) -> u64 {
    ((addr_raw as u64) << 24) | ((port as u64) << 8) | proto as u64
}

impl Snapshot {
    /// The service whose frontend is (dst, port, proto).
    #[inline(always)]
    pub fn frontend(&self, dst: u32, port: u16, proto: u8) -> Option<u16> {
        self.frontends.get(endpoint_key(dst, port, proto))
    }

    /// The backend id whose endpoint is (src, port, proto), for return traffic.
    #[inline(always)]
    pub fn return_backend(&self, src: u32, port: u16, proto: u8) -> Option<u16> {
        self.returns.get(endpoint_key(src, port, proto))
    }

    /// Whether `addr` is a frontend address or one of the appliance's own.
    #[inline(always)]
    pub fn is_local(&self, addr: u32) -> bool {
        self.local.contains(&addr)
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

    fn publish(&self, s: Arc<Snapshot>) {
        let g = s.generation;
        self.current.store(s);
        self.generation.store(g, Ordering::Release);
    }
}

/// Why a backend change was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeError(pub String);

impl fmt::Display for ChangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ChangeError {}

/// The management side: owns the configuration, applies backend changes and
/// publishes each result as one new snapshot.
pub struct ControlPlane {
    config: Config,
    backends: Vec<BackendEntry>,
    /// (service, address, port) -> backend id; ids are never reused for another endpoint.
    ids: HashMap<(u16, u32, u16), u16>,
    services: Vec<Service>,
    /// Backends marked down by health probes: (pool index, endpoint).
    down: HashSet<(usize, SocketAddrV4)>,
    generation: u64,
    cell: Arc<SnapshotCell>,
}

fn maglev_key(addr: Ipv4Addr, port: u16) -> u64 {
    select::mix64(((u32::from(addr) as u64) << 16) | port as u64)
}

impl ControlPlane {
    pub fn new(config: Config) -> Result<ControlPlane, ChangeError> {
        let mut services = Vec::new();
        let mut backends = Vec::new();
        let mut ids = HashMap::new();
        // Service i serves frontend i; frontends without a rule stay unserved.
        for (fi, fe) in config.frontends.iter().enumerate() {
            let rule = config.rules.iter().find(|r| r.frontend == fi);
            let nat = config.nat_rules.iter().find(|n| n.frontend == fi);
            let mut svc = Service {
                name: fe.name.clone(),
                address: fe.address,
                port: fe.port,
                protocol: fe.protocol,
                addr_raw: u32::from(fe.address),
                kind: ServiceKind::Balance,
                mode: Mode::Random,
                idle_timeout_secs: config::DEFAULT_IDLE_TIMEOUT_MINS * 60,
                pool: u16::MAX,
                members: Vec::new(),
                pool_down: false,
                weighted: WeightedTable::build(&[]),
                maglev: MaglevTable::build(config::DEFAULT_MAGLEV_TABLE_SIZE, &[]),
            };
            let mut list: Vec<(config::Backend, u16)> = Vec::new();
            if let Some(r) = rule {
                svc.mode = r.mode;
                svc.idle_timeout_secs = r.idle_timeout_mins * 60;
                svc.pool = r.pool as u16;
                for b in &config.pools[r.pool].backends {
                    list.push((b.clone(), r.pool as u16));
                }
            } else if let Some(n) = nat {
                svc.kind = ServiceKind::Nat;
                list.push((n.backend.clone(), u16::MAX));
            }
            for (b, pool) in list {
                let id = backends.len();
                if id >= MAX_BACKEND_IDS {
                    return Err(ChangeError(format!(
                        "more than {MAX_BACKEND_IDS} backends in all"
                    )));
                }
                backends.push(make_backend(fi as u16, pool, fe, &b));
                ids.insert((fi as u16, u32::from(b.address), b.port), id as u16);
                svc.members.push(id as u16);
            }
            services.push(svc);
        }
        let size = |fi: usize| {
            config
                .rules
                .iter()
                .find(|r| r.frontend == fi)
                .map(|r| r.maglev_table_size)
                .unwrap_or(config::DEFAULT_MAGLEV_TABLE_SIZE)
        };
        for (i, svc) in services.iter_mut().enumerate() {
            rebuild_tables(svc, &backends, size(i));
        }
        let mut cp = ControlPlane {
            config,
            backends,
            ids,
            services,
            down: HashSet::new(),
            generation: 0,
            cell: Arc::new(SnapshotCell::new(Arc::new(empty_snapshot()))),
        };
        cp.publish();
        Ok(cp)
    }

    /// The cell workers read snapshots from.
    pub fn cell(&self) -> Arc<SnapshotCell> {
        self.cell.clone()
    }

    /// The newest published snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.cell.load()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Replaces a pool's health-check settings (a reload). A backend already
    /// down keeps its state until its next transition.
    pub fn set_pool_health(
        &mut self,
        pool: &str,
        health: Option<config::HealthCheck>,
    ) -> Result<(), ChangeError> {
        let p = self.pool_index(pool)?;
        self.config.pools[p].health = health;
        Ok(())
    }

    fn pool_index(&self, pool: &str) -> Result<usize, ChangeError> {
        self.config
            .pools
            .iter()
            .position(|p| p.name == pool)
            .ok_or_else(|| ChangeError(format!("no pool named {pool:?}")))
    }

    /// Services (frontend indices) that use pool `p`.
    fn services_of_pool(&self, p: usize) -> Vec<usize> {
        self.config
            .rules
            .iter()
            .filter(|r| r.pool == p)
            .map(|r| r.frontend)
            .collect()
    }

    /// Adds a backend to a pool (or brings back a removed one). New connections
    /// may choose it at once; existing connections keep their backends.
    pub fn add_backend(&mut self, pool: &str, b: config::Backend) -> Result<(), ChangeError> {
        let p = self.pool_index(pool)?;
        if b.weight > 1000 {
            return Err(ChangeError("weight must be 0 to 1000".into()));
        }
        if b.port == 0 {
            return Err(ChangeError("port must be 1 to 65535".into()));
        }
        if self.config.pools[p]
            .backends
            .iter()
            .any(|x| x.address == b.address && x.port == b.port)
        {
            return Err(ChangeError(format!(
                "{}:{} is already in pool {pool:?}",
                b.address, b.port
            )));
        }
        let svcs = self.services_of_pool(p);
        // The return direction must stay unambiguous.
        for &s in &svcs {
            let proto = self.services[s].protocol;
            for be in &self.backends {
                let osvc = be.service as usize;
                if be.status != BackendStatus::Removed
                    && be.address == b.address
                    && be.port == b.port
                    && self.services[osvc].protocol == proto
                    && osvc != s
                {
                    return Err(ChangeError(format!(
                        "ambiguous return direction: {}:{}/{} already serves frontend {:?}",
                        b.address, b.port, proto, self.services[osvc].name
                    )));
                }
            }
        }
        self.config.pools[p].backends.push(b.clone());
        for &s in &svcs {
            let key = (s as u16, u32::from(b.address), b.port);
            let fe = self.config.frontends[s].clone();
            match self.ids.get(&key) {
                Some(&id) => {
                    self.backends[id as usize] = make_backend(s as u16, p as u16, &fe, &b);
                }
                None => {
                    let id = self.backends.len();
                    if id >= MAX_BACKEND_IDS {
                        return Err(ChangeError(format!(
                            "more than {MAX_BACKEND_IDS} backends in all"
                        )));
                    }
                    self.backends
                        .push(make_backend(s as u16, p as u16, &fe, &b));
                    self.ids.insert(key, id as u16);
                    self.services[s].members.push(id as u16);
                }
            }
            let size = self.services[s].maglev.size();
            rebuild_tables(&mut self.services[s], &self.backends, size);
        }
        self.publish();
        Ok(())
    }

    fn find(&self, pool: &str, addr: SocketAddrV4) -> Result<(usize, usize), ChangeError> {
        let p = self.pool_index(pool)?;
        let i = self.config.pools[p]
            .backends
            .iter()
            .position(|x| x.address == *addr.ip() && x.port == addr.port())
            .ok_or_else(|| ChangeError(format!("{addr} is not in pool {pool:?}")))?;
        Ok((p, i))
    }

    /// Removes a backend: its connections are dropped (and counted) when their
    /// next packet arrives; no other connection or hash key moves.
    pub fn remove_backend(&mut self, pool: &str, addr: SocketAddrV4) -> Result<(), ChangeError> {
        let (p, i) = self.find(pool, addr)?;
        self.config.pools[p].backends.remove(i);
        self.down.remove(&(p, addr));
        self.retire(p, addr, BackendStatus::Removed);
        self.publish();
        Ok(())
    }

    /// Sets a backend's weight; 0 drains it (keeps its connections, takes no new ones).
    pub fn set_weight(
        &mut self,
        pool: &str,
        addr: SocketAddrV4,
        weight: u32,
    ) -> Result<(), ChangeError> {
        if weight > 1000 {
            return Err(ChangeError("weight must be 0 to 1000".into()));
        }
        let (p, i) = self.find(pool, addr)?;
        self.config.pools[p].backends[i].weight = weight;
        if self.down.contains(&(p, addr)) {
            // Down: stays out of the tables; the weight applies when it is back.
            for s in self.services_of_pool(p) {
                if let Some(&id) = self
                    .ids
                    .get(&(s as u16, u32::from(*addr.ip()), addr.port()))
                {
                    self.backends[id as usize].weight = weight;
                }
            }
        } else if weight == 0 {
            self.retire(p, addr, BackendStatus::Draining);
        } else {
            for s in self.services_of_pool(p) {
                if let Some(&id) = self
                    .ids
                    .get(&(s as u16, u32::from(*addr.ip()), addr.port()))
                {
                    let b = &mut self.backends[id as usize];
                    b.weight = weight;
                    b.status = BackendStatus::Active;
                }
                let size = self.services[s].maglev.size();
                rebuild_tables(&mut self.services[s], &self.backends, size);
            }
        }
        self.publish();
        Ok(())
    }

    /// Drains a backend: weight 0.
    pub fn drain_backend(&mut self, pool: &str, addr: SocketAddrV4) -> Result<(), ChangeError> {
        self.set_weight(pool, addr, 0)
    }

    /// Applies a health-probe verdict. A backend that goes down takes no new
    /// connections (it leaves the selection tables without moving other
    /// Maglev keys, as when draining); its existing connections are kept, or
    /// dropped on their next packet when the pool says `down_connections =
    /// "drop"`. A backend that comes back returns to the tables with its
    /// configured weight (a draining one stays draining). Setting the state a
    /// backend already has changes nothing and publishes nothing.
    pub fn set_health(
        &mut self,
        pool: &str,
        addr: SocketAddrV4,
        healthy: bool,
    ) -> Result<(), ChangeError> {
        let (p, i) = self.find(pool, addr)?;
        let key = (p, addr);
        if self.down.contains(&key) != healthy {
            return Ok(());
        }
        if healthy {
            self.down.remove(&key);
            let weight = self.config.pools[p].backends[i].weight;
            for s in self.services_of_pool(p) {
                if let Some(&id) = self
                    .ids
                    .get(&(s as u16, u32::from(*addr.ip()), addr.port()))
                {
                    let b = &mut self.backends[id as usize];
                    b.healthy = true;
                    b.weight = weight;
                    b.status = if weight > 0 {
                        BackendStatus::Active
                    } else {
                        BackendStatus::Draining
                    };
                }
                if weight > 0 {
                    let size = self.services[s].maglev.size();
                    rebuild_tables(&mut self.services[s], &self.backends, size);
                }
            }
        } else {
            self.down.insert(key);
            let drop = self.config.pools[p]
                .health
                .as_ref()
                .is_some_and(|h| h.down_connections == config::DownConnections::Drop);
            let status = if drop {
                BackendStatus::DownDrop
            } else {
                BackendStatus::Down
            };
            self.retire(p, addr, status);
        }
        self.publish();
        Ok(())
    }

    /// Whether health probes have marked `addr` of `pool` down.
    pub fn is_down(&self, pool: &str, addr: SocketAddrV4) -> bool {
        self.pool_index(pool)
            .is_ok_and(|p| self.down.contains(&(p, addr)))
    }

    /// Takes a backend out of new-connection tables without moving other keys.
    fn retire(&mut self, p: usize, addr: SocketAddrV4, status: BackendStatus) {
        for s in self.services_of_pool(p) {
            let Some(&id) = self
                .ids
                .get(&(s as u16, u32::from(*addr.ip()), addr.port()))
            else {
                continue;
            };
            let b = &mut self.backends[id as usize];
            if status.is_down() {
                // Down keeps the weight it comes back with.
                b.healthy = false;
            } else {
                b.weight = 0;
            }
            if !(status == BackendStatus::Draining && b.status.is_down()) {
                b.status = status;
            }
            let svc = &mut self.services[s];
            let slot = svc.members.iter().position(|&m| m == id).unwrap_or(0) as u16;
            let keys = table_keys(svc, &self.backends);
            svc.maglev = svc.maglev.without(&keys, &[slot]);
            let weights: Vec<u32> = keys.iter().map(|k| k.1).collect();
            svc.weighted = WeightedTable::build(&weights);
        }
    }

    fn publish(&mut self) {
        self.generation += 1;
        for svc in &mut self.services {
            let members = svc.members.iter().map(|&id| &self.backends[id as usize]);
            let mut usable = false;
            let mut down = false;
            for b in members {
                usable |= b.status == BackendStatus::Active && b.weight > 0;
                down |= b.status.is_down() && b.weight > 0;
            }
            svc.pool_down = !usable && down;
        }
        let mut frontends = HashMap::new();
        let mut returns = HashMap::new();
        let mut local = HashSet::new();
        for a in &self.config.appliance.addresses {
            local.insert(u32::from(*a));
        }
        for (i, s) in self.services.iter().enumerate() {
            local.insert(s.addr_raw);
            let served = s.kind == ServiceKind::Nat || s.pool != u16::MAX;
            if served {
                frontends.insert(
                    endpoint_key(s.addr_raw, s.port, s.protocol.number()),
                    i as u16,
                );
            }
        }
        for (id, b) in self.backends.iter().enumerate() {
            if b.status != BackendStatus::Removed {
                let proto = self.services[b.service as usize].protocol.number();
                returns.insert(endpoint_key(b.addr_raw, b.port, proto), id as u16);
            }
        }
        let a = &self.config.appliance;
        let snap = Snapshot {
            generation: self.generation,
            mac: a.mac,
            gateway_mac: a.gateway_mac,
            transitory_timeout_secs: a.transitory_timeout_secs,
            seed: a.seed,
            flow_table_size: a.flow_table_size,
            pool_names: self.config.pools.iter().map(|p| p.name.clone()).collect(),
            services: self.services.clone(),
            backends: self.backends.clone(),
            frontends: EndpointMap::build(&frontends),
            returns: EndpointMap::build(&returns),
            local,
        };
        self.cell.publish(Arc::new(snap));
    }
}

fn make_backend(
    service: u16,
    pool: u16,
    fe: &config::Frontend,
    b: &config::Backend,
) -> BackendEntry {
    let fe_ip = u32::from(fe.address);
    let be_ip = u32::from(b.address);
    let in_addr = checksum::delta32(fe_ip, be_ip);
    let out_addr = checksum::delta32(be_ip, fe_ip);
    BackendEntry {
        service,
        pool,
        address: b.address,
        port: b.port,
        mac: b.mac,
        weight: b.weight,
        status: if b.weight > 0 {
            BackendStatus::Active
        } else {
            BackendStatus::Draining
        },
        healthy: true,
        addr_raw: be_ip,
        in_ip_delta: in_addr + TTL_DECREMENT_DELTA,
        in_l4_delta: in_addr + checksum::delta16(fe.port, b.port),
        out_ip_delta: out_addr + TTL_DECREMENT_DELTA,
        out_l4_delta: out_addr + checksum::delta16(b.port, fe.port),
    }
}

/// (Maglev key, weight) per member slot; removed and draining members weigh 0.
fn table_keys(svc: &Service, backends: &[BackendEntry]) -> Vec<(u64, u32)> {
    svc.members
        .iter()
        .map(|&id| {
            let b = &backends[id as usize];
            let w = if b.status == BackendStatus::Active {
                b.weight
            } else {
                0
            };
            (maglev_key(b.address, b.port), w)
        })
        .collect()
}

fn rebuild_tables(svc: &mut Service, backends: &[BackendEntry], maglev_size: u32) {
    let keys = table_keys(svc, backends);
    let weights: Vec<u32> = keys.iter().map(|k| k.1).collect();
    svc.weighted = WeightedTable::build(&weights);
    let size = maglev_size.max(select::next_prime(100 * keys.len().max(1) as u32));
    svc.maglev = MaglevTable::build(size, &keys);
}

fn empty_snapshot() -> Snapshot {
    Snapshot {
        generation: 0,
        mac: MacAddr::ZERO,
        gateway_mac: MacAddr::ZERO,
        transitory_timeout_secs: config::DEFAULT_TRANSITORY_TIMEOUT_SECS,
        seed: 0,
        flow_table_size: config::DEFAULT_FLOW_TABLE_SIZE,
        pool_names: Vec::new(),
        services: Vec::new(),
        backends: Vec::new(),
        frontends: EndpointMap::build(&HashMap::new()),
        returns: EndpointMap::build(&HashMap::new()),
        local: HashSet::new(),
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
                endpoint_key(0xc612_0000 + i * 7, (i % 3) as u16 + 80, 6),
                i as u16,
            );
        }
        let e = EndpointMap::build(&m);
        for (k, v) in &m {
            assert_eq!(e.get(*k), Some(*v));
        }
        for i in 0..500u32 {
            assert_eq!(e.get(endpoint_key(0xc612_0000 + i * 7, 1000, 6)), None);
            assert_eq!(e.get(endpoint_key(0xc612_0000 + i * 7, 80, 17)), None);
        }
        let empty = EndpointMap::build(&HashMap::new());
        assert_eq!(empty.get(endpoint_key(1, 2, 6)), None);
    }
}
