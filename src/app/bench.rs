//! The in-memory throughput benchmark: established TCP connections, 64-byte
//! frames (84-byte over IPv6), the full NAT path.
//!
//! The port stands in for a NIC: before each frame is processed it writes the
//! frame into a recycled buffer from a template plus the connection's own
//! fields (client address and port, and their checksums), so every frame is
//! a valid packet of a live connection, and that write is counted in the cost.

use crate::config::{Appliance, Backend, Config, Frontend, Pool, Ports, Rule};
use crate::control::plane::ControlPlane;
use crate::dataplane::counters::{DropReason, SharedCounters};
use crate::dataplane::select::Mode;
use crate::dataplane::snapshot::{SnapshotCell, MAX_BACKEND_IDS};
use crate::dataplane::worker::Worker;
use crate::dataplane::Dataplane;
pub use crate::ports::memory::Family;
use crate::ports::memory::{MemPort, APPLIANCE_MAC, BENCH_FRONTEND, BENCH_FRONTEND6};
use crate::wire::{IpProtocol, MacAddr};
use serde_json::json;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The benchmark's configuration: one TCP frontend, four backends, random mode.
pub fn bench_config(flows_per_worker: u32) -> Config {
    bench_config_for(flows_per_worker, Family::Ipv4)
}

/// [`bench_config`] for connections of `family`: the IPv6 one has the
/// frontend `[2001:db8::10]:80` and the backends `[2001:db8:1::10-13]:8080`
/// (and the appliance the address 2001:db8::1 besides 198.18.0.1).
pub fn bench_config_for(flows_per_worker: u32, family: Family) -> Config {
    let mut config = bench_config_v4(flows_per_worker);
    if family == Family::Ipv6 {
        config
            .appliance
            .addresses
            .push(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).into());
        config.frontends[0].address = BENCH_FRONTEND6.into();
        for (i, b) in config.pools[0].backends.iter_mut().enumerate() {
            b.address = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x10 + i as u16).into();
        }
    }
    config
}

fn bench_config_v4(flows_per_worker: u32) -> Config {
    Config {
        appliance: Appliance {
            mac: APPLIANCE_MAC,
            addresses: vec![Ipv4Addr::new(198, 18, 0, 1).into()],
            gateway_mac: MacAddr([0x02, 0, 0, 0, 0, 0xfe]),
            gateway4: None,
            gateway6: None,
            flow_table_size: flows_per_worker.max(1024),
            transitory_timeout_secs: 10,
            seed: Some(1),
            fragments: Default::default(),
            siit_addresses: Vec::new(),
        },
        ports: Ports::default(),
        frontends: vec![Frontend {
            name: "bench".into(),
            address: BENCH_FRONTEND.into(),
            port: 80,
            protocol: IpProtocol::Tcp,
            siit: false,
        }],
        pools: vec![Pool {
            name: "bench".into(),
            backends: (0..4)
                .map(|i| Backend {
                    address: Ipv4Addr::new(198, 19, 0, 10 + i).into(),
                    port: 8080,
                    weight: 1,
                    mac: MacAddr([0x02, 0, 0, 0, 1, 10 + i]),
                })
                .collect(),
            health: None,
            next_hop: None,
        }],
        rules: vec![Rule {
            frontend: 0,
            pool: 0,
            mode: Mode::Random,
            idle_timeout_mins: 4,
            transitory_timeout_mins: 4,
            syn_timeout_secs: 10,
            tcp_reset_on_idle: false,
            maglev_table_size: 65537,
        }],
        nat_rules: vec![],
    }
}

/// A worker set up for benchmarking: its connections already established.
pub struct BenchWorker {
    pub worker: Worker<MemPort>,
    /// Seconds the SYN phase took (one new connection per flow).
    pub syn_seconds: f64,
}

/// Builds worker `w` of `workers` over `flows` IPv4 connections in all, and
/// establishes its connections.
pub fn setup_worker(cp: &ControlPlane, flows: u64, workers: usize, w: usize) -> BenchWorker {
    setup_worker_for(cp, Family::Ipv4, flows, workers, w)
}

/// [`setup_worker`] for connections of `family` (the control plane's
/// configuration from [`bench_config_for`] with the same family).
pub fn setup_worker_for(
    cp: &ControlPlane,
    family: Family,
    flows: u64,
    workers: usize,
    w: usize,
) -> BenchWorker {
    let shared = Arc::new(SharedCounters::new(MAX_BACKEND_IDS));
    let table = cp.config().appliance.flow_table_size;
    setup_worker_on(cp.cell(), table, shared, family, flows, workers, w)
}

