//! Helpers of the translation tests: a packet description built into bytes
//! with etherparse (never with natrix's own code), the expected rewrites, and a
//! harness that runs frames through one `Dataplane` and checks its counters.

use etherparse::{
    EtherType, Ethernet2Header, IpHeaders, IpNumber, Ipv4Extensions, Ipv4Header, Ipv4Options,
    PacketBuilder, TcpHeader, VlanId,
};
use natrix::config::Config;
use natrix::control::plane::ControlPlane;
use natrix::dataplane::counters::{Counters, DropReason, Event};
use natrix::dataplane::select;
use natrix::dataplane::select::Mode;
use natrix::dataplane::snapshot::{BackendEntry, BackendStatus, Service, Snapshot};
use natrix::dataplane::{choose_backend, Dataplane, Verdict, HASH_SEED};
use natrix::ports::{HeapBuf, PacketBuf, BURST};
use std::net::Ipv4Addr;

/// natrix's own MAC (`appliance.mac`).
pub const LB_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
/// Next hop toward the clients (`appliance.gateway_mac`).
pub const GW_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0xfe];
/// The router that hands client traffic to natrix.
pub const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0xaa, 0x01];
/// The sender of backend traffic (a backend or its router).
pub const BE_SIDE_MAC: [u8; 6] = [0x02, 0, 0, 0, 0xbb, 0x01];

pub const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 200, 7);
pub const LB_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
pub const LB_ADDR2: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

pub const WEB: (Ipv4Addr, u16) = (Ipv4Addr::new(198, 18, 1, 10), 80);
pub const TLS: (Ipv4Addr, u16) = (Ipv4Addr::new(198, 18, 1, 11), 443);
pub const DNS: (Ipv4Addr, u16) = (Ipv4Addr::new(198, 18, 1, 12), 53);
pub const API: (Ipv4Addr, u16) = (Ipv4Addr::new(198, 18, 1, 13), 8000);
pub const SSH: (Ipv4Addr, u16) = (Ipv4Addr::new(198, 18, 1, 10), 2222);
pub const EMPTY: (Ipv4Addr, u16) = (Ipv4Addr::new(198, 18, 1, 14), 80);
pub const SYSLOG: (Ipv4Addr, u16) = (Ipv4Addr::new(198, 18, 1, 10), 514);
/// The backend of both inbound NAT rules.
pub const NAT_BE: Ipv4Addr = Ipv4Addr::new(198, 19, 5, 20);

/// The SYN-only timeout of every rule (`appliance.transitory_timeout`).
pub const TRANSITORY_SECS: u32 = 10;
pub const WEB_IDLE_SECS: u32 = 4 * 60;
/// The closing timeout of the rules that do not set one (4 minutes).
pub const WEB_TRANSITORY_SECS: u32 = 4 * 60;
pub const API_IDLE_SECS: u32 = 5 * 60;

/// The test configuration: every distribution mode, inbound NAT rules (TCP
/// and UDP), a pool whose backends all weigh 0, and appliance addresses.
pub const CONFIG: &str = super::fixtures::TRANSLATION;

pub const TCP_FIN: u8 = 0x01;
pub const TCP_SYN: u8 = 0x02;
pub const TCP_RST: u8 = 0x04;
pub const TCP_PSH: u8 = 0x08;
pub const TCP_ACK: u8 = 0x10;

/// The transport part of a test packet.
#[derive(Clone, Debug)]
pub enum L4 {
    Tcp {
        sport: u16,
        dport: u16,
        flags: u8,
        seq: u32,
        ack: u32,
        /// Raw TCP options (a multiple of 4 bytes).
        options: Vec<u8>,
    },
    Udp {
        sport: u16,
        dport: u16,
        /// Send checksum 0 ("no checksum", RFC 768).
        no_checksum: bool,
    },
    EchoRequest {
        id: u16,
        seq: u16,
    },
    EchoReply {
        id: u16,
        seq: u16,
    },
    /// Any other ICMP message: type, code, bytes 5 to 8.
    Icmp {
        ty: u8,
        code: u8,
        rest: [u8; 4],
    },
}

