//! The neighbour cache: the MAC of each next hop natrix sends to (the
//! gateways toward the clients, the backends or their pools' next hops),
//! resolved with ARP (RFC 826) and Neighbor Discovery (RFC 4861) from the
//! management thread.
//!
//! The states follow RFC 4861 section 7.3.2, for both families:
//!
//! ```text
//!            solicited reply                 no confirmation for `reachable`
//! INCOMPLETE ───────────────► REACHABLE ─────────────────────────────► STALE
//!     │  ▲                      ▲   │ refresh (unicast) from                │
//!     │  │ retry every          │   │ `reachable - refresh_margin` on       │ `max_probes`
//!     │  │ `failed_retry`       │   └── reply ──┘                           │ unanswered
//!     ▼  │                      └──────────── reply ────────────────────────┤
//!   FAILED ◄── `max_probes` unanswered (INCOMPLETE) ◄───────────────────────┘
//! ```
//!
//! A REACHABLE or STALE entry's MAC is used; an INCOMPLETE or FAILED one has
//! none, and the data path drops what it would send there
//! (`neighbour-unresolved`). Unlike a host, natrix refreshes its entries
//! before they expire instead of waiting for traffic, so a next hop in use
//! never goes through a gap. A changed MAC is taken from a solicited reply,
//! from an ARP message (RFC 826 merges the sender of every ARP packet into
//! an existing entry), or from an advertisement with Override (RFC 4861
//! section 7.2.5); an advertisement without Override only makes a REACHABLE
//! entry STALE, which a probe then settles.
//!
//! Time is a [`Duration`] since an arbitrary start, passed in by the
//! caller, so the tests drive a fake clock.

use crate::config::{Config, Interface, Topology};
use crate::control::plane::ControlPlane;
use crate::dataplane::neighbour::{Arm, Link, Outgoing, Seen, Sighting};
use crate::wire::{arp, ethernet, icmpv6, ipv4, ipv6, MacAddr};
use hashbrown::HashMap;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// The state of one entry (RFC 4861 section 7.3.2; PROBE and DELAY are
/// folded into the refresh of REACHABLE and the probes of STALE).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Asked, not answered yet: no MAC.
    Incomplete,
    /// Confirmed within `reachable`.
    Reachable,
    /// Not confirmed lately (or told of a change without confirmation): the
    /// MAC is still used while probes confirm it.
    Stale,
    /// Probes went unanswered: no MAC; asked again every `failed_retry`.
    Failed,
}

impl State {
    /// `incomplete`, `reachable`, `stale` or `failed`.
    pub fn name(self) -> &'static str {
        match self {
            State::Incomplete => "incomplete",
            State::Reachable => "reachable",
            State::Stale => "stale",
            State::Failed => "failed",
        }
    }

    /// Whether the entry's MAC is used.
    pub fn usable(self) -> bool {
        matches!(self, State::Reachable | State::Stale)
    }
}

/// The cache's timers and limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// Time between two probes of one entry (RFC 4861's RetransTimer, 1 s).
    pub retrans: Duration,
    /// Probes without an answer before an entry fails (RFC 4861's
    /// MAX_MULTICAST_SOLICIT and MAX_UNICAST_SOLICIT, 3).
    pub max_probes: u32,
    /// How long a confirmation holds (RFC 4861's REACHABLE_TIME, 30 s).
    pub reachable: Duration,
    /// How long before `reachable` ends the refresh starts.
    pub refresh_margin: Duration,
    /// Time between two attempts at a FAILED entry.
    pub failed_retry: Duration,
}

impl Default for Params {
    fn default() -> Params {
        Params {
            retrans: Duration::from_secs(1),
            max_probes: 3,
            reachable: Duration::from_secs(30),
            refresh_margin: Duration::from_secs(5),
            failed_retry: Duration::from_secs(5),
        }
    }
}

/// A request the cache wants sent: an ARP request or a Neighbor
/// Solicitation for `ip` on `arm`, to `unicast` (a refresh of a known MAC)
/// or broadcast / solicited-node multicast.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe {
    pub ip: IpAddr,
    pub arm: Arm,
    pub unicast: Option<MacAddr>,
}

