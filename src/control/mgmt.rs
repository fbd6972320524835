//! The management side while workers run: statistics (summed from the
//! workers' published counters, never touching the data path), runtime
//! backend changes, and reloads. The control socket (`control.rs`) and the
//! appliance's loop call into this.

use crate::config::{self, Config};
use crate::control::health::HealthChecker;
use crate::control::plane::ControlPlane;
use crate::dataplane::counters::{Counters, DropReason, Event, SharedCounters};
use crate::dataplane::flow::FlowTable;
use crate::dataplane::snapshot::ServiceKind;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Version of the control protocol (line-delimited JSON).
pub const PROTOCOL_VERSION: u32 = 1;

/// One worker's statistics, or the total over all of them.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct WorkerStats {
    pub rx: u64,
    pub tx: u64,
    pub dropped: u64,
    pub rx_pps: f64,
    pub tx_pps: f64,
    pub drop_pps: f64,
    /// Flow-table entries in use (live or not yet reclaimed).
    pub active_connections: u64,
    pub table_capacity: u64,
    /// active_connections / table_capacity.
    pub occupancy: f64,
    pub new_connections_per_sec: f64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct FrontendStats {
    pub name: String,
    /// "ip:port".
    pub address: String,
    pub protocol: String,
    /// "balance" (a rule) or "nat" (an inbound NAT rule).
    pub kind: String,
    pub connections: u64,
    pub new_connections_per_sec: f64,
    pub packets: u64,
    pub pps: f64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct BackendStats {
    pub pool: String,
    pub frontend: String,
    /// "ip:port".
    pub address: String,
    pub weight: u32,
    /// "active", "draining", "down" or "removed".
    pub state: String,
    /// Health from probes: true, false, or null when the pool has none.
    pub healthy: Option<bool>,
    pub connections: u64,
    pub packets: u64,
    pub pps: f64,
}

/// The answer to `stats`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct StatsReport {
    pub version: u32,
    pub uptime_seconds: f64,
    pub workers: Vec<WorkerStats>,
    pub total: WorkerStats,
    pub drops: BTreeMap<String, u64>,
    pub events: BTreeMap<String, u64>,
    pub frontends: Vec<FrontendStats>,
    pub backends: Vec<BackendStats>,
}

/// A request on the control socket: `{"version": 1, "command": "...", ...}`.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
pub struct Request {
    pub version: u32,
    #[serde(flatten)]
    pub command: Command,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(tag = "command", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Command {
    /// Statistics snapshot.
    Stats,
    /// Add a backend to a pool.
    BackendAdd {
        pool: String,
        address: String,
        #[serde(default = "one")]
        weight: u32,
        /// Destination MAC; defaults to the pool's other backends' next hop.
        mac: Option<String>,
    },
    /// Remove a backend: its connections are dropped.
    BackendRemove { pool: String, address: String },
    /// Weight 0: keeps its connections, takes no new ones.
    BackendDrain { pool: String, address: String },
    /// Set a backend's weight.
    BackendWeight {
        pool: String,
        address: String,
        weight: u32,
    },
    /// Re-read the configuration file.
    Reload,
}

fn one() -> u32 {
    1
}

/// The reply: `{"version": 1, "ok": true, "result": ...}` or
/// `{"version": 1, "ok": false, "error": "..."}`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Reply {
    pub version: u32,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Reply {
    pub fn ok(result: serde_json::Value) -> Reply {
        Reply {
            version: PROTOCOL_VERSION,
            ok: true,
            result: Some(result),
            error: None,
        }
    }

    pub fn err(e: impl Into<String>) -> Reply {
        Reply {
            version: PROTOCOL_VERSION,
            ok: false,
            result: None,
            error: Some(e.into()),
        }
    }
}

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
}

/// How often rates are sampled.
const RATE_INTERVAL: Duration = Duration::from_secs(1);

impl Management {
    pub fn new(
        cp: ControlPlane,
        shared: Vec<Arc<SharedCounters>>,
        config_path: Option<PathBuf>,
    ) -> Management {
        let table_capacity = FlowTable::capacity_for(cp.config().appliance.flow_table_size) as u64;
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
        }
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

