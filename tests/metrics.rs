//! The Prometheus listener (`--metrics`) end to end against a running
//! appliance (`natrix run` on net_null), with a plain TCP client and a small
//! parser of the text exposition format written here.
#![cfg(feature = "dpdk")]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod support;

use support::appliance::{Appliance, NATRIX};
use support::fixtures::web_toml;

fn dir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/test-metrics")
        .join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends raw bytes, returns (status code, headers, body); None when the
/// server closed without an answer.
fn http_raw(addr: SocketAddr, request: &[u8]) -> Option<(u16, String, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(request);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    if raw.is_empty() {
        return None;
    }
    let text = String::from_utf8(raw).expect("UTF-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("a response head");
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("bad status line: {head:?}"));
    assert!(head.starts_with("HTTP/1.1 "), "{head:?}");
    Some((status, head.to_string(), body.to_string()))
}

fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    http_raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n").as_bytes(),
    )
    .expect("an answer")
}

/// A sample: metric name, labels, value.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

impl Sample {
    fn key(&self) -> String {
        format!("{}{:?}", self.name, self.labels)
    }
}

fn valid_name(s: &str, label: bool) -> bool {
    let mut cs = s.chars();
    let first_ok = |c: char| c.is_ascii_alphabetic() || c == '_' || (!label && c == ':');
    match cs.next() {
        Some(c) if first_ok(c) => {}
        _ => return false,
    }
    cs.all(|c| c.is_ascii_alphanumeric() || c == '_' || (!label && c == ':'))
}

fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => s.parse::<f64>().map_err(|e| format!("value {s:?}: {e}")),
    }
}

/// Parses `{a="x",b="y"}` (from just after the name); returns the labels and
/// the rest of the line.
fn parse_labels(s: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    let mut rest = s.strip_prefix('{').ok_or("expected {")?;
    loop {
        if let Some(r) = rest.strip_prefix('}') {
            return Ok((labels, r));
        }
        let eq = rest.find('=').ok_or("label without =")?;
        let name = &rest[..eq];
        if !valid_name(name, true) {
            return Err(format!("bad label name {name:?}"));
        }
        rest = rest[eq + 1..]
            .strip_prefix('"')
            .ok_or("label value without quotes")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err("unterminated label value".into()),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    other => return Err(format!("bad escape {other:?}")),
                },
                Some((_, '\n')) => return Err("raw newline in a label value".into()),
                Some((_, c)) => value.push(c),
            }
        };
        if labels.insert(name.to_string(), value).is_some() {
            return Err(format!("label {name} twice"));
        }
        rest = &rest[end + 1..];
        if let Some(r) = rest.strip_prefix(',') {
            rest = r;
        } else if !rest.starts_with('}') {
            return Err("expected , or } after a label".into());
        }
    }
}

/// Parses the text exposition format (0.0.4): every line a `# HELP`,
/// `# TYPE` (counter or gauge) or a sample of a family typed before it.
fn parse(text: &str) -> Result<(Vec<Sample>, HashMap<String, String>), String> {
    let mut types: HashMap<String, String> = HashMap::new();
    let mut helps: HashSet<String> = HashSet::new();
    let mut samples = Vec::new();
    let mut seen = HashSet::new();
    for (n, line) in text.lines().enumerate() {
        let err = |e: String| format!("line {}: {e}: {line:?}", n + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, _help) = rest.split_once(' ').unwrap_or((rest, ""));
            if !valid_name(name, false) || !helps.insert(name.to_string()) {
                return Err(err("bad or repeated HELP".into()));
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').ok_or_else(|| err("TYPE".into()))?;
            if !valid_name(name, false) || !matches!(kind, "counter" | "gauge") {
                return Err(err("bad TYPE".into()));
            }
            if types.insert(name.to_string(), kind.to_string()).is_some() {
                return Err(err("repeated TYPE".into()));
            }
            continue;
        }
        if line.starts_with('#') {
            return Err(err("comment that is neither HELP nor TYPE".into()));
        }
        let name_end = line
            .find(['{', ' '])
            .ok_or_else(|| err("no value".into()))?;
        let name = &line[..name_end];
        if !valid_name(name, false) {
            return Err(err("bad metric name".into()));
        }
        let (labels, rest) = if line[name_end..].starts_with('{') {
            parse_labels(&line[name_end..]).map_err(err)?
        } else {
            (BTreeMap::new(), &line[name_end..])
        };
        let rest = rest
            .strip_prefix(' ')
            .ok_or_else(|| err("no space before the value".into()))?;
        let value_text = rest.split(' ').next().unwrap_or("");
        let value = parse_value(value_text).map_err(err)?;
        if !types.contains_key(name) {
            return Err(err("sample before its TYPE line".into()));
        }
        let s = Sample {
            name: name.to_string(),
            labels,
            value,
        };
        if !seen.insert(s.key()) {
            return Err(err("duplicate series".into()));
        }
        samples.push(s);
    }
    Ok((samples, types))
}

