//! The configuration file: TOML, validated into [`Config`].
//!
//! Parsing goes in two steps. Serde deserializes the text into private "raw"
//! structs that mirror the file (unknown keys are rejected, and every value that
//! validation can reject keeps its byte span); then the raw structs are checked
//! and converted into the validated types below, which are what the rest of
//! natrix consumes. Every error is a [`ConfigError`] naming the file, the line,
//! the dotted field path (like `pool[1].backend[0].weight`) and what was
//! expected. The format is documented in the README (Configuration).

use crate::dataplane::select::Mode;
use crate::wire::{IpProtocol, MacAddr};
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;
use toml::Spanned;

/// Default flow-table capacity per worker (connections).
pub const DEFAULT_FLOW_TABLE_SIZE: u32 = 1 << 20;
/// Default transitory timeout (half-open SYN, FIN or RST seen), seconds.
pub const DEFAULT_TRANSITORY_TIMEOUT_SECS: u32 = 10;
/// Default idle timeout of a rule, minutes (the cloud balancers' 4).
pub const DEFAULT_IDLE_TIMEOUT_MINS: u32 = 4;
/// Default Maglev lookup-table size (prime).
pub const DEFAULT_MAGLEV_TABLE_SIZE: u32 = 65537;

/// Smallest accepted `appliance.flow_table_size`.
pub const MIN_FLOW_TABLE_SIZE: u32 = 1024;
/// Largest accepted `appliance.flow_table_size` (2^28).
pub const MAX_FLOW_TABLE_SIZE: u32 = 1 << 28;
/// Largest accepted `appliance.transitory_timeout`, seconds.
pub const MAX_TRANSITORY_TIMEOUT_SECS: u32 = 3600;
/// Smallest accepted `rule.idle_timeout`, minutes.
pub const MIN_IDLE_TIMEOUT_MINS: u32 = 4;
/// Largest accepted `rule.idle_timeout`, minutes.
pub const MAX_IDLE_TIMEOUT_MINS: u32 = 100;
/// Largest accepted backend weight.
pub const MAX_WEIGHT: u32 = 1000;
/// The Maglev table must have at least this many entries per backend.
pub const MAGLEV_ENTRIES_PER_BACKEND: u32 = 100;
/// Largest accepted Maglev table size (2^24 entries).
pub const MAX_MAGLEV_TABLE_SIZE: u32 = 1 << 24;

/// A validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub appliance: Appliance,
    /// How `natrix run` uses its DPDK ports.
    pub ports: Ports,
    pub frontends: Vec<Frontend>,
    pub pools: Vec<Pool>,
    pub rules: Vec<Rule>,
    pub nat_rules: Vec<NatRule>,
}

/// The appliance's own addresses and tables.
#[derive(Debug, Clone, PartialEq)]
pub struct Appliance {
    /// MAC address natrix sends from (and answers ARP with).
    pub mac: MacAddr,
    /// The appliance's own IPv4 addresses (answered to ARP, besides the frontends).
    pub addresses: Vec<Ipv4Addr>,
    /// Next hop toward clients: the destination MAC of return traffic.
    pub gateway_mac: MacAddr,
    /// Flow-table capacity per worker, in connections.
    pub flow_table_size: u32,
    /// Timeout of half-open and closing TCP connections, seconds.
    pub transitory_timeout_secs: u32,
    /// Seed of the workers' random backend choice (replays are reproducible).
    pub seed: u64,
}

/// Which ports carry which direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Topology {
    /// One port carries clients and backends.
    #[default]
    OneArm,
    /// Clients on the public port, backends on the private port.
    TwoArm,
}

impl Topology {
    pub fn name(self) -> &'static str {
        match self {
            Topology::OneArm => "one-arm",
            Topology::TwoArm => "two-arm",
        }
    }
}

/// Default number of worker lcores of `natrix run`.
pub const DEFAULT_WORKERS: u16 = 1;
/// Default mbufs per port pool.
pub const DEFAULT_MBUFS: u32 = 8191;

/// The `[ports]` section: the DPDK deployment of `natrix run`.
#[derive(Debug, Clone, PartialEq)]
pub struct Ports {
    pub topology: Topology,
    /// DPDK port id of the public side (the only port in one-arm).
    pub public: u16,
    /// DPDK port id of the private side (two-arm only).
    pub private: u16,
    /// Worker lcores; each owns one receive and one transmit queue per port.
    pub workers: u16,
    /// mbufs in the packet pool.
    pub mbufs: u32,
}

impl Default for Ports {
    fn default() -> Self {
        Ports {
            topology: Topology::OneArm,
            public: 0,
            private: 1,
            workers: DEFAULT_WORKERS,
            mbufs: DEFAULT_MBUFS,
        }
    }
}

/// A public address, port and protocol.
#[derive(Debug, Clone, PartialEq)]
pub struct Frontend {
    pub name: String,
    pub address: Ipv4Addr,
    pub port: u16,
    pub protocol: IpProtocol,
}

/// A named set of backends.
#[derive(Debug, Clone, PartialEq)]
pub struct Pool {
    pub name: String,
    pub backends: Vec<Backend>,
    /// Health probes of the pool's backends (`[pool.health]`); none: always healthy.
    pub health: Option<HealthCheck>,
}

