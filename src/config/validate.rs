//! Validation: the raw structs checked section by section and turned into
//! [`Config`]. The first problem found is the error.
//!
//! The steps, in order: `[appliance]`, `[ports]`, the `[[frontend]]`s, the
//! `[[pool]]`s (each backend, each `[pool.health]`), then the `[[rule]]`s and
//! `[[nat_rule]]`s, which link frontends to backends, and last the check that
//! every frontend is used.

use super::error::{
    Ambiguity, ConfigError, DuplicateFrontend, Keyword, MixedPool, Named, Problem, User,
};
use super::locate::Cx;
use super::raw::{
    RawAppliance, RawBackend, RawConfig, RawFrontend, RawHealth, RawNatRule, RawPool, RawPorts,
    RawRule, Span,
};
use super::*;
use crate::dataplane::fragment;
use std::collections::HashMap;
use toml::Spanned;

/// How the backends of one pool are reached when they have no `mac`.
struct Resolve<'p> {
    next_hop_mac: Option<MacAddr>,
    next_hop: Option<IpAddr>,
    /// The addresses of the backends' port, and their key.
    on_link: &'p [Interface],
    on_link_key: &'static str,
}

/// A backend endpoint and protocol, the key of the return direction.
type Endpoint = (IpAddr, u16, IpProtocol);

/// What the rules and NAT rules refer to, and what they have claimed so far.
struct Links<'c> {
    frontends: &'c [Frontend],
    pools: &'c [Pool],
    frontend_names: HashMap<&'c str, usize>,
    pool_names: HashMap<&'c str, usize>,
    /// Which rule or nat_rule uses each frontend.
    used_by: Vec<Option<User>>,
    /// Which frontend each backend endpoint sits behind, and through what.
    behind: HashMap<Endpoint, (usize, User)>,
}

impl<'c> Links<'c> {
    fn new(frontends: &'c [Frontend], pools: &'c [Pool]) -> Links<'c> {
        Links {
            frontends,
            pools,
            frontend_names: frontends
                .iter()
                .enumerate()
                .map(|(i, f)| (f.name.as_str(), i))
                .collect(),
            pool_names: pools
                .iter()
                .enumerate()
                .map(|(i, p)| (p.name.as_str(), i))
                .collect(),
            used_by: vec![None; frontends.len()],
            behind: HashMap::new(),
        }
    }
}