fn find<'a>(samples: &'a [Sample], name: &str, labels: &[(&str, &str)]) -> Option<&'a Sample> {
    samples.iter().find(|s| {
        s.name == name
            && labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
    })
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    find(samples, name, labels)
        .unwrap_or_else(|| panic!("no sample {name} {labels:?}"))
        .value
}

fn scrape(addr: SocketAddr) -> (Vec<Sample>, HashMap<String, String>) {
    let (code, head, body) = get(addr, "/metrics");
    assert_eq!(code, 200, "{head}\n{body}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    parse(&body).unwrap_or_else(|e| panic!("{e}\n{body}"))
}

fn control(sock: &Path, req: &str) -> serde_json::Value {
    let mut s = UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(b"\n").unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(s), &mut line).unwrap();
    serde_json::from_str(&line).unwrap()
}

#[test]
fn parser_rejects_bad_text() {
    assert!(parse("natrix_x 1\n").is_err(), "sample without TYPE");
    assert!(parse("# TYPE a counter\na{b=\"c} 1\n").is_err());
    assert!(parse("# TYPE a counter\na{b=\"\\q\"} 1\n").is_err());
    assert!(parse("# TYPE a counter\na{b=\"c\"} one\n").is_err());
    assert!(parse("# TYPE a summary\n").is_err());
    let (s, _) = parse("# HELP a x\n# TYPE a counter\na{b=\"q\\\"\\\\\\n\"} 1.5e3\n").unwrap();
    assert_eq!(s[0].labels["b"], "q\"\\\n");
    assert_eq!(s[0].value, 1500.0);
}

