//! The configuration file: TOML, validated into [`Config`].
//!
//! Parsing goes in two steps. Serde deserializes the text into private "raw"
//! structs that mirror the file (`raw`: unknown keys are rejected, and every
//! value that validation can reject keeps its byte span); then `validate`
//! checks the raw structs section by section and converts them into the
//! validated types below, which are what the rest of natrix consumes. Every
//! error is a [`ConfigError`] naming the file, the line, the dotted field path
//! (like `pool[1].backend[0].weight`, found by `locate`) and its [`Problem`].
//! The format is documented in docs/configuration.md.
//!
//! The limits below are the one definition of what a value may be; the
//! control plane checks runtime changes against the same constants.
//!
//! May import: `wire` and `dataplane` (for its limits and names).

mod error;
mod locate;
mod raw;
mod validate;

pub use error::{Ambiguity, ConfigError, FamilyMismatch, MixedPool, Named, OnLink, Problem, User};

use crate::dataplane::flow::Timeouts;
use crate::dataplane::select::Mode;
use crate::wire::{IpProtocol, MacAddr};
use locate::Cx;
use raw::RawConfig;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::Duration;

/// Default flow-table capacity per worker (connections).
pub const DEFAULT_FLOW_TABLE_SIZE: u32 = 1 << 20;
/// Default SYN-only (half-open) timeout, seconds: of `appliance.transitory_timeout`,
/// which is in turn the default of each rule's `syn_timeout`. Short, so that
/// the entries of a SYN flood clear quickly.
pub const DEFAULT_SYN_TIMEOUT_SECS: u32 = 10;
/// Default idle timeout of a rule (established connections, UDP too),
/// minutes: the cloud load balancers' 4, below RFC 5382 REQ-5's 124, so that
/// abandoned connections leave the tables sooner.
pub const DEFAULT_IDLE_TIMEOUT_MINS: u32 = 4;
/// Default transitory timeout of a rule (a closing connection that was
/// established: FINs both ways or a RST), minutes: RFC 5382 REQ-5's 4.
pub const DEFAULT_TRANSITORY_TIMEOUT_MINS: u32 = 4;
/// Default Maglev lookup-table size (prime).
pub const DEFAULT_MAGLEV_TABLE_SIZE: u32 = 65537;

/// The seed of the random backend choice when `appliance.seed` is not set,
/// for everything but `natrix run` (replay, bench), so that their results
/// repeat. `natrix run` draws a random seed instead.
pub const DEFAULT_SEED: u64 = 1;
/// Default backend weight.
pub const DEFAULT_WEIGHT: u32 = 1;

/// Largest number of `[[frontend]]`s: the data path numbers services with a
/// `u16` (0..=65534), and keeps `u16::MAX` free.
pub const MAX_FRONTENDS: usize = u16::MAX as usize;

