//! Replaying a capture through the data path.
//!
//! The capture is read into memory first. A software RSS step, standing in for
//! the NIC, spreads the frames over the workers: by default each frame goes to
//! the worker that owns its connection ([`handoff`]), as a NIC that hashes
//! the client address alone would place it; `--rss tuple` spreads them by a
//! hash of the 5-tuple, as most NICs do, so that the workers hand packets to
//! each other as they do on such NICs. Each worker then runs its poll loop over an in-memory queue port that writes
//! each frame into a recycled buffer before handing it over (the NIC's write),
//! and the frames that come out are written to the output capture in input order.
//! A burst never spans two seconds of capture time, so the clock the worker
//! reads for it is every one of its packets' own time.

use crate::app::summary::{backend_summaries, Summary};
use crate::config::Config;
use crate::control::metrics::{self, MetricsServer};
use crate::control::mgmt::Management;
use crate::control::neighbour;
use crate::control::plane::ControlPlane;
use crate::control::socket::ControlServer;
use crate::dataplane::counters::{Counters, DropReason, SharedCounters};
use crate::dataplane::handoff::{self, Handoff};
use crate::dataplane::select;
use crate::dataplane::snapshot::{Snapshot, SnapshotCell, MAX_BACKEND_IDS};
use crate::dataplane::Dataplane;
use crate::ports::capture::{self, Capture, Frame, MAX_FRAME};
use crate::ports::{Burst, HeapBuf, PacketBuf, Port, BURST};
use crate::wire::ethernet::{self, EtherType};
use crate::wire::{ipv4, IpProtocol, MacAddr};
use crossbeam::queue::ArrayQueue;
use std::io::IsTerminal;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How to replay.
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    pub workers: usize,
    /// Passes over the capture (the output holds the first pass).
    pub loops: u32,
    pub out: Option<PathBuf>,
    /// Show a progress line on stderr (only when stderr is a terminal).
    pub progress: bool,
    /// Deliver at most this many packets per second in all (None: as fast
    /// as the workers go).
    pub pace: Option<f64>,
    /// How the software RSS spreads frames over the workers.
    pub rss: Rss,
}

/// How replay's software RSS spreads frames over the workers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Rss {
    /// Each frame at the worker that owns its connection: no handoff.
    #[default]
    Owner,
    /// By a hash of the 5-tuple, as a NIC's RSS: the workers hand each other
    /// the packets of connections they do not own.
    Tuple,
}

impl std::str::FromStr for Rss {
    type Err = String;
    fn from_str(s: &str) -> Result<Rss, String> {
        match s {
            "owner" => Ok(Rss::Owner),
            "tuple" => Ok(Rss::Tuple),
            _ => Err(format!("unknown RSS '{s}': owner or tuple")),
        }
    }
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            workers: 1,
            loops: 1,
            out: None,
            progress: false,
            pace: None,
            rss: Rss::Owner,
        }
    }
}

/// `natrix replay` as the command line gives it.
#[derive(Clone, Debug)]
pub struct ReplayCommand {
    pub config: PathBuf,
    pub pcap: PathBuf,
    pub out: Option<PathBuf>,
    pub workers: usize,
    pub loops: u32,
    pub pace: Option<f64>,
    pub rss: Rss,
    /// Serve the control socket here while replaying.
    pub control: Option<PathBuf>,
    /// Serve Prometheus metrics here (needs `control`).
    pub metrics: Option<String>,
    pub json: bool,
}

