//! The management side while workers run: statistics (summed from the
//! workers' published counters, never touching the data path), runtime
//! backend changes, and reloads. The control socket (`socket.rs`) and the
//! appliance's loop call into this; what they exchange is defined in
//! `protocol.rs`.

use crate::config::{self, Config, ConfigError, Family};
use crate::control::health::{BackendHealth, HealthChecker};
use crate::control::neighbour::{Params, Resolver};
use crate::control::plane::{ChangeError, ControlPlane};
use crate::control::protocol::{
    BackendStats, Command, FrontendStats, NeighbourStats, Outcome, Response, StatsReport,
    WorkerStats, PROTOCOL_VERSION,
};
use crate::dataplane::counters::{Counters, DropReason, Event, SharedCounters};
use crate::dataplane::flow::FlowTable;
use crate::dataplane::neighbour::Link;
use crate::dataplane::snapshot::{BackendEntry, BackendStatus, ServiceKind, Snapshot};
use crate::wire::ethernet::MacParseError;
use crate::wire::MacAddr;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why a backend change asked through the control socket was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum CommandError {
    /// Not an IPv4 address and port, nor an IPv6 one (`[address]:port`,
    /// without a zone).
    Address(String),
    Mac(String, MacParseError),
    /// No MAC given, and no backend in the pool to take one from.
    EmptyPool(String),
    Change(ChangeError),
    Reload(ReloadError),
    /// `announce` where natrix has no port to send from (a replay).
    NoWire,
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::Address(s) => write!(
                f,
                "{s:?} is not an IPv4 address and port like 198.19.1.11:8080, nor an IPv6 one like [2001:db8::5]:8080"
            ),
            CommandError::Mac(m, e) => write!(f, "mac {m:?}: {e}"),
            CommandError::EmptyPool(pool) => {
                write!(f, "pool {pool:?} is empty: give the backend's mac")
            }
            CommandError::Change(e) => e.fmt(f),
            CommandError::Reload(e) => e.fmt(f),
            CommandError::NoWire => f.write_str(
                "nothing to announce on: this natrix has no network port (a replay)",
            ),
        }
    }
}

impl std::error::Error for CommandError {}

impl From<ChangeError> for CommandError {
    fn from(e: ChangeError) -> Self {
        CommandError::Change(e)
    }
}

impl From<ReloadError> for CommandError {
    fn from(e: ReloadError) -> Self {
        CommandError::Reload(e)
    }
}

/// Why a reload was refused, or stopped.
#[derive(Debug, Clone, PartialEq)]
pub enum ReloadError {
    /// natrix was started without a configuration file.
    NoFile,
    /// The file does not load or validate.
    Invalid(ConfigError),
    /// The file changes what only a restart can change: `field` names it
    /// (`ports.public_addresses`, or a section: `appliance`, `frontend`, ...).
    NeedsRestart { path: PathBuf, field: &'static str },
    /// A change the file asks for was refused; nothing was applied.
    Refused(ChangeError),
}

impl fmt::Display for ReloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReloadError::NoFile => f.write_str("this natrix has no configuration file to reload"),
            ReloadError::Invalid(e) => write!(f, "reload refused: {e}"),
            ReloadError::NeedsRestart { path, field } => write!(
                f,
                "reload refused: {} changes {field}, which only a restart can change (appliance, ports, frontends, rules, NAT rules and pool names need a restart; a reload applies the pools' backends, health checks and next_hop, and appliance.gateway4 and gateway6)",
                path.display()
            ),
            ReloadError::Refused(e) => write!(f, "reload refused: {e}"),
        }
    }
}

impl std::error::Error for ReloadError {}

/// The management state of a running natrix.
pub struct Management {
    cp: ControlPlane,
    shared: Vec<Arc<SharedCounters>>,
    table_capacity: u64,
    config_path: Option<PathBuf>,
    started: Instant,
    /// Per-worker counters one rate interval ago, and now.
    prev: (Instant, Vec<Counters>),
    last: (Instant, Vec<Counters>),
    /// Health probes (the appliance only: replays and benchmarks send none).
    health: Option<HealthChecker>,
    health_enabled: bool,
    /// Per backend id, the (connections, packets) its earlier owners counted
    /// before the id was freed: a reused id reports only its own.
    base: Vec<(u64, u64)>,
    /// Per service, the (connections, packets) of its freed backends: its
    /// frontend's row keeps counting them.
    retired: Vec<(u64, u64)>,
    /// Neighbour resolution (`natrix run`; replays have no wire).
    resolver: Option<Resolver>,
    /// Backends marked down because their next hop's neighbour entry failed.
    neighbour_down: HashSet<(String, SocketAddr)>,
    /// The neighbour table of a replay: the MACs its capture gave.
    replay_neighbours: Vec<(std::net::IpAddr, MacAddr)>,
}