/// [`setup_worker_for`] on a snapshot cell, publishing into `shared`.
pub fn setup_worker_on(
    cell: Arc<SnapshotCell>,
    table: u32,
    shared: Arc<SharedCounters>,
    family: Family,
    flows: u64,
    workers: usize,
    w: usize,
) -> BenchWorker {
    let per = flows / workers as u64 + u64::from((w as u64) < flows % workers as u64);
    let dp = Dataplane::new(cell, table, w);
    let port = MemPort::with_family(family, w as u64, per as usize, workers as u64);
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
    pub family: Family,
    pub flows: u64,
    pub workers: usize,
    pub seconds: f64,
    pub packets: u64,
    pub dropped: u64,
    pub mpps_per_worker: Vec<f64>,
    pub new_connections_per_sec_per_worker: Vec<f64>,
    /// Bytes of the family's flow tables (the IPv4 ones, or the IPv6 ones).
    pub table_bytes: u64,
    /// Connections in the family's flow tables.
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

    /// The report as JSON; an IPv6 run's has `"family": "ipv6"` (an IPv4
    /// run's is what it was before IPv6).
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = json!({
            "flows": self.flows,
            "workers": self.workers,
            "seconds": self.seconds,
            "packets": self.packets,
            "dropped": self.dropped,
            "frame_bytes": self.family.frame_len(),
            "mpps_total": self.mpps_total(),
            "mpps_per_core": self.mpps_per_core(),
            "mpps_per_worker": self.mpps_per_worker,
            "new_connections_per_sec_per_core": self.new_connections_per_sec_per_core(),
            "table_bytes": self.table_bytes,
            "connections_tracked": self.connections_tracked,
            "bytes_per_connection": self.bytes_per_connection(),
        });
        if self.family != Family::Ipv4 {
            v["family"] = self.family.name().into();
        }
        v
    }

    pub fn render(&self) -> String {
        format!(
            "flows {}  workers {}  {:.1} s  {}-byte frames{}\n\
             throughput   {:>8.2} Mpps in all, {:.2} Mpps per core ({})\n\
             new conns    {:>8.2} M/s per core\n\
             memory       {:>8.1} bytes per tracked connection ({} tracked, {:.1} MiB of tables)\n\
             dropped      {:>8}\n",
            self.flows,
            self.workers,
            self.seconds,
            self.family.frame_len(),
            match self.family {
                Family::Ipv4 => "",
                Family::Ipv6 => "  IPv6",
            },
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

/// Variants of the benchmark.
#[derive(Clone, Copy, Debug, Default)]
pub struct BenchOptions {
    /// `tcp_reset_on_idle` on the rule: the cost of tracking sequence numbers.
    pub tcp_reset_on_idle: bool,
    /// The connections' address family (IPv4 by default).
    pub family: Family,
}

/// `natrix bench`: runs the benchmark and prints its report, as a table or
/// as JSON.
pub fn command(
    flows: u64,
    workers: usize,
    seconds: f64,
    control: Option<&std::path::Path>,
    json: bool,
    opts: BenchOptions,
) -> crate::app::CommandResult {
    let r = run_with(flows, workers, seconds, control, opts)?;
    if json {
        println!("{}", r.to_json());
    } else {
        print!("{}", r.render());
    }
    Ok(())
}

/// Runs the benchmark: `workers` threads, `flows` connections in all, for `seconds`.
pub fn run(
    flows: u64,
    workers: usize,
    seconds: f64,
    control: Option<&std::path::Path>,
) -> Result<BenchReport, String> {
    run_with(flows, workers, seconds, control, BenchOptions::default())
}

/// [`run`], with the rule's variant `opts`.
pub fn run_with(
    flows: u64,
    workers: usize,
    seconds: f64,
    control: Option<&std::path::Path>,
    opts: BenchOptions,
) -> Result<BenchReport, String> {
    let workers = workers.clamp(1, 64);
    if flows == 0 || flows > 100_000_000 {
        return Err("--flows must be 1 to 100000000".into());
    }
    let per = flows.div_ceil(workers as u64);
    let family = opts.family;
    let mut config = bench_config_for(per as u32, family);
    config.rules[0].tcp_reset_on_idle = opts.tcp_reset_on_idle;
    let cp = ControlPlane::new(config).map_err(|e| e.to_string())?;
    let cell = cp.cell();
    let table = cp.config().appliance.flow_table_size;
    let server = control
        .map(crate::control::socket::ControlServer::bind)
        .transpose()
        .map_err(|e| e.to_string())?;
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
                    let mut bw = setup_worker_on(cell, table, shared, family, flows, workers, w);
                    let syn_rate = bw.worker.port.flows() as f64 / bw.syn_seconds.max(1e-9);
                    barrier.wait();
                    let rx0 = bw.worker.dp.counters.rx;
                    let d0 = bw.worker.dp.counters.dropped();
                    let t = Instant::now();
                    bw.worker.run(stop);
                    let secs = t.elapsed().as_secs_f64();
                    let rx = bw.worker.dp.counters.rx - rx0;
                    let dropped = bw.worker.dp.counters.dropped() - d0;
                    let (table_bytes, tracked) = match family {
                        Family::Ipv4 => {
                            let t = bw.worker.dp.flows();
                            (t.memory_bytes(), t.occupied())
                        }
                        Family::Ipv6 => {
                            let t = bw.worker.dp.flows6();
                            (t.memory_bytes(), t.occupied())
                        }
                    };
                    (
                        rx,
                        dropped,
                        rx as f64 / secs / 1e6,
                        syn_rate,
                        table_bytes as u64,
                        tracked as u64,
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
        family,
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