/// `natrix replay`: checks the options, replays the capture (under a
/// management loop when there is a control socket) and prints the summary.
pub fn command(c: ReplayCommand) -> crate::app::CommandResult {
    if c.workers == 0 || c.workers > 64 {
        return Err("--workers must be 1 to 64".into());
    }
    if c.loops == 0 {
        return Err("--loops must be at least 1".into());
    }
    if c.pace.is_some_and(|p| p.is_nan() || p < 1.0) {
        return Err("--pace must be at least 1 packet per second".into());
    }
    let metrics = match (&c.metrics, &c.control) {
        (Some(m), Some(_)) => Some(metrics::parse_listen(m)?),
        (Some(_), None) => {
            return Err("--metrics needs --control PATH with replay: the metrics are answered by the management loop, which replay runs only with a control socket".into())
        }
        (None, _) => None,
    };
    let mut cp = ControlPlane::new(Config::load(&c.config)?)?;
    let opts = ReplayOptions {
        workers: c.workers,
        loops: c.loops,
        out: c.out,
        progress: true,
        pace: c.pace,
        rss: c.rss,
    };
    let cap = capture::read(&c.pcap)?;
    let neighbours = resolve_from_capture(&mut cp, &cap);
    let s = match &c.control {
        None => replay_capture(&cp, &cap, &opts)?,
        Some(path) => {
            let server = ControlServer::bind(path)?;
            let _metrics = match metrics {
                Some(addr) => Some(MetricsServer::start(addr, server.asker())?),
                None => None,
            };
            let cell = cp.cell();
            let mut mgmt = Management::new(cp, Vec::new(), Some(c.config.clone()));
            mgmt.set_replay_neighbours(neighbours);
            let mut started = false;
            let mut tick = |shared: &[Arc<SharedCounters>]| {
                if !started {
                    mgmt.set_workers(shared.to_vec());
                    started = true;
                }
                server.poll(&mut mgmt, Duration::from_millis(20));
                mgmt.tick();
            };
            replay_managed(cell, &cap, &opts, &mut tick)?
        }
    };
    if c.json {
        println!("{}", s.to_json());
    } else {
        print!("{}", s.render());
    }
    Ok(())
}

/// Errors of a replay.
#[derive(Debug)]
pub enum ReplayError {
    Capture(capture::CaptureError),
    Invalid(String),
}

impl std::fmt::Display for ReplayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplayError::Capture(e) => e.fmt(f),
            ReplayError::Invalid(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for ReplayError {}

impl From<capture::CaptureError> for ReplayError {
    fn from(e: capture::CaptureError) -> Self {
        ReplayError::Capture(e)
    }
}

/// The worker a frame goes to. With [`Rss::Owner`], the owner of the
/// connection it belongs to ([`handoff::client_of`]); otherwise, and for
/// frames of no connection, a hash of its IPv4 5-tuple (ports only for TCP
/// and UDP), as a NIC's RSS computes it. Non-IPv4 frames go to worker 0.
pub fn rss_worker(snap: &Snapshot, rss: Rss, frame: &[u8], workers: usize) -> usize {
    if workers <= 1 {
        return 0;
    }
    if rss == Rss::Owner {
        if let Some(client) = handoff::client_of(snap, frame) {
            return handoff::owner(client, workers);
        }
    }
    let h = (|| {
        let eth = ethernet::Frame::new_checked(frame).ok()?;
        let (l3, et) = eth.l3_offset().ok()?;
        if et != EtherType::Ipv4 {
            return None;
        }
        let ip = ipv4::Packet::new_checked(&frame[l3..]).ok()?;
        let proto = ip.protocol();
        let l4 = &frame[l3 + ip.header_len() as usize..];
        let (sp, dp) = match proto {
            IpProtocol::Tcp | IpProtocol::Udp if !ip.is_fragment() && l4.len() >= 4 => (
                u16::from_be_bytes([l4[0], l4[1]]),
                u16::from_be_bytes([l4[2], l4[3]]),
            ),
            _ => (0, 0),
        };
        Some(select::hash_tuple(
            ip.src_addr_raw(),
            ip.dst_addr_raw(),
            sp,
            dp,
            proto.into(),
            0x7273_7300,
        ))
    })()
    .unwrap_or(0);
    ((h >> 32) as usize * workers) >> 32
}

/// A worker's counters, and the frames it sent on the first pass:
/// (input index, offset, length) into its byte arena.
type WorkerOutput = (Counters, Vec<(u32, usize, usize)>, Vec<u8>);

/// The capture-file port, as one worker's receive queue sees it: it receives
/// the capture's frames that RSS gave this queue, each written into a recycled
/// buffer (the NIC's write), and transmits into the output capture's buffer.
struct CapturePort<'a> {
    frames: &'a [Frame],
    indices: &'a [u32],
    pos: usize,
    pass: u32,
    loops: u32,
    pool: Vec<HeapBuf>,
    /// Buffers shared by the workers of a replay: where a worker puts what it
    /// has beyond its own pool's size (buffers other workers handed it), and
    /// takes from when its pool runs dry (it handed buffers over).
    spare: Arc<ArrayQueue<HeapBuf>>,
    clock: u32,
    record: bool,
    /// (input index, offset, length) of each frame sent on the first pass.
    out: Vec<(u32, usize, usize)>,
    out_bytes: Vec<u8>,
    /// Pacing: this queue's packets per second, from `started`.
    pace: Option<(f64, Instant)>,
    delivered: u64,
}