/// How often rates are sampled.
const RATE_INTERVAL: Duration = Duration::from_secs(1);

impl Management {
    pub fn new(
        cp: ControlPlane,
        shared: Vec<Arc<SharedCounters>>,
        config_path: Option<PathBuf>,
    ) -> Management {
        let table_capacity =
            FlowTable::<u64>::capacity_for(cp.config().appliance.flow_table_size) as u64;
        let now = Instant::now();
        let zero = vec![Counters::default(); shared.len()];
        Management {
            cp,
            shared,
            table_capacity,
            config_path,
            started: now,
            prev: (now, zero.clone()),
            last: (now, zero),
            health: None,
            health_enabled: false,
            base: Vec::new(),
            retired: Vec::new(),
            resolver: None,
            neighbour_down: HashSet::new(),
            replay_neighbours: Vec::new(),
        }
    }

    /// Resolves the gateways and backends through `link` (its workers send
    /// the requests and pass the replies), with the cache's `params`.
    pub fn enable_neighbours(&mut self, link: Arc<Link>, params: Params) {
        self.resolver = Some(Resolver::new(self.cp.config(), link, params));
    }

    /// Says which MACs a replay's capture gave (its neighbour table).
    pub fn set_replay_neighbours(&mut self, macs: Vec<(std::net::IpAddr, MacAddr)>) {
        self.replay_neighbours = macs;
    }

    /// Queues a gratuitous ARP or unsolicited Neighbor Advertisement for
    /// every frontend and own address; says how many.
    pub fn announce(&mut self) -> Result<String, CommandError> {
        let r = self.resolver.as_mut().ok_or(CommandError::NoWire)?;
        let n = r.announce(self.cp.config());
        Ok(format!(
            "announced {n} address(es) with gratuitous ARP and unsolicited Neighbor Advertisements"
        ))
    }

    /// One turn of neighbour resolution; a backend whose next hop failed is
    /// marked down (as a failed health probe would), and up again when it
    /// is resolved.
    fn neighbours(&mut self, now: Duration) {
        let Some(r) = &mut self.resolver else {
            return;
        };
        r.run(&mut self.cp, now);
        let snap = self.cp.snapshot();
        let mut failed = HashSet::new();
        for b in &snap.backends {
            if b.pool == u16::MAX || b.status == BackendStatus::Removed {
                continue;
            }
            if b.next_hop.is_some_and(|h| r.cache().failed(h)) {
                failed.insert((
                    snap.pool_name(b).to_string(),
                    SocketAddr::new(b.address, b.port),
                ));
            }
        }
        for (pool, addr) in failed.difference(&self.neighbour_down) {
            match self.cp.set_health(pool, *addr, false) {
                Ok(()) => log::warn!("pool {pool:?}: backend {addr} is down (its neighbour does not answer ARP or Neighbor Discovery)"),
                Err(e) => log::warn!("neighbour down for {addr} not applied: {e}"),
            }
        }
        for (pool, addr) in self.neighbour_down.difference(&failed) {
            if self.cp.set_health(pool, *addr, true).is_ok() {
                log::warn!("pool {pool:?}: backend {addr} is up (its neighbour answers again)");
            }
        }
        self.neighbour_down = failed;
    }

    /// Starts the health probes of every pool that has `[pool.health]`.
    /// Probes go out through the host's own network stack.
    pub fn enable_health(&mut self) {
        self.health_enabled = true;
        if self.cp.config().pools.iter().any(|p| p.health.is_some()) {
            self.health = Some(HealthChecker::new(self.cp.config()));
        }
    }

    /// Tells the probes about backends added or removed, and pools whose
    /// health settings changed.
    fn health_update(&mut self) {
        if let Some(h) = &mut self.health {
            h.update(self.cp.config());
        } else if self.health_enabled && self.cp.config().pools.iter().any(|p| p.health.is_some()) {
            self.health = Some(HealthChecker::new(self.cp.config()));
        }
    }