#[test]
fn metrics_end_to_end() {
    let d = dir("e2e");
    let sock = d.join("natrix.sock");
    let port = free_port();
    // A bare port: the listener binds to loopback only.
    let _app = Appliance::launch(&web_toml(), &sock)
        .option("--metrics")
        .option(&port.to_string())
        .start();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let t = Instant::now();
    let t0 = t;
    while UnixStream::connect(&sock).is_err() || TcpStream::connect(addr).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "natrix did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Not reachable through another address than 127.0.0.1 (127.0.0.2 is
    // on the loopback interface too: a wildcard bind would accept it).
    let other: SocketAddr = format!("127.0.0.2:{port}").parse().unwrap();
    assert!(
        TcpStream::connect_timeout(&other, Duration::from_secs(2)).is_err(),
        "the default bind must be 127.0.0.1 only"
    );

    // The listener opens before the workers start: wait for packets.
    let (first, types) = loop {
        let (s, t) = scrape(addr);
        if find(&s, "natrix_packets_received_total", &[("worker", "0")])
            .is_some_and(|x| x.value > 0.0)
        {
            break (s, t);
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "no packets counted");
        std::thread::sleep(Duration::from_millis(100));
    };
    for (name, kind) in [
        ("natrix_packets_received_total", "counter"),
        ("natrix_packets_sent_total", "counter"),
        ("natrix_packets_dropped_total", "counter"),
        ("natrix_drops_total", "counter"),
        ("natrix_events_total", "counter"),
        ("natrix_active_connections", "gauge"),
        ("natrix_flow_table_occupancy_ratio", "gauge"),
        ("natrix_frontend_connections_total", "counter"),
        ("natrix_frontend_packets_total", "counter"),
        ("natrix_backend_connections_total", "counter"),
        ("natrix_backend_packets_total", "counter"),
        ("natrix_backend_up", "gauge"),
        ("natrix_backend_weight", "gauge"),
        ("natrix_uptime_seconds", "gauge"),
    ] {
        assert_eq!(types.get(name).map(String::as_str), Some(kind), "{name}");
    }
    // Every counter's name ends in _total.
    for (name, kind) in &types {
        assert_eq!(kind == "counter", name.ends_with("_total"), "{name}");
    }
    let w0 = [("worker", "0")];
    // net_null delivers packets without end: they are received and dropped.
    let rx = value(&first, "natrix_packets_received_total", &w0);
    assert!(rx > 0.0);
    let sent = value(&first, "natrix_packets_sent_total", &w0);
    let dropped = value(&first, "natrix_packets_dropped_total", &w0);
    assert!(sent + dropped <= rx, "{sent} + {dropped} > {rx}");
    assert!(value(&first, "natrix_active_connections", &w0) >= 0.0);
    let occ = value(&first, "natrix_flow_table_occupancy_ratio", &w0);
    assert!((0.0..=1.0).contains(&occ));
    // Every drop reason, zeros included.
    for reason in [
        "no-service",
        "unsupported-ethertype",
        "ttl-expired",
        "tx-full",
        "malformed-eth",
    ] {
        assert!(value(&first, "natrix_drops_total", &[("reason", reason)]) >= 0.0);
    }
    assert_eq!(
        first
            .iter()
            .filter(|s| s.name == "natrix_drops_total")
            .count(),
        natrix::dataplane::counters::DropReason::COUNT
    );
    assert!(find(
        &first,
        "natrix_events_total",
        &[("event", "connection-created")]
    )
    .is_some());
    let web = [
        ("frontend", "web"),
        ("address", "198.18.1.10:80"),
        ("protocol", "tcp"),
    ];
    assert!(value(&first, "natrix_frontend_connections_total", &web) >= 0.0);
    assert!(value(&first, "natrix_frontend_packets_total", &web) >= 0.0);
    let be = |addr: &'static str| [("pool", "web"), ("frontend", "web"), ("backend", addr)];
    assert!(
        value(
            &first,
            "natrix_backend_connections_total",
            &be("198.19.1.11:8080")
        ) >= 0.0
    );
    assert!(
        value(
            &first,
            "natrix_backend_packets_total",
            &be("198.19.1.11:8080")
        ) >= 0.0
    );
    assert_eq!(
        value(&first, "natrix_backend_up", &be("198.19.1.11:8080")),
        1.0
    );
    assert_eq!(
        value(&first, "natrix_backend_weight", &be("198.19.1.11:8080")),
        1.0
    );
    assert!(value(&first, "natrix_uptime_seconds", &[]) > 0.0);

    // Runtime changes show: a drained backend is still up with weight 0, a
    // removed one is down (and keeps its counters).
    for req in [
        r#"{"version":1,"command":"backend-drain","pool":"web","address":"198.19.1.11:8080"}"#,
        r#"{"version":1,"command":"backend-remove","pool":"web","address":"198.19.1.12:8080"}"#,
        r#"{"version":1,"command":"backend-add","pool":"web","address":"198.19.1.14:8080","weight":5}"#,
    ] {
        assert_eq!(control(&sock, req)["ok"], true, "{req}");
    }
    std::thread::sleep(Duration::from_millis(1100));
    let (second, _) = scrape(addr);
    assert_eq!(
        value(&second, "natrix_backend_up", &be("198.19.1.11:8080")),
        1.0
    );
    assert_eq!(
        value(&second, "natrix_backend_weight", &be("198.19.1.11:8080")),
        0.0
    );
    assert_eq!(
        value(&second, "natrix_backend_up", &be("198.19.1.12:8080")),
        0.0
    );
    assert_eq!(
        value(&second, "natrix_backend_weight", &be("198.19.1.14:8080")),
        5.0
    );
    assert_eq!(
        value(&second, "natrix_backend_up", &be("198.19.1.14:8080")),
        1.0
    );
    // Counters never go backwards.
    let now: HashMap<String, f64> = second.iter().map(|s| (s.key(), s.value)).collect();
    for s in first.iter().filter(|s| s.name.ends_with("_total")) {
        let v = now
            .get(&s.key())
            .unwrap_or_else(|| panic!("{} disappeared", s.key()));
        assert!(*v >= s.value, "{} went from {} to {v}", s.key(), s.value);
    }
    assert!(value(&second, "natrix_packets_received_total", &w0) > rx);
    assert!(
        value(&second, "natrix_uptime_seconds", &[]) > value(&first, "natrix_uptime_seconds", &[])
    );

    // Other paths: 404. Garbage: 400 or a clean close. Nothing kills it.
    assert_eq!(get(addr, "/").0, 404);
    assert_eq!(get(addr, "/metricsx").0, 404);
    for garbage in [
        &b"\x00\x01\x02 garbage\r\n\r\n"[..],
        b"GET /metrics\r\n\r\n",
        b"hello\n\n",
        b"",
    ] {
        if let Some((code, _, _)) = http_raw(addr, garbage) {
            assert_eq!(code, 400, "{garbage:?}");
        }
    }
    // A client that connects and says nothing does not block others.
    let _idle = TcpStream::connect(addr).unwrap();
    // A huge request head is refused, not buffered without end.
    let big = format!(
        "GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n",
        "a".repeat(100_000)
    );
    if let Some((code, _, _)) = http_raw(addr, big.as_bytes()) {
        assert!(code >= 400, "{code}");
    }
    let (third, _) = scrape(addr);
    assert!(value(&third, "natrix_packets_received_total", &w0) > 0.0);
}

