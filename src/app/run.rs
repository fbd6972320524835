//! `natrix run`: the appliance on DPDK ports, one poll-mode worker per lcore
//! and the management loop beside them. In three steps: `setup` claims the
//! control socket and the metrics listener, initialises the EAL and checks
//! the ports; `launch` runs the workers until SIGINT or SIGTERM (or
//! idleness); `report` sums what they counted.
//!
//! The DPDK objects are locals of [`run`], so the compiler sees that the
//! mempool outlives the ports, the ports outlive their queues, and the
//! workers holding the queues are waited for before either goes.

mod telemetry;

use crate::app::summary::{backend_summaries, Summary};
use crate::config::{Config, Topology};
use crate::control::metrics::MetricsServer;
use crate::control::mgmt::Management;
use crate::control::neighbour::Params;
use crate::control::plane::{ChangeError, ControlPlane};
use crate::control::socket::ControlServer;
use crate::dataplane::counters::{Counters, SharedCounters};
use crate::dataplane::handoff::Handoff;
use crate::dataplane::neighbour;
use crate::dataplane::snapshot::MAX_BACKEND_IDS;
use crate::dataplane::worker::Worker;
use crate::dataplane::Dataplane;
use crate::ports::dpdk::{lcore, DpdkError, Eal, EthPort, Lcore, Mbuf, Mempool, PortStats, Queue};
use crate::ports::memory::{Family, FlowTemplates, BENCH_FRONTEND, BENCH_FRONTEND6};
use crate::ports::{Burst, Port};
use crate::wire::IpProtocol;
use std::error::Error;
use std::fmt;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    /// The synthetic connections' family (IPv6: to the IPv6 bench frontend
    /// of examples/bench6.toml).
    pub synthetic_family: Family,
    /// The control socket to listen on (None: no socket).
    pub control: Option<PathBuf>,
    /// The configuration file, for reloads.
    pub config_path: Option<PathBuf>,
    /// Serve Prometheus metrics on this address (None: no listener).
    pub metrics: Option<SocketAddr>,
}

/// What `natrix run` reports when it stops.
pub struct RunReport {
    pub summary: Summary,
    pub ports: Vec<PortReport>,
    /// The workers' seed: `appliance.seed`, or the one drawn at start.
    pub seed: u64,
    /// Whether the seed came from the configuration (else it was drawn).
    pub seed_configured: bool,
}

/// One port's part of the report.
pub struct PortReport {
    /// The device name (`net_null0`, `0000:01:00.0`, ...).
    pub name: String,
    pub stats: PortStats,
    /// Whether RSS spreads the port's received packets over the workers'
    /// queues (never with one worker: there is one queue).
    pub rss: bool,
}

/// A seed for `natrix run` without `appliance.seed`: different on every
/// start (std's per-process random hash keys, the time and the process id),
/// at most `i64::MAX` so that it can be written into `appliance.seed` to
/// repeat a run.
pub fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    h.write_u128(now.as_nanos());
    h.write_u32(std::process::id());
    h.finish() & i64::MAX as u64
}

/// Why `natrix run` could not run.
#[derive(Debug)]
pub enum RunError {
    /// `--synthetic-flows` without the bench frontend of the family in the
    /// configuration.
    SyntheticNeedsBenchFrontend(Family),
    /// The control socket could not be claimed.
    ControlSocket(Box<dyn Error + Send + Sync>),
    /// The metrics listener could not start.
    Metrics(Box<dyn Error + Send + Sync>),
    /// The EAL, the mempool, a port or an lcore.
    Dpdk(DpdkError),
    /// `[ports]` names a port the EAL did not find.
    MissingPort { port: u16, found: u16 },
    /// The configuration does not build a data path.
    Config(ChangeError),
    /// More workers than lcores (the main lcore can take one).
    TooFewLcores { workers: usize, lcores: usize },
    /// A signal handler could not be installed.
    Signal(std::io::Error),
    /// The management thread panicked.
    ManagementPanicked,
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::SyntheticNeedsBenchFrontend(Family::Ipv4) => write!(
                f,
                "--synthetic-flows sends to {BENCH_FRONTEND}:80/tcp: use examples/bench.toml, or a configuration with that frontend"
            ),
            RunError::SyntheticNeedsBenchFrontend(Family::Ipv6) => write!(
                f,
                "--synthetic-flows --synthetic-ipv6 sends to [{BENCH_FRONTEND6}]:80/tcp: use examples/bench6.toml, or a configuration with that frontend"
            ),
            RunError::ControlSocket(e) | RunError::Metrics(e) => write!(f, "{e}"),
            RunError::Dpdk(e) => write!(f, "{e}"),
            RunError::MissingPort { port, found } => write!(
                f,
                "[ports] names port {port}, but the EAL found {found} port{} (ids 0..{found}): check the --vdev or --allow arguments; a --vdev that fails to probe is only reported in EAL's log",
                if *found == 1 { "" } else { "s" }
            ),
            RunError::Config(e) => write!(f, "{e}"),
            RunError::TooFewLcores { workers, lcores } => write!(
                f,
                "{workers} workers need at least {workers} lcores (give -l 0-{workers} to the EAL: one more for management), but EAL has {lcores} besides the main one"
            ),
            RunError::Signal(e) => write!(f, "signal handler: {e}"),
            RunError::ManagementPanicked => f.write_str("the management thread panicked"),
        }
    }
}

