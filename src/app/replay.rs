//! Replaying a capture through the data path.
//!
//! The capture is read into memory first. A software RSS step, standing in for
//! the NIC, spreads the frames over the workers by a hash of their 5-tuple, so
//! that every packet of a connection's inbound direction meets the same worker.
//! Each worker then runs its poll loop over an in-memory queue port that writes
//! each frame into a recycled buffer before handing it over (the NIC's write),
//! and the frames that come out are written to the output capture in input order.

use crate::dataplane::counters::{Counters, DropReason, Event, SharedCounters};
use crate::dataplane::select;
use crate::dataplane::snapshot::{ControlPlane, Snapshot, SnapshotCell, MAX_BACKEND_IDS};
use crate::dataplane::Dataplane;
use crate::ports::capture::{self, Capture, Frame, MAX_FRAME};
use crate::ports::{Burst, HeapBuf, PacketBuf, Port, BURST};
use crate::wire::ethernet::{self, EtherType};
use crate::wire::ipv4::{self, Protocol};
use serde_json::json;
use std::io::IsTerminal;
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
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            workers: 1,
            loops: 1,
            out: None,
            progress: false,
            pace: None,
        }
    }
}

/// One backend's share of a replay.
#[derive(Clone, Debug)]
pub struct BackendSummary {
    pub pool: String,
    pub frontend: String,
    pub address: String,
    pub status: &'static str,
    pub connections: u64,
    pub packets: u64,
    /// Of the connections its frontend created.
    pub share: f64,
}

/// What a replay did.
#[derive(Clone, Debug)]
pub struct Summary {
    pub packets_in: u64,
    pub packets_out: u64,
    pub counters: Counters,
    pub backends: Vec<BackendSummary>,
    pub elapsed: Duration,
    pub workers: usize,
    pub loops: u32,
    /// Per worker: packets received.
    pub worker_rx: Vec<u64>,
    pub capture_damaged: Option<String>,
}

impl Summary {
    pub fn dropped(&self) -> u64 {
        self.counters.dropped()
    }

    pub fn connections(&self) -> u64 {
        self.counters.event_count(Event::ConnectionCreated)
    }

    pub fn mpps(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.packets_in as f64 / s / 1e6
        } else {
            0.0
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        let drops: serde_json::Map<String, serde_json::Value> = DropReason::ALL
            .iter()
            .map(|r| (r.name().to_string(), json!(self.counters.drop_count(*r))))
            .collect();
        let events: serde_json::Map<String, serde_json::Value> = Event::ALL
            .iter()
            .map(|e| (e.name().to_string(), json!(self.counters.event_count(*e))))
            .collect();
        let backends: Vec<serde_json::Value> = self
            .backends
            .iter()
            .map(|b| {
                json!({
                    "pool": b.pool,
                    "frontend": b.frontend,
                    "address": b.address,
                    "status": b.status,
                    "connections": b.connections,
                    "packets": b.packets,
                    "share": b.share,
                })
            })
            .collect();
        json!({
            "packets_in": self.packets_in,
            "packets_out": self.packets_out,
            "dropped": self.dropped(),
            "drops": drops,
            "events": events,
            "connections": self.connections(),
            "backends": backends,
            "mpps": self.mpps(),
            "elapsed_seconds": self.elapsed.as_secs_f64(),
            "workers": self.workers,
            "loops": self.loops,
            "worker_packets": self.worker_rx,
            "capture_damaged": self.capture_damaged,
        })
    }

    /// The human summary.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "packets in   {:>12}   ({} worker{}, {} loop{})",
            self.packets_in,
            self.workers,
            if self.workers == 1 { "" } else { "s" },
            self.loops,
            if self.loops == 1 { "" } else { "s" }
        );
        let _ = writeln!(s, "packets out  {:>12}", self.packets_out);
        let _ = writeln!(s, "dropped      {:>12}", self.dropped());
        let _ = writeln!(
            s,
            "rate         {:>12.2} Mpps  ({:.3} s)",
            self.mpps(),
            self.elapsed.as_secs_f64()
        );
        let _ = writeln!(s, "connections  {:>12}", self.connections());
        if let Some(d) = &self.capture_damaged {
            let _ = writeln!(s, "capture      ends in a damaged record: {d}");
        }
        let drops: Vec<_> = DropReason::ALL
            .iter()
            .filter(|r| self.counters.drop_count(**r) > 0)
            .collect();
        if !drops.is_empty() {
            let _ = writeln!(s, "\ndrops by reason");
            for r in drops {
                let _ = writeln!(s, "  {:<24} {:>12}", r.name(), self.counters.drop_count(*r));
            }
        }
        let events: Vec<_> = Event::ALL
            .iter()
            .filter(|e| self.counters.event_count(**e) > 0)
            .collect();
        if !events.is_empty() {
            let _ = writeln!(s, "\nevents");
            for e in events {
                let _ = writeln!(
                    s,
                    "  {:<24} {:>12}",
                    e.name(),
                    self.counters.event_count(*e)
                );
            }
        }
        if !self.backends.is_empty() {
            let _ = writeln!(s, "\nbackends");
            let _ = writeln!(
                s,
                "  {:<12} {:<12} {:<22} {:<9} {:>11} {:>7} {:>11}",
                "frontend", "pool", "address", "status", "connections", "share", "packets"
            );
            for b in &self.backends {
                let _ = writeln!(
                    s,
                    "  {:<12} {:<12} {:<22} {:<9} {:>11} {:>6.1}% {:>11}",
                    b.frontend,
                    b.pool,
                    b.address,
                    b.status,
                    b.connections,
                    b.share * 100.0,
                    b.packets
                );
            }
        }
        s
    }
}