/// One entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub state: State,
    /// The MAC (kept in FAILED, for the table; not used).
    pub mac: Option<MacAddr>,
    pub arm: Arm,
    /// When the state last changed or the entry was last confirmed.
    pub since: Duration,
    /// When it was last confirmed by a solicited reply.
    confirmed: Duration,
    /// Probes sent since the last confirmation.
    probes: u32,
    /// When the next probe is due.
    next: Duration,
}

/// A row of the neighbour table, as `stats` and `top` show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub ip: IpAddr,
    pub mac: Option<MacAddr>,
    pub state: State,
    pub arm: Arm,
    /// Time since the state last changed or the entry was last confirmed.
    pub age: Duration,
}

/// The neighbour cache: only the addresses natrix resolves ([`Cache::want`])
/// have entries, so what the wire says cannot grow it.
#[derive(Debug, Default)]
pub struct Cache {
    params: Params,
    entries: BTreeMap<IpAddr, Entry>,
    /// Bumped whenever a usable MAC appears, changes or goes away: the
    /// snapshot is rebuilt when it moves.
    version: u64,
}

impl Cache {
    pub fn new(params: Params) -> Cache {
        Cache {
            params,
            ..Cache::default()
        }
    }

    /// Starts resolving `ip` on `arm` (the first probe goes out at the next
    /// [`Cache::tick`]); an address already wanted is left as it is.
    pub fn want(&mut self, ip: IpAddr, arm: Arm, now: Duration) {
        self.entries.entry(ip).or_insert(Entry {
            state: State::Incomplete,
            mac: None,
            arm,
            since: now,
            confirmed: now,
            probes: 0,
            next: now,
        });
    }

    /// Stops resolving every address not in `keep`.
    pub fn retain(&mut self, keep: impl Fn(&IpAddr) -> bool) {
        let before = self.entries.len();
        let mut lost_usable = false;
        self.entries.retain(|ip, e| {
            let k = keep(ip);
            lost_usable |= !k && e.state.usable();
            k
        });
        if lost_usable || before != self.entries.len() {
            self.version += 1;
        }
    }

    /// Bumped whenever the usable MAC of an entry changes.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The MAC to send to `ip`, if it is REACHABLE or STALE.
    pub fn mac(&self, ip: IpAddr) -> Option<MacAddr> {
        self.entries
            .get(&ip)
            .filter(|e| e.state.usable())
            .and_then(|e| e.mac)
    }

    /// The entry of `ip`.
    pub fn get(&self, ip: IpAddr) -> Option<&Entry> {
        self.entries.get(&ip)
    }

    /// Whether `ip` is wanted and FAILED.
    pub fn failed(&self, ip: IpAddr) -> bool {
        self.entries
            .get(&ip)
            .is_some_and(|e| e.state == State::Failed)
    }

    /// The table, in address order.
    pub fn rows(&self, now: Duration) -> Vec<Row> {
        self.entries
            .iter()
            .map(|(ip, e)| Row {
                ip: *ip,
                mac: e.mac,
                state: e.state,
                arm: e.arm,
                age: now.saturating_sub(e.since),
            })
            .collect()
    }

    fn set(&mut self, ip: IpAddr, now: Duration, state: State, mac: Option<MacAddr>) {
        let Some(e) = self.entries.get_mut(&ip) else {
            return;
        };
        let before = e.state.usable().then_some(e.mac).flatten();
        if e.state != state {
            e.since = now;
        }
        e.state = state;
        e.mac = mac.or(e.mac);
        let after = e.state.usable().then_some(e.mac).flatten();
        if before != after {
            self.version += 1;
        }
    }