/// Buffers a capture port keeps for reuse.
const POOL_MAX: usize = BURST * 4;

impl CapturePort<'_> {
    /// Takes back a buffer: into the pool, or the spares beyond its size (or
    /// frees it, if they are full too).
    fn keep(&mut self, buf: HeapBuf) {
        if self.pool.len() < POOL_MAX {
            self.pool.push(buf);
        } else {
            let _ = self.spare.push(buf);
        }
    }
}

impl<'a> CapturePort<'a> {
    fn new(
        frames: &'a [Frame],
        indices: &'a [u32],
        loops: u32,
        record: bool,
        spare: Arc<ArrayQueue<HeapBuf>>,
    ) -> Self {
        CapturePort {
            pace: None,
            delivered: 0,
            frames,
            indices,
            pos: 0,
            pass: 0,
            loops,
            pool: (0..BURST * 2).map(|_| HeapBuf::new(MAX_FRAME)).collect(),
            spare,
            clock: 0,
            record,
            out: Vec::new(),
            out_bytes: Vec::new(),
        }
    }
}

impl Port for CapturePort<'_> {
    type Buf = HeapBuf;

    fn rx_burst(&mut self, rx: &mut Burst<HeapBuf>) {
        let mut budget = u64::MAX;
        if let Some((pps, started)) = self.pace {
            let allowed = (started.elapsed().as_secs_f64() * pps) as u64;
            budget = allowed.saturating_sub(self.delivered);
            if budget == 0 {
                std::thread::sleep(Duration::from_micros(200));
                return;
            }
        }
        while !rx.is_full() && self.pass < self.loops && budget > 0 {
            budget -= 1;
            self.delivered += 1;
            if self.pos == self.indices.len() {
                self.pos = 0;
                self.pass += 1;
                continue;
            }
            // Buffers handed to other workers come back through the spares
            // (only with `--rss tuple`, or a backend added mid-replay).
            let mut buf = self
                .pool
                .pop()
                .or_else(|| self.spare.pop())
                .unwrap_or_else(|| HeapBuf::new(MAX_FRAME));
            let i = self.indices[self.pos];
            let f = &self.frames[i as usize];
            // A burst holds frames of one clock second only, so the clock
            // the worker reads for it is every packet's own time (a NIC's
            // burst spans microseconds; a capture's may span hours).
            if !rx.is_empty() && f.clock() != self.clock {
                self.pool.push(buf);
                self.delivered -= 1;
                break;
            }
            buf.fill(&f.data);
            buf.seq = if self.pass == 0 { i as u64 } else { u64::MAX };
            self.clock = f.clock();
            self.pos += 1;
            rx.push(buf);
        }
    }

    fn tx_burst(&mut self, tx: &mut Burst<HeapBuf>) {
        for buf in tx.drain(..) {
            if self.record && buf.seq != u64::MAX {
                let off = self.out_bytes.len();
                self.out_bytes.extend_from_slice(buf.data());
                self.out.push((buf.seq as u32, off, buf.data().len()));
            }
            self.keep(buf);
        }
    }

    fn recycle(&mut self, bufs: &mut Burst<HeapBuf>) {
        for buf in bufs.drain(..) {
            self.keep(buf);
        }
    }

    /// A buffer for a packet natrix builds (an idle RST): written to the
    /// output after the last frame received, with its time.
    fn alloc(&mut self, len: usize) -> Option<HeapBuf> {
        let mut buf = self.pool.pop()?;
        buf.set_len(len);
        buf.seq = match (self.pass, self.pos) {
            (0, 0) => 0,
            (0, p) => u64::from(self.indices[p - 1]),
            // The first pass has just ended.
            (1, 0) => self.indices.last().map_or(u64::MAX, |&i| u64::from(i)),
            _ => u64::MAX,
        };
        Some(buf)
    }

    fn clock(&self) -> u32 {
        self.clock
    }

    fn is_exhausted(&self) -> bool {
        self.pass >= self.loops
    }
}

