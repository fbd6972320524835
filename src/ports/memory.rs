//! The in-memory port: a stand-in for a NIC that writes established TCP
//! connections' frames into recycled buffers, for the benchmarks.
//!
//! Before each frame is processed the port writes it from a template plus
//! the connection's own fields (client address and port, and their
//! checksums), so every frame is a valid packet of a live connection, and
//! that write is counted in the cost, as a NIC's DMA would be.
//!
//! The connections are IPv4 (64-byte frames) or IPv6 (84-byte frames: the
//! same TCP segment, 20 bytes more of IP header); see [`Family`].

use crate::ports::{Burst, HeapBuf, PacketBuf, Port, BURST};
use crate::wire::{checksum, ethernet, ipv4, ipv6, tcp, IpProtocol, MacAddr};
use std::marker::PhantomData;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Frame size of the IPv4 benchmark (without the FCS).
pub const FRAME_LEN: usize = 64;
/// Frame size of the IPv6 benchmark (without the FCS): the IPv4 frame's TCP
/// segment (10 bytes of payload) behind a 40-byte IPv6 header.
pub const FRAME_LEN6: usize = 84;
/// The frontend the benchmark's IPv4 connections go to (port 80, TCP).
pub const BENCH_FRONTEND: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 10);
/// The frontend the benchmark's IPv6 connections go to (port 80, TCP).
pub const BENCH_FRONTEND6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10);
/// Where the IPv6 clients live: 2001:db8:8000::/96, the low 32 bits those of
/// the IPv4 benchmark's client (198.18.128.0/17).
const CLIENT_NET6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x8000, 0, 0, 0, 0, 0);
/// The appliance MAC the frames are addressed to.
pub const APPLIANCE_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 1]);
/// The gateway MAC the frames come from.
const GATEWAY_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0xfe]);

/// The address family of the benchmark's connections.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Family {
    #[default]
    Ipv4,
    Ipv6,
}

impl Family {
    /// The frame size (without the FCS).
    pub const fn frame_len(self) -> usize {
        match self {
            Family::Ipv4 => FRAME_LEN,
            Family::Ipv6 => FRAME_LEN6,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Family::Ipv4 => "ipv4",
            Family::Ipv6 => "ipv6",
        }
    }
}

/// The largest frame of either family.
const MAX_FRAME_LEN: usize = FRAME_LEN6;

/// A connection's own fields, written over the template: the low 32 bits of
/// the client address (all of it in IPv4), its port, and the checksums.
#[derive(Clone, Copy)]
struct FlowFields {
    ip: [u8; 4],
    port: [u8; 2],
    /// IPv4's header checksum (IPv6 has none).
    ip_csum: [u8; 2],
    syn_csum: [u8; 2],
    ack_csum: [u8; 2],
}

/// Where a family's frame puts what a connection writes; the frame writer
/// is compiled once per family, its offsets and length constants.
trait Layout {
    /// Frame length.
    const LEN: usize;
    /// The low 32 bits of the client (source) address.
    const ADDR: usize;
    /// The TCP header.
    const TCP: usize;
    /// IPv4's header checksum, if the family has one.
    const IP_CSUM: Option<usize>;
    /// The template for `flags`: client address (its low 32 bits) and port
    /// zero, checksums filled.
    fn template(flags: u8) -> [u8; MAX_FRAME_LEN];
}

/// IPv4 frames: Ethernet, IPv4, TCP (flags set later), 10 bytes of payload.
struct V4;
/// IPv6 frames: Ethernet, IPv6, TCP (flags set later), 10 bytes of payload.
struct V6;

const IP_OFF: usize = ethernet::HEADER_LEN;

impl Layout for V4 {
    const LEN: usize = FRAME_LEN;
    const ADDR: usize = IP_OFF + 12;
    const TCP: usize = IP_OFF + ipv4::MIN_HEADER_LEN;
    const IP_CSUM: Option<usize> = Some(IP_OFF + 10);

