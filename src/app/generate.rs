//! `natrix gen`: realistic traffic for a configuration, as a capture.
//!
//! The capture is what natrix's port would receive: clients' packets to the
//! frontends (arriving from the gateway), the backends' replies as they come
//! back (addressed to the client, from the backend endpoint), a little
//! background the appliance answers itself (ARP requests and Neighbor
//! Solicitations, ICMP and ICMPv6 echo requests) and a sprinkling of stray
//! traffic natrix must drop, one kind per [`StrayKind`].
//!
//! IPv4 frontends get IPv4 clients in 198.18.128.0/17; IPv6 frontends get
//! their IPv6 twins, `2001:db8:8000:H::c612:8000+H` for the IPv4 client
//! 198.18.128.0 + H, each in a /64 of its own. A configuration without IPv6
//! frontends draws exactly the random numbers, and writes exactly the
//! frames, that it did before `gen` learnt IPv6.
//!
//! A configuration that leaves its gateway's and backends' MACs to
//! neighbour resolution gets stand-in MACs of their addresses
//! ([`stand_in_mac`]), which a replay then learns from the capture.
//!
//! Everything is derived from the configuration and [`GenOptions::seed`]: the
//! same inputs give the same frames, byte for byte. Timestamps start at
//! 2026-01-01T00:00:00Z; connections start a few hundred microseconds apart
//! and last tens of milliseconds, so their packets interleave.

use crate::config::Config;
use crate::control::plane::ControlPlane;
use crate::dataplane::counters::DropReason;
use crate::dataplane::select::{self, Mode, Rng};
use crate::dataplane::snapshot::{BackendStatus, ServiceKind, Snapshot};
use crate::dataplane::{choose_backend, choose_backend6};
use crate::ports::capture::{self, CaptureError, Frame};
use crate::wire::ethernet::{self, EtherType};
use crate::wire::{arp, checksum, icmp, icmpv6, ipv4, ipv6, tcp, udp, IpProtocol, MacAddr};
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::Duration;

/// What to generate.
#[derive(Clone, Debug)]
pub struct GenOptions {
    /// TCP connections per TCP frontend, UDP exchanges per UDP frontend.
    pub connections: u32,
    /// Distinct client addresses.
    pub clients: u32,
    /// Data segments each way per TCP connection.
    pub segments: u32,
    pub seed: u64,
    /// Stray packets per 100 connections.
    pub stray_percent: u32,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            connections: 1000,
            clients: 100,
            segments: 2,
            seed: 1,
            stray_percent: 5,
        }
    }
}

/// The kinds of stray traffic, each of which natrix must drop under one reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StrayKind {
    /// TCP SYN to a frontend address on a port no frontend serves.
    SynUnconfiguredPort,
    /// UDP to an address in 198.18.0.0/15 that is no frontend.
    UdpNoFrontend,
    /// A mid-stream TCP ACK for no known connection, to a frontend whose mode
    /// does not hash mid-stream segments (random or source affinity).
    MidstreamAck,
    /// A packet from a backend address, but not from its backend port.
    BackendWrongPort,
    /// An IPv6 frame (a TCP SYN over IPv6).
    Ipv6,
    /// A TCP or UDP packet to a frontend with TTL 1.
    TtlExpired,
    /// A packet to a frontend whose IPv4 header checksum is wrong.
    BadIpChecksum,
    /// A frame shorter than an Ethernet header.
    Truncated,
    /// An LLDP frame (EtherType 0x88cc).
    Lldp,
    /// An ICMP echo request to an address that is not the appliance's.
    EchoNonLocal,
    /// The first fragment of a datagram to a frontend, too short to hold
    /// its TCP or UDP header (RFC 1858's tiny fragment).
    Fragment,
}

impl StrayKind {
    /// Every kind, in the order the summary lists them.
    pub const ALL: [StrayKind; 11] = [
        StrayKind::SynUnconfiguredPort,
        StrayKind::UdpNoFrontend,
        StrayKind::MidstreamAck,
        StrayKind::BackendWrongPort,
        StrayKind::Ipv6,
        StrayKind::TtlExpired,
        StrayKind::BadIpChecksum,
        StrayKind::Truncated,
        StrayKind::Lldp,
        StrayKind::EchoNonLocal,
        StrayKind::Fragment,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            StrayKind::SynUnconfiguredPort => "syn-unconfigured-port",
            StrayKind::UdpNoFrontend => "udp-no-frontend",
            StrayKind::MidstreamAck => "midstream-ack",
            StrayKind::BackendWrongPort => "backend-wrong-port",
            StrayKind::Ipv6 => "ipv6",
            StrayKind::TtlExpired => "ttl-expired",
            StrayKind::BadIpChecksum => "bad-ip-checksum",
            StrayKind::Truncated => "truncated",
            StrayKind::Lldp => "lldp",
            StrayKind::EchoNonLocal => "echo-non-local",
            StrayKind::Fragment => "fragment",
        }
    }

    /// The reason natrix drops this kind under.
    pub const fn expected_drop(self) -> DropReason {
        match self {
            StrayKind::SynUnconfiguredPort => DropReason::NoService,
            StrayKind::UdpNoFrontend => DropReason::NoService,
            StrayKind::MidstreamAck => DropReason::NoFlow,
            StrayKind::BackendWrongPort => DropReason::NoService,
            StrayKind::Ipv6 => DropReason::NoService,
            StrayKind::TtlExpired => DropReason::TtlExpired,
            StrayKind::BadIpChecksum => DropReason::IpChecksum,
            StrayKind::Truncated => DropReason::MalformedEth,
            StrayKind::Lldp => DropReason::UnsupportedEthertype,
            StrayKind::EchoNonLocal => DropReason::IcmpUnsupported,
            StrayKind::Fragment => DropReason::FragmentTooSmall,
        }
    }
}

/// What a generated capture holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GenSummary {
    /// TCP connections, over all TCP frontends (each one SYN).
    pub tcp_connections: u64,
    /// UDP exchanges (1-3 requests from one client address and port), over all
    /// UDP frontends.
    pub udp_exchanges: u64,
    /// Stray frames natrix must drop.
    pub stray: u64,
    pub arp_requests: u64,
    /// Neighbor Solicitations from the gateway for the appliance's IPv6
    /// addresses (frontends and its own).
    pub nd_solicitations: u64,
    /// ICMP and ICMPv6 echo requests to frontends.
    pub echo_requests: u64,
    /// All frames.
    pub total: u64,
    /// Stray frames per kind, in [`StrayKind::ALL`] order (kinds the
    /// configuration cannot express, such as a mid-stream ACK without a
    /// random-mode TCP frontend, stay 0).
    pub stray_kinds: Vec<(StrayKind, u64)>,
}

impl GenSummary {
    /// Strays of one kind.
    pub fn stray_count(&self, kind: StrayKind) -> u64 {
        self.stray_kinds
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(0, |(_, n)| *n)
    }
}

/// Generates the frames, in capture order.
pub fn generate(config: &Config, opts: &GenOptions) -> Vec<Frame> {
    generate_with_summary(config, opts).0
}

/// `natrix gen`: writes a capture of traffic for the configuration file
/// `config` into `out` and says how many packets it holds.
pub fn command(config: &Path, opts: &GenOptions, out: &Path) -> crate::app::CommandResult {
    let config = Config::load(config)?;
    let n = write(&config, opts, out)?;
    println!("{}: {n} packets", out.display());
    Ok(())
}

