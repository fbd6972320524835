//! natrix on DPDK: a safe wrapper over the EAL, mempools, ports and mbufs, the
//! DPDK [`Port`], and the appliance (`natrix run`) with one poll-mode worker
//! per lcore.
//!
//! `unsafe` lives here and in the `dpdk-sys` bindings only; every block says
//! why it holds.

#![allow(unsafe_code)]

pub mod telemetry;

use crate::app::summary::{backend_summaries, Summary};
use crate::config::{Config, Topology};
use crate::control::mgmt::Management;
use crate::control::plane::ControlPlane;
use crate::control::socket::ControlServer;
use crate::dataplane::counters::{Counters, SharedCounters};
use crate::dataplane::snapshot::MAX_BACKEND_IDS;
use crate::dataplane::worker::Worker;
use crate::dataplane::Dataplane;
use crate::ports::memory::{FlowTemplates, FRAME_LEN};
use crate::ports::{Burst, PacketBuf, Port, BURST};
use dpdk_sys as sys;
use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::io::IsTerminal;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// A DPDK failure, with `rte_strerror` of the error code.
#[derive(Debug, Clone)]
pub struct DpdkError {
    pub what: String,
    pub code: i32,
    pub reason: String,
}

impl std::fmt::Display for DpdkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.reason.is_empty() {
            f.write_str(&self.what)
        } else {
            write!(f, "{}: {} (error {})", self.what, self.reason, self.code)
        }
    }
}

impl std::error::Error for DpdkError {}

/// Turns a negative DPDK return value (or `rte_errno` when the call returns
/// -1 or NULL) into an error. The one place FFI results become Rust errors.
fn check(rc: c_int, what: impl Into<String>) -> Result<c_int, DpdkError> {
    if rc >= 0 {
        return Ok(rc);
    }
    let code = if rc == -1 {
        // SAFETY: rte_errno reads a per-lcore variable of this thread.
        unsafe { sys::rte_errno() }
    } else {
        -rc
    };
    Err(error(code, what))
}

fn error(code: c_int, what: impl Into<String>) -> DpdkError {
    // SAFETY: rte_strerror returns a pointer to a static or thread-local
    // NUL-terminated string, valid at least until the next call on this thread.
    let reason = unsafe {
        let p = sys::rte_strerror(code);
        if p.is_null() {
            String::new()
        } else {
            CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    };
    DpdkError {
        what: what.into(),
        code,
        reason,
    }
}

fn last_error(what: impl Into<String>) -> DpdkError {
    // SAFETY: rte_errno reads a per-lcore variable of this thread.
    error(unsafe { sys::rte_errno() }, what)
}

/// The initialised Environment Abstraction Layer. `rte_eal_init` succeeds
/// once per process, so there is one of these, shared.
pub struct Eal {
    _private: (),
}

static EAL: OnceLock<Result<Eal, DpdkError>> = OnceLock::new();

impl Eal {
    /// Initialises the EAL with these arguments (the program name first is
    /// added here). Later calls return the first result.
    pub fn init(args: &[String]) -> Result<&'static Eal, DpdkError> {
        EAL.get_or_init(|| {
            let mut owned: Vec<CString> = vec![CString::new("natrix").expect("no NUL")];
            for a in args {
                owned.push(CString::new(a.as_str()).map_err(|_| DpdkError {
                    what: format!("EAL argument {a:?} contains a NUL byte"),
                    code: 0,
                    reason: String::new(),
                })?);
            }
            // EAL may permute argv; give it a private array of pointers.
            let mut argv: Vec<*mut c_char> =
                owned.iter().map(|c| c.as_ptr() as *mut c_char).collect();
            // SAFETY: argv holds argc valid NUL-terminated strings that live
            // until the end of this closure; EAL copies what it keeps.
            let rc = unsafe { sys::rte_eal_init(argv.len() as c_int, argv.as_mut_ptr()) };
            check(rc, "rte_eal_init (check the EAL arguments after --)")?;
            Ok(Eal { _private: () })
        })
        .as_ref()
        .map_err(Clone::clone)
    }

    /// Ports the EAL probed.
    pub fn port_count(&self) -> u16 {
        // SAFETY: EAL is initialised.
        unsafe { sys::rte_eth_dev_count_avail() }
    }

    /// The lcores other than the main one, in order.
    pub fn worker_lcores(&self) -> Vec<u32> {
        let mut out = Vec::new();
        // SAFETY: EAL is initialised; rte_get_next_lcore only reads its config.
        unsafe {
            let mut l = sys::rte_get_next_lcore(u32::MAX as c_uint, 1, 0);
            while l < sys::RTE_MAX_LCORE {
                out.push(l);
                l = sys::rte_get_next_lcore(l, 1, 0);
            }
        }
        out
    }

    /// TSC ticks per second.
    pub fn tsc_hz(&self) -> u64 {
        // SAFETY: EAL is initialised.
        unsafe { sys::rte_get_tsc_hz() }
    }
}