    fn template(flags: u8) -> [u8; MAX_FRAME_LEN] {
        let mut f = [0u8; MAX_FRAME_LEN];
        ethernet_header(&mut f, ethernet::EtherType::Ipv4);
        {
            let mut ip = ipv4::Packet::new_unchecked(&mut f[IP_OFF..Self::LEN]);
            ip.set_version(4);
            ip.set_header_len(20);
            ip.set_total_len((Self::LEN - IP_OFF) as u16);
            ip.set_ttl(64);
            ip.set_protocol(IpProtocol::Tcp);
            ip.set_src_addr(Ipv4Addr::UNSPECIFIED);
            ip.set_dst_addr(BENCH_FRONTEND);
            ip.fill_checksum();
        }
        let mut t = tcp_header(&mut f[Self::TCP..Self::LEN], flags);
        t.fill_checksum(Ipv4Addr::UNSPECIFIED, BENCH_FRONTEND);
        f
    }
}

impl Layout for V6 {
    const LEN: usize = FRAME_LEN6;
    const ADDR: usize = IP_OFF + 8 + 12;
    const TCP: usize = IP_OFF + ipv6::HEADER_LEN;
    const IP_CSUM: Option<usize> = None;

    fn template(flags: u8) -> [u8; MAX_FRAME_LEN] {
        let mut f = [0u8; MAX_FRAME_LEN];
        ethernet_header(&mut f, ethernet::EtherType::Ipv6);
        {
            let mut ip = ipv6::Packet::new_unchecked(&mut f[IP_OFF..Self::LEN]);
            ip.set_version(6);
            ip.set_payload_len((Self::LEN - Self::TCP) as u16);
            ip.set_next_header(IpProtocol::Tcp);
            ip.set_hop_limit(64);
            ip.set_src_addr(CLIENT_NET6);
            ip.set_dst_addr(BENCH_FRONTEND6);
        }
        let mut t = tcp_header(&mut f[Self::TCP..Self::LEN], flags);
        t.fill_checksum_v6(CLIENT_NET6, BENCH_FRONTEND6);
        f
    }
}

fn ethernet_header(f: &mut [u8], ethertype: ethernet::EtherType) {
    let mut e = ethernet::Frame::new_unchecked(f);
    e.set_dst_addr(APPLIANCE_MAC);
    e.set_src_addr(GATEWAY_MAC);
    e.set_ethertype(ethertype);
}

/// The TCP header of the templates, to port 80, before its checksum.
fn tcp_header(segment: &mut [u8], flags: u8) -> tcp::Packet<&mut [u8]> {
    let mut t = tcp::Packet::new_unchecked(segment);
    t.set_dst_port(80);
    t.set_header_len(20);
    t.set_flags(flags);
    t.set_seq_number(1);
    t.set_window_len(65535);
    t
}

fn csum_at(f: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([f[off], f[off + 1]])
}

/// The frames of one family's connections ([`FlowTemplates`] of one
/// [`Layout`]).
struct Frames<L: Layout> {
    syn: [u8; MAX_FRAME_LEN],
    ack: [u8; MAX_FRAME_LEN],
    /// Flows in creation order (SYN phase).
    syn_order: Vec<FlowFields>,
    /// The same flows in visiting order (established phase).
    flows: Vec<FlowFields>,
    pos: usize,
    syn_phase: bool,
    sent_syn: usize,
    layout: PhantomData<L>,
}

impl<L: Layout> Frames<L> {
    fn new(first: u64, count: usize, step: u64) -> Frames<L> {
        let syn = L::template(tcp::FLAG_SYN);
        let ack = L::template(tcp::FLAG_ACK);
        let base_ip = L::IP_CSUM.map_or(0, |at| csum_at(&syn, at));
        let base_syn = csum_at(&syn, L::TCP + 16);
        let base_ack = csum_at(&ack, L::TCP + 16);
        let flows = (0..count as u64)
            .map(|i| {
                let n = first + i * step;
                let ip = 0xc612_8000u32 + (n % 32768) as u32;
                let port = 1024 + (n / 32768) as u16;
                let d_ip = checksum::delta32(0, ip);
                let d_l4 = d_ip + checksum::delta16(0, port);
                FlowFields {
                    ip: ip.to_be_bytes(),
                    port: port.to_be_bytes(),
                    ip_csum: checksum::apply(base_ip, d_ip).to_be_bytes(),
                    syn_csum: checksum::apply(base_syn, d_l4).to_be_bytes(),
                    ack_csum: checksum::apply(base_ack, d_l4).to_be_bytes(),
                }
            })
            .collect::<Vec<_>>();
        // A stride coprime with the count visits every flow once per round in a
        // scattered order, so consecutive packets hit unrelated flow-table
        // buckets. The templates are stored in that visiting order: a NIC's
        // receive ring is also written sequentially.
        let count_nz = count.max(1);
        let mut stride = (0x9e37_79b9usize % count_nz).max(1);
        while gcd(stride, count_nz) != 1 {
            stride += 1;
        }
        let ordered: Vec<FlowFields> = (0..flows.len())
            .map(|k| flows[(k * stride) % count_nz])
            .collect();
        Frames {
            syn,
            ack,
            syn_order: flows,
            flows: ordered,
            pos: 0,
            syn_phase: true,
            sent_syn: 0,
            layout: PhantomData,
        }
    }

