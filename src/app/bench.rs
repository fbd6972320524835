//! The in-memory throughput benchmark: established TCP connections, 64-byte
//! frames, the full NAT path.
//!
//! The port stands in for a NIC: before each frame is processed it writes the
//! frame into a recycled buffer from a 64-byte template plus the connection's
//! own fields (client address and port, and their checksums), so every frame is
//! a valid packet of a live connection, and that write is counted in the cost.

use crate::config::{Appliance, Backend, Config, Frontend, Pool, Ports, Rule};
use crate::dataplane::counters::{DropReason, SharedCounters};
use crate::dataplane::snapshot::{ControlPlane, SnapshotCell, MAX_BACKEND_IDS};
use crate::dataplane::worker::Worker;
use crate::dataplane::Dataplane;
use crate::ports::{Burst, HeapBuf, Port, BURST};
use crate::types::{L4Proto, MacAddr, Mode};
use crate::wire::{checksum, ethernet, ipv4, tcp};
use serde_json::json;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Frame size of the benchmark (without the FCS).
pub const FRAME_LEN: usize = 64;
/// The frontend the benchmark's connections go to (port 80, TCP).
pub const BENCH_FRONTEND: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 10);
const FRONTEND: Ipv4Addr = BENCH_FRONTEND;
const APPLIANCE_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 1]);

/// The benchmark's configuration: one TCP frontend, four backends, random mode.
pub fn bench_config(flows_per_worker: u32) -> Config {
    Config {
        appliance: Appliance {
            mac: APPLIANCE_MAC,
            addresses: vec![Ipv4Addr::new(198, 18, 0, 1)],
            gateway_mac: MacAddr([0x02, 0, 0, 0, 0, 0xfe]),
            flow_table_size: flows_per_worker.max(1024),
            transitory_timeout_secs: 10,
            seed: 1,
        },
        ports: Ports::default(),
        frontends: vec![Frontend {
            name: "bench".into(),
            address: FRONTEND,
            port: 80,
            protocol: L4Proto::Tcp,
        }],
        pools: vec![Pool {
            name: "bench".into(),
            backends: (0..4)
                .map(|i| Backend {
                    address: Ipv4Addr::new(198, 19, 0, 10 + i),
                    port: 8080,
                    weight: 1,
                    mac: MacAddr([0x02, 0, 0, 0, 1, 10 + i]),
                })
                .collect(),
            health: None,
        }],
        rules: vec![Rule {
            frontend: 0,
            pool: 0,
            mode: Mode::Random,
            idle_timeout_mins: 4,
            maglev_table_size: 65537,
        }],
        nat_rules: vec![],
    }
}

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
        ip.set_protocol(ipv4::Protocol::Tcp);
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

    /// A fixed clock: nothing expires during a benchmark.
    fn clock(&self) -> u32 {
        0
    }

    fn is_exhausted(&self) -> bool {
        self.templates.in_syn_phase() && self.templates.syns_done()
    }
}

/// A worker set up for benchmarking: its connections already established.
pub struct BenchWorker {
    pub worker: Worker<MemPort>,
    /// Seconds the SYN phase took (one new connection per flow).
    pub syn_seconds: f64,
}

/// Builds worker `w` of `workers` over `flows` connections in all, and
/// establishes its connections.
pub fn setup_worker(cp: &ControlPlane, flows: u64, workers: usize, w: usize) -> BenchWorker {
    let shared = Arc::new(SharedCounters::new(MAX_BACKEND_IDS));
    let table = cp.config().appliance.flow_table_size;
    setup_worker_on(cp.cell(), table, shared, flows, workers, w)
}

/// [`setup_worker`] on a snapshot cell, publishing into `shared`.
pub fn setup_worker_on(
    cell: Arc<SnapshotCell>,
    table: u32,
    shared: Arc<SharedCounters>,
    flows: u64,
    workers: usize,
    w: usize,
) -> BenchWorker {
    let per = flows / workers as u64 + u64::from((w as u64) < flows % workers as u64);
    let dp = Dataplane::new(cell, table, w);
    let port = MemPort::new(w as u64, per as usize, workers as u64);
    let mut worker = Worker::new(dp, port, shared);
    let t = Instant::now();
    let never = AtomicBool::new(false);
    worker.run(&never);
    let syn_seconds = t.elapsed().as_secs_f64();
    worker.port.established();
    BenchWorker {
        worker,
        syn_seconds,
    }
}

/// Results of `natrix bench`.
#[derive(Debug, Clone)]
pub struct BenchReport {
    pub flows: u64,
    pub workers: usize,
    pub seconds: f64,
    pub packets: u64,
    pub dropped: u64,
    pub mpps_per_worker: Vec<f64>,
    pub new_connections_per_sec_per_worker: Vec<f64>,
    pub table_bytes: u64,
    pub connections_tracked: u64,
}

impl BenchReport {
    pub fn mpps_total(&self) -> f64 {
        self.mpps_per_worker.iter().sum()
    }

    pub fn mpps_per_core(&self) -> f64 {
        self.mpps_total() / self.workers as f64
    }

    pub fn new_connections_per_sec_per_core(&self) -> f64 {
        self.new_connections_per_sec_per_worker.iter().sum::<f64>() / self.workers as f64
    }