impl Error for RunError {}

impl From<DpdkError> for RunError {
    fn from(e: DpdkError) -> RunError {
        RunError::Dpdk(e)
    }
}

/// `natrix run` as the command line gives it.
#[derive(Clone, Debug)]
pub struct RunCommand {
    pub config: PathBuf,
    /// Seconds of idle ports after which to stop.
    pub idle_exit: Option<f64>,
    pub json: bool,
    pub control: PathBuf,
    /// Serve Prometheus metrics here.
    pub metrics: Option<String>,
    pub synthetic_flows: Option<u64>,
    /// `--synthetic-ipv6`: the synthetic connections are IPv6.
    pub synthetic_ipv6: bool,
    pub eal_args: Vec<String>,
}

/// `natrix run`: loads the configuration, runs the appliance until it is
/// stopped, and prints the report with the ports' own counters.
pub fn command(c: RunCommand) -> crate::app::CommandResult {
    let config = Config::load(&c.config)?;
    let opts = RunOptions {
        eal_args: c.eal_args,
        idle_exit: c.idle_exit.map(Duration::from_secs_f64),
        status_line: !c.json,
        synthetic_flows: c.synthetic_flows,
        synthetic_family: if c.synthetic_ipv6 {
            Family::Ipv6
        } else {
            Family::Ipv4
        },
        control: Some(c.control),
        config_path: Some(c.config.clone()),
        metrics: c
            .metrics
            .as_deref()
            .map(crate::control::metrics::parse_listen)
            .transpose()?,
    };
    let r = run(config, &opts)?;
    if c.json {
        let mut j = r.summary.to_json();
        j["ports"] = r
            .ports
            .iter()
            .map(|p| {
                let s = &p.stats;
                serde_json::json!({
                    "name": p.name,
                    "rss": p.rss,
                    "ipackets": s.ipackets,
                    "opackets": s.opackets,
                    "imissed": s.imissed,
                    "ierrors": s.ierrors,
                    "oerrors": s.oerrors,
                    "rx_nombuf": s.rx_nombuf,
                })
            })
            .collect();
        j["seed"] = r.seed.into();
        j["seed_configured"] = r.seed_configured.into();
        println!("{j}");
    } else {
        print!("{}", r.summary.render());
        println!("\nports");
        for p in &r.ports {
            let s = &p.stats;
            println!(
                "  {:<24} rx {:>12}  tx {:>12}  missed {:>8}  rx-nombuf {:>8}  errors {}/{}",
                p.name, s.ipackets, s.opackets, s.imissed, s.rx_nombuf, s.ierrors, s.oerrors
            );
            if !p.rss && r.summary.workers > 1 {
                println!("  {:<24} no RSS: {}", "", NO_RSS);
            }
        }
        if r.seed_configured {
            println!("\nseed {} (appliance.seed)", r.seed);
        } else {
            println!(
                "\nseed {} (drawn at start: set appliance.seed = {} to repeat it)",
                r.seed, r.seed
            );
        }
    }
    Ok(())
}