/// Per-backend rows of a summary, from the counters and the final snapshot.
pub fn backend_summaries(snap: &Snapshot, c: &Counters) -> Vec<BackendSummary> {
    let mut per_service = vec![0u64; snap.services.len()];
    for (id, b) in snap.backends.iter().enumerate() {
        per_service[b.service as usize] += c.backend_connections.get(id).copied().unwrap_or(0);
    }
    snap.backends
        .iter()
        .enumerate()
        .map(|(id, b)| {
            let conns = c.backend_connections.get(id).copied().unwrap_or(0);
            let total = per_service[b.service as usize];
            BackendSummary {
                pool: snap.pool_name(b).to_string(),
                frontend: snap.services[b.service as usize].name.clone(),
                address: format!("{}:{}", b.address, b.port),
                status: b.status.name(),
                connections: conns,
                packets: c.backend_packets.get(id).copied().unwrap_or(0),
                share: if total > 0 {
                    conns as f64 / total as f64
                } else {
                    0.0
                },
            }
        })
        .collect()
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

/// The worker a frame goes to: a hash of its IPv4 5-tuple (ports only for TCP
/// and UDP), as a NIC's RSS computes it. Non-IPv4 frames go to worker 0.
pub fn rss_worker(frame: &[u8], workers: usize) -> usize {
    if workers <= 1 {
        return 0;
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
            Protocol::Tcp | Protocol::Udp if !ip.is_fragment() && l4.len() >= 4 => (
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
    clock: u32,
    record: bool,
    /// (input index, offset, length) of each frame sent on the first pass.
    out: Vec<(u32, usize, usize)>,
    out_bytes: Vec<u8>,
    /// Pacing: this queue's packets per second, from `started`.
    pace: Option<(f64, Instant)>,
    delivered: u64,
}

impl<'a> CapturePort<'a> {
    fn new(frames: &'a [Frame], indices: &'a [u32], loops: u32, record: bool) -> Self {
        CapturePort {
            pace: None,
            delivered: 0,
            frames,
            indices,
            pos: 0,
            pass: 0,
            loops,
            pool: (0..BURST * 2).map(|_| HeapBuf::new(MAX_FRAME)).collect(),
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
            let Some(mut buf) = self.pool.pop() else {
                break;
            };
            let i = self.indices[self.pos];
            let f = &self.frames[i as usize];
            buf.fill(&f.data);
            buf.seq = if self.pass == 0 { i as u64 } else { u64::MAX };
            self.clock = f.timestamp.as_secs() as u32;
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
            self.pool.push(buf);
        }
    }

    fn recycle(&mut self, bufs: &mut Burst<HeapBuf>) {
        self.pool.extend(bufs.drain(..));
    }

    fn clock(&self) -> u32 {
        self.clock
    }

    fn is_exhausted(&self) -> bool {
        self.pass >= self.loops
    }
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
    for (i, f) in cap.frames.iter().enumerate() {
        if !f.ethernet {
            port_drops.drops[DropReason::UnsupportedLinkType as usize] += loops as u64;
        } else if f.data.len() > MAX_FRAME {
            port_drops.drops[DropReason::Oversize as usize] += loops as u64;
        } else {
            queues[rss_worker(&f.data, workers)].push(i as u32);
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
                    s.spawn(move || {
                        let mut port = CapturePort::new(frames, idx, loops, record);
                        port.pace = pace;
                        let mut worker = crate::dataplane::worker::Worker::new(dp, port, shared);
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
