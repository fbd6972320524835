//! End to end through the DPDK appliance: `natrix run` in the network-namespace
//! lab (`scripts/netns-lab.sh`), a real client (curl, ab) and three real HTTP
//! backends, every frame crossing natrix through net_af_packet ports.
//!
//! Needs root (namespaces, veths) and the lab's tools (iproute2, curl, ab,
//! tcpdump, python3): ignored by a plain `cargo test`; scripts/test.sh runs
//! these tests with `--ignored` (scripts/setup.sh installs the tools), and
//! there a missing prerequisite is a failure. Every namespace and
//! interface is named after a prefix unique to this run and removed when the
//! test ends, failed or not. Only 198.18.0.0/15 and, for IPv6, 2001:2::/48
//! (RFC 5180) are used, inside those namespaces.
//!
//! The lab's configuration probes the backends (`[pool.health]`, HTTP, every
//! second) from natrix's management thread through the lb namespace's kernel
//! and its management leg (198.19.1.2 and 2001:2:1:1::2), never through
//! natrix's ports: the probes show in the backends' logs, never in natrix's
//! counters.
#![cfg(feature = "dpdk")]

mod support;

use natrix::config::Config;
use serde_json::Value;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::thread::sleep;
use std::time::{Duration, Instant};
use support::eal;

const FRONTEND_URL: &str = "http://198.18.1.10/";
/// The lb namespace's kernel on the management leg: the probes' source.
const MGMT_IP: &str = "198.19.1.2";
const BACKENDS: [&str; 3] = ["198.19.1.11:8080", "198.19.1.12:8080", "198.19.1.13:8080"];
/// The IPv6 frontend (TCP port 80: `web6`, UDP port 7: `echo6`).
const FRONTEND6: &str = "2001:2:0:1::10";
const FRONTEND_URL6: &str = "http://[2001:2:0:1::10]/";
/// The client's IPv6 address (without the router).
const CLIENT6: &str = "2001:2:0:1::2";
/// The management leg's IPv6 address: the IPv6 probes' source.
const MGMT_IP6: &str = "2001:2:1:1::2";
const BACKENDS6: [&str; 3] = [
    "[2001:2:1:1::11]:8080",
    "[2001:2:1:1::12]:8080",
    "[2001:2:1:1::13]:8080",
];
/// The backends' UDP echo behind the `echo6` frontend.
const ECHO_BACKENDS6: [&str; 3] = [
    "[2001:2:1:1::11]:7",
    "[2001:2:1:1::12]:7",
    "[2001:2:1:1::13]:7",
];
const SINGLE_REQUESTS: usize = 30;
const LOAD_REQUESTS: usize = 3000;
const LOAD_CONCURRENCY: usize = 30;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn script() -> PathBuf {
    root().join("scripts/netns-lab.sh")
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn run_ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// The lab's tools, with the Debian package of each.
const TOOLS: [(&str, &str); 8] = [
    ("ip", "iproute2"),
    ("ethtool", "ethtool"),
    ("curl", "curl"),
    ("ab", "apache2-utils"),
    ("tcpdump", "tcpdump"),
    ("python3", "python3"),
    ("hping3", "hping3"),
    ("nft", "nftables"),
];

/// Fails, saying what is missing, unless the lab can run: root and its tools.
fn require_lab() {
    assert!(
        is_root(),
        "netns_lab needs root (network namespaces, veths): run it as root"
    );
    let missing: Vec<&str> = TOOLS
        .iter()
        .filter(|(tool, _)| !have(tool))
        .map(|(_, package)| *package)
        .collect();
    assert!(
        missing.is_empty(),
        "netns_lab needs the Debian packages {missing:?} (scripts/setup.sh installs them)"
    );
}

/// The lab for one prefix; `down` runs when it is dropped, also on panic.
struct Lab {
    prefix: String,
}

impl Lab {
    /// The lab; with `router_mtu`, the client sits behind a router whose
    /// link toward it has that MTU (`ROUTER_MTU=N scripts/netns-lab.sh up`).
    fn up(prefix: &str, router_mtu: Option<u32>) -> Lab {
        // The guard exists before `up` runs, so a half-built lab is removed too.
        let lab = Lab {
            prefix: prefix.to_string(),
        };
        let mut cmd = lab.script();
        if let Some(mtu) = router_mtu {
            cmd.env("ROUTER_MTU", mtu.to_string());
        }
        run_ok(cmd.arg("up"));
        lab
    }

    fn script(&self) -> Command {
        let mut cmd = Command::new("bash");
        cmd.arg(script()).env("PREFIX", &self.prefix);
        cmd
    }

    fn ns(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// A command run inside one of the lab's namespaces.
    fn exec(&self, name: &str, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns(name), program]);
        cmd
    }

    fn backend_log(&self, i: usize) -> PathBuf {
        PathBuf::from(format!("/run/natrix-lab-{}/be{i}.log", self.prefix))
    }

    /// Requests each backend has logged so far from anyone but the
    /// management leg (health probes excluded).
    fn backend_requests(&self) -> [usize; 3] {
        self.backend_gets(|from_mgmt| !from_mgmt)
    }

    /// Health probes (requests from the management leg, IPv4 or IPv6) each
    /// backend has logged so far.
    fn backend_probes(&self) -> [usize; 3] {
        self.backend_gets(|from_mgmt| from_mgmt)
    }

    fn backend_gets(&self, wanted: impl Fn(bool) -> bool) -> [usize; 3] {
        let mgmt = [format!("{MGMT_IP} "), format!("{MGMT_IP6} ")];
        self.backend_lines(|l| {
            l.contains("\"GET ") && wanted(mgmt.iter().any(|m| l.starts_with(m)))
        })
    }

    /// Lines each backend's log holds so far that pass `wanted`.
    /// The lines each backend logged since `before` ([`Lab::backend_lines`])
    /// that `wanted` matches, once they add up to `expected` (a server logs
    /// after answering: the last lines come late) or 10 s have passed.
    fn served_since(
        &self,
        before: [usize; 3],
        expected: usize,
        wanted: impl Fn(&str) -> bool,
    ) -> [usize; 3] {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let after = self.backend_lines(&wanted);
            let served = [0, 1, 2].map(|i| after[i] - before[i]);
            if served.iter().sum::<usize>() >= expected || Instant::now() >= deadline {
                return served;
            }
            sleep(Duration::from_millis(50));
        }
    }

    fn backend_lines(&self, wanted: impl Fn(&str) -> bool) -> [usize; 3] {
        let mut n = [0; 3];
        for (i, slot) in n.iter_mut().enumerate() {
            let log = std::fs::read_to_string(self.backend_log(i + 1)).unwrap_or_default();
            *slot = log.lines().filter(|l| wanted(l)).count();
        }
        n
    }

    /// One GET from the client: (HTTP status, body); status 0 when curl failed.
    fn curl(&self) -> (u32, String) {
        client_curl(&self.prefix)
    }
}

/// One GET from the lab's client, on a new connection: (HTTP status, body);
/// status 0 when curl failed. Takes the prefix only, for client threads.
fn client_curl(prefix: &str) -> (u32, String) {
    client_get(prefix, &[FRONTEND_URL])
}

/// One GET from the lab's client with curl `args` (ending with the URL), as
/// [`client_curl`].
fn client_get(prefix: &str, args: &[&str]) -> (u32, String) {
    let out = run(Command::new("ip")
        .args(["netns", "exec", &format!("{prefix}client"), "curl"])
        .args(["-s", "--max-time", "2", "-w", "\n%{http_code}"])
        .args(args));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    let code = if out.status.success() {
        code.trim().parse().unwrap_or(0)
    } else {
        0
    };
    (code, body.to_string())
}

impl Drop for Lab {
    fn drop(&mut self) {
        let out = self.script().arg("down").output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => eprintln!(
                "netns-lab.sh down failed: {}",
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => eprintln!("cannot run netns-lab.sh down: {e}"),
        }
    }
}

/// tcpdump on the client's interface, inside the client namespace: what the
/// client sent and received on port 80, which is exactly what crossed
/// natrix's public port (a point-to-point veth). Dropping it stops tcpdump.
struct ClientCapture {
    child: Option<Child>,
    file: PathBuf,
    stderr: PathBuf,
}

impl ClientCapture {
    /// Starts tcpdump and returns once it captures (it says "listening on").
    fn start(lab: &Lab, dir: &Path) -> ClientCapture {
        let file = dir.join("client.pcap");
        let stderr = dir.join("tcpdump.stderr");
        let mut cmd = lab.exec("client", "tcpdump");
        cmd.args(["-i", "eth0", "-n", "--immediate-mode", "-U", "-w"])
            .arg(&file)
            .args(["tcp", "port", "80"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&stderr).unwrap());
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let mut capture = ClientCapture {
            child: Some(child),
            file,
            stderr,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !capture.log().contains("listening on") {
            if let Some(status) = capture.child.as_mut().unwrap().try_wait().unwrap() {
                capture.child = None;
                panic!("tcpdump exited ({status}): {}", capture.log());
            }
            assert!(
                Instant::now() < deadline,
                "tcpdump not capturing within 10 s: {}",
                capture.log()
            );
            sleep(Duration::from_millis(20));
        }
        capture
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Stops tcpdump (SIGINT: it writes what it holds) and reads the capture:
    /// the connections natrix must have created, and the packets tcpdump said
    /// the kernel dropped (the account is exact only when that is 0).
    fn finish(mut self) -> (ClientAccount, u64) {
        let mut child = self.child.take().expect("tcpdump running");
        // The traffic is over: let tcpdump write the last packets first (on
        // SIGINT it stops, and drops what it has not read yet).
        let size = || std::fs::metadata(&self.file).map_or(0, |m| m.len());
        let mut last = size();
        loop {
            sleep(Duration::from_millis(300));
            let now = size();
            if now == last {
                break;
            }
            last = now;
        }
        let _ = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("tcpdump did not stop on SIGINT: {}", self.log());
            }
            sleep(Duration::from_millis(20));
        }
        let log = self.log();
        let report = |what: &str| -> u64 {
            log.lines()
                .find_map(|l| l.strip_suffix(what))
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or_else(|| panic!("tcpdump's report has no{what}: {log}"))
        };
        // Packets the filter passed that did not reach the file.
        let dropped = report(" packets received by filter") - report(" packets captured")
            + report(" packets dropped by kernel");
        let capture = natrix::ports::capture::read(&self.file).unwrap_or_else(|e| panic!("{e}"));
        (client_account(&capture.frames), dropped)
    }
}

impl Drop for ClientCapture {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What the client's captured packets say natrix must have done.
#[derive(Debug, Default)]
struct ClientAccount {
    /// SYNs (without ACK) the client sent to the frontend.
    syns: usize,
    /// Connections natrix creates for them: a SYN on a client port not seen
    /// before, or on one the client closed (sent FIN or RST) since its last
    /// SYN, which natrix takes as a new connection reusing the port.
    creations: usize,
    /// The second kind: (client port, seconds into the capture).
    reopened: Vec<(u16, f64)>,
}

/// natrix's connections against the client's capture: exactly the account's
/// creations, unless tcpdump lost packets (then at most its SYNs).
fn check_created(capture: ClientCapture, created: u64, stats: &Value) -> ClientAccount {
    let (account, lost) = capture.finish();
    if lost == 0 {
        assert_eq!(
            created, account.creations as u64,
            "natrix created {created} connections; the client's capture shows {account:?}: {stats}"
        );
    } else {
        eprintln!("netns_lab: tcpdump lost {lost} packets; checking a bound only");
        assert!(
            created <= (account.syns as u64 + lost),
            "natrix created {created} connections; the client's capture shows {account:?} \
             and lost {lost}: {stats}"
        );
    }
    account
}

/// Reads the client's frames (Ethernet, IPv4, TCP) toward the frontend.
fn client_account(frames: &[natrix::ports::capture::Frame]) -> ClientAccount {
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};
    use std::collections::HashMap;
    let frontend = [198, 18, 1, 10];
    let first = frames.first().map_or(Duration::ZERO, |f| f.timestamp);
    let mut account = ClientAccount::default();
    // Per client port: whether the client closed it since its last SYN.
    let mut closed: HashMap<u16, bool> = HashMap::new();
    for f in frames {
        let Ok(p) = SlicedPacket::from_ethernet(&f.data) else {
            continue;
        };
        let (Some(NetSlice::Ipv4(ip)), Some(TransportSlice::Tcp(tcp))) = (p.net, p.transport)
        else {
            continue;
        };
        if ip.header().destination() != frontend || tcp.destination_port() != 80 {
            continue;
        }
        let port = tcp.source_port();
        if tcp.syn() && !tcp.ack() {
            account.syns += 1;
            match closed.insert(port, false) {
                None => account.creations += 1,
                Some(true) => {
                    account.creations += 1;
                    account
                        .reopened
                        .push((port, (f.timestamp - first).as_secs_f64()));
                }
                Some(false) => {} // a retransmitted SYN
            }
        } else if tcp.fin() || tcp.rst() {
            closed.insert(port, true);
        }
    }
    account
}