#[test]
fn replay_metrics_need_control() {
    let o = Command::new(NATRIX)
        .args(["replay", "--config"])
        .arg(web_toml())
        .args(["--pcap", "/nonexistent.pcap", "--metrics", "127.0.0.1:1"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--metrics needs --control"), "{err}");
}

#[test]
fn replay_serves_metrics() {
    let d = dir("replay");
    let pcap = d.join("web.pcap");
    let sock = d.join("natrix.sock");
    let o = Command::new(NATRIX)
        .args(["gen", "--connections", "50", "--config"])
        .arg(web_toml())
        .arg("--out")
        .arg(&pcap)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let child = Command::new(NATRIX)
        .args(["replay", "--pace", "200", "--loops", "100", "--config"])
        .arg(web_toml())
        .arg("--pcap")
        .arg(&pcap)
        .arg("--control")
        .arg(&sock)
        .args(["--metrics", &addr.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _proc = Proc(child);
    let t = Instant::now();
    while TcpStream::connect(addr).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "replay did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Wait until the workers have received something.
    loop {
        let (s, _) = scrape(addr);
        if find(&s, "natrix_packets_received_total", &[("worker", "0")])
            .is_some_and(|x| x.value > 0.0)
        {
            assert!(
                value(
                    &s,
                    "natrix_events_total",
                    &[("event", "connection-created")]
                ) > 0.0
            );
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "no packets counted");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `natrix run` with a metrics listener on a free loopback port; returns once
/// a scrape answers 200.
fn appliance_with_metrics(name: &str) -> (Appliance, SocketAddr) {
    let d = dir(name);
    let sock = d.join("natrix.sock");
    let port = free_port();
    let app = Appliance::launch(&web_toml(), &sock)
        .option("--metrics")
        .option(&port.to_string())
        .start();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let t = Instant::now();
    while TcpStream::connect(addr).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "natrix did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    scrape(addr);
    (app, addr)
}

/// How a connection that keeps sending a request too slowly ended.
#[derive(Debug, PartialEq, Eq)]
enum Cut {
    /// The server closed it, or answered it (with an error: the request
    /// never ended), this long after the connection opened.
    After(Duration),
    /// Still open at the end of the test.
    Never,
}

/// Connects to `addr` and sends `chunks` one after the other, `every` apart,
/// until the server closes the connection (or answers), or `give_up` passes.
fn trickle(addr: SocketAddr, chunks: &[&[u8]], every: Duration, give_up: Duration) -> Cut {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    let t = Instant::now();
    let mut buf = [0u8; 4096];
    for chunk in chunks.iter().cycle() {
        if s.write_all(chunk).is_err() {
            return Cut::After(t.elapsed());
        }
        // Wait `every` for the server's word: an answer or a close.
        let next = Instant::now() + every;
        loop {
            let left = next.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            s.set_read_timeout(Some(left)).unwrap();
            match s.read(&mut buf) {
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                _ => return Cut::After(t.elapsed()),
            }
        }
        if t.elapsed() > give_up {
            return Cut::Never;
        }
    }
    unreachable!("chunks cycle without end")
}

/// One GET /metrics with a client that waits up to `wait` for the answer;
/// the status code, or None when the server closed without one.
fn get_within(addr: SocketAddr, wait: Duration) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&addr, wait).ok()?;
    s.set_read_timeout(Some(wait)).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .ok()?;
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    text.split(' ').nth(1)?.parse().ok()
}

/// The deadline is per request, not per read: a client that sends nothing, one
/// that sends its request line a byte at a time and one that sends header
/// lines without end are each cut off, although each sends something more
/// often than any per-read timeout would notice.
#[test]
fn slow_requests_are_cut_off() {
    let (_app, addr) = appliance_with_metrics("deadline");
    let give_up = Duration::from_secs(30);
    // The server must cut each one off within this (its deadline is 5 s).
    let within = Duration::from_secs(15);
    let silent = std::thread::spawn(move || trickle(addr, &[b""], Duration::from_secs(1), give_up));
    let request_line: Vec<&[u8]> = b"GET /metrics HTTP/1.1\r\n".chunks(1).collect();
    let one_byte =
        std::thread::spawn(move || trickle(addr, &request_line, Duration::from_secs(2), give_up));
    let endless = std::thread::spawn(move || {
        trickle(
            addr,
            &[b"GET /metrics HTTP/1.1\r\n", b"X-More: yes\r\n"],
            Duration::from_secs(1),
            give_up,
        )
    });
    for (what, cut) in [
        ("silent", silent.join().unwrap()),
        ("a byte every 2 s", one_byte.join().unwrap()),
        ("a header line every second", endless.join().unwrap()),
    ] {
        eprintln!("{what}: {cut:?}");
        match cut {
            Cut::After(d) => assert!(d < within, "{what}: cut off only after {d:?}"),
            Cut::Never => panic!("{what}: never cut off in {give_up:?}"),
        }
    }
    // The listener still serves.
    scrape(addr);
}

/// Slowloris: more clients than the connection limit each send their request
/// a byte every 2 s, and open a new connection whenever one is cut off. A
/// scraper still gets its metrics, every time, within a deadline.
#[test]
fn slow_clients_do_not_hold_the_listener() {
    let (_app, addr) = appliance_with_metrics("slowloris");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let opened = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    const SLOW: usize = 24;
    let attack_ends = Instant::now() + Duration::from_secs(120);
    let slow: Vec<_> = (0..SLOW)
        .map(|_| {
            let stop = stop.clone();
            let opened = opened.clone();
            std::thread::spawn(move || {
                use std::sync::atomic::Ordering::Relaxed;
                while !stop.load(Relaxed) && Instant::now() < attack_ends {
                    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                    else {
                        std::thread::sleep(Duration::from_millis(200));
                        continue;
                    };
                    opened.fetch_add(1, Relaxed);
                    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                    let mut buf = [0u8; 512];
                    for b in b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".iter().cycle() {
                        if stop.load(Relaxed) || s.write_all(&[*b]).is_err() {
                            break;
                        }
                        // Waits 2 s unless the server answers or closes.
                        match s.read(&mut buf) {
                            Err(e)
                                if matches!(
                                    e.kind(),
                                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                                ) => {}
                            _ => break,
                        }
                    }
                    // Cut off or refused: come back soon.
                    std::thread::sleep(Duration::from_millis(200));
                }
            })
        })
        .collect();
    // Every slow client has connected at least once.
    let t = Instant::now();
    while opened.load(std::sync::atomic::Ordering::Relaxed) < SLOW {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "slow clients did not connect"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Each of three scrapes, one after the other, is answered 200 within
    // the deadline (a scraper's default timeout is 10 s; this allows for a
    // loaded machine).
    let deadline = Duration::from_secs(20);
    let mut answers = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let got = loop {
            let left = deadline.saturating_sub(t.elapsed());
            match get_within(addr, left.max(Duration::from_millis(100))) {
                Some(200) => break Some(t.elapsed()),
                _ if t.elapsed() >= deadline => break None,
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        };
        answers.push(got);
    }
    eprintln!("scrapes during the attack answered after {answers:?}");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for h in slow {
        h.join().unwrap();
    }
    assert!(
        answers.iter().all(Option::is_some),
        "scrapes during the attack (None: no 200 within {deadline:?}): {answers:?}"
    );
}

/// The scraper chooses the format: OpenMetrics when its `Accept` header asks
/// for it (as Prometheus does), the text format otherwise. HEAD gets the
/// head alone, other methods a 405; every answer closes the connection.
#[test]
fn formats_and_methods() {
    let (_app, addr) = appliance_with_metrics("formats");
    let (code, head, body) = http_raw(
        addr,
        b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nAccept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n\r\n",
    )
    .expect("an answer");
    assert_eq!(code, 200, "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(
        lower.contains("content-type: application/openmetrics-text; version=1.0.0"),
        "{head}"
    );
    assert!(lower.contains("connection: close"), "{head}");
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.last(), Some(&"# EOF"), "{body}");
    assert!(lines.contains(&"# TYPE natrix_packets_received counter"));
    assert!(lines.contains(&"# TYPE natrix_uptime_seconds gauge"));
    assert!(lines.contains(&"# UNIT natrix_uptime_seconds seconds"));
    assert!(lines
        .iter()
        .any(|l| l.starts_with("natrix_packets_received_total{worker=\"0\"} ")));

    // Without an Accept header: the text format.
    let (code, head, body) =
        http_raw(addr, b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n").expect("an answer");
    assert_eq!(code, 200);
    assert!(head
        .to_ascii_lowercase()
        .contains("content-type: text/plain; version=0.0.4"));
    parse(&body).unwrap_or_else(|e| panic!("{e}\n{body}"));

    let (code, head, body) =
        http_raw(addr, b"HEAD /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n").expect("an answer");
    assert_eq!(code, 200, "{head}");
    assert!(body.is_empty(), "{body}");
    let (code, head, _) = http_raw(
        addr,
        b"POST /metrics HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n",
    )
    .expect("an answer");
    assert_eq!(code, 405, "{head}");
    assert!(
        head.to_ascii_lowercase().contains("allow: get, head"),
        "{head}"
    );
}

/// IPv6 frontends and backends in the scrape: `[address]:port`, and a
/// `family` label on frontend and backend series (IPv4 ones say "ipv4").
#[test]
fn ipv6_series_carry_their_family() {
    let d = dir("ipv6");
    let sock = d.join("natrix.sock");
    let port = free_port();
    let _app = Appliance::launch(&support::fixtures::example("ipv6.toml"), &sock)
        .option("--metrics")
        .option(&port.to_string())
        .start();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let t = Instant::now();
    let samples = loop {
        // A scrape before the management loop answers gets a 503: wait
        // for a full one.
        if TcpStream::connect(addr).is_ok() && get(addr, "/metrics").0 == 200 {
            let (s, _) = scrape(addr);
            if find(&s, "natrix_backend_up", &[("pool", "web6")]).is_some() {
                break s;
            }
        }
        assert!(t.elapsed() < Duration::from_secs(30), "no backend series");
        std::thread::sleep(Duration::from_millis(50));
    };
    let v6 = |backend: &'static str| {
        [
            ("pool", "web6"),
            ("frontend", "web6"),
            ("backend", backend),
            ("family", "ipv6"),
        ]
    };
    assert_eq!(
        value(&samples, "natrix_backend_up", &v6("[2001:db8:1::11]:8080")),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            "natrix_backend_weight",
            &v6("[2001:db8:1::12]:8080")
        ),
        2.0
    );
    assert!(find(
        &samples,
        "natrix_backend_connections_total",
        &v6("[2001:db8:1::11]:8080")
    )
    .is_some());
    assert!(find(
        &samples,
        "natrix_backend_up",
        &[("backend", "[2001:db8:1::22]:22"), ("family", "ipv6")]
    )
    .is_some());
    assert_eq!(
        value(
            &samples,
            "natrix_backend_up",
            &[("backend", "198.19.1.11:8080"), ("family", "ipv4")]
        ),
        1.0
    );
    for (fe, address, family) in [
        ("web6", "[2001:db8::10]:80", "ipv6"),
        ("ssh6", "[2001:db8::10]:2222", "ipv6"),
        ("web", "198.18.1.10:80", "ipv4"),
    ] {
        let labels = [("frontend", fe), ("address", address), ("family", family)];
        assert!(
            find(&samples, "natrix_frontend_connections_total", &labels).is_some(),
            "{labels:?}"
        );
    }
    // Every frontend and backend series has the label.
    for s in &samples {
        if s.name.starts_with("natrix_frontend_") || s.name.starts_with("natrix_backend_") {
            assert!(s.labels.contains_key("family"), "{s:?}");
        }
    }
    std::fs::remove_dir_all(&d).ok();
}
