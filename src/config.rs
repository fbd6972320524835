//! The configuration file: TOML, validated into [`Config`].
//!
//! (Loading and validation are filled in by the config work; the validated types
//! below are what the rest of natrix consumes.)

use crate::types::{L4Proto, MacAddr, Mode};
use std::net::Ipv4Addr;
use std::path::Path;

/// Default flow-table capacity per worker (connections).
pub const DEFAULT_FLOW_TABLE_SIZE: u32 = 1 << 20;
/// Default transitory timeout (half-open SYN, FIN or RST seen), seconds.
pub const DEFAULT_TRANSITORY_TIMEOUT_SECS: u32 = 10;
/// Default idle timeout of a rule, minutes (the cloud balancers' 4).
pub const DEFAULT_IDLE_TIMEOUT_MINS: u32 = 4;
/// Default Maglev lookup-table size (prime).
pub const DEFAULT_MAGLEV_TABLE_SIZE: u32 = 65537;

/// A validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub appliance: Appliance,
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

/// A public address, port and protocol.
#[derive(Debug, Clone, PartialEq)]
pub struct Frontend {
    pub name: String,
    pub address: Ipv4Addr,
    pub port: u16,
    pub protocol: L4Proto,
}

/// A named set of backends.
#[derive(Debug, Clone, PartialEq)]
pub struct Pool {
    pub name: String,
    pub backends: Vec<Backend>,
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
    pub fn parse(_text: &str, file: &str) -> Result<Config, ConfigError> {
        Err(ConfigError {
            file: file.to_string(),
            line: None,
            field: None,
            message: "not implemented yet".into(),
        })
    }
}