/// `natrix run` inside the lab's lb namespace. `ip netns exec` execs in place,
/// so the child's pid is natrix's. Dropping it stops natrix if still running.
struct Natrix {
    child: Option<Child>,
    stdout: PathBuf,
    stderr: PathBuf,
    /// natrix's control socket (`--control`).
    control: PathBuf,
}

impl Natrix {
    /// natrix on the lab's two ports, each with `queues` receive queues
    /// (net_af_packet spreads them by its fanout hash).
    /// natrix on the lab's ports: net_af_packet, or with `pcap` net_pcap
    /// on the live interfaces (see [`LabSetup::pcap`]).
    fn vdevs(p: &str, queues: u16, pcap: bool, qpairs: &str) -> Vec<String> {
        let mut args = Vec::new();
        for (i, side) in ["pub", "priv"].iter().enumerate() {
            args.push("--vdev".to_string());
            if pcap {
                let mut v = format!("net_pcap{i},rx_iface_in={p}{side},tx_iface={p}{side}");
                for _ in 1..queues {
                    v += &format!(",rx_iface_in=lo,tx_iface={p}{side}");
                }
                args.push(v);
            } else {
                args.push(format!("net_af_packet{i},iface={p}{side}{qpairs}"));
            }
        }
        args
    }

    fn start(lab: &Lab, config: &Path, dir: &Path, queues: u16, pcap: bool) -> Natrix {
        let stdout = dir.join("natrix.stdout");
        let stderr = dir.join("natrix.stderr");
        let control = dir.join("natrix.sock");
        let p = &lab.prefix;
        let qpairs = if queues > 1 {
            format!(",qpairs={queues}")
        } else {
            String::new()
        };
        let mut cmd = lab.exec("lb", env!("CARGO_BIN_EXE_natrix"));
        cmd.arg("run")
            .arg("--config")
            .arg(config)
            .arg("--control")
            .arg(&control)
            .arg("--json")
            .arg("--")
            .args(eal::base())
            .args(["--file-prefix", p])
            .args(Natrix::vdevs(p, queues, pcap, &qpairs))
            .stdin(Stdio::null())
            .stdout(File::create(&stdout).unwrap())
            .stderr(File::create(&stderr).unwrap());
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        Natrix {
            child: Some(child),
            stdout,
            stderr,
            control,
        }
    }

    /// `natrix stats --json` through the control socket (a Unix socket in the
    /// test's directory: reached from the host's namespace).
    fn live_stats(&self) -> Result<Value, String> {
        let out = Command::new(env!("CARGO_BIN_EXE_natrix"))
            .args(["stats", "--json", "--control"])
            .arg(&self.control)
            .output()
            .map_err(|e| format!("cannot run natrix stats: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "natrix stats: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        serde_json::from_slice(&out.stdout).map_err(|e| format!("natrix stats: bad JSON: {e}"))
    }

    /// Polls `natrix stats` every 50 ms until `done` holds for the backends
    /// list, up to `limit`: the instant it first held, or the last statistics
    /// (or error) seen.
    fn wait_backends(
        &mut self,
        limit: Duration,
        done: impl Fn(&[Value]) -> bool,
    ) -> Result<Instant, String> {
        let deadline = Instant::now() + limit;
        let mut last;
        loop {
            self.assert_running();
            match self.live_stats() {
                Ok(v) => {
                    let seen = Instant::now();
                    if let Some(b) = v["backends"].as_array() {
                        if done(b) {
                            return Ok(seen);
                        }
                    }
                    last = v["backends"].to_string();
                }
                Err(e) => last = e,
            }
            if Instant::now() >= deadline {
                return Err(last);
            }
            sleep(Duration::from_millis(50));
        }
    }

    fn output(&self) -> String {
        format!(
            "natrix stdout:\n{}\nnatrix stderr:\n{}",
            std::fs::read_to_string(&self.stdout).unwrap_or_default(),
            std::fs::read_to_string(&self.stderr).unwrap_or_default()
        )
    }

    /// Panics with natrix's output if it has exited.
    fn assert_running(&mut self) {
        let child = self.child.as_mut().expect("natrix already stopped");
        if let Some(status) = child.try_wait().unwrap() {
            self.child = None;
            panic!("natrix exited early ({status})\n{}", self.output());
        }
    }

    fn signal(&self, sig: &str) {
        if let Some(child) = &self.child {
            let _ = Command::new("kill")
                .args([sig, &child.id().to_string()])
                .status();
        }
    }

    /// Waits up to `limit` for natrix to exit.
    fn wait_for(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            let child = self.child.as_mut()?;
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            sleep(Duration::from_millis(50));
        }
    }

    /// SIGINT, then natrix's final statistics (its stdout).
    fn stop(&mut self) -> String {
        self.signal("-INT");
        let status = self
            .wait_for(Duration::from_secs(20))
            .unwrap_or_else(|| panic!("natrix did not exit on SIGINT\n{}", self.output()));
        assert!(
            status.success(),
            "natrix exited with {status}\n{}",
            self.output()
        );
        std::fs::read_to_string(&self.stdout).unwrap()
    }
}

impl Drop for Natrix {
    fn drop(&mut self) {
        if self.child.is_none() {
            return;
        }
        self.signal("-INT");
        if self.wait_for(Duration::from_secs(5)).is_none() {
            if let Some(mut child) = self.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// One backend's `state` and `healthy` in natrix's statistics.
fn backend_health<'a>(backends: &'a [Value], address: &str) -> (&'a str, Option<bool>) {
    let b = backends
        .iter()
        .find(|b| b["address"] == address)
        .unwrap_or_else(|| panic!("no backend {address} in {backends:?}"));
    (b["state"].as_str().unwrap_or(""), b["healthy"].as_bool())
}

fn all_healthy(backends: &[Value]) -> bool {
    BACKENDS
        .iter()
        .all(|a| backend_health(backends, a) == ("active", Some(true)))
}

/// The lab tests run one at a time: each runs natrix polling two lcores, and
/// two at once would starve each other (and the probes' timings).
static LAB_LOCK: Mutex<()> = Mutex::new(());

/// A lab and natrix running in it, answering on the frontend, with its first
/// health probes answered. Fields drop in order: natrix, then the lab.
struct Running {
    natrix: Natrix,
    /// tcpdump in the client namespace, from before natrix started (taken
    /// when read).
    capture: Option<ClientCapture>,
    lab: Lab,
    dir: PathBuf,
    config: Config,
    /// curl runs it took until the frontend answered (the last one did).
    attempts: usize,
}

/// How a test wants the lab and natrix: the default is the script's lab and
/// configuration as they are, with the client's tcpdump.
struct LabSetup {
    /// `ports.workers`, and the receive queues of each port.
    workers: u16,
    /// A router between the client and natrix, with this MTU toward the client.
    router_mtu: Option<u32>,
    /// Lines added to the web rule (`[[rule]]` of frontend "web").
    rule_extra: &'static str,
    /// tcpdump on the client's interface (`Running::capture`).
    capture: bool,
    /// A last edit of the configuration text.
    edit: Option<fn(String) -> String>,
    /// The ports on net_pcap (libpcap on the live interfaces) rather than
    /// net_af_packet, whose fanout group (DPDK 22.11 always joins one, with
    /// PACKET_FANOUT_FLAG_DEFRAG) makes the kernel reassemble IP fragments
    /// before natrix sees them. Queue 0 of each port receives everything
    /// (queue 1, with 2 workers, listens on the silent loopback): the
    /// workers hand packets to their owners.
    pcap: bool,
}

impl Default for LabSetup {
    fn default() -> Self {
        LabSetup {
            workers: 1,
            router_mtu: None,
            rule_extra: "",
            capture: true,
            edit: None,
            pcap: false,
        }
    }
}

/// The script's configuration changed as `setup` says.
fn lab_config(text: &str, setup: &LabSetup) -> String {
    let mut text = text.to_string();
    if setup.workers != 1 {
        let one = "\nworkers = 1\n";
        assert_eq!(text.matches(one).count(), 1, "no `workers = 1` in:\n{text}");
        text = text.replace(one, &format!("\nworkers = {}\n", setup.workers));
    }
    if !setup.rule_extra.is_empty() {
        let rule = "[[rule]]\nfrontend = \"web\"\n";
        assert_eq!(text.matches(rule).count(), 1, "no web rule in:\n{text}");
        text = text.replace(rule, &format!("{rule}{}", setup.rule_extra));
    }
    match setup.edit {
        Some(edit) => edit(text),
        None => text,
    }
}

impl Running {
    fn start(prefix: &str) -> Running {
        Running::start_with(prefix, &LabSetup::default())
    }

    fn start_with(prefix: &str, setup: &LabSetup) -> Running {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("netns-lab-{prefix}"));
        std::fs::create_dir_all(&dir).unwrap();
        // The lab, removed whatever happens below.
        let lab = Lab::up(prefix, setup.router_mtu);
        let config_path = dir.join("lab.toml");
        let text = lab_config(&run_ok(lab.script().arg("config")), setup);
        std::fs::write(&config_path, text).unwrap();
        let config = Config::load(&config_path).unwrap_or_else(|e| panic!("{e}"));
        let capture = setup.capture.then(|| ClientCapture::start(&lab, &dir));
        // natrix, ready once the frontend answers.
        let mut natrix = Natrix::start(&lab, &config_path, &dir, setup.workers, setup.pcap);
        let mut attempts = 0;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            natrix.assert_running();
            attempts += 1;
            if lab.curl().0 == 200 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the frontend did not answer within 20 s\n{}",
                natrix.output()
            );
            sleep(Duration::from_millis(250));
        }
        // The probes reach every backend over the management leg: each
        // backend's first probe answered (`healthy` is null until then).
        if let Err(last) = natrix.wait_backends(Duration::from_secs(5), all_healthy) {
            panic!(
                "the backends are not all probed healthy within 5 s: {last}\n{}",
                natrix.output()
            );
        }
        Running {
            natrix,
            capture,
            lab,
            dir,
            config,
            attempts,
        }
    }
}

/// The statistics object in natrix's stdout, which may also carry EAL's log
/// lines: the last JSON object with `packets_in` that starts a line.
fn final_stats(stdout: &str) -> Value {
    let mut found = None;
    let mut offset = 0;
    for line in stdout.split_inclusive('\n') {
        if line.trim_start().starts_with('{') {
            let rest = &stdout[offset..];
            if let Some(Ok(v)) = serde_json::Deserializer::from_str(rest)
                .into_iter::<Value>()
                .next()
            {
                if v.get("packets_in").is_some() {
                    found = Some(v);
                }
            }
        }
        offset += line.len();
    }
    found.unwrap_or_else(|| panic!("no statistics JSON in natrix's output:\n{stdout}"))
}

fn count(v: &Value, path: &[&str]) -> u64 {
    let mut cur = v;
    for key in path {
        cur = cur
            .get(key)
            .unwrap_or_else(|| panic!("statistics have no {path:?}: {v}"));
    }
    cur.as_u64()
        .unwrap_or_else(|| panic!("statistics {path:?} is not a count: {cur}"))
}

