//! Configuration errors: where in the file, and which problem.
//!
//! A [`ConfigError`] names the file, the line and the dotted field path; its
//! [`Problem`] says what is wrong there and what was expected. Display prints
//! `file:line: field: problem`, one line.

use super::{Family, Unusable6};
use super::{
    MAGLEV_ENTRIES_PER_BACKEND, MAX_FRONTENDS, MAX_HEALTH_PATH_LEN, MAX_MAGLEV_TABLE_SIZE,
    MIN_HEALTH_TIMEOUT_SECS,
};
use crate::dataplane::select::Mode;
use crate::wire::ethernet::MacParseError;
use crate::wire::{IpProtocol, MacAddr};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// A configuration error that names the file, the line and the field.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// Dotted path of the field, like `pool[0].backend[2].weight`, when known.
    pub field: Option<String>,
    pub problem: Problem,
}

impl ConfigError {
    /// The problem as text (the part of Display after the field).
    pub fn message(&self) -> String {
        self.problem.to_string()
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.problem)
    }
}

impl std::error::Error for ConfigError {}

/// What is wrong with a field (or with the file as a whole).
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    // --- The file and its TOML -------------------------------------------
    /// The file could not be read (the system's reason).
    Read(String),
    /// Not TOML, or not the shape of the format: the TOML parser's own
    /// message, tidied to one line.
    Toml(String),
    /// The `[appliance]` table is absent.
    MissingAppliance,
    /// A required key is absent from its table.
    MissingKey {
        key: &'static str,
        expected: &'static str,
    },

    // --- Values ----------------------------------------------------------
    /// An integer outside `lo..=hi`.
    OutOfRange {
        value: i64,
        what: &'static str,
        lo: i64,
        hi: i64,
    },
    /// A keyword that is not one of the fixed choices, like `protocol = "sctp"`.
    Unknown {
        key: Keyword,
        value: String,
    },
    /// A `ports.topology` that is neither `one-arm` nor `two-arm`.
    UnknownTopology(String),
    /// A `rule.mode` that names no [`Mode`].
    UnknownMode(String),
    /// A frontend's or pool's name of only spaces.
    EmptyName(Named),
    InvalidIpv4(String),
    /// A value with a `:` that is not an IPv6 address.
    InvalidIpv6(String),
    /// 0.0.0.0, 255.255.255.255 or multicast.
    NotUnicast(Ipv4Addr),
    /// An IPv6 address natrix cannot use (see [`super::unusable6`]).
    UnusableIpv6 {
        address: Ipv6Addr,
        why: Unusable6,
    },
    InvalidMac {
        value: String,
        reason: MacParseError,
    },
    ZeroMac,
    /// The appliance's own MAC has the group bit set.
    MulticastMac(MacAddr),
    /// A backend's MAC (or a pool's next hop) has the group bit set:
    /// broadcast or multicast.
    GroupBackendMac(MacAddr),

    // --- Sections --------------------------------------------------------
    /// `appliance.addresses` lists an address twice.
    AddressTwice(IpAddr),
    /// Two-arm with the same public and private port.
    SamePorts(u16),
    /// Two frontends or two pools of one name; `other` is the first's index.
    DuplicateName {
        what: Named,
        name: String,
        other: usize,
    },
    /// More `[[frontend]]`s than [`MAX_FRONTENDS`]: how many there are.
    TooManyFrontends(usize),
    /// Two frontends on one address, port and protocol (boxed: large and rare).
    DuplicateFrontend(Box<DuplicateFrontend>),
    /// One address and port twice in a pool; `other` is the first's index.
    DuplicateBackend {
        address: IpAddr,
        port: u16,
        pool: String,
        other: usize,
    },
    /// A backend without `mac` in a pool without `next_hop_mac`.
    BackendWithoutMac {
        pool: String,
    },
    /// A port address that is not `address/prefix-length`.
    InvalidInterface(String),
    /// `ports.private_addresses` in one-arm, which has one port.
    PrivateAddressesOneArm,
    /// No gateway toward the clients of a family that has frontends:
    /// neither `appliance.gateway4`/`gateway6` nor `appliance.gateway_mac`.
    NoGateway(Family),
    /// A gateway or a pool's next hop of the wrong family (`gateway4` given
    /// an IPv6 address, a next hop of another family than the pool's backends).
    WrongFamily {
        address: IpAddr,
        expected: Family,
    },
    /// A gateway, a next hop or a backend to be resolved is in no prefix
    /// of the port it is reached through.
    NotOnLink {
        address: IpAddr,
        what: OnLink,
        /// `ports.public_addresses` or `ports.private_addresses`.
        key: &'static str,
    },
    /// A pool with IPv4 and IPv6 backends (boxed: rare).
    MixedPool(Box<MixedPool>),
    /// `health.path` on a TCP probe.
    PathWithoutHttp,
    /// A `health.path` that is not absolute or is too long.
    InvalidPath(String),
    /// A `health.path` with a character outside printable ASCII.
    PathCharacter {
        path: String,
        character: char,
    },
    /// A `health.timeout` outside its range (seconds; the interval's).
    TimeoutOutOfRange {
        value: f64,
        interval: u32,
    },
    /// A `health.timeout` longer than the interval.
    TimeoutOverInterval {
        value: f64,
        interval: u32,
    },

    // --- Rules -----------------------------------------------------------
    /// A rule names a frontend or pool that does not exist; `known` lists
    /// the names that do.
    NoSuch {
        what: Named,
        name: String,
        known: Box<[String]>,
    },
    /// A frontend is named by two rules or NAT rules; `user` is the first.
    FrontendTaken {
        frontend: String,
        user: User,
    },
    /// A frontend that no rule or NAT rule uses.
    FrontendUnused(String),
    /// A Maglev table size that is not prime; `next` is the next prime.
    NotPrime {
        size: u32,
        next: Option<u32>,
    },
    /// A Maglev table size under 100 entries per backend.
    TableTooSmall {
        size: u32,
        pool: String,
        backends: usize,
        min: u64,
    },
    /// A pool too large for a hashing mode's default table.
    TooManyBackends {
        pool: String,
        backends: usize,
        mode: Mode,
        size: u32,
    },
    /// A backend endpoint behind two frontends (boxed: the largest problem).
    AmbiguousReturn(Box<Ambiguity>),
    /// A backend with the address and port of the frontend it serves.
    BackendIsFrontend {
        address: IpAddr,
        port: u16,
        frontend: String,
    },
    /// A backend of the other address family than its frontend (boxed: rare).
    FamilyMismatch(Box<FamilyMismatch>),
    /// `tcp_reset_on_idle = true` on a rule whose frontend is not TCP.
    ResetOnIdleNotTcp {
        frontend: String,
        protocol: IpProtocol,
    },

    // --- SIIT ------------------------------------------------------------
    /// `siit = true` on a frontend that is not IPv6.
    SiitNotIpv6(IpAddr),
    /// `siit = true` without `appliance.siit_addresses`.
    SiitWithoutAddresses,
    /// More `appliance.siit_addresses` than [`MAX_SIIT_ADDRESSES`].
    ///
    /// [`MAX_SIIT_ADDRESSES`]: super::MAX_SIIT_ADDRESSES
    TooManySiitAddresses(usize),
    /// A SIIT address that is also a frontend's or an appliance address.
    SiitAddressTaken {
        address: IpAddr,
        by: String,
    },
    /// A SIIT frontend on something SIIT does not translate: an inbound
    /// NAT rule, or `tcp_reset_on_idle`.
    SiitUnsupported {
        frontend: String,
        what: &'static str,
    },
}