/// A test packet: Ethernet (with 0, 1 or 2 VLAN tags), IPv4, transport, payload.
#[derive(Clone, Debug)]
pub struct Pkt {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    /// VLAN ids, outer first: one is 802.1Q, two is 802.1ad + 802.1Q.
    pub vlans: Vec<u16>,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ttl: u8,
    pub ident: u16,
    pub dont_frag: bool,
    /// Raw IPv4 options (a multiple of 4 bytes).
    pub ip_options: Vec<u8>,
    pub l4: L4,
    pub payload: Vec<u8>,
    /// Zero bytes after the IP datagram (Ethernet minimum-size padding).
    pub padding: usize,
}

impl Pkt {
    fn new(src: Ipv4Addr, dst: Ipv4Addr, l4: L4) -> Pkt {
        Pkt {
            src_mac: PEER_MAC,
            dst_mac: LB_MAC,
            vlans: Vec::new(),
            src,
            dst,
            ttl: 64,
            ident: 0x1c46,
            dont_frag: true,
            ip_options: Vec::new(),
            l4,
            payload: Vec::new(),
            padding: 0,
        }
    }

    /// A TCP segment; a SYN carries an MSS option.
    pub fn tcp(src: (Ipv4Addr, u16), dst: (Ipv4Addr, u16), flags: u8) -> Pkt {
        let options = if flags & TCP_SYN != 0 {
            vec![0x02, 0x04, 0x05, 0xb4]
        } else {
            Vec::new()
        };
        let ack = if flags & TCP_ACK != 0 { 0x0bad_cafe } else { 0 };
        Pkt::new(
            src.0,
            dst.0,
            L4::Tcp {
                sport: src.1,
                dport: dst.1,
                flags,
                seq: 0x7a1c_3f05,
                ack,
                options,
            },
        )
    }

    /// A UDP datagram with a checksum.
    pub fn udp(src: (Ipv4Addr, u16), dst: (Ipv4Addr, u16)) -> Pkt {
        Pkt::new(
            src.0,
            dst.0,
            L4::Udp {
                sport: src.1,
                dport: dst.1,
                no_checksum: false,
            },
        )
        .payload(b"\xab\xcd\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01")
    }

    pub fn echo_request(src: Ipv4Addr, dst: Ipv4Addr, id: u16, seq: u16) -> Pkt {
        Pkt::new(src, dst, L4::EchoRequest { id, seq }).payload(b"natrix-ping-0123")
    }

    pub fn icmp(src: Ipv4Addr, dst: Ipv4Addr, ty: u8, code: u8, rest: [u8; 4]) -> Pkt {
        Pkt::new(src, dst, L4::Icmp { ty, code, rest })
    }

    pub fn payload(mut self, p: &[u8]) -> Pkt {
        self.payload = p.to_vec();
        self
    }

    pub fn ttl(mut self, ttl: u8) -> Pkt {
        self.ttl = ttl;
        self
    }

    pub fn vlans(mut self, v: &[u16]) -> Pkt {
        self.vlans = v.to_vec();
        self
    }

    pub fn ip_options(mut self, o: &[u8]) -> Pkt {
        self.ip_options = o.to_vec();
        self
    }

    pub fn macs(mut self, src: [u8; 6], dst: [u8; 6]) -> Pkt {
        self.src_mac = src;
        self.dst_mac = dst;
        self
    }

    pub fn padding(mut self, n: usize) -> Pkt {
        self.padding = n;
        self
    }

    pub fn no_udp_checksum(mut self) -> Pkt {
        if let L4::Udp { no_checksum, .. } = &mut self.l4 {
            *no_checksum = true;
        }
        self
    }