/// A value of ab's report, like "Failed requests:".
fn ab_field(report: &str, field: &str) -> Option<u64> {
    report
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

#[test]
#[ignore = "needs root and the lab's tools: scripts/test.sh runs it"]
fn http_through_natrix_in_the_lab() {
    require_lab();
    let _serial = LAB_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    let prefix = format!("nx{:04x}", std::process::id() & 0xffff);

    // examples/lab.toml is the script's configuration for the default prefix.
    let example = std::fs::read_to_string(root().join("examples/lab.toml")).unwrap();
    let generated = run_ok(
        Command::new("bash")
            .arg(script())
            .arg("config")
            .env("PREFIX", "nx"),
    );
    assert_eq!(
        example, generated,
        "examples/lab.toml differs from `scripts/netns-lab.sh config`"
    );

    // (a) The lab, removed whatever happens below, and (b) natrix in it,
    // ready once the frontend answers and the probes found every backend.
    let Running {
        mut natrix,
        capture,
        lab,
        dir,
        config,
        attempts,
    } = Running::start(&prefix);
    let natrix_mac = config.appliance.mac.to_string();
    let mut connections = 1usize; // TCP connections the client opened that were answered
    let mut curls = attempts; // connections the client tried to open

    // (c) Single requests: each answered, by a backend.
    for i in 0..SINGLE_REQUESTS {
        let (code, body) = lab.curl();
        assert_eq!(code, 200, "request {i}: status {code}, body {body:?}");
        assert!(
            ["backend be1", "backend be2", "backend be3"]
                .iter()
                .any(|b| body.contains(b)),
            "request {i}: the body names no backend: {body:?}"
        );
        connections += 1;
        curls += 1;
    }

    // (d) Load: no failures, and the three backends share it.
    let before = lab.backend_requests();
    let out = run(lab.exec("client", "timeout").args([
        "300",
        "ab",
        "-n",
        &LOAD_REQUESTS.to_string(),
        "-c",
        &LOAD_CONCURRENCY.to_string(),
        "-s",
        "10",
        FRONTEND_URL,
    ]));
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    let failure = format!(
        "ab ({}):\n{report}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        natrix.output()
    );
    assert!(out.status.success(), "{failure}");
    assert_eq!(
        ab_field(&report, "Complete requests:"),
        Some(LOAD_REQUESTS as u64),
        "{failure}"
    );
    assert_eq!(ab_field(&report, "Failed requests:"), Some(0), "{failure}");
    assert_eq!(ab_field(&report, "Non-2xx responses:"), None, "{failure}");
    connections += LOAD_REQUESTS;
    curls += LOAD_REQUESTS;

    // The servers log after answering; give the last lines a moment.
    let mut served = [0usize; 3];
    for _ in 0..40 {
        let after = lab.backend_requests();
        served = [0, 1, 2].map(|i| after[i] - before[i]);
        if served.iter().sum::<usize>() >= LOAD_REQUESTS {
            break;
        }
        sleep(Duration::from_millis(50));
    }
    let total: usize = served.iter().sum();
    assert_eq!(
        total, LOAD_REQUESTS,
        "backends logged {served:?} requests for {LOAD_REQUESTS}"
    );
    for (i, n) in served.iter().enumerate() {
        let share = *n as f64 / total as f64;
        assert!(
            (0.20..=0.47).contains(&share),
            "be{} answered {n} of {total} requests ({:.1}%): {served:?}",
            i + 1,
            share * 100.0
        );
    }

    // (e) The client resolved the frontend by ARP, answered by natrix.
    let neigh = run_ok(
        lab.exec("client", "ip")
            .args(["neigh", "show", "198.18.1.10"]),
    );
    assert!(
        neigh.contains(&format!("lladdr {natrix_mac}")),
        "the client's neighbour entry for 198.18.1.10 is not natrix's MAC {natrix_mac}: {neigh:?}"
    );

    // The health probes ran all along, over the management leg; every
    // backend is still healthy.
    let probes = lab.backend_probes();
    assert!(
        probes.iter().all(|&n| n >= 2),
        "health probes logged by the backends: {probes:?}"
    );
    let live = natrix.live_stats().unwrap_or_else(|e| panic!("{e}"));
    let live_backends = live["backends"].as_array().cloned().unwrap_or_default();
    assert!(all_healthy(&live_backends), "{live}");

    // (f) natrix's own account. Probes never cross natrix: every connection
    // it created is one the client tried to open (ab may open up to its
    // concurrency more than it sends requests on, closed unused at the end).
    let stdout = natrix.stop();
    let stats = final_stats(&stdout);
    let created = count(&stats, &["events", "connection-created"]);
    assert!(
        created >= connections as u64,
        "{created} connections created, the client opened {connections}: {stats}"
    );
    assert!(
        created <= (curls + LOAD_CONCURRENCY) as u64,
        "{created} connections created, the client tried only {curls} \
         (and ab up to {LOAD_CONCURRENCY} more): health probes through natrix? {stats}"
    );
    let account = check_created(capture.expect("the client capture"), created, &stats);
    // The client learns the frontend's MAC from natrix's ARP: a reply, or
    // (since natrix resolves its neighbours) the announcements and requests
    // it sends at start, which the client's kernel may take first.
    assert!(
        count(&stats, &["events", "arp-replied"]) + count(&stats, &["events", "neighbour-sent"])
            >= 1,
        "no ARP replied or sent: {stats}"
    );
    assert!(count(&stats, &["events", "inbound"]) > 0, "{stats}");
    assert!(count(&stats, &["events", "return"]) > 0, "{stats}");
    let (pin, pout, dropped) = (
        count(&stats, &["packets_in"]),
        count(&stats, &["packets_out"]),
        count(&stats, &["dropped"]),
    );
    // natrix's own frames (its ARP requests and announcements) go out too.
    let originated = count(&stats, &["packets_originated"]);
    assert_eq!(
        pin + originated,
        pout + dropped,
        "packets in + originated != out + dropped: {stats}"
    );
    let backends = stats["backends"]
        .as_array()
        .unwrap_or_else(|| panic!("statistics have no backends list: {stats}"));
    // The web pool's three, and the echo NAT rule's one (be1, port 7); and
    // the IPv6 frontends' six (web6, echo6), which this test does not use.
    assert_eq!(
        backends.iter().filter(|b| b["frontend"] == "web").count(),
        3,
        "{stats}"
    );
    let ipv6 = backends
        .iter()
        .filter(|b| b["frontend"] == "web6" || b["frontend"] == "echo6")
        .count();
    assert_eq!((backends.len() - ipv6, ipv6), (4, 6), "{stats}");
    let per_backend: u64 = backends
        .iter()
        .map(|b| {
            b["connections"]
                .as_u64()
                .unwrap_or_else(|| panic!("backend without connections: {b}"))
        })
        .sum();
    assert_eq!(
        per_backend, created,
        "backends' connections do not add up to the connections created: {stats}"
    );
    eprintln!(
        "netns_lab: {connections} client connections ({} SYNs captured, {} ports reused), \
         natrix created {created}; \
         packets in {pin}, out {pout}, dropped {dropped}; backends served {served:?}; \
         health probes {probes:?}; drops {}",
        account.syns,
        account.reopened.len(),
        stats["drops"]
    );

    drop(natrix);
    drop(lab);
    let _ = std::fs::remove_dir_all(&dir);
}

/// One request of the client loop.
struct Sample {
    start: Instant,
    end: Instant,
    /// HTTP status; 0 when curl failed.
    code: u32,
    /// 1 to 3: the backend that answered; 0 for none.
    backend: usize,
}

/// The backend a body names ("backend be2"), 0 for none.
fn backend_of(body: &str) -> usize {
    (1..=3)
        .find(|i| body.trim() == format!("backend be{i}"))
        .unwrap_or(0)
}

/// Sets the flag when dropped: stops the client loop even when the test
/// panics (the scope joins the loop before the panic goes on).
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Samples started at or after `from`.
fn started_after(samples: &Mutex<Vec<Sample>>, from: Instant) -> usize {
    samples
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter(|s| s.start >= from)
        .count()
}

/// Waits up to `limit` until `n` requests started at or after `from` finished.
fn wait_samples(samples: &Mutex<Vec<Sample>>, from: Instant, n: usize, limit: Duration) {
    let deadline = Instant::now() + limit;
    while started_after(samples, from) < n {
        assert!(
            Instant::now() < deadline,
            "the client finished only {} requests in {limit:?}",
            started_after(samples, from)
        );
        sleep(Duration::from_millis(20));
    }
}

/// The issue's scenario: while the client keeps sending requests, be2's
/// server stops; the probes take it down within interval x
/// unhealthy_threshold (plus the probe's timeout and some slack), and every
/// request sent after that is answered by be1 or be3. Then be2's server
/// starts again, the probes bring it back, and it takes new connections.
#[test]
#[ignore = "needs root and the lab's tools: scripts/test.sh runs it"]
fn backend_down_and_back_with_health_probes() {
    require_lab();
    let _serial = LAB_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    let prefix = format!("nx{:04x}h", std::process::id() & 0xffff);
    let mut r = Running::start(&prefix);
    let health = r.config.pools[0]
        .health
        .clone()
        .expect("the lab's pool has [pool.health]");
    let slack = Duration::from_millis(1500);
    let down_limit = health.interval * health.unhealthy_threshold + slack;
    let up_limit = health.interval * health.healthy_threshold + slack;
    let be2 = BACKENDS[1];

    let stop = AtomicBool::new(false);
    let samples: Mutex<Vec<Sample>> = Mutex::new(Vec::new());
    let prefix = r.lab.prefix.clone();
    let report = std::thread::scope(|scope| {
        let _stop_client = StopOnDrop(&stop);
        // The client: one request after the other, each on a new connection.
        scope.spawn(|| request_loop(&prefix, &stop, &samples));

        // Before: the three backends answer.
        let t0 = Instant::now();
        wait_samples(&samples, t0, 30, Duration::from_secs(30));
        {
            let s = samples.lock().unwrap_or_else(PoisonError::into_inner);
            let failed = s.iter().filter(|s| s.code != 200).count();
            assert_eq!(
                failed,
                0,
                "{failed} of {} requests failed before be2 stopped",
                s.len()
            );
            for i in 1..=3 {
                assert!(
                    s.iter().any(|s| s.backend == i),
                    "be{i} answered none of {} requests",
                    s.len()
                );
            }
        }

        // be2's server stops at T; the probes take it down.
        let t_stop = Instant::now();
        run_ok(r.lab.script().args(["backend-stop", "2"]));
        let t_down = r
            .natrix
            .wait_backends(down_limit + Duration::from_secs(5), |b| {
                backend_health(b, be2) == ("down", Some(false))
            })
            .unwrap_or_else(|last| {
                panic!(
                    "be2 not down within {:?}: {last}",
                    down_limit + Duration::from_secs(5)
                )
            });
        let to_down = t_down - t_stop;
        assert!(
            to_down <= down_limit,
            "be2 went down {to_down:?} after its server stopped, more than {down_limit:?}"
        );
        let others = r.natrix.live_stats().unwrap_or_else(|e| panic!("{e}"));
        let others = others["backends"].as_array().cloned().unwrap_or_default();
        for a in [BACKENDS[0], BACKENDS[2]] {
            assert_eq!(
                backend_health(&others, a),
                ("active", Some(true)),
                "{others:?}"
            );
        }

        // While be2 is down: every request succeeds, on be1 or be3.
        wait_samples(&samples, t_down, 50, Duration::from_secs(60));
        // The last moment natrix is known to have had be2 down: requests that
        // finished before it chose their backend while be2 was down.
        let t_still_down = Instant::now();
        let (_, still) = backend_health(
            r.natrix.live_stats().unwrap_or_else(|e| panic!("{e}"))["backends"]
                .as_array()
                .map(|b| b.as_slice())
                .unwrap_or_default(),
            be2,
        );
        assert_eq!(
            still,
            Some(false),
            "be2 came back while its server was stopped"
        );

        // be2's server starts again; the probes bring it back.
        let t_start = Instant::now();
        run_ok(r.lab.script().args(["backend-start", "2"]));
        let t_serving = Instant::now();
        let t_up = r
            .natrix
            .wait_backends(up_limit + Duration::from_secs(5), |b| {
                backend_health(b, be2) == ("active", Some(true))
            })
            .unwrap_or_else(|last| {
                panic!(
                    "be2 not back within {:?}: {last}",
                    up_limit + Duration::from_secs(5)
                )
            });
        let to_up = t_up - t_serving;
        assert!(
            to_up <= up_limit,
            "be2 came back {to_up:?} after its server answered again, more than {up_limit:?}"
        );

        // It takes new connections: be2 answers one of the next 50 requests.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let s = samples.lock().unwrap_or_else(PoisonError::into_inner);
            let after: Vec<&Sample> = s.iter().filter(|s| s.start >= t_up).collect();
            if after.iter().take(50).any(|s| s.backend == 2) {
                break;
            }
            assert!(
                after.len() < 50,
                "be2 answered none of the first 50 requests after it came back: {:?}",
                after.iter().take(50).map(|s| s.backend).collect::<Vec<_>>()
            );
            assert!(Instant::now() < deadline, "the client stalled");
            drop(s);
            sleep(Duration::from_millis(20));
        }
        stop.store(true, Ordering::SeqCst);
        (t_stop, t_down, t_still_down, t_start, t_serving, t_up)
    });
    let (t_stop, t_down, t_still_down, t_start, t_serving, t_up) = report;
    let (to_down, to_up) = (t_down - t_stop, t_up - t_serving);
    let samples = samples.into_inner().unwrap_or_else(PoisonError::into_inner);

    // Every request started once be2 was seen down succeeded; those whose
    // backend natrix chose while be2 was down went to be1 or be3.
    let after_down: Vec<&Sample> = samples.iter().filter(|s| s.start >= t_down).collect();
    let failed: Vec<(Duration, u32)> = after_down
        .iter()
        .filter(|s| s.code != 200 || s.backend == 0)
        .map(|s| (s.start - t_down, s.code))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests started after be2 was seen down failed (start after down, status): {failed:?}",
        failed.len(),
        after_down.len()
    );
    let while_down: Vec<&Sample> = after_down
        .iter()
        .copied()
        .filter(|s| s.end <= t_still_down)
        .collect();
    assert!(
        while_down.len() >= 50,
        "{} requests while be2 was down",
        while_down.len()
    );
    let on_be2 = while_down.iter().filter(|s| s.backend == 2).count();
    assert_eq!(on_be2, 0, "be2 answered {on_be2} requests while down");
    let failed_before = samples
        .iter()
        .filter(|s| s.start >= t_stop && s.start < t_down && s.code != 200)
        .count();
    let after_up = samples.iter().filter(|s| s.start >= t_up).count();

    // natrix's account: the client's connections only (no probe crossed it);
    // be2's failed ones included.
    let stdout = r.natrix.stop();
    let stats = final_stats(&stdout);
    let created = count(&stats, &["events", "connection-created"]);
    let answered = 1 + samples.iter().filter(|s| s.code == 200).count();
    assert!(
        created >= answered as u64,
        "{created} connections created; {answered} answered: {stats}"
    );
    let capture = r.capture.take().expect("the client capture");
    let account = check_created(capture, created, &stats);
    let probes = r.lab.backend_probes();
    eprintln!(
        "netns_lab health: be2 down {to_down:?} after its server stopped (limit {down_limit:?}), \
         back {to_up:?} after it answered again ({:?} after backend-start began; limit {up_limit:?}); \
         {} requests, {failed_before} failed between the stop and the down, {} while down \
         (0 failed), {after_up} after the return; natrix created {created} connections \
         ({} SYNs captured, client ports reused {:?}); health probes logged {probes:?}",
        t_up - t_start,
        samples.len(),
        while_down.len(),
        account.syns,
        account.reopened
    );
    let dir = r.dir.clone();
    drop(r);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn final_stats_skips_eal_lines() {
    let out = "EAL: Detected CPU lcores: 2\n{not json\n{\"packets_in\": 1}\n\
               EAL: bye\n{\n  \"packets_in\": 5,\n  \"events\": {\"arp-replied\": 2}\n}\n";
    let v = final_stats(out);
    assert_eq!(count(&v, &["packets_in"]), 5);
    assert_eq!(count(&v, &["events", "arp-replied"]), 2);
    assert_eq!(
        ab_field("Complete requests:      3000\n", "Complete requests:"),
        Some(3000)
    );
}