/// A field whose value is one of a few fixed words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    /// `frontend.protocol`.
    Protocol,
    /// `health.protocol`.
    HealthProtocol,
    /// `health.down_connections`.
    DownConnections,
}

impl Keyword {
    /// What the error calls the value.
    pub const fn what(self) -> &'static str {
        match self {
            Keyword::Protocol => "protocol",
            Keyword::HealthProtocol => "health protocol",
            Keyword::DownConnections => "value",
        }
    }

    /// The words accepted.
    pub const fn expected(self) -> &'static str {
        match self {
            Keyword::Protocol => "\"tcp\" or \"udp\"",
            Keyword::HealthProtocol => "\"tcp\" or \"http\"",
            Keyword::DownConnections => "\"keep\" or \"drop\"",
        }
    }
}

/// Two frontends on one address, port and protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateFrontend {
    /// The frontend being checked.
    pub name: String,
    pub address: IpAddr,
    pub port: u16,
    pub protocol: IpProtocol,
    /// The earlier frontend on the same endpoint.
    pub other: String,
}

/// A backend whose address family is not its frontend's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamilyMismatch {
    pub backend: IpAddr,
    pub frontend: String,
    pub frontend_address: IpAddr,
    /// The frontend translates to IPv4 (`siit = true`).
    pub siit: bool,
}