/// Default `health.interval`, seconds.
pub const DEFAULT_HEALTH_INTERVAL_SECS: u32 = 5;
/// Largest accepted `health.interval`, seconds.
pub const MAX_HEALTH_INTERVAL_SECS: u32 = 3600;
/// The default `health.timeout` is the interval, at most this many seconds.
pub const DEFAULT_HEALTH_TIMEOUT_SECS: u32 = 5;
/// Smallest accepted `health.timeout`, seconds.
pub const MIN_HEALTH_TIMEOUT_SECS: f64 = 0.001;
/// Default `health.unhealthy_threshold` (consecutive failures).
pub const DEFAULT_UNHEALTHY_THRESHOLD: u32 = 2;
/// Default `health.healthy_threshold` (consecutive successes).
pub const DEFAULT_HEALTHY_THRESHOLD: u32 = 1;
/// Largest accepted health threshold.
pub const MAX_HEALTH_THRESHOLD: u32 = 10;
/// Longest accepted `health.path`, bytes.
pub const MAX_HEALTH_PATH_LEN: usize = 1024;

/// How a backend is probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HealthProtocol {
    /// A TCP connection that opens within the timeout.
    #[default]
    Tcp,
    /// `GET path` answered with status 200 within the timeout.
    Http,
}

impl HealthProtocol {
    pub fn name(self) -> &'static str {
        match self {
            HealthProtocol::Tcp => "tcp",
            HealthProtocol::Http => "http",
        }
    }
}

/// What happens to the existing connections of a backend that goes down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DownConnections {
    /// They continue (only new connections avoid the backend).
    #[default]
    Keep,
    /// They are dropped on their next packet and counted as `backend-down`.
    Drop,
}

impl DownConnections {
    pub fn name(self) -> &'static str {
        match self {
            DownConnections::Keep => "keep",
            DownConnections::Drop => "drop",
        }
    }
}

/// A pool's `[pool.health]` table: how its backends are probed.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthCheck {
    pub protocol: HealthProtocol,
    /// Port probed; none: each backend's own port.
    pub port: Option<u16>,
    /// Request path of HTTP probes (starts with `/`).
    pub path: String,
    /// Time between the starts of two probes of one backend.
    pub interval: Duration,
    /// How long a probe may take (at most the interval).
    pub timeout: Duration,
    /// Consecutive failures that take a healthy backend down.
    pub unhealthy_threshold: u32,
    /// Consecutive successes that bring a down backend back.
    pub healthy_threshold: u32,
    pub down_connections: DownConnections,
}

impl Default for HealthCheck {
    fn default() -> Self {
        HealthCheck {
            protocol: HealthProtocol::Tcp,
            port: None,
            path: "/".into(),
            interval: Duration::from_secs(u64::from(DEFAULT_HEALTH_INTERVAL_SECS)),
            timeout: Duration::from_secs(u64::from(DEFAULT_HEALTH_TIMEOUT_SECS)),
            unhealthy_threshold: DEFAULT_UNHEALTHY_THRESHOLD,
            healthy_threshold: DEFAULT_HEALTHY_THRESHOLD,
            down_connections: DownConnections::Keep,
        }
    }
}

impl HealthCheck {
    /// The port probed on a backend whose own port is `backend_port`.
    pub fn port_for(&self, backend_port: u16) -> u16 {
        self.port.unwrap_or(backend_port)
    }
}

/// One private endpoint behind a pool.
#[derive(Debug, Clone, PartialEq)]
pub struct Backend {
    pub address: Ipv4Addr,
    pub port: u16,
    /// 0 means draining: no new connections, existing ones kept.
    pub weight: u32,
    /// Destination MAC toward this backend: its own, or the pool's next hop.
    pub mac: MacAddr,
}

/// A load-balancing rule: frontend -> pool.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Index into `Config::frontends`.
    pub frontend: usize,
    /// Index into `Config::pools`.
    pub pool: usize,
    pub mode: Mode,
    pub idle_timeout_mins: u32,
    /// Maglev lookup-table size (prime, at least 100 x backends).
    pub maglev_table_size: u32,
}

/// An inbound NAT rule: a frontend forwarded to one backend, both ways.
#[derive(Debug, Clone, PartialEq)]
pub struct NatRule {
    /// Index into `Config::frontends`.
    pub frontend: usize,
    pub backend: Backend,
}

/// A configuration error that names the file, the line and the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// Dotted path of the field, like `pool[0].backend[2].weight`, when known.
    pub field: Option<String>,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.display().to_string(),
            line: None,
            field: None,
            message: format!("cannot read: {e}"),
        })?;
        Config::parse(&text, &path.display().to_string())
    }

    /// Parses and validates configuration text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let cx = Cx { text, file };
        let raw: RawConfig = toml::from_str(text).map_err(|e| cx.toml_error(&e))?;
        cx.validate(&raw)
    }

    /// Total number of backends over all pools (NAT-rule backends not counted).
    pub fn backend_count(&self) -> usize {
        self.pools.iter().map(|p| p.backends.len()).sum()
    }

    /// Index of the frontend called `name`.
    pub fn frontend_index(&self, name: &str) -> Option<usize> {
        self.frontends.iter().position(|f| f.name == name)
    }

    /// Index of the pool called `name`.
    pub fn pool_index(&self, name: &str) -> Option<usize> {
        self.pools.iter().position(|p| p.name == name)
    }
}

/// Whether `n` is a prime number (the one implementation lives in `select`).
pub fn is_prime(n: u32) -> bool {
    crate::dataplane::select::is_prime(n)
}

/// The largest prime that fits in a `u32`.
const LARGEST_U32_PRIME: u32 = 4_294_967_291;

/// The smallest prime `>= n`, if it fits in a `u32`.
pub fn next_prime(n: u32) -> Option<u32> {
    (n <= LARGEST_U32_PRIME).then(|| crate::dataplane::select::next_prime(n))
}

/// The Maglev table size used when a rule does not set one: 65537, or the
/// next prime at or above 100 x `backends` when that is larger (saturating at
/// `u32::MAX` for absurd backend counts; validation caps it anyway).
pub fn default_maglev_table_size(backends: usize) -> u32 {
    let min = (backends as u64).saturating_mul(u64::from(MAGLEV_ENTRIES_PER_BACKEND));
    if min <= u64::from(DEFAULT_MAGLEV_TABLE_SIZE) {
        return DEFAULT_MAGLEV_TABLE_SIZE;
    }
    u32::try_from(min)
        .ok()
        .and_then(next_prime)
        .unwrap_or(u32::MAX)
}