/// Generates and writes a capture; returns the number of frames.
pub fn write(config: &Config, opts: &GenOptions, path: &Path) -> Result<usize, CaptureError> {
    let frames = generate(config, opts);
    let mut w = capture::Writer::create(path)?;
    for f in &frames {
        w.write(f.timestamp, &f.data)?;
    }
    w.finish()?;
    Ok(frames.len())
}

/// 2026-01-01T00:00:00Z, in seconds since the Unix epoch.
const EPOCH_SECS: u64 = 1_767_225_600;
/// 198.18.128.0/17: where clients live.
const CLIENT_NET: u32 = 0xc612_8000;
const CLIENT_HOSTS: u32 = 1 << 15;
/// 2001:db8:8000::/48 (RFC 3849 documentation space): where IPv6 clients
/// live, the twin of the IPv4 client 198.18.128.0 + H in 2001:db8:8000:H::/64.
const CLIENT_NET6: u128 = 0x2001_0db8_8000_0000_0000_0000_0000_0000;
/// 198.18.0.0/15 (RFC 2544).
const BENCH_NET: u32 = 0xc612_0000;
const BENCH_MASK: u32 = 0xfffe_0000;
/// Ephemeral ports (Linux's default ip_local_port_range).
const EPHEMERAL_LO: u16 = 32768;
const EPHEMERAL_HI: u16 = 60999;
/// Frames shorter than this are padded, as they are on the wire.
const MIN_FRAME: usize = 60;
const ARP_PER_ADDRESS: u32 = 2;
const NS_PER_ADDRESS: u32 = 2;
const ECHO_PER_ADDRESS: u32 = 3;
const LLDP_MAC: MacAddr = MacAddr([0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e]);
/// Typical SYN options: MSS 1460, SACK permitted, timestamps left out,
/// NOP, window scale 7.
const SYN_OPTIONS: [u8; 12] = [2, 4, 0x05, 0xb4, 4, 2, 1, 1, 1, 3, 3, 7];
const SYNACK_OPTIONS: [u8; 8] = [2, 4, 0x05, 0xb4, 1, 3, 3, 7];

/// A backend endpoint that answers.
#[derive(Clone, Copy)]
struct Peer {
    address: IpAddr,
    port: u16,
    mac: MacAddr,
}

/// A frontend traffic is generated for.
#[derive(Clone)]
struct Target {
    service: usize,
    address: IpAddr,
    port: u16,
    protocol: IpProtocol,
    mode: Mode,
    nat: bool,
}

impl Target {
    /// The address of an IPv4 target ([`Gen::targets4`]).
    fn addr4(&self) -> Ipv4Addr {
        v4(self.address).expect("an IPv4 target")
    }
}

/// The IP and Ethernet header fields of one packet. Both addresses are of
/// one family; `ident` is IPv4's (an IPv6 packet that is not a fragment has
/// none), `ttl` IPv6's hop limit.
#[derive(Clone, Copy)]
struct Hop {
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
    ident: u16,
}

struct Gen<'a> {
    config: &'a Config,
    opts: &'a GenOptions,
    /// The source MAC of what comes from the clients' side: `gateway_mac`,
    /// or in a configuration that resolves its gateway, a stand-in
    /// ([`stand_in_mac`]).
    gw_mac: MacAddr,
    snap: Option<std::sync::Arc<Snapshot>>,
    rng: Rng,
    clients: Vec<Ipv4Addr>,
    used: HashSet<(Ipv4Addr, u16)>,
    /// Addresses the appliance owns (frontends and its own).
    local: HashSet<Ipv4Addr>,
    /// Backend addresses.
    backend_addrs: HashSet<Ipv4Addr>,
    /// IPv6 addresses the appliance owns, and IPv6 backend addresses: no
    /// client's IPv6 twin is one of them.
    taken6: HashSet<Ipv6Addr>,
    /// Backend endpoints (address, port, protocol).
    backend_endpoints: HashSet<(Ipv4Addr, u16, IpProtocol)>,
    /// Frontend endpoints (address, port, protocol).
    frontend_endpoints: HashSet<(Ipv4Addr, u16, IpProtocol)>,
    targets: Vec<Target>,
    /// (microseconds since the epoch above, frame)
    out: Vec<(u64, Vec<u8>)>,
    summary: GenSummary,
}

/// Generates the frames and says what they are.
pub fn generate_with_summary(config: &Config, opts: &GenOptions) -> (Vec<Frame>, GenSummary) {
    let mut g = Gen::new(config, opts);
    g.run();
    g.finish()
}