/// What [`Problem::NotOnLink`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnLink {
    Gateway,
    NextHop,
    Backend,
}

impl OnLink {
    fn hint(self, key: &str) -> String {
        match self {
            OnLink::Gateway => format!("expected an address on the clients' side, in ports.{key}"),
            OnLink::NextHop => format!("expected a router on the backends' side, in ports.{key}"),
            OnLink::Backend => {
                format!("expected a backend in ports.{key}, a next_hop on its pool, or its own mac")
            }
        }
    }
}

impl fmt::Display for OnLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OnLink::Gateway => "gateway",
            OnLink::NextHop => "next hop",
            OnLink::Backend => "backend",
        })
    }
}

/// A pool's backend of another address family than the pool's first backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MixedPool {
    pub pool: String,
    pub address: IpAddr,
    /// The pool's first backend, and its index.
    pub first: IpAddr,
    pub first_index: usize,
}

/// What a name in the file names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Named {
    Frontend,
    Pool,
}

impl Named {
    pub const fn name(self) -> &'static str {
        match self {
            Named::Frontend => "frontend",
            Named::Pool => "pool",
        }
    }
}

impl fmt::Display for Named {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A rule or NAT rule, by its index in the file: what uses a frontend or
/// puts a backend behind one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum User {
    Rule(usize),
    NatRule(usize),
}

impl fmt::Display for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            User::Rule(i) => write!(f, "rule[{i}]"),
            User::NatRule(i) => write!(f, "nat_rule[{i}]"),
        }
    }
}