/// Smallest accepted port number (frontend, backend, health probe); the
/// largest is `u16::MAX`.
pub const MIN_PORT: u16 = 1;
/// Smallest accepted `appliance.flow_table_size`.
pub const MIN_FLOW_TABLE_SIZE: u32 = 1024;
/// Largest accepted `appliance.flow_table_size` (2^28).
pub const MAX_FLOW_TABLE_SIZE: u32 = 1 << 28;
/// Smallest accepted SYN-only timeout (`rule.syn_timeout`,
/// `appliance.transitory_timeout`), seconds.
pub const MIN_SYN_TIMEOUT_SECS: u32 = 1;
/// Largest accepted SYN-only timeout, seconds.
pub const MAX_SYN_TIMEOUT_SECS: u32 = 3600;
/// Smallest accepted `rule.idle_timeout`, minutes (RFC 5382 REQ-5 asks for
/// 124 at least; 4 is the cloud load balancers' smallest).
pub const MIN_IDLE_TIMEOUT_MINS: u32 = 4;
/// Largest accepted `rule.idle_timeout`, minutes: RFC 5382 REQ-5's 2 h 4 min.
pub const MAX_IDLE_TIMEOUT_MINS: u32 = 124;
/// Smallest accepted `rule.transitory_timeout`, minutes (RFC 5382 REQ-5).
pub const MIN_TRANSITORY_TIMEOUT_MINS: u32 = 4;
/// Largest accepted `rule.transitory_timeout`, minutes.
pub const MAX_TRANSITORY_TIMEOUT_MINS: u32 = 124;
/// Largest accepted backend weight (in the file and through the control
/// socket); the smallest is 0, draining.
pub const MAX_WEIGHT: u32 = 1000;
/// Smallest accepted `rule.maglev_table_size`.
pub const MIN_MAGLEV_TABLE_SIZE: u32 = 2;
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
    /// The appliance's own addresses, IPv4 and IPv6 (answered to ARP and
    /// Neighbor Solicitation, besides the frontends).
    pub addresses: Vec<IpAddr>,
    /// `appliance.gateway_mac`: the destination MAC of return traffic,
    /// written by hand (both families); [`MacAddr::ZERO`] when not set, and
    /// the gateways below are resolved instead.
    pub gateway_mac: MacAddr,
    /// `appliance.gateway4`: the router toward the IPv4 clients, on the
    /// public port, resolved with ARP (unless `gateway_mac` is set).
    pub gateway4: Option<Ipv4Addr>,
    /// `appliance.gateway6`: the same for IPv6, resolved with Neighbor Discovery.
    pub gateway6: Option<Ipv6Addr>,
    /// Flow-table capacity per worker, in connections.
    pub flow_table_size: u32,
    /// `appliance.transitory_timeout`: the SYN-only (half-open) timeout,
    /// seconds, of the rules that do not set their own `syn_timeout`.
    pub transitory_timeout_secs: u32,
    /// Seed of the workers' random backend choice, when configured. Without
    /// it, replays use [`DEFAULT_SEED`] (so they repeat) and `natrix run` a
    /// random seed of its own (so restarts do not repeat one sequence).
    pub seed: Option<u64>,
    /// `appliance.fragment_table_size`, `fragment_hold_packets`,
    /// `fragment_hold_bytes` and `fragment_timeout`: each worker's table of
    /// fragmented datagrams and the fragments it holds for their first one
    /// (limits and defaults in `dataplane::fragment`).
    pub fragments: crate::dataplane::fragment::Limits,
    /// `appliance.siit_addresses`: natrix's IPv4 addresses that SIIT
    /// frontends' connections leave from (one port of one address per
    /// connection); empty unless SIIT is used.
    pub siit_addresses: Vec<Ipv4Addr>,
}

/// Most `appliance.siit_addresses` (each gives 64,512 source ports).
pub const MAX_SIIT_ADDRESSES: usize = 16;

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
/// Largest accepted `ports.public` and `ports.private` (DPDK port ids from 0).
pub const MAX_PORT_ID: u16 = 1023;
/// Smallest accepted `ports.workers`.
pub const MIN_WORKERS: u16 = 1;
/// Largest accepted `ports.workers`.
pub const MAX_WORKERS: u16 = 64;
/// Smallest accepted `ports.mbufs`.
pub const MIN_MBUFS: u32 = 1023;
/// Largest accepted `ports.mbufs`.
pub const MAX_MBUFS: u32 = 4_194_303;

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
    /// `ports.public_addresses`: natrix's addresses on the public port (the
    /// only one in one-arm), each with its on-link prefix.
    pub public_addresses: Vec<Interface>,
    /// `ports.private_addresses`: the same on the private port (two-arm).
    pub private_addresses: Vec<Interface>,
}

/// An address of natrix on a port with the length of its on-link prefix,
/// as `ip address` writes it (`10.1.0.1/24`): natrix answers ARP and
/// Neighbor Solicitation for it, sends its own requests from it, and
/// resolves the next hops in its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interface {
    pub address: IpAddr,
    pub prefix_len: u8,
}

impl Interface {
    /// Whether `ip` is in this prefix (and of its family).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.address, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let m = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix_len))
                    .unwrap_or(0);
                u32::from(a) & m == u32::from(b) & m
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                let m = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix_len))
                    .unwrap_or(0);
                a.to_bits() & m == b.to_bits() & m
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for Interface {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix_len)
    }
}

impl Ports {
    /// The port addresses toward the backends: the private port's in
    /// two-arm, the one port's in one-arm.
    pub fn backend_addresses(&self) -> &[Interface] {
        match self.topology {
            Topology::OneArm => &self.public_addresses,
            Topology::TwoArm => &self.private_addresses,
        }
    }

    /// natrix's address on `addresses` whose prefix holds `ip`.
    pub fn on_link(addresses: &[Interface], ip: IpAddr) -> Option<Interface> {
        addresses.iter().copied().find(|i| i.contains(ip))
    }
}