    pub fn control_plane(&mut self) -> &mut ControlPlane {
        &mut self.cp
    }

    /// The workers' counters (set once the workers exist).
    pub fn set_workers(&mut self, shared: Vec<Arc<SharedCounters>>) {
        self.prev.1 = vec![Counters::default(); shared.len()];
        self.last.1 = self.prev.1.clone();
        self.shared = shared;
    }

    fn read(&self) -> Vec<(Counters, u64)> {
        self.shared.iter().map(|s| s.read()).collect()
    }

    /// Call often (every 100 ms or so): applies health changes, frees the
    /// ids of backends removed long enough ago, samples the counters for rates.
    pub fn tick(&mut self) {
        self.tick_at(self.started.elapsed());
    }

    /// [`Management::tick`] at `since_start` after this `Management` was
    /// created (tests inject the time here).
    pub fn tick_at(&mut self, since_start: Duration) {
        self.neighbours(since_start);
        let freed = self.cp.expire(since_start.as_secs());
        if !freed.is_empty() {
            let mut sum = Counters::default();
            for (c, _) in self.read() {
                sum.add(&c);
            }
            let get = |v: &Vec<u64>, id: usize| v.get(id).copied().unwrap_or(0);
            let snap = self.cp.snapshot();
            for id in freed {
                let id = id as usize;
                if self.base.len() <= id {
                    self.base.resize(id + 1, (0, 0));
                }
                let now = (
                    get(&sum.backend_connections, id),
                    get(&sum.backend_packets, id),
                );
                let s = snap.backends[id].service as usize;
                if self.retired.len() <= s {
                    self.retired.resize(s + 1, (0, 0));
                }
                self.retired[s].0 += now.0.saturating_sub(self.base[id].0);
                self.retired[s].1 += now.1.saturating_sub(self.base[id].1);
                self.base[id] = now;
            }
        }
        if let Some(h) = &mut self.health {
            for c in h.poll_changes() {
                let state = if c.healthy { "up" } else { "down" };
                match self.cp.set_health(&c.pool, c.address, c.healthy) {
                    Ok(()) => log::warn!(
                        "pool {:?}: backend {} is {state} ({})",
                        c.pool,
                        c.address,
                        c.reason
                    ),
                    Err(e) => log::warn!("health change for {} not applied: {e}", c.address),
                }
            }
        }
        if self.last.0.elapsed() >= RATE_INTERVAL {
            let now: Vec<Counters> = self.read().into_iter().map(|r| r.0).collect();
            self.prev = std::mem::replace(&mut self.last, (Instant::now(), now));
        }
    }

    /// The neighbour table: the cache's entries, or in a replay what the
    /// capture gave.
    fn neighbour_rows(&self) -> Vec<NeighbourStats> {
        if let Some(r) = &self.resolver {
            return r
                .cache()
                .rows(self.started.elapsed())
                .into_iter()
                .map(|row| NeighbourStats {
                    address: row.ip.to_string(),
                    mac: row.mac.map(|m| m.to_string()),
                    state: row.state.name().to_string(),
                    port: row.arm.name().to_string(),
                    age_seconds: row.age.as_secs_f64(),
                })
                .collect();
        }
        let backend_port = match self.cp.config().ports.topology {
            config::Topology::OneArm => "public",
            config::Topology::TwoArm => "private",
        };
        let a = &self.cp.config().appliance;
        self.replay_neighbours
            .iter()
            .map(|(ip, mac)| {
                let gateway = a.gateway4.map(std::net::IpAddr::V4) == Some(*ip)
                    || a.gateway6.map(std::net::IpAddr::V6) == Some(*ip);
                NeighbourStats {
                    address: ip.to_string(),
                    mac: Some(mac.to_string()),
                    state: "capture".to_string(),
                    port: if gateway { "public" } else { backend_port }.to_string(),
                    age_seconds: 0.0,
                }
            })
            .collect()
    }