    /// Takes in what a worker saw. Returns whether the entry of its address
    /// changed its usable MAC.
    pub fn observe(&mut self, s: &Sighting, now: Duration) -> bool {
        let Some(e) = self.entries.get(&s.ip).copied() else {
            return false;
        };
        if s.mac == MacAddr::ZERO || s.mac.is_multicast() {
            return false;
        }
        let v = self.version;
        let same = e.mac == Some(s.mac);
        match s.seen {
            // A reply (to a probe, or to anyone: ARP has no Override).
            Seen::ArpReply => self.confirm(s.ip, s.mac, now),
            // RFC 826: the sender of any ARP packet is merged into an entry
            // that exists; unconfirmed, so STALE when it changed.
            Seen::ArpRequest if !same || !e.state.usable() => {
                self.set(s.ip, now, State::Stale, Some(s.mac));
                self.reprobe(s.ip, now);
            }
            Seen::ArpRequest => {}
            // RFC 4861 section 7.2.3: a solicitation's source creates or
            // updates the entry, STALE when it changed.
            Seen::Solicitation if !same || !e.state.usable() => {
                self.set(s.ip, now, State::Stale, Some(s.mac));
                self.reprobe(s.ip, now);
            }
            Seen::Solicitation => {}
            // RFC 4861 section 7.2.5.
            Seen::Advertisement {
                solicited,
                override_,
            } => {
                if e.state == State::Incomplete || e.state == State::Failed {
                    if solicited {
                        self.confirm(s.ip, s.mac, now);
                    } else {
                        self.set(s.ip, now, State::Stale, Some(s.mac));
                        self.reprobe(s.ip, now);
                    }
                } else if override_ || same {
                    if solicited {
                        self.confirm(s.ip, s.mac, now);
                    } else if !same {
                        self.set(s.ip, now, State::Stale, Some(s.mac));
                        self.reprobe(s.ip, now);
                    }
                } else if e.state == State::Reachable {
                    // A different MAC without Override: doubt, not change.
                    self.set(s.ip, now, State::Stale, None);
                    self.reprobe(s.ip, now);
                }
            }
        }
        self.version != v
    }

    /// `ip` answered with `mac`: REACHABLE from now.
    fn confirm(&mut self, ip: IpAddr, mac: MacAddr, now: Duration) {
        self.set(ip, now, State::Reachable, Some(mac));
        if let Some(e) = self.entries.get_mut(&ip) {
            e.since = now;
            e.confirmed = now;
            e.probes = 0;
            e.next = now
                + self
                    .params
                    .reachable
                    .saturating_sub(self.params.refresh_margin);
        }
    }

    /// A STALE entry is probed from now.
    fn reprobe(&mut self, ip: IpAddr, now: Duration) {
        if let Some(e) = self.entries.get_mut(&ip) {
            e.probes = 0;
            e.next = now;
        }
    }

    /// Moves the timers on to `now`, returning the probes to send.
    pub fn tick(&mut self, now: Duration) -> Vec<Probe> {
        let p = self.params;
        let mut out = Vec::new();
        let due: Vec<IpAddr> = self
            .entries
            .iter()
            .filter(|(_, e)| {
                e.next <= now || (e.state == State::Reachable && now >= e.confirmed + p.reachable)
            })
            .map(|(ip, _)| *ip)
            .collect();
        for ip in due {
            let e = self.entries[&ip];
            // A confirmation too old: STALE, the MAC kept while probing.
            if e.state == State::Reachable && now >= e.confirmed + p.reachable {
                self.set(ip, now, State::Stale, None);
            }
            let e = self.entries[&ip];
            if e.next > now {
                continue;
            }
            if e.probes >= p.max_probes && e.state != State::Failed {
                // Unanswered: REACHABLE's refresh turns STALE first (its
                // confirmation has not run out), the others fail.
                if e.state == State::Reachable {
                    self.set(ip, now, State::Stale, None);
                    self.entries.get_mut(&ip).expect("present").probes = 0;
                } else {
                    self.set(ip, now, State::Failed, None);
                    let e = self.entries.get_mut(&ip).expect("present");
                    e.probes = 0;
                    e.next = now + p.failed_retry;
                    continue;
                }
            }
            let e = self.entries.get_mut(&ip).expect("present");
            // Refreshes go to the known MAC first, then (the last probe of
            // a STALE entry, in case the neighbour moved) to everyone.
            let unicast = match e.state {
                State::Reachable => e.mac,
                State::Stale if e.probes + 1 < p.max_probes => e.mac,
                _ => None,
            };
            out.push(Probe {
                ip,
                arm: e.arm,
                unicast,
            });
            if e.state == State::Failed {
                e.next = now + p.failed_retry;
            } else {
                e.probes += 1;
                e.next = now + p.retrans;
            }
        }
        out
    }
}