/// A real kernel checks natrix's ICMP translation: a UDP datagram from the
/// client to the lab's `echo` frontend (port 7, an inbound NAT rule to be1,
/// where nothing listens) makes be1's kernel answer with ICMP port
/// unreachable. natrix rewrites it (outer source, quoted destination, their
/// checksums) so that the client's kernel matches it to the client's
/// connected socket, whose next receive fails with "connection refused".
/// Without the translation the client would only time out.
#[test]
#[ignore = "needs root and the lab's tools: scripts/test.sh runs it"]
fn udp_port_unreachable_reaches_the_client() {
    require_lab();
    let _serial = LAB_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    let prefix = format!("nx{:04x}u", std::process::id() & 0xffff);
    let mut r = Running::start(&prefix);
    let probe = "import socket\n\
                 s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
                 s.settimeout(3)\n\
                 s.connect(('198.18.1.10', 7))\n\
                 s.send(b'natrix')\n\
                 try:\n    s.recv(100)\n    print('answered')\n\
                 except ConnectionRefusedError:\n    print('refused')\n\
                 except socket.timeout:\n    print('timeout')\n";
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        let out = run_ok(r.lab.exec("client", "python3").args(["-c", probe]));
        outcomes.push(out.trim().to_string());
    }
    let stdout = r.natrix.stop();
    let stats = final_stats(&stdout);
    assert!(
        outcomes.iter().all(|o| o == "refused"),
        "the client's UDP sends to the echo frontend: {outcomes:?} (refused expected): {stats}"
    );
    assert_eq!(
        count(&stats, &["events", "icmp-error-forwarded"]),
        3,
        "{stats}"
    );
    assert_eq!(count(&stats, &["drops", "icmp-unsupported"]), 0, "{stats}");
    let dir = r.dir.clone();
    drop(r);
    let _ = std::fs::remove_dir_all(&dir);
}

// Issue 8's lab tests: real TCP stacks against natrix's connection tracking
// (half-close, SYN flood, path MTU with two workers, reset on idle).

/// Runs `program args` in the client namespace, killed after `limit`
/// (coreutils `timeout`): its output.
fn client_run(lab: &Lab, limit: Duration, program: &str, args: &[&str]) -> Output {
    run(lab
        .exec("client", "timeout")
        .arg(limit.as_secs().to_string())
        .arg(program)
        .args(args))
}