/// A packet mbuf pool.
pub struct Mempool {
    ptr: NonNull<sys::rte_mempool>,
}

// SAFETY: DPDK mempools are multi-producer multi-consumer safe; the pointer is
// only used to allocate and, at drop, to free the pool once.
unsafe impl Send for Mempool {}
// SAFETY: as above: every operation through a shared reference is thread-safe.
unsafe impl Sync for Mempool {}

impl Mempool {
    pub fn new(_eal: &Eal, name: &str, mbufs: u32, socket: i32) -> Result<Mempool, DpdkError> {
        let cname = CString::new(name).expect("pool name without NUL");
        // SAFETY: EAL is initialised (the &Eal proves it); the name is copied.
        let p = unsafe {
            sys::rte_pktmbuf_pool_create(
                cname.as_ptr(),
                mbufs,
                256.min(mbufs / 8),
                0,
                sys::RTE_MBUF_DEFAULT_BUF_SIZE as u16,
                socket,
            )
        };
        NonNull::new(p)
            .map(|ptr| Mempool { ptr })
            .ok_or_else(|| last_error(format!("rte_pktmbuf_pool_create({name}, {mbufs} mbufs)")))
    }

    fn as_ptr(&self) -> *mut sys::rte_mempool {
        self.ptr.as_ptr()
    }
}

/// One packet buffer, owned: freed on drop, or given to the NIC by transmit.
pub struct Mbuf(NonNull<sys::rte_mbuf>);

// SAFETY: an mbuf has exactly one owner (this value) until it is transmitted
// or freed; moving the value to another thread moves that ownership, and
// freeing from any lcore is allowed by the mempool.
unsafe impl Send for Mbuf {}

impl Drop for Mbuf {
    fn drop(&mut self) {
        // SAFETY: we own the mbuf; it is freed exactly once, here.
        unsafe { sys::rte_pktmbuf_free(self.0.as_ptr()) }
    }
}

impl PacketBuf for Mbuf {
    #[inline(always)]
    fn data(&self) -> &[u8] {
        // SAFETY: a received mbuf's first segment holds data_len bytes at
        // buf_addr + data_off; we own it and borrow it for &self.
        unsafe {
            let m = self.0.as_ref();
            std::slice::from_raw_parts(
                (m.buf_addr as *const u8).add(m.data_off as usize),
                m.data_len as usize,
            )
        }
    }

    #[inline(always)]
    fn data_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `data`, with exclusive access through &mut self.
        unsafe {
            let m = self.0.as_ref();
            std::slice::from_raw_parts_mut(
                (m.buf_addr as *mut u8).add(m.data_off as usize),
                m.data_len as usize,
            )
        }
    }
}

/// An Ethernet port, configured with `queues` receive and transmit queues.
pub struct EthPort {
    pub id: u16,
    pub name: String,
    pub queues: u16,
    pub rss: bool,
}