/// The management side of neighbour resolution: the cache, fed with what
/// the workers saw and told what the configuration needs, its probes sent
/// as frames through a worker, its MACs given to the control plane (which
/// publishes a snapshot when one changes).
pub struct Resolver {
    cache: Cache,
    link: Arc<Link>,
    /// natrix's MAC and addresses on each port (the sources of its probes).
    mac: MacAddr,
    public: Vec<Interface>,
    private: Vec<Interface>,
    /// Frames that did not fit in the queue to the sending worker.
    pub lost: u64,
}

impl Resolver {
    pub fn new(config: &Config, link: Arc<Link>, params: Params) -> Resolver {
        let ports = &config.ports;
        Resolver {
            cache: Cache::new(params),
            link,
            mac: config.appliance.mac,
            public: ports.public_addresses.clone(),
            private: match ports.topology {
                Topology::OneArm => ports.public_addresses.clone(),
                Topology::TwoArm => ports.private_addresses.clone(),
            },
            lost: 0,
        }
    }

    /// The cache.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// One turn, at `now`: takes in what the workers saw, follows the
    /// addresses the control plane needs, sends the probes that are due,
    /// and hands the usable MACs to the control plane.
    pub fn run(&mut self, cp: &mut ControlPlane, now: Duration) {
        let wanted = cp.neighbours_wanted();
        for &(ip, arm) in &wanted {
            self.cache.want(ip, arm, now);
        }
        self.cache.retain(|ip| wanted.iter().any(|(w, _)| w == ip));
        let cache = &mut self.cache;
        self.link.drain_seen(|s| {
            cache.observe(&s, now);
        });
        for p in self.cache.tick(now) {
            if let Some(o) = self.probe(&p) {
                if !self.link.send(o) {
                    self.lost += 1;
                }
            }
        }
        cp.set_neighbours(self.macs());
    }

    /// The usable MACs.
    pub fn macs(&self) -> HashMap<IpAddr, MacAddr> {
        self.cache
            .entries
            .keys()
            .filter_map(|&ip| self.cache.mac(ip).map(|m| (ip, m)))
            .collect()
    }

    /// The frame of probe `p`: from natrix's address in `p.ip`'s prefix on
    /// its port.
    fn probe(&self, p: &Probe) -> Option<Outgoing> {
        let on = match p.arm {
            Arm::Public => &self.public,
            Arm::Private => &self.private,
        };
        let from = on.iter().find(|i| i.contains(p.ip))?.address;
        match (from, p.ip) {
            (IpAddr::V4(me), IpAddr::V4(them)) => Outgoing::build(p.arm, |b| {
                arp::emit_request(b, self.mac, me, them, p.unicast)
            }),
            (IpAddr::V6(me), IpAddr::V6(them)) => Outgoing::build(p.arm, |b| {
                icmpv6::emit_solicitation(b, self.mac, me, them, p.unicast)
            }),
            _ => None,
        }
    }

    /// Queues a gratuitous ARP or an unsolicited Neighbor Advertisement for
    /// each of natrix's addresses (`announcements`); returns how many.
    pub fn announce(&mut self, config: &Config) -> usize {
        let mut n = 0;
        for (ip, arm) in announcements(config) {
            let o = match ip {
                IpAddr::V4(a) => Outgoing::build(arm, |b| arp::emit_gratuitous(b, self.mac, a)),
                IpAddr::V6(a) => Outgoing::build(arm, |b| {
                    icmpv6::emit_unsolicited_advertisement(b, self.mac, a)
                }),
            };
            match o {
                Some(o) if self.link.send(o) => n += 1,
                _ => self.lost += 1,
            }
        }
        n
    }
}

/// The addresses natrix announces, each once, and the port it announces
/// them on: the frontends and `appliance.addresses` toward the clients, the
/// ports' own addresses on their ports.
pub fn announcements(config: &Config) -> Vec<(IpAddr, Arm)> {
    let mut out: Vec<(IpAddr, Arm)> = Vec::new();
    let mut add = |ip: IpAddr, arm: Arm| {
        if !out.contains(&(ip, arm)) {
            out.push((ip, arm));
        }
    };
    for f in &config.frontends {
        add(f.address, Arm::Public);
    }
    for &a in &config.appliance.addresses {
        add(a, Arm::Public);
    }
    for i in &config.ports.public_addresses {
        add(i.address, Arm::Public);
    }
    for i in &config.ports.private_addresses {
        add(i.address, Arm::Private);
    }
    out
}