impl<'a> Gen<'a> {
    fn new(config: &'a Config, opts: &'a GenOptions) -> Gen<'a> {
        let snap = ControlPlane::new(config.clone())
            .ok()
            .map(|cp| cp.snapshot());
        let mut local: HashSet<Ipv4Addr> = config
            .appliance
            .addresses
            .iter()
            .filter_map(|&a| v4(a))
            .collect();
        local.extend(config.frontends.iter().filter_map(|f| v4(f.address)));
        let mut backend_addrs = HashSet::new();
        let mut backend_endpoints = HashSet::new();
        for r in &config.rules {
            let proto = config.frontends[r.frontend].protocol;
            for b in &config.pools[r.pool].backends {
                let Some(a) = v4(b.address) else { continue };
                backend_addrs.insert(a);
                backend_endpoints.insert((a, b.port, proto));
            }
        }
        for n in &config.nat_rules {
            let proto = config.frontends[n.frontend].protocol;
            let Some(a) = v4(n.backend.address) else {
                continue;
            };
            backend_addrs.insert(a);
            backend_endpoints.insert((a, n.backend.port, proto));
        }
        let frontend_endpoints = config
            .frontends
            .iter()
            .filter_map(|f| Some((v4(f.address)?, f.port, f.protocol)))
            .collect();
        let taken6 = config
            .appliance
            .addresses
            .iter()
            .chain(config.frontends.iter().map(|f| &f.address))
            .chain(
                config
                    .pools
                    .iter()
                    .flat_map(|p| &p.backends)
                    .map(|b| &b.address),
            )
            .chain(config.nat_rules.iter().map(|n| &n.backend.address))
            .filter_map(|&a| v6(a))
            .collect();
        let a = &config.appliance;
        let gw_mac = match (a.gateway4, a.gateway6) {
            _ if a.gateway_mac != MacAddr::ZERO => a.gateway_mac,
            (Some(g), _) => stand_in_mac(IpAddr::V4(g)),
            (None, Some(g)) => stand_in_mac(IpAddr::V6(g)),
            (None, None) => MacAddr::ZERO,
        };
        let mut g = Gen {
            config,
            opts,
            gw_mac,
            snap,
            rng: Rng::new(select::mix64(opts.seed ^ 0x6e61_7472_6978_6765)),
            clients: Vec::new(),
            used: HashSet::new(),
            local,
            backend_addrs,
            taken6,
            backend_endpoints,
            frontend_endpoints,
            targets: Vec::new(),
            out: Vec::new(),
            summary: GenSummary {
                stray_kinds: StrayKind::ALL.iter().map(|k| (*k, 0)).collect(),
                ..Default::default()
            },
        };
        g.targets = g.find_targets();
        g.clients = g.pick_clients();
        g
    }

    // ---- randomness ----------------------------------------------------

    fn next(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// Uniform in lo..=hi.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.next() % (hi - lo + 1)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n + 8);
        while v.len() < n {
            v.extend_from_slice(&self.next().to_le_bytes());
        }
        v.truncate(n);
        v
    }

    // ---- setup ---------------------------------------------------------

    /// Frontends that are served and have a backend to take new connections.
    fn find_targets(&self) -> Vec<Target> {
        let Some(snap) = &self.snap else {
            return Vec::new();
        };
        snap.services
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let nat = s.kind == ServiceKind::Nat;
                let active = s
                    .members
                    .iter()
                    .any(|&m| snap.backends[m as usize].status == BackendStatus::Active);
                // Clients and backends of the frontend's family only.
                let same_family = s
                    .members
                    .iter()
                    .all(|&m| snap.backends[m as usize].address.is_ipv6() == s.address.is_ipv6());
                let served = nat || (s.pool != u16::MAX && active);
                (served && same_family).then_some(Target {
                    service: i,
                    address: s.address,
                    port: s.port,
                    protocol: s.protocol,
                    mode: s.mode,
                    nat,
                })
            })
            .collect()
    }

    /// Distinct client addresses in 198.18.128.0/17, avoiding the network and
    /// broadcast addresses and anything the configuration uses.
    fn pick_clients(&mut self) -> Vec<Ipv4Addr> {
        let want = self.opts.clients.clamp(1, CLIENT_HOSTS - 2) as usize;
        let start = (self.next() as u32) & (CLIENT_HOSTS - 1);
        // Any odd stride visits every host of the /17 once.
        let stride = (self.next() as u32 & (CLIENT_HOSTS - 1)) | 1;
        let mut out = Vec::with_capacity(want);
        for i in 0..CLIENT_HOSTS {
            if out.len() == want {
                break;
            }
            let host = start.wrapping_add(i.wrapping_mul(stride)) & (CLIENT_HOSTS - 1);
            if host == 0 || host == CLIENT_HOSTS - 1 {
                continue;
            }
            let a = Ipv4Addr::from(CLIENT_NET | host);
            if self.local.contains(&a)
                || self.backend_addrs.contains(&a)
                || self.taken6.contains(&client6(a))
            {
                continue;
            }
            out.push(a);
        }
        out
    }

    fn random_client(&mut self) -> Ipv4Addr {
        let i = self.next() as usize % self.clients.len();
        self.clients[i]
    }

    /// A client address and ephemeral port no other connection uses.
    fn alloc_client(&mut self) -> (Ipv4Addr, u16) {
        let mut last = (self.clients[0], EPHEMERAL_LO);
        for _ in 0..1000 {
            let c = self.random_client();
            let p = self.range(EPHEMERAL_LO as u64, EPHEMERAL_HI as u64) as u16;
            last = (c, p);
            if self.used.insert(last) {
                return last;
            }
        }
        // Every pair taken (more connections than clients x ports): reuse one.
        last
    }

    /// An address in 198.18.0.0/15 that is neither local, nor a backend, nor a
    /// client: 198.18.2.0 - 198.18.127.255.
    fn foreign_addr(&mut self) -> Ipv4Addr {
        loop {
            let host = self.range(0x0201, 0x7ffe) as u32;
            let a = Ipv4Addr::from(BENCH_NET | host);
            debug_assert_eq!(u32::from(a) & BENCH_MASK, BENCH_NET);
            if !self.local.contains(&a) && !self.backend_addrs.contains(&a) {
                return a;
            }
        }
    }

    /// The gateway's own address, as the sender of its ARP requests.
    fn gateway_addr(&self) -> Ipv4Addr {
        let mut host = 0x00feu32;
        loop {
            let a = Ipv4Addr::from(BENCH_NET | host);
            if !self.local.contains(&a) && !self.backend_addrs.contains(&a) {
                return a;
            }
            host += 1;
        }
    }

    /// The backend that answers a new connection from (client, cport), the
    /// way natrix will choose it.
    fn pick_backend(&mut self, t: &Target, client: IpAddr, cport: u16) -> Option<Peer> {
        let snap = self.snap.clone()?;
        let svc = &snap.services[t.service];
        let id = match client {
            _ if t.nat => svc.members[0],
            IpAddr::V4(c) => choose_backend(&snap, svc, u32::from(c), cport, t.protocol),
            IpAddr::V6(c) => choose_backend6(&snap, svc, u128::from(c), cport, t.protocol),
        };
        let b = snap.backends.get(id as usize)?;
        Some(Peer {
            address: b.address,
            port: b.port,
            mac: frame_mac(b.mac, b.next_hop),
        })
    }

    /// A client endpoint for a connection to `target`: an IPv4 client, or
    /// its IPv6 twin for an IPv6 frontend.
    fn alloc_client_for(&mut self, target: &Target) -> (IpAddr, u16) {
        let (client, cport) = self.alloc_client();
        match target.address {
            IpAddr::V4(_) => (client.into(), cport),
            IpAddr::V6(_) => (client6(client).into(), cport),
        }
    }

    // ---- the capture ---------------------------------------------------

    fn run(&mut self) {
        // Conversations, shuffled across frontends, start a few hundred
        // microseconds apart.
        let mut tasks: Vec<usize> = Vec::new();
        for (i, _) in self.targets.iter().enumerate() {
            for _ in 0..self.opts.connections {
                tasks.push(i);
            }
        }
        for i in (1..tasks.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            tasks.swap(i, j);
        }
        let mut t = self.range(1_000, 5_000);
        for ti in tasks {
            let target = self.targets[ti].clone();
            match target.protocol {
                IpProtocol::Tcp => self.tcp_connection(&target, t),
                // UDP: a frontend serves nothing else.
                _ => self.udp_exchange(&target, t),
            }
            t += self.range(0, 500);
        }
        let span = self
            .out
            .iter()
            .map(|p| p.0)
            .max()
            .unwrap_or(0)
            .max(1_000_000);

        self.background(span);
        self.strays(span);
    }

    fn finish(mut self) -> (Vec<Frame>, GenSummary) {
        // Stable sort: frames with equal timestamps keep generation order.
        self.out.sort_by_key(|p| p.0);
        let frames: Vec<Frame> = self
            .out
            .into_iter()
            .map(|(t, data)| Frame {
                timestamp: Duration::from_secs(EPOCH_SECS) + Duration::from_micros(t),
                ethernet: true,
                data,
            })
            .collect();
        self.summary.total = frames.len() as u64;
        (frames, self.summary)
    }

    fn emit(&mut self, t: u64, frame: Vec<u8>) {
        self.out.push((t, frame));
    }

    /// One TCP connection: handshake, `segments` request/response pairs, close.
    fn tcp_connection(&mut self, target: &Target, start: u64) {
        let (client, cport) = self.alloc_client_for(target);
        let Some(be) = self.pick_backend(target, client, cport) else {
            return;
        };
        self.summary.tcp_connections += 1;
        let app = self.config.appliance.mac;
        let gw = self.gw_mac;
        // Round trips as seen from natrix: to the client (across the
        // internet) and to the backend (inside the data centre).
        let c_rtt = self.range(1_000, 20_000);
        let b_rtt = self.range(50, 500);
        let mut c_ident = self.next() as u16;
        let mut b_ident = self.next() as u16;
        let mut cseq = self.next() as u32;
        let mut bseq = self.next() as u32;
        let c_win = 64_240u16;
        let b_win = 65_160u16;

        let client_pkt = |ident: &mut u16, seq, ack, flags, opts: &[u8], payload: &[u8]| {
            *ident = ident.wrapping_add(1);
            let hop = Hop {
                src_mac: gw,
                dst_mac: app,
                src: client,
                dst: target.address,
                ttl: 64,
                ident: *ident,
            };
            let seg = tcp_segment(
                &hop,
                Segment {
                    sport: cport,
                    dport: target.port,
                    seq,
                    ack,
                    flags,
                    window: c_win,
                },
                opts,
                payload,
            );
            ip_frame(&hop, IpProtocol::Tcp, &seg)
        };
        let backend_pkt = |ident: &mut u16, seq, ack, flags, opts: &[u8], payload: &[u8]| {
            *ident = ident.wrapping_add(1);
            let hop = Hop {
                src_mac: be.mac,
                dst_mac: app,
                src: be.address,
                dst: client,
                ttl: 64,
                ident: *ident,
            };
            let seg = tcp_segment(
                &hop,
                Segment {
                    sport: be.port,
                    dport: cport,
                    seq,
                    ack,
                    flags,
                    window: b_win,
                },
                opts,
                payload,
            );
            ip_frame(&hop, IpProtocol::Tcp, &seg)
        };

        use tcp::{FLAG_ACK as A, FLAG_FIN as F, FLAG_PSH as P, FLAG_SYN as S};
        let mut t = start;
        let f = client_pkt(&mut c_ident, cseq, 0, S, &SYN_OPTIONS, &[]);
        self.emit(t, f);
        cseq = cseq.wrapping_add(1);
        t += b_rtt;
        let f = backend_pkt(&mut b_ident, bseq, cseq, S | A, &SYNACK_OPTIONS, &[]);
        self.emit(t, f);
        bseq = bseq.wrapping_add(1);
        t += c_rtt;
        let f = client_pkt(&mut c_ident, cseq, bseq, A, &[], &[]);
        self.emit(t, f);
        for _ in 0..self.opts.segments {
            t += self.range(0, 200);
            let n = self.range(1, 1400) as usize;
            let payload = self.bytes(n);
            let f = client_pkt(&mut c_ident, cseq, bseq, P | A, &[], &payload);
            self.emit(t, f);
            cseq = cseq.wrapping_add(n as u32);
            t += b_rtt + self.range(20, 2_000);
            let n = self.range(1, 1400) as usize;
            let payload = self.bytes(n);
            let f = backend_pkt(&mut b_ident, bseq, cseq, P | A, &[], &payload);
            self.emit(t, f);
            bseq = bseq.wrapping_add(n as u32);
            t += c_rtt;
        }
        t += self.range(0, 2_000);
        let f = client_pkt(&mut c_ident, cseq, bseq, F | A, &[], &[]);
        self.emit(t, f);
        cseq = cseq.wrapping_add(1);
        t += b_rtt;
        let f = backend_pkt(&mut b_ident, bseq, cseq, F | A, &[], &[]);
        self.emit(t, f);
        bseq = bseq.wrapping_add(1);
        t += c_rtt;
        let f = client_pkt(&mut c_ident, cseq, bseq, A, &[], &[]);
        self.emit(t, f);
    }

    /// One UDP exchange: 1-3 requests from one client endpoint, each answered.
    fn udp_exchange(&mut self, target: &Target, start: u64) {
        let (client, cport) = self.alloc_client_for(target);
        let Some(be) = self.pick_backend(target, client, cport) else {
            return;
        };
        self.summary.udp_exchanges += 1;
        let app = self.config.appliance.mac;
        let gw = self.gw_mac;
        let c_rtt = self.range(1_000, 20_000);
        let b_rtt = self.range(50, 500);
        let mut c_ident = self.next() as u16;
        let mut b_ident = self.next() as u16;
        let requests = self.range(1, 3);
        let mut t = start;
        for _ in 0..requests {
            let n = self.range(1, 512) as usize;
            let payload = self.bytes(n);
            c_ident = c_ident.wrapping_add(1);
            let hop = Hop {
                src_mac: gw,
                dst_mac: app,
                src: client,
                dst: target.address,
                ttl: 64,
                ident: c_ident,
            };
            let f = ip_frame(
                &hop,
                IpProtocol::Udp,
                &udp_datagram(&hop, cport, target.port, &payload),
            );
            self.emit(t, f);
            t += b_rtt + self.range(10, 1_000);
            let n = self.range(1, 1400) as usize;
            let payload = self.bytes(n);
            b_ident = b_ident.wrapping_add(1);
            let hop = Hop {
                src_mac: be.mac,
                dst_mac: app,
                src: be.address,
                dst: client,
                ttl: 64,
                ident: b_ident,
            };
            let f = ip_frame(
                &hop,
                IpProtocol::Udp,
                &udp_datagram(&hop, be.port, cport, &payload),
            );
            self.emit(t, f);
            t += c_rtt + self.range(0, 5_000);
        }
    }

    /// ARP requests from the gateway for every local address, ICMP echo
    /// requests from clients to every frontend address.
    fn background(&mut self, span: u64) {
        let gw = self.gw_mac;
        let app = self.config.appliance.mac;
        let gw_ip = self.gateway_addr();
        let mut addrs: Vec<Ipv4Addr> = Vec::new();
        for a in self
            .config
            .frontends
            .iter()
            .map(|f| f.address)
            .chain(self.config.appliance.addresses.iter().copied())
            .filter_map(v4)
        {
            if !addrs.contains(&a) {
                addrs.push(a);
            }
        }
        for &a in &addrs {
            for _ in 0..ARP_PER_ADDRESS {
                let t = self.range(0, span);
                self.emit(t, arp_request(gw, gw_ip, a));
                self.summary.arp_requests += 1;
            }
        }
        let mut fe_addrs: Vec<Ipv4Addr> = Vec::new();
        for a in self.config.frontends.iter().filter_map(|f| v4(f.address)) {
            if !fe_addrs.contains(&a) {
                fe_addrs.push(a);
            }
        }
        for &a in &fe_addrs {
            let client = self.random_client();
            let id = self.next() as u16;
            let mut times: Vec<u64> = (0..ECHO_PER_ADDRESS).map(|_| self.range(0, span)).collect();
            times.sort_unstable();
            for (seq, t) in times.into_iter().enumerate() {
                let hop = Hop {
                    src_mac: gw,
                    dst_mac: app,
                    src: client.into(),
                    dst: a.into(),
                    ttl: 64,
                    ident: self.next() as u16,
                };
                let payload = self.bytes(56);
                let msg = icmp_echo(id, seq as u16 + 1, &payload);
                let f = ipv4_frame(&hop, IpProtocol::Icmp, true, false, &msg);
                self.emit(t, f);
                self.summary.echo_requests += 1;
            }
        }
        self.background6(span);
    }

    /// The IPv6 background, after the IPv4 one (so that a configuration
    /// without IPv6 addresses draws no more random numbers): Neighbor
    /// Solicitations from the gateway's link-local address for every IPv6
    /// local address, ICMPv6 echo requests from clients to every IPv6
    /// frontend address.
    fn background6(&mut self, span: u64) {
        let gw = self.gw_mac;
        let app = self.config.appliance.mac;
        let mut addrs: Vec<Ipv6Addr> = Vec::new();
        for a in self
            .config
            .frontends
            .iter()
            .map(|f| f.address)
            .chain(self.config.appliance.addresses.iter().copied())
            .filter_map(v6)
        {
            if !addrs.contains(&a) {
                addrs.push(a);
            }
        }
        for &a in &addrs {
            for _ in 0..NS_PER_ADDRESS {
                let t = self.range(0, span);
                self.emit(t, neighbor_solicitation(gw, a));
                self.summary.nd_solicitations += 1;
            }
        }
        let mut fe_addrs: Vec<Ipv6Addr> = Vec::new();
        for a in self.config.frontends.iter().filter_map(|f| v6(f.address)) {
            if !fe_addrs.contains(&a) {
                fe_addrs.push(a);
            }
        }
        for &a in &fe_addrs {
            let client = client6(self.random_client());
            let id = self.next() as u16;
            let mut times: Vec<u64> = (0..ECHO_PER_ADDRESS).map(|_| self.range(0, span)).collect();
            times.sort_unstable();
            for (seq, t) in times.into_iter().enumerate() {
                let hop = Hop {
                    src_mac: gw,
                    dst_mac: app,
                    src: client.into(),
                    dst: a.into(),
                    ttl: 64,
                    ident: 0,
                };
                let payload = self.bytes(56);
                let msg = icmpv6_echo(client, a, id, seq as u16 + 1, &payload);
                let f = ip_frame(&hop, IpProtocol::Icmpv6, &msg);
                self.emit(t, f);
                self.summary.echo_requests += 1;
            }
        }
    }

    /// Stray frames spread through the capture: every kind the configuration
    /// allows at least once, then round robin up to the requested share.
    fn strays(&mut self, span: u64) {
        if self.opts.stray_percent == 0 {
            return;
        }
        let kinds: Vec<StrayKind> = StrayKind::ALL
            .iter()
            .copied()
            .filter(|k| self.stray_possible(*k))
            .collect();
        if kinds.is_empty() {
            return;
        }
        let conns = self.summary.tcp_connections + self.summary.udp_exchanges;
        let want = (conns * self.opts.stray_percent as u64).div_ceil(100);
        let n = want.max(kinds.len() as u64);
        for i in 0..n {
            let kind = kinds[(i % kinds.len() as u64) as usize];
            let t = self.range(0, span);
            let f = self.stray(kind);
            self.emit(t, f);
            self.summary.stray += 1;
            if let Some(e) = self.summary.stray_kinds.iter_mut().find(|e| e.0 == kind) {
                e.1 += 1;
            }
        }
    }

    /// The IPv4 targets: the strays are IPv4 packets (but one).
    fn targets4(&self) -> Vec<Target> {
        self.targets
            .iter()
            .filter(|t| t.address.is_ipv4())
            .cloned()
            .collect()
    }

    fn midstream_targets(&self) -> Vec<Target> {
        self.targets4()
            .into_iter()
            .filter(|t| t.protocol == IpProtocol::Tcp && !t.nat && t.mode != Mode::Maglev)
            .collect()
    }

    fn stray_possible(&self, kind: StrayKind) -> bool {
        match kind {
            StrayKind::SynUnconfiguredPort => !self.config.frontends.is_empty(),
            StrayKind::MidstreamAck => !self.midstream_targets().is_empty(),
            StrayKind::BackendWrongPort => !self.backend_addrs.is_empty(),
            StrayKind::TtlExpired => !self.targets4().is_empty(),
            _ => true,
        }
    }

    /// An IPv4 target, at random.
    fn random_target4(&mut self) -> Option<Target> {
        let ts = self.targets4();
        if ts.is_empty() {
            None
        } else {
            let i = self.next() as usize % ts.len();
            Some(ts[i].clone())
        }
    }

    /// A client's packet to (dst, dport): a SYN for TCP, a small datagram for UDP.
    fn client_probe(&mut self, dst: Ipv4Addr, dport: u16, proto: IpProtocol, ttl: u8) -> Vec<u8> {
        let (client, cport) = self.alloc_client();
        let hop = Hop {
            ttl,
            ..self.client_hop(client, dst)
        };
        match proto {
            IpProtocol::Tcp => {
                let seq = self.next() as u32;
                let seg = tcp_segment(
                    &hop,
                    Segment {
                        sport: cport,
                        dport,
                        seq,
                        ack: 0,
                        flags: tcp::FLAG_SYN,
                        window: 64_240,
                    },
                    &SYN_OPTIONS,
                    &[],
                );
                ipv4_frame(&hop, IpProtocol::Tcp, true, false, &seg)
            }
            // UDP: a frontend serves nothing else.
            _ => {
                let n = self.range(1, 512) as usize;
                let payload = self.bytes(n);
                let d = udp_datagram(&hop, cport, dport, &payload);
                ipv4_frame(&hop, IpProtocol::Udp, true, false, &d)
            }
        }
    }

    /// One stray frame of `kind`.
    fn stray(&mut self, kind: StrayKind) -> Vec<u8> {
        match kind {
            StrayKind::SynUnconfiguredPort => self.stray_syn_unconfigured_port(),
            StrayKind::UdpNoFrontend => self.stray_udp_no_frontend(),
            StrayKind::MidstreamAck => self.stray_midstream_ack(),
            StrayKind::BackendWrongPort => self.stray_backend_wrong_port(),
            StrayKind::Ipv6 => self.stray_ipv6(),
            StrayKind::TtlExpired => self.stray_ttl_expired(),
            StrayKind::BadIpChecksum => self.stray_bad_ip_checksum(),
            StrayKind::Truncated => self.stray_truncated(),
            StrayKind::Lldp => lldp(self.gw_mac),
            StrayKind::EchoNonLocal => self.stray_echo_non_local(),
            StrayKind::Fragment => self.stray_fragment(),
        }
    }

    /// A client's hop toward `dst`: from the gateway to the appliance, TTL 64.
    fn client_hop(&mut self, client: Ipv4Addr, dst: Ipv4Addr) -> Hop {
        Hop {
            src_mac: self.gw_mac,
            dst_mac: self.config.appliance.mac,
            src: client.into(),
            dst: dst.into(),
            ttl: 64,
            ident: self.next() as u16,
        }
    }

    /// A SYN to a frontend address on a port no frontend serves.
    fn stray_syn_unconfigured_port(&mut self) -> Vec<u8> {
        let v4s: Vec<Ipv4Addr> = self
            .config
            .frontends
            .iter()
            .filter_map(|f| v4(f.address))
            .collect();
        let addr = match v4s.len() {
            0 => Ipv4Addr::from(BENCH_NET | 0x0101),
            n => v4s[self.next() as usize % n],
        };
        let port = loop {
            let p = self.range(1, 10_000) as u16;
            if !self
                .frontend_endpoints
                .contains(&(addr, p, IpProtocol::Tcp))
            {
                break p;
            }
        };
        self.client_probe(addr, port, IpProtocol::Tcp, 64)
    }

    /// A UDP datagram to a benchmarking address that is no frontend.
    fn stray_udp_no_frontend(&mut self) -> Vec<u8> {
        let dst = self.foreign_addr();
        let port = self.range(1, 65535) as u16;
        self.client_probe(dst, port, IpProtocol::Udp, 64)
    }

    /// An ACK (with or without data) of no known connection.
    fn stray_midstream_ack(&mut self) -> Vec<u8> {
        let ts = self.midstream_targets();
        let t = ts[self.next() as usize % ts.len()].clone();
        let (client, cport) = self.alloc_client();
        let hop = self.client_hop(client, t.addr4());
        let (seq, ack) = (self.next() as u32, self.next() as u32);
        let n = self.range(0, 600) as usize;
        let payload = self.bytes(n);
        let flags = if n > 0 {
            tcp::FLAG_ACK | tcp::FLAG_PSH
        } else {
            tcp::FLAG_ACK
        };
        let seg = tcp_segment(
            &hop,
            Segment {
                sport: cport,
                dport: t.port,
                seq,
                ack,
                flags,
                window: 501,
            },
            &[],
            &payload,
        );
        ipv4_frame(&hop, IpProtocol::Tcp, true, false, &seg)
    }

    /// A packet from a backend's address whose source port is not a backend port.
    fn stray_backend_wrong_port(&mut self) -> Vec<u8> {
        let mut bs: Vec<(Ipv4Addr, u16, IpProtocol, MacAddr)> = Vec::new();
        for r in &self.config.rules {
            let proto = self.config.frontends[r.frontend].protocol;
            let pool = &self.config.pools[r.pool];
            for b in &pool.backends {
                if let Some(a) = v4(b.address) {
                    let mac = frame_mac(b.mac, self.config.next_hop(Some(pool), b));
                    bs.push((a, b.port, proto, mac));
                }
            }
        }
        for n in &self.config.nat_rules {
            let proto = self.config.frontends[n.frontend].protocol;
            if let Some(a) = v4(n.backend.address) {
                let mac = frame_mac(n.backend.mac, self.config.next_hop(None, &n.backend));
                bs.push((a, n.backend.port, proto, mac));
            }
        }
        if bs.is_empty() {
            // Only IPv6 backends: not generated yet.
            return self.stray_udp_no_frontend();
        }
        let (addr, _, proto, mac) = bs[self.next() as usize % bs.len()];
        let sport = loop {
            let p = self.range(EPHEMERAL_LO as u64, EPHEMERAL_HI as u64) as u16;
            if !self.backend_endpoints.contains(&(addr, p, proto)) {
                break p;
            }
        };
        // A client endpoint of its own, so that it cannot be
        // mistaken for part of a real connection.
        let (client, cport) = self.alloc_client();
        let hop = Hop {
            src_mac: mac,
            dst_mac: self.config.appliance.mac,
            src: addr.into(),
            dst: client.into(),
            ttl: 64,
            ident: self.next() as u16,
        };
        let n = self.range(1, 600) as usize;
        let payload = self.bytes(n);
        if proto == IpProtocol::Tcp {
            let (seq, ack) = (self.next() as u32, self.next() as u32);
            let seg = tcp_segment(
                &hop,
                Segment {
                    sport,
                    dport: cport,
                    seq,
                    ack,
                    flags: tcp::FLAG_ACK | tcp::FLAG_PSH,
                    window: 65_160,
                },
                &[],
                &payload,
            );
            ipv4_frame(&hop, IpProtocol::Tcp, true, false, &seg)
        } else {
            let d = udp_datagram(&hop, sport, cport, &payload);
            ipv4_frame(&hop, IpProtocol::Udp, true, false, &d)
        }
    }

    /// A TCP SYN over IPv6.
    fn stray_ipv6(&mut self) -> Vec<u8> {
        let src = self.next() as u16;
        let flow = self.next() as u32 & 0xf_ffff;
        let (sport, seq) = (
            self.range(EPHEMERAL_LO as u64, EPHEMERAL_HI as u64) as u16,
            self.next() as u32,
        );
        ipv6_syn(
            self.gw_mac,
            self.config.appliance.mac,
            src,
            flow,
            sport,
            seq,
        )
    }

    /// A client's first packet to a frontend, with TTL 1.
    fn stray_ttl_expired(&mut self) -> Vec<u8> {
        let t = self.random_target4().expect("checked by stray_possible");
        self.client_probe(t.addr4(), t.port, t.protocol, 1)
    }

    /// A client's first packet to a frontend, its IPv4 header checksum spoiled.
    fn stray_bad_ip_checksum(&mut self) -> Vec<u8> {
        let (addr, port, proto) = match self.random_target4() {
            Some(t) => (t.addr4(), t.port, t.protocol),
            None => (Ipv4Addr::from(BENCH_NET | 0x0101), 80, IpProtocol::Tcp),
        };
        let mut f = self.client_probe(addr, port, proto, 64);
        let mut flip = self.next() as u16;
        if flip == 0 || flip == 0xffff {
            flip = 0x0100;
        }
        let mut ip = ipv4::Packet::new_unchecked(&mut f[ethernet::HEADER_LEN..]);
        let c = ip.checksum();
        ip.set_checksum(c ^ flip);
        f
    }

    /// The first 1 to 13 bytes of an Ethernet header.
    fn stray_truncated(&mut self) -> Vec<u8> {
        let n = self.range(1, ethernet::HEADER_LEN as u64 - 1) as usize;
        let mut f = Vec::with_capacity(ethernet::HEADER_LEN);
        f.extend_from_slice(&self.config.appliance.mac.0);
        f.extend_from_slice(&self.gw_mac.0);
        f.extend_from_slice(&[0x08, 0x00]);
        f.truncate(n);
        f
    }

    /// An ICMP echo request to an address that is not the appliance's.
    fn stray_echo_non_local(&mut self) -> Vec<u8> {
        let dst = self.foreign_addr();
        let client = self.random_client();
        let hop = self.client_hop(client, dst);
        let payload = self.bytes(56);
        let id = self.next() as u16;
        let msg = icmp_echo(id, 1, &payload);
        ipv4_frame(&hop, IpProtocol::Icmp, true, false, &msg)
    }

    /// The first fragment of a datagram to a frontend, cut too short.
    fn stray_fragment(&mut self) -> Vec<u8> {
        let (addr, port, proto) = match self.random_target4() {
            Some(t) => (t.addr4(), t.port, t.protocol),
            None => (Ipv4Addr::from(BENCH_NET | 0x0101), 53, IpProtocol::Udp),
        };
        let (client, cport) = self.alloc_client();
        let hop = self.client_hop(client, addr);
        // A datagram too large for one 1500-byte packet.
        let n = self.range(1_600, 3_000) as usize;
        let payload = self.bytes(n);
        let (l4, p) = match proto {
            IpProtocol::Tcp => {
                let (seq, ack) = (self.next() as u32, self.next() as u32);
                (
                    tcp_segment(
                        &hop,
                        Segment {
                            sport: cport,
                            dport: port,
                            seq,
                            ack,
                            flags: tcp::FLAG_ACK | tcp::FLAG_PSH,
                            window: 64_240,
                        },
                        &[],
                        &payload,
                    ),
                    IpProtocol::Tcp,
                )
            }
            // UDP: a frontend serves nothing else.
            _ => (udp_datagram(&hop, cport, port, &payload), IpProtocol::Udp),
        };
        // Its first fragment cut to 8 bytes: TCP's ports and sequence
        // number without its flags; for UDP (whose header is 8 bytes), 4,
        // which no fragment but the last may carry (RFC 791).
        let cut = if p == IpProtocol::Tcp { 8 } else { 4 };
        ipv4_frame(&hop, p, false, true, &l4[..cut])
    }
}

