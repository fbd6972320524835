//! The `natrix` command.

use clap::{Args, Parser, Subcommand};
use natrix::app::replay::{self, ReplayOptions};
use natrix::config::Config;
use natrix::control::plane::ControlPlane;
use natrix::control::protocol::{self, Outcome};
use natrix::control::socket;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// natrix: a poll-mode layer-4 NAT load balancer.
///
/// Client packets to a frontend (public address and port) are rewritten to a
/// backend chosen from a pool, and the backends' replies are rewritten back, so
/// that clients only ever see the frontend.
#[derive(Parser)]
#[command(name = "natrix", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replay a capture through the data path and write the translated packets.
    Replay(ReplayArgs),
    /// Write a capture of realistic traffic for a configuration.
    Gen(GenArgs),
    /// Measure throughput on established connections with an in-memory port.
    Bench(BenchArgs),
    /// Generate traffic for examples/web.toml and replay it with two workers.
    Demo(DemoArgs),
    /// Run the appliance on DPDK ports (built with the `dpdk` feature).
    ///
    /// Ports come from the EAL arguments after `--`: `--allow` for NICs,
    /// `--vdev` for virtual devices. SIGINT or SIGTERM stops it cleanly.
    Run(RunArgs),
    /// Show a running natrix's statistics (through its control socket).
    Stats {
        /// Print the statistics as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        control: ControlArg,
    },
    /// A live full-screen view of a running natrix: rates, workers,
    /// frontends, backends and drops, refreshed every second (q, Esc or
    /// Ctrl-C quits).
    Top {
        /// Seconds between refreshes.
        #[arg(long, value_name = "SECS", default_value_t = 1.0)]
        interval: f64,
        #[command(flatten)]
        control: ControlArg,
    },
    /// Change a running natrix's backends: add, remove, drain or weight.
    Backend {
        #[command(subcommand)]
        action: BackendAction,
        #[command(flatten)]
        control: ControlArg,
    },
    /// Make a running natrix re-read its configuration file (as SIGHUP does).
    Reload {
        #[command(flatten)]
        control: ControlArg,
    },
    /// Validate a configuration file.
    CheckConfig {
        /// The configuration file (TOML).
        file: PathBuf,
    },
}