    /// Call often (every 100 ms or so): applies health changes, samples the
    /// counters for rates.
    pub fn tick(&mut self) {
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

    /// One statistics snapshot: totals now, rates over the last interval.
    pub fn stats(&self) -> StatsReport {
        let now = self.read();
        let dt = self.last.0.duration_since(self.prev.0).as_secs_f64();
        let rate = |a: u64, b: u64| {
            if dt > 0.0 {
                a.saturating_sub(b) as f64 / dt
            } else {
                0.0
            }
        };
        let mut total_c = Counters::default();
        let mut workers = Vec::new();
        let (mut last_sum, mut prev_sum) = (Counters::default(), Counters::default());
        for (i, (c, active)) in now.iter().enumerate() {
            total_c.add(c);
            let l = self.last.1.get(i).cloned().unwrap_or_default();
            let p = self.prev.1.get(i).cloned().unwrap_or_default();
            last_sum.add(&l);
            prev_sum.add(&p);
            workers.push(WorkerStats {
                rx: c.rx,
                tx: c.tx,
                dropped: c.dropped(),
                rx_pps: rate(l.rx, p.rx),
                tx_pps: rate(l.tx, p.tx),
                drop_pps: rate(l.dropped(), p.dropped()),
                active_connections: *active,
                table_capacity: self.table_capacity,
                occupancy: *active as f64 / self.table_capacity.max(1) as f64,
                new_connections_per_sec: rate(
                    l.event_count(Event::ConnectionCreated),
                    p.event_count(Event::ConnectionCreated),
                ),
            });
        }
        let active: u64 = workers.iter().map(|w| w.active_connections).sum();
        let capacity = self.table_capacity * workers.len() as u64;
        let total = WorkerStats {
            rx: total_c.rx,
            tx: total_c.tx,
            dropped: total_c.dropped(),
            rx_pps: rate(last_sum.rx, prev_sum.rx),
            tx_pps: rate(last_sum.tx, prev_sum.tx),
            drop_pps: rate(last_sum.dropped(), prev_sum.dropped()),
            active_connections: active,
            table_capacity: capacity,
            occupancy: active as f64 / capacity.max(1) as f64,
            new_connections_per_sec: rate(
                last_sum.event_count(Event::ConnectionCreated),
                prev_sum.event_count(Event::ConnectionCreated),
            ),
        };
        let snap = self.cp.snapshot();
        let get = |v: &Vec<u64>, id: usize| v.get(id).copied().unwrap_or(0);
        let health: Vec<crate::control::health::BackendHealth> =
            self.health.as_ref().map(|h| h.status()).unwrap_or_default();
        let mut frontends: Vec<FrontendStats> = snap
            .services
            .iter()
            .map(|s| FrontendStats {
                name: s.name.clone(),
                address: format!("{}:{}", s.address, s.port),
                protocol: s.protocol.name().into(),
                kind: if s.kind == ServiceKind::Nat {
                    "nat"
                } else {
                    "balance"
                }
                .into(),
                connections: 0,
                new_connections_per_sec: 0.0,
                packets: 0,
                pps: 0.0,
            })
            .collect();
        let backends = snap
            .backends
            .iter()
            .enumerate()
            .map(|(id, b)| {
                let conns = get(&total_c.backend_connections, id);
                let packets = get(&total_c.backend_packets, id);
                let pps = rate(
                    get(&last_sum.backend_packets, id),
                    get(&prev_sum.backend_packets, id),
                );
                if let Some(f) = frontends.get_mut(b.service as usize) {
                    f.connections += conns;
                    f.packets += packets;
                    f.pps += pps;
                    f.new_connections_per_sec += rate(
                        get(&last_sum.backend_connections, id),
                        get(&prev_sum.backend_connections, id),
                    );
                }
                BackendStats {
                    pool: snap.pool_name(b).to_string(),
                    frontend: snap.services[b.service as usize].name.clone(),
                    address: format!("{}:{}", b.address, b.port),
                    weight: b.weight,
                    state: b.status.name().to_string(),
                    healthy: health
                        .iter()
                        .find(|h| {
                            h.pool == snap.pool_name(b)
                                && *h.address.ip() == b.address
                                && h.address.port() == b.port
                        })
                        .and_then(|h| h.healthy),
                    connections: conns,
                    packets,
                    pps,
                }
            })
            .collect();
        StatsReport {
            version: PROTOCOL_VERSION,
            uptime_seconds: self.started.elapsed().as_secs_f64(),
            workers,
            total,
            drops: DropReason::ALL
                .iter()
                .map(|r| (r.name().to_string(), total_c.drop_count(*r)))
                .collect(),
            events: Event::ALL
                .iter()
                .map(|e| (e.name().to_string(), total_c.event_count(*e)))
                .collect(),
            frontends,
            backends,
        }
    }

    /// Handles one request line; never panics on bad input.
    pub fn handle_line(&mut self, line: &str) -> Reply {
        let v: serde_json::Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => return Reply::err(format!("malformed request: {e}")),
        };
        match v.get("version").and_then(|x| x.as_u64()) {
            Some(n) if n == PROTOCOL_VERSION as u64 => {}
            Some(n) => {
                return Reply::err(format!(
                "unsupported protocol version {n}: this natrix speaks version {PROTOCOL_VERSION}"
            ))
            }
            None => return Reply::err("request without a \"version\" number"),
        }
        match serde_json::from_value::<Request>(v) {
            Ok(r) => self.handle(&r.command),
            Err(e) => Reply::err(format!("bad request: {e}")),
        }
    }