// ---- frame builders --------------------------------------------------------

/// A neighbour's MAC in a configuration that leaves it to resolution:
/// locally administered and unicast (02:xx, IEEE 802 section 8.2),
/// `02:34:` and the IPv4 address, or `02:36:` and the IPv6 address's four
/// 32-bit words XORed. The same address always gives the same MAC, and the
/// capture then shows it (as the source of the neighbour's frames) to a
/// replay, which resolves the neighbour from it.
pub fn stand_in_mac(ip: IpAddr) -> MacAddr {
    let (kind, low) = match ip {
        IpAddr::V4(a) => (0x34, a.octets()),
        IpAddr::V6(a) => {
            let x = u128::from(a);
            let folded = (x as u32) ^ ((x >> 32) as u32) ^ ((x >> 64) as u32) ^ ((x >> 96) as u32);
            (0x36, folded.to_be_bytes())
        }
    };
    MacAddr([0x02, kind, low[0], low[1], low[2], low[3]])
}

/// The source MAC of a backend's frames: its own (or its pool's
/// `next_hop_mac`), or when resolved, the stand-in of the next hop that
/// forwards them.
fn frame_mac(mac: MacAddr, next_hop: Option<IpAddr>) -> MacAddr {
    match next_hop {
        Some(h) if mac == MacAddr::ZERO => stand_in_mac(h),
        _ => mac,
    }
}