/// The JSON line a client script printed last.
fn script_result(out: &Output, what: &str) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Value>(l).ok())
        .unwrap_or_else(|| {
            panic!(
                "{what} printed no result ({}):\nstdout:\n{stdout}\nstderr:\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        })
}

/// natrix's final statistics: stops it, checks that every packet it
/// received was sent or dropped under a reason, and returns them.
fn stop_and_account(natrix: &mut Natrix) -> Value {
    let stats = final_stats(&natrix.stop());
    let (pin, pout, dropped) = (
        count(&stats, &["packets_in"]),
        count(&stats, &["packets_out"]),
        count(&stats, &["dropped"]),
    );
    // natrix's own frames (its ARP requests and announcements) go out too.
    let originated = count(&stats, &["packets_originated"]);
    assert_eq!(
        pin + originated,
        pout + dropped,
        "packets in + originated != out + dropped: {stats}"
    );
    let ports = stats["ports"].as_array().cloned().unwrap_or_default();
    let received: u64 = ports.iter().map(|p| count(p, &["ipackets"])).sum();
    assert_eq!(
        received, pin,
        "the ports received {received} packets, the workers {pin}: {stats}"
    );
    stats
}

/// A client that sends its request, shuts its sending side
/// (`shutdown(SHUT_WR)`: its FIN), and reads the answer to its end. Prints
/// {"status", "body" (bytes), "seconds", "error"}.
const HALF_CLOSE_CLIENT: &str = r#"
import json, socket, sys, time
path = sys.argv[1]
t0 = time.monotonic()
s = socket.create_connection(("198.18.1.10", 80), timeout=10)
s.sendall(("GET %s HTTP/1.0\r\n\r\n" % path).encode())
s.shutdown(socket.SHUT_WR)
# Longer than the backend's gaps, shorter than the test's deadline.
s.settimeout(40)
data, err = bytearray(), None
try:
    while True:
        b = s.recv(1 << 16)
        if not b:
            break
        data += b
except Exception as e:
    err = repr(e)
head, _, body = bytes(data).partition(b"\r\n\r\n")
print(json.dumps({"status": head.split(b"\r\n")[0].decode("latin-1"), "body": len(body),
                  "seconds": time.monotonic() - t0, "error": err}))
"#;

/// Runs a lab test `run(prefix, workers)` with 1 and then 2 workers, each
/// in a lab of its own (prefix tagged `tag`), one lab test at a time.
fn with_one_and_two_workers(tag: char, run: fn(&str, u16)) {
    require_lab();
    let _serial = LAB_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    for workers in [1, 2] {
        let prefix = format!("nx{:04x}{tag}{workers}", std::process::id() & 0xffff);
        run(&prefix, workers);
    }
}

/// Issue 8, defect 2 in the lab: a client half-closes (its FIN) and then
/// receives for 30 s, the backend sending a chunk every 15 s. Between
/// chunks the client sends nothing, longer than the transitory timeout
/// (10 s): natrix must still know the connection (RFC 7857 section 2.2: it
/// closes only once both sides sent FIN), so the client's ACKs of each chunk
/// reach the backend, which needs them to send the rest of it.
#[test]
#[ignore = "needs root and the lab's tools: scripts/test.sh runs it"]
fn half_closed_client_receives_for_30_s() {
    with_one_and_two_workers('c', half_closed_download);
}

fn half_closed_download(prefix: &str, workers: u16) {
    let mut r = Running::start_with(
        prefix,
        &LabSetup {
            workers,
            capture: false,
            ..LabSetup::default()
        },
    );
    // Each chunk is larger than a window the client can take without
    // acknowledging: without its ACKs the backend cannot finish it.
    let (chunks, size, gap) = (3u64, 2_000_000u64, 15u64);
    let path = format!("/drip/{chunks}/{size}/{gap}");
    let out = client_run(
        &r.lab,
        Duration::from_secs(120),
        "python3",
        &["-c", HALF_CLOSE_CLIENT, &path],
    );
    let result = script_result(&out, "the half-closing client");
    let stats = stop_and_account(&mut r.natrix);
    let seconds = result["seconds"].as_f64().unwrap_or(0.0);
    assert!(
        result["status"].as_str().unwrap_or("").contains(" 200 ")
            && result["body"].as_u64() == Some(chunks * size)
            && result["error"].is_null(),
        "{workers} worker(s): the half-closed client received {result} ({} of {} bytes expected): {stats}",
        result["body"],
        chunks * size
    );
    assert!(
        seconds >= ((chunks - 1) * gap) as f64 - 1.0,
        "{workers} worker(s): the download took {seconds:.1} s, less than its gaps: {result}"
    );
    assert_eq!(
        count(&stats, &["drops", "no-flow"]),
        0,
        "{workers} worker(s): the client's segments after its FIN were dropped as no-flow: {stats}"
    );
    eprintln!(
        "netns_lab half-close, {workers} worker(s): {result}; dropped {}",
        stats["dropped"]
    );
    let dir = r.dir.clone();
    drop(r);
    let _ = std::fs::remove_dir_all(&dir);
}

/// curl in the client namespace writing the body to `file`, in the
/// background: `-w` prints "status size" at the end.
fn spawn_client_download(lab: &Lab, url: &str, file: &Path, extra: &[&str]) -> Child {
    let mut cmd = lab.exec("client", "curl");
    cmd.args(["-s", "-o"])
        .arg(file)
        .args(["-w", "%{http_code} %{size_download}"])
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"))
}

/// Kills a child when dropped, if it is still running.
struct KillOnDrop(Option<Child>);

impl KillOnDrop {
    /// Waits up to `limit` for the child's exit: its output, or None (then
    /// it is killed).
    fn wait(&mut self, limit: Duration) -> Option<Output> {
        let deadline = Instant::now() + limit;
        loop {
            let child = self.0.as_mut()?;
            if child.try_wait().unwrap().is_some() {
                return self.0.take().map(|c| c.wait_with_output().unwrap());
            }
            if Instant::now() >= deadline {
                drop(self.0.take().map(|mut c| {
                    let _ = c.kill();
                    c.wait()
                }));
                return None;
            }
            sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// "200 5000000" from curl's `-w`.
fn curl_result(out: &Output) -> (u32, u64) {
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace();
    let code = it.next().and_then(|c| c.parse().ok()).unwrap_or(0);
    let size = it.next().and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, size)
}

/// The lab's client: one request after the other, each on a new connection,
/// each recorded, until `stop`.
fn request_loop(prefix: &str, stop: &AtomicBool, samples: &Mutex<Vec<Sample>>) {
    while !stop.load(Ordering::SeqCst) {
        let start = Instant::now();
        let (code, body) = client_curl(prefix);
        let sample = Sample {
            start,
            end: Instant::now(),
            code,
            backend: backend_of(&body),
        };
        samples
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(sample);
    }
}

/// A SYN flood from random sources (hping3 --rand-source) at the frontend
/// while real clients run: a long download in progress, a connection idle
/// through the flood, and a loop of requests on new connections. Both
/// established connections survive the flood, new
/// connections succeed again once it ends, and natrix accounts for every
/// packet (received = sent + dropped under a reason).
///
/// hping3's random sources are translated, in the client's namespace, into
/// random addresses of 198.18.128.0/17 (nftables source NAT), so that the
/// flood uses the lab's range only. natrix forwards the SYNs to the
/// backends, whose SYN-ACKs come back through natrix to the client's
/// namespace, which does not forward them anywhere.
#[test]
#[ignore = "needs root and the lab's tools: scripts/test.sh runs it"]
fn syn_flood_from_random_sources_while_clients_run() {
    with_one_and_two_workers('f', syn_flood);
}

fn syn_flood(prefix: &str, workers: u16) {
    let mut r = Running::start_with(
        prefix,
        &LabSetup {
            workers,
            capture: false,
            ..LabSetup::default()
        },
    );
    // The long download: 4 MB at 400 kB/s, about 10 s, started before the
    // flood and running through it.
    let size = 4_000_000u64;
    let file = r.dir.join("download.bin");
    let mut download = KillOnDrop(Some(spawn_client_download(
        &r.lab,
        &format!("{FRONTEND_URL}bytes/{size}"),
        &file,
        &["--limit-rate", "400k", "--max-time", "90"],
    )));
    // An established connection idle through the flood: a first chunk now
    // (curl writes most of it to the file at once), the second 12 s later.
    let (drip_chunk, drip_gap) = (500_000u64, 12);
    let drip_file = r.dir.join("drip.bin");
    let mut drip = KillOnDrop(Some(spawn_client_download(
        &r.lab,
        &format!("{FRONTEND_URL}drip/2/{drip_chunk}/{drip_gap}"),
        &drip_file,
        &["--max-time", "90"],
    )));
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::metadata(&file).map_or(0, |m| m.len()) < 100_000
        || std::fs::metadata(&drip_file).map_or(0, |m| m.len()) < drip_chunk / 2
    {
        assert!(
            Instant::now() < deadline,
            "{workers} worker(s): the downloads did not start within 10 s\n{}",
            r.natrix.output()
        );
        sleep(Duration::from_millis(20));
    }

    let stop = AtomicBool::new(false);
    let samples: Mutex<Vec<Sample>> = Mutex::new(Vec::new());
    let prefix = r.lab.prefix.clone();
    let (flood, flood_end) = std::thread::scope(|scope| {
        let _stop_client = StopOnDrop(&stop);
        scope.spawn(|| request_loop(&prefix, &stop, &samples));
        let t0 = Instant::now();
        wait_samples(&samples, t0, 5, Duration::from_secs(20));
        // The flood's sources, whatever hping3 draws, are put in the lab's
        // range before they leave the client's namespace.
        let rules = r.dir.join("flood.nft");
        std::fs::write(
            &rules,
            "table ip natrix_flood {\n\
             \tchain post {\n\
             \t\ttype nat hook postrouting priority srcnat; policy accept;\n\
             \t\tip saddr != 198.18.0.0/15 tcp dport 80 snat to 198.18.128.0-198.18.255.254\n\
             \t}\n\
             }\n",
        )
        .expect("write the flood's nftables rules");
        let nft = client_run(
            &r.lab,
            Duration::from_secs(10),
            "nft",
            &["-f", rules.to_str().expect("UTF-8 path")],
        );
        assert!(
            nft.status.success(),
            "nft: {}",
            String::from_utf8_lossy(&nft.stderr)
        );
        // The flood: 20000 SYNs, one every 200 us (a rate this two-core
        // machine survives along with natrix's polling), each from a random
        // address and port.
        let flood = client_run(
            &r.lab,
            Duration::from_secs(60),
            "hping3",
            &[
                "-q",
                "-S",
                "-p",
                "80",
                "--rand-source",
                "-i",
                "u200",
                "-c",
                "20000",
                "198.18.1.10",
            ],
        );
        let flood_end = Instant::now();
        // After the flood: within 10 s the requests succeed again, and the
        // next 20 all do.
        let deadline = flood_end + Duration::from_secs(10);
        loop {
            let ok_since = {
                let s = samples.lock().unwrap_or_else(PoisonError::into_inner);
                let after: Vec<&Sample> = s.iter().filter(|s| s.start >= flood_end).collect();
                let first_ok = after.iter().position(|s| s.code == 200);
                first_ok.map(|i| (after[i].end, after.len() - i))
            };
            if let Some((first_ok, n)) = ok_since {
                assert!(
                    first_ok - flood_end <= Duration::from_secs(10),
                    "{workers} worker(s): no request succeeded within 10 s after the flood"
                );
                if n >= 21 {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline + Duration::from_secs(30),
                "{workers} worker(s): the client did not finish 20 requests after the flood"
            );
            sleep(Duration::from_millis(20));
        }
        stop.store(true, Ordering::SeqCst);
        (flood, flood_end)
    });
    let hping = String::from_utf8_lossy(&flood.stderr).into_owned()
        + &String::from_utf8_lossy(&flood.stdout);
    let sent: u64 = hping
        .lines()
        .find(|l| l.contains("packets tr"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "{workers} worker(s): hping3 ({}) reported no count: {hping}",
                flood.status
            )
        });

    // The download survived: all of it, answered 200.
    let out = download.wait(Duration::from_secs(60)).unwrap_or_else(|| {
        panic!(
            "{workers} worker(s): the download did not finish\n{}",
            r.natrix.output()
        )
    });
    let (code, got) = curl_result(&out);
    assert_eq!(
        (code, got),
        (200, size),
        "{workers} worker(s): the download during the flood: status {code}, {got} of {size} bytes ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );

    let out = drip.wait(Duration::from_secs(60)).unwrap_or_else(|| {
        panic!(
            "{workers} worker(s): the idle download did not finish\n{}",
            r.natrix.output()
        )
    });
    let (code, got) = curl_result(&out);
    assert_eq!(
        (code, got),
        (200, 2 * drip_chunk),
        "{workers} worker(s): the download idle during the flood: status {code}, {got} of {} bytes ({}): {}",
        2 * drip_chunk,
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );

    let samples = samples.into_inner().unwrap_or_else(PoisonError::into_inner);
    let after = samples.iter().filter(|s| s.start >= flood_end).count();
    let failed_during = samples
        .iter()
        .filter(|s| s.start < flood_end && s.code != 200)
        .count();
    let stats = stop_and_account(&mut r.natrix);
    // Every flood SYN reached natrix (unless the port missed it) and was
    // either a new connection or dropped under a reason.
    let missed: u64 = stats["ports"]
        .as_array()
        .map(|p| p.iter().map(|p| count(p, &["imissed"])).sum())
        .unwrap_or(0);
    let created = count(&stats, &["events", "connection-created"]);
    let dropped = count(&stats, &["dropped"]);
    assert!(
        created + dropped + missed >= sent,
        "hping3 sent {sent} SYNs; natrix created {created} connections, dropped {dropped}, \
         its ports missed {missed}: {stats}"
    );
    eprintln!(
        "netns_lab SYN flood, {workers} worker(s): hping3 sent {sent}; {} requests ({failed_during} failed during \
         the flood, {after} after it, none failed); natrix created {created} connections, \
         dropped {dropped} ({}), ports missed {missed}",
        samples.len(),
        stats["drops"]
    );
    let dir = r.dir.clone();
    drop(r);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 8, defect 1 in the lab: natrix with two workers on net_af_packet
/// (two queues a port, spread by the kernel's fanout hash), and a router
/// between the client and natrix whose link toward the client has an MTU of
/// 1280. The client (MTU 1500) announces an MSS of 1460, so the backends'
/// full-size segments cannot cross the router: it answers each with ICMP
/// "fragmentation needed" to the frontend address, which natrix must pass to
/// the connection's backend, whatever queue it arrived on. Each connection
/// comes from its own client address, so each backend learns the path MTU
/// of each connection from that connection's own error (a kernel caches it
/// per destination). Every download completes.
#[test]
#[ignore = "needs root and the lab's tools: scripts/test.sh runs it"]
fn path_mtu_discovery_through_a_router_with_two_workers() {
    // One worker first: the lab itself works (every error reaches the only
    // worker); then two.
    with_one_and_two_workers('m', path_mtu_downloads);
}

fn path_mtu_downloads(prefix: &str, workers: u16) {
    let mut r = Running::start_with(
        prefix,
        &LabSetup {
            workers,
            router_mtu: Some(1280),
            capture: false,
            ..LabSetup::default()
        },
    );
    const CONNECTIONS: u8 = 20;
    let size = 5_000_000u64;
    let sources: Vec<String> = (0..CONNECTIONS)
        .map(|i| format!("198.18.2.{}", 100 + i))
        .collect();
    for a in &sources {
        run_ok(
            r.lab
                .exec("client", "ip")
                .args(["addr", "add", &format!("{a}/24"), "dev", "eth0"]),
        );
    }
    let url = format!("{FRONTEND_URL}bytes/{size}");
    // One worker takes about 6 s for all of them on this machine.
    let limit = Duration::from_secs(120);
    let mut downloads: Vec<(String, KillOnDrop)> = sources
        .iter()
        .map(|a| {
            let file = r.dir.join(format!("download-{a}"));
            let child = spawn_client_download(
                &r.lab,
                &url,
                &file,
                &["--interface", a, "--max-time", &limit.as_secs().to_string()],
            );
            (a.clone(), KillOnDrop(Some(child)))
        })
        .collect();
    let deadline = Instant::now() + limit + Duration::from_secs(10);
    let mut results = Vec::new();
    for (a, d) in downloads.iter_mut() {
        let left = deadline.saturating_duration_since(Instant::now());
        let out = d.wait(left);
        results.push((a.clone(), out.as_ref().map(curl_result)));
    }
    let stats = stop_and_account(&mut r.natrix);
    let failed: Vec<&(String, Option<(u32, u64)>)> = results
        .iter()
        .filter(|(_, res)| *res != Some((200, size)))
        .collect();
    assert!(
        failed.is_empty(),
        "{workers} worker(s): {} of {CONNECTIONS} downloads of {size} bytes did not complete \
         (client address, (status, bytes)): {failed:?}\nnatrix: {stats}",
        failed.len()
    );
    let forwarded = count(&stats, &["events", "icmp-error-forwarded"]);
    assert!(
        forwarded >= u64::from(CONNECTIONS),
        "{workers} worker(s): {forwarded} ICMP errors forwarded for {CONNECTIONS} connections \
         that each needed one: {stats}"
    );
    // Every packet of these connections, and every error about them, met
    // the worker that holds the connection.
    for reason in ["icmp-no-flow", "no-flow"] {
        assert_eq!(
            count(&stats, &["drops", reason]),
            0,
            "{workers} worker(s): {reason}: {stats}"
        );
    }
    eprintln!(
        "netns_lab path MTU: {CONNECTIONS} downloads of {size} bytes, {workers} worker(s) \
         (received {}); {forwarded} errors forwarded; dropped {}",
        stats["worker_packets"], stats["dropped"]
    );
    let dir = r.dir.clone();
    drop(r);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The rule's idle timeout with `tcp_reset_on_idle` in this test: the
/// smallest `idle_timeout`, which is also the default (4 minutes).
const RESET_IDLE: Duration = Duration::from_secs(4 * 60);

/// A client that asks be's `/hold`, reads its line, then waits idle for
/// what comes: prints {"outcome": "reset" | "eof" | "data" | "timeout" |
/// ..., "idle": seconds}.
const IDLE_CLIENT: &str = r#"
import json, socket, sys, time
limit = float(sys.argv[1])
s = socket.create_connection(("198.18.1.10", 80), timeout=10)
s.sendall(b"GET /hold HTTP/1.0\r\n\r\n")
buf = b""
while b"holding\n" not in buf:
    b = s.recv(4096)
    if not b:
        print(json.dumps({"outcome": "closed before the line", "idle": 0}))
        sys.exit(0)
    buf += b
t0 = time.monotonic()
s.settimeout(limit)
try:
    outcome = "data" if s.recv(1) else "eof"
except ConnectionResetError:
    outcome = "reset"
except socket.timeout:
    outcome = "timeout"
except OSError as e:
    outcome = "error %s" % e.errno
print(json.dumps({"outcome": outcome, "idle": time.monotonic() - t0}))
"#;

/// `tcp_reset_on_idle`: an established connection left idle past its
/// rule's idle timeout is reset on both sides: the client's socket sees
/// ECONNRESET (from the frontend), and so does the backend's (from the
/// client's address), each with a sequence number it accepts (RFC 5961).
#[test]
#[ignore = "needs root and the lab's tools: scripts/test.sh runs it"]
fn tcp_reset_on_idle_resets_both_sides() {
    require_lab();
    let _serial = LAB_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    let prefix = format!("nx{:04x}r", std::process::id() & 0xffff);
    let mut r = Running::start_with(
        &prefix,
        &LabSetup {
            rule_extra: "tcp_reset_on_idle = true\n",
            ..LabSetup::default()
        },
    );
    let before: Vec<String> = (1..=3)
        .map(|i| std::fs::read_to_string(r.lab.backend_log(i)).unwrap_or_default())
        .collect();
    let limit = RESET_IDLE + Duration::from_secs(60);
    let out = client_run(
        &r.lab,
        limit + Duration::from_secs(30),
        "python3",
        &["-c", IDLE_CLIENT, &limit.as_secs().to_string()],
    );
    let result = script_result(&out, "the idle client");
    let idle = result["idle"].as_f64().unwrap_or(0.0);
    if result["outcome"] != "reset" {
        // What natrix counted, and what the client's interface saw.
        let stats = final_stats(&r.natrix.stop());
        let seen = r.capture.take().map(|c| {
            let file = c.file.clone();
            drop(c);
            run(Command::new("tcpdump")
                .args(["-nn", "-S", "-v", "-r"])
                .arg(&file))
        });
        panic!(
            "the idle client's connection: {result}\nnatrix: {stats}\nthe client's interface:\n{}",
            seen.map_or(String::new(), |o| String::from_utf8_lossy(&o.stdout)
                .into_owned())
        );
    }
    // natrix's clock counts whole seconds: the reset comes at the timeout,
    // give or take one.
    assert!(
        idle >= RESET_IDLE.as_secs_f64() - 2.0,
        "reset after {idle:.1} s idle, before the idle timeout of {RESET_IDLE:?}"
    );
    // The backend's socket was reset too: its server logs "hold ADDR reset".
    let deadline = Instant::now() + Duration::from_secs(10);
    let outcome = loop {
        let logged: Vec<String> = (1..=3)
            .flat_map(|i| {
                let log = std::fs::read_to_string(r.lab.backend_log(i)).unwrap_or_default();
                log[before[i - 1].len().min(log.len())..]
                    .lines()
                    .filter(|l| l.starts_with("hold "))
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect();
        if !logged.is_empty() || Instant::now() >= deadline {
            break logged;
        }
        sleep(Duration::from_millis(50));
    };
    assert_eq!(
        outcome,
        ["hold 198.18.1.2 reset"],
        "the backend's side of the idle connection (its server's log)"
    );
    // Not `stop_and_account`: the resets are packets natrix makes, not
    // packets it received.
    let stats = final_stats(&r.natrix.stop());
    eprintln!(
        "netns_lab reset on idle: the client was reset after {idle:.1} s idle; the backend \
         logged {outcome:?}; drops {}",
        stats["drops"]
    );
    let dir = r.dir.clone();
    drop(r);
    let _ = std::fs::remove_dir_all(&dir);
}

// Issue 9: IP fragments through natrix, fragmented by real kernels.

/// A UDP echo server for the fragment test: answers each datagram with
/// `TAG:` and the datagram. Prints "ready" once bound.
const UDP_ECHO: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 9000))
print("ready", flush=True)
tag = sys.argv[1].encode()
while True:
    d, a = s.recvfrom(65535)
    s.sendto(tag + b":" + d, a)
"#;

/// The client of the fragment test: `n` datagrams of 4000 random bytes to
/// the UDP frontend, each from a new socket (a new connection), each
/// answered by a backend's echo. Prints {"ok", "backends", "errors"}.
const UDP_CLIENT: &str = r#"
import json, os, socket, sys
n, ok, by, errors = int(sys.argv[1]), 0, {}, []
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    data = os.urandom(4000)
    s.sendto(data, ("198.18.1.10", 9000))
    try:
        r, addr = s.recvfrom(65535)
        tag, _, body = r.partition(b":")
        if body == data and addr == ("198.18.1.10", 9000):
            ok += 1
            by[tag.decode()] = by.get(tag.decode(), 0) + 1
        else:
            errors.append("reply of %d bytes from %s differs" % (len(r), addr))
    except socket.timeout:
        errors.append("timeout")
    s.close()
print(json.dumps({"ok": ok, "backends": by, "errors": errors}))
"#;

/// The lab's configuration with a UDP frontend, 198.18.1.10:9000, served by
/// the IPv4 web pool's three backends on port 9000 (random mode).
fn with_udp_pool(text: String) -> String {
    let mut pool = String::from(
        "\n[[frontend]]\nname = \"udp\"\naddress = \"198.18.1.10\"\nport = 9000\nprotocol = \"udp\"\n\n[[pool]]\nname = \"udp\"\n",
    );
    let mut rest = text.as_str();
    while let Some(i) = rest.find("[[pool.backend]]\n") {
        let block = &rest[i..];
        let end = block[1..].find("\n\n").map_or(block.len(), |e| e + 1);
        // The IPv4 backends only: a pool has one address family.
        let ipv6 = block[..end]
            .lines()
            .any(|l| l.starts_with("address = ") && l.contains(':'));
        if !ipv6 {
            pool += "\n";
            pool += &block[..end].replace("port = 8080", "port = 9000");
            pool += "\n";
        }
        rest = &block[end..];
    }
    pool += "\n[[rule]]\nfrontend = \"udp\"\npool = \"udp\"\nmode = \"random\"\n";
    text + &pool
}

/// UDP datagrams of 4000 bytes, fragmented by the client's kernel (MTU
/// 1500), reach the backends intact through natrix, and the backends'
/// echoes, fragmented by their kernels, come back intact from the frontend;
/// with 1 and 2 workers (net_af_packet's fanout spreads the fragments over
/// the queues: they meet at their owner).
#[test]
#[ignore = "needs root and the lab's tools: scripts/test.sh runs it"]
fn fragmented_udp_datagrams_cross_natrix_both_ways() {
    with_one_and_two_workers('f', fragmented_udp);
}

fn fragmented_udp(prefix: &str, workers: u16) {
    let mut r = Running::start_with(
        prefix,
        &LabSetup {
            workers,
            capture: false,
            edit: Some(with_udp_pool),
            pcap: true,
            ..Default::default()
        },
    );
    let mut servers = Vec::new();
    for i in 1..=3 {
        let mut child = r
            .lab
            .exec(&format!("be{i}"), "python3")
            .args(["-c", UDP_ECHO, &format!("be{i}")])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 in a backend namespace");
        let mut line = String::new();
        use std::io::BufRead;
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim(),
            "ready",
            "be{i}'s UDP echo server did not start"
        );
        servers.push(child);
    }
    const N: usize = 12;
    let out = client_run(
        &r.lab,
        Duration::from_secs(90),
        "python3",
        &["-c", UDP_CLIENT, &N.to_string()],
    );
    let result = script_result(&out, "the UDP client");
    for mut s in servers {
        let _ = s.kill();
        let _ = s.wait();
    }
    let stats = stop_and_account(&mut r.natrix);
    assert_eq!(
        result["ok"].as_u64(),
        Some(N as u64),
        "{workers} worker(s): {result}\n{stats}"
    );
    let used = result["backends"].as_object().map_or(0, |m| m.len());
    assert!(
        used >= 2,
        "the datagrams went to {used} backend(s): {result}"
    );
    // Each datagram and each echo: one first fragment and two later ones.
    assert!(
        count(&stats, &["events", "fragment-first"]) >= 2 * N as u64,
        "{stats}"
    );
    assert!(
        count(&stats, &["events", "fragment-forwarded"]) >= 4 * N as u64,
        "{stats}"
    );
    for d in [
        "fragment-no-first",
        "fragment-table-full",
        "fragment-hold-full",
        "fragment-too-small",
        "fragment-overlap",
        "ip-fragment",
    ] {
        assert_eq!(count(&stats, &["drops", d]), 0, "{d}: {stats}");
    }
    let dir = r.dir.clone();
    drop(r);
    let _ = std::fs::remove_dir_all(&dir);
}

// Issue 9's lab tests: IPv6 through natrix with real tools (curl -6, ab, a
// UDP client, a router's Packet Too Big), with 1 and 2 workers.

/// Whether the IPv6 web pool's three backends are probed healthy.
fn all_healthy6(backends: &[Value]) -> bool {
    BACKENDS6
        .iter()
        .all(|a| backend_health(backends, a) == ("active", Some(true)))
}

/// natrix in the lab as `setup` says, once the IPv6 web pool's backends are
/// probed healthy too (over the management leg's IPv6 address) and the
/// IPv6 frontend answers the client's `curl -6` (its kernel resolves the
/// frontend, or the router does, by a Neighbor Solicitation that natrix
/// answers). Also returns the `curl -6` runs it took (the last one was
/// answered).
fn start6(prefix: &str, setup: &LabSetup) -> (Running, usize) {
    let mut r = Running::start_with(prefix, setup);
    if let Err(last) = r
        .natrix
        .wait_backends(Duration::from_secs(10), all_healthy6)
    {
        panic!(
            "the IPv6 backends are not all probed healthy within 10 s: {last}\n{}",
            r.natrix.output()
        );
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut attempts = 0;
    loop {
        r.natrix.assert_running();
        attempts += 1;
        if client_get(prefix, &["-6", "-g", FRONTEND_URL6]).0 == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the IPv6 frontend did not answer within 20 s\n{}",
            r.natrix.output()
        );
        sleep(Duration::from_millis(250));
    }
    (r, attempts)
}

/// The backends of one frontend in natrix's statistics: (address,
/// connections).
fn frontend_backends(stats: &Value, frontend: &str) -> Vec<(String, u64)> {
    stats["backends"]
        .as_array()
        .unwrap_or_else(|| panic!("statistics have no backends list: {stats}"))
        .iter()
        .filter(|b| b["frontend"] == frontend)
        .map(|b| {
            (
                b["address"].as_str().unwrap_or_default().to_string(),
                b["connections"]
                    .as_u64()
                    .unwrap_or_else(|| panic!("backend without connections: {b}")),
            )
        })
        .collect()
}

/// The counters of a statistics map (`drops`, `events`) that are not 0.
fn nonzero(map: &Value) -> Vec<(String, u64)> {
    map.as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_u64().filter(|&n| n > 0).map(|n| (k.clone(), n)))
                .collect()
        })
        .unwrap_or_default()
}

/// [`SINGLE_REQUESTS6`] requests with `curl -6` to `url`, each answered 200
/// by a backend, then `ab` over IPv6 ([`LOAD_REQUESTS6`] at
/// [`LOAD_CONCURRENCY6`]) without a failure or a status other than 2xx.
fn requests_over_ipv6(r: &Running, prefix: &str, url: &str, what: &str) {
    for i in 0..SINGLE_REQUESTS6 {
        let (code, body) = client_get(prefix, &["-6", "-g", url]);
        assert_eq!(
            (code, backend_of(&body) != 0),
            (200, true),
            "{what}: request {i}: status {code}, body {body:?}"
        );
    }
    let out = client_run(
        &r.lab,
        Duration::from_secs(120),
        "ab",
        &[
            "-n",
            &LOAD_REQUESTS6.to_string(),
            "-c",
            &LOAD_CONCURRENCY6.to_string(),
            "-s",
            "10",
            url,
        ],
    );
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    let failure = format!(
        "{what}: ab ({}):\n{report}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        r.natrix.output()
    );
    assert!(out.status.success(), "{failure}");
    assert_eq!(
        ab_field(&report, "Complete requests:"),
        Some(LOAD_REQUESTS6 as u64),
        "{failure}"
    );
    assert_eq!(ab_field(&report, "Failed requests:"), Some(0), "{failure}");
    assert_eq!(ab_field(&report, "Non-2xx responses:"), None, "{failure}");
}

/// Single requests of the IPv6 HTTP test, each on a new connection.
const SINGLE_REQUESTS6: usize = 10;
/// ab's requests over IPv6, and its concurrency.
const LOAD_REQUESTS6: usize = 200;
const LOAD_CONCURRENCY6: usize = 10;

/// `curl -6` and `ab` reach the IPv6 frontend (`web6`, TCP port 80) through
/// natrix, with 1 and 2 workers. The client's kernel resolves the frontend
/// by Neighbor Discovery, the backends' kernels their IPv6 default gateway
/// (natrix's private address): natrix answers both. Every request is
/// answered 200 by a backend, the three backends share them (their logs and
/// natrix's per-backend connections agree), and natrix accounts for every
/// packet.
#[test]
#[ignore = "needs root and the lab's tools: scripts/test.sh runs it"]
fn http_over_ipv6_with_curl_and_ab() {
    with_one_and_two_workers('6', http_over_ipv6);
}

fn http_over_ipv6(prefix: &str, workers: u16) {
    let (mut r, attempts) = start6(
        prefix,
        &LabSetup {
            workers,
            capture: false,
            ..LabSetup::default()
        },
    );
    let natrix_mac = r.config.appliance.mac.to_string();
    let client = format!("{CLIENT6} ");
    let from_client = |l: &str| l.starts_with(&client) && l.contains("\"GET ");
    let before = r.lab.backend_lines(from_client);

    requests_over_ipv6(
        &r,
        prefix,
        FRONTEND_URL6,
        &format!("{workers} worker(s), IPv6"),
    );

    // The backends logged every request (a server logs after answering:
    // wait for the last lines), and each served its share. (A request of
    // start6 that curl gave up on may still be logged late.)
    let expected = SINGLE_REQUESTS6 + LOAD_REQUESTS6;
    let most_logged = expected + attempts - 1;
    let served = r.lab.served_since(before, expected, from_client);
    assert!(
        (expected..=most_logged).contains(&served.iter().sum::<usize>()),
        "{workers} worker(s): the backends logged {served:?} IPv6 requests for {expected}"
    );
    for (i, n) in served.iter().enumerate() {
        // A third each on average; a tenth is far out of chance's reach.
        assert!(
            *n >= expected / 10,
            "{workers} worker(s): be{} answered {n} of {expected} IPv6 requests: {served:?}",
            i + 1
        );
    }

    // Neighbor Discovery, answered by natrix: the client's entry for the
    // frontend and each backend's for its gateway hold natrix's MAC.
    let neigh = run_ok(
        r.lab
            .exec("client", "ip")
            .args(["-6", "neigh", "show", FRONTEND6]),
    );
    assert!(
        neigh.contains(&format!("lladdr {natrix_mac}")),
        "the client's neighbour entry for {FRONTEND6} is not natrix's MAC {natrix_mac}: {neigh:?}"
    );
    for i in 1..=3 {
        let neigh = run_ok(r.lab.exec(&format!("be{i}"), "ip").args([
            "-6",
            "neigh",
            "show",
            "2001:2:1:1::1",
        ]));
        assert!(
            neigh.contains(&format!("lladdr {natrix_mac}")),
            "be{i}'s neighbour entry for its gateway 2001:2:1:1::1 is not natrix's MAC \
             {natrix_mac}: {neigh:?}"
        );
    }

    // natrix's own account: every packet sent or dropped under a reason; the
    // web6 backends' connections are the client's IPv6 connections (the
    // probes never cross natrix; ab may open up to its concurrency more
    // connections than it sends requests on, and start6's curl runs that
    // were not answered may have opened one each).
    let stats = stop_and_account(&mut r.natrix);
    let web6 = frontend_backends(&stats, "web6");
    assert_eq!(web6.len(), 3, "{stats}");
    let connections: u64 = web6.iter().map(|(_, n)| n).sum();
    let least = (1 + expected) as u64;
    let most = (attempts + expected + LOAD_CONCURRENCY6) as u64;
    assert!(
        (least..=most).contains(&connections),
        "{workers} worker(s): the web6 backends have {connections} connections; the client \
         opened at least {least}: {web6:?}"
    );
    assert!(
        web6.iter().all(|(_, n)| *n > 0),
        "{workers} worker(s): a web6 backend has no connection: {web6:?}"
    );
    // The kernels' entries for natrix (checked above) came from Neighbor
    // Discovery: natrix's answers to their solicitations, or (since natrix
    // resolves its neighbours) the solicitations and announcements natrix
    // sent them, from which a kernel learns the sender's MAC.
    assert!(
        count(&stats, &["events", "nd-answered"]) + count(&stats, &["events", "neighbour-sent"])
            >= 4,
        "{workers} worker(s): the client and the three backends resolved natrix by Neighbor \
         Discovery: {stats}"
    );
    eprintln!(
        "netns_lab IPv6 HTTP, {workers} worker(s): backends served {served:?}; web6 \
         connections {web6:?}; Neighbor Solicitations answered {}; drops {:?}",
        stats["events"]["nd-answered"],
        nonzero(&stats["drops"])
    );
    let dir = r.dir.clone();
    drop(r);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A UDP client over IPv6: from each of SOCKETS sockets (each its own
/// source port, so its own connection in natrix), one datagram of each
/// size (SIZES, comma-separated, if given) to FRONTEND port PORT, each waited for (up to three tries, 2 s
/// each) with its source checked. Prints {"sent", "answered", "retries",
/// "wrong" (replies from another source or with other bytes), "lost"}.
const UDP_ECHO_CLIENT6: &str = r#"
import json, socket, sys
frontend, port, sockets = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sizes = [int(n) for n in sys.argv[4].split(",")] if len(sys.argv) > 4 else [16, 100, 1000, 1452]
result = {"sent": 0, "answered": 0, "retries": 0, "wrong": [], "lost": 0}
kept = []
for i in range(sockets):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.settimeout(2)
    kept.append(s)
    for size in sizes:
        payload = ("%d:%d:" % (i, size)).encode().ljust(size, b"n")
        result["sent"] += 1
        for attempt in range(3):
            if attempt:
                result["retries"] += 1
            s.sendto(payload, (frontend, port))
            try:
                data, peer = s.recvfrom(65535)
            except socket.timeout:
                continue
            if data != payload or peer[:2] != (frontend, port):
                result["wrong"].append([peer[0], peer[1], len(data)])
            else:
                result["answered"] += 1
            break
        else:
            result["lost"] += 1
print(json.dumps(result))
"#;

/// A UDP client exchanges datagrams with the IPv6 UDP frontend (`echo6`,
/// port 7, the backends' UDP echo), with 1 and 2 workers: every datagram
/// comes back intact from the frontend's address and port, the three
/// backends share the client's sockets, and natrix has one connection per
/// socket.
#[test]
#[ignore = "needs root and the lab's tools: scripts/test.sh runs it"]
fn udp_echo_over_ipv6() {
    with_one_and_two_workers('e', udp_echo6);
}

fn udp_echo6(prefix: &str, workers: u16) {
    let (mut r, _) = start6(
        prefix,
        &LabSetup {
            workers,
            capture: false,
            ..LabSetup::default()
        },
    );
    const SOCKETS: usize = 30;
    let client = format!("udp {CLIENT6} ");
    let echoed = |l: &str| l.starts_with(&client);
    let before = r.lab.backend_lines(echoed);
    let out = client_run(
        &r.lab,
        Duration::from_secs(120),
        "python3",
        &["-c", UDP_ECHO_CLIENT6, FRONTEND6, "7", &SOCKETS.to_string()],
    );
    let result = script_result(&out, "the IPv6 UDP client");
    let sent = result["sent"].as_u64().unwrap_or(0);
    assert!(
        sent == 4 * SOCKETS as u64
            && result["answered"].as_u64() == Some(sent)
            && result["wrong"].as_array().is_some_and(|w| w.is_empty()),
        "{workers} worker(s): the IPv6 UDP client: {result}\n{}",
        r.natrix.output()
    );
    // Each backend echoed some (a server logs after answering).
    let deadline = Instant::now() + Duration::from_secs(10);
    let echoes = loop {
        let after = r.lab.backend_lines(echoed);
        let echoes = [0, 1, 2].map(|i| after[i] - before[i]);
        if echoes.iter().sum::<usize>() as u64 >= sent || Instant::now() >= deadline {
            break echoes;
        }
        sleep(Duration::from_millis(50));
    };
    assert!(
        echoes.iter().sum::<usize>() as u64 >= sent && echoes.iter().all(|&n| n > 0),
        "{workers} worker(s): datagrams the backends echoed: {echoes:?} for {sent} answered"
    );
    let stats = stop_and_account(&mut r.natrix);
    let echo6 = frontend_backends(&stats, "echo6");
    let connections: u64 = echo6.iter().map(|(_, n)| n).sum();
    assert_eq!(
        connections, SOCKETS as u64,
        "{workers} worker(s): the echo6 backends' connections, one per client socket: {echo6:?}"
    );
    for a in ECHO_BACKENDS6 {
        assert!(
            echo6.iter().any(|(b, n)| b == a && *n > 0),
            "{workers} worker(s): echo6 backend {a} has no connection: {echo6:?}"
        );
    }
    eprintln!(
        "netns_lab IPv6 UDP, {workers} worker(s): {result}; backends echoed {echoes:?}; \
         echo6 connections {echo6:?}; drops {:?}",
        nonzero(&stats["drops"])
    );
    let dir = r.dir.clone();
    drop(r);
    let _ = std::fs::remove_dir_all(&dir);
}

/// UDP datagrams of 4000 bytes over IPv6, fragmented by the client's
/// kernel (MTU 1500), reach the backends' echo (`echo6`) intact through
/// natrix, and the echoes, fragmented by the backends' kernels, come back
/// intact from the frontend; with 1 and 2 workers, the ports on net_pcap
/// (as for IPv4: the fragments as they come).
#[test]
#[ignore = "needs root and the lab's tools: scripts/test.sh runs it"]
fn fragmented_udp_over_ipv6_crosses_natrix_both_ways() {
    with_one_and_two_workers('g', fragmented_udp6);
}

fn fragmented_udp6(prefix: &str, workers: u16) {
    let (mut r, _) = start6(
        prefix,
        &LabSetup {
            workers,
            capture: false,
            pcap: true,
            ..LabSetup::default()
        },
    );
    const SOCKETS: usize = 12;
    let client = format!("udp {CLIENT6} 4000");
    let whole = |l: &str| l == client;
    let before = r.lab.backend_lines(whole);
    let out = client_run(
        &r.lab,
        Duration::from_secs(120),
        "python3",
        &[
            "-c",
            UDP_ECHO_CLIENT6,
            FRONTEND6,
            "7",
            &SOCKETS.to_string(),
            "4000",
        ],
    );
    let result = script_result(&out, "the IPv6 UDP client");
    let sent = result["sent"].as_u64().unwrap_or(0);
    assert!(
        sent == SOCKETS as u64
            && result["answered"].as_u64() == Some(sent)
            && result["wrong"].as_array().is_some_and(|w| w.is_empty()),
        "{workers} worker(s): 4000-byte datagrams over IPv6: {result}\n{}",
        r.natrix.output()
    );
    // The backends received each datagram whole: 4000 bytes (a server logs
    // after answering).
    let deadline = Instant::now() + Duration::from_secs(10);
    let echoes = loop {
        let after = r.lab.backend_lines(whole);
        let echoes = [0, 1, 2].map(|i| after[i] - before[i]);
        if echoes.iter().sum::<usize>() as u64 >= sent || Instant::now() >= deadline {
            break echoes;
        }
        sleep(Duration::from_millis(50));
    };
    assert!(
        echoes.iter().sum::<usize>() as u64 >= sent,
        "{workers} worker(s): 4000-byte datagrams the backends echoed: {echoes:?} for {sent}"
    );
    let stats = stop_and_account(&mut r.natrix);
    // Each datagram and each echo: one first fragment and two later ones
    // (at least: a retry sends more).
    assert!(
        count(&stats, &["events", "fragment-first"]) >= 2 * sent,
        "{stats}"
    );
    assert!(
        count(&stats, &["events", "fragment-forwarded"]) >= 4 * sent,
        "{stats}"
    );
    for d in [
        "fragment-no-first",
        "fragment-table-full",
        "fragment-hold-full",
        "fragment-too-small",
        "fragment-overlap",
        "ip-fragment",
        "malformed-ipv6-ext",
    ] {
        assert_eq!(count(&stats, &["drops", d]), 0, "{d}: {stats}");
    }
    eprintln!(
        "netns_lab IPv6 fragments, {workers} worker(s): {result}; backends echoed {echoes:?}; \
         drops {:?}",
        nonzero(&stats["drops"])
    );
    let dir = r.dir.clone();
    drop(r);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Path MTU discovery over IPv6 through natrix, with 1 and 2 workers: the
/// router between the client and natrix has an MTU of 1280 toward the
/// client (IPv6's minimum), the client 1500, so it announces an MSS of 1440
/// and the backends' full-size segments cannot cross the router. IPv6
/// routers never fragment: it answers each with an ICMPv6 Packet Too Big to
/// the frontend address, which natrix must pass to the connection's
/// backend. Each of 20 downloads of 5 MB comes from its own client address
/// (a kernel caches the path MTU per destination), and every one completes;
/// each backend's kernel shows the MTU it learnt for the client address it
/// served.
#[test]
#[ignore = "needs root and the lab's tools: scripts/test.sh runs it"]
fn path_mtu_discovery_over_ipv6_through_a_router() {
    with_one_and_two_workers('p', path_mtu_downloads6);
}

fn path_mtu_downloads6(prefix: &str, workers: u16) {
    let (mut r, _) = start6(
        prefix,
        &LabSetup {
            workers,
            router_mtu: Some(1280),
            capture: false,
            ..LabSetup::default()
        },
    );
    const CONNECTIONS: u16 = 20;
    let size = 5_000_000u64;
    let sources: Vec<String> = (0..CONNECTIONS)
        .map(|i| format!("2001:2:0:2::{:x}", 0x100 + i))
        .collect();
    for a in &sources {
        run_ok(r.lab.exec("client", "ip").args([
            "addr",
            "add",
            &format!("{a}/64"),
            "dev",
            "eth0",
            "nodad",
        ]));
    }
    let url = format!("{FRONTEND_URL6}bytes/{size}");
    let limit = Duration::from_secs(120);
    let mut downloads: Vec<(String, KillOnDrop)> = sources
        .iter()
        .map(|a| {
            let file = r.dir.join(format!("download-{a}"));
            let child = spawn_client_download(
                &r.lab,
                &url,
                &file,
                &[
                    "-6",
                    "-g",
                    "--interface",
                    a,
                    "--max-time",
                    &limit.as_secs().to_string(),
                ],
            );
            (a.clone(), KillOnDrop(Some(child)))
        })
        .collect();
    let deadline = Instant::now() + limit + Duration::from_secs(10);
    let mut results = Vec::new();
    for (a, d) in downloads.iter_mut() {
        let left = deadline.saturating_duration_since(Instant::now());
        let out = d.wait(left);
        results.push((a.clone(), out.as_ref().map(curl_result)));
    }
    // The path MTU each backend's kernel learnt, per client address.
    let learnt: String = (1..=3)
        .map(|i| {
            run_ok(
                r.lab
                    .exec(&format!("be{i}"), "ip")
                    .args(["-6", "route", "show", "cache"]),
            )
        })
        .collect();
    let stats = stop_and_account(&mut r.natrix);
    let failed: Vec<&(String, Option<(u32, u64)>)> = results
        .iter()
        .filter(|(_, res)| *res != Some((200, size)))
        .collect();
    assert!(
        failed.is_empty(),
        "{workers} worker(s): {} of {CONNECTIONS} IPv6 downloads of {size} bytes did not \
         complete (client address, (status, bytes)): {failed:?}\nnatrix: {stats}",
        failed.len()
    );
    let without: Vec<&String> = sources
        .iter()
        .filter(|a| {
            !learnt.lines().any(|l| {
                l.split_whitespace().next() == Some(a.as_str()) && l.contains(" mtu 1280 ")
            })
        })
        .collect();
    assert!(
        without.is_empty(),
        "{workers} worker(s): no backend learnt the path MTU 1280 toward {without:?}; their \
         route caches:\n{learnt}"
    );
    let forwarded = count(&stats, &["events", "icmp-error-forwarded"]);
    assert!(
        forwarded >= u64::from(CONNECTIONS),
        "{workers} worker(s): {forwarded} ICMPv6 errors forwarded for {CONNECTIONS} connections \
         that each needed one: {stats}"
    );
    for reason in ["icmp-no-flow", "no-flow"] {
        assert_eq!(
            count(&stats, &["drops", reason]),
            0,
            "{workers} worker(s): {reason}: {stats}"
        );
    }
    eprintln!(
        "netns_lab IPv6 path MTU: {CONNECTIONS} downloads of {size} bytes, {workers} worker(s) \
         (received {}); {forwarded} Packet Too Big forwarded; drops {:?}",
        stats["worker_packets"],
        nonzero(&stats["drops"])
    );
    let dir = r.dir.clone();
    drop(r);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The neighbour table row of `address` in `natrix stats --json`.
fn neighbour<'a>(stats: &'a Value, address: &str) -> Option<&'a Value> {
    stats["neighbours"]
        .as_array()?
        .iter()
        .find(|n| n["address"] == address)
}

/// The lab's configuration names no MAC but natrix's own: natrix resolves
/// the client and the backends with ARP. When be1's interface is replaced
/// by one with a new MAC (`netns-lab.sh backend-replace 1`, which announces
/// itself as a replaced server does), only the requests in flight while
/// natrix re-resolves fail, and be1 serves again at its new MAC.
#[test]
#[ignore = "needs root and the lab's tools: scripts/test.sh runs it"]
fn a_replaced_backend_interface_is_resolved_again() {
    with_one_and_two_workers('n', replaced_interface);
}

fn replaced_interface(prefix: &str, workers: u16) {
    let mut r = Running::start_with(
        prefix,
        &LabSetup {
            workers,
            ..LabSetup::default()
        },
    );
    let text = run_ok(r.lab.script().arg("config"));
    let macs: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("mac") && l.contains('='))
        .collect();
    assert_eq!(macs, ["mac = \"02:4e:58:00:00:01\""], "{text}");

    // Resolved at start: the client (the gateway) and every backend.
    let resolved = |v: &Value, ip: &str, mac: &str| {
        neighbour(v, ip).is_some_and(|n| n["mac"] == mac && n["state"] == "reachable")
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = r.natrix.live_stats().unwrap_or(Value::Null);
        if resolved(&v, "198.18.1.2", "02:4e:58:01:00:02")
            && resolved(&v, "198.19.1.11", "02:4e:58:02:00:0b")
            && resolved(&v, "198.19.1.12", "02:4e:58:02:00:0c")
            && resolved(&v, "198.19.1.13", "02:4e:58:02:00:0d")
        {
            break;
        }
        assert!(Instant::now() < deadline, "not all resolved: {v}");
        sleep(Duration::from_millis(100));
    }

    let stop = AtomicBool::new(false);
    let samples: Mutex<Vec<Sample>> = Mutex::new(Vec::new());
    let prefix = r.lab.prefix.clone();
    let (replaced, after) = std::thread::scope(|scope| {
        let _stop_client = StopOnDrop(&stop);
        scope.spawn(|| request_loop(&prefix, &stop, &samples));
        let t0 = Instant::now();
        wait_samples(&samples, t0, 20, Duration::from_secs(30));
        let replaced = Instant::now();
        run_ok(r.lab.script().args(["backend-replace", "1"]));
        let after = Instant::now();
        // be1 answers again, at its new MAC.
        let deadline = after + Duration::from_secs(20);
        loop {
            let served = samples
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .any(|s| s.start >= after && s.backend == 1);
            if served {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "be1 never answered after its replacement: {}",
                r.natrix.live_stats().unwrap_or(Value::Null)
            );
            sleep(Duration::from_millis(50));
        }
        wait_samples(&samples, after, 30, Duration::from_secs(60));
        stop.store(true, Ordering::SeqCst);
        (replaced, after)
    });
    let samples = samples.into_inner().unwrap_or_else(PoisonError::into_inner);
    let failed: Vec<&Sample> = samples.iter().filter(|s| s.code != 200).collect();
    // A request fails only if it was in flight while the interface was
    // replaced and re-resolved: started before the replacement was done
    // (and natrix's next management turn, 100 ms, took its announcement).
    let window = after + Duration::from_millis(500);
    for s in &failed {
        assert!(
            s.start < window && s.end > replaced,
            "a request failed outside the replacement ({:?} after it): {} of {} failed",
            s.start.saturating_duration_since(replaced),
            failed.len(),
            samples.len()
        );
    }
    assert!(
        failed.len() <= 3,
        "{} of {} requests failed",
        failed.len(),
        samples.len()
    );
    let v = r.natrix.live_stats().unwrap();
    let row = neighbour(&v, "198.19.1.11").unwrap_or_else(|| panic!("no be1 neighbour: {v}"));
    assert_eq!(row["mac"], "02:4e:58:02:01:0b", "{v}");
    let stats = stop_and_account(&mut r.natrix);
    assert!(count(&stats, &["events", "neighbour-seen"]) >= 4, "{stats}");
    eprintln!(
        "netns_lab neighbour, {workers} worker(s): {} requests, {} failed while be1's interface was replaced; drops {}",
        samples.len(),
        failed.len(),
        stats["drops"]
    );
    let dir = r.dir.clone();
    drop(r);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The SIIT frontend of [`with_siit`]: IPv6, over the backends' IPv4
/// addresses (port 8064).
const SIIT_URL: &str = "http://[2001:2:0:1::64]/";
/// natrix's SIIT address, on the backends' segment.
const SIIT_SOURCE: &str = "198.19.1.64";

/// The lab's configuration with a SIIT frontend: `web64` on
/// 2001:2:0:1::64 port 80 over the backends' IPv4 HTTP servers on port
/// 8064, its connections leaving from 198.19.1.64.
fn with_siit(text: String) -> String {
    let anchor = "\ntransitory_timeout = 10\n";
    assert_eq!(text.matches(anchor).count(), 1, "no {anchor:?} in:\n{text}");
    let mut text = text.replace(
        anchor,
        &format!("{anchor}siit_addresses = [\"{SIIT_SOURCE}\"]\n"),
    );
    text += "\n[[frontend]]\nname = \"web64\"\naddress = \"2001:2:0:1::64\"\nport = 80\nprotocol = \"tcp\"\nsiit = true\n\n[[pool]]\nname = \"web64\"\n";
    for endpoint in BACKENDS {
        let ip = endpoint.split(':').next().unwrap();
        text += &format!("\n[[pool.backend]]\naddress = \"{ip}\"\nport = 8064\n");
    }
    text += "\n[[rule]]\nfrontend = \"web64\"\npool = \"web64\"\nmode = \"random\"\n";
    text
}

/// SIIT in the lab, with 1 and 2 workers: `curl -6` and `ab` reach the
/// IPv6 frontend `web64`, whose backends are the IPv4 servers. The
/// backends see every request from natrix's SIIT address, the three share
/// them, a 5 MB download arrives whole (the backends' full-size IPv4
/// segments become full-size IPv6 ones), and natrix drops nothing under a
/// SIIT reason.
#[test]
#[ignore = "needs root and the lab's tools: scripts/test.sh runs it"]
fn siit_ipv6_clients_reach_ipv4_backends() {
    with_one_and_two_workers('s', siit_http);
}

fn siit_http(prefix: &str, workers: u16) {
    let mut r = Running::start_with(
        prefix,
        &LabSetup {
            workers,
            capture: false,
            edit: Some(with_siit),
            ..LabSetup::default()
        },
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut attempts = 0;
    while client_get(prefix, &["-6", "-g", SIIT_URL]).0 != 200 {
        attempts += 1;
        assert!(
            Instant::now() < deadline,
            "{workers} worker(s): the SIIT frontend did not answer within 20 s\n{}",
            r.natrix.output()
        );
        sleep(Duration::from_millis(250));
    }
    let via_siit = |l: &str| l.starts_with(&format!("{SIIT_SOURCE} ")) && l.contains("\"GET ");
    let before = r.lab.backend_lines(via_siit);
    requests_over_ipv6(&r, prefix, SIIT_URL, &format!("{workers} worker(s), SIIT"));
    // A download of full-size segments: the client's MSS (1440, for IPv6
    // over 1500 bytes) makes the backends' IPv4 packets 1480 bytes, and
    // 1500 as IPv6.
    let size = 5_000_000;
    let out = client_run(
        &r.lab,
        Duration::from_secs(60),
        "curl",
        &[
            "-6",
            "-g",
            "-s",
            "--max-time",
            "30",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{size_download}",
            &format!("{SIIT_URL}bytes/{size}"),
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("200 {size}"),
        "{workers} worker(s): the SIIT download\n{}",
        r.natrix.output()
    );

    // Every request reached a backend from the SIIT address, and each
    // backend served its share.
    let expected = SINGLE_REQUESTS6 + LOAD_REQUESTS6;
    let served = r.lab.served_since(before, expected, via_siit);
    assert!(
        served.iter().sum::<usize>() >= expected,
        "{workers} worker(s): the backends logged {served:?} requests from {SIIT_SOURCE} for {expected}"
    );
    for (i, n) in served.iter().enumerate() {
        assert!(
            *n >= expected / 10,
            "{workers} worker(s): be{} answered {n} of {expected} SIIT requests: {served:?}",
            i + 1
        );
    }
    let stats = stop_and_account(&mut r.natrix);
    let web64 = frontend_backends(&stats, "web64");
    assert_eq!(web64.len(), 3, "{stats}");
    assert!(web64.iter().all(|(_, n)| *n > 0), "{web64:?}");
    assert!(count(&stats, &["events", "siit-translated"]) > 0, "{stats}");
    let siit_drops: Vec<(String, u64)> = nonzero(&stats["drops"])
        .into_iter()
        .filter(|(k, _)| k.starts_with("siit-"))
        .collect();
    assert!(
        siit_drops.is_empty(),
        "{workers} worker(s): SIIT drops {siit_drops:?}"
    );
    eprintln!(
        "netns_lab SIIT, {workers} worker(s): backends served {served:?} (after {attempts} \
         attempts); web64 connections {web64:?}; drops {:?}",
        nonzero(&stats["drops"])
    );
    let dir = r.dir.clone();
    drop(r);
    let _ = std::fs::remove_dir_all(&dir);
}
