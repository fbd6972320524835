//! The `natrix` command: parses the command line and hands each command to
//! its module in `app`.

use clap::{Args, Parser, Subcommand};
use natrix::app::{self, CommandResult};
use natrix::control::protocol;
use std::path::PathBuf;
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
    /// Make a running natrix send a gratuitous ARP or an unsolicited
    /// Neighbor Advertisement for every frontend and own address (after a
    /// failover, so that neighbours take the traffic to this appliance).
    Announce {
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
    /// Worker threads.
    #[arg(long, short, default_value_t = 1)]
    workers: usize,
    /// How the software RSS spreads packets over the workers: `owner` puts
    /// each at the worker that owns its connection; `tuple` hashes the
    /// 5-tuple as most NICs do, and the workers hand packets to their owners.
    #[arg(long, default_value = "owner", value_name = "owner|tuple")]
    rss: app::replay::Rss,
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
        /// The backend, as ADDRESS:PORT ([ADDRESS]:PORT for IPv6).
        address: String,
        /// Its weight (0 to 1000).
        #[arg(default_value_t = 1)]
        weight: u32,
        /// Its MAC (default: that of the pool's first backend, its next hop).
        #[arg(long)]
        mac: Option<String>,
    },
    /// Remove a backend: its connections are dropped.
    Remove {
        pool: String,
        /// The backend, as ADDRESS:PORT ([ADDRESS]:PORT for IPv6).
        address: String,
    },
    /// Drain a backend: it keeps its connections and takes no new ones.
    Drain {
        pool: String,
        /// The backend, as ADDRESS:PORT ([ADDRESS]:PORT for IPv6).
        address: String,
    },
    /// Set a backend's weight (0 drains it).
    Weight {
        pool: String,
        /// The backend, as ADDRESS:PORT ([ADDRESS]:PORT for IPv6).
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
    /// With --synthetic-flows: IPv6 connections (84-byte frames) to
    /// [2001:db8::10]:80 (use examples/bench6.toml).
    #[arg(long, requires = "synthetic_flows")]
    synthetic_ipv6: bool,
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
    /// Measure with `tcp_reset_on_idle` on the benchmark's rule (its
    /// sequence-number tracking; nothing goes idle during a benchmark).
    #[arg(long)]
    tcp_reset_on_idle: bool,
    /// Benchmark IPv6 connections (84-byte frames to [2001:db8::10]:80)
    /// instead of IPv4 ones (64-byte frames to 198.18.0.10:80).
    #[arg(long)]
    ipv6: bool,
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
        Command::Bench(a) => {
            let opts = app::bench::BenchOptions {
                tcp_reset_on_idle: a.tcp_reset_on_idle,
                family: if a.ipv6 {
                    app::bench::Family::Ipv6
                } else {
                    app::bench::Family::Ipv4
                },
            };
            app::bench::command(
                a.flows,
                a.workers,
                a.seconds,
                a.control.as_deref(),
                a.json,
                opts,
            )
        }
        Command::Demo(a) => app::demo::command(a.config.as_deref(), &a.dir, a.json),
        Command::Run(a) => cmd_run(a),
        Command::Stats { json, control } => app::client::stats(&control.control, json),
        Command::Top { interval, control } => {
            app::top::run(&control.control, interval).map_err(Into::into)
        }
        Command::Backend { action, control } => {
            app::client::ask(&control.control, backend_command(action))
        }
        Command::Reload { control } => {
            app::client::ask(&control.control, protocol::Command::Reload)
        }
        Command::Announce { control } => {
            app::client::ask(&control.control, protocol::Command::Announce)
        }
        Command::CheckConfig { file } => app::client::check_config(&file),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("natrix: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The command line's backend action, as the control protocol's command.
fn backend_command(a: BackendAction) -> protocol::Command {
    match a {
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
    }
}

#[cfg(feature = "dpdk")]
fn cmd_run(a: RunArgs) -> CommandResult {
    app::run::command(app::run::RunCommand {
        config: a.config,
        idle_exit: a.idle_exit,
        json: a.json,
        control: a.control,
        metrics: a.metrics,
        synthetic_flows: a.synthetic_flows,
        synthetic_ipv6: a.synthetic_ipv6,
        eal_args: a.eal,
    })
}

#[cfg(not(feature = "dpdk"))]
fn cmd_run(_: RunArgs) -> CommandResult {
    Err("this natrix was built without DPDK: build it with `cargo build --release --features dpdk` (needs libdpdk-dev and libclang-dev)".into())
}

fn cmd_replay(a: ReplayArgs) -> CommandResult {
    app::replay::command(app::replay::ReplayCommand {
        config: a.config,
        pcap: a.pcap,
        out: a.out,
        workers: a.workers,
        loops: a.loops,
        pace: a.pace,
        rss: a.rss,
        control: a.control,
        metrics: a.metrics,
        json: a.json,
    })
}

fn cmd_gen(a: GenArgs) -> CommandResult {
    let opts = app::generate::GenOptions {
        connections: a.connections,
        clients: a.clients,
        segments: a.segments,
        seed: a.seed,
        stray_percent: a.stray_percent,
    };
    app::generate::command(&a.config, &opts, &a.out)
}