    pub fn sport(&self) -> u16 {
        match self.l4 {
            L4::Tcp { sport, .. } | L4::Udp { sport, .. } => sport,
            _ => 0,
        }
    }

    pub fn dport(&self) -> u16 {
        match self.l4 {
            L4::Tcp { dport, .. } | L4::Udp { dport, .. } => dport,
            _ => 0,
        }
    }

    pub fn set_sport(&mut self, p: u16) {
        if let L4::Tcp { sport, .. } | L4::Udp { sport, .. } = &mut self.l4 {
            *sport = p;
        }
    }

    pub fn set_dport(&mut self, p: u16) {
        if let L4::Tcp { dport, .. } | L4::Udp { dport, .. } = &mut self.l4 {
            *dport = p;
        }
    }

    pub fn proto(&self) -> u8 {
        match self.l4 {
            L4::Tcp { .. } => 6,
            L4::Udp { .. } => 17,
            _ => 1,
        }
    }

    /// Offset of the IPv4 header in the frame.
    pub fn l3(&self) -> usize {
        14 + 4 * self.vlans.len()
    }

    /// Offset of the transport header in the frame.
    pub fn l4_offset(&self) -> usize {
        self.l3() + 20 + self.ip_options.len()
    }

    /// The frame, built with etherparse (checksums computed by etherparse).
    pub fn build(&self) -> Vec<u8> {
        let ip = Ipv4Header {
            time_to_live: self.ttl,
            identification: self.ident,
            dont_fragment: self.dont_frag,
            source: self.src.octets(),
            destination: self.dst.octets(),
            options: Ipv4Options::try_from(&self.ip_options[..]).expect("IPv4 options"),
            ..Default::default()
        };
        let ip = IpHeaders::Ipv4(ip, Ipv4Extensions::default());
        let eth = PacketBuilder::ethernet2(self.src_mac, self.dst_mac);
        let step = match self.vlans[..] {
            [] => eth.ip(ip),
            [v] => eth.single_vlan(VlanId::try_new(v).unwrap()).ip(ip),
            [o, i] => eth
                .double_vlan(VlanId::try_new(o).unwrap(), VlanId::try_new(i).unwrap())
                .ip(ip),
            _ => panic!("at most two tags; use with_tags for more"),
        };
        let mut out = Vec::new();
        match &self.l4 {
            L4::Tcp {
                sport,
                dport,
                flags,
                seq,
                ack,
                options,
            } => {
                let mut t = TcpHeader::new(*sport, *dport, *seq, 64240);
                t.fin = flags & TCP_FIN != 0;
                t.syn = flags & TCP_SYN != 0;
                t.rst = flags & TCP_RST != 0;
                t.psh = flags & TCP_PSH != 0;
                t.ack = flags & TCP_ACK != 0;
                t.acknowledgment_number = *ack;
                t.set_options_raw(options).expect("TCP options");
                step.tcp_header(t).write(&mut out, &self.payload).unwrap();
            }
            L4::Udp {
                sport,
                dport,
                no_checksum,
            } => {
                step.udp(*sport, *dport)
                    .write(&mut out, &self.payload)
                    .unwrap();
                if *no_checksum {
                    let c = self.l4_offset() + 6;
                    out[c..c + 2].copy_from_slice(&[0, 0]);
                }
            }
            L4::EchoRequest { id, seq } => step
                .icmpv4_echo_request(*id, *seq)
                .write(&mut out, &self.payload)
                .unwrap(),
            L4::EchoReply { id, seq } => step
                .icmpv4_echo_reply(*id, *seq)
                .write(&mut out, &self.payload)
                .unwrap(),
            L4::Icmp { ty, code, rest } => step
                .icmpv4_raw(*ty, *code, *rest)
                .write(&mut out, &self.payload)
                .unwrap(),
        }
        out.resize(out.len() + self.padding, 0);
        out
    }
}