    pub fn handle(&mut self, c: &Command) -> Reply {
        let r: Result<String, String> = match c {
            Command::Stats => {
                return Reply::ok(serde_json::to_value(self.stats()).unwrap_or_default())
            }
            Command::BackendAdd {
                pool,
                address,
                weight,
                mac,
            } => self.add(pool, address, *weight, mac.as_deref()),
            Command::BackendRemove { pool, address } => addr(address).and_then(|a| {
                self.cp
                    .remove_backend(pool, a)
                    .map(|_| format!("removed {a} from pool {pool:?}"))
                    .map_err(|e| e.to_string())
            }),
            Command::BackendDrain { pool, address } => addr(address).and_then(|a| {
                self.cp
                    .drain_backend(pool, a)
                    .map(|_| format!("draining {a} in pool {pool:?}"))
                    .map_err(|e| e.to_string())
            }),
            Command::BackendWeight {
                pool,
                address,
                weight,
            } => addr(address).and_then(|a| {
                self.cp
                    .set_weight(pool, a, *weight)
                    .map(|_| format!("{a} in pool {pool:?} now has weight {weight}"))
                    .map_err(|e| e.to_string())
            }),
            Command::Reload => self.reload(),
        };
        if r.is_ok() {
            self.health_update();
        }
        match r {
            Ok(msg) => {
                log::info!("{msg}");
                Reply::ok(serde_json::json!({ "message": msg }))
            }
            Err(e) => Reply::err(e),
        }
    }

    fn add(
        &mut self,
        pool: &str,
        address: &str,
        weight: u32,
        mac: Option<&str>,
    ) -> Result<String, String> {
        let a = addr(address)?;
        let p = self
            .cp
            .config()
            .pools
            .iter()
            .find(|p| p.name == pool)
            .ok_or_else(|| format!("no pool named {pool:?}"))?;
        let mac = match mac {
            Some(m) => m.parse().map_err(|e| format!("mac {m:?}: {e}"))?,
            None => p
                .backends
                .first()
                .map(|b| b.mac)
                .ok_or_else(|| format!("pool {pool:?} is empty: give the backend's mac"))?,
        };
        self.cp
            .add_backend(
                pool,
                config::Backend {
                    address: *a.ip(),
                    port: a.port(),
                    weight,
                    mac,
                },
            )
            .map(|_| format!("added {a} to pool {pool:?} with weight {weight}"))
            .map_err(|e| e.to_string())
    }

    /// Re-reads the configuration file and applies the differences in pools
    /// (backends added, removed, re-weighted) as changes. A file that does not
    /// validate, or that changes anything a running natrix cannot change
    /// (appliance, ports, frontends, rules, NAT rules, pool names), is refused
    /// whole and the running configuration stays.
    pub fn reload(&mut self) -> Result<String, String> {
        let path = self
            .config_path
            .clone()
            .ok_or("this natrix has no configuration file to reload")?;
        let new = Config::load(&path).map_err(|e| format!("reload refused: {e}"))?;
        let old = self.cp.config().clone();
        let fixed = |c: &Config| {
            (
                c.appliance.clone(),
                c.ports.clone(),
                c.frontends.clone(),
                c.rules.clone(),
                c.nat_rules.clone(),
                c.pools.iter().map(|p| p.name.clone()).collect::<Vec<_>>(),
            )
        };
        if fixed(&old) != fixed(&new) {
            return Err(format!(
                "reload refused: {} changes more than the pools' backends (appliance, ports, frontends, rules, NAT rules and pool names need a restart)",
                path.display()
            ));
        }
        // Validate every change on a copy first, so that the file applies whole or not at all.
        let mut trial = ControlPlane::new(old.clone()).map_err(|e| e.to_string())?;
        let changes = diff(&old, &new);
        for ch in &changes {
            apply(&mut trial, ch).map_err(|e| format!("reload refused: {e}"))?;
        }
        for ch in &changes {
            apply(&mut self.cp, ch).map_err(|e| format!("reload failed midway: {e}"))?;
        }
        let mut health_changes = 0;
        for (o, n) in old.pools.iter().zip(&new.pools) {
            if o.health != n.health {
                self.cp
                    .set_pool_health(&n.name, n.health.clone())
                    .map_err(|e| format!("reload failed midway: {e}"))?;
                health_changes += 1;
            }
        }
        self.health_update();
        Ok(format!(
            "reloaded {}: {} backend change(s), {} pool health setting(s)",
            path.display(),
            changes.len(),
            health_changes
        ))
    }
}

fn addr(s: &str) -> Result<SocketAddrV4, String> {
    s.parse()
        .map_err(|_| format!("{s:?} is not an IPv4 address and port like 198.19.1.11:8080"))
}

enum Change {
    Add(String, config::Backend),
    Remove(String, SocketAddrV4),
    Weight(String, SocketAddrV4, u32),
}

fn diff(old: &Config, new: &Config) -> Vec<Change> {
    let mut out = Vec::new();
    for (o, n) in old.pools.iter().zip(&new.pools) {
        let key = |b: &config::Backend| SocketAddrV4::new(b.address, b.port);
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

fn apply(cp: &mut ControlPlane, c: &Change) -> Result<(), String> {
    match c {
        Change::Add(p, b) => cp.add_backend(p, b.clone()),
        Change::Remove(p, a) => cp.remove_backend(p, *a),
        Change::Weight(p, a, w) => cp.set_weight(p, *a, *w),
    }
    .map_err(|e| e.to_string())
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
            b.pool, b.address, b.state, health, b.weight, b.connections, b.packets, b.pps
        );
    }
    o
}