    fn established(&mut self) {
        self.syn_phase = false;
        self.pos = 0;
    }

    /// See [`FlowTemplates::write_next`]; `d` of at least `L::LEN` bytes.
    #[inline(always)]
    fn write_next(&mut self, d: &mut [u8], auto: bool) -> bool {
        let n = self.flows.len();
        if n == 0 || d.len() < L::LEN {
            return false;
        }
        if self.syn_phase && self.sent_syn == n {
            if !auto {
                return false;
            }
            self.established();
        }
        let f = if self.syn_phase {
            let f = self.syn_order[self.sent_syn];
            self.sent_syn += 1;
            f
        } else {
            let f = self.flows[self.pos];
            self.pos += 1;
            if self.pos == n {
                self.pos = 0;
            }
            f
        };
        let (tpl, l4c) = if self.syn_phase {
            (&self.syn, f.syn_csum)
        } else {
            (&self.ack, f.ack_csum)
        };
        d[..L::LEN].copy_from_slice(&tpl[..L::LEN]);
        if let Some(at) = L::IP_CSUM {
            d[at..at + 2].copy_from_slice(&f.ip_csum);
        }
        d[L::ADDR..L::ADDR + 4].copy_from_slice(&f.ip);
        d[L::TCP..L::TCP + 2].copy_from_slice(&f.port);
        d[L::TCP + 16..L::TCP + 18].copy_from_slice(&l4c);
        true
    }

    /// Fills `rx` from `pool` (the SYN phase ends by itself only if `auto`).
    #[inline(always)]
    fn fill(&mut self, pool: &mut Vec<HeapBuf>, rx: &mut Burst<HeapBuf>) {
        while !rx.is_full() {
            let Some(mut buf) = pool.pop() else {
                break;
            };
            buf.set_len(L::LEN);
            if !self.write_next(buf.raw_mut(), false) {
                pool.push(buf);
                break;
            }
            rx.push(buf);
        }
    }

    /// Writes a frame into every buffer of `bufs` that `set_len` gives room for.
    #[inline(always)]
    fn write_all<B: PacketBuf>(
        &mut self,
        bufs: &mut [B],
        mut set_len: impl FnMut(&mut B, usize) -> bool,
    ) {
        for b in bufs {
            if set_len(b, L::LEN) {
                self.write_next(b.data_mut(), true);
            }
        }
    }
}

/// One family's frames: the family is matched once per burst, not per
/// packet.
#[allow(clippy::large_enum_variant)] // one per port, never moved per packet
enum Templates {
    V4(Frames<V4>),
    V6(Frames<V6>),
}

/// The frames of a set of connections, written into buffers as a NIC would:
/// a template plus each connection's own fields. First every connection's
/// SYN once, in order; then their ACK segments, round after round.
pub struct FlowTemplates {
    frames: Templates,
}

/// `$f` applied to the family's [`Frames`] as `$t`.
macro_rules! each_family {
    ($templates:expr, $t:ident => $f:expr) => {
        match $templates {
            Templates::V4($t) => $f,
            Templates::V6($t) => $f,
        }
    };
}

impl FlowTemplates {
    /// IPv4 flows `first..first + count` step `step` of the client space
    /// 198.18.128.0/17 x ports 1024.. (disjoint per worker), to the bench
    /// frontend.
    pub fn new(first: u64, count: usize, step: u64) -> FlowTemplates {
        FlowTemplates::with_family(Family::Ipv4, first, count, step)
    }

    /// [`FlowTemplates::new`] for `family`: IPv6 flows come from
    /// 2001:db8:8000::c612:8000/113 x ports 1024.. (the IPv4 flows' client
    /// numbers in the low 32 bits) to [`BENCH_FRONTEND6`].
    pub fn with_family(family: Family, first: u64, count: usize, step: u64) -> FlowTemplates {
        let frames = match family {
            Family::Ipv4 => Templates::V4(Frames::new(first, count, step)),
            Family::Ipv6 => Templates::V6(Frames::new(first, count, step)),
        };
        FlowTemplates { frames }
    }