/// What several workers on a port without RSS get. natrix neither refuses
/// nor falls back to one worker: devices such as net_af_packet (fanout),
/// net_pcap (a file per queue) and net_null fill every queue without
/// offering RSS, and the lab runs two workers on net_af_packet.
const NO_RSS: &str = "each worker receives only what the device itself puts on its queue (net_af_packet spreads by its fanout hash, net_pcap by file; most other devices put everything on queue 0, so one worker does all the work)";

/// Runs the appliance until SIGINT or SIGTERM (or `idle_exit`), then stops
/// the workers, closes the ports and reports.
pub fn run(config: Config, opts: &RunOptions) -> Result<RunReport, RunError> {
    let Setup {
        eal,
        control,
        _metrics,
        config,
        ports: port_ids,
    } = setup(config, opts)?;
    let workers = config.ports.workers as usize;
    let pool = Mempool::new(eal, "natrix_pool", config.ports.mbufs, eal.socket_id())?;
    let mut ports = Vec::new();
    let mut queues = Vec::new();
    for &p in &port_ids {
        let (port, q) = EthPort::start(eal, p, workers as u16, &pool)?;
        ports.push(port);
        queues.push(q);
    }
    if workers > 1 {
        for p in ports.iter().filter(|p| !p.rss()) {
            log::warn!(
                "port {} ({}) has no RSS for {workers} workers: {NO_RSS}",
                p.id(),
                p.name()
            );
        }
    }
    let mut cp = ControlPlane::new(config).map_err(RunError::Config)?;
    // The appliance draws its own seed unless one is configured: a fixed
    // default would repeat one backend sequence on every start.
    cp.set_seed(random_seed());
    let lcores = eal.worker_lcores();
    let on_main = workers.saturating_sub(lcores.len());
    if on_main > 1 {
        return Err(RunError::TooFewLcores {
            workers,
            lcores: lcores.len(),
        });
    }
    let shared: Vec<Arc<SharedCounters>> = (0..workers)
        .map(|_| Arc::new(SharedCounters::new(MAX_BACKEND_IDS)))
        .collect();
    let link = Arc::new(neighbour::Link::new(shared.len()));
    let synthetic = opts.synthetic_flows.map(|n| (n, opts.synthetic_family));
    let jobs = build_workers(&cp, queues, &shared, synthetic, &link);
    let (mut mgmt, elapsed) = launch(eal, &lcores, jobs, (cp, link), &shared, control, opts)?;
    Ok(report(&mut mgmt, &shared, &ports, elapsed))
}

/// What [`setup`] claimed and checked, before any port starts.
struct Setup {
    eal: &'static Eal,
    control: Option<ControlServer>,
    _metrics: Option<MetricsServer>,
    config: Config,
    /// The DPDK ports of the topology: public, then private.
    ports: Vec<u16>,
}

/// Checks the options against the configuration, claims the control socket
/// and the metrics listener, initialises the EAL, registers the telemetry
/// commands and checks that the EAL found the configured ports.
fn setup(config: Config, opts: &RunOptions) -> Result<Setup, RunError> {
    let bench_frontend: std::net::IpAddr = match opts.synthetic_family {
        Family::Ipv4 => BENCH_FRONTEND.into(),
        Family::Ipv6 => BENCH_FRONTEND6.into(),
    };
    if opts.synthetic_flows.is_some()
        && !config.frontends.iter().any(|f| {
            f.address == bench_frontend && f.port == 80 && matches!(f.protocol, IpProtocol::Tcp)
        })
    {
        return Err(RunError::SyntheticNeedsBenchFrontend(opts.synthetic_family));
    }
    // Claim the control socket first: a second natrix on the same socket is
    // refused before it touches any port.
    let control = match (&opts.control, opts.metrics) {
        (Some(p), _) => {
            Some(ControlServer::bind(p).map_err(|e| RunError::ControlSocket(e.into()))?)
        }
        // The metrics listener asks the management loop, socket or not.
        (None, Some(_)) => Some(ControlServer::in_process()),
        (None, None) => None,
    };
    let _metrics = match (opts.metrics, &control) {
        (Some(addr), Some(c)) => {
            Some(MetricsServer::start(addr, c.asker()).map_err(|e| RunError::Metrics(e.into()))?)
        }
        _ => None,
    };
    let eal = Eal::init(&opts.eal_args)?;
    if let Err(e) = telemetry::register() {
        log::warn!("{e}");
    }
    let ports = match config.ports.topology {
        Topology::OneArm => vec![config.ports.public],
        Topology::TwoArm => vec![config.ports.public, config.ports.private],
    };
    let found = eal.port_count();
    if let Some(&port) = ports.iter().find(|&&p| p >= found) {
        return Err(RunError::MissingPort { port, found });
    }
    Ok(Setup {
        eal,
        control,
        _metrics,
        config,
        ports,
    })
}