/// Resolves the next hops of `cp` (gateways, backends without a MAC written
/// by hand) from what `cap` shows of them: a replay has no wire to send ARP
/// or Neighbor Discovery on, so the capture's own ARP and ND messages, the
/// source MACs of the neighbours' packets, for a gateway the source MAC of
/// the clients' frames to a frontend, and for a pool's next hop the source
/// MAC of its backends' packets, are taken (see
/// [`neighbour::from_capture`]). What the capture does not show stays
/// unresolved, and packets toward it are dropped as `neighbour-unresolved`.
/// Returns the table, in address order.
pub fn resolve_from_capture(cp: &mut ControlPlane, cap: &Capture) -> Vec<(IpAddr, MacAddr)> {
    let wanted: Vec<IpAddr> = cp.neighbours_wanted().into_iter().map(|w| w.0).collect();
    if wanted.is_empty() {
        return Vec::new();
    }
    let a = &cp.config().appliance;
    let gateways: Vec<IpAddr> = a
        .gateway4
        .map(IpAddr::V4)
        .into_iter()
        .chain(a.gateway6.map(IpAddr::V6))
        .collect();
    let frontends: Vec<IpAddr> = cp.config().frontends.iter().map(|f| f.address).collect();
    let routed: Vec<(IpAddr, IpAddr)> = cp
        .snapshot()
        .backends
        .iter()
        .filter_map(|b| Some((b.address, b.next_hop.filter(|&h| h != b.address)?)))
        .collect();
    let macs = neighbour::from_capture(
        cap.frames
            .iter()
            .filter(|f| f.ethernet)
            .map(|f| &f.data[..]),
        &wanted,
        &gateways,
        &frontends,
        &routed,
    );
    let mut table: Vec<(IpAddr, MacAddr)> = macs.iter().map(|(&ip, &m)| (ip, m)).collect();
    table.sort();
    cp.set_neighbours(macs);
    table
}

/// Replays a capture file through a fresh control plane built from `config`.
pub fn replay_file(
    cp: &ControlPlane,
    capture_path: &std::path::Path,
    opts: &ReplayOptions,
) -> Result<Summary, ReplayError> {
    let cap = capture::read(capture_path)?;
    replay_capture(cp, &cap, opts)
}

/// Replays frames already in memory.
pub fn replay_capture(
    cp: &ControlPlane,
    cap: &Capture,
    opts: &ReplayOptions,
) -> Result<Summary, ReplayError> {
    replay_phases(cp.cell(), cap, opts, &[], &mut |_| {}, &mut |_| {})
}

/// Replays frames while `tick` runs on the calling thread every few
/// milliseconds with the workers' counters: the management loop of a replay
/// (`natrix replay --control`), which may publish snapshots at any time.
pub fn replay_managed(
    cell: Arc<SnapshotCell>,
    cap: &Capture,
    opts: &ReplayOptions,
    tick: &mut dyn FnMut(&[Arc<SharedCounters>]),
) -> Result<Summary, ReplayError> {
    replay_phases(cell, cap, opts, &[], &mut |_| {}, tick)
}

