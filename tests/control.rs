//! The control protocol end to end against a running appliance (`natrix run`
//! on net_null), through the CLI and through a raw socket.
#![cfg(feature = "dpdk")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::Shutdown;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

mod support;

use support::appliance::{Appliance, NATRIX};
use support::{eal, fixtures};

fn dir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/test-control")
        .join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn backend<'a>(stats: &'a serde_json::Value, address: &str) -> Option<&'a serde_json::Value> {
    stats["backends"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["address"] == address && b["state"] != "removed")
}

#[test]
fn control_socket_end_to_end() {
    let d = dir("e2e");
    let config = d.join("web.toml");
    let original = std::fs::read_to_string(fixtures::web_toml()).unwrap();
    std::fs::write(&config, &original).unwrap();
    let sock = d.join("natrix.sock");
    // A stale socket file from a dead natrix is replaced. It is made by a
    // process of its own: a listener bound here could be inherited, between
    // fork and exec, by a process another test thread starts, and answer
    // for a moment (natrix would then refuse the path, and this test would
    // meet the stale socket instead of natrix's).
    let made = Command::new("python3")
        .args([
            "-c",
            "import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])",
        ])
        .arg(&sock)
        .status()
        .unwrap();
    assert!(made.success() && sock.exists());
    let app = Appliance::start(&config, &sock);
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);

    // A second natrix on the same socket is refused before it starts.
    let o = Command::new(NATRIX)
        .args(["run", "--config"])
        .arg(&config)
        .arg("--control")
        .arg(&sock)
        .arg("--")
        .args(eal::base())
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("another natrix is listening"));

    // Statistics: per worker and in total, drops by reason, frontends, backends.
    // Rates cover the last full second with traffic; a slow or busy machine
    // may need a few seconds before that second has been measured.
    let t = Instant::now();
    let s = loop {
        let s = app.stats();
        if s["total"]["rx_pps"].as_f64().unwrap() > 0.0 || t.elapsed() > Duration::from_secs(20) {
            break s;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(s["version"], 1);
    assert_eq!(s["workers"].as_array().unwrap().len(), 1);
    let rx = s["total"]["rx"].as_u64().unwrap();
    assert!(rx > 0);
    assert_eq!(
        rx,
        s["total"]["tx"].as_u64().unwrap() + s["total"]["dropped"].as_u64().unwrap()
    );
    assert!(
        s["total"]["rx_pps"].as_f64().unwrap() > 0.0,
        "rates over the last second"
    );
    let drops: u64 = s["drops"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(drops, s["total"]["dropped"].as_u64().unwrap());
    assert_eq!(s["frontends"].as_array().unwrap().len(), 4);
    assert_eq!(backend(&s, "198.19.1.11:8080").unwrap()["state"], "active");
    let human = app.cli(&["stats"]);
    assert!(String::from_utf8_lossy(&human.stdout).contains("198.19.1.12:8080"));

    // Backend changes through the CLI.
    for (args, want) in [
        (
            vec!["backend", "drain", "web", "198.19.1.11:8080"],
            "draining",
        ),
        (
            vec!["backend", "weight", "web", "198.19.1.12:8080", "3"],
            "weight 3",
        ),
        (
            vec!["backend", "add", "web", "198.19.1.14:8080", "2"],
            "added",
        ),
        (
            vec!["backend", "remove", "web", "198.19.1.13:8080"],
            "removed",
        ),
    ] {
        let o = app.cli(&args);
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            String::from_utf8_lossy(&o.stdout).contains(want),
            "{args:?}"
        );
    }
    let s = app.stats();
    assert_eq!(
        backend(&s, "198.19.1.11:8080").unwrap()["state"],
        "draining"
    );
    assert_eq!(backend(&s, "198.19.1.12:8080").unwrap()["weight"], 3);
    assert_eq!(backend(&s, "198.19.1.14:8080").unwrap()["weight"], 2);
    assert!(backend(&s, "198.19.1.13:8080").is_none());
    for (args, want) in [
        (
            vec!["backend", "drain", "nope", "198.19.1.11:8080"],
            "no pool named",
        ),
        (
            vec!["backend", "remove", "web", "198.19.1.99:8080"],
            "not in pool",
        ),
        (
            vec!["backend", "add", "web", "not-an-address"],
            "not an IPv4 address",
        ),
        (
            vec!["backend", "weight", "web", "198.19.1.12:8080", "5000"],
            "0 to 1000",
        ),
        (
            vec!["backend", "add", "tls", "198.19.1.12:8080"],
            "ambiguous return direction",
        ),
        (
            vec!["backend", "add", "web", "224.0.0.1:8080"],
            "224.0.0.1 is not a unicast address",
        ),
        (
            vec![
                "backend",
                "add",
                "web",
                "198.19.1.20:8080",
                "--mac",
                "ff:ff:ff:ff:ff:ff",
            ],
            "is a group (broadcast or multicast) address",
        ),
    ] {
        let o = app.cli(&args);
        assert!(!o.status.success(), "{args:?} should fail");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(want),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    // Malformed and unknown requests get an error reply, and the connection
    // and natrix carry on (a line over the limit closes its connection:
    // `overlong_request_is_cut_at_the_limit`).
    let replies = app.raw(&[
        b"garbage",
        b"{\"version\": 2, \"command\": \"stats\"}",
        b"{\"command\": \"stats\"}",
        b"{\"version\": 1, \"command\": \"explode\"}",
        b"{\"version\": 1, \"command\": \"backend-drain\", \"pool\": 7}",
        b"[1, 2, 3]",
        b"{\"version\": 1, \"command\": \"stats\"}",
    ]);
    for r in &replies[..6] {
        assert_eq!(r["ok"], false, "{r}");
        assert!(!r["error"].as_str().unwrap().is_empty());
    }
    assert!(replies[1]["error"].as_str().unwrap().contains("version 2"));
    assert_eq!(replies[6]["ok"], true);
    assert_eq!(replies[6]["version"], 1);

    // Reload: a broken file is refused whole and the running set stays...
    std::fs::write(
        &config,
        original.replace(
            "weight = 1\nmac = \"02:00:00:00:01:0b\"",
            "weight = 7\nmac = \"02:00:00:00:01:0b\"\nbogus = 1",
        ),
    )
    .unwrap();
    let o = app.cli(&["reload"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("bogus"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let s = app.stats();
    assert_eq!(backend(&s, "198.19.1.12:8080").unwrap()["weight"], 3);
    // ... a good one applies (the file is the truth: runtime changes it does
    // not have are undone) ...
    std::fs::write(
        &config,
        original.replace(
            "address = \"198.19.1.13\"\nport = 8080\nweight = 1",
            "address = \"198.19.1.13\"\nport = 8080\nweight = 4",
        ),
    )
    .unwrap();
    let o = app.cli(&["reload"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = app.stats();
    assert_eq!(backend(&s, "198.19.1.13:8080").unwrap()["weight"], 4);
    assert_eq!(backend(&s, "198.19.1.11:8080").unwrap()["state"], "active");
    assert!(backend(&s, "198.19.1.14:8080").is_none());
    // ... and SIGHUP does the same.
    std::fs::write(
        &config,
        original.replace(
            "address = \"198.19.1.13\"\nport = 8080\nweight = 1",
            "address = \"198.19.1.13\"\nport = 8080\nweight = 9",
        ),
    )
    .unwrap();
    let _ = Command::new("kill")
        .args(["-HUP", &app.child.id().to_string()])
        .status();
    let t = Instant::now();
    loop {
        let s = app.stats();
        if backend(&s, "198.19.1.13:8080").unwrap()["weight"] == 9 {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "SIGHUP did not reload"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // A reload that changes what a running natrix cannot change is refused.
    std::fs::write(&config, original.replace("port = 443", "port = 8443")).unwrap();
    let o = app.cli(&["reload"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("restart"));

    let sock = app.sock.clone();
    let fin = app.stop();
    assert_eq!(
        fin["packets_in"].as_u64().unwrap(),
        fin["packets_out"].as_u64().unwrap() + fin["dropped"].as_u64().unwrap()
    );
    assert!(!sock.exists(), "the socket is removed on exit");
    std::fs::remove_dir_all(&d).ok();
}

/// A kB figure of `/proc/PID/status`, like `VmHWM` (the peak resident size).
fn status_kb(pid: u32, key: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
}

/// One reply line from `s`, or None when the connection closed without one
/// or none came within `wait`.
fn reply(s: &UnixStream, wait: Duration) -> Option<serde_json::Value> {
    s.set_read_timeout(Some(wait)).unwrap();
    let mut line = String::new();
    match BufReader::new(s).read_line(&mut line) {
        Ok(n) if n > 0 => Some(serde_json::from_str(&line).unwrap()),
        _ => None,
    }
}

/// Whether the server closes `s` within `wait`: then what it wrote last.
fn closed_by_server(s: &mut UnixStream, wait: Duration) -> Option<String> {
    s.set_read_timeout(Some(wait)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Some(String::from_utf8_lossy(&got).into_owned()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None
            }
            Err(_) => return Some(String::from_utf8_lossy(&got).into_owned()),
        }
    }
}

/// A client that streams far more than a request line may hold, without a
/// newline: natrix reads no more than the limit, answers that the line is too
/// long, and closes; its memory does not grow with what the client sends.
#[test]
fn overlong_request_is_cut_at_the_limit() {
    let d = dir("overlong");
    let app = Appliance::start(&fixtures::web_toml(), &d.join("natrix.sock"));
    let pid = app.child.id();
    let _ = app.stats();
    let peak_before = status_kb(pid, "VmHWM");

    const TOTAL: usize = 256 << 20;
    let mut s = UnixStream::connect(&app.sock).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
    let chunk = vec![b'x'; 1 << 20];
    let mut sent = 0;
    while sent < TOTAL {
        match s.write(&chunk) {
            Ok(n) => sent += n,
            Err(_) => break,
        }
    }
    let _ = s.shutdown(Shutdown::Write);
    let r = reply(&s, Duration::from_secs(15)).expect("an error reply");
    assert_eq!(r["ok"], false, "{r}");
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .contains("longer than 65536 bytes"),
        "{r}"
    );
    assert!(
        sent < 16 << 20,
        "natrix took {sent} bytes of an overlong line"
    );
    let grown = status_kb(pid, "VmHWM").saturating_sub(peak_before);
    assert!(grown < 64 << 10, "natrix's peak memory grew by {grown} kB");
    // The connection is closed, and natrix answers others.
    assert!(reply(&s, Duration::from_secs(5)).is_none());
    assert_eq!(app.stats()["version"], 1);
    drop(app);
    std::fs::remove_dir_all(&d).ok();
}

/// Clients that connect and send nothing (or a line that never ends) hold
/// neither a place nor a thread for long: a new client is answered at once
/// when all places are taken, the connection that waited longest is closed
/// for it, and a silent connection is closed after the request timeout.
#[test]
fn idle_clients_cannot_hold_the_socket() {
    /// natrix's documented limits (docs/operations.md).
    const MAX_CONNECTIONS: usize = 32;
    const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
    let d = dir("idle");
    let app = Appliance::start(&fixtures::web_toml(), &d.join("natrix.sock"));

    let started = Instant::now();
    let mut idle: Vec<UnixStream> = (0..3 * MAX_CONNECTIONS)
        .map(|i| {
            let mut s = UnixStream::connect(&app.sock).unwrap();
            if i % 2 == 1 {
                // Half a request, never finished.
                s.write_all(b"{\"version\": 1, ").unwrap();
            }
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));

    let t = Instant::now();
    let s = app.stats();
    assert_eq!(s["version"], 1, "a new client is answered");
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "answered only after {:?}",
        t.elapsed()
    );

    // Places were made for the newer connections by closing the oldest,
    // each told why.
    let closed: Vec<String> = idle
        .iter_mut()
        .filter_map(|s| closed_by_server(s, Duration::from_millis(200)))
        .collect();
    assert!(
        closed.len() > 2 * MAX_CONNECTIONS,
        "{} of {} idle connections were closed",
        closed.len(),
        3 * MAX_CONNECTIONS
    );
    assert!(closed[0].contains("waited longest"), "{:?}", closed[0]);

    // The rest are closed once the request timeout has passed.
    for s in &mut idle {
        let left = (started + REQUEST_TIMEOUT + Duration::from_secs(4))
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        assert!(
            closed_by_server(s, left).is_some(),
            "an idle connection is still open after {:?}",
            started.elapsed()
        );
    }
    assert_eq!(app.stats()["version"], 1);
    drop(app);
    std::fs::remove_dir_all(&d).ok();
}

/// `--control PATH` where PATH is a regular file: natrix refuses to start,
/// names the path, and leaves the file as it was.
#[test]
fn control_path_that_is_not_a_socket_is_kept() {
    let d = dir("not-socket");
    let path = d.join("precious.txt");
    std::fs::write(&path, "not a socket\n").unwrap();
    let mut child = Command::new(NATRIX)
        .args(["run", "--config"])
        .arg(fixtures::web_toml())
        .arg("--control")
        .arg(&path)
        .arg("--")
        .args(eal::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "natrix runs with --control on a regular file; the file is {}",
                if path.exists() { "kept" } else { "deleted" }
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "natrix started on a regular file");
    assert!(err.contains(&*path.to_string_lossy()), "{err}");
    assert!(err.contains("not a socket"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "not a socket\n",
        "the file is kept"
    );
    std::fs::remove_dir_all(&d).ok();
}

/// IPv6 pools through the CLI: statistics with `[address]:port` and the
/// family, `backend add|weight|drain|remove`, refusals in the file's words,
/// and a reload that changes an IPv6 pool.
#[test]
fn ipv6_backends_through_the_cli() {
    let d = dir("ipv6");
    let config = d.join("ipv6.toml");
    let original = std::fs::read_to_string(fixtures::example("ipv6.toml")).unwrap();
    std::fs::write(&config, &original).unwrap();
    let sock = d.join("natrix.sock");
    let app = Appliance::start(&config, &sock);

    let s = app.stats();
    let fe = |s: &serde_json::Value, a: &str| {
        s["frontends"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["address"] == a)
            .cloned()
    };
    let web6 = fe(&s, "[2001:db8::10]:80").expect("the IPv6 frontend");
    assert_eq!(
        (web6["name"].as_str(), web6["family"].as_str()),
        (Some("web6"), Some("ipv6"))
    );
    assert_eq!(fe(&s, "198.18.1.10:80").unwrap()["family"], "ipv4");
    let b = backend(&s, "[2001:db8:1::12]:8080").expect("the IPv6 backend");
    assert_eq!(
        (b["pool"].as_str(), b["family"].as_str()),
        (Some("web6"), Some("ipv6"))
    );
    assert_eq!(b["weight"], 2);
    assert_eq!(backend(&s, "198.19.1.11:8080").unwrap()["family"], "ipv4");
    assert_eq!(
        backend(&s, "[2001:db8:1::22]:22").unwrap()["pool"],
        "nat-rule"
    );
    let o = app.cli(&["stats"]);
    assert!(o.status.success());
    let human = String::from_utf8_lossy(&o.stdout);
    assert!(human.contains("[2001:db8::10]:80"), "{human}");
    assert!(human.contains("[2001:db8:1::11]:8080"), "{human}");

    for (args, want) in [
        (
            vec!["backend", "add", "web6", "[2001:db8:1::13]:8080", "3"],
            "added [2001:db8:1::13]:8080",
        ),
        (
            vec!["backend", "weight", "web6", "[2001:db8:1::11]:8080", "5"],
            "",
        ),
        (
            vec!["backend", "drain", "web6", "[2001:db8:1::12]:8080"],
            "",
        ),
        (vec!["backend", "remove", "web", "198.19.1.12:8080"], ""),
    ] {
        let o = app.cli(&args);
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            String::from_utf8_lossy(&o.stdout).contains(want),
            "{args:?}"
        );
    }
    let s = app.stats();
    assert_eq!(backend(&s, "[2001:db8:1::13]:8080").unwrap()["weight"], 3);
    assert_eq!(
        backend(&s, "[2001:db8:1::13]:8080").unwrap()["family"],
        "ipv6"
    );
    assert_eq!(backend(&s, "[2001:db8:1::11]:8080").unwrap()["weight"], 5);
    assert_eq!(
        backend(&s, "[2001:db8:1::12]:8080").unwrap()["state"],
        "draining"
    );
    assert!(backend(&s, "198.19.1.12:8080").is_none());
    let o = app.cli(&["backend", "remove", "web6", "[2001:db8:1::13]:8080"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(backend(&app.stats(), "[2001:db8:1::13]:8080").is_none());

    for (args, want) in [
        (
            vec!["backend", "add", "web6", "198.19.1.50:8080"],
            "backend 198.19.1.50 is IPv4 but frontend \"web6\" (2001:db8::10) is IPv6",
        ),
        (
            vec!["backend", "add", "web", "[2001:db8:1::50]:8080"],
            "is IPv6 but frontend \"web\" (198.18.1.10) is IPv4",
        ),
        (
            vec!["backend", "add", "web6", "[fe80::1]:8080"],
            "fe80::1 is a link-local address",
        ),
        (
            vec!["backend", "add", "web6", "[ff02::1]:8080"],
            "is a multicast address",
        ),
        (
            vec!["backend", "add", "web6", "[::1]:8080"],
            "the loopback address",
        ),
        (
            vec!["backend", "add", "web6", "[2001:db8:1::50%2]:8080"],
            "nor an IPv6 one like [2001:db8::5]:8080",
        ),
        (
            vec!["backend", "add", "web6", "2001:db8:1::50:8080"],
            "nor an IPv6 one like [2001:db8::5]:8080",
        ),
        (
            vec!["backend", "remove", "web6", "[2001:db8:1::99]:8080"],
            "[2001:db8:1::99]:8080 is not in pool \"web6\"",
        ),
    ] {
        let o = app.cli(&args);
        assert!(!o.status.success(), "{args:?} should fail");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
    }

    // Reload: an IPv6 pool gains a backend and changes a weight; the file
    // undoes the runtime changes it does not have.
    std::fs::write(
        &config,
        original.replace(
            "address = \"2001:db8:1::12\"\nport = 8080\nweight = 2",
            "address = \"2001:db8:1::12\"\nport = 8080\nweight = 7\n\n[[pool.backend]]\naddress = \"2001:db8:1::14\"\nport = 8080",
        ),
    )
    .unwrap();
    let o = app.cli(&["reload"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = app.stats();
    assert_eq!(backend(&s, "[2001:db8:1::12]:8080").unwrap()["weight"], 7);
    assert_eq!(
        backend(&s, "[2001:db8:1::12]:8080").unwrap()["state"],
        "active"
    );
    assert_eq!(backend(&s, "[2001:db8:1::14]:8080").unwrap()["weight"], 1);
    assert_eq!(backend(&s, "[2001:db8:1::11]:8080").unwrap()["weight"], 1);
    assert_eq!(backend(&s, "198.19.1.12:8080").unwrap()["state"], "active");
    // A reload that mixes the families is refused whole, naming the field.
    std::fs::write(
        &config,
        original.replace("\"2001:db8:1::12\"", "\"198.19.1.60\""),
    )
    .unwrap();
    let o = app.cli(&["reload"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("pool[1].backend[1].address"), "{err}");
    assert!(
        err.contains("expected one address family per pool"),
        "{err}"
    );
    assert_eq!(
        backend(&app.stats(), "[2001:db8:1::12]:8080").unwrap()["weight"],
        7
    );

    drop(app);
    std::fs::remove_dir_all(&d).ok();
}