impl Default for Ports {
    fn default() -> Self {
        Ports {
            topology: Topology::OneArm,
            public: 0,
            private: 1,
            workers: DEFAULT_WORKERS,
            mbufs: DEFAULT_MBUFS,
            public_addresses: Vec::new(),
            private_addresses: Vec::new(),
        }
    }
}

/// A public address, port and protocol.
#[derive(Debug, Clone, PartialEq)]
pub struct Frontend {
    pub name: String,
    /// IPv4 or IPv6.
    pub address: IpAddr,
    pub port: u16,
    pub protocol: IpProtocol,
    /// `siit = true`: an IPv6 frontend whose backends are IPv4, reached by
    /// header translation (RFC 7915) from `appliance.siit_addresses`.
    pub siit: bool,
}

/// A named set of backends.
#[derive(Debug, Clone, PartialEq)]
pub struct Pool {
    pub name: String,
    pub backends: Vec<Backend>,
    /// Health probes of the pool's backends (`[pool.health]`); none: always healthy.
    pub health: Option<HealthCheck>,
    /// `next_hop`: the router its backends are reached through, resolved
    /// on the backends' port (unless `next_hop_mac` or a backend's `mac`
    /// is set); none: backends without a MAC are on-link.
    pub next_hop: Option<IpAddr>,
}

/// Default `health.interval`, seconds.
pub const DEFAULT_HEALTH_INTERVAL_SECS: u32 = 5;
/// Smallest accepted `health.interval`, seconds.
pub const MIN_HEALTH_INTERVAL_SECS: u32 = 1;
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
/// Smallest accepted health threshold.
pub const MIN_HEALTH_THRESHOLD: u32 = 1;
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
    /// IPv4 or IPv6: the family of the frontends it serves.
    pub address: IpAddr,
    pub port: u16,
    /// 0 means draining: no new connections, existing ones kept.
    pub weight: u32,
    /// Destination MAC toward this backend, written by hand: its own, or
    /// the pool's `next_hop_mac`. [`MacAddr::ZERO`]: resolved (ARP or
    /// Neighbor Discovery) at its pool's `next_hop`, or at its own address.
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
    /// Established connections (half-closed ones too) and UDP, minutes.
    pub idle_timeout_mins: u32,
    /// Closing connections that were established, minutes.
    pub transitory_timeout_mins: u32,
    /// SYN-only (half-open) connections, seconds.
    pub syn_timeout_secs: u32,
    /// Send a RST both ways when an established connection reaches its
    /// idle timeout (TCP frontends only).
    pub tcp_reset_on_idle: bool,
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

impl Rule {
    /// The rule's timeouts in seconds, as the data path applies them.
    pub fn timeouts(&self) -> Timeouts {
        Timeouts {
            syn: self.syn_timeout_secs,
            established: self.idle_timeout_mins * 60,
            transitory: self.transitory_timeout_mins * 60,
        }
    }
}

impl Config {
    /// The address natrix resolves to reach backend `b` of pool `pool`
    /// (`None` for a NAT rule's), if its MAC is not written by hand: the
    /// pool's next hop, or its own address.
    pub fn next_hop(&self, pool: Option<&Pool>, b: &Backend) -> Option<IpAddr> {
        (b.mac == MacAddr::ZERO).then(|| pool.and_then(|p| p.next_hop).unwrap_or(b.address))
    }

    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.display().to_string(),
            line: None,
            field: None,
            problem: Problem::Read(e.to_string()),
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

// ---- Checks shared by the file and runtime changes ---------------------
//
// Validation applies these to the file's values; the control plane applies the
// same functions to backends added while natrix runs, so a value is refused
// the same way, with the same words, wherever it comes from.

/// An IP address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    /// The family of `address`.
    pub fn of(address: IpAddr) -> Family {
        match address {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        }
    }

    /// `ipv4` or `ipv6` (the `family` label of the metrics).
    pub fn name(self) -> &'static str {
        match self {
            Family::Ipv4 => "ipv4",
            Family::Ipv6 => "ipv6",
        }
    }

    /// `IPv4` or `IPv6`, for messages.
    pub fn title(self) -> &'static str {
        match self {
            Family::Ipv4 => "IPv4",
            Family::Ipv6 => "IPv6",
        }
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.title())
    }
}

/// Why an IPv6 address cannot be a frontend, a backend or natrix's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unusable6 {
    /// `::`.
    Unspecified,
    /// `::1`.
    Loopback,
    /// fe80::/10.
    LinkLocal,
    /// ff00::/8.
    Multicast,
    /// ::ffff:0:0/96.
    Ipv4Mapped,
}