#[derive(Args)]
struct ReplayArgs {
    /// The configuration file (TOML).
    #[arg(long, short)]
    config: PathBuf,
    /// The capture to replay (pcap or pcapng, Ethernet).
    #[arg(long)]
    pcap: PathBuf,
    /// Where to write the translated packets (pcap).
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// Worker threads (packets are spread over them by a hash of the 5-tuple).
    #[arg(long, short, default_value_t = 1)]
    workers: usize,
    /// Passes over the capture; the output holds the first.
    #[arg(long, default_value_t = 1)]
    loops: u32,
    /// Deliver at most this many packets per second (default: as fast as
    /// the workers go).
    #[arg(long, value_name = "PPS")]
    pace: Option<f64>,
    /// Listen on this control socket while replaying (`natrix stats`,
    /// `natrix backend`, `natrix top` work against it).
    #[arg(long, value_name = "PATH")]
    control: Option<PathBuf>,
    /// Serve Prometheus metrics over HTTP at ADDR/metrics: PORT or :PORT
    /// listens on 127.0.0.1 (loopback only), ADDRESS:PORT on that address
    /// (default without a value: 127.0.0.1:9100). Off unless given.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:9100")]
    metrics: Option<String>,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct ControlArg {
    /// The control socket of the natrix to talk to.
    #[arg(long, value_name = "PATH", default_value = natrix::control::socket::DEFAULT_SOCKET, global = true)]
    control: PathBuf,
}

#[derive(Subcommand)]
enum BackendAction {
    /// Add a backend to a pool (new connections may choose it at once).
    Add {
        pool: String,
        /// The backend, as ADDRESS:PORT.
        address: String,
        /// Its weight (0 to 1000).
        #[arg(default_value_t = 1)]
        weight: u32,
        /// Its MAC (default: that of the pool's first backend, its next hop).
        #[arg(long)]
        mac: Option<String>,
    },
    /// Remove a backend: its connections are dropped.
    Remove { pool: String, address: String },
    /// Drain a backend: it keeps its connections and takes no new ones.
    Drain { pool: String, address: String },
    /// Set a backend's weight (0 drains it).
    Weight {
        pool: String,
        address: String,
        weight: u32,
    },
}

#[derive(Args)]
struct RunArgs {
    /// The configuration file (TOML); its [ports] section picks the ports.
    #[arg(long, short)]
    config: PathBuf,
    /// Stop once no packet has arrived for this many seconds (for runs fed
    /// from a capture).
    #[arg(long, value_name = "SECS")]
    idle_exit: Option<f64>,
    /// Print the final statistics as one JSON object.
    #[arg(long)]
    json: bool,
    /// The control socket (`natrix stats`, `natrix backend`, `natrix reload`).
    #[arg(long, value_name = "PATH", default_value = natrix::control::socket::DEFAULT_SOCKET)]
    control: PathBuf,
    /// Serve Prometheus metrics over HTTP at ADDR/metrics: PORT or :PORT
    /// listens on 127.0.0.1 (loopback only), ADDRESS:PORT on that address
    /// (default without a value: 127.0.0.1:9100). Off unless given.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:9100")]
    metrics: Option<String>,
    /// Benchmark mode: overwrite every received frame (from net_null, say)
    /// with a frame of one of N established connections to 198.18.0.10:80
    /// (use examples/bench.toml); see scripts/bench-dpdk.sh.
    #[arg(long, value_name = "N")]
    synthetic_flows: Option<u64>,
    /// Arguments for DPDK's EAL, after `--` (for example
    /// `-l 0-1 --no-huge -m 1024 --no-pci --vdev net_null0`).
    #[arg(last = true, value_name = "EAL ARGS")]
    eal: Vec<String>,
}

#[derive(Args)]
struct GenArgs {
    /// The configuration to generate traffic for.
    #[arg(long, short)]
    config: PathBuf,
    /// The capture to write.
    #[arg(long, short)]
    out: PathBuf,
    /// TCP connections per TCP frontend, and UDP exchanges per UDP frontend.
    #[arg(long, default_value_t = 1000)]
    connections: u32,
    /// Distinct client addresses.
    #[arg(long, default_value_t = 100)]
    clients: u32,
    /// Data segments each way per TCP connection.
    #[arg(long, default_value_t = 2)]
    segments: u32,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Stray packets (that natrix must drop) per 100 connections.
    #[arg(long, default_value_t = 5)]
    stray_percent: u32,
}

#[derive(Args)]
struct BenchArgs {
    /// Active connections in all.
    #[arg(long, default_value_t = 1000)]
    flows: u64,
    /// Worker threads.
    #[arg(long, short, default_value_t = 1)]
    workers: usize,
    /// Seconds to measure.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Listen on this control socket while measuring.
    #[arg(long, value_name = "PATH")]
    control: Option<PathBuf>,
    /// Print the results as one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct DemoArgs {
    /// The configuration (default: examples/web.toml of the source tree).
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Where to write the generated and the translated captures.
    #[arg(long, default_value = "target/demo")]
    dir: PathBuf,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    let r = match cli.command {
        Command::Replay(a) => cmd_replay(a),
        Command::Gen(a) => cmd_gen(a),
        Command::Bench(a) => cmd_bench(a),
        Command::Demo(a) => cmd_demo(a),
        Command::Run(a) => cmd_run(a),
        Command::Stats { json, control } => cmd_stats(&control.control, json),
        Command::Top { interval, control } => {
            natrix::app::top::run(&control.control, interval).map_err(Into::into)
        }
        Command::Backend { action, control } => cmd_backend(&control.control, action),
        Command::Reload { control } => cmd_request(&control.control, protocol::Command::Reload),
        Command::CheckConfig { file } => cmd_check(&file),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("natrix: {e}");
            ExitCode::FAILURE
        }
    }
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The demo configuration, built in so that `natrix demo` runs anywhere.
const WEB_TOML: &str = include_str!("../examples/web.toml");

fn load(path: &Path) -> Result<Config> {
    Ok(Config::load(path)?)
}

fn cmd_request(path: &Path, command: protocol::Command) -> Result<()> {
    if let Outcome::Done { message } = socket::ask(path, command)? {
        println!("{message}");
    }
    Ok(())
}

fn cmd_backend(path: &Path, a: BackendAction) -> Result<()> {
    let command = match a {
        BackendAction::Add {
            pool,
            address,
            weight,
            mac,
        } => protocol::Command::BackendAdd {
            pool,
            address,
            weight,
            mac,
        },
        BackendAction::Remove { pool, address } => {
            protocol::Command::BackendRemove { pool, address }
        }
        BackendAction::Drain { pool, address } => protocol::Command::BackendDrain { pool, address },
        BackendAction::Weight {
            pool,
            address,
            weight,
        } => protocol::Command::BackendWeight {
            pool,
            address,
            weight,
        },
    };
    cmd_request(path, command)
}

fn cmd_stats(path: &Path, json: bool) -> Result<()> {
    let s = socket::stats(path)?;
    if json {
        // Through a JSON value: its keys print in sorted order, as they always have.
        println!("{}", serde_json::to_value(&s)?);
    } else {
        print!("{}", natrix::control::mgmt::render_stats(&s));
    }
    Ok(())
}

fn cmd_check(file: &Path) -> Result<()> {
    let c = load(file)?;
    let backends: usize = c.pools.iter().map(|p| p.backends.len()).sum();
    println!(
        "{}: ok ({} frontends, {} pools, {} backends, {} rules, {} NAT rules)",
        file.display(),
        c.frontends.len(),
        c.pools.len(),
        backends,
        c.rules.len(),
        c.nat_rules.len()
    );
    Ok(())
}

#[cfg(feature = "dpdk")]
fn cmd_run(a: RunArgs) -> Result<()> {
    let config = load(&a.config)?;
    let opts = natrix::app::run::RunOptions {
        eal_args: a.eal,
        idle_exit: a.idle_exit.map(std::time::Duration::from_secs_f64),
        status_line: !a.json,
        synthetic_flows: a.synthetic_flows,
        control: Some(a.control),
        config_path: Some(a.config.clone()),
        metrics: a
            .metrics
            .as_deref()
            .map(natrix::control::metrics::parse_listen)
            .transpose()?,
    };
    let r = natrix::app::run::run(config, &opts).map_err(|e| e.to_string())?;
    if a.json {
        let mut j = r.summary.to_json();
        j["ports"] = r
            .ports
            .iter()
            .map(|(name, s)| {
                serde_json::json!({
                    "name": name,
                    "ipackets": s.ipackets,
                    "opackets": s.opackets,
                    "imissed": s.imissed,
                    "ierrors": s.ierrors,
                    "oerrors": s.oerrors,
                    "rx_nombuf": s.rx_nombuf,
                })
            })
            .collect();
        println!("{j}");
    } else {
        print!("{}", r.summary.render());
        println!("\nports");
        for (name, s) in &r.ports {
            println!(
                "  {name:<24} rx {:>12}  tx {:>12}  missed {:>8}  rx-nombuf {:>8}  errors {}/{}",
                s.ipackets, s.opackets, s.imissed, s.rx_nombuf, s.ierrors, s.oerrors
            );
        }
    }
    Ok(())
}

#[cfg(not(feature = "dpdk"))]
fn cmd_run(_: RunArgs) -> Result<()> {
    Err("this natrix was built without DPDK: build it with `cargo build --release --features dpdk` (needs libdpdk-dev and libclang-dev)".into())
}

fn cmd_replay(a: ReplayArgs) -> Result<()> {
    if a.workers == 0 || a.workers > 64 {
        return Err("--workers must be 1 to 64".into());
    }
    if a.loops == 0 {
        return Err("--loops must be at least 1".into());
    }
    if a.pace.is_some_and(|p| p.is_nan() || p < 1.0) {
        return Err("--pace must be at least 1 packet per second".into());
    }
    let metrics = match (&a.metrics, &a.control) {
        (Some(m), Some(_)) => Some(natrix::control::metrics::parse_listen(m)?),
        (Some(_), None) => {
            return Err("--metrics needs --control PATH with replay: the metrics are answered by the management loop, which replay runs only with a control socket".into())
        }
        (None, _) => None,
    };
    let config = load(&a.config)?;
    let cp = ControlPlane::new(config).map_err(|e| e.to_string())?;
    let opts = ReplayOptions {
        workers: a.workers,
        loops: a.loops,
        out: a.out,
        progress: true,
        pace: a.pace,
    };
    let cap = natrix::ports::capture::read(&a.pcap).map_err(|e| e.to_string())?;
    let s = match &a.control {
        None => replay::replay_capture(&cp, &cap, &opts).map_err(|e| e.to_string())?,
        Some(path) => {
            let server = natrix::control::socket::ControlServer::bind(path)?;
            let _metrics = match metrics {
                Some(addr) => Some(natrix::control::metrics::MetricsServer::start(
                    addr,
                    server.asker(),
                )?),
                None => None,
            };
            let cell = cp.cell();
            let mut mgmt =
                natrix::control::mgmt::Management::new(cp, Vec::new(), Some(a.config.clone()));
            let mut started = false;
            let mut tick =
                |shared: &[std::sync::Arc<natrix::dataplane::counters::SharedCounters>]| {
                    if !started {
                        mgmt.set_workers(shared.to_vec());
                        started = true;
                    }
                    server.poll(&mut mgmt, std::time::Duration::from_millis(20));
                    mgmt.tick();
                };
            replay::replay_managed(cell, &cap, &opts, &mut tick).map_err(|e| e.to_string())?
        }
    };
    if a.json {
        println!("{}", s.to_json());
    } else {
        print!("{}", s.render());
    }
    Ok(())
}

fn gen_options(a: &GenArgs) -> natrix::app::generate::GenOptions {
    natrix::app::generate::GenOptions {
        connections: a.connections,
        clients: a.clients,
        segments: a.segments,
        seed: a.seed,
        stray_percent: a.stray_percent,
    }
}

fn cmd_gen(a: GenArgs) -> Result<()> {
    let config = load(&a.config)?;
    let n = natrix::app::generate::write(&config, &gen_options(&a), &a.out)
        .map_err(|e| e.to_string())?;
    println!("{}: {n} packets", a.out.display());
    Ok(())
}

fn cmd_bench(a: BenchArgs) -> Result<()> {
    let r = natrix::app::bench::run(a.flows, a.workers, a.seconds, a.control.as_deref())?;
    if a.json {
        println!("{}", r.to_json());
    } else {
        print!("{}", r.render());
    }
    Ok(())
}

fn cmd_demo(a: DemoArgs) -> Result<()> {
    // The demo configuration: --config, else examples/web.toml of the working
    // directory, else the copy built into the binary.
    let (config, config_name) = match &a.config {
        Some(p) => (load(p)?, p.display().to_string()),
        None if Path::new("examples/web.toml").exists() => (
            load(Path::new("examples/web.toml"))?,
            "examples/web.toml".to_string(),
        ),
        None => (
            Config::parse(WEB_TOML, "examples/web.toml (built in)").map_err(|e| e.to_string())?,
            "examples/web.toml (built in)".to_string(),
        ),
    };
    std::fs::create_dir_all(&a.dir).map_err(|e| format!("{}: {e}", a.dir.display()))?;
    let input = a.dir.join("web-traffic.pcap");
    let output = a.dir.join("web-translated.pcap");
    let gen = natrix::app::generate::GenOptions::default();
    let n = natrix::app::generate::write(&config, &gen, &input).map_err(|e| e.to_string())?;
    let cp = ControlPlane::new(config).map_err(|e| e.to_string())?;
    let opts = ReplayOptions {
        workers: 2,
        loops: 1,
        out: Some(output.clone()),
        progress: true,
        pace: None,
    };
    let s = replay::replay_file(&cp, &input, &opts).map_err(|e| e.to_string())?;
    if a.json {
        println!("{}", s.to_json());
    } else {
        println!(
            "natrix demo: generated {n} packets for {} into {},\nreplayed them with 2 workers into {}\n",
            config_name,
            input.display(),
            output.display()
        );
        print!("{}", s.render());
    }
    Ok(())
}