/// A change to the backend set, applied by the management side once every
/// frame before `at_frame` has been processed.
pub struct Change<'a> {
    pub at_frame: usize,
    pub apply: ChangeFn<'a>,
}

/// What a [`Change`] does to the control plane.
pub type ChangeFn<'a> = Box<dyn FnOnce(&mut ControlPlane) + 'a>;

/// Replays frames with backend changes in the middle: the workers (and their
/// flow tables) carry on across each change and pick up the new snapshot
/// between bursts, as they do in a running appliance.
pub fn replay_with_changes(
    cp: &mut ControlPlane,
    cap: &Capture,
    opts: &ReplayOptions,
    changes: Vec<Change<'_>>,
) -> Result<Summary, ReplayError> {
    if opts.loops > 1 && !changes.is_empty() {
        return Err(ReplayError::Invalid(
            "changes during a replay need --loops 1".into(),
        ));
    }
    let mut changes = changes;
    changes.sort_by_key(|c| c.at_frame);
    let bounds: Vec<usize> = changes.iter().map(|c| c.at_frame).collect();
    let mut pending: Vec<Option<ChangeFn<'_>>> =
        changes.into_iter().map(|c| Some(c.apply)).collect();
    let cell = cp.cell();
    let mut between = |i: usize| {
        if let Some(f) = pending[i].take() {
            f(cp);
        }
    };
    // The control plane is borrowed mutably by `between`; the summary reads
    // the final snapshot from the cell, which is the same one.
    replay_phases(cell, cap, opts, &bounds, &mut between, &mut |_| {})
}