/// One worker per queue pair: worker `w` polls queue `w` of each port.
fn build_workers<'pool>(
    cp: &ControlPlane,
    queues: Vec<Vec<Queue<'pool>>>,
    shared: &[Arc<SharedCounters>],
    synthetic_flows: Option<(u64, Family)>,
    link: &Arc<neighbour::Link>,
) -> Vec<Worker<RunPort<'pool>>> {
    let cell = cp.cell();
    let table = cp.config().appliance.flow_table_size;
    let workers = shared.len();
    let mut per_port = queues.into_iter().map(Vec::into_iter);
    let public = per_port.next().into_iter().flatten();
    let mut private = per_port.next();
    // The NIC's RSS (or the kernel's fanout) does not place packets by
    // their connection's owner: the workers hand them over.
    let group = (workers > 1).then(|| Arc::new(Handoff::new(workers)));
    public
        .enumerate()
        .map(|(w, queue)| {
            let mut dp = Dataplane::new(cell.clone(), table, w);
            // Real ports run promiscuous: take only frames sent to natrix.
            dp.set_mac_filter(synthetic_flows.is_none());
            let public = match synthetic_flows {
                Some((flows, family)) => {
                    let per =
                        flows / workers as u64 + u64::from((w as u64) < flows % workers as u64);
                    RunPort::Synthetic(Synthetic {
                        inner: queue,
                        templates: Box::new(FlowTemplates::with_family(
                            family,
                            w as u64,
                            per as usize,
                            workers as u64,
                        )),
                    })
                }
                None => RunPort::Real(queue),
            };
            let mut worker = match private.as_mut().and_then(Iterator::next) {
                Some(q) => Worker::two_arm(dp, public, RunPort::Real(q), shared[w].clone()),
                None => Worker::new(dp, public, shared[w].clone()),
            };
            if let Some(g) = &group {
                worker.set_handoff(g.clone(), w);
            }
            // Worker 0 sends the neighbour cache's requests and announcements.
            worker.set_neighbour_link(link.clone(), w == 0);
            worker
        })
        .collect()
}

/// Sets the flag when dropped: every way out of a scope stops the workers.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Runs the workers, each on its own lcore (if one lcore short, the last
/// worker runs on the main lcore and management on an ordinary thread), and
/// the management loop (with the neighbour cache, over the control plane's
/// link to the workers) until it stops them. Returns the management side and
/// how long the workers ran.
fn launch(
    eal: &Eal,
    lcores: &[Lcore],
    mut workers: Vec<Worker<RunPort<'_>>>,
    (cp, link): (ControlPlane, Arc<neighbour::Link>),
    shared: &[Arc<SharedCounters>],
    control: Option<ControlServer>,
    opts: &RunOptions,
) -> Result<(Management, Duration), RunError> {
    let stop = AtomicBool::new(false);
    let (mgmt, started) = lcore::scope(eal, |lcores_scope| {
        let _stop = StopOnDrop(&stop);
        let main_worker = if workers.len() > lcores.len() {
            workers.pop()
        } else {
            None
        };
        for (mut worker, &lcore) in workers.into_iter().zip(lcores) {
            let stop = &stop;
            lcores_scope.launch(lcore, move || worker.run(stop))?;
        }

        let term = Arc::new(AtomicBool::new(false));
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(sig, term.clone()).map_err(RunError::Signal)?;
        }
        let hup = Arc::new(AtomicBool::new(false));
        signal_hook::flag::register(signal_hook::consts::SIGHUP, hup.clone())
            .map_err(RunError::Signal)?;
        let started = Instant::now();
        let mut mgmt = Management::new(cp, shared.to_vec(), opts.config_path.clone());
        mgmt.enable_health();
        mgmt.enable_neighbours(link, Params::default());
        // Announced at start, when the configuration says natrix's
        // addresses on its ports (the neighbour-resolving setup): neighbours
        // that knew another appliance (or this one's former MAC) switch at
        // once. A configuration of MACs written by hand keeps its old start
        // (nothing sent unasked); `natrix announce` works with both.
        if !mgmt
            .control_plane()
            .config()
            .ports
            .public_addresses
            .is_empty()
        {
            if let Ok(m) = mgmt.announce() {
                log::info!("{m}");
            }
        }
        let status = opts.status_line && std::io::stderr().is_terminal();
        let stop_ref = &stop;
        let manage = move || {
            let _stop = StopOnDrop(stop_ref);
            management_loop(
                &mut mgmt,
                control.as_ref(),
                &term,
                &hup,
                opts.idle_exit,
                status,
            );
            mgmt
        };
        let mgmt = match main_worker {
            Some(mut worker) => std::thread::scope(|threads| {
                let m = threads.spawn(manage);
                worker.run(&stop);
                m.join().map_err(|_| RunError::ManagementPanicked)
            })?,
            None => manage(),
        };
        Ok::<_, RunError>((mgmt, started))
    })?;
    // The scope waited for every lcore.
    Ok((mgmt, started.elapsed()))
}