    pub fn family(&self) -> Family {
        match self.frames {
            Templates::V4(_) => Family::Ipv4,
            Templates::V6(_) => Family::Ipv6,
        }
    }

    /// The frame size.
    pub fn frame_len(&self) -> usize {
        self.family().frame_len()
    }

    /// Ends the SYN phase early: from now on ACK segments only.
    pub fn established(&mut self) {
        each_family!(&mut self.frames, t => t.established())
    }

    pub fn flows(&self) -> usize {
        each_family!(&self.frames, t => t.flows.len())
    }

    /// True while SYNs remain to be sent.
    pub fn in_syn_phase(&self) -> bool {
        each_family!(&self.frames, t => t.syn_phase)
    }

    /// True when the SYN phase has sent every SYN.
    pub fn syns_done(&self) -> bool {
        each_family!(&self.frames, t => t.sent_syn == t.flows.len())
    }

    /// Writes the next frame into `d` (at least [`FlowTemplates::frame_len`]
    /// bytes). After the last SYN the ACK rounds begin by themselves when
    /// `auto` is set; otherwise nothing more is written until `established`.
    /// Returns false when nothing was written.
    #[inline(always)]
    pub fn write_next(&mut self, d: &mut [u8], auto: bool) -> bool {
        each_family!(&mut self.frames, t => t.write_next(d, auto))
    }

    /// Writes the next frames into `bufs` (the ACK rounds begin by
    /// themselves after the last SYN): each buffer that `set_len(buf, len)`
    /// makes `len` bytes long gets one. The family is matched once for the
    /// burst.
    #[inline(always)]
    pub fn write_all<B: PacketBuf>(
        &mut self,
        bufs: &mut [B],
        set_len: impl FnMut(&mut B, usize) -> bool,
    ) {
        each_family!(&mut self.frames, t => t.write_all(bufs, set_len))
    }
}

/// The in-memory port: writes each frame from the templates as a NIC would.
pub struct MemPort {
    templates: FlowTemplates,
    pool: Vec<HeapBuf>,
    pub tx_packets: u64,
}

impl MemPort {
    /// IPv4 connections: see [`FlowTemplates::new`].
    pub fn new(first: u64, count: usize, step: u64) -> MemPort {
        MemPort::with_family(Family::Ipv4, first, count, step)
    }

    /// Connections of `family`: see [`FlowTemplates::with_family`].
    pub fn with_family(family: Family, first: u64, count: usize, step: u64) -> MemPort {
        MemPort {
            templates: FlowTemplates::with_family(family, first, count, step),
            pool: (0..BURST * 2).map(|_| HeapBuf::new(128)).collect(),
            tx_packets: 0,
        }
    }

    /// Ends the SYN phase: from now on the connections' ACK segments, forever.
    pub fn established(&mut self) {
        self.templates.established();
    }

    pub fn flows(&self) -> usize {
        self.templates.flows()
    }

    pub fn family(&self) -> Family {
        self.templates.family()
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

impl Port for MemPort {
    type Buf = HeapBuf;

    #[inline]
    fn rx_burst(&mut self, rx: &mut Burst<HeapBuf>) {
        let pool = &mut self.pool;
        each_family!(&mut self.templates.frames, t => t.fill(pool, rx))
    }

    #[inline]
    fn tx_burst(&mut self, tx: &mut Burst<HeapBuf>) {
        self.tx_packets += tx.len() as u64;
        for b in tx.drain(..) {
            self.pool.push(b);
        }
    }

    fn recycle(&mut self, bufs: &mut Burst<HeapBuf>) {
        self.pool.extend(bufs.drain(..));
    }

    fn alloc(&mut self, len: usize) -> Option<HeapBuf> {
        let mut b = self.pool.pop()?;
        if len > b.capacity() {
            self.pool.push(b);
            return None;
        }
        b.set_len(len);
        Some(b)
    }

    /// A fixed clock: nothing expires during a benchmark.
    fn clock(&self) -> u32 {
        0
    }

    fn is_exhausted(&self) -> bool {
        self.templates.in_syn_phase() && self.templates.syns_done()
    }
}