// ---------------------------------------------------------------------------
// Raw structs: the file as written.
// ---------------------------------------------------------------------------

type Span = Range<usize>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawConfig {
    appliance: Option<Spanned<RawAppliance>>,
    ports: Option<Spanned<RawPorts>>,
    #[serde(default)]
    frontend: Vec<Spanned<RawFrontend>>,
    #[serde(default)]
    pool: Vec<Spanned<RawPool>>,
    #[serde(default)]
    rule: Vec<Spanned<RawRule>>,
    #[serde(default)]
    nat_rule: Vec<Spanned<RawNatRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawPorts {
    topology: Option<Spanned<String>>,
    public: Option<Spanned<i64>>,
    private: Option<Spanned<i64>>,
    workers: Option<Spanned<i64>>,
    mbufs: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawAppliance {
    mac: Option<Spanned<String>>,
    addresses: Option<Vec<Spanned<String>>>,
    gateway_mac: Option<Spanned<String>>,
    flow_table_size: Option<Spanned<i64>>,
    transitory_timeout: Option<Spanned<i64>>,
    seed: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawFrontend {
    name: Option<Spanned<String>>,
    address: Option<Spanned<String>>,
    port: Option<Spanned<i64>>,
    protocol: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawPool {
    name: Option<Spanned<String>>,
    next_hop_mac: Option<Spanned<String>>,
    #[serde(default)]
    backend: Vec<Spanned<RawBackend>>,
    health: Option<Spanned<RawHealth>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawHealth {
    protocol: Option<Spanned<String>>,
    port: Option<Spanned<i64>>,
    path: Option<Spanned<String>>,
    interval: Option<Spanned<i64>>,
    /// Seconds; an integer or a float (like 0.5).
    timeout: Option<Spanned<f64>>,
    unhealthy_threshold: Option<Spanned<i64>>,
    healthy_threshold: Option<Spanned<i64>>,
    down_connections: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawBackend {
    address: Option<Spanned<String>>,
    port: Option<Spanned<i64>>,
    weight: Option<Spanned<i64>>,
    mac: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawRule {
    frontend: Option<Spanned<String>>,
    pool: Option<Spanned<String>>,
    mode: Option<Spanned<String>>,
    idle_timeout: Option<Spanned<i64>>,
    maglev_table_size: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawNatRule {
    frontend: Option<Spanned<String>>,
    address: Option<Spanned<String>>,
    port: Option<Spanned<i64>>,
    mac: Option<Spanned<String>>,
}

// ---------------------------------------------------------------------------
// Validation.
// ---------------------------------------------------------------------------

/// The text being parsed and its name, for building errors.
struct Cx<'a> {
    text: &'a str,
    file: &'a str,
}

/// A backend endpoint and protocol, the key of the return direction.
type Endpoint = (Ipv4Addr, u16, IpProtocol);

impl Cx<'_> {
    /// 1-based line of a byte offset.
    fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    fn err(&self, span: Span, field: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.to_string(),
            line: Some(self.line(span.start)),
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// Turns a toml/serde error into a `ConfigError`: the line from the span,
    /// the field path by finding the span in the document, the message on one line.
    fn toml_error(&self, e: &toml::de::Error) -> ConfigError {
        let span = e.span();
        let field = span
            .as_ref()
            .and_then(|s| locate(self.text, s.start))
            .filter(|f| !f.is_empty());
        let mut message = tidy_message(e.message());
        // Serde sees a TOML datetime as a table; say what it really is.
        if let Some(s) = &span {
            let written = self.text.get(s.clone()).unwrap_or("").trim_start();
            if !written.starts_with(['{', '[']) {
                message = message.replace("invalid type: table", "invalid type: datetime");
            }
        }
        if let Some(f) = &field {
            if ["frontend", "pool", "rule", "nat_rule"].contains(&f.as_str())
                && message.contains("expected an array")
            {
                message.push_str(&format!(" (write each entry as [[{f}]])"));
            } else if f.ends_with(".backend") && message.contains("expected an array") {
                message.push_str(" (write each entry as [[pool.backend]])");
            }
        }
        ConfigError {
            file: self.file.to_string(),
            line: span.map(|s| self.line(s.start)),
            field,
            message,
        }
    }

    fn required<'r, T>(
        &self,
        value: &'r Option<Spanned<T>>,
        table: &Span,
        path: &str,
        key: &str,
        what: &str,
    ) -> Result<&'r Spanned<T>, ConfigError> {
        value.as_ref().ok_or_else(|| {
            self.err(
                table.clone(),
                format!("{path}.{key}"),
                format!("missing required key `{key}`: expected {what}"),
            )
        })
    }

    fn mac(&self, value: &Spanned<String>, field: &str) -> Result<MacAddr, ConfigError> {
        let mac: MacAddr = value.get_ref().parse().map_err(|e| {
            self.err(
                value.span(),
                field,
                format!("invalid MAC address \"{}\": {e}", value.get_ref()),
            )
        })?;
        if mac == MacAddr::ZERO {
            return Err(self.err(
                value.span(),
                field,
                "MAC address 00:00:00:00:00:00 is not usable: expected a real station address",
            ));
        }
        Ok(mac)
    }

    fn ipv4(&self, value: &Spanned<String>, field: &str) -> Result<Ipv4Addr, ConfigError> {
        let s = value.get_ref();
        let addr: Ipv4Addr = s.parse().map_err(|_| {
            self.err(
                value.span(),
                field,
                format!(
                    "invalid IPv4 address \"{s}\": expected four decimal octets like 198.18.0.1"
                ),
            )
        })?;
        if addr.is_unspecified() || addr.is_broadcast() || addr.is_multicast() {
            return Err(self.err(
                value.span(),
                field,
                format!("{addr} is not a unicast address: expected a host address (not 0.0.0.0, 255.255.255.255 or multicast)"),
            ));
        }
        Ok(addr)
    }

    fn int(
        &self,
        value: &Spanned<i64>,
        field: &str,
        lo: i64,
        hi: i64,
        what: &str,
    ) -> Result<i64, ConfigError> {
        let v = *value.get_ref();
        if v < lo || v > hi {
            return Err(self.err(
                value.span(),
                field,
                format!("{v} is out of range: expected {what} from {lo} to {hi}"),
            ));
        }
        Ok(v)
    }

    fn port(&self, value: &Spanned<i64>, field: &str) -> Result<u16, ConfigError> {
        let v = self.int(value, field, 1, 65535, "a port number")?;
        Ok(u16::try_from(v).expect("range checked"))
    }

    fn name(
        &self,
        value: &Spanned<String>,
        field: &str,
        what: &str,
    ) -> Result<String, ConfigError> {
        let s = value.get_ref();
        if s.trim().is_empty() {
            return Err(self.err(
                value.span(),
                field,
                format!("{what} name is empty: expected a non-empty name"),
            ));
        }
        Ok(s.clone())
    }

    fn validate(&self, raw: &RawConfig) -> Result<Config, ConfigError> {
        let appliance = self.appliance(raw)?;
        let ports = self.ports(raw)?;
        let frontends = self.frontends(&raw.frontend)?;
        let pools = self.pools(&raw.pool)?;

        let frontend_names: HashMap<&str, usize> = frontends
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name.as_str(), i))
            .collect();
        let pool_names: HashMap<&str, usize> = pools
            .iter()
            .enumerate()
            .map(|(i, p)| (p.name.as_str(), i))
            .collect();
        // Which rule or nat_rule uses each frontend.
        let mut used_by: Vec<Option<String>> = vec![None; frontends.len()];
        // Which frontend each backend endpoint sits behind, and through what.
        let mut behind: HashMap<Endpoint, (usize, String)> = HashMap::new();

        let mut rules = Vec::with_capacity(raw.rule.len());
        for (i, r) in raw.rule.iter().enumerate() {
            let path = format!("rule[{i}]");
            let span = r.span();
            let r = r.get_ref();

            let fe_name =
                self.required(&r.frontend, &span, &path, "frontend", "a frontend name")?;
            let frontend = self.lookup_frontend(
                fe_name,
                &format!("{path}.frontend"),
                &frontend_names,
                &frontends,
            )?;
            self.claim_frontend(
                fe_name,
                &format!("{path}.frontend"),
                frontend,
                &frontends,
                &mut used_by,
                &path,
            )?;

            let pool_name = self.required(&r.pool, &span, &path, "pool", "a pool name")?;
            let pool = *pool_names
                .get(pool_name.get_ref().as_str())
                .ok_or_else(|| {
                    self.err(
                        pool_name.span(),
                        format!("{path}.pool"),
                        format!(
                            "no pool named \"{}\": {}",
                            pool_name.get_ref(),
                            list_names(pools.iter().map(|p| p.name.as_str()), "pools")
                        ),
                    )
                })?;

            let mode = match &r.mode {
                None => Mode::default(),
                Some(m) => Mode::from_name(m.get_ref()).ok_or_else(|| {
                    self.err(
                        m.span(),
                        format!("{path}.mode"),
                        format!(
                            "unknown mode \"{}\": {}",
                            m.get_ref(),
                            list_names(Mode::ALL.iter().map(|m| m.name()), "modes")
                        ),
                    )
                })?,
            };

            let idle_timeout_mins = match &r.idle_timeout {
                None => DEFAULT_IDLE_TIMEOUT_MINS,
                Some(v) => self.int(
                    v,
                    &format!("{path}.idle_timeout"),
                    i64::from(MIN_IDLE_TIMEOUT_MINS),
                    i64::from(MAX_IDLE_TIMEOUT_MINS),
                    "a number of minutes",
                )? as u32,
            };

            let n = pools[pool].backends.len();
            let min_size = (n as u64).saturating_mul(u64::from(MAGLEV_ENTRIES_PER_BACKEND));
            let maglev_table_size = match &r.maglev_table_size {
                Some(v) => {
                    let field = format!("{path}.maglev_table_size");
                    let size = self.int(
                        v,
                        &field,
                        2,
                        i64::from(MAX_MAGLEV_TABLE_SIZE),
                        "a prime table size",
                    )? as u32;
                    if !is_prime(size) {
                        let hint = next_prime(size)
                            .map(|p| format!(" (the next prime is {p})"))
                            .unwrap_or_default();
                        return Err(self.err(
                            v.span(),
                            field,
                            format!("{size} is not prime: expected a prime table size{hint}"),
                        ));
                    }
                    if u64::from(size) < min_size {
                        return Err(self.err(
                            v.span(),
                            field,
                            format!(
                                "{size} is too small for pool \"{}\" with {n} backends: expected a prime of at least {min_size} ({MAGLEV_ENTRIES_PER_BACKEND} x backends)",
                                pools[pool].name
                            ),
                        ));
                    }
                    size
                }
                None => {
                    let size = default_maglev_table_size(n);
                    if mode != Mode::Random && size > MAX_MAGLEV_TABLE_SIZE {
                        return Err(self.err(
                            pool_name.span(),
                            format!("{path}.pool"),
                            format!(
                                "pool \"{}\" has {n} backends, too many for mode {mode}: its table would need {size} entries, more than the maximum {MAX_MAGLEV_TABLE_SIZE}",
                                pools[pool].name
                            ),
                        ));
                    }
                    size
                }
            };

            let protocol = frontends[frontend].protocol;
            for b in &pools[pool].backends {
                self.claim_endpoint(
                    (b.address, b.port, protocol),
                    frontend,
                    &path,
                    pool_name.span(),
                    &format!("{path}.pool"),
                    &frontends,
                    &mut behind,
                )?;
            }

            rules.push(Rule {
                frontend,
                pool,
                mode,
                idle_timeout_mins,
                maglev_table_size,
            });
        }

        let mut nat_rules = Vec::with_capacity(raw.nat_rule.len());
        for (i, r) in raw.nat_rule.iter().enumerate() {
            let path = format!("nat_rule[{i}]");
            let span = r.span();
            let r = r.get_ref();

            let fe_name =
                self.required(&r.frontend, &span, &path, "frontend", "a frontend name")?;
            let frontend = self.lookup_frontend(
                fe_name,
                &format!("{path}.frontend"),
                &frontend_names,
                &frontends,
            )?;
            self.claim_frontend(
                fe_name,
                &format!("{path}.frontend"),
                frontend,
                &frontends,
                &mut used_by,
                &path,
            )?;

            let address_raw = self.required(
                &r.address,
                &span,
                &path,
                "address",
                "the backend's IPv4 address",
            )?;
            let address = self.ipv4(address_raw, &format!("{path}.address"))?;
            let port = self.port(
                self.required(&r.port, &span, &path, "port", "the backend's port")?,
                &format!("{path}.port"),
            )?;
            let mac = self.mac(
                self.required(&r.mac, &span, &path, "mac", "the backend's MAC address")?,
                &format!("{path}.mac"),
            )?;

            self.claim_endpoint(
                (address, port, frontends[frontend].protocol),
                frontend,
                &path,
                address_raw.span(),
                &format!("{path}.address"),
                &frontends,
                &mut behind,
            )?;

            nat_rules.push(NatRule {
                frontend,
                backend: Backend {
                    address,
                    port,
                    weight: 1,
                    mac,
                },
            });
        }

        for (i, (f, used)) in frontends.iter().zip(&used_by).enumerate() {
            if used.is_none() {
                let name = raw.frontend[i].get_ref().name.as_ref().expect("checked");
                return Err(self.err(
                    name.span(),
                    format!("frontend[{i}].name"),
                    format!(
                        "frontend \"{}\" is not used by any rule or nat_rule: expected a [[rule]] or [[nat_rule]] with frontend = \"{}\", or remove the frontend",
                        f.name, f.name
                    ),
                ));
            }
        }
        for (p, pool) in pools.iter().enumerate() {
            if !rules.iter().any(|r| r.pool == p) {
                log::warn!(
                    "{}: pool \"{}\" is not used by any rule",
                    self.file,
                    pool.name
                );
            }
        }

        Ok(Config {
            appliance,
            ports,
            frontends,
            pools,
            rules,
            nat_rules,
        })
    }

    fn ports(&self, raw: &RawConfig) -> Result<Ports, ConfigError> {
        let mut out = Ports::default();
        let Some(table) = &raw.ports else {
            return Ok(out);
        };
        let t = table.get_ref();
        if let Some(v) = &t.topology {
            out.topology = match v.get_ref().as_str() {
                "one-arm" => Topology::OneArm,
                "two-arm" => Topology::TwoArm,
                other => {
                    return Err(self.err(
                        v.span(),
                        "ports.topology",
                        format!("unknown topology {other:?}: expected \"one-arm\" or \"two-arm\""),
                    ))
                }
            };
        }
        if let Some(v) = &t.public {
            out.public = self.int(v, "ports.public", 0, 1023, "a DPDK port id")? as u16;
        }
        if let Some(v) = &t.private {
            out.private = self.int(v, "ports.private", 0, 1023, "a DPDK port id")? as u16;
        }
        if let Some(v) = &t.workers {
            out.workers = self.int(v, "ports.workers", 1, 64, "a number of worker lcores")? as u16;
        }
        if let Some(v) = &t.mbufs {
            out.mbufs = self.int(v, "ports.mbufs", 1023, 4_194_303, "a number of mbufs")? as u32;
        }
        if out.topology == Topology::TwoArm && out.public == out.private {
            let span = t.private.as_ref().map_or(table.span(), |v| v.span());
            return Err(self.err(
                span,
                "ports.private",
                format!(
                    "two-arm needs two ports, but public and private are both port {}",
                    out.public
                ),
            ));
        }
        Ok(out)
    }

    fn appliance(&self, raw: &RawConfig) -> Result<Appliance, ConfigError> {
        let Some(table) = &raw.appliance else {
            return Err(ConfigError {
                file: self.file.to_string(),
                line: None,
                field: Some("appliance".into()),
                message:
                    "missing required table [appliance]: expected at least its mac and gateway_mac"
                        .into(),
            });
        };
        let span = table.span();
        let a = table.get_ref();
        let p = "appliance";

        let mac = self.mac(
            self.required(&a.mac, &span, p, "mac", "natrix's own MAC address")?,
            "appliance.mac",
        )?;
        if mac.is_multicast() {
            let v = a.mac.as_ref().expect("present");
            return Err(self.err(
                v.span(),
                "appliance.mac",
                format!(
                    "{mac} is a group (multicast) address: expected a unicast MAC to send from"
                ),
            ));
        }
        let gateway_mac = self.mac(
            self.required(
                &a.gateway_mac,
                &span,
                p,
                "gateway_mac",
                "the MAC address of the next hop toward clients",
            )?,
            "appliance.gateway_mac",
        )?;

        let mut addresses = Vec::new();
        for (i, s) in a.addresses.iter().flatten().enumerate() {
            let field = format!("appliance.addresses[{i}]");
            let addr = self.ipv4(s, &field)?;
            if addresses.contains(&addr) {
                return Err(self.err(
                    s.span(),
                    field,
                    format!("{addr} is listed twice: expected each address once"),
                ));
            }
            addresses.push(addr);
        }

        let flow_table_size = match &a.flow_table_size {
            None => DEFAULT_FLOW_TABLE_SIZE,
            Some(v) => self.int(
                v,
                "appliance.flow_table_size",
                i64::from(MIN_FLOW_TABLE_SIZE),
                i64::from(MAX_FLOW_TABLE_SIZE),
                "a number of connections",
            )? as u32,
        };
        let transitory_timeout_secs = match &a.transitory_timeout {
            None => DEFAULT_TRANSITORY_TIMEOUT_SECS,
            Some(v) => self.int(
                v,
                "appliance.transitory_timeout",
                1,
                i64::from(MAX_TRANSITORY_TIMEOUT_SECS),
                "a number of seconds",
            )? as u32,
        };
        let seed = match &a.seed {
            None => 1,
            Some(v) => self.int(v, "appliance.seed", 0, i64::MAX, "a seed")? as u64,
        };

        Ok(Appliance {
            mac,
            addresses,
            gateway_mac,
            flow_table_size,
            transitory_timeout_secs,
            seed,
        })
    }

    fn frontends(&self, raw: &[Spanned<RawFrontend>]) -> Result<Vec<Frontend>, ConfigError> {
        let mut out: Vec<Frontend> = Vec::with_capacity(raw.len());
        for (i, f) in raw.iter().enumerate() {
            let path = format!("frontend[{i}]");
            let span = f.span();
            let f = f.get_ref();

            let name_raw = self.required(&f.name, &span, &path, "name", "a unique name")?;
            let name = self.name(name_raw, &format!("{path}.name"), "frontend")?;
            if let Some(j) = out.iter().position(|o| o.name == name) {
                return Err(self.err(
                    name_raw.span(),
                    format!("{path}.name"),
                    format!("duplicate frontend name \"{name}\" (also frontend[{j}]): expected unique names"),
                ));
            }
            let address_raw = self.required(
                &f.address,
                &span,
                &path,
                "address",
                "the public IPv4 address",
            )?;
            let address = self.ipv4(address_raw, &format!("{path}.address"))?;
            let port = self.port(
                self.required(&f.port, &span, &path, "port", "the public port")?,
                &format!("{path}.port"),
            )?;
            let proto_raw =
                self.required(&f.protocol, &span, &path, "protocol", "\"tcp\" or \"udp\"")?;
            let protocol = match proto_raw.get_ref().as_str() {
                "tcp" => IpProtocol::Tcp,
                "udp" => IpProtocol::Udp,
                other => {
                    return Err(self.err(
                        proto_raw.span(),
                        format!("{path}.protocol"),
                        format!("unknown protocol \"{other}\": expected \"tcp\" or \"udp\""),
                    ))
                }
            };
            if let Some(o) = out
                .iter()
                .find(|o| o.address == address && o.port == port && o.protocol == protocol)
            {
                return Err(self.err(
                    address_raw.span(),
                    format!("{path}.address"),
                    format!(
                        "frontend \"{name}\" has the same address, port and protocol ({address}:{port}/{protocol}) as frontend \"{}\": expected each to be unique",
                        o.name
                    ),
                ));
            }
            out.push(Frontend {
                name,
                address,
                port,
                protocol,
            });
        }
        Ok(out)
    }

    fn pools(&self, raw: &[Spanned<RawPool>]) -> Result<Vec<Pool>, ConfigError> {
        let mut out: Vec<Pool> = Vec::with_capacity(raw.len());
        for (i, p) in raw.iter().enumerate() {
            let path = format!("pool[{i}]");
            let span = p.span();
            let p = p.get_ref();

            let name_raw = self.required(&p.name, &span, &path, "name", "a unique name")?;
            let name = self.name(name_raw, &format!("{path}.name"), "pool")?;
            if let Some(j) = out.iter().position(|o| o.name == name) {
                return Err(self.err(
                    name_raw.span(),
                    format!("{path}.name"),
                    format!(
                        "duplicate pool name \"{name}\" (also pool[{j}]): expected unique names"
                    ),
                ));
            }
            let next_hop_mac = p
                .next_hop_mac
                .as_ref()
                .map(|m| self.mac(m, &format!("{path}.next_hop_mac")))
                .transpose()?;

            let mut backends: Vec<Backend> = Vec::with_capacity(p.backend.len());
            for (j, b) in p.backend.iter().enumerate() {
                let bpath = format!("{path}.backend[{j}]");
                let bspan = b.span();
                let b = b.get_ref();

                let address_raw = self.required(
                    &b.address,
                    &bspan,
                    &bpath,
                    "address",
                    "the backend's IPv4 address",
                )?;
                let address = self.ipv4(address_raw, &format!("{bpath}.address"))?;
                let port = self.port(
                    self.required(&b.port, &bspan, &bpath, "port", "the backend's port")?,
                    &format!("{bpath}.port"),
                )?;
                if let Some(k) = backends
                    .iter()
                    .position(|o| o.address == address && o.port == port)
                {
                    return Err(self.err(
                        address_raw.span(),
                        format!("{bpath}.address"),
                        format!(
                            "duplicate backend {address}:{port} in pool \"{name}\" (also backend[{k}]): expected each address and port once per pool"
                        ),
                    ));
                }
                let weight = match &b.weight {
                    None => 1,
                    Some(w) => self.int(
                        w,
                        &format!("{bpath}.weight"),
                        0,
                        i64::from(MAX_WEIGHT),
                        "a weight",
                    )? as u32,
                };
                let mac = match (&b.mac, next_hop_mac) {
                    (Some(m), _) => self.mac(m, &format!("{bpath}.mac"))?,
                    (None, Some(m)) => m,
                    (None, None) => {
                        return Err(self.err(
                            bspan,
                            format!("{bpath}.mac"),
                            format!(
                                "missing required key `mac`: pool \"{name}\" has no next_hop_mac, so each backend needs its own MAC address"
                            ),
                        ))
                    }
                };
                backends.push(Backend {
                    address,
                    port,
                    weight,
                    mac,
                });
            }
            let health = p
                .health
                .as_ref()
                .map(|h| self.health(h, &format!("{path}.health")))
                .transpose()?;
            out.push(Pool {
                name,
                backends,
                health,
            });
        }
        Ok(out)
    }

    fn health(&self, raw: &Spanned<RawHealth>, path: &str) -> Result<HealthCheck, ConfigError> {
        let h = raw.get_ref();
        let mut out = HealthCheck::default();
        if let Some(v) = &h.protocol {
            out.protocol = match v.get_ref().as_str() {
                "tcp" => HealthProtocol::Tcp,
                "http" => HealthProtocol::Http,
                other => {
                    return Err(self.err(
                        v.span(),
                        format!("{path}.protocol"),
                        format!(
                            "unknown health protocol \"{other}\": expected \"tcp\" or \"http\""
                        ),
                    ))
                }
            };
        }
        if let Some(v) = &h.port {
            out.port = Some(self.port(v, &format!("{path}.port"))?);
        }
        if let Some(v) = &h.path {
            let field = format!("{path}.path");
            if out.protocol != HealthProtocol::Http {
                return Err(self.err(
                    v.span(),
                    field,
                    "path is only used by HTTP probes: expected protocol = \"http\", or no path",
                ));
            }
            let s = v.get_ref();
            if !s.starts_with('/') || s.len() > MAX_HEALTH_PATH_LEN {
                return Err(self.err(
                    v.span(),
                    field,
                    format!("invalid path {s:?}: expected an absolute path like \"/healthz\" of at most {MAX_HEALTH_PATH_LEN} bytes"),
                ));
            }
            if let Some(c) = s.chars().find(|c| !c.is_ascii_graphic()) {
                return Err(self.err(
                    v.span(),
                    field,
                    format!("invalid path {s:?}: {c:?} is not allowed: expected printable ASCII without spaces (percent-encode the rest)"),
                ));
            }
            out.path = s.clone();
        }
        let interval_secs = match &h.interval {
            None => DEFAULT_HEALTH_INTERVAL_SECS,
            Some(v) => self.int(
                v,
                &format!("{path}.interval"),
                1,
                i64::from(MAX_HEALTH_INTERVAL_SECS),
                "a number of seconds",
            )? as u32,
        };
        out.interval = Duration::from_secs(u64::from(interval_secs));
        out.timeout = match &h.timeout {
            None => Duration::from_secs(u64::from(interval_secs.min(DEFAULT_HEALTH_TIMEOUT_SECS))),
            Some(v) => {
                let field = format!("{path}.timeout");
                let t = *v.get_ref();
                if !(MIN_HEALTH_TIMEOUT_SECS..=f64::from(MAX_HEALTH_INTERVAL_SECS)).contains(&t) {
                    return Err(self.err(
                        v.span(),
                        field,
                        format!("{t} is out of range: expected a number of seconds from {MIN_HEALTH_TIMEOUT_SECS} to the interval ({interval_secs})"),
                    ));
                }
                if t > f64::from(interval_secs) {
                    return Err(self.err(
                        v.span(),
                        field,
                        format!("timeout {t} is longer than the interval ({interval_secs}): expected at most the interval"),
                    ));
                }
                Duration::from_secs_f64(t)
            }
        };
        let threshold = |v: &Option<Spanned<i64>>, key: &str, default: u32| match v {
            None => Ok(default),
            Some(v) => self
                .int(
                    v,
                    &format!("{path}.{key}"),
                    1,
                    i64::from(MAX_HEALTH_THRESHOLD),
                    "a number of consecutive probes",
                )
                .map(|n| n as u32),
        };
        out.unhealthy_threshold = threshold(
            &h.unhealthy_threshold,
            "unhealthy_threshold",
            DEFAULT_UNHEALTHY_THRESHOLD,
        )?;
        out.healthy_threshold = threshold(
            &h.healthy_threshold,
            "healthy_threshold",
            DEFAULT_HEALTHY_THRESHOLD,
        )?;
        if let Some(v) = &h.down_connections {
            out.down_connections = match v.get_ref().as_str() {
                "keep" => DownConnections::Keep,
                "drop" => DownConnections::Drop,
                other => {
                    return Err(self.err(
                        v.span(),
                        format!("{path}.down_connections"),
                        format!("unknown value \"{other}\": expected \"keep\" or \"drop\""),
                    ))
                }
            };
        }
        Ok(out)
    }

    fn lookup_frontend(
        &self,
        name: &Spanned<String>,
        field: &str,
        names: &HashMap<&str, usize>,
        frontends: &[Frontend],
    ) -> Result<usize, ConfigError> {
        names.get(name.get_ref().as_str()).copied().ok_or_else(|| {
            self.err(
                name.span(),
                field,
                format!(
                    "no frontend named \"{}\": {}",
                    name.get_ref(),
                    list_names(frontends.iter().map(|f| f.name.as_str()), "frontends")
                ),
            )
        })
    }

    /// Records that `user` (like `rule[2]`) serves `frontend`; one user per frontend.
    fn claim_frontend(
        &self,
        name: &Spanned<String>,
        field: &str,
        frontend: usize,
        frontends: &[Frontend],
        used_by: &mut [Option<String>],
        user: &str,
    ) -> Result<(), ConfigError> {
        if let Some(other) = &used_by[frontend] {
            return Err(self.err(
                name.span(),
                field,
                format!(
                    "frontend \"{}\" is already used by {other}: expected each frontend in only one rule or nat_rule",
                    frontends[frontend].name
                ),
            ));
        }
        used_by[frontend] = Some(user.to_string());
        Ok(())
    }

    /// Records that backend endpoint `ep` sits behind `frontend` through `user`;
    /// an endpoint may sit behind only one frontend, or replies would be ambiguous.
    #[allow(clippy::too_many_arguments)]
    fn claim_endpoint(
        &self,
        ep: Endpoint,
        frontend: usize,
        user: &str,
        span: Span,
        field: &str,
        frontends: &[Frontend],
        behind: &mut HashMap<Endpoint, (usize, String)>,
    ) -> Result<(), ConfigError> {
        match behind.get(&ep) {
            Some((other, other_user)) if *other != frontend => Err(self.err(
                span,
                field,
                format!(
                    "ambiguous return direction: backend {}:{}/{} would sit behind frontend \"{}\" ({other_user}) and frontend \"{}\" ({user}), so its replies could not be mapped back to one frontend: expected each backend address, port and protocol behind only one frontend",
                    ep.0, ep.1, ep.2, frontends[*other].name, frontends[frontend].name
                ),
            )),
            Some(_) => Ok(()),
            None => {
                behind.insert(ep, (frontend, user.to_string()));
                Ok(())
            }
        }
    }
}

/// `expected "a"`, `expected one of "a", "b" or "c"`, or `no <what> are defined`.
fn list_names<'a>(names: impl Iterator<Item = &'a str>, what: &str) -> String {
    let names: Vec<String> = names.map(|n| format!("\"{n}\"")).collect();
    match names.len() {
        0 => format!("no {what} are defined"),
        1 => format!("expected {}", names[0]),
        n => format!(
            "expected one of {} or {}",
            names[..n - 1].join(", "),
            names[n - 1]
        ),
    }
}

/// One-line, TOML-flavoured version of a toml/serde error message.
fn tidy_message(message: &str) -> String {
    let one_line = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    one_line
        .replace("expected i64", "expected an integer")
        .replace("expected a sequence", "expected an array")
        .replace("invalid type: map", "invalid type: table")
        .replace("invalid type: sequence", "invalid type: array")
        .replace("invalid type: floating point", "invalid type: float")
}

// ---------------------------------------------------------------------------
// Field paths of serde errors: a spanned view of the whole document.
// ---------------------------------------------------------------------------

/// Any TOML value, with the spans of every key and value beneath it.
enum Node {
    Table(Vec<(Spanned<String>, Spanned<Node>)>),
    Array(Vec<Spanned<Node>>),
    Scalar,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any TOML value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_str<E>(self, _: &str) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            entries.push((key, map.next_value::<Spanned<Node>>()?));
        }
        Ok(Node::Table(entries))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }
}