/// An IPv4 datagram of another protocol (GRE, ...) with a raw payload.
pub fn ip_other(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, payload: &[u8]) -> Vec<u8> {
    let ip = Ipv4Header::new(
        payload.len() as u16,
        64,
        IpNumber(proto),
        src.octets(),
        dst.octets(),
    )
    .unwrap();
    let mut out = Vec::new();
    PacketBuilder::ethernet2(PEER_MAC, LB_MAC)
        .ip(IpHeaders::Ipv4(ip, Ipv4Extensions::default()))
        .write(&mut out, IpNumber(proto), payload)
        .unwrap();
    out
}

/// An Ethernet/ARP frame (RFC 826), Ethernet/IPv4.
pub fn arp(
    eth_dst: [u8; 6],
    op: u16,
    sha: [u8; 6],
    spa: Ipv4Addr,
    tha: [u8; 6],
    tpa: Ipv4Addr,
) -> Vec<u8> {
    let eth = Ethernet2Header {
        source: sha,
        destination: eth_dst,
        ether_type: EtherType::ARP,
    };
    let mut v = eth.to_bytes().to_vec();
    v.extend_from_slice(&[0x00, 0x01, 0x08, 0x00, 6, 4]);
    v.extend_from_slice(&op.to_be_bytes());
    v.extend_from_slice(&sha);
    v.extend_from_slice(&spa.octets());
    v.extend_from_slice(&tha);
    v.extend_from_slice(&tpa.octets());
    v
}

/// Inserts VLAN tags (TPID, VLAN id) after the MAC addresses of an untagged frame.
pub fn with_tags(frame: &[u8], tags: &[(u16, u16)]) -> Vec<u8> {
    let mut v = frame[..12].to_vec();
    for (tpid, vid) in tags {
        v.extend_from_slice(&tpid.to_be_bytes());
        v.extend_from_slice(&vid.to_be_bytes());
    }
    v.extend_from_slice(&frame[12..]);
    v
}

/// RFC 1071 checksum of `data` (written here, independent of natrix's).
pub fn inet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in data.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], 0])
        };
        sum += u32::from(w);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Recomputes the IPv4 header checksum of the header at `l3` (after a raw edit).