fn pad(mut f: Vec<u8>) -> Vec<u8> {
    if f.len() < MIN_FRAME {
        f.resize(MIN_FRAME, 0);
    }
    f
}

/// Ethernet + IP around an L4 message: IPv4 with DF set (checksum filled),
/// or IPv6 without extension headers.
fn ip_frame(hop: &Hop, proto: IpProtocol, l4: &[u8]) -> Vec<u8> {
    match (hop.src, hop.dst) {
        (IpAddr::V6(src), IpAddr::V6(dst)) => ipv6_frame(hop, src, dst, proto, l4),
        _ => ipv4_frame(hop, proto, true, false, l4),
    }
}

/// Ethernet + IPv6 (no extension headers) around an L4 message, hop limit
/// `hop.ttl`, flow label 0.
fn ipv6_frame(hop: &Hop, src: Ipv6Addr, dst: Ipv6Addr, proto: IpProtocol, l4: &[u8]) -> Vec<u8> {
    let l3 = ethernet::HEADER_LEN;
    let mut buf = vec![0u8; l3 + ipv6::HEADER_LEN + l4.len()];
    {
        let mut eth = ethernet::Frame::new_unchecked(&mut buf[..]);
        eth.set_dst_addr(hop.dst_mac);
        eth.set_src_addr(hop.src_mac);
        eth.set_ethertype(EtherType::Ipv6);
    }
    {
        let mut ip = ipv6::Packet::new_unchecked(&mut buf[l3..]);
        ip.set_version(6);
        ip.set_traffic_class(0);
        ip.set_flow_label(0);
        ip.set_payload_len(l4.len() as u16);
        ip.set_next_header(proto);
        ip.set_hop_limit(hop.ttl);
        ip.set_src_addr(src);
        ip.set_dst_addr(dst);
        ip.payload_mut()[..l4.len()].copy_from_slice(l4);
    }
    pad(buf)
}