    pub fn bytes_per_connection(&self) -> f64 {
        self.table_bytes as f64 / self.connections_tracked.max(1) as f64
    }

    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "flows": self.flows,
            "workers": self.workers,
            "seconds": self.seconds,
            "packets": self.packets,
            "dropped": self.dropped,
            "frame_bytes": FRAME_LEN,
            "mpps_total": self.mpps_total(),
            "mpps_per_core": self.mpps_per_core(),
            "mpps_per_worker": self.mpps_per_worker,
            "new_connections_per_sec_per_core": self.new_connections_per_sec_per_core(),
            "table_bytes": self.table_bytes,
            "connections_tracked": self.connections_tracked,
            "bytes_per_connection": self.bytes_per_connection(),
        })
    }

    pub fn render(&self) -> String {
        format!(
            "flows {}  workers {}  {:.1} s  {}-byte frames\n\
             throughput   {:>8.2} Mpps in all, {:.2} Mpps per core ({})\n\
             new conns    {:>8.2} M/s per core\n\
             memory       {:>8.1} bytes per tracked connection ({} tracked, {:.1} MiB of tables)\n\
             dropped      {:>8}\n",
            self.flows,
            self.workers,
            self.seconds,
            FRAME_LEN,
            self.mpps_total(),
            self.mpps_per_core(),
            self.mpps_per_worker
                .iter()
                .map(|m| format!("{m:.2}"))
                .collect::<Vec<_>>()
                .join(" / "),
            self.new_connections_per_sec_per_core() / 1e6,
            self.bytes_per_connection(),
            self.connections_tracked,
            self.table_bytes as f64 / (1 << 20) as f64,
            self.dropped,
        )
    }
}

/// Runs the benchmark: `workers` threads, `flows` connections in all, for `seconds`.
pub fn run(
    flows: u64,
    workers: usize,
    seconds: f64,
    control: Option<&std::path::Path>,
) -> Result<BenchReport, String> {
    let workers = workers.clamp(1, 64);
    if flows == 0 || flows > 100_000_000 {
        return Err("--flows must be 1 to 100000000".into());
    }
    let per = flows.div_ceil(workers as u64);
    let cp = ControlPlane::new(bench_config(per as u32)).map_err(|e| e.to_string())?;
    let cell = cp.cell();
    let table = cp.config().appliance.flow_table_size;
    let server = control
        .map(crate::control::socket::ControlServer::bind)
        .transpose()?;
    let shared: Vec<Arc<SharedCounters>> = (0..workers)
        .map(|_| Arc::new(SharedCounters::new(MAX_BACKEND_IDS)))
        .collect();
    let mut mgmt = crate::control::mgmt::Management::new(cp, shared.clone(), None);
    let stop = AtomicBool::new(false);
    let results: Vec<(u64, u64, f64, f64, u64, u64)> = std::thread::scope(|s| {
        let stop = &stop;
        let barrier = Arc::new(std::sync::Barrier::new(workers + 1));
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let barrier = barrier.clone();
                let (cell, shared) = (cell.clone(), shared[w].clone());
                s.spawn(move || {
                    let mut bw = setup_worker_on(cell, table, shared, flows, workers, w);
                    let syn_rate = bw.worker.port.flows() as f64 / bw.syn_seconds.max(1e-9);
                    barrier.wait();
                    let rx0 = bw.worker.dp.counters.rx;
                    let d0 = bw.worker.dp.counters.dropped();
                    let t = Instant::now();
                    bw.worker.run(stop);
                    let secs = t.elapsed().as_secs_f64();
                    let rx = bw.worker.dp.counters.rx - rx0;
                    let dropped = bw.worker.dp.counters.dropped() - d0;
                    let flows_tbl = bw.worker.dp.flows();
                    (
                        rx,
                        dropped,
                        rx as f64 / secs / 1e6,
                        syn_rate,
                        flows_tbl.memory_bytes() as u64,
                        flows_tbl.occupied() as u64,
                    )
                })
            })
            .collect();
        barrier.wait();
        // The management loop while the workers run: the control socket, if any.
        let end = Instant::now() + Duration::from_secs_f64(seconds.max(0.1));
        while Instant::now() < end {
            let wait = (end - Instant::now()).min(Duration::from_millis(100));
            match &server {
                Some(srv) => srv.poll(&mut mgmt, wait),
                None => std::thread::sleep(wait),
            }
            mgmt.tick();
        }
        stop.store(true, Ordering::Relaxed);
        handles
            .into_iter()
            .map(|h| h.join().expect("bench worker panicked"))
            .collect()
    });
    let _ = DropReason::TxFull;
    Ok(BenchReport {
        flows,
        workers,
        seconds,
        packets: results.iter().map(|r| r.0).sum(),
        dropped: results.iter().map(|r| r.1).sum(),
        mpps_per_worker: results.iter().map(|r| r.2).collect(),
        new_connections_per_sec_per_worker: results.iter().map(|r| r.3).collect(),
        table_bytes: results.iter().map(|r| r.4).sum(),
        connections_tracked: results.iter().map(|r| r.5).sum(),
    })
}