/// Why `address` cannot be used by natrix, if it cannot: `::` names no
/// host; `::1` is each host's own; a link-local address (fe80::/10) is
/// ambiguous without a zone (an interface), which natrix's ports do not
/// take; a multicast address (ff00::/8) names a group; an IPv4-mapped
/// address (::ffff:0:0/96) is an IPv4 address, which natrix serves as IPv4.
pub fn unusable6(address: Ipv6Addr) -> Option<Unusable6> {
    let seg = address.segments();
    if address.is_unspecified() {
        Some(Unusable6::Unspecified)
    } else if address.is_loopback() {
        Some(Unusable6::Loopback)
    } else if seg[0] & 0xffc0 == 0xfe80 {
        Some(Unusable6::LinkLocal)
    } else if address.is_multicast() {
        Some(Unusable6::Multicast)
    } else if address.to_ipv4_mapped().is_some() {
        Some(Unusable6::Ipv4Mapped)
    } else {
        None
    }
}

/// An address natrix may use for a frontend, a backend or itself: for
/// IPv4 a host address, not 0.0.0.0, 255.255.255.255 or multicast; for
/// IPv6 not `::`, `::1`, link-local, multicast or IPv4-mapped ([`unusable6`]).
pub fn check_unicast(address: IpAddr) -> Result<(), Problem> {
    match address {
        IpAddr::V4(a) => {
            if a.is_unspecified() || a.is_broadcast() || a.is_multicast() {
                return Err(Problem::NotUnicast(a));
            }
        }
        IpAddr::V6(a) => {
            if let Some(why) = unusable6(a) {
                return Err(Problem::UnusableIpv6 { address: a, why });
            }
        }
    }
    Ok(())
}

/// A backend has the address family of the frontend it serves, or is
/// IPv4 behind a SIIT frontend (`siit = true`, IPv6).
pub fn check_family(address: IpAddr, frontend: &Frontend) -> Result<(), Problem> {
    let expected = if frontend.siit {
        Family::Ipv4
    } else {
        Family::of(frontend.address)
    };
    if Family::of(address) != expected {
        return Err(Problem::FamilyMismatch(Box::new(FamilyMismatch {
            backend: address,
            frontend: frontend.name.clone(),
            frontend_address: frontend.address,
            siit: frontend.siit,
        })));
    }
    Ok(())
}

/// A station's MAC address: not 00:00:00:00:00:00.
pub fn check_mac(mac: MacAddr) -> Result<(), Problem> {
    if mac == MacAddr::ZERO {
        return Err(Problem::ZeroMac);
    }
    Ok(())
}

/// The MAC a backend's packets are sent to: one station's (or zero, to
/// be resolved), so not a group (broadcast or multicast) address that would flood the
/// segment.
pub fn check_backend_mac(mac: MacAddr) -> Result<(), Problem> {
    if mac.is_multicast() {
        return Err(Problem::GroupBackendMac(mac));
    }
    Ok(())
}

/// A backend is not the endpoint of the frontend it serves: natrix would
/// send the frontend's traffic back to itself.
pub fn check_backend_endpoint(
    address: IpAddr,
    port: u16,
    frontend: &Frontend,
) -> Result<(), Problem> {
    if address == frontend.address && port == frontend.port {
        return Err(Problem::BackendIsFrontend {
            address,
            port,
            frontend: frontend.name.clone(),
        });
    }
    Ok(())
}

/// Everything a backend must be, behind each of `frontends`: its address,
/// its MAC, its address family and its endpoint (its port and weight have their own limits,
/// [`MIN_PORT`] and [`MAX_WEIGHT`]).
pub fn check_backend<'f>(
    b: &Backend,
    frontends: impl IntoIterator<Item = &'f Frontend>,
) -> Result<(), Problem> {
    check_mac(b.mac)?;
    check_resolved_backend(b, frontends)
}

/// [`check_backend`] for a backend whose MAC is resolved (zero here): all
/// but the MAC.
pub fn check_resolved_backend<'f>(
    b: &Backend,
    frontends: impl IntoIterator<Item = &'f Frontend>,
) -> Result<(), Problem> {
    check_unicast(b.address)?;
    check_backend_mac(b.mac)?;
    for fe in frontends {
        check_family(b.address, fe)?;
        check_backend_endpoint(b.address, b.port, fe)?;
    }
    Ok(())
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
}
