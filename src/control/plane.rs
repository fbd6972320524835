//! The control plane: owns the configuration, applies backend changes and
//! publishes each result as one new [`Snapshot`] for the workers.

use crate::config::{self, Config};
use crate::dataplane::flow::Timeouts;
use crate::dataplane::neighbour::Arm;
use crate::dataplane::select::{self, MaglevTable, Mode, WeightedTable};
use crate::dataplane::snapshot::{
    endpoint_key, endpoint_key6, BackendEntry, BackendStatus, EndpointMap, Service, ServiceKind,
    Snapshot, SnapshotCell, MAX_BACKEND_IDS, TTL_DECREMENT_DELTA,
};
use crate::wire::{checksum, IpProtocol, MacAddr};
use hashbrown::{HashMap, HashSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// Why a backend change was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum ChangeError {
    /// The change would need more backend ids than a snapshot has.
    TooManyBackends,
    NoPool(String),
    /// A weight above [`config::MAX_WEIGHT`].
    Weight,
    /// Port 0.
    Port,
    /// A backend the configuration file could not have: the file's own
    /// check ([`config::check_backend`]) and its words.
    Invalid {
        backend: SocketAddr,
        problem: config::Problem,
    },
    AlreadyInPool {
        backend: SocketAddr,
        pool: String,
    },
    NotInPool {
        backend: SocketAddr,
        pool: String,
    },
    /// The backend already serves another frontend with the same protocol, so
    /// its replies could not be told apart.
    AmbiguousReturn {
        backend: SocketAddr,
        protocol: IpProtocol,
        frontend: String,
    },
}

impl fmt::Display for ChangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChangeError::TooManyBackends => {
                write!(f, "more than {MAX_BACKEND_IDS} backends in all")
            }
            ChangeError::NoPool(pool) => write!(f, "no pool named {pool:?}"),
            ChangeError::Weight => write!(f, "weight must be 0 to {}", config::MAX_WEIGHT),
            ChangeError::Port => write!(f, "port must be {} to {}", config::MIN_PORT, u16::MAX),
            ChangeError::Invalid { backend, problem } => write!(f, "backend {backend}: {problem}"),
            ChangeError::AlreadyInPool { backend, pool } => {
                write!(f, "{backend} is already in pool {pool:?}")
            }
            ChangeError::NotInPool { backend, pool } => {
                write!(f, "{backend} is not in pool {pool:?}")
            }
            ChangeError::AmbiguousReturn {
                backend,
                protocol,
                frontend,
            } => write!(
                f,
                "ambiguous return direction: {backend}/{protocol} already serves frontend {frontend:?}"
            ),
        }
    }
}

impl std::error::Error for ChangeError {}

/// The management side: owns the configuration, applies backend changes and
/// publishes each result as one new snapshot.
#[derive(Clone)]
pub struct ControlPlane {
    config: Config,
    backends: Vec<BackendEntry>,
    /// (service, address, port) -> backend id. A removed backend keeps its
    /// id while a connection may still name it; then the id is freed
    /// ([`ControlPlane::expire`]) and may serve another endpoint.
    ids: HashMap<(u16, IpAddr, u16), u16>,
    /// Removed backends still holding their ids: id -> when it was removed
    /// (seconds of the control plane's clock).
    removed_at: HashMap<u16, u64>,
    /// Freed ids, ready for reuse (their entries stay `Removed`).
    free: Vec<u16>,
    /// The control plane's clock, in seconds (set by [`ControlPlane::expire`]).
    now: u64,
    services: Vec<Service>,
    /// Backends marked down by health probes: (pool index, endpoint).
    down: HashSet<(usize, SocketAddr)>,
    generation: u64,
    cell: Arc<SnapshotCell>,
    /// The workers' seed: the configured one, else [`ControlPlane::set_seed`]'s.
    seed: u64,
    /// The MACs the neighbour cache resolved (`control::neighbour`), for
    /// the gateways and backends whose MAC is not written by hand.
    neighbours: HashMap<IpAddr, MacAddr>,
}