    /// One statistics snapshot: totals now, rates over the last interval.
    pub fn stats(&self) -> StatsReport {
        let now = self.read();
        let interval = Interval(self.last.0.duration_since(self.prev.0).as_secs_f64());
        let mut sum = Window::default();
        let mut workers = Vec::new();
        for (i, (c, active)) in now.iter().enumerate() {
            let w = Window {
                now: c.clone(),
                last: self.last.1.get(i).cloned().unwrap_or_default(),
                prev: self.prev.1.get(i).cloned().unwrap_or_default(),
            };
            sum.add(&w);
            workers.push(w.worker(*active, self.table_capacity, interval));
        }
        let active: u64 = workers.iter().map(|w| w.active_connections).sum();
        let capacity = self.table_capacity * workers.len() as u64;
        let total = sum.worker(active, capacity, interval);
        let snap = self.cp.snapshot();
        let health = self.health.as_ref().map(|h| h.status()).unwrap_or_default();
        let mut frontends = frontend_rows(&snap);
        for (f, r) in frontends.iter_mut().zip(&self.retired) {
            f.connections += r.0;
            f.packets += r.1;
        }
        let free: HashSet<u16> = self.cp.free_ids().iter().copied().collect();
        let ids = Ids {
            free: &free,
            base: &self.base,
        };
        let backends = backend_rows(&snap, &sum, interval, &health, &ids, &mut frontends);
        StatsReport {
            version: PROTOCOL_VERSION,
            uptime_seconds: self.started.elapsed().as_secs_f64(),
            workers,
            total,
            drops: drop_counts(&sum.now),
            events: event_counts(&sum.now),
            frontends,
            backends,
            neighbours: self.neighbour_rows(),
        }
    }

    /// Answers one request.
    pub fn handle(&mut self, c: &Command) -> Response {
        if let Command::Stats = c {
            return Response::ok(Outcome::Stats(Box::new(self.stats())));
        }
        match self.change(c) {
            Ok(message) => {
                self.health_update();
                log::info!("{message}");
                Response::ok(Outcome::Done { message })
            }
            Err(e) => Response::err(e),
        }
    }

    /// Applies a backend change or a reload; says what was done.
    fn change(&mut self, c: &Command) -> Result<String, CommandError> {
        Ok(match c {
            // Changes nothing (and `handle` answers it with the report).
            Command::Stats => String::new(),
            Command::BackendAdd {
                pool,
                address,
                weight,
                mac,
            } => self.add(pool, address, *weight, mac.as_deref())?,
            Command::BackendRemove { pool, address } => {
                let a = addr(address)?;
                self.cp.remove_backend(pool, a)?;
                format!("removed {a} from pool {pool:?}")
            }
            Command::BackendDrain { pool, address } => {
                let a = addr(address)?;
                self.cp.drain_backend(pool, a)?;
                format!("draining {a} in pool {pool:?}")
            }
            Command::BackendWeight {
                pool,
                address,
                weight,
            } => {
                let a = addr(address)?;
                self.cp.set_weight(pool, a, *weight)?;
                format!("{a} in pool {pool:?} now has weight {weight}")
            }
            Command::Reload => self.reload()?,
            Command::Announce => self.announce()?,
        })
    }

    fn add(
        &mut self,
        pool: &str,
        address: &str,
        weight: u32,
        mac: Option<&str>,
    ) -> Result<String, CommandError> {
        let a = addr(address)?;
        let p = self
            .cp
            .config()
            .pools
            .iter()
            .find(|p| p.name == pool)
            .ok_or_else(|| ChangeError::NoPool(pool.to_string()))?;
        // Without a mac: the pool's first backend's (zero when resolved:
        // then this one is resolved too, or, with nothing to resolve it by,
        // refused); an empty pool with a next hop or on-link addresses
        // resolves it.
        let resolves =
            !self.cp.config().ports.backend_addresses().is_empty() || p.next_hop.is_some();
        let mac = match mac {
            Some(m) => m.parse().map_err(|e| CommandError::Mac(m.to_string(), e))?,
            None => match p.backends.first() {
                Some(b) => b.mac,
                None if resolves => MacAddr::ZERO,
                None => return Err(CommandError::EmptyPool(pool.to_string())),
            },
        };
        self.cp.add_backend(
            pool,
            config::Backend {
                address: a.ip(),
                port: a.port(),
                weight,
                mac,
            },
        )?;
        Ok(format!("added {a} to pool {pool:?} with weight {weight}"))
    }