impl EthPort {
    /// Configures and starts a port: `queues` queue pairs, RSS on IP, TCP and
    /// UDP where the device offers it, promiscuous mode.
    pub fn start(_eal: &Eal, id: u16, queues: u16, pool: &Mempool) -> Result<EthPort, DpdkError> {
        let name = port_name(id);
        // SAFETY: EAL is initialised; all structures passed are zeroed or
        // filled by DPDK and outlive the calls; rte_eth_conf zeroed is valid
        // (its enums are NewType integers).
        unsafe {
            let mut info: sys::rte_eth_dev_info = std::mem::zeroed();
            check(
                sys::rte_eth_dev_info_get(id, &mut info),
                format!("port {id} ({name}): rte_eth_dev_info_get"),
            )?;
            if queues > info.max_rx_queues || queues > info.max_tx_queues {
                return Err(DpdkError {
                    what: format!(
                        "port {id} ({name}) has at most {} receive and {} transmit queues; {queues} workers need {queues} of each",
                        info.max_rx_queues, info.max_tx_queues
                    ),
                    code: 0,
                    reason: String::new(),
                });
            }
            let mut conf: sys::rte_eth_conf = std::mem::zeroed();
            let rss_hf = (sys::RTE_ETH_RSS_IP | sys::RTE_ETH_RSS_TCP | sys::RTE_ETH_RSS_UDP)
                & info.flow_type_rss_offloads;
            let rss = queues > 1 && rss_hf != 0;
            if rss {
                conf.rxmode.mq_mode = sys::rte_eth_rx_mq_mode::RTE_ETH_MQ_RX_RSS;
                conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
            }
            check(
                sys::rte_eth_dev_configure(id, queues, queues, &conf),
                format!("port {id} ({name}): rte_eth_dev_configure"),
            )?;
            let mut rxd: u16 = 1024;
            let mut txd: u16 = 1024;
            check(
                sys::rte_eth_dev_adjust_nb_rx_tx_desc(id, &mut rxd, &mut txd),
                format!("port {id} ({name}): rte_eth_dev_adjust_nb_rx_tx_desc"),
            )?;
            let socket = sys::rte_eth_dev_socket_id(id).max(0) as c_uint;
            for q in 0..queues {
                check(
                    sys::rte_eth_rx_queue_setup(
                        id,
                        q,
                        rxd,
                        socket,
                        std::ptr::null(),
                        pool.as_ptr(),
                    ),
                    format!("port {id} ({name}): receive queue {q}"),
                )?;
                check(
                    sys::rte_eth_tx_queue_setup(id, q, txd, socket, std::ptr::null()),
                    format!("port {id} ({name}): transmit queue {q}"),
                )?;
            }
            check(
                sys::rte_eth_dev_start(id),
                format!("port {id} ({name}): rte_eth_dev_start"),
            )?;
            // Virtual devices may not support it; natrix filters by address itself.
            let _ = sys::rte_eth_promiscuous_enable(id);
            Ok(EthPort {
                id,
                name,
                queues,
                rss,
            })
        }
    }

    /// The port's hardware counters.
    pub fn stats(&self) -> PortStats {
        // SAFETY: the port is started; the struct is filled by DPDK.
        unsafe {
            let mut s: sys::rte_eth_stats = std::mem::zeroed();
            if sys::rte_eth_stats_get(self.id, &mut s) != 0 {
                return PortStats::default();
            }
            PortStats {
                ipackets: s.ipackets,
                opackets: s.opackets,
                imissed: s.imissed,
                ierrors: s.ierrors,
                oerrors: s.oerrors,
                rx_nombuf: s.rx_nombuf,
            }
        }
    }

    /// Stops and closes the port.
    pub fn close(self) {
        // SAFETY: the port was started by us and no lcore polls it any more.
        unsafe {
            let _ = sys::rte_eth_dev_stop(self.id);
            let _ = sys::rte_eth_dev_close(self.id);
        }
    }
}

/// A port's device counters.
#[derive(Clone, Copy, Debug, Default)]
pub struct PortStats {
    pub ipackets: u64,
    pub opackets: u64,
    pub imissed: u64,
    pub ierrors: u64,
    pub oerrors: u64,
    pub rx_nombuf: u64,
}

