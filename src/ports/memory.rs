//! The in-memory port: a stand-in for a NIC that writes established TCP
//! connections' frames into recycled buffers, for the benchmarks.
//!
//! Before each frame is processed the port writes it from a 64-byte template
//! plus the connection's own fields (client address and port, and their
//! checksums), so every frame is a valid packet of a live connection, and that
//! write is counted in the cost, as a NIC's DMA would be.

use crate::ports::{Burst, HeapBuf, Port, BURST};
use crate::wire::{checksum, ethernet, ipv4, tcp, IpProtocol, MacAddr};
use std::net::Ipv4Addr;

/// Frame size of the benchmark (without the FCS).
pub const FRAME_LEN: usize = 64;
/// The frontend the benchmark's connections go to (port 80, TCP).
pub const BENCH_FRONTEND: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 10);
const FRONTEND: Ipv4Addr = BENCH_FRONTEND;
/// The appliance MAC the frames are addressed to.
pub const APPLIANCE_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 1]);

/// A connection's own fields, written over the template.
#[derive(Clone, Copy)]
struct FlowFields {
    ip: [u8; 4],
    port: [u8; 2],
    ip_csum: [u8; 2],
    syn_csum: [u8; 2],
    ack_csum: [u8; 2],
}

const IP_OFF: usize = 14;
const TCP_OFF: usize = 34;

/// Builds the 64-byte template: Ethernet, IPv4, TCP (flags set later), 10 bytes
/// of payload; client address and port zero.
fn template(flags: u8) -> [u8; FRAME_LEN] {
    let mut f = [0u8; FRAME_LEN];
    {
        let mut e = ethernet::Frame::new_unchecked(&mut f[..]);
        e.set_dst_addr(APPLIANCE_MAC);
        e.set_src_addr(MacAddr([0x02, 0, 0, 0, 0, 0xfe]));
        e.set_ethertype(ethernet::EtherType::Ipv4);
    }
    {
        let mut ip = ipv4::Packet::new_unchecked(&mut f[IP_OFF..]);
        ip.set_version(4);
        ip.set_header_len(20);
        ip.set_total_len((FRAME_LEN - IP_OFF) as u16);
        ip.set_ttl(64);
        ip.set_protocol(IpProtocol::Tcp);
        ip.set_src_addr(Ipv4Addr::UNSPECIFIED);
        ip.set_dst_addr(FRONTEND);
        ip.fill_checksum();
    }
    {
        let mut t = tcp::Packet::new_unchecked(&mut f[TCP_OFF..]);
        t.set_dst_port(80);
        t.set_header_len(20);
        t.set_flags(flags);
        t.set_seq_number(1);
        t.set_window_len(65535);
        t.fill_checksum(Ipv4Addr::UNSPECIFIED, FRONTEND);
    }
    f
}

fn csum_at(f: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([f[off], f[off + 1]])
}

/// The frames of a set of connections, written into buffers as a NIC would:
/// a 64-byte template plus each connection's own fields. First every
/// connection's SYN once, in order; then their ACK segments, round after round.
pub struct FlowTemplates {
    syn: [u8; FRAME_LEN],
    ack: [u8; FRAME_LEN],
    /// Flows in creation order (SYN phase).
    syn_order: Vec<FlowFields>,
    /// The same flows in visiting order (established phase).
    flows: Vec<FlowFields>,
    pos: usize,
    syn_phase: bool,
    sent_syn: usize,
}

impl FlowTemplates {
    /// Flows `first..first + count` step `step` of the client space
    /// 198.18.128.0/17 x ports 1024.. (disjoint per worker), to the bench
    /// frontend.
    pub fn new(first: u64, count: usize, step: u64) -> FlowTemplates {
        let syn = template(tcp::FLAG_SYN);
        let ack = template(tcp::FLAG_ACK);
        let base_ip = csum_at(&syn, IP_OFF + 10);
        let base_syn = csum_at(&syn, TCP_OFF + 16);
        let base_ack = csum_at(&ack, TCP_OFF + 16);
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
        FlowTemplates {
            syn,
            ack,
            syn_order: flows,
            flows: ordered,
            pos: 0,
            syn_phase: true,
            sent_syn: 0,
        }
    }

    /// Ends the SYN phase early: from now on ACK segments only.
    pub fn established(&mut self) {
        self.syn_phase = false;
        self.pos = 0;
    }

    pub fn flows(&self) -> usize {
        self.flows.len()
    }

    /// True while SYNs remain to be sent.
    pub fn in_syn_phase(&self) -> bool {
        self.syn_phase
    }

    /// True when the SYN phase has sent every SYN.
    pub fn syns_done(&self) -> bool {
        self.sent_syn == self.flows.len()
    }

    /// Writes the next frame into `d` (at least FRAME_LEN bytes). After the
    /// last SYN the ACK rounds begin by themselves when `auto` is set;
    /// otherwise nothing more is written until `established`. Returns false
    /// when nothing was written.
    #[inline(always)]
    pub fn write_next(&mut self, d: &mut [u8], auto: bool) -> bool {
        let n = self.flows.len();
        if n == 0 || d.len() < FRAME_LEN {
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
        d[..FRAME_LEN].copy_from_slice(tpl);
        d[IP_OFF + 10..IP_OFF + 12].copy_from_slice(&f.ip_csum);
        d[IP_OFF + 12..IP_OFF + 16].copy_from_slice(&f.ip);
        d[TCP_OFF..TCP_OFF + 2].copy_from_slice(&f.port);
        d[TCP_OFF + 16..TCP_OFF + 18].copy_from_slice(&l4c);
        true
    }
}

/// The in-memory port: writes each frame from the templates as a NIC would.
pub struct MemPort {
    templates: FlowTemplates,
    pool: Vec<HeapBuf>,
    pub tx_packets: u64,
}

impl MemPort {
    /// See [`FlowTemplates::new`].
    pub fn new(first: u64, count: usize, step: u64) -> MemPort {
        MemPort {
            templates: FlowTemplates::new(first, count, step),
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
        while !rx.is_full() {
            let Some(mut buf) = self.pool.pop() else {
                break;
            };
            buf.set_len(FRAME_LEN);
            if !self.templates.write_next(buf.raw_mut(), false) {
                self.pool.push(buf);
                break;
            }
            rx.push(buf);
        }
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