fn replay_phases(
    cell: Arc<SnapshotCell>,
    cap: &Capture,
    opts: &ReplayOptions,
    bounds: &[usize],
    between: &mut dyn FnMut(usize),
    tick: &mut dyn FnMut(&[Arc<SharedCounters>]),
) -> Result<Summary, ReplayError> {
    let workers = opts.workers.max(1);
    if workers > 64 {
        return Err(ReplayError::Invalid("at most 64 workers".into()));
    }
    if cap.frames.len() >= u32::MAX as usize {
        return Err(ReplayError::Invalid("capture has too many frames".into()));
    }
    let loops = opts.loops.max(1);
    let table = cell.load().flow_table_size;

    // The "NIC": frames it cannot deliver are counted here, the rest spread by RSS.
    let mut port_drops = Counters::default();
    let mut queues: Vec<Vec<u32>> = vec![Vec::new(); workers];
    let snap = cell.load();
    for (i, f) in cap.frames.iter().enumerate() {
        if !f.ethernet {
            port_drops.drops[DropReason::UnsupportedLinkType as usize] += loops as u64;
        } else if f.data.len() > MAX_FRAME {
            port_drops.drops[DropReason::Oversize as usize] += loops as u64;
        } else {
            queues[rss_worker(&snap, opts.rss, &f.data, workers)].push(i as u32);
        }
    }
    port_drops.rx = port_drops.dropped();

    let shared: Vec<Arc<SharedCounters>> = (0..workers)
        .map(|_| Arc::new(SharedCounters::new(MAX_BACKEND_IDS)))
        .collect();
    let total_in = cap.frames.len() as u64 * loops as u64;
    let record = opts.out.is_some();
    let progress = opts.progress && std::io::stderr().is_terminal();

    // Phase p replays the frames in [starts[p], starts[p + 1]).
    let mut starts = vec![0usize];
    starts.extend(bounds.iter().map(|&b| b.min(cap.frames.len())));
    starts.push(cap.frames.len());
    let mut dataplanes: Vec<Option<Dataplane>> = (0..workers)
        .map(|w| Some(Dataplane::new(cell.clone(), table, w)))
        .collect();
    let mut outputs_all: Vec<WorkerOutput> = Vec::new();
    let mut elapsed = Duration::ZERO;
    for phase in 0..starts.len() - 1 {
        if phase > 0 {
            between(phase - 1);
        }
        let (lo, hi) = (starts[phase] as u32, starts[phase + 1] as u32);
        let done = AtomicBool::new(false);
        // Lossless: a replay's result does not depend on the scheduling.
        let group = Arc::new(Handoff::lossless(workers));
        let spare = Arc::new(ArrayQueue::new(handoff::RING_SIZE * workers));
        let start = Instant::now();
        let results: Vec<(Dataplane, WorkerOutput)> = std::thread::scope(|s| {
            if progress {
                let shared = &shared;
                let done = &done;
                s.spawn(move || progress_line(shared, done, total_in));
            }
            let handles: Vec<_> = queues
                .iter()
                .zip(dataplanes.iter_mut())
                .enumerate()
                .map(|(w, (q, dp))| {
                    let dp = dp.take().expect("dataplane present between phases");
                    let shared = shared[w].clone();
                    let frames = &cap.frames[..];
                    let from = q.partition_point(|&i| i < lo);
                    let to = q.partition_point(|&i| i < hi);
                    let idx = &q[from..to];
                    let pace = opts.pace.map(|p| (p / workers as f64, start));
                    let group = group.clone();
                    let spare = spare.clone();
                    s.spawn(move || {
                        let mut port = CapturePort::new(frames, idx, loops, record, spare);
                        port.pace = pace;
                        let mut worker = crate::dataplane::worker::Worker::new(dp, port, shared);
                        if workers > 1 {
                            worker.set_handoff(group, w);
                        }
                        let never = AtomicBool::new(false);
                        worker.run(&never);
                        let (dp, port) = worker.into_parts();
                        let counters = dp.counters.clone();
                        (dp, (counters, port.out, port.out_bytes))
                    })
                })
                .collect();
            while !handles.iter().all(|h| h.is_finished()) {
                tick(&shared);
                std::thread::sleep(Duration::from_millis(2));
            }
            let r = handles
                .into_iter()
                .map(|h| h.join().expect("worker thread panicked"))
                .collect();
            done.store(true, Ordering::Relaxed);
            r
        });
        elapsed += start.elapsed();
        for (w, (dp, out)) in results.into_iter().enumerate() {
            dataplanes[w] = Some(dp);
            outputs_all.push(out);
        }
    }

    let mut total = port_drops;
    let mut worker_rx = Vec::new();
    for dp in dataplanes.iter().flatten() {
        total.add(&dp.counters);
        worker_rx.push(dp.counters.rx);
    }
    let mut outputs = Vec::new();
    for (_, out, bytes) in &outputs_all {
        for &(seq, off, len) in out {
            outputs.push((seq, &bytes[off..off + len]));
        }
    }
    outputs.sort_by_key(|o| o.0);
    if let Some(path) = &opts.out {
        let mut w = capture::Writer::create(path)?;
        for (seq, data) in &outputs {
            w.write(cap.frames[*seq as usize].timestamp, data)?;
        }
        if w.clamped() > 0 {
            log::warn!(
                "{}: {} frame(s) have timestamps after 2106-02-07 06:28:15 UTC, the latest a pcap file holds: written with that time",
                path.display(),
                w.clamped()
            );
        }
        w.finish()?;
    }
    let snap = cell.load();
    Ok(Summary {
        packets_in: total.rx,
        packets_out: total.tx,
        backends: backend_summaries(&snap, &total),
        counters: total,
        elapsed,
        workers,
        loops,
        worker_rx,
        capture_damaged: cap.damaged.clone(),
    })
}

fn progress_line(shared: &[Arc<SharedCounters>], done: &AtomicBool, total: u64) {
    let start = Instant::now();
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(250));
        let rx: u64 = shared.iter().map(|s| s.read().0.rx).sum();
        let secs = start.elapsed().as_secs_f64().max(1e-9);
        eprint!(
            "\rreplay: {rx}/{total} packets ({:.0}%), {:.2} Mpps   ",
            100.0 * rx as f64 / total.max(1) as f64,
            rx as f64 / secs / 1e6
        );
    }
    eprint!("\r{:60}\r", "");
}