fn port_name(id: u16) -> String {
    let mut buf = [0 as c_char; 64];
    // SAFETY: the buffer is RTE_ETH_NAME_MAX_LEN (64) bytes, as the API asks.
    let rc = unsafe { sys::rte_eth_dev_get_name_by_port(id, buf.as_mut_ptr()) };
    if rc != 0 {
        return format!("port{id}");
    }
    // SAFETY: DPDK wrote a NUL-terminated name into the buffer.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// One receive and transmit queue of a port: the DPDK [`Port`]. A worker owns
/// its queues; no two workers share one.
pub struct Queue {
    port: u16,
    queue: u16,
    tsc_hz: u64,
}

impl Queue {
    pub fn new(eal: &Eal, port: &EthPort, queue: u16) -> Queue {
        Queue {
            port: port.id,
            queue,
            tsc_hz: eal.tsc_hz().max(1),
        }
    }
}

impl Port for Queue {
    type Buf = Mbuf;

    #[inline(always)]
    fn rx_burst(&mut self, rx: &mut Burst<Mbuf>) {
        let room = rx.remaining_capacity();
        let mut ptrs = [std::ptr::null_mut::<sys::rte_mbuf>(); BURST];
        // SAFETY: this worker owns the queue; ptrs has room for `room` mbufs.
        let n =
            unsafe { sys::rte_eth_rx_burst(self.port, self.queue, ptrs.as_mut_ptr(), room as u16) };
        for &p in &ptrs[..n as usize] {
            if let Some(m) = NonNull::new(p) {
                rx.push(Mbuf(m));
            }
        }
    }

    #[inline(always)]
    fn tx_burst(&mut self, tx: &mut Burst<Mbuf>) {
        let n = tx.len();
        let mut ptrs = [std::ptr::null_mut::<sys::rte_mbuf>(); BURST];
        for (p, m) in ptrs.iter_mut().zip(tx.iter()) {
            *p = m.0.as_ptr();
        }
        // SAFETY: this worker owns the queue; the first n pointers are valid
        // mbufs we own.
        let sent =
            unsafe { sys::rte_eth_tx_burst(self.port, self.queue, ptrs.as_mut_ptr(), n as u16) }
                as usize;
        // The driver now owns the first `sent` mbufs: forget them without freeing.
        for m in tx.drain(..sent.min(n)) {
            std::mem::forget(m);
        }
    }

    #[inline(always)]
    fn clock(&self) -> u32 {
        // SAFETY: reads the TSC.
        (unsafe { sys::rte_get_tsc_cycles() } / self.tsc_hz) as u32
    }
}

/// A DPDK queue whose received mbufs are overwritten with frames of
/// established connections before processing: the benchmark's stand-in for a
/// NIC receiving real traffic (net_null delivers empty 64-byte mbufs). The
/// template write is counted in the cost, as in `natrix bench`.
pub struct Synthetic {
    inner: Queue,
    templates: FlowTemplates,
}

/// The port a worker of `natrix run` polls.
pub enum RunPort {
    Real(Queue),
    Synthetic(Synthetic),
}

impl Port for RunPort {
    type Buf = Mbuf;

    #[inline(always)]
    fn rx_burst(&mut self, rx: &mut Burst<Mbuf>) {
        match self {
            RunPort::Real(q) => q.rx_burst(rx),
            RunPort::Synthetic(s) => {
                let from = rx.len();
                s.inner.rx_burst(rx);
                for m in rx[from..].iter_mut() {
                    // SAFETY: we own the mbuf; a single-segment mbuf from the
                    // pool has RTE_MBUF_DEFAULT_BUF_SIZE bytes of room, far
                    // more than the 64-byte frame set here.
                    unsafe {
                        let mb = m.0.as_mut();
                        mb.data_len = FRAME_LEN as u16;
                        mb.pkt_len = FRAME_LEN as u32;
                    }
                    s.templates.write_next(m.data_mut(), true);
                }
            }
        }
    }

    #[inline(always)]
    fn tx_burst(&mut self, tx: &mut Burst<Mbuf>) {
        match self {
            RunPort::Real(q) => q.tx_burst(tx),
            RunPort::Synthetic(s) => s.inner.tx_burst(tx),
        }
    }

    #[inline(always)]
    fn clock(&self) -> u32 {
        match self {
            RunPort::Real(q) => q.clock(),
            // Nothing expires during a benchmark.
            RunPort::Synthetic(_) => 0,
        }
    }
}

/// Options of `natrix run`.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Arguments for the EAL (after `--` on the command line).
    pub eal_args: Vec<String>,
    /// Stop after the ports have been idle this long (for capture-driven runs).
    pub idle_exit: Option<Duration>,
    /// Show the live status line (only when stderr is a terminal).
    pub status_line: bool,
    /// Benchmark mode: overwrite every received frame with one of this many
    /// established connections to the bench frontend (examples/bench.toml).
    pub synthetic_flows: Option<u64>,
    /// The control socket to listen on (None: no socket).
    pub control: Option<std::path::PathBuf>,
    /// The configuration file, for reloads.
    pub config_path: Option<std::path::PathBuf>,
    /// Serve Prometheus metrics on this address (None: no listener).
    pub metrics: Option<std::net::SocketAddr>,
}

/// What `natrix run` reports when it stops.
pub struct RunReport {
    pub summary: Summary,
    pub ports: Vec<(String, PortStats)>,
}

struct Job {
    worker: Worker<RunPort>,
    stop: Arc<AtomicBool>,
}

extern "C" fn lcore_main(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the Box<Job> leaked by `launch` for this lcore alone.
    let mut job = unsafe { Box::from_raw(arg as *mut Job) };
    job.worker.run(&job.stop);
    0
}