/// A member's key in the Maglev table: its address and port.
fn maglev_key(addr: IpAddr, port: u16) -> u64 {
    match addr {
        IpAddr::V4(a) => select::mix64(((u32::from(a) as u64) << 16) | port as u64),
        IpAddr::V6(a) => {
            let a = u128::from(a);
            select::mix64(select::mix64(a as u64 ^ port as u64) ^ (a >> 64) as u64)
        }
    }
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
                addr_raw: raw4(fe.address),
                addr6: raw6(fe.address),
                kind: ServiceKind::Balance,
                mode: Mode::Random,
                timeouts: Timeouts {
                    syn: config.appliance.transitory_timeout_secs,
                    established: config::DEFAULT_IDLE_TIMEOUT_MINS * 60,
                    transitory: config::DEFAULT_TRANSITORY_TIMEOUT_MINS * 60,
                },
                reset_on_idle: false,
                siit: fe.siit,
                pool: u16::MAX,
                members: Vec::new(),
                pool_down: false,
                weighted: WeightedTable::build(&[]),
                maglev: MaglevTable::build(config::DEFAULT_MAGLEV_TABLE_SIZE, &[]),
            };
            let mut list: Vec<(config::Backend, u16, Option<IpAddr>)> = Vec::new();
            if let Some(r) = rule {
                svc.mode = r.mode;
                svc.timeouts = r.timeouts();
                svc.reset_on_idle = r.tcp_reset_on_idle;
                svc.pool = r.pool as u16;
                let pool = &config.pools[r.pool];
                for b in &pool.backends {
                    list.push((b.clone(), r.pool as u16, config.next_hop(Some(pool), b)));
                }
            } else if let Some(n) = nat {
                svc.kind = ServiceKind::Nat;
                let hop = config.next_hop(None, &n.backend);
                list.push((n.backend.clone(), u16::MAX, hop));
            }
            for (b, pool, hop) in list {
                let id = backends.len();
                if id >= MAX_BACKEND_IDS {
                    return Err(ChangeError::TooManyBackends);
                }
                // A configuration built in code skips the file's checks:
                // the family one guards make_backend.
                config::check_family(b.address, fe).map_err(|problem| ChangeError::Invalid {
                    backend: SocketAddr::new(b.address, b.port),
                    problem,
                })?;
                let mut entry = make_backend(fi as u16, pool, fe, &b);
                entry.next_hop = hop;
                backends.push(entry);
                ids.insert((fi as u16, b.address, b.port), id as u16);
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
        let seed = config.appliance.seed.unwrap_or(config::DEFAULT_SEED);
        let mut cp = ControlPlane {
            config,
            backends,
            ids,
            removed_at: HashMap::new(),
            free: Vec::new(),
            now: 0,
            services,
            down: HashSet::new(),
            generation: 0,
            cell: Arc::new(SnapshotCell::new(Arc::new(empty_snapshot()))),
            seed,
            neighbours: HashMap::new(),
        };
        cp.publish();
        Ok(cp)
    }

    /// The addresses natrix resolves, and on which port: the gateways
    /// (public) and the next hops of the backends whose MAC is not written
    /// by hand (private in two-arm, public in one-arm).
    pub fn neighbours_wanted(&self) -> Vec<(IpAddr, Arm)> {
        let c = &self.config;
        let backend_arm = match c.ports.topology {
            config::Topology::OneArm => Arm::Public,
            config::Topology::TwoArm => Arm::Private,
        };
        let mut out = Vec::new();
        if c.appliance.gateway_mac == MacAddr::ZERO {
            out.extend(c.appliance.gateway4.map(|g| (IpAddr::V4(g), Arm::Public)));
            out.extend(c.appliance.gateway6.map(|g| (IpAddr::V6(g), Arm::Public)));
        }
        for b in &self.backends {
            if let (Some(hop), true) = (b.next_hop, b.status != BackendStatus::Removed) {
                if !out.iter().any(|(a, _)| *a == hop) {
                    out.push((hop, backend_arm));
                }
            }
        }
        out
    }

    /// Takes the MACs the neighbour cache resolved (an address missing has
    /// none); publishes a snapshot if a gateway's or a backend's changed.
    pub fn set_neighbours(&mut self, macs: HashMap<IpAddr, MacAddr>) {
        if macs != self.neighbours {
            self.neighbours = macs;
            self.publish();
        }
    }

    /// Applies `changes` as one: they run on a private copy of the state
    /// (which publishes nowhere the workers read), and only when every one
    /// of them succeeded does the copy become the state, published as one
    /// snapshot. On an error the state and the snapshot stay as they were.
    pub fn transaction<T, E>(
        &mut self,
        changes: impl FnOnce(&mut ControlPlane) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut trial = self.clone();
        trial.cell = Arc::new(SnapshotCell::new(Arc::new(empty_snapshot())));
        let out = changes(&mut trial)?;
        trial.cell = self.cell.clone();
        trial.generation = self.generation;
        *self = trial;
        self.publish();
        Ok(out)
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

    /// The seed of the workers' random choices (see [`config::Appliance::seed`]).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Seeds the workers created from now on with `seed` unless the
    /// configuration sets one (`natrix run`'s random seed).
    pub fn set_seed(&mut self, seed: u64) {
        if self.config.appliance.seed.is_none() {
            self.seed = seed;
            self.publish();
        }
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

    /// Replaces a pool's `next_hop` (a reload; the file's checks have
    /// passed): its backends without a MAC of their own are resolved at the
    /// new next hop (or, without one, at their own address when it is
    /// on-link). The neighbour cache follows [`ControlPlane::neighbours_wanted`];
    /// until it resolves the new next hop, what goes there is dropped as
    /// `neighbour-unresolved`.
    pub fn set_next_hop(&mut self, pool: &str, hop: Option<IpAddr>) -> Result<(), ChangeError> {
        let p = self.pool_index(pool)?;
        self.config.pools[p].next_hop = hop;
        let on_link = self.config.ports.backend_addresses().to_vec();
        for b in self.backends.iter_mut().filter(|b| b.pool as usize == p) {
            if b.mac == MacAddr::ZERO {
                b.next_hop =
                    hop.or_else(|| config::Ports::on_link(&on_link, b.address).map(|_| b.address));
            }
        }
        self.publish();
        Ok(())
    }

    /// Replaces the gateways toward the clients (a reload; the file's
    /// checks have passed): without `gateway_mac`, the neighbour cache
    /// resolves the new ones.
    pub fn set_gateways(&mut self, gateway4: Option<Ipv4Addr>, gateway6: Option<Ipv6Addr>) {
        let a = &mut self.config.appliance;
        if (a.gateway4, a.gateway6) != (gateway4, gateway6) {
            a.gateway4 = gateway4;
            a.gateway6 = gateway6;
            self.publish();
        }
    }

    fn pool_index(&self, pool: &str) -> Result<usize, ChangeError> {
        self.config
            .pools
            .iter()
            .position(|p| p.name == pool)
            .ok_or_else(|| ChangeError::NoPool(pool.to_string()))
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

    /// The address natrix resolves for backend `b` of pool `p` when it has
    /// no MAC of its own: the pool's next hop, or its own address when that
    /// is on-link on the backends' port. None: its MAC is written, or it
    /// cannot be resolved (then the MAC check refuses it).
    fn resolvable(&self, p: usize, b: &config::Backend) -> Option<IpAddr> {
        if b.mac != MacAddr::ZERO {
            return None;
        }
        let pool = &self.config.pools[p];
        pool.next_hop.or_else(|| {
            config::Ports::on_link(self.config.ports.backend_addresses(), b.address)
                .map(|_| b.address)
        })
    }

    /// Adds a backend to a pool (or brings back a removed one). New connections
    /// may choose it at once; existing connections keep their backends. A
    /// backend the configuration file could not have is refused by the file's
    /// own checks ([`config::check_backend`]).
    pub fn add_backend(&mut self, pool: &str, b: config::Backend) -> Result<(), ChangeError> {
        let p = self.pool_index(pool)?;
        check_weight(b.weight)?;
        if b.port < config::MIN_PORT {
            return Err(ChangeError::Port);
        }
        let svcs = self.services_of_pool(p);
        let hop = self.resolvable(p, &b);
        let check = if hop.is_some() {
            config::check_resolved_backend
        } else {
            config::check_backend
        };
        check(&b, svcs.iter().map(|&s| &self.config.frontends[s])).map_err(|problem| {
            ChangeError::Invalid {
                backend: SocketAddr::new(b.address, b.port),
                problem,
            }
        })?;
        // One address family per pool, even one that no rule uses yet.
        if let Some(first) = self.config.pools[p].backends.first() {
            if config::Family::of(first.address) != config::Family::of(b.address) {
                return Err(ChangeError::Invalid {
                    backend: SocketAddr::new(b.address, b.port),
                    problem: config::Problem::MixedPool(Box::new(config::MixedPool {
                        pool: pool.to_string(),
                        address: b.address,
                        first: first.address,
                        first_index: 0,
                    })),
                });
            }
        }
        if self.config.pools[p]
            .backends
            .iter()
            .any(|x| x.address == b.address && x.port == b.port)
        {
            return Err(ChangeError::AlreadyInPool {
                backend: SocketAddr::new(b.address, b.port),
                pool: pool.to_string(),
            });
        }
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
                    return Err(ChangeError::AmbiguousReturn {
                        backend: SocketAddr::new(b.address, b.port),
                        protocol: proto,
                        frontend: self.services[osvc].name.clone(),
                    });
                }
            }
        }
        self.config.pools[p].backends.push(b.clone());
        for &s in &svcs {
            let key = (s as u16, b.address, b.port);
            let fe = self.config.frontends[s].clone();
            match self.ids.get(&key) {
                Some(&id) => {
                    self.backends[id as usize] = make_backend(s as u16, p as u16, &fe, &b);
                    self.backends[id as usize].next_hop = hop;
                    self.removed_at.remove(&id);
                }
                None => {
                    let mut entry = make_backend(s as u16, p as u16, &fe, &b);
                    entry.next_hop = hop;
                    let id = match self.free.pop() {
                        Some(id) => {
                            self.backends[id as usize] = entry;
                            id as usize
                        }
                        None => {
                            let id = self.backends.len();
                            if id >= MAX_BACKEND_IDS {
                                return Err(ChangeError::TooManyBackends);
                            }
                            self.backends.push(entry);
                            id
                        }
                    };
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

    fn find(&self, pool: &str, addr: SocketAddr) -> Result<(usize, usize), ChangeError> {
        let p = self.pool_index(pool)?;
        let i = self.config.pools[p]
            .backends
            .iter()
            .position(|x| x.address == addr.ip() && x.port == addr.port())
            .ok_or_else(|| ChangeError::NotInPool {
                backend: addr,
                pool: pool.to_string(),
            })?;
        Ok((p, i))
    }

    /// Removes a backend: its connections are dropped (and counted) when their
    /// next packet arrives; no other connection or hash key moves.
    pub fn remove_backend(
        &mut self,
        pool: &str,
        addr: impl Into<SocketAddr>,
    ) -> Result<(), ChangeError> {
        let addr = addr.into();
        let (p, i) = self.find(pool, addr)?;
        self.config.pools[p].backends.remove(i);
        self.down.remove(&(p, addr));
        self.retire(p, addr, BackendStatus::Removed);
        for s in self.services_of_pool(p) {
            if let Some(&id) = self.ids.get(&(s as u16, addr.ip(), addr.port())) {
                self.removed_at.insert(id, self.now);
            }
        }
        self.publish();
        Ok(())
    }

    /// How long after its removal a connection may still name a backend of
    /// service `s`: the longest of its timeouts.
    fn grace_secs(&self, s: usize) -> u64 {
        let t = self.services[s].timeouts;
        u64::from(t.established.max(t.transitory).max(t.syn))
    }

    /// Advances the control plane's clock to `now_secs` (seconds since any
    /// fixed start; it never goes back) and frees the ids of removed backends
    /// whose grace time has passed: no connection can name them any more.
    /// A freed backend leaves the statistics and its service's member list
    /// (no Maglev key moves) and its id serves the next new endpoint.
    /// Returns the freed ids (their counters start again from zero when
    /// reused), and publishes a snapshot only when it freed any.
    pub fn expire(&mut self, now_secs: u64) -> Vec<u16> {
        self.now = self.now.max(now_secs);
        let mut due: Vec<u16> = self
            .removed_at
            .iter()
            .filter(|&(&id, &at)| {
                let s = self.backends[id as usize].service as usize;
                self.now > at.saturating_add(self.grace_secs(s))
            })
            .map(|(&id, _)| id)
            .collect();
        if due.is_empty() {
            return due;
        }
        due.sort_unstable();
        for &id in &due {
            self.removed_at.remove(&id);
            let b = &self.backends[id as usize];
            let s = b.service as usize;
            self.ids.remove(&(b.service, b.address, b.port));
            let svc = &mut self.services[s];
            if let Some(slot) = svc.members.iter().position(|&m| m == id) {
                svc.members.remove(slot);
                svc.maglev = svc.maglev.without_slot(slot as u16);
                let keys = table_keys(svc, &self.backends);
                let weights: Vec<u32> = keys.iter().map(|k| k.1).collect();
                svc.weighted = WeightedTable::build(&weights);
            }
            self.free.push(id);
        }
        // Lowest ids are reused first.
        self.free.sort_unstable_by(|a, b| b.cmp(a));
        self.publish();
        due
    }

    /// The free backend ids: removed, and no connection can name them.
    pub fn free_ids(&self) -> &[u16] {
        &self.free
    }

    /// Sets a backend's weight; 0 drains it (keeps its connections, takes no new ones).
    pub fn set_weight(
        &mut self,
        pool: &str,
        addr: impl Into<SocketAddr>,
        weight: u32,
    ) -> Result<(), ChangeError> {
        let addr = addr.into();
        check_weight(weight)?;
        let (p, i) = self.find(pool, addr)?;
        self.config.pools[p].backends[i].weight = weight;
        if self.down.contains(&(p, addr)) {
            // Down: stays out of the tables; the weight applies when it is back.
            for s in self.services_of_pool(p) {
                if let Some(&id) = self.ids.get(&(s as u16, addr.ip(), addr.port())) {
                    self.backends[id as usize].weight = weight;
                }
            }
        } else if weight == 0 {
            self.retire(p, addr, BackendStatus::Draining);
        } else {
            for s in self.services_of_pool(p) {
                if let Some(&id) = self.ids.get(&(s as u16, addr.ip(), addr.port())) {
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
    pub fn drain_backend(
        &mut self,
        pool: &str,
        addr: impl Into<SocketAddr>,
    ) -> Result<(), ChangeError> {
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
        addr: impl Into<SocketAddr>,
        healthy: bool,
    ) -> Result<(), ChangeError> {
        let addr = addr.into();
        let (p, i) = self.find(pool, addr)?;
        let key = (p, addr);
        if self.down.contains(&key) != healthy {
            return Ok(());
        }
        if healthy {
            self.down.remove(&key);
            let weight = self.config.pools[p].backends[i].weight;
            for s in self.services_of_pool(p) {
                if let Some(&id) = self.ids.get(&(s as u16, addr.ip(), addr.port())) {
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
    pub fn is_down(&self, pool: &str, addr: impl Into<SocketAddr>) -> bool {
        let addr = addr.into();
        self.pool_index(pool)
            .is_ok_and(|p| self.down.contains(&(p, addr)))
    }

    /// Takes a backend out of new-connection tables without moving other keys.
    fn retire(&mut self, p: usize, addr: SocketAddr, status: BackendStatus) {
        for s in self.services_of_pool(p) {
            let Some(&id) = self.ids.get(&(s as u16, addr.ip(), addr.port())) else {
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
        let mut frontends6 = HashMap::new();
        let mut returns6 = HashMap::new();
        let mut local6 = HashSet::new();
        let ports = &self.config.ports;
        let port_addresses = ports
            .public_addresses
            .iter()
            .chain(&ports.private_addresses)
            .map(|i| &i.address);
        let siit = &self.config.appliance.siit_addresses;
        local.extend(siit.iter().map(|a| u32::from(*a)));
        for a in self.config.appliance.addresses.iter().chain(port_addresses) {
            match a {
                IpAddr::V4(a) => local.insert(u32::from(*a)),
                IpAddr::V6(a) => local6.insert(u128::from(*a)),
            };
        }
        for (i, s) in self.services.iter().enumerate() {
            let served = s.kind == ServiceKind::Nat || s.pool != u16::MAX;
            match s.address {
                IpAddr::V4(_) => {
                    local.insert(s.addr_raw);
                    if served {
                        frontends.insert(endpoint_key(s.addr_raw, s.port, s.protocol), i as u16);
                    }
                }
                IpAddr::V6(_) => {
                    local6.insert(s.addr6);
                    if served {
                        frontends6.insert(endpoint_key6(s.addr6, s.port, s.protocol), i as u16);
                    }
                }
            }
        }
        for (id, b) in self.backends.iter().enumerate() {
            if b.status != BackendStatus::Removed {
                let proto = self.services[b.service as usize].protocol;
                match b.address {
                    IpAddr::V4(_) => {
                        returns.insert(endpoint_key(b.addr_raw, b.port, proto), id as u16);
                    }
                    IpAddr::V6(_) => {
                        returns6.insert(endpoint_key6(b.addr6, b.port, proto), id as u16);
                    }
                }
            }
        }
        let a = &self.config.appliance;
        let resolved = |fixed: MacAddr, hop: Option<IpAddr>| {
            if fixed != MacAddr::ZERO {
                return fixed;
            }
            hop.and_then(|h| self.neighbours.get(&h).copied())
                .unwrap_or(MacAddr::ZERO)
        };
        let mut backends = self.backends.clone();
        for b in &mut backends {
            b.mac = resolved(b.mac, b.next_hop);
        }
        let snap = Snapshot {
            generation: self.generation,
            mac: a.mac,
            gateway_mac: resolved(a.gateway_mac, a.gateway4.map(IpAddr::V4)),
            gateway_mac6: resolved(a.gateway_mac, a.gateway6.map(IpAddr::V6)),
            seed: self.seed,
            flow_table_size: a.flow_table_size,
            fragments: a.fragments,
            pool_names: self.config.pools.iter().map(|p| p.name.clone()).collect(),
            services: self.services.clone(),
            backends,
            frontends: EndpointMap::build(&frontends),
            returns: EndpointMap::build(&returns),
            local,
            frontends6: EndpointMap::build(&frontends6),
            returns6: EndpointMap::build(&returns6),
            local6,
            siit: siit.iter().map(|a| u32::from(*a)).collect(),
        };
        self.cell.publish(Arc::new(snap));
    }
}

/// A weight a backend may have: the configuration's limit, at runtime too.
fn check_weight(weight: u32) -> Result<(), ChangeError> {
    if weight > config::MAX_WEIGHT {
        return Err(ChangeError::Weight);
    }
    Ok(())
}

fn make_backend(
    service: u16,
    pool: u16,
    fe: &config::Frontend,
    b: &config::Backend,
) -> BackendEntry {
    // The address part of the deltas; IPv6 has no header checksum, so its
    // IP deltas are 0 (and no TTL: the hop limit is not checksummed).
    let (in_addr, out_addr, ip_deltas) = match (fe.address, b.address) {
        (IpAddr::V4(f), IpAddr::V4(a)) => {
            let (f, a) = (u32::from(f), u32::from(a));
            (checksum::delta32(f, a), checksum::delta32(a, f), true)
        }
        (IpAddr::V6(f), IpAddr::V6(a)) => {
            let (f, a) = (u128::from(f), u128::from(a));
            (checksum::delta128(f, a), checksum::delta128(a, f), false)
        }
        // SIIT: the address sums differ by client and source port, and
        // the headers are rebuilt (`dataplane::siit`); the ports' part only.
        (IpAddr::V6(_), IpAddr::V4(_)) => (0, 0, false),
        // Refused by config::check_family before a backend gets here.
        (IpAddr::V4(_), IpAddr::V6(_)) => {
            unreachable!("IPv6 backend {} behind an IPv4 frontend", b.address)
        }
    };
    let ip_delta = |addr: u32| {
        if ip_deltas {
            addr + TTL_DECREMENT_DELTA
        } else {
            0
        }
    };
    BackendEntry {
        service,
        pool,
        address: b.address,
        port: b.port,
        mac: b.mac,
        next_hop: None,
        weight: b.weight,
        status: if b.weight > 0 {
            BackendStatus::Active
        } else {
            BackendStatus::Draining
        },
        healthy: true,
        addr_raw: raw4(b.address),
        addr6: raw6(b.address),
        in_ip_delta: ip_delta(in_addr),
        in_l4_delta: in_addr + checksum::delta16(fe.port, b.port),
        out_ip_delta: ip_delta(out_addr),
        out_l4_delta: out_addr + checksum::delta16(b.port, fe.port),
    }
}

/// The IPv4 address as a number, 0 for IPv6.
fn raw4(a: IpAddr) -> u32 {
    match a {
        IpAddr::V4(a) => u32::from(a),
        IpAddr::V6(_) => 0,
    }
}

/// The IPv6 address as a number, 0 for IPv4.
fn raw6(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(_) => 0,
        IpAddr::V6(a) => u128::from(a),
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
        gateway_mac6: MacAddr::ZERO,
        seed: 0,
        flow_table_size: config::DEFAULT_FLOW_TABLE_SIZE,
        fragments: Default::default(),
        pool_names: Vec::new(),
        services: Vec::new(),
        backends: Vec::new(),
        frontends: EndpointMap::build(&HashMap::new()),
        returns: EndpointMap::build(&HashMap::new()),
        local: HashSet::new(),
        frontends6: EndpointMap::build(&HashMap::new()),
        returns6: EndpointMap::build(&HashMap::new()),
        local6: HashSet::new(),
        siit: Vec::new(),
    }
}