/// What a capture says about the addresses in `wanted`, for `replay`, which
/// has no wire to ask: the sender of an ARP packet, the source of a Neighbor
/// Solicitation or the target of an Advertisement with their link-layer
/// options, the source MAC of an IP packet from the address; and for a
/// gateway (`gateways`), which sends no packet of its own, the source MAC
/// of the frames to a frontend (`frontends`), which it forwarded; and for a
/// pool's next hop, the source MAC of the packets of the backends behind it
/// (`routed`: backend address and next hop), which it forwarded. The first
/// MAC found wins.
pub fn from_capture<'a>(
    frames: impl IntoIterator<Item = &'a [u8]>,
    wanted: &[IpAddr],
    gateways: &[IpAddr],
    frontends: &[IpAddr],
    routed: &[(IpAddr, IpAddr)],
) -> HashMap<IpAddr, MacAddr> {
    let mut out: HashMap<IpAddr, MacAddr> = HashMap::new();
    let put = |ip: IpAddr, mac: MacAddr, out: &mut HashMap<IpAddr, MacAddr>| {
        if mac != MacAddr::ZERO && !mac.is_multicast() {
            out.entry(ip).or_insert(mac);
        }
    };
    let hop_of = |src: IpAddr| {
        routed
            .iter()
            .find(|(b, h)| *b == src && wanted.contains(h))
            .map(|(_, h)| *h)
    };
    let family_gateway = |v6: bool| {
        gateways
            .iter()
            .copied()
            .find(|g| g.is_ipv6() == v6 && wanted.contains(g))
    };
    for data in frames {
        let Ok(eth) = ethernet::Frame::new_checked(data) else {
            continue;
        };
        let Ok((l3, kind)) = eth.l3_offset() else {
            continue;
        };
        let src_mac = eth.src_addr();
        match kind {
            ethernet::EtherType::Arp => {
                if let Ok(a) = arp::Packet::new_checked(&data[l3..]) {
                    let ip = IpAddr::V4(a.sender_protocol_addr());
                    if wanted.contains(&ip) {
                        put(ip, a.sender_hardware_addr(), &mut out);
                    }
                }
            }
            ethernet::EtherType::Ipv4 => {
                if let Ok(p) = ipv4::Packet::new_checked(&data[l3..]) {
                    let (src, dst) = (IpAddr::V4(p.src_addr()), IpAddr::V4(p.dst_addr()));
                    if wanted.contains(&src) {
                        put(src, src_mac, &mut out);
                    } else if let Some(h) = hop_of(src) {
                        put(h, src_mac, &mut out);
                    } else if frontends.contains(&dst) {
                        if let Some(g) = family_gateway(false) {
                            put(g, src_mac, &mut out);
                        }
                    }
                }
            }
            ethernet::EtherType::Ipv6 => {
                let Ok(p) = ipv6::Packet::new_checked(&data[l3..]) else {
                    continue;
                };
                let (src, dst) = (IpAddr::V6(p.src_addr()), IpAddr::V6(p.dst_addr()));
                if let Ok(chain) = p.chain() {
                    let l4 = p.upper_layer(&chain);
                    if let Ok(m) = icmpv6::Packet::new_checked(l4) {
                        let said = match m.msg_type() {
                            icmpv6::Message::NeighborAdvert => m
                                .target_addr()
                                .map(|t| (IpAddr::V6(t), icmpv6::NdpOptionType::TargetLinkAddr)),
                            icmpv6::Message::NeighborSolicit => {
                                Some((src, icmpv6::NdpOptionType::SourceLinkAddr))
                            }
                            _ => None,
                        };
                        if let Some((ip, kind)) = said {
                            if let (true, Ok(Some(mac))) =
                                (wanted.contains(&ip), m.ndp_options().link_addr(kind))
                            {
                                put(ip, mac, &mut out);
                            }
                            continue;
                        }
                    }
                }
                if wanted.contains(&src) {
                    put(src, src_mac, &mut out);
                } else if let Some(h) = hop_of(src) {
                    put(h, src_mac, &mut out);
                } else if frontends.contains(&dst) {
                    if let Some(g) = family_gateway(true) {
                        put(g, src_mac, &mut out);
                    }
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const A: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xa]);
    const B: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xb]);

    fn v4() -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 1, 0, 11))
    }

    fn v6() -> IpAddr {
        IpAddr::V6("2001:db8:2::11".parse::<Ipv6Addr>().unwrap())
    }

    fn s(ip: IpAddr, mac: MacAddr, seen: Seen) -> Sighting {
        Sighting {
            ip,
            mac,
            arm: Arm::Private,
            seen,
        }
    }

    fn secs(n: f64) -> Duration {
        Duration::from_secs_f64(n)
    }

    fn na(solicited: bool, override_: bool) -> Seen {
        Seen::Advertisement {
            solicited,
            override_,
        }
    }

    fn broadcast(ip: IpAddr) -> Probe {
        Probe {
            ip,
            arm: Arm::Private,
            unicast: None,
        }
    }

    fn unicast(ip: IpAddr, mac: MacAddr) -> Probe {
        Probe {
            ip,
            arm: Arm::Private,
            unicast: Some(mac),
        }
    }

    #[test]
    fn incomplete_retries_then_fails_then_retries_slowly() {
        for ip in [v4(), v6()] {
            let mut c = Cache::new(Params::default());
            c.want(ip, Arm::Private, secs(0.0));
            assert_eq!(c.get(ip).unwrap().state, State::Incomplete);
            assert_eq!(c.tick(secs(0.0)), [broadcast(ip)]);
            assert_eq!(c.tick(secs(0.5)), []);
            assert_eq!(c.tick(secs(1.0)), [broadcast(ip)]);
            assert_eq!(c.tick(secs(2.0)), [broadcast(ip)]);
            assert_eq!(c.mac(ip), None);
            let v = c.version();
            // The third went unanswered for `retrans`: FAILED, and asked
            // again `failed_retry` later.
            assert_eq!(c.tick(secs(3.0)), []);
            assert_eq!(c.get(ip).unwrap().state, State::Failed);
            assert!(c.failed(ip));
            assert_eq!(c.version(), v, "no MAC before, none now");
            assert_eq!(c.tick(secs(7.9)), []);
            assert_eq!(c.tick(secs(8.0)), [broadcast(ip)]);
            assert_eq!(c.tick(secs(13.0)), [broadcast(ip)]);
            // A late reply still resolves it.
            assert!(c.observe(&s(ip, A, Seen::ArpReply), secs(13.5)));
            assert_eq!(c.get(ip).unwrap().state, State::Reachable);
            assert_eq!(c.mac(ip), Some(A));
        }
    }

    #[test]
    fn reachable_is_refreshed_by_unicast_before_it_expires() {
        let ip = v4();
        let mut c = Cache::new(Params::default());
        c.want(ip, Arm::Private, secs(0.0));
        c.tick(secs(0.0));
        assert!(c.observe(&s(ip, A, Seen::ArpReply), secs(0.2)));
        assert_eq!(c.mac(ip), Some(A));
        // Refreshed from 25.2 s (30 s less the 5 s margin), to the known MAC.
        assert_eq!(c.tick(secs(25.0)), []);
        assert_eq!(c.tick(secs(25.2)), [unicast(ip, A)]);
        assert_eq!(c.tick(secs(26.2)), [unicast(ip, A)]);
        // Answered: REACHABLE for another 30 s, no gap.
        let v = c.version();
        assert!(!c.observe(&s(ip, A, Seen::ArpReply), secs(26.5)));
        assert_eq!(c.version(), v);
        assert_eq!(c.get(ip).unwrap().state, State::Reachable);
        assert_eq!(c.tick(secs(51.0)), []);
        assert_eq!(c.tick(secs(51.5)), [unicast(ip, A)]);
    }

    #[test]
    fn unanswered_refresh_goes_stale_then_failed() {
        let ip = v6();
        let mut c = Cache::new(Params::default());
        c.want(ip, Arm::Private, secs(0.0));
        c.tick(secs(0.0));
        assert!(c.observe(&s(ip, A, na(true, true)), secs(0.0)));
        assert_eq!(c.tick(secs(25.0)), [unicast(ip, A)]);
        assert_eq!(c.tick(secs(26.0)), [unicast(ip, A)]);
        assert_eq!(c.tick(secs(27.0)), [unicast(ip, A)]);
        // Three refreshes unanswered: STALE (the MAC still used), probed
        // again, the last time to everyone.
        assert_eq!(c.tick(secs(28.0)), [unicast(ip, A)]);
        assert_eq!(c.get(ip).unwrap().state, State::Stale);
        assert_eq!(c.mac(ip), Some(A));
        assert_eq!(c.tick(secs(29.0)), [unicast(ip, A)]);
        assert_eq!(c.tick(secs(30.0)), [broadcast(ip)]);
        let v = c.version();
        assert_eq!(c.tick(secs(31.0)), []);
        assert_eq!(c.get(ip).unwrap().state, State::Failed);
        assert_eq!(c.mac(ip), None);
        assert_ne!(c.version(), v, "the MAC went away");
        assert_eq!(c.rows(secs(33.0))[0].age, secs(2.0));
        assert_eq!(c.rows(secs(33.0))[0].mac, Some(A));
    }

    #[test]
    fn a_changed_mac_is_picked_up() {
        let ip = v4();
        let mut c = Cache::new(Params::default());
        c.want(ip, Arm::Private, secs(0.0));
        c.tick(secs(0.0));
        c.observe(&s(ip, A, Seen::ArpReply), secs(0.1));
        // A gratuitous ARP from the new interface: the new MAC at once,
        // STALE until a probe confirms it.
        assert!(c.observe(&s(ip, B, Seen::ArpRequest), secs(5.0)));
        assert_eq!(c.mac(ip), Some(B));
        assert_eq!(c.get(ip).unwrap().state, State::Stale);
        assert_eq!(c.tick(secs(5.0)), [unicast(ip, B)]);
        assert!(!c.observe(&s(ip, B, Seen::ArpReply), secs(5.1)));
        assert_eq!(c.get(ip).unwrap().state, State::Reachable);
        // The reply to a refresh from another MAC is taken too.
        assert!(c.observe(&s(ip, A, Seen::ArpReply), secs(6.0)));
        assert_eq!(c.mac(ip), Some(A));
    }

    #[test]
    fn advertisements_follow_rfc_4861_7_2_5() {
        let ip = v6();
        let mut c = Cache::new(Params::default());
        c.want(ip, Arm::Private, secs(0.0));
        c.tick(secs(0.0));
        // Unsolicited into INCOMPLETE: STALE with the MAC.
        assert!(c.observe(&s(ip, A, na(false, false)), secs(0.1)));
        assert_eq!(c.get(ip).unwrap().state, State::Stale);
        assert!(!c.observe(&s(ip, A, na(true, false)), secs(0.2)));
        assert_eq!(c.get(ip).unwrap().state, State::Reachable);
        // Another MAC without Override: REACHABLE becomes STALE, MAC kept.
        assert!(!c.observe(&s(ip, B, na(false, false)), secs(1.0)));
        assert_eq!(c.get(ip).unwrap().state, State::Stale);
        assert_eq!(c.mac(ip), Some(A));
        // With Override (an unsolicited NA of a replacement): taken.
        assert!(c.observe(&s(ip, B, na(false, true)), secs(2.0)));
        assert_eq!(c.mac(ip), Some(B));
        assert_eq!(c.get(ip).unwrap().state, State::Stale);
        // A solicitation's source updates it too.
        assert!(c.observe(&s(ip, A, Seen::Solicitation), secs(3.0)));
        assert_eq!(c.mac(ip), Some(A));
    }

    #[test]
    fn unknown_addresses_and_bad_macs_are_ignored() {
        let mut c = Cache::new(Params::default());
        c.want(v4(), Arm::Private, secs(0.0));
        assert!(!c.observe(&s(v6(), A, Seen::ArpReply), secs(0.0)));
        assert!(c.get(v6()).is_none());
        assert!(!c.observe(&s(v4(), MacAddr::ZERO, Seen::ArpReply), secs(0.0)));
        assert!(!c.observe(&s(v4(), MacAddr::BROADCAST, Seen::ArpReply), secs(0.0)));
        assert_eq!(c.mac(v4()), None);
        c.observe(&s(v4(), A, Seen::ArpReply), secs(0.0));
        let v = c.version();
        c.retain(|_| false);
        assert!(c.rows(secs(1.0)).is_empty());
        assert_ne!(c.version(), v);
    }
}