/// Runs the appliance until SIGINT or SIGTERM (or `idle_exit`), then stops
/// the workers, closes the ports and reports.
pub fn run(config: Config, opts: &RunOptions) -> Result<RunReport, String> {
    if opts.synthetic_flows.is_some()
        && !config.frontends.iter().any(|f| {
            f.address == crate::ports::memory::BENCH_FRONTEND
                && f.port == 80
                && f.protocol == crate::types::L4Proto::Tcp
        })
    {
        return Err(format!(
            "--synthetic-flows sends to {}:80/tcp: use examples/bench.toml, or a configuration with that frontend",
            crate::ports::memory::BENCH_FRONTEND
        ));
    }
    // Claim the control socket first: a second natrix on the same socket is
    // refused before it touches any port.
    let control = match (&opts.control, opts.metrics) {
        (Some(p), _) => Some(ControlServer::bind(p)?),
        // The metrics listener asks the management loop, socket or not.
        (None, Some(_)) => Some(ControlServer::in_process()),
        (None, None) => None,
    };
    let _metrics = match (opts.metrics, &control) {
        (Some(addr), Some(c)) => Some(crate::control::metrics::MetricsServer::start(
            addr,
            c.asker(),
        )?),
        _ => None,
    };
    let eal = Eal::init(&opts.eal_args).map_err(|e| e.to_string())?;
    if let Err(e) = crate::ports::dpdk::telemetry::register() {
        log::warn!("{e}");
    }
    let ports_cfg = config.ports.clone();
    let workers = ports_cfg.workers as usize;
    let needed: Vec<u16> = match ports_cfg.topology {
        Topology::OneArm => vec![ports_cfg.public],
        Topology::TwoArm => vec![ports_cfg.public, ports_cfg.private],
    };
    let count = eal.port_count();
    for &p in &needed {
        if p >= count {
            return Err(format!(
                "[ports] names port {p}, but the EAL found {count} port{} (ids 0..{count}): check the --vdev or --allow arguments; a --vdev that fails to probe is only reported in EAL's log",
                if count == 1 { "" } else { "s" }
            ));
        }
    }
    // SAFETY: EAL is initialised.
    let socket = unsafe { sys::rte_socket_id() } as i32;
    let pool =
        Mempool::new(eal, "natrix_pool", ports_cfg.mbufs, socket).map_err(|e| e.to_string())?;
    let mut eth = Vec::new();
    for &p in &needed {
        eth.push(EthPort::start(eal, p, workers as u16, &pool).map_err(|e| e.to_string())?);
    }
    let cp = ControlPlane::new(config).map_err(|e| e.to_string())?;
    let cell = cp.cell();
    let table = cp.config().appliance.flow_table_size;

    let lcores = eal.worker_lcores();
    let on_main = workers.saturating_sub(lcores.len());
    if on_main > 1 {
        return Err(format!(
            "{workers} workers need at least {workers} lcores (give -l 0-{workers} to the EAL: one more for management), but EAL has {} besides the main one",
            lcores.len()
        ));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let shared: Vec<Arc<SharedCounters>> = (0..workers)
        .map(|_| Arc::new(SharedCounters::new(MAX_BACKEND_IDS)))
        .collect();
    let mut jobs: Vec<Job> = (0..workers)
        .map(|w| {
            let dp = Dataplane::new(cell.clone(), table, w);
            let queue = Queue::new(eal, &eth[0], w as u16);
            let public = match opts.synthetic_flows {
                Some(flows) => {
                    let per =
                        flows / workers as u64 + u64::from((w as u64) < flows % workers as u64);
                    RunPort::Synthetic(Synthetic {
                        inner: queue,
                        templates: FlowTemplates::new(w as u64, per as usize, workers as u64),
                    })
                }
                None => RunPort::Real(queue),
            };
            let worker = match eth.get(1) {
                Some(private) => Worker::two_arm(
                    dp,
                    public,
                    RunPort::Real(Queue::new(eal, private, w as u16)),
                    shared[w].clone(),
                ),
                None => Worker::new(dp, public, shared[w].clone()),
            };
            Job {
                worker,
                stop: stop.clone(),
            }
        })
        .collect();
    // Workers on their own lcores; if one lcore short, the last worker runs on
    // the main lcore and management on an ordinary thread.
    let main_job = if on_main == 1 { jobs.pop() } else { None };
    for (job, &lcore) in jobs.into_iter().zip(lcores.iter()) {
        let arg = Box::into_raw(Box::new(job)) as *mut c_void;
        // SAFETY: lcore is an idle worker lcore; `arg` is a leaked Box<Job>
        // that lcore_main takes back and drops.
        let rc = unsafe { sys::rte_eal_remote_launch(Some(lcore_main), arg, lcore) };
        if rc != 0 {
            // SAFETY: the launch failed, so the box was not handed over.
            drop(unsafe { Box::from_raw(arg as *mut Job) });
            stop.store(true, Ordering::Relaxed);
            // SAFETY: waits for the lcores already launched.
            unsafe { sys::rte_eal_mp_wait_lcore() };
            return Err(error(-rc, format!("rte_eal_remote_launch on lcore {lcore}")).to_string());
        }
    }

    let term = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, term.clone())
            .map_err(|e| format!("signal handler: {e}"))?;
    }
    let hup = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, hup.clone())
        .map_err(|e| format!("signal handler: {e}"))?;
    let started = Instant::now();
    let mut mgmt = Management::new(cp, shared.clone(), opts.config_path.clone());
    mgmt.enable_health();
    let manage = {
        let stop = stop.clone();
        let idle_exit = opts.idle_exit;
        let status = opts.status_line && std::io::stderr().is_terminal();
        move || {
            management_loop(
                &mut mgmt,
                control.as_ref(),
                &stop,
                &term,
                &hup,
                idle_exit,
                status,
            );
            mgmt
        }
    };
    let mut mgmt = match main_job {
        Some(mut job) => {
            let m = std::thread::spawn(manage);
            job.worker.run(&job.stop);
            m.join()
                .map_err(|_| "the management thread panicked".to_string())?
        }
        None => manage(),
    };
    // SAFETY: every launched lcore has been told to stop; wait for them.
    unsafe { sys::rte_eal_mp_wait_lcore() };
    let elapsed = started.elapsed();

    let mut total = Counters::default();
    for s in &shared {
        total.add(&s.read().0);
    }
    let snap = mgmt.control_plane().snapshot();
    let ports = eth.iter().map(|p| (p.name.clone(), p.stats())).collect();
    for p in eth {
        p.close();
    }
    Ok(RunReport {
        summary: Summary {
            packets_in: total.rx,
            packets_out: total.tx,
            backends: backend_summaries(&snap, &total),
            counters: total,
            elapsed,
            workers,
            loops: 1,
            worker_rx: shared.iter().map(|s| s.read().0.rx).collect(),
            capture_damaged: None,
        },
        ports,
    })
}