/// Ethernet + IPv4 (no options) around an L4 message, checksum filled.
fn ipv4_frame(hop: &Hop, proto: IpProtocol, df: bool, mf: bool, l4: &[u8]) -> Vec<u8> {
    let (src, dst) = (v4(hop.src).expect("IPv4"), v4(hop.dst).expect("IPv4"));
    let l3 = ethernet::HEADER_LEN;
    let ip_len = ipv4::MIN_HEADER_LEN + l4.len();
    let mut buf = vec![0u8; l3 + ip_len];
    {
        let mut eth = ethernet::Frame::new_unchecked(&mut buf[..]);
        eth.set_dst_addr(hop.dst_mac);
        eth.set_src_addr(hop.src_mac);
        eth.set_ethertype(EtherType::Ipv4);
    }
    {
        let mut ip = ipv4::Packet::new_unchecked(&mut buf[l3..]);
        ip.set_version(4);
        ip.set_header_len(ipv4::MIN_HEADER_LEN as u8);
        ip.set_dscp_ecn(0);
        ip.set_total_len(ip_len as u16);
        ip.set_ident(hop.ident);
        ip.set_flags_and_frag(df, mf, 0);
        ip.set_ttl(hop.ttl);
        ip.set_protocol(proto);
        ip.set_src_addr(src);
        ip.set_dst_addr(dst);
        ip.payload_mut().copy_from_slice(l4);
        ip.fill_checksum();
    }
    pad(buf)
}