impl Cx<'_> {
    pub(super) fn validate(&self, raw: &RawConfig) -> Result<Config, ConfigError> {
        let appliance = self.appliance(raw)?;
        let ports = self.ports(raw)?;
        let frontends = self.frontends(&raw.frontend)?;
        self.siit(raw, &appliance, &frontends)?;
        self.gateways(raw, &appliance, &ports, &frontends)?;
        let pools = self.pools(&raw.pool, &ports)?;

        let mut links = Links::new(&frontends, &pools);
        let rules = raw
            .rule
            .iter()
            .enumerate()
            .map(|(i, r)| {
                self.rule(
                    r,
                    User::Rule(i),
                    &mut links,
                    appliance.transitory_timeout_secs,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let nat_rules = raw
            .nat_rule
            .iter()
            .enumerate()
            .map(|(i, r)| self.nat_rule(r, User::NatRule(i), &mut links, &ports))
            .collect::<Result<Vec<_>, _>>()?;
        self.every_frontend_used(raw, &links)?;
        self.warn_unused_pools(&pools, &rules);

        Ok(Config {
            appliance,
            ports,
            frontends,
            pools,
            rules,
            nat_rules,
        })
    }

    // ---- Values --------------------------------------------------------

    fn required<'r, T>(
        &self,
        value: &'r Option<Spanned<T>>,
        table: &Span,
        path: &str,
        key: &'static str,
        expected: &'static str,
    ) -> Result<&'r Spanned<T>, ConfigError> {
        value.as_ref().ok_or_else(|| {
            self.err(
                table.clone(),
                format!("{path}.{key}"),
                Problem::MissingKey { key, expected },
            )
        })
    }

    fn mac(&self, value: &Spanned<String>, field: &str) -> Result<MacAddr, ConfigError> {
        let mac: MacAddr = value.get_ref().parse().map_err(|reason| {
            self.err(
                value.span(),
                field,
                Problem::InvalidMac {
                    value: value.get_ref().clone(),
                    reason,
                },
            )
        })?;
        check_mac(mac).map_err(|p| self.err(value.span(), field, p))?;
        Ok(mac)
    }

    /// A MAC that backends' packets are sent to.
    fn backend_mac(&self, value: &Spanned<String>, field: &str) -> Result<MacAddr, ConfigError> {
        let mac = self.mac(value, field)?;
        check_backend_mac(mac).map_err(|p| self.err(value.span(), field, p))?;
        Ok(mac)
    }

    /// An IPv4 address, or an IPv6 one (a value with a `:`), that natrix
    /// can use ([`check_unicast`]).
    fn ip(&self, value: &Spanned<String>, field: &str) -> Result<IpAddr, ConfigError> {
        let s = value.get_ref();
        let addr = if s.contains(':') {
            s.parse::<Ipv6Addr>()
                .map(IpAddr::V6)
                .map_err(|_| self.err(value.span(), field, Problem::InvalidIpv6(s.clone())))?
        } else {
            s.parse::<Ipv4Addr>()
                .map(IpAddr::V4)
                .map_err(|_| self.err(value.span(), field, Problem::InvalidIpv4(s.clone())))?
        };
        check_unicast(addr).map_err(|p| self.err(value.span(), field, p))?;
        Ok(addr)
    }

    /// An integer in `lo..=hi`.
    fn int(
        &self,
        value: &Spanned<i64>,
        field: &str,
        lo: i64,
        hi: i64,
        what: &'static str,
    ) -> Result<i64, ConfigError> {
        let v = *value.get_ref();
        if v < lo || v > hi {
            return Err(self.err(
                value.span(),
                field,
                Problem::OutOfRange {
                    value: v,
                    what,
                    lo,
                    hi,
                },
            ));
        }
        Ok(v)
    }

    /// An integer in `lo..=hi` of a `u32` limit.
    fn u32_in(
        &self,
        value: &Spanned<i64>,
        field: &str,
        lo: u32,
        hi: u32,
        what: &'static str,
    ) -> Result<u32, ConfigError> {
        let v = self.int(value, field, i64::from(lo), i64::from(hi), what)?;
        Ok(u32::try_from(v).expect("range checked"))
    }

    /// An integer in `lo..=hi` of a `u16` limit.
    fn u16_in(
        &self,
        value: &Spanned<i64>,
        field: &str,
        lo: u16,
        hi: u16,
        what: &'static str,
    ) -> Result<u16, ConfigError> {
        let v = self.int(value, field, i64::from(lo), i64::from(hi), what)?;
        Ok(u16::try_from(v).expect("range checked"))
    }

    fn port(&self, value: &Spanned<i64>, field: &str) -> Result<u16, ConfigError> {
        self.u16_in(value, field, MIN_PORT, u16::MAX, "a port number")
    }

    /// A non-empty name of a frontend or pool.
    fn name(
        &self,
        value: &Spanned<String>,
        field: &str,
        what: Named,
    ) -> Result<String, ConfigError> {
        let s = value.get_ref();
        if s.trim().is_empty() {
            return Err(self.err(value.span(), field, Problem::EmptyName(what)));
        }
        Ok(s.clone())
    }

    /// `value` as one of `choices`, the words of `key`.
    fn keyword<T: Copy>(
        &self,
        value: &Spanned<String>,
        field: &str,
        key: Keyword,
        choices: &[(&str, T)],
    ) -> Result<T, ConfigError> {
        let s = value.get_ref();
        choices
            .iter()
            .find(|(name, _)| name == s)
            .map(|&(_, v)| v)
            .ok_or_else(|| {
                self.err(
                    value.span(),
                    field,
                    Problem::Unknown {
                        key,
                        value: s.clone(),
                    },
                )
            })
    }

    // ---- [appliance] ---------------------------------------------------

    fn appliance(&self, raw: &RawConfig) -> Result<Appliance, ConfigError> {
        let Some(table) = &raw.appliance else {
            return Err(ConfigError {
                file: self.file.to_string(),
                line: None,
                field: Some("appliance".into()),
                problem: Problem::MissingAppliance,
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
            return Err(self.err(v.span(), "appliance.mac", Problem::MulticastMac(mac)));
        }
        // A gateway to resolve, or its MAC by hand (or both: the MAC wins).
        let gateway_mac = if a.gateway_mac.is_none()
            && (a.gateway4.is_some() || a.gateway6.is_some())
        {
            MacAddr::ZERO
        } else {
            self.mac(
                self.required(
                    &a.gateway_mac,
                    &span,
                    p,
                    "gateway_mac",
                    "the MAC address of the next hop toward clients, or appliance.gateway4 and gateway6 to resolve it",
                )?,
                "appliance.gateway_mac",
            )?
        };
        let gateway4 = match &a.gateway4 {
            None => None,
            Some(v) => match self.ip(v, "appliance.gateway4")? {
                IpAddr::V4(g) => Some(g),
                other => {
                    return Err(self.wrong_family(v, "appliance.gateway4", other, Family::Ipv4))
                }
            },
        };
        let gateway6 = match &a.gateway6 {
            None => None,
            Some(v) => match self.ip(v, "appliance.gateway6")? {
                IpAddr::V6(g) => Some(g),
                other => {
                    return Err(self.wrong_family(v, "appliance.gateway6", other, Family::Ipv6))
                }
            },
        };
        let addresses = self.appliance_addresses(a)?;
        let siit_addresses = self.siit_addresses(a, &addresses)?;

        let flow_table_size = match &a.flow_table_size {
            None => DEFAULT_FLOW_TABLE_SIZE,
            Some(v) => self.u32_in(
                v,
                "appliance.flow_table_size",
                MIN_FLOW_TABLE_SIZE,
                MAX_FLOW_TABLE_SIZE,
                "a number of connections",
            )?,
        };
        // The rules' default SYN-only timeout (closing connections have the
        // rules' own `transitory_timeout`, in minutes).
        let transitory_timeout_secs = match &a.transitory_timeout {
            None => DEFAULT_SYN_TIMEOUT_SECS,
            Some(v) => self.u32_in(
                v,
                "appliance.transitory_timeout",
                MIN_SYN_TIMEOUT_SECS,
                MAX_SYN_TIMEOUT_SECS,
                "a number of seconds",
            )?,
        };
        let fragments = self.fragment_limits(a)?;
        let seed = match &a.seed {
            None => None,
            Some(v) => Some(self.int(v, "appliance.seed", 0, i64::MAX, "a seed")? as u64),
        };

        Ok(Appliance {
            mac,
            addresses,
            gateway_mac,
            gateway4,
            gateway6,
            flow_table_size,
            transitory_timeout_secs,
            seed,
            fragments,
            siit_addresses,
        })
    }

    /// `appliance.siit_addresses`: IPv4 unicast, each once, none an
    /// appliance address (frontends are checked in [`Cx::siit`]).
    fn siit_addresses(
        &self,
        a: &RawAppliance,
        addresses: &[IpAddr],
    ) -> Result<Vec<Ipv4Addr>, ConfigError> {
        let list = a.siit_addresses.as_deref().unwrap_or_default();
        if let Some(v) = list.get(MAX_SIIT_ADDRESSES) {
            return Err(self.err(
                v.span(),
                format!("appliance.siit_addresses[{MAX_SIIT_ADDRESSES}]"),
                Problem::TooManySiitAddresses(list.len()),
            ));
        }
        let mut out = Vec::new();
        for (i, s) in list.iter().enumerate() {
            let field = format!("appliance.siit_addresses[{i}]");
            let addr = match self.ip(s, &field)? {
                IpAddr::V4(a) => a,
                other => return Err(self.wrong_family(s, &field, other, Family::Ipv4)),
            };
            if out.contains(&addr) {
                return Err(self.err(s.span(), field, Problem::AddressTwice(addr.into())));
            }
            if addresses.contains(&IpAddr::V4(addr)) {
                return Err(self.err(
                    s.span(),
                    field,
                    Problem::SiitAddressTaken {
                        address: addr.into(),
                        by: "in appliance.addresses".into(),
                    },
                ));
            }
            out.push(addr);
        }
        Ok(out)
    }

    /// SIIT's cross-checks: a SIIT frontend needs SIIT addresses, and no
    /// SIIT address is a frontend's.
    fn siit(
        &self,
        raw: &RawConfig,
        appliance: &Appliance,
        frontends: &[Frontend],
    ) -> Result<(), ConfigError> {
        if appliance.siit_addresses.is_empty() {
            for (i, (fe, r)) in frontends.iter().zip(&raw.frontend).enumerate() {
                if let (true, Some(v)) = (fe.siit, &r.get_ref().siit) {
                    return Err(self.err(
                        v.span(),
                        format!("frontend[{i}].siit"),
                        Problem::SiitWithoutAddresses,
                    ));
                }
            }
        }
        let list = raw
            .appliance
            .as_ref()
            .and_then(|a| a.get_ref().siit_addresses.as_deref())
            .unwrap_or_default();
        for (i, (addr, s)) in appliance.siit_addresses.iter().zip(list).enumerate() {
            if let Some(fe) = frontends.iter().find(|f| f.address == IpAddr::V4(*addr)) {
                return Err(self.err(
                    s.span(),
                    format!("appliance.siit_addresses[{i}]"),
                    Problem::SiitAddressTaken {
                        address: IpAddr::V4(*addr),
                        by: format!("frontend \"{}\"'s address", fe.name),
                    },
                ));
            }
        }
        Ok(())
    }

    fn wrong_family(
        &self,
        v: &Spanned<String>,
        field: &str,
        address: IpAddr,
        expected: Family,
    ) -> ConfigError {
        self.err(v.span(), field, Problem::WrongFamily { address, expected })
    }

    /// The gateways toward the clients: one for each family that has
    /// frontends, unless `gateway_mac` is set; each in a prefix of the
    /// public port.
    fn gateways(
        &self,
        raw: &RawConfig,
        a: &Appliance,
        ports: &Ports,
        frontends: &[Frontend],
    ) -> Result<(), ConfigError> {
        let table = raw.appliance.as_ref().expect("checked");
        let ra = table.get_ref();
        for (family, given, value, key) in [
            (
                Family::Ipv4,
                a.gateway4.map(IpAddr::V4),
                &ra.gateway4,
                "gateway4",
            ),
            (
                Family::Ipv6,
                a.gateway6.map(IpAddr::V6),
                &ra.gateway6,
                "gateway6",
            ),
        ] {
            let field = format!("appliance.{key}");
            match (given, value) {
                (Some(g), Some(v)) if Ports::on_link(&ports.public_addresses, g).is_none() => {
                    return Err(self.err(
                        v.span(),
                        field,
                        Problem::NotOnLink {
                            address: g,
                            what: OnLink::Gateway,
                            key: "public_addresses",
                        },
                    ));
                }
                (Some(_), _) => {}
                _ if a.gateway_mac == MacAddr::ZERO
                    && frontends.iter().any(|f| Family::of(f.address) == family) =>
                {
                    return Err(self.err(table.span(), field, Problem::NoGateway(family)));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// `ports.public_addresses` or `private_addresses`: `address/length`,
    /// each address usable and listed once.
    fn interfaces(
        &self,
        list: &Option<Vec<Spanned<String>>>,
        key: &str,
    ) -> Result<Vec<Interface>, ConfigError> {
        let mut out: Vec<Interface> = Vec::new();
        for (i, v) in list.iter().flatten().enumerate() {
            let field = format!("ports.{key}[{i}]");
            let bad = || {
                self.err(
                    v.span(),
                    &field,
                    Problem::InvalidInterface(v.get_ref().clone()),
                )
            };
            let Some((addr, len)) = v.get_ref().split_once('/') else {
                return Err(bad());
            };
            let addr_v = Spanned::new(v.span(), addr.to_string());
            let address = self.ip(&addr_v, &field)?;
            let max = match address {
                IpAddr::V4(_) => 32,
                IpAddr::V6(_) => 128,
            };
            let prefix_len = match len.parse::<u8>() {
                Ok(n) if (1..=max).contains(&n) => n,
                _ => return Err(bad()),
            };
            if out.iter().any(|o| o.address == address) {
                return Err(self.err(v.span(), field, Problem::AddressTwice(address)));
            }
            out.push(Interface {
                address,
                prefix_len,
            });
        }
        Ok(out)
    }

    /// `appliance.fragment_*`: each worker's fragment table and hold area.
    fn fragment_limits(&self, a: &RawAppliance) -> Result<fragment::Limits, ConfigError> {
        let d = fragment::Limits::default();
        let field = |v: &Option<Spanned<i64>>,
                     name: &str,
                     default: u32,
                     min: u32,
                     max: u32,
                     what: &'static str| {
            match v {
                None => Ok(default),
                Some(v) => self.u32_in(v, &format!("appliance.{name}"), min, max, what),
            }
        };
        Ok(fragment::Limits {
            table_size: field(
                &a.fragment_table_size,
                "fragment_table_size",
                d.table_size,
                fragment::MIN_TABLE_SIZE,
                fragment::MAX_TABLE_SIZE,
                "a number of datagrams",
            )?,
            hold_packets: field(
                &a.fragment_hold_packets,
                "fragment_hold_packets",
                d.hold_packets,
                0,
                fragment::MAX_HOLD_PACKETS,
                "a number of packets",
            )?,
            hold_bytes: field(
                &a.fragment_hold_bytes,
                "fragment_hold_bytes",
                d.hold_bytes,
                0,
                fragment::MAX_HOLD_BYTES,
                "a number of bytes",
            )?,
            timeout_secs: field(
                &a.fragment_timeout,
                "fragment_timeout",
                d.timeout_secs,
                fragment::MIN_TIMEOUT_SECS,
                fragment::MAX_TIMEOUT_SECS,
                "a number of seconds",
            )?,
        })
    }

    /// `appliance.addresses`: unicast, each once.
    fn appliance_addresses(&self, a: &RawAppliance) -> Result<Vec<IpAddr>, ConfigError> {
        let mut addresses = Vec::new();
        for (i, s) in a.addresses.iter().flatten().enumerate() {
            let field = format!("appliance.addresses[{i}]");
            let addr = self.ip(s, &field)?;
            if addresses.contains(&addr) {
                return Err(self.err(s.span(), field, Problem::AddressTwice(addr)));
            }
            addresses.push(addr);
        }
        Ok(addresses)
    }

    // ---- [ports] -------------------------------------------------------

    fn ports(&self, raw: &RawConfig) -> Result<Ports, ConfigError> {
        let mut out = Ports::default();
        let Some(table) = &raw.ports else {
            return Ok(out);
        };
        let t: &RawPorts = table.get_ref();
        if let Some(v) = &t.topology {
            out.topology = match v.get_ref().as_str() {
                "one-arm" => Topology::OneArm,
                "two-arm" => Topology::TwoArm,
                other => {
                    return Err(self.err(
                        v.span(),
                        "ports.topology",
                        Problem::UnknownTopology(other.to_string()),
                    ))
                }
            };
        }
        if let Some(v) = &t.public {
            out.public = self.u16_in(v, "ports.public", 0, MAX_PORT_ID, "a DPDK port id")?;
        }
        if let Some(v) = &t.private {
            out.private = self.u16_in(v, "ports.private", 0, MAX_PORT_ID, "a DPDK port id")?;
        }
        if let Some(v) = &t.workers {
            out.workers = self.u16_in(
                v,
                "ports.workers",
                MIN_WORKERS,
                MAX_WORKERS,
                "a number of worker lcores",
            )?;
        }
        if let Some(v) = &t.mbufs {
            out.mbufs = self.u32_in(v, "ports.mbufs", MIN_MBUFS, MAX_MBUFS, "a number of mbufs")?;
        }
        out.public_addresses = self.interfaces(&t.public_addresses, "public_addresses")?;
        out.private_addresses = self.interfaces(&t.private_addresses, "private_addresses")?;
        if out.topology == Topology::OneArm {
            if let Some(v) = t.private_addresses.as_ref().and_then(|l| l.first()) {
                return Err(self.err(
                    v.span(),
                    "ports.private_addresses[0]",
                    Problem::PrivateAddressesOneArm,
                ));
            }
        }
        if out.topology == Topology::TwoArm && out.public == out.private {
            let span = t.private.as_ref().map_or(table.span(), |v| v.span());
            return Err(self.err(span, "ports.private", Problem::SamePorts(out.public)));
        }
        Ok(out)
    }

    // ---- [[frontend]] --------------------------------------------------

    fn frontends(&self, raw: &[Spanned<RawFrontend>]) -> Result<Vec<Frontend>, ConfigError> {
        // Counted first: the first frontend past the limit is named.
        if let Some(f) = raw.get(MAX_FRONTENDS) {
            return Err(self.err(
                f.span(),
                format!("frontend[{MAX_FRONTENDS}]"),
                Problem::TooManyFrontends(raw.len()),
            ));
        }
        let mut out: Vec<Frontend> = Vec::with_capacity(raw.len());
        for (i, f) in raw.iter().enumerate() {
            let fe = self.frontend(f, &format!("frontend[{i}]"), &out)?;
            out.push(fe);
        }
        Ok(out)
    }

    /// One frontend, unique in name and in address, port and protocol among `before`.
    fn frontend(
        &self,
        raw: &Spanned<RawFrontend>,
        path: &str,
        before: &[Frontend],
    ) -> Result<Frontend, ConfigError> {
        let span = raw.span();
        let f = raw.get_ref();

        let name_raw = self.required(&f.name, &span, path, "name", "a unique name")?;
        let name = self.name(name_raw, &format!("{path}.name"), Named::Frontend)?;
        if let Some(j) = before.iter().position(|o| o.name == name) {
            return Err(self.err(
                name_raw.span(),
                format!("{path}.name"),
                Problem::DuplicateName {
                    what: Named::Frontend,
                    name,
                    other: j,
                },
            ));
        }
        let address_raw = self.required(
            &f.address,
            &span,
            path,
            "address",
            "the public IPv4 or IPv6 address",
        )?;
        let address = self.ip(address_raw, &format!("{path}.address"))?;
        let port = self.port(
            self.required(&f.port, &span, path, "port", "the public port")?,
            &format!("{path}.port"),
        )?;
        let protocol = self.keyword(
            self.required(&f.protocol, &span, path, "protocol", "\"tcp\" or \"udp\"")?,
            &format!("{path}.protocol"),
            Keyword::Protocol,
            &[("tcp", IpProtocol::Tcp), ("udp", IpProtocol::Udp)],
        )?;
        if let Some(o) = before
            .iter()
            .find(|o| o.address == address && o.port == port && o.protocol == protocol)
        {
            return Err(self.err(
                address_raw.span(),
                format!("{path}.address"),
                Problem::DuplicateFrontend(Box::new(DuplicateFrontend {
                    name,
                    address,
                    port,
                    protocol,
                    other: o.name.clone(),
                })),
            ));
        }
        let siit = match &f.siit {
            Some(v) if *v.get_ref() && !address.is_ipv6() => {
                return Err(self.err(
                    v.span(),
                    format!("{path}.siit"),
                    Problem::SiitNotIpv6(address),
                ))
            }
            Some(v) => *v.get_ref(),
            None => false,
        };
        Ok(Frontend {
            name,
            address,
            port,
            protocol,
            siit,
        })
    }

    // ---- [[pool]] ------------------------------------------------------

    fn pools(&self, raw: &[Spanned<RawPool>], ports: &Ports) -> Result<Vec<Pool>, ConfigError> {
        let mut out: Vec<Pool> = Vec::with_capacity(raw.len());
        for (i, p) in raw.iter().enumerate() {
            let pool = self.pool(p, &format!("pool[{i}]"), &out, ports)?;
            out.push(pool);
        }
        Ok(out)
    }

    /// One pool, its name unique among `before`.
    fn pool(
        &self,
        raw: &Spanned<RawPool>,
        path: &str,
        before: &[Pool],
        ports: &Ports,
    ) -> Result<Pool, ConfigError> {
        let span = raw.span();
        let p = raw.get_ref();

        let name_raw = self.required(&p.name, &span, path, "name", "a unique name")?;
        let name = self.name(name_raw, &format!("{path}.name"), Named::Pool)?;
        if let Some(j) = before.iter().position(|o| o.name == name) {
            return Err(self.err(
                name_raw.span(),
                format!("{path}.name"),
                Problem::DuplicateName {
                    what: Named::Pool,
                    name,
                    other: j,
                },
            ));
        }
        let next_hop_mac = p
            .next_hop_mac
            .as_ref()
            .map(|m| self.backend_mac(m, &format!("{path}.next_hop_mac")))
            .transpose()?;

        let on_link = ports.backend_addresses();
        let on_link_key = match ports.topology {
            Topology::OneArm => "public_addresses",
            Topology::TwoArm => "private_addresses",
        };
        let next_hop = match &p.next_hop {
            None => None,
            Some(v) => {
                let field = format!("{path}.next_hop");
                let hop = self.ip(v, &field)?;
                if Ports::on_link(on_link, hop).is_none() {
                    return Err(self.err(
                        v.span(),
                        field,
                        Problem::NotOnLink {
                            address: hop,
                            what: OnLink::NextHop,
                            key: on_link_key,
                        },
                    ));
                }
                Some((hop, v))
            }
        };
        let resolve = Resolve {
            next_hop_mac,
            next_hop: next_hop.map(|(h, _)| h),
            on_link,
            on_link_key,
        };
        let mut backends: Vec<Backend> = Vec::with_capacity(p.backend.len());
        for (j, b) in p.backend.iter().enumerate() {
            let path = format!("{path}.backend[{j}]");
            let backend = self.backend(b, &path, &name, &resolve, &backends)?;
            backends.push(backend);
        }
        if let (Some((hop, v)), Some(first)) = (next_hop, backends.first()) {
            if Family::of(hop) != Family::of(first.address) {
                return Err(self.wrong_family(
                    v,
                    &format!("{path}.next_hop"),
                    hop,
                    Family::of(first.address),
                ));
            }
        }
        let health = p
            .health
            .as_ref()
            .map(|h| self.health(h, &format!("{path}.health")))
            .transpose()?;
        Ok(Pool {
            name,
            backends,
            health,
            next_hop: next_hop.map(|(h, _)| h),
        })
    }

    /// One backend of pool `pool`, its address and port unique among `before`.
    fn backend(
        &self,
        raw: &Spanned<RawBackend>,
        path: &str,
        pool: &str,
        resolve: &Resolve,
        before: &[Backend],
    ) -> Result<Backend, ConfigError> {
        let span = raw.span();
        let b = raw.get_ref();

        let address_raw = self.required(
            &b.address,
            &span,
            path,
            "address",
            "the backend's IPv4 or IPv6 address",
        )?;
        let address = self.ip(address_raw, &format!("{path}.address"))?;
        if let Some(first) = before.first() {
            if Family::of(first.address) != Family::of(address) {
                return Err(self.err(
                    address_raw.span(),
                    format!("{path}.address"),
                    Problem::MixedPool(Box::new(MixedPool {
                        pool: pool.to_string(),
                        address,
                        first: first.address,
                        first_index: 0,
                    })),
                ));
            }
        }
        let port = self.port(
            self.required(&b.port, &span, path, "port", "the backend's port")?,
            &format!("{path}.port"),
        )?;
        if let Some(k) = before
            .iter()
            .position(|o| o.address == address && o.port == port)
        {
            return Err(self.err(
                address_raw.span(),
                format!("{path}.address"),
                Problem::DuplicateBackend {
                    address,
                    port,
                    pool: pool.to_string(),
                    other: k,
                },
            ));
        }
        let weight = match &b.weight {
            None => DEFAULT_WEIGHT,
            Some(w) => self.u32_in(w, &format!("{path}.weight"), 0, MAX_WEIGHT, "a weight")?,
        };
        let mac = match (&b.mac, resolve.next_hop_mac) {
            (Some(m), _) => self.backend_mac(m, &format!("{path}.mac"))?,
            (None, Some(m)) => m,
            (None, None) => self.resolved(resolve, address, address_raw, path, span, pool)?,
        };
        Ok(Backend {
            address,
            port,
            weight,
            mac,
        })
    }

    /// The MAC of a backend without one, [`MacAddr::ZERO`]: resolved at its
    /// pool's next hop, or at its own address, which must then be on-link.
    /// Without any address of its family on the backends' port, the key
    /// `mac` is missing (as before natrix resolved neighbours).
    fn resolved(
        &self,
        resolve: &Resolve,
        address: IpAddr,
        address_raw: &Spanned<String>,
        path: &str,
        span: Span,
        pool: &str,
    ) -> Result<MacAddr, ConfigError> {
        if resolve.next_hop.is_some() || Ports::on_link(resolve.on_link, address).is_some() {
            return Ok(MacAddr::ZERO);
        }
        let family = Family::of(address);
        if resolve
            .on_link
            .iter()
            .any(|i| Family::of(i.address) == family)
        {
            return Err(self.err(
                address_raw.span(),
                format!("{path}.address"),
                Problem::NotOnLink {
                    address,
                    what: OnLink::Backend,
                    key: resolve.on_link_key,
                },
            ));
        }
        Err(self.err(
            span,
            format!("{path}.mac"),
            Problem::BackendWithoutMac {
                pool: pool.to_string(),
            },
        ))
    }

    // ---- [pool.health] -------------------------------------------------

    fn health(&self, raw: &Spanned<RawHealth>, path: &str) -> Result<HealthCheck, ConfigError> {
        let h = raw.get_ref();
        let mut out = HealthCheck::default();
        if let Some(v) = &h.protocol {
            out.protocol = self.keyword(
                v,
                &format!("{path}.protocol"),
                Keyword::HealthProtocol,
                &[("tcp", HealthProtocol::Tcp), ("http", HealthProtocol::Http)],
            )?;
        }
        if let Some(v) = &h.port {
            out.port = Some(self.port(v, &format!("{path}.port"))?);
        }
        if let Some(v) = &h.path {
            out.path = self.health_path(v, &format!("{path}.path"), out.protocol)?;
        }
        let interval_secs = match &h.interval {
            None => DEFAULT_HEALTH_INTERVAL_SECS,
            Some(v) => self.u32_in(
                v,
                &format!("{path}.interval"),
                MIN_HEALTH_INTERVAL_SECS,
                MAX_HEALTH_INTERVAL_SECS,
                "a number of seconds",
            )?,
        };
        out.interval = Duration::from_secs(u64::from(interval_secs));
        out.timeout = match &h.timeout {
            None => Duration::from_secs(u64::from(interval_secs.min(DEFAULT_HEALTH_TIMEOUT_SECS))),
            Some(v) => self.health_timeout(v, &format!("{path}.timeout"), interval_secs)?,
        };
        let threshold = |v: &Option<Spanned<i64>>, key: &str, default: u32| match v {
            None => Ok(default),
            Some(v) => self.u32_in(
                v,
                &format!("{path}.{key}"),
                MIN_HEALTH_THRESHOLD,
                MAX_HEALTH_THRESHOLD,
                "a number of consecutive probes",
            ),
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
            out.down_connections = self.keyword(
                v,
                &format!("{path}.down_connections"),
                Keyword::DownConnections,
                &[
                    ("keep", DownConnections::Keep),
                    ("drop", DownConnections::Drop),
                ],
            )?;
        }
        Ok(out)
    }

    /// The request path of HTTP probes: absolute, printable ASCII, not too long.
    fn health_path(
        &self,
        v: &Spanned<String>,
        field: &str,
        protocol: HealthProtocol,
    ) -> Result<String, ConfigError> {
        if protocol != HealthProtocol::Http {
            return Err(self.err(v.span(), field, Problem::PathWithoutHttp));
        }
        let s = v.get_ref();
        if !s.starts_with('/') || s.len() > MAX_HEALTH_PATH_LEN {
            return Err(self.err(v.span(), field, Problem::InvalidPath(s.clone())));
        }
        if let Some(c) = s.chars().find(|c| !c.is_ascii_graphic()) {
            return Err(self.err(
                v.span(),
                field,
                Problem::PathCharacter {
                    path: s.clone(),
                    character: c,
                },
            ));
        }
        Ok(s.clone())
    }

    /// A probe's timeout, in seconds (a float), at most the interval.
    fn health_timeout(
        &self,
        v: &Spanned<f64>,
        field: &str,
        interval: u32,
    ) -> Result<Duration, ConfigError> {
        let value = *v.get_ref();
        if !(MIN_HEALTH_TIMEOUT_SECS..=f64::from(MAX_HEALTH_INTERVAL_SECS)).contains(&value) {
            return Err(self.err(
                v.span(),
                field,
                Problem::TimeoutOutOfRange { value, interval },
            ));
        }
        if value > f64::from(interval) {
            return Err(self.err(
                v.span(),
                field,
                Problem::TimeoutOverInterval { value, interval },
            ));
        }
        Ok(Duration::from_secs_f64(value))
    }

    // ---- [[rule]] ------------------------------------------------------

    /// One load-balancing rule; `syn_default` is its SYN-only timeout
    /// unless it sets one (`appliance.transitory_timeout`).
    fn rule(
        &self,
        raw: &Spanned<RawRule>,
        user: User,
        links: &mut Links,
        syn_default: u32,
    ) -> Result<Rule, ConfigError> {
        let span = raw.span();
        let r = raw.get_ref();
        let path = &user.to_string();

        let fe_name = self.required(&r.frontend, &span, path, "frontend", "a frontend name")?;
        let frontend = self.claim_frontend(fe_name, user, links)?;

        let pool_name = self.required(&r.pool, &span, path, "pool", "a pool name")?;
        let pool = *links
            .pool_names
            .get(pool_name.get_ref().as_str())
            .ok_or_else(|| {
                self.err(
                    pool_name.span(),
                    format!("{path}.pool"),
                    Problem::NoSuch {
                        what: Named::Pool,
                        name: pool_name.get_ref().clone(),
                        known: links.pools.iter().map(|p| p.name.clone()).collect(),
                    },
                )
            })?;

        let mode = match &r.mode {
            None => Mode::default(),
            Some(m) => Mode::from_name(m.get_ref()).ok_or_else(|| {
                self.err(
                    m.span(),
                    format!("{path}.mode"),
                    Problem::UnknownMode(m.get_ref().clone()),
                )
            })?,
        };

        let idle_timeout_mins = match &r.idle_timeout {
            None => DEFAULT_IDLE_TIMEOUT_MINS,
            Some(v) => self.u32_in(
                v,
                &format!("{path}.idle_timeout"),
                MIN_IDLE_TIMEOUT_MINS,
                MAX_IDLE_TIMEOUT_MINS,
                "a number of minutes",
            )?,
        };
        let transitory_timeout_mins = match &r.transitory_timeout {
            None => DEFAULT_TRANSITORY_TIMEOUT_MINS,
            Some(v) => self.u32_in(
                v,
                &format!("{path}.transitory_timeout"),
                MIN_TRANSITORY_TIMEOUT_MINS,
                MAX_TRANSITORY_TIMEOUT_MINS,
                "a number of minutes",
            )?,
        };
        let syn_timeout_secs = match &r.syn_timeout {
            None => syn_default,
            Some(v) => self.u32_in(
                v,
                &format!("{path}.syn_timeout"),
                MIN_SYN_TIMEOUT_SECS,
                MAX_SYN_TIMEOUT_SECS,
                "a number of seconds",
            )?,
        };

        let maglev_table_size =
            self.maglev_table_size(r, pool_name, path, mode, &links.pools[pool])?;

        let protocol = links.frontends[frontend].protocol;
        let tcp_reset_on_idle = match &r.tcp_reset_on_idle {
            Some(v) if *v.get_ref() && !matches!(protocol, IpProtocol::Tcp) => {
                return Err(self.err(
                    v.span(),
                    format!("{path}.tcp_reset_on_idle"),
                    Problem::ResetOnIdleNotTcp {
                        frontend: links.frontends[frontend].name.clone(),
                        protocol,
                    },
                ))
            }
            Some(v) if *v.get_ref() && links.frontends[frontend].siit => {
                return Err(self.err(
                    v.span(),
                    format!("{path}.tcp_reset_on_idle"),
                    Problem::SiitUnsupported {
                        frontend: links.frontends[frontend].name.clone(),
                        what: "tcp_reset_on_idle",
                    },
                ))
            }
            Some(v) => *v.get_ref(),
            None => false,
        };
        // One family per pool: its first backend speaks for all.
        if let Some(b) = links.pools[pool].backends.first() {
            check_family(b.address, &links.frontends[frontend])
                .map_err(|p| self.err(pool_name.span(), format!("{path}.pool"), p))?;
        }
        for b in &links.pools[pool].backends {
            check_backend_endpoint(b.address, b.port, &links.frontends[frontend])
                .map_err(|p| self.err(pool_name.span(), format!("{path}.pool"), p))?;
            self.claim_endpoint(
                (b.address, b.port, protocol),
                frontend,
                user,
                pool_name.span(),
                &format!("{path}.pool"),
                links,
            )?;
        }

        Ok(Rule {
            frontend,
            pool,
            mode,
            idle_timeout_mins,
            transitory_timeout_mins,
            syn_timeout_secs,
            tcp_reset_on_idle,
            maglev_table_size,
        })
    }

    /// The rule's Maglev table size: as written (prime, at least 100 entries
    /// per backend), or the default for the pool, which a hashing mode must be
    /// able to build.
    fn maglev_table_size(
        &self,
        r: &RawRule,
        pool_name: &Spanned<String>,
        path: &str,
        mode: Mode,
        pool: &Pool,
    ) -> Result<u32, ConfigError> {
        let n = pool.backends.len();
        let Some(v) = &r.maglev_table_size else {
            let size = default_maglev_table_size(n);
            if mode != Mode::Random && size > MAX_MAGLEV_TABLE_SIZE {
                return Err(self.err(
                    pool_name.span(),
                    format!("{path}.pool"),
                    Problem::TooManyBackends {
                        pool: pool.name.clone(),
                        backends: n,
                        mode,
                        size,
                    },
                ));
            }
            return Ok(size);
        };
        let field = format!("{path}.maglev_table_size");
        let size = self.u32_in(
            v,
            &field,
            MIN_MAGLEV_TABLE_SIZE,
            MAX_MAGLEV_TABLE_SIZE,
            "a prime table size",
        )?;
        if !is_prime(size) {
            let next = next_prime(size);
            return Err(self.err(v.span(), field, Problem::NotPrime { size, next }));
        }
        let min = (n as u64).saturating_mul(u64::from(MAGLEV_ENTRIES_PER_BACKEND));
        if u64::from(size) < min {
            return Err(self.err(
                v.span(),
                field,
                Problem::TableTooSmall {
                    size,
                    pool: pool.name.clone(),
                    backends: n,
                    min,
                },
            ));
        }
        Ok(size)
    }

    // ---- [[nat_rule]] --------------------------------------------------

    /// One inbound NAT rule.
    fn nat_rule(
        &self,
        raw: &Spanned<RawNatRule>,
        user: User,
        links: &mut Links,
        ports: &Ports,
    ) -> Result<NatRule, ConfigError> {
        let span = raw.span();
        let r = raw.get_ref();
        let path = &user.to_string();

        let fe_name = self.required(&r.frontend, &span, path, "frontend", "a frontend name")?;
        let frontend = self.claim_frontend(fe_name, user, links)?;
        if links.frontends[frontend].siit {
            return Err(self.err(
                fe_name.span(),
                format!("{path}.frontend"),
                Problem::SiitUnsupported {
                    frontend: links.frontends[frontend].name.clone(),
                    what: "inbound NAT rules (they keep no state to translate by)",
                },
            ));
        }

        let address_raw = self.required(
            &r.address,
            &span,
            path,
            "address",
            "the backend's IPv4 or IPv6 address",
        )?;
        let address = self.ip(address_raw, &format!("{path}.address"))?;
        let port = self.port(
            self.required(&r.port, &span, path, "port", "the backend's port")?,
            &format!("{path}.port"),
        )?;
        // Without a mac, the backend is resolved on-link.
        let on_link = ports.backend_addresses();
        let mac = match &r.mac {
            Some(m) => self.backend_mac(m, &format!("{path}.mac"))?,
            None if Ports::on_link(on_link, address).is_some() => MacAddr::ZERO,
            None if on_link
                .iter()
                .any(|i| Family::of(i.address) == Family::of(address)) =>
            {
                return Err(self.err(
                    address_raw.span(),
                    format!("{path}.address"),
                    Problem::NotOnLink {
                        address,
                        what: OnLink::Backend,
                        key: match ports.topology {
                            Topology::OneArm => "public_addresses",
                            Topology::TwoArm => "private_addresses",
                        },
                    },
                ));
            }
            None => {
                self.required(&r.mac, &span, path, "mac", "the backend's MAC address")?;
                unreachable!("mac is missing")
            }
        };

        check_family(address, &links.frontends[frontend])
            .map_err(|p| self.err(address_raw.span(), format!("{path}.address"), p))?;
        check_backend_endpoint(address, port, &links.frontends[frontend])
            .map_err(|p| self.err(address_raw.span(), format!("{path}.address"), p))?;
        self.claim_endpoint(
            (address, port, links.frontends[frontend].protocol),
            frontend,
            user,
            address_raw.span(),
            &format!("{path}.address"),
            links,
        )?;

        Ok(NatRule {
            frontend,
            backend: Backend {
                address,
                port,
                weight: DEFAULT_WEIGHT,
                mac,
            },
        })
    }

    // ---- Links between sections ----------------------------------------

    /// The frontend `name` names, recorded as used by `user`: each frontend
    /// serves one rule or nat_rule.
    fn claim_frontend(
        &self,
        name: &Spanned<String>,
        user: User,
        links: &mut Links,
    ) -> Result<usize, ConfigError> {
        let field = format!("{user}.frontend");
        let Some(&frontend) = links.frontend_names.get(name.get_ref().as_str()) else {
            return Err(self.err(
                name.span(),
                field,
                Problem::NoSuch {
                    what: Named::Frontend,
                    name: name.get_ref().clone(),
                    known: links.frontends.iter().map(|f| f.name.clone()).collect(),
                },
            ));
        };
        if let Some(other) = links.used_by[frontend] {
            return Err(self.err(
                name.span(),
                field,
                Problem::FrontendTaken {
                    frontend: links.frontends[frontend].name.clone(),
                    user: other,
                },
            ));
        }
        links.used_by[frontend] = Some(user);
        Ok(frontend)
    }

    /// Records that backend endpoint `ep` sits behind `frontend` through `user`;
    /// an endpoint may sit behind only one frontend, or replies would be ambiguous.
    fn claim_endpoint(
        &self,
        ep: Endpoint,
        frontend: usize,
        user: User,
        span: Span,
        field: &str,
        links: &mut Links,
    ) -> Result<(), ConfigError> {
        match links.behind.get(&ep) {
            Some(&(other, other_user)) if other != frontend => Err(self.err(
                span,
                field,
                Problem::AmbiguousReturn(Box::new(Ambiguity {
                    address: ep.0,
                    port: ep.1,
                    protocol: ep.2,
                    first: (links.frontends[other].name.clone(), other_user),
                    second: (links.frontends[frontend].name.clone(), user),
                })),
            )),
            Some(_) => Ok(()),
            None => {
                links.behind.insert(ep, (frontend, user));
                Ok(())
            }
        }
    }

    /// Every frontend is used by a rule or a nat_rule.
    fn every_frontend_used(&self, raw: &RawConfig, links: &Links) -> Result<(), ConfigError> {
        for (i, (f, used)) in links.frontends.iter().zip(&links.used_by).enumerate() {
            if used.is_none() {
                let name = raw.frontend[i].get_ref().name.as_ref().expect("checked");
                return Err(self.err(
                    name.span(),
                    format!("frontend[{i}].name"),
                    Problem::FrontendUnused(f.name.clone()),
                ));
            }
        }
        Ok(())
    }

    /// A pool that no rule uses is allowed, but said in the log.
    fn warn_unused_pools(&self, pools: &[Pool], rules: &[Rule]) {
        for (p, pool) in pools.iter().enumerate() {
            if !rules.iter().any(|r| r.pool == p) {
                log::warn!(
                    "{}: pool \"{}\" is not used by any rule",
                    self.file,
                    pool.name
                );
            }
        }
    }
}