/// The dotted path (like `pool[1].backend[0].weight`) of the innermost key or
/// value at byte `offset`, if the text is well-formed TOML. (Documents holding
/// datetimes do not fit `Node`; their errors go without a path.)
fn locate(text: &str, offset: usize) -> Option<String> {
    let root: Node = toml::from_str(text).ok()?;
    let mut path = String::new();
    locate_in(&root, offset, &mut path).then_some(path)
}

fn locate_in(node: &Node, offset: usize, path: &mut String) -> bool {
    let len = path.len();
    match node {
        Node::Table(entries) => {
            for (key, value) in entries {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key.get_ref());
                if key.span().contains(&offset)
                    || locate_in(value.get_ref(), offset, path)
                    || value.span().contains(&offset)
                {
                    return true;
                }
                path.truncate(len);
            }
        }
        Node::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push_str(&format!("[{i}]"));
                if locate_in(item.get_ref(), offset, path) || item.span().contains(&offset) {
                    return true;
                }
                path.truncate(len);
            }
        }
        Node::Scalar => {}
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primes() {
        let small: Vec<u32> = (0..30).filter(|&n| is_prime(n)).collect();
        assert_eq!(small, [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]);
        assert!(is_prime(65537));
        assert!(!is_prime(65535));
        assert!(is_prime(4_294_967_291));
        assert!(!is_prime(u32::MAX));
        assert_eq!(next_prime(1000), Some(1009));
        assert_eq!(next_prime(u32::MAX), None);
    }

    #[test]
    fn default_maglev_sizes() {
        assert_eq!(default_maglev_table_size(0), 65537);
        assert_eq!(default_maglev_table_size(655), 65537);
        assert_eq!(default_maglev_table_size(656), 65609);
        assert_eq!(default_maglev_table_size(1000), 100_003);
    }

    #[test]
    fn line_numbers() {
        let cx = Cx {
            text: "a\nb\n\nc",
            file: "f",
        };
        assert_eq!(cx.line(0), 1);
        assert_eq!(cx.line(2), 2);
        assert_eq!(cx.line(5), 4);
        assert_eq!(cx.line(100), 4);
    }

    #[test]
    fn locate_paths() {
        let text =
            "[[pool]]\nname = \"a\"\n[[pool.backend]]\nport = 1\n[[pool.backend]]\nport = 2\n";
        let at = |needle: &str| text.find(needle).unwrap();
        assert_eq!(
            locate(text, at("port = 2")).as_deref(),
            Some("pool[0].backend[1].port")
        );
        assert_eq!(
            locate(text, at("2\n")).as_deref(),
            Some("pool[0].backend[1].port")
        );
        assert_eq!(locate(text, at("\"a\"")).as_deref(), Some("pool[0].name"));
    }
}