/// The summary of the run and the ports' counters.
fn report(
    mgmt: &mut Management,
    shared: &[Arc<SharedCounters>],
    ports: &[EthPort<'_>],
    elapsed: Duration,
) -> RunReport {
    let mut total = Counters::default();
    for s in shared {
        total.add(&s.read().0);
    }
    let snap = mgmt.control_plane().snapshot();
    RunReport {
        summary: Summary {
            packets_in: total.rx,
            packets_out: total.tx,
            backends: backend_summaries(&snap, &total),
            counters: total,
            elapsed,
            workers: shared.len(),
            loops: 1,
            worker_rx: shared.iter().map(|s| s.read().0.rx).collect(),
            capture_damaged: None,
        },
        ports: ports
            .iter()
            .map(|p| PortReport {
                name: p.name().to_string(),
                stats: p.stats(),
                rss: p.rss(),
            })
            .collect(),
        seed: mgmt.control_plane().seed(),
        seed_configured: mgmt.control_plane().config().appliance.seed.is_some(),
    }
}

/// The management side while workers run: answers the control socket,
/// reloads on SIGHUP, publishes telemetry, watches for SIGINT/SIGTERM and
/// idleness, and draws the status line. Returning stops the workers (the
/// caller's [`StopOnDrop`]).
fn management_loop(
    mgmt: &mut Management,
    control: Option<&ControlServer>,
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
        telemetry::publish(&s);
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
}

/// A DPDK queue whose received mbufs are overwritten with frames of
/// established connections before processing: the benchmark's stand-in for a
/// NIC receiving real traffic (net_null delivers empty 64-byte mbufs). The
/// template write is counted in the cost, as in `natrix bench`.
struct Synthetic<'pool> {
    inner: Queue<'pool>,
    /// Boxed: the frames' templates are large, a `RunPort` stays small.
    templates: Box<FlowTemplates>,
}

/// The port a worker of `natrix run` polls.
enum RunPort<'pool> {
    Real(Queue<'pool>),
    Synthetic(Synthetic<'pool>),
}

impl<'pool> Port for RunPort<'pool> {
    type Buf = Mbuf<'pool>;

    #[inline(always)]
    fn rx_burst(&mut self, rx: &mut Burst<Mbuf<'pool>>) {
        match self {
            RunPort::Real(q) => q.rx_burst(rx),
            RunPort::Synthetic(s) => {
                let from = rx.len();
                s.inner.rx_burst(rx);
                // A single-segment mbuf of the pool has
                // RTE_MBUF_DEFAULT_BUF_SIZE bytes of room, far more than the
                // 64-byte (84-byte IPv6) frame.
                s.templates
                    .write_all(&mut rx[from..], |m, len| m.set_len(len as u16));
            }
        }
    }

    #[inline(always)]
    fn tx_burst(&mut self, tx: &mut Burst<Mbuf<'pool>>) {
        match self {
            RunPort::Real(q) => q.tx_burst(tx),
            RunPort::Synthetic(s) => s.inner.tx_burst(tx),
        }
    }

    fn alloc(&mut self, len: usize) -> Option<Mbuf<'pool>> {
        match self {
            RunPort::Real(q) => q.alloc(len),
            RunPort::Synthetic(s) => s.inner.alloc(len),
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