/// One backend endpoint behind two frontends: its replies could go back
/// through either.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ambiguity {
    pub address: IpAddr,
    pub port: u16,
    pub protocol: IpProtocol,
    /// The frontend it is already behind, and the rule that put it there.
    pub first: (String, User),
    /// The frontend of the rule being checked, and that rule.
    pub second: (String, User),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Problem::*;
        match self {
            Read(reason) => write!(f, "cannot read: {reason}"),
            Toml(message) => f.write_str(message),
            MissingAppliance => f.write_str(
                "missing required table [appliance]: expected at least its mac and gateway_mac",
            ),
            MissingKey { key, expected } => {
                write!(f, "missing required key `{key}`: expected {expected}")
            }
            OutOfRange { value, what, lo, hi } => {
                write!(f, "{value} is out of range: expected {what} from {lo} to {hi}")
            }
                        Unknown { key, value } => write!(
                f,
                "unknown {} \"{value}\": expected {}",
                key.what(),
                key.expected()
            ),
            UnknownTopology(value) => write!(
                f,
                "unknown topology {value:?}: expected \"one-arm\" or \"two-arm\""
            ),
            UnknownMode(value) => {
                let modes: Vec<&str> = Mode::ALL.iter().map(|m| m.name()).collect();
                write!(f, "unknown mode \"{value}\": ")?;
                expected_one_of(f, &modes, "modes")
            }
                        EmptyName(what) => write!(f, "{what} name is empty: expected a non-empty name"),
            InvalidIpv4(value) => write!(
                f,
                "invalid IPv4 address \"{value}\": expected four decimal octets like 198.18.0.1 (or an IPv6 address like 2001:db8::1)"
            ),
            InvalidIpv6(value) => write!(
                f,
                "invalid IPv6 address \"{value}\": expected an IPv6 address like 2001:db8::1 (without brackets, port or zone)"
            ),
            UnusableIpv6 { address, why } => {
                let (what, reason) = match why {
                    Unusable6::Unspecified => ("the unspecified address", "it names no host"),
                    Unusable6::Loopback => ("the loopback address", "it is every host's own"),
                    Unusable6::LinkLocal => (
                        "a link-local address (fe80::/10)",
                        "it is ambiguous without an interface zone, which natrix's ports do not take",
                    ),
                    Unusable6::Multicast => ("a multicast address (ff00::/8)", "it names a group, not one host"),
                    Unusable6::Ipv4Mapped => (
                        "an IPv4-mapped address (::ffff:0:0/96)",
                        "write the IPv4 address itself",
                    ),
                };
                write!(
                    f,
                    "{address} is {what}, which natrix cannot use ({reason}): expected a global or unique-local unicast IPv6 address"
                )
            }
            NotUnicast(address) => write!(
                f,
                "{address} is not a unicast address: expected a host address (not 0.0.0.0, 255.255.255.255 or multicast)"
            ),
            InvalidMac { value, reason } => write!(f, "invalid MAC address \"{value}\": {reason}"),
            ZeroMac => f.write_str(
                "MAC address 00:00:00:00:00:00 is not usable: expected a real station address",
            ),
            MulticastMac(mac) => write!(
                f,
                "{mac} is a group (multicast) address: expected a unicast MAC to send from"
            ),
            GroupBackendMac(mac) => write!(
                f,
                "{mac} is a group (broadcast or multicast) address: expected the MAC of one backend station"
            ),
            AddressTwice(address) => {
                write!(f, "{address} is listed twice: expected each address once")
            }
            SamePorts(port) => write!(
                f,
                "two-arm needs two ports, but public and private are both port {port}"
            ),
            DuplicateName { what, name, other } => write!(
                f,
                "duplicate {what} name \"{name}\" (also {what}[{other}]): expected unique names"
            ),
                        TooManyFrontends(n) => write!(
                f,
                "{n} frontends, more than the maximum {MAX_FRONTENDS}: expected at most {MAX_FRONTENDS} [[frontend]] tables"
            ),
            DuplicateFrontend(d) => write!(
                f,
                "frontend \"{}\" has the same address, port and protocol ({}/{}) as frontend \"{}\": expected each to be unique",
                d.name, SocketAddr::new(d.address, d.port), d.protocol, d.other
            ),
            DuplicateBackend {
                address,
                port,
                pool,
                other,
            } => write!(
                f,
                "duplicate backend {} in pool \"{pool}\" (also backend[{other}]): expected each address and port once per pool",
                SocketAddr::new(*address, *port)
            ),
            MixedPool(m) => write!(
                f,
                "backend {} is {} but pool \"{}\" has {} backends (backend[{}] is {}): expected one address family per pool",
                m.address,
                Family::of(m.address),
                m.pool,
                Family::of(m.first),
                m.first_index,
                m.first
            ),
            InvalidInterface(s) => write!(
                f,
                "\"{s}\" is not an address with its prefix length: expected natrix's address on the port and the on-link prefix length, like \"10.1.0.1/24\" or \"2001:db8:1::1/64\""
            ),
            PrivateAddressesOneArm => f.write_str(
                "one-arm has a single port: write its addresses (clients' and backends' networks) in ports.public_addresses",
            ),
            NoGateway(family) => {
                let key = match family {
                    Family::Ipv4 => "gateway4",
                    Family::Ipv6 => "gateway6",
                };
                write!(
                    f,
                    "no way to reach the {family} clients: expected appliance.{key} (the router's address, resolved with {}) or appliance.gateway_mac",
                    match family {
                        Family::Ipv4 => "ARP",
                        Family::Ipv6 => "Neighbor Discovery",
                    }
                )
            }
            WrongFamily { address, expected } => {
                write!(f, "{address} is not an {expected} address: expected {expected}")
            }
            NotOnLink { address, what, key } => write!(
                f,
                "{what} {address} is in no prefix of ports.{key}, so natrix cannot resolve its MAC: {}",
                what.hint(key)
            ),
            BackendWithoutMac { pool } => write!(
                f,
                "missing required key `mac`: pool \"{pool}\" has no next_hop_mac, so each backend needs its own MAC address"
            ),
            PathWithoutHttp => f.write_str(
                "path is only used by HTTP probes: expected protocol = \"http\", or no path",
            ),
            InvalidPath(path) => write!(
                f,
                "invalid path {path:?}: expected an absolute path like \"/healthz\" of at most {MAX_HEALTH_PATH_LEN} bytes"
            ),
            PathCharacter { path, character } => write!(
                f,
                "invalid path {path:?}: {character:?} is not allowed: expected printable ASCII without spaces (percent-encode the rest)"
            ),
            TimeoutOutOfRange { value, interval } => write!(
                f,
                "{value} is out of range: expected a number of seconds from {MIN_HEALTH_TIMEOUT_SECS} to the interval ({interval})"
            ),
            TimeoutOverInterval { value, interval } => write!(
                f,
                "timeout {value} is longer than the interval ({interval}): expected at most the interval"
            ),
            NoSuch { what, name, known } => {
                let known: Vec<&str> = known.iter().map(String::as_str).collect();
                write!(f, "no {what} named \"{name}\": ")?;
                expected_one_of(f, &known, &format!("{what}s"))
            }
            FrontendTaken { frontend, user } => write!(
                f,
                "frontend \"{frontend}\" is already used by {user}: expected each frontend in only one rule or nat_rule"
            ),
            FrontendUnused(name) => write!(
                f,
                "frontend \"{name}\" is not used by any rule or nat_rule: expected a [[rule]] or [[nat_rule]] with frontend = \"{name}\", or remove the frontend"
            ),
            NotPrime { size, next } => {
                write!(f, "{size} is not prime: expected a prime table size")?;
                match next {
                    Some(p) => write!(f, " (the next prime is {p})"),
                    None => Ok(()),
                }
            }
            TableTooSmall {
                size,
                pool,
                backends,
                min,
            } => write!(
                f,
                "{size} is too small for pool \"{pool}\" with {backends} backends: expected a prime of at least {min} ({MAGLEV_ENTRIES_PER_BACKEND} x backends)"
            ),
            TooManyBackends {
                pool,
                backends,
                mode,
                size,
            } => write!(
                f,
                "pool \"{pool}\" has {backends} backends, too many for mode {mode}: its table would need {size} entries, more than the maximum {MAX_MAGLEV_TABLE_SIZE}"
            ),
                        AmbiguousReturn(a) => write!(
                f,
                "ambiguous return direction: backend {}/{} would sit behind frontend \"{}\" ({}) and frontend \"{}\" ({}), so its replies could not be mapped back to one frontend: expected each backend address, port and protocol behind only one frontend",
                SocketAddr::new(a.address, a.port), a.protocol, a.first.0, a.first.1, a.second.0, a.second.1
            ),
            BackendIsFrontend {
                address,
                port,
                frontend,
            } => write!(
                f,
                "backend {} is the endpoint of frontend \"{frontend}\" itself: expected a backend other than the frontend it serves",
                SocketAddr::new(*address, *port)
            ),
            FamilyMismatch(m) if m.siit => write!(
                f,
                "backend {} is IPv6 but frontend \"{}\" ({}) translates to IPv4 (siit = true): expected IPv4 backends",
                m.backend, m.frontend, m.frontend_address
            ),
            FamilyMismatch(m) => {
                let (be, fe) = (Family::of(m.backend), Family::of(m.frontend_address));
                write!(
                    f,
                    "backend {} is {be} but frontend \"{}\" ({}) is {fe}: expected {fe} backends behind an {fe} frontend",
                    m.backend, m.frontend, m.frontend_address
                )?;
                if fe == Family::Ipv6 {
                    f.write_str(" (a rule's pool of IPv4 backends needs SIIT: siit = true on the frontend, and appliance.siit_addresses; NAT rules are not translated)")
                } else {
                    f.write_str(" (natrix does not translate IPv4 clients to IPv6 backends)")
                }
            }
            SiitNotIpv6(address) => write!(
                f,
                "siit = true on a frontend at {address}: SIIT translates IPv6 clients to IPv4 backends, expected an IPv6 frontend"
            ),
            SiitWithoutAddresses => f.write_str(
                "siit = true needs appliance.siit_addresses: the IPv4 addresses its connections leave from",
            ),
            TooManySiitAddresses(n) => write!(
                f,
                "{n} SIIT addresses: expected at most {}",
                super::MAX_SIIT_ADDRESSES
            ),
            SiitAddressTaken { address, by } => write!(
                f,
                "SIIT address {address} is also {by}: expected an address of its own, used for nothing else"
            ),
            SiitUnsupported { frontend, what } => write!(
                f,
                "frontend \"{frontend}\" translates with SIIT, which does not support {what}"
            ),
            ResetOnIdleNotTcp { frontend, protocol } => write!(
                f,
                "frontend \"{frontend}\" is {}: tcp_reset_on_idle resets TCP connections, expected a TCP frontend or no tcp_reset_on_idle",
                protocol.name()
            ),
        }
    }
}

/// `expected "a"`, `expected one of "a", "b" or "c"`, or `no <plural> are defined`.
fn expected_one_of(f: &mut fmt::Formatter<'_>, names: &[&str], plural: &str) -> fmt::Result {
    match names {
        [] => write!(f, "no {plural} are defined"),
        [one] => write!(f, "expected \"{one}\""),
        [init @ .., last] => {
            f.write_str("expected one of ")?;
            for (i, n) in init.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "\"{n}\"")?;
            }
            write!(f, " or \"{last}\"")
        }
    }
}