    /// Re-reads the configuration file and applies the differences in pools
    /// (next hops changed, backends added, removed, re-weighted) and in the
    /// gateways as changes. A file that does not validate, or that changes
    /// anything a running natrix cannot change (appliance but its gateways,
    /// ports, frontends, rules, NAT rules, pool names), is refused whole and
    /// the running configuration stays.
    pub fn reload(&mut self) -> Result<String, ReloadError> {
        let path = self.config_path.clone().ok_or(ReloadError::NoFile)?;
        let new = Config::load(&path).map_err(ReloadError::Invalid)?;
        let old = self.cp.config().clone();
        if let Some(field) = needs_restart(&old, &new) {
            return Err(ReloadError::NeedsRestart { path, field });
        }
        // Every change applies to a copy of the running state; the copy
        // replaces it (one snapshot) only when all of them succeeded. The
        // next hops first: backends added after them are resolved there.
        let hops: Vec<(&str, Option<IpAddr>)> = old
            .pools
            .iter()
            .zip(&new.pools)
            .filter(|(o, n)| o.next_hop != n.next_hop)
            .map(|(_, n)| (n.name.as_str(), n.next_hop))
            .collect();
        let gateways = (new.appliance.gateway4, new.appliance.gateway6);
        let changes = diff(&old, &new);
        let health_changes = self.cp.transaction(|cp| {
            cp.set_gateways(gateways.0, gateways.1);
            for &(pool, hop) in &hops {
                cp.set_next_hop(pool, hop).map_err(ReloadError::Refused)?;
            }
            for ch in &changes {
                apply(cp, ch).map_err(ReloadError::Refused)?;
            }
            let mut health_changes = 0;
            for (o, n) in old.pools.iter().zip(&new.pools) {
                if o.health != n.health {
                    cp.set_pool_health(&n.name, n.health.clone())
                        .map_err(ReloadError::Refused)?;
                    health_changes += 1;
                }
            }
            Ok(health_changes)
        })?;
        self.health_update();
        let gateway_changes = usize::from(old.appliance.gateway4 != new.appliance.gateway4)
            + usize::from(old.appliance.gateway6 != new.appliance.gateway6);
        Ok(format!(
            "reloaded {}: {} backend change(s), {} pool health setting(s), {} next hop(s), {} gateway(s)",
            path.display(),
            changes.len(),
            health_changes,
            hops.len(),
            gateway_changes
        ))
    }
}

/// The length of the last rate interval, in seconds.
#[derive(Clone, Copy)]
struct Interval(f64);

impl Interval {
    /// Per second over the interval, from the counts at its end and start.
    fn rate(self, last: u64, prev: u64) -> f64 {
        if self.0 > 0.0 {
            last.saturating_sub(prev) as f64 / self.0
        } else {
            0.0
        }
    }
}

/// Counters now, and at the end and the start of the last rate interval:
/// one worker's, or summed over all of them.
#[derive(Default)]
struct Window {
    now: Counters,
    last: Counters,
    prev: Counters,
}

impl Window {
    fn add(&mut self, o: &Window) {
        self.now.add(&o.now);
        self.last.add(&o.last);
        self.prev.add(&o.prev);
    }

    /// The statistics of a worker (or of all) with `active` of `capacity`
    /// flow-table entries in use.
    fn worker(&self, active: u64, capacity: u64, iv: Interval) -> WorkerStats {
        let (c, l, p) = (&self.now, &self.last, &self.prev);
        WorkerStats {
            rx: c.rx,
            tx: c.tx,
            dropped: c.dropped(),
            rx_pps: iv.rate(l.rx, p.rx),
            tx_pps: iv.rate(l.tx, p.tx),
            drop_pps: iv.rate(l.dropped(), p.dropped()),
            active_connections: active,
            table_capacity: capacity,
            occupancy: active as f64 / capacity.max(1) as f64,
            new_connections_per_sec: iv.rate(
                l.event_count(Event::ConnectionCreated),
                p.event_count(Event::ConnectionCreated),
            ),
        }
    }
}

/// One row per frontend, with its counts still zero (`backend_rows` adds
/// its backends' counts to them).
fn frontend_rows(snap: &Snapshot) -> Vec<FrontendStats> {
    snap.services
        .iter()
        .map(|s| FrontendStats {
            name: s.name.clone(),
            address: SocketAddr::new(s.address, s.port).to_string(),
            family: Family::of(s.address).name().into(),
            protocol: s.protocol.name().into(),
            kind: match s.kind {
                ServiceKind::Nat => "nat",
                ServiceKind::Balance => "balance",
            }
            .into(),
            connections: 0,
            new_connections_per_sec: 0.0,
            packets: 0,
            pps: 0.0,
        })
        .collect()
}