pub fn fix_ip_checksum(frame: &mut [u8], l3: usize) {
    // An IHL that is too small or runs past the frame (a malformed case) sums 20 bytes.
    let ihl = (frame[l3] & 0x0f) as usize * 4;
    let ihl = if ihl < 20 || l3 + ihl > frame.len() {
        20
    } else {
        ihl
    };
    frame[l3 + 10] = 0;
    frame[l3 + 11] = 0;
    let c = inet_checksum(&frame[l3..l3 + ihl]);
    frame[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
}

/// The service serving frontend (address, port, protocol).
pub fn service_of(snap: &Snapshot, addr: Ipv4Addr, port: u16, proto: u8) -> &Service {
    let s = snap
        .frontend(u32::from(addr), port, proto.into())
        .unwrap_or_else(|| panic!("no frontend {addr}:{port}/{proto}"));
    &snap.services[s as usize]
}

/// The packet as natrix must send it to backend `be`.
pub fn to_backend(p: &Pkt, be: &BackendEntry) -> Pkt {
    let mut q = p.clone();
    q.src_mac = LB_MAC;
    q.dst_mac = be.mac.0;
    q.dst = Ipv4Addr::from(be.addr_raw);
    q.set_dport(be.port);
    q.ttl -= 1;
    q
}

/// The backend's packet as natrix must send it to the client, from the frontend.
pub fn to_client(p: &Pkt, frontend: (Ipv4Addr, u16)) -> Pkt {
    let mut q = p.clone();
    q.src_mac = LB_MAC;
    q.dst_mac = GW_MAC;
    q.src = frontend.0;
    q.set_sport(frontend.1);
    q.ttl -= 1;
    q
}

/// The backend a hash-mode service picks for a new connection of `p`, with
/// the hash inputs of the data path.
pub fn hashed(snap: &Snapshot, p: &Pkt, mode: Mode) -> u16 {
    let svc = service_of(snap, p.dst, p.dport(), p.proto());
    let c = u32::from(p.src);
    let h = match mode {
        Mode::Maglev | Mode::Random => {
            select::hash_tuple(c, svc.addr_raw, p.sport(), svc.port, p.proto(), HASH_SEED)
        }
        Mode::SourceIp => select::hash_src(c, HASH_SEED),
        Mode::SourceIpProtocol => select::hash_src_proto(c, p.proto(), HASH_SEED),
    };
    let b = svc.pick_hash(h);
    assert_ne!(b, select::NONE, "no backend for {p:?}");
    b
}

/// What a new connection of inbound packet `p` must become: one of the pool's
/// backends in random mode, the hashed backend otherwise.
pub fn inbound(snap: &Snapshot, p: &Pkt) -> Want {
    let svc = service_of(snap, p.dst, p.dport(), p.proto());
    match svc.mode {
        Mode::Random => Want::Any(
            svc.members
                .iter()
                .map(|&id| &snap.backends[id as usize])
                .filter(|b| b.status == BackendStatus::Active)
                .map(|b| to_backend(p, b).build())
                .collect(),
        ),
        m => {
            let be = &snap.backends[hashed(snap, p, m) as usize];
            Want::Exact(Verdict::ToPrivate, to_backend(p, be).build())
        }
    }
}

/// The inbound packet `p` rewritten toward backend `(address, port)`.
pub fn toward(snap: &Snapshot, p: &Pkt, addr: Ipv4Addr, port: u16) -> Vec<u8> {
    let svc = service_of(snap, p.dst, p.dport(), p.proto());
    let be = svc
        .members
        .iter()
        .map(|&id| &snap.backends[id as usize])
        .find(|b| b.address == addr && b.port == port)
        .unwrap_or_else(|| panic!("{addr}:{port} is no backend of {}", svc.name));
    to_backend(p, be).build()
}

/// What return packet `p` (from a backend) must become.
pub fn returning(snap: &Snapshot, p: &Pkt) -> Want {
    let be = snap
        .backends
        .iter()
        .find(|b| {
            b.status != BackendStatus::Removed
                && b.address == p.src
                && b.port == p.sport()
                && snap.services[b.service as usize].protocol.number() == p.proto()
        })
        .unwrap_or_else(|| panic!("{}:{} is no backend", p.src, p.sport()));
    let svc = &snap.services[be.service as usize];
    Want::Exact(
        Verdict::ToPublic,
        to_client(p, (Ipv4Addr::from(svc.addr_raw), svc.port)).build(),
    )
}

/// The id of backend endpoint `be` serving `proto`.
fn backend_id(snap: &Snapshot, be: (Ipv4Addr, u16), proto: u8) -> u16 {
    snap.backends
        .iter()
        .position(|b| {
            b.status != BackendStatus::Removed
                && b.address == be.0
                && b.port == be.1
                && snap.services[b.service as usize].protocol.number() == proto
        })
        .unwrap_or_else(|| panic!("{}:{} is no backend", be.0, be.1)) as u16
}

/// A client endpoint, from `from` on (its port first, then its address),
/// whose new connection natrix gives to backend `be` (which must take new
/// connections): for tests of the return direction, which natrix translates
/// only for connections it tracks.
pub fn client_to(
    snap: &Snapshot,
    be: (Ipv4Addr, u16),
    proto: u8,
    from: (Ipv4Addr, u16),
) -> (Ipv4Addr, u16) {
    let id = backend_id(snap, be, proto);
    let svc = &snap.services[snap.backends[id as usize].service as usize];
    let proto = svc.protocol;
    (0..1u32 << 16)
        .map(|i| {
            let ip = Ipv4Addr::from(u32::from(from.0) + (i >> 8));
            (ip, from.1.wrapping_add((i & 0xff) as u16))
        })
        .find(|&(ip, p)| choose_backend(snap, svc, u32::from(ip), p, proto) == id)
        .unwrap_or_else(|| panic!("no client from {from:?} goes to {}:{}", be.0, be.1))
}

/// The backend endpoint natrix gives a new connection from `client` to
/// pool-served frontend `fe`.
pub fn backend_for(
    snap: &Snapshot,
    client: (Ipv4Addr, u16),
    fe: (Ipv4Addr, u16),
    proto: u8,
) -> (Ipv4Addr, u16) {
    let svc = service_of(snap, fe.0, fe.1, proto);
    let id = choose_backend(snap, svc, u32::from(client.0), client.1, svc.protocol);
    let be = &snap.backends[id as usize];
    (Ipv4Addr::from(be.addr_raw), be.port)
}

/// The client's first packet of the connection that backend packet `reply`
/// belongs to: a SYN (TCP) or a datagram (UDP) to the backend's frontend.
pub fn opener(snap: &Snapshot, reply: &Pkt) -> Pkt {
    let id = backend_id(snap, (reply.src, reply.sport()), reply.proto());
    let svc = &snap.services[snap.backends[id as usize].service as usize];
    let (from, to) = (
        (reply.dst, reply.dport()),
        (Ipv4Addr::from(svc.addr_raw), svc.port),
    );
    if reply.proto() == 6 {
        Pkt::tcp(from, to, TCP_SYN)
    } else {
        Pkt::udp(from, to)
    }
}

/// The backends of pool-served frontend (address, port, protocol), in pool order.
pub fn pool(snap: &Snapshot, fe: (Ipv4Addr, u16), proto: u8) -> Vec<(Ipv4Addr, u16)> {
    let svc = service_of(snap, fe.0, fe.1, proto);
    svc.members
        .iter()
        .map(|&id| &snap.backends[id as usize])
        .filter(|b| b.status != BackendStatus::Removed)
        .map(|b| (Ipv4Addr::from(b.addr_raw), b.port))
        .collect()
}

/// Expected outcome of one packet.
#[derive(Clone, Debug)]
pub enum Want {
    /// Exactly these bytes, with this verdict.
    Exact(Verdict, Vec<u8>),
    /// ToPrivate, exactly one of these (one per eligible backend); the choice
    /// is remembered for `Same`.
    Any(Vec<Vec<u8>>),
    /// ToPrivate, the candidate with the index chosen by the last `Any`.
    Same(Vec<Vec<u8>>),
    /// Dropped under this reason, the frame untouched.
    Drop(DropReason),
    /// Held (a fragment ahead of its first fragment), the frame untouched.
    Hold,
}

/// Hex dump of the first difference, for failure messages.
fn diff(got: &[u8], want: &[u8]) -> String {
    let at = got
        .iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    format!(
        "lengths {} / {}, first difference at byte {at}\n got: {:02x?}\nwant: {:02x?}",
        got.len(),
        want.len(),
        got,
        want
    )
}

/// One data path over the test configuration, with counter bookkeeping.
pub struct Lb {
    pub cp: ControlPlane,
    pub dp: Dataplane,
    /// Packets given a sending verdict so far.
    pub sent: u64,
    /// Index chosen by the last `Want::Any`.
    pub chosen: Option<usize>,
}

impl Lb {
    pub fn new() -> Lb {
        Lb::with(CONFIG, 1 << 16)
    }

    pub fn with(config: &str, flow_table_size: u32) -> Lb {
        let cfg = Config::parse(config, "translation.toml").unwrap_or_else(|e| panic!("{e}"));
        let cp = ControlPlane::new(cfg).unwrap();
        let dp = Dataplane::new(cp.cell(), flow_table_size, 0);
        Lb {
            cp,
            dp,
            sent: 0,
            chosen: None,
        }
    }

    pub fn snap(&self) -> std::sync::Arc<Snapshot> {
        self.dp.snapshot().clone()
    }

    pub fn counters(&self) -> &Counters {
        &self.dp.counters
    }

    pub fn event(&self, e: Event) -> u64 {
        self.dp.counters.event_count(e)
    }

    /// Processes up to one burst; checks that every packet is counted once:
    /// rx moves by the burst size, each drop counter by the number of drops
    /// under its reason, and rx == sent + dropped overall.
    pub fn run(&mut self, frames: &[Vec<u8>]) -> Vec<(Verdict, Vec<u8>)> {
        assert!(frames.len() <= BURST);
        let before = self.dp.counters.clone();
        let mut bufs: Vec<HeapBuf> = frames
            .iter()
            .map(|f| {
                let mut b = HeapBuf::new(2048);
                assert!(b.fill(f));
                b
            })
            .collect();
        let mut verdicts = [Verdict::Drop(DropReason::TxFull); BURST];
        self.dp.process(&mut bufs, &mut verdicts);
        let verdicts = &verdicts[..frames.len()];
        let after = &self.dp.counters;
        assert_eq!(after.rx - before.rx, frames.len() as u64, "rx");
        for r in DropReason::ALL {
            let n = verdicts.iter().filter(|v| **v == Verdict::Drop(*r)).count() as u64;
            assert_eq!(
                after.drop_count(*r) - before.drop_count(*r),
                n,
                "counter {} moved by the wrong amount",
                r.name()
            );
        }
        self.sent += verdicts
            .iter()
            .filter(|v| !matches!(v, Verdict::Drop(_)))
            .count() as u64;
        assert_eq!(
            after.rx,
            self.sent + after.dropped(),
            "rx == sent + dropped"
        );
        verdicts
            .iter()
            .zip(&bufs)
            .map(|(v, b)| (*v, b.data().to_vec()))
            .collect()
    }

    /// Opens the connection that backend packet `reply` belongs to, with the
    /// client's first packet ([`opener`]), and checks that it went to that
    /// backend (pick the client with [`client_to`]).
    #[track_caller]
    pub fn open(&mut self, reply: &Pkt) {
        let first = opener(&self.snap(), reply).build();
        let (v, out) = self.one(&first);
        assert_eq!(v, Verdict::ToPrivate, "the opener of a reply's connection");
        let dst = Ipv4Addr::new(out[30], out[31], out[32], out[33]);
        let dport = u16::from_be_bytes([out[36], out[37]]);
        assert_eq!(
            (dst, dport),
            (reply.src, reply.sport()),
            "the connection went to another backend than the reply's: pick its client with client_to"
        );
    }

    /// Processes one packet alone.
    pub fn one(&mut self, frame: &[u8]) -> (Verdict, Vec<u8>) {
        self.run(&[frame.to_vec()]).pop().unwrap()
    }

    /// Checks an outcome against its expectation.
    #[track_caller]
    pub fn check(&mut self, what: &str, input: &[u8], got: &(Verdict, Vec<u8>), want: &Want) {
        let (v, out) = got;
        match want {
            Want::Exact(wv, bytes) => {
                assert_eq!(v, wv, "{what}: verdict");
                assert!(out == bytes, "{what}: output\n{}", diff(out, bytes));
            }
            Want::Any(cands) => {
                assert_eq!(*v, Verdict::ToPrivate, "{what}: verdict");
                let i = cands.iter().position(|c| c == out).unwrap_or_else(|| {
                    panic!(
                        "{what}: output matches no backend of the pool\n got: {out:02x?}\n one: {:02x?}",
                        cands.first()
                    )
                });
                self.chosen = Some(i);
            }
            Want::Same(cands) => {
                assert_eq!(*v, Verdict::ToPrivate, "{what}: verdict");
                let i = self.chosen.expect("Same without an earlier Any");
                assert!(
                    out == &cands[i],
                    "{what}: not the same backend\n{}",
                    diff(out, &cands[i])
                );
            }
            Want::Drop(r) => {
                assert_eq!(*v, Verdict::Drop(*r), "{what}: verdict");
                assert!(out == input, "{what}: a dropped frame was modified");
            }
            Want::Hold => {
                assert!(matches!(v, Verdict::Hold(_)), "{what}: verdict {v:?}");
                assert!(out == input, "{what}: a held frame was modified");
            }
        }
    }

    /// Sends one packet and checks it.
    #[track_caller]
    pub fn expect(&mut self, what: &str, input: &[u8], want: &Want) -> Vec<u8> {
        let got = self.one(input);
        self.check(what, input, &got, want);
        got.1
    }
}

impl Default for Lb {
    fn default() -> Self {
        Lb::new()
    }
}

/// Replays `frames` (each with its time in milliseconds) through `cp` with
/// `workers` workers, as `natrix replay --out` does; returns the summary and
/// the frames natrix sent, in capture order. `name` keeps concurrent tests'
/// output files apart.
pub fn replay_frames(
    cp: &ControlPlane,
    frames: Vec<(u64, Vec<u8>)>,
    workers: usize,
    name: &str,
) -> (natrix::app::summary::Summary, Vec<Vec<u8>>) {
    use natrix::app::replay::{replay_capture, ReplayOptions};
    let out = replay_out(name, workers);
    let opts = ReplayOptions {
        workers,
        out: Some(out.clone()),
        ..Default::default()
    };
    let s = replay_capture(cp, &timed_capture(frames), &opts).expect("replay");
    (s, sent_frames(&out))
}

/// [`replay_frames`] with the software RSS `rss`, in phases: every worker
/// finishes the frames before each index of `phases` (and what it handed
/// over) before any goes on. Workers replay their queues independently, so
/// only phases order frames that different workers receive.
pub fn replay_frames_in_phases(
    cp: &mut ControlPlane,
    frames: Vec<(u64, Vec<u8>)>,
    workers: usize,
    rss: natrix::app::replay::Rss,
    phases: &[usize],
    name: &str,
) -> (natrix::app::summary::Summary, Vec<Vec<u8>>) {
    use natrix::app::replay::{replay_with_changes, Change, ReplayOptions};
    let out = replay_out(name, workers);
    let opts = ReplayOptions {
        workers,
        rss,
        out: Some(out.clone()),
        ..Default::default()
    };
    let changes = phases
        .iter()
        .map(|&at_frame| Change {
            at_frame,
            apply: Box::new(|_: &mut ControlPlane| {}),
        })
        .collect();
    let s = replay_with_changes(cp, &timed_capture(frames), &opts, changes).expect("replay");
    (s, sent_frames(&out))
}

/// A capture of `frames`, each with its time in milliseconds.
pub fn timed_capture(frames: Vec<(u64, Vec<u8>)>) -> natrix::ports::capture::Capture {
    use natrix::ports::capture::{Capture, Frame};
    Capture {
        frames: frames
            .into_iter()
            .map(|(ms, data)| Frame {
                timestamp: std::time::Duration::from_millis(ms),
                ethernet: true,
                data,
            })
            .collect(),
        damaged: None,
    }
}

/// Where a test's replay writes what natrix sent.
fn replay_out(name: &str, workers: usize) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "natrix-{name}-{workers}-{}.pcap",
        std::process::id()
    ))
}

/// The frames of a replay's output, which is then removed.
fn sent_frames(out: &std::path::Path) -> Vec<Vec<u8>> {
    let sent = natrix::ports::capture::read(out).expect("replay output");
    let _ = std::fs::remove_file(out);
    sent.frames.into_iter().map(|f| f.data).collect()
}