/// The management side while workers run: answers the control socket,
/// reloads on SIGHUP, watches for SIGINT/SIGTERM and idleness, and draws the
/// status line.
fn management_loop(
    mgmt: &mut Management,
    control: Option<&ControlServer>,
    stop: &AtomicBool,
    term: &AtomicBool,
    hup: &AtomicBool,
    idle_exit: Option<Duration>,
    status: bool,
) {
    let tick = Duration::from_millis(100);
    let mut last_rx = 0u64;
    let mut last_change = Instant::now();
    let mut last_status = Instant::now();
    loop {
        match control {
            Some(c) => c.poll(mgmt, tick),
            None => std::thread::sleep(tick),
        }
        mgmt.tick();
        if hup.swap(false, Ordering::Relaxed) {
            match mgmt.reload() {
                Ok(m) => log::warn!("SIGHUP: {m}"),
                Err(e) => log::error!("SIGHUP: {e}"),
            }
        }
        let s = mgmt.stats();
        crate::ports::dpdk::telemetry::publish(&s);
        if s.total.rx != last_rx {
            last_rx = s.total.rx;
            last_change = Instant::now();
        }
        if term.load(Ordering::Relaxed) || idle_exit.is_some_and(|d| last_change.elapsed() >= d) {
            break;
        }
        if status && last_status.elapsed() >= Duration::from_secs(1) {
            eprint!(
                "\rrx {:>8.3} Mpps  tx {:>8.3} Mpps  drops {:>8.0}/s  new {:>9.0}/s  connections {:>9}   ",
                s.total.rx_pps / 1e6,
                s.total.tx_pps / 1e6,
                s.total.drop_pps,
                s.total.new_connections_per_sec,
                s.total.active_connections
            );
            last_status = Instant::now();
        }
    }
    if status {
        eprintln!();
    }
    stop.store(true, Ordering::Relaxed);
}