/// The header fields of a generated TCP segment.
#[derive(Clone, Copy)]
struct Segment {
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    window: u16,
}

/// A TCP segment with options (a multiple of 4 bytes) and payload, checksum filled.
fn tcp_segment(hop: &Hop, seg: Segment, options: &[u8], payload: &[u8]) -> Vec<u8> {
    let Segment {
        sport,
        dport,
        seq,
        ack,
        flags,
        window,
    } = seg;
    let hl = tcp::HEADER_LEN + options.len();
    let mut b = vec![0u8; hl + payload.len()];
    let mut t = tcp::Packet::new_unchecked(&mut b[..]);
    t.set_src_port(sport);
    t.set_dst_port(dport);
    t.set_seq_number(seq);
    t.set_ack_number(ack);
    t.set_header_len(hl as u8);
    t.set_flags(flags);
    t.set_window_len(window);
    t.options_mut().copy_from_slice(options);
    t.payload_mut().copy_from_slice(payload);
    match (hop.src, hop.dst) {
        (IpAddr::V6(s), IpAddr::V6(d)) => t.fill_checksum_v6(s, d),
        (s, d) => t.fill_checksum(v4(s).expect("IPv4"), v4(d).expect("IPv4")),
    }
    b
}

/// A UDP datagram, checksum filled.
fn udp_datagram(hop: &Hop, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let len = udp::HEADER_LEN + payload.len();
    let mut b = vec![0u8; len];
    let mut u = udp::Packet::new_unchecked(&mut b[..]);
    u.set_src_port(sport);
    u.set_dst_port(dport);
    u.set_len(len as u16);
    u.payload_mut().copy_from_slice(payload);
    match (hop.src, hop.dst) {
        (IpAddr::V6(s), IpAddr::V6(d)) => u.fill_checksum_v6(s, d),
        (s, d) => u.fill_checksum(v4(s).expect("IPv4"), v4(d).expect("IPv4")),
    }
    b
}

/// An ICMP echo request, checksum filled.
fn icmp_echo(id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; icmp::HEADER_LEN + payload.len()];
    let mut m = icmp::Packet::new_unchecked(&mut b[..]);
    m.set_msg_type(icmp::Message::EchoRequest);
    m.set_code(0);
    m.set_echo_ident(id);
    m.set_echo_seq_no(seq);
    m.payload_mut().copy_from_slice(payload);
    m.fill_checksum();
    b
}