/// Which backend ids are free, and the counts of their earlier owners.
struct Ids<'a> {
    free: &'a HashSet<u16>,
    base: &'a [(u64, u64)],
}

/// One row per backend id in use (removed ones too, until their ids are
/// freed), each also counted into its frontend's row.
fn backend_rows(
    snap: &Snapshot,
    sum: &Window,
    iv: Interval,
    health: &[BackendHealth],
    ids: &Ids<'_>,
    frontends: &mut [FrontendStats],
) -> Vec<BackendStats> {
    let get = |v: &Vec<u64>, id: usize| v.get(id).copied().unwrap_or(0);
    snap.backends
        .iter()
        .enumerate()
        .filter(|(id, _)| !ids.free.contains(&(*id as u16)))
        .map(|(id, b)| {
            let (base_conns, base_packets) = ids.base.get(id).copied().unwrap_or((0, 0));
            let conns = get(&sum.now.backend_connections, id).saturating_sub(base_conns);
            let packets = get(&sum.now.backend_packets, id).saturating_sub(base_packets);
            let pps = iv.rate(
                get(&sum.last.backend_packets, id),
                get(&sum.prev.backend_packets, id),
            );
            if let Some(f) = frontends.get_mut(b.service as usize) {
                f.connections += conns;
                f.packets += packets;
                f.pps += pps;
                f.new_connections_per_sec += iv.rate(
                    get(&sum.last.backend_connections, id),
                    get(&sum.prev.backend_connections, id),
                );
            }
            BackendStats {
                pool: snap.pool_name(b).to_string(),
                frontend: snap.services[b.service as usize].name.clone(),
                address: SocketAddr::new(b.address, b.port).to_string(),
                family: Family::of(b.address).name().into(),
                weight: b.weight,
                state: b.status,
                healthy: probed(health, snap.pool_name(b), b),
                connections: conns,
                packets,
                pps,
            }
        })
        .collect()
}

/// The probes' verdict on a backend: None when it is not probed.
fn probed(health: &[BackendHealth], pool: &str, b: &BackendEntry) -> Option<bool> {
    health
        .iter()
        .find(|h| h.pool == pool && h.address.ip() == b.address && h.address.port() == b.port)
        .and_then(|h| h.healthy)
}

fn drop_counts(c: &Counters) -> BTreeMap<String, u64> {
    DropReason::ALL
        .iter()
        .map(|r| (r.name().to_string(), c.drop_count(*r)))
        .collect()
}

fn event_counts(c: &Counters) -> BTreeMap<String, u64> {
    Event::ALL
        .iter()
        .map(|e| (e.name().to_string(), c.event_count(*e)))
        .collect()
}

fn addr(s: &str) -> Result<SocketAddr, CommandError> {
    match s.parse::<SocketAddr>() {
        Ok(SocketAddr::V6(a)) if a.scope_id() != 0 || a.flowinfo() != 0 => {
            Err(CommandError::Address(s.to_string()))
        }
        Ok(a) => Ok(a),
        Err(_) => Err(CommandError::Address(s.to_string())),
    }
}

enum Change {
    Add(String, config::Backend),
    Remove(String, SocketAddr),
    Weight(String, SocketAddr, u32),
}

/// The first thing `new` changes that only a restart can change, named as
/// in the file; None if a reload can apply it.
fn needs_restart(old: &Config, new: &Config) -> Option<&'static str> {
    let appliance = |c: &Config| {
        let mut a = c.appliance.clone();
        (a.gateway4, a.gateway6) = (None, None);
        a
    };
    let pool_names = |c: &Config| c.pools.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
    let (o, n) = (&old.ports, &new.ports);
    [
        (
            o.public_addresses != n.public_addresses,
            "ports.public_addresses",
        ),
        (
            o.private_addresses != n.private_addresses,
            "ports.private_addresses",
        ),
        (o != n, "ports"),
        (appliance(old) != appliance(new), "appliance"),
        (old.frontends != new.frontends, "frontend"),
        (old.rules != new.rules, "rule"),
        (old.nat_rules != new.nat_rules, "nat_rule"),
        (pool_names(old) != pool_names(new), "pool.name"),
    ]
    .into_iter()
    .find(|(changed, _)| *changed)
    .map(|(_, field)| field)
}

