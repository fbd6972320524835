//! End to end through the DPDK appliance: `natrix run` in the network-namespace
//! lab (`scripts/netns-lab.sh`), a real client (curl, ab) and three real HTTP
//! backends, every frame crossing natrix through net_af_packet ports.
//!
//! Needs root (namespaces, veths); skipped otherwise. Every namespace and
//! interface is named after a prefix unique to this run and removed when the
//! test ends, failed or not. Only 198.18.0.0/15 is used, inside those
//! namespaces.
#![cfg(feature = "dpdk")]

use natrix::config::Config;
use serde_json::Value;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

const FRONTEND_URL: &str = "http://198.18.1.10/";
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

/// ab comes with apache2-utils; installed when missing (we are root).
fn ensure_ab() {
    if have("ab") {
        return;
    }
    run_ok(Command::new("apt-get").args(["update", "-qq"]));
    run_ok(
        Command::new("apt-get")
            .args([
                "install",
                "-y",
                "-qq",
                "--no-install-recommends",
                "apache2-utils",
            ])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    );
}

/// The lab for one prefix; `down` runs when it is dropped, also on panic.
struct Lab {
    prefix: String,
}

impl Lab {
    fn up(prefix: &str) -> Lab {
        // The guard exists before `up` runs, so a half-built lab is removed too.
        let lab = Lab {
            prefix: prefix.to_string(),
        };
        run_ok(lab.script().arg("up"));
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

    /// Requests each backend has logged so far.
    fn backend_requests(&self) -> [usize; 3] {
        let mut n = [0; 3];
        for (i, slot) in n.iter_mut().enumerate() {
            let log = std::fs::read_to_string(self.backend_log(i + 1)).unwrap_or_default();
            *slot = log.lines().filter(|l| l.contains("\"GET ")).count();
        }
        n
    }

    /// One GET from the client: (HTTP status, body); status 0 when curl failed.
    fn curl(&self) -> (u32, String) {
        let out = run(self.exec("client", "curl").args([
            "-s",
            "--max-time",
            "2",
            "-w",
            "\n%{http_code}",
            FRONTEND_URL,
        ]));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
        let code = if out.status.success() {
            code.trim().parse().unwrap_or(0)
        } else {
            0
        };
        (code, body.to_string())
    }
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

/// `natrix run` inside the lab's lb namespace. `ip netns exec` execs in place,
/// so the child's pid is natrix's. Dropping it stops natrix if still running.
struct Natrix {
    child: Option<Child>,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Natrix {
    fn start(lab: &Lab, config: &Path, dir: &Path) -> Natrix {
        let stdout = dir.join("natrix.stdout");
        let stderr = dir.join("natrix.stderr");
        let p = &lab.prefix;
        let mut cmd = lab.exec("lb", env!("CARGO_BIN_EXE_natrix"));
        cmd.arg("run")
            .arg("--config")
            .arg(config)
            .arg("--control")
            .arg(dir.join("natrix.sock"))
            .arg("--json")
            .arg("--")
            .args([
                "-l",
                "0-1",
                "--no-huge",
                "-m",
                "512",
                "--no-pci",
                "--no-shconf",
            ])
            .args(["--file-prefix", p])
            .args(["--vdev", &format!("net_af_packet0,iface={p}pub")])
            .args(["--vdev", &format!("net_af_packet1,iface={p}priv")])
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
fn http_through_natrix_in_the_lab() {
    if !is_root() {
        eprintln!("netns_lab: skipped, needs root (network namespaces)");
        return;
    }
    ensure_ab();

    let prefix = format!("nx{:04x}", std::process::id() & 0xffff);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("netns-lab-{prefix}"));
    std::fs::create_dir_all(&dir).unwrap();

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

    // (a) The lab, removed whatever happens below.
    let lab = Lab::up(&prefix);
    let config_path = dir.join("lab.toml");
    std::fs::write(&config_path, run_ok(lab.script().arg("config"))).unwrap();
    let config = Config::load(&config_path).unwrap_or_else(|e| panic!("{e}"));
    let natrix_mac = config.appliance.mac.to_string();

    // (b) natrix, ready once the frontend answers.
    let mut natrix = Natrix::start(&lab, &config_path, &dir);
    let mut connections = 0usize; // TCP connections the client opened that were answered
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        natrix.assert_running();
        let (code, _) = lab.curl();
        if code == 200 {
            connections += 1;
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the frontend did not answer within 20 s\n{}",
            natrix.output()
        );
        sleep(Duration::from_millis(250));
    }

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

    // (f) natrix's own account.
    let stdout = natrix.stop();
    let stats = final_stats(&stdout);
    let created = count(&stats, &["events", "connection-created"]);
    assert!(
        created >= connections as u64,
        "{created} connections created, the client opened {connections}: {stats}"
    );
    assert!(
        count(&stats, &["events", "arp-replied"]) >= 1,
        "no ARP replied: {stats}"
    );
    assert!(count(&stats, &["events", "inbound"]) > 0, "{stats}");
    assert!(count(&stats, &["events", "return"]) > 0, "{stats}");
    let (pin, pout, dropped) = (
        count(&stats, &["packets_in"]),
        count(&stats, &["packets_out"]),
        count(&stats, &["dropped"]),
    );
    assert_eq!(pin, pout + dropped, "packets in != out + dropped: {stats}");
    let backends = stats["backends"]
        .as_array()
        .unwrap_or_else(|| panic!("statistics have no backends list: {stats}"));
    assert_eq!(backends.len(), 3, "{stats}");
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
        "netns_lab: {connections} client connections, natrix created {created}; \
         packets in {pin}, out {pout}, dropped {dropped}; backends served {served:?}; drops {}",
        stats["drops"]
    );

    drop(natrix);
    drop(lab);
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