/// An ICMPv6 echo request from `src` to `dst`, checksum filled.
fn icmpv6_echo(src: Ipv6Addr, dst: Ipv6Addr, id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; icmpv6::HEADER_LEN + payload.len()];
    let mut m = icmpv6::Packet::new_unchecked(&mut b[..]);
    m.set_msg_type(icmpv6::Message::EchoRequest);
    m.set_code(icmpv6::ZERO_CODE);
    m.set_echo_ident(id);
    m.set_echo_seq_no(seq);
    m.payload_mut().copy_from_slice(payload);
    m.fill_checksum(src, dst);
    b
}

/// A multicast Neighbor Solicitation for `target` from the link-local
/// address of `sender_mac` (its modified EUI-64, RFC 4291 appendix A), with
/// a source link-layer address option (RFC 4861 section 4.3).
fn neighbor_solicitation(sender_mac: MacAddr, target: Ipv6Addr) -> Vec<u8> {
    let m = sender_mac.0;
    let src = Ipv6Addr::from([
        0xfe,
        0x80,
        0,
        0,
        0,
        0,
        0,
        0,
        m[0] ^ 0x02,
        m[1],
        m[2],
        0xff,
        0xfe,
        m[3],
        m[4],
        m[5],
    ]);
    let dst = ipv6::solicited_node(target);
    let mut msg = vec![0u8; icmpv6::NDP_HEADER_LEN + icmpv6::LINK_ADDR_OPTION_LEN];
    {
        let mut ns = icmpv6::Packet::new_unchecked(&mut msg[..]);
        ns.set_msg_type(icmpv6::Message::NeighborSolicit);
        ns.set_code(icmpv6::ZERO_CODE);
        ns.set_body_word(0);
        ns.set_target_addr(target);
    }
    let _ = icmpv6::emit_link_addr_option(
        &mut msg[icmpv6::NDP_HEADER_LEN..],
        icmpv6::NdpOptionType::SourceLinkAddr,
        sender_mac,
    );
    icmpv6::Packet::new_unchecked(&mut msg[..]).fill_checksum(src, dst);
    let hop = Hop {
        src_mac: sender_mac,
        dst_mac: ipv6::multicast_mac(dst),
        src: src.into(),
        dst: dst.into(),
        ttl: icmpv6::NDP_HOP_LIMIT,
        ident: 0,
    };
    ip_frame(&hop, IpProtocol::Icmpv6, &msg)
}

/// The IPv4 address, or None for IPv6.
fn v4(a: IpAddr) -> Option<Ipv4Addr> {
    match a {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(_) => None,
    }
}

/// The IPv6 address, or None for IPv4.
fn v6(a: IpAddr) -> Option<Ipv6Addr> {
    match a {
        IpAddr::V6(a) => Some(a),
        IpAddr::V4(_) => None,
    }
}

/// The IPv6 twin of IPv4 client 198.18.128.0 + H: 2001:db8:8000:H::c612:8000+H
/// (its own /64, the IPv4 address in the low 32 bits).
fn client6(client: Ipv4Addr) -> Ipv6Addr {
    let a = u32::from(client);
    let host = u128::from(a & (CLIENT_HOSTS - 1));
    Ipv6Addr::from(CLIENT_NET6 | (host << 64) | u128::from(a))
}

/// A broadcast ARP request: who has `target`? tell `sender_ip`.
fn arp_request(sender_mac: MacAddr, sender_ip: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    let l3 = ethernet::HEADER_LEN;
    let mut buf = vec![0u8; l3 + arp::LEN];
    {
        let mut eth = ethernet::Frame::new_unchecked(&mut buf[..]);
        eth.set_dst_addr(MacAddr::BROADCAST);
        eth.set_src_addr(sender_mac);
        eth.set_ethertype(EtherType::Arp);
    }
    {
        let mut a = arp::Packet::new_unchecked(&mut buf[l3..]);
        a.set_ethernet_ipv4();
        a.set_operation(arp::Operation::Request);
        a.set_sender_hardware_addr(sender_mac);
        a.set_sender_protocol_addr(sender_ip);
        a.set_target_hardware_addr(MacAddr::ZERO);
        a.set_target_protocol_addr(target);
    }
    pad(buf)
}

/// A TCP SYN over IPv6 between two hosts of 2001:2::/48 (RFC 5180
/// benchmarking space), TCP checksum over the IPv6 pseudo-header.
fn ipv6_syn(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    host: u16,
    flow: u32,
    sport: u16,
    seq: u32,
) -> Vec<u8> {
    let mut src = [0u8; 16];
    src[..6].copy_from_slice(&[0x20, 0x01, 0x00, 0x02, 0x00, 0x00]);
    src[6..8].copy_from_slice(&[0x80, 0x00]);
    src[14..16].copy_from_slice(&host.max(1).to_be_bytes());
    let mut dst = [0u8; 16];
    dst[..6].copy_from_slice(&[0x20, 0x01, 0x00, 0x02, 0x00, 0x00]);
    dst[6..8].copy_from_slice(&[0x00, 0x01]);
    dst[15] = 0x0a;

    let mut seg = vec![0u8; tcp::HEADER_LEN + SYN_OPTIONS.len()];
    {
        let mut t = tcp::Packet::new_unchecked(&mut seg[..]);
        t.set_src_port(sport);
        t.set_dst_port(80);
        t.set_seq_number(seq);
        t.set_header_len((tcp::HEADER_LEN + SYN_OPTIONS.len()) as u8);
        t.set_flags(tcp::FLAG_SYN);
        t.set_window_len(64_800);
        t.options_mut().copy_from_slice(&SYN_OPTIONS);
        // Pseudo-header: addresses, upper-layer length, next header.
        let len = (tcp::HEADER_LEN + SYN_OPTIONS.len()) as u32;
        let pseudo = checksum::combine(
            checksum::combine(checksum::sum(&src), checksum::sum(&dst)),
            len + 6,
        );
        t.set_checksum(0);
        let c = checksum::finish(checksum::combine(pseudo, checksum::sum(t.as_ref())));
        t.set_checksum(c);
    }

    let mut f = Vec::with_capacity(ethernet::HEADER_LEN + 40 + seg.len());
    f.extend_from_slice(&dst_mac.0);
    f.extend_from_slice(&src_mac.0);
    f.extend_from_slice(&0x86ddu16.to_be_bytes());
    f.extend_from_slice(&((6u32 << 28) | flow).to_be_bytes());
    f.extend_from_slice(&(seg.len() as u16).to_be_bytes());
    f.push(6); // next header: TCP
    f.push(64); // hop limit
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&seg);
    pad(f)
}

/// An LLDP frame from the gateway: chassis id (its MAC), port id, TTL, end.
fn lldp(src_mac: MacAddr) -> Vec<u8> {
    let mut f = Vec::with_capacity(MIN_FRAME);
    f.extend_from_slice(&LLDP_MAC.0);
    f.extend_from_slice(&src_mac.0);
    f.extend_from_slice(&0x88ccu16.to_be_bytes());
    let tlv = |f: &mut Vec<u8>, ty: u16, value: &[u8]| {
        f.extend_from_slice(&((ty << 9) | value.len() as u16).to_be_bytes());
        f.extend_from_slice(value);
    };
    let mut chassis = vec![4u8]; // subtype: MAC address
    chassis.extend_from_slice(&src_mac.0);
    tlv(&mut f, 1, &chassis);
    tlv(&mut f, 2, b"\x05Ethernet1"); // subtype: interface name
    tlv(&mut f, 3, &120u16.to_be_bytes());
    tlv(&mut f, 0, &[]);
    pad(f)
}