fn diff(old: &Config, new: &Config) -> Vec<Change> {
    let mut out = Vec::new();
    for (o, n) in old.pools.iter().zip(&new.pools) {
        let key = |b: &config::Backend| SocketAddr::new(b.address, b.port);
        for b in &o.backends {
            match n.backends.iter().find(|x| key(x) == key(b)) {
                None => out.push(Change::Remove(o.name.clone(), key(b))),
                Some(x) if x.weight != b.weight || x.mac != b.mac => {
                    if x.mac != b.mac {
                        out.push(Change::Remove(o.name.clone(), key(b)));
                        out.push(Change::Add(o.name.clone(), x.clone()));
                    } else {
                        out.push(Change::Weight(o.name.clone(), key(b), x.weight));
                    }
                }
                Some(_) => {}
            }
        }
        for b in &n.backends {
            if !o.backends.iter().any(|x| key(x) == key(b)) {
                out.push(Change::Add(o.name.clone(), b.clone()));
            }
        }
    }
    out
}

fn apply(cp: &mut ControlPlane, c: &Change) -> Result<(), ChangeError> {
    match c {
        Change::Add(p, b) => cp.add_backend(p, b.clone()),
        Change::Remove(p, a) => cp.remove_backend(p, *a),
        Change::Weight(p, a, w) => cp.set_weight(p, *a, *w),
    }
}

/// The human form of a statistics snapshot (`natrix stats`).
pub fn render_stats(s: &StatsReport) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let t = &s.total;
    let _ = writeln!(
        o,
        "natrix: up {:.0} s, {} worker(s)",
        s.uptime_seconds,
        s.workers.len()
    );
    let _ = writeln!(
        o,
        "{:<8} {:>14} {:>14} {:>12} {:>11} {:>11} {:>10} {:>12} {:>9}",
        "worker",
        "received",
        "sent",
        "dropped",
        "rx Mpps",
        "tx Mpps",
        "drops/s",
        "connections",
        "table"
    );
    let row = |o: &mut String, name: &str, w: &WorkerStats| {
        let _ = writeln!(
            o,
            "{:<8} {:>14} {:>14} {:>12} {:>11.3} {:>11.3} {:>10.0} {:>12} {:>8.1}%",
            name,
            w.rx,
            w.tx,
            w.dropped,
            w.rx_pps / 1e6,
            w.tx_pps / 1e6,
            w.drop_pps,
            w.active_connections,
            w.occupancy * 100.0
        );
    };
    for (i, w) in s.workers.iter().enumerate() {
        row(&mut o, &i.to_string(), w);
    }
    row(&mut o, "total", t);
    let _ = writeln!(o, "new connections: {:.0}/s", t.new_connections_per_sec);
    let drops: Vec<_> = s.drops.iter().filter(|(_, v)| **v > 0).collect();
    if !drops.is_empty() {
        let _ = writeln!(o, "\ndrops by reason");
        for (k, v) in drops {
            let _ = writeln!(o, "  {k:<24} {v:>12}");
        }
    }
    let _ = writeln!(o, "\nfrontends");
    for f in &s.frontends {
        let _ = writeln!(
            o,
            "  {:<14} {:<22} {:<4} {:<8} connections {:>10} ({:>8.0}/s)  packets {:>12} ({:>10.0}/s)",
            f.name, f.address, f.protocol, f.kind, f.connections, f.new_connections_per_sec, f.packets, f.pps
        );
    }
    let _ = writeln!(o, "\nbackends");
    for b in &s.backends {
        let health = match b.healthy {
            Some(true) => "healthy",
            Some(false) => "unhealthy",
            None => "-",
        };
        let _ = writeln!(
            o,
            "  {:<12} {:<22} {:<9} {:<9} weight {:>4}  connections {:>10}  packets {:>12} ({:>10.0}/s)",
            b.pool, b.address, b.state.name(), health, b.weight, b.connections, b.packets, b.pps
        );
    }
    if !s.neighbours.is_empty() {
        let _ = writeln!(o, "\nneighbours");
        for n in &s.neighbours {
            let _ = writeln!(
                o,
                "  {:<40} {:<17} {:<10} {:<7} age {:>8.1} s",
                n.address,
                n.mac.as_deref().unwrap_or("-"),
                n.state,
                n.port,
                n.age_seconds
            );
        }
    }
    o
}
