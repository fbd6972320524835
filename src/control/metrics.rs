//! Prometheus metrics: a small HTTP/1.1 listener (`--metrics ADDR`) that
//! answers `GET /metrics` with natrix's statistics in the Prometheus text
//! exposition format, version 0.0.4.
//!
//! The listener never touches the data path or the control plane: it asks
//! the management loop for a `stats` report through an [`Asker`], exactly as
//! a control-socket client does, and renders that report.

use crate::control::protocol::{
    BackendStats, Command, FrontendStats, Outcome, Request, StatsReport, WorkerStats,
};
use crate::control::socket::Asker;
use crate::dataplane::snapshot::BackendStatus;
use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The port used when `--metrics` is given without one.
pub const DEFAULT_PORT: u16 = 9100;

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Longest request head (request line and headers) read.
const MAX_HEAD: usize = 8 * 1024;
/// Connections served at once; more are answered 503 at once.
const MAX_CONNECTIONS: usize = 16;
/// How long a client may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to wait for the management loop's answer.
const ASK_TIMEOUT: Duration = Duration::from_secs(2);

/// Why the metrics listener could not start.
#[derive(Debug)]
pub enum MetricsError {
    /// A `--metrics` value that names no address.
    Address(String),
    Listen(SocketAddr, io::Error),
    /// The bound address could not be read back.
    LocalAddr(io::Error),
    /// The listener's thread could not start.
    Thread(io::Error),
}

impl std::fmt::Display for MetricsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MetricsError::Address(s) => write!(
                f,
                "--metrics {s:?}: expected PORT, ADDRESS:PORT or HOST:PORT (for example 127.0.0.1:{DEFAULT_PORT})"
            ),
            MetricsError::Listen(addr, e) => write!(f, "--metrics {addr}: cannot listen: {e}"),
            MetricsError::LocalAddr(e) => e.fmt(f),
            MetricsError::Thread(e) => write!(f, "metrics thread: {e}"),
        }
    }
}

impl std::error::Error for MetricsError {}

/// Parses a `--metrics` value. A bare port (`9100` or `:9100`) binds to the
/// loopback address 127.0.0.1; other interfaces only when the operator names
/// an address (`0.0.0.0:9100`, `192.0.2.1:9100`).
pub fn parse_listen(s: &str) -> Result<SocketAddr, MetricsError> {
    let s = s.trim();
    let bare = s.strip_prefix(':').unwrap_or(s);
    if let Ok(port) = bare.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, DEFAULT_PORT));
    }
    s.to_socket_addrs()
        .ok()
        .and_then(|mut it| it.next())
        .ok_or_else(|| MetricsError::Address(s.to_string()))
}

/// The default listening address: loopback, port 9100.
pub fn default_listen() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), DEFAULT_PORT)
}

/// Counter or gauge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        }
    }
}

/// A sample value: integers stay exact.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    Int(u64),
    Float(f64),
}

impl Value {
    fn as_f64(self) -> f64 {
        match self {
            Value::Int(n) => n as f64,
            Value::Float(f) => f,
        }
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Value::Int(n) => write!(f, "{n}"),
            Value::Float(x) if x.is_nan() => f.write_str("NaN"),
            Value::Float(x) if x.is_infinite() => {
                f.write_str(if x > 0.0 { "+Inf" } else { "-Inf" })
            }
            Value::Float(x) => write!(f, "{x}"),
        }
    }
}

/// A sample's labels, as (name, unescaped value).
pub type Labels = Vec<(&'static str, String)>;

/// One metric family: its HELP and TYPE lines and its samples.
#[derive(Clone, Debug)]
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    pub samples: Vec<(Labels, Value)>,
}

/// Escapes a label value: backslash, double quote and newline.
pub fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes HELP text: backslash and newline.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

fn label_text(labels: &[(&'static str, String)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// A metric family in the table: its name, type and help, and how to read
/// its sample off one row (a worker, a frontend, a backend, ...).
struct Spec<T> {
    name: &'static str,
    kind: Kind,
    help: &'static str,
    value: fn(&T) -> Value,
}

/// Labelled by `worker`.
const WORKER_FAMILIES: [Spec<WorkerStats>; 10] = [
    Spec {
        name: "natrix_packets_received_total",
        kind: Kind::Counter,
        help: "Packets received by each worker.",
        value: |w| Value::Int(w.rx),
    },
    Spec {
        name: "natrix_packets_sent_total",
        kind: Kind::Counter,
        help: "Packets sent by each worker.",
        value: |w| Value::Int(w.tx),
    },
    Spec {
        name: "natrix_packets_dropped_total",
        kind: Kind::Counter,
        help: "Packets dropped by each worker, for any reason.",
        value: |w| Value::Int(w.dropped),
    },
    Spec {
        name: "natrix_receive_packets_per_second",
        kind: Kind::Gauge,
        help: "Packets received per second by each worker, over the last second.",
        value: |w| Value::Float(w.rx_pps),
    },
    Spec {
        name: "natrix_send_packets_per_second",
        kind: Kind::Gauge,
        help: "Packets sent per second by each worker, over the last second.",
        value: |w| Value::Float(w.tx_pps),
    },
    Spec {
        name: "natrix_drop_packets_per_second",
        kind: Kind::Gauge,
        help: "Packets dropped per second by each worker, over the last second.",
        value: |w| Value::Float(w.drop_pps),
    },
    Spec {
        name: "natrix_active_connections",
        kind: Kind::Gauge,
        help: "Flow-table entries in use (live or not yet reclaimed) in each worker.",
        value: |w| Value::Int(w.active_connections),
    },
    Spec {
        name: "natrix_flow_table_capacity",
        kind: Kind::Gauge,
        help: "Flow-table entries of each worker.",
        value: |w| Value::Int(w.table_capacity),
    },
    Spec {
        name: "natrix_flow_table_occupancy_ratio",
        kind: Kind::Gauge,
        help: "Active connections over flow-table capacity, 0 to 1, of each worker.",
        value: |w| Value::Float(w.occupancy),
    },
    Spec {
        name: "natrix_new_connections_per_second",
        kind: Kind::Gauge,
        help: "New connections per second in each worker, over the last second.",
        value: |w| Value::Float(w.new_connections_per_sec),
    },
];

/// Labelled by `reason`.
const DROP_FAMILIES: [Spec<u64>; 1] = [Spec {
    name: "natrix_drops_total",
    kind: Kind::Counter,
    help: "Packets dropped, by reason (all workers).",
    value: |n| Value::Int(*n),
}];

/// Labelled by `event`.
const EVENT_FAMILIES: [Spec<u64>; 1] = [Spec {
    name: "natrix_events_total",
    kind: Kind::Counter,
    help: "Events of packets that were sent, by event (all workers).",
    value: |n| Value::Int(*n),
}];

/// Labelled by `frontend`, `address` and `protocol`.
const FRONTEND_FAMILIES: [Spec<FrontendStats>; 4] = [
    Spec {
        name: "natrix_frontend_connections_total",
        kind: Kind::Counter,
        help: "New connections to each frontend.",
        value: |f| Value::Int(f.connections),
    },
    Spec {
        name: "natrix_frontend_packets_total",
        kind: Kind::Counter,
        help: "Packets translated for each frontend's connections, both directions.",
        value: |f| Value::Int(f.packets),
    },
    Spec {
        name: "natrix_frontend_new_connections_per_second",
        kind: Kind::Gauge,
        help: "New connections per second to each frontend, over the last second.",
        value: |f| Value::Float(f.new_connections_per_sec),
    },
    Spec {
        name: "natrix_frontend_packets_per_second",
        kind: Kind::Gauge,
        help: "Packets per second of each frontend's connections, over the last second.",
        value: |f| Value::Float(f.pps),
    },
];

/// Labelled by `pool`, `frontend` and `backend`.
const BACKEND_FAMILIES: [Spec<BackendRow>; 5] = [
    Spec {
        name: "natrix_backend_connections_total",
        kind: Kind::Counter,
        help: "New connections given to each backend.",
        value: |b| Value::Int(b.connections),
    },
    Spec {
        name: "natrix_backend_packets_total",
        kind: Kind::Counter,
        help: "Packets sent to (inbound) or from (return) each backend.",
        value: |b| Value::Int(b.packets),
    },
    Spec {
        name: "natrix_backend_packets_per_second",
        kind: Kind::Gauge,
        help: "Packets per second to and from each backend, over the last second.",
        value: |b| Value::Float(b.pps),
    },
    Spec {
        name: "natrix_backend_up",
        kind: Kind::Gauge,
        help: "1 when the backend is active or draining and not failing health checks, else 0.",
        value: |b| Value::Int(u64::from(b.up)),
    },
    Spec {
        name: "natrix_backend_weight",
        kind: Kind::Gauge,
        help: "The backend's weight (0: takes no new connections).",
        value: |b| Value::Int(u64::from(b.weight)),
    },
];

/// Without labels.
const REPORT_FAMILIES: [Spec<StatsReport>; 1] = [Spec {
    name: "natrix_uptime_seconds",
    kind: Kind::Gauge,
    help: "Seconds since the management loop started.",
    value: |r| Value::Float(r.uptime_seconds),
}];

/// One family per spec, with one sample per row.
fn table<T, R: Borrow<T>>(specs: &[Spec<T>], rows: &[(Labels, R)]) -> Vec<Family> {
    specs
        .iter()
        .map(|s| Family {
            name: s.name,
            help: s.help,
            kind: s.kind,
            samples: rows
                .iter()
                .map(|(labels, row)| (labels.clone(), (s.value)(row.borrow())))
                .collect(),
        })
        .collect()
}

/// Backend series are keyed by (pool, frontend, backend); should two entries
/// share a key (not expected: backend ids are never reused), their counters
/// are summed and the gauges of a live entry win over a removed one.
#[derive(Default)]
struct BackendRow {
    connections: u64,
    packets: u64,
    pps: f64,
    weight: u32,
    up: bool,
    live: bool,
}

fn backend_rows(backends: &[BackendStats]) -> Vec<(Labels, BackendRow)> {
    let mut rows: BTreeMap<(String, String, String), BackendRow> = BTreeMap::new();
    for b in backends {
        let row = rows
            .entry((b.pool.clone(), b.frontend.clone(), b.address.clone()))
            .or_default();
        row.connections += b.connections;
        row.packets += b.packets;
        row.pps += b.pps;
        let live = b.state != BackendStatus::Removed;
        if live || !row.live {
            row.weight = b.weight;
            row.up = matches!(b.state, BackendStatus::Active | BackendStatus::Draining)
                && b.healthy != Some(false);
            row.live = live;
        }
    }
    rows.into_iter()
        .map(|((pool, frontend, backend), row)| {
            (
                vec![("pool", pool), ("frontend", frontend), ("backend", backend)],
                row,
            )
        })
        .collect()
}

/// The metric families of one statistics report.
pub fn families(r: &StatsReport) -> Vec<Family> {
    let by = |label: &'static str, counts: &BTreeMap<String, u64>| -> Vec<(Labels, u64)> {
        counts
            .iter()
            .map(|(k, n)| (vec![(label, k.clone())], *n))
            .collect()
    };
    let workers: Vec<(Labels, &WorkerStats)> = r
        .workers
        .iter()
        .enumerate()
        .map(|(i, w)| (vec![("worker", i.to_string())], w))
        .collect();
    let frontends: Vec<(Labels, &FrontendStats)> = r
        .frontends
        .iter()
        .map(|f| {
            let labels = vec![
                ("frontend", f.name.clone()),
                ("address", f.address.clone()),
                ("protocol", f.protocol.clone()),
            ];
            (labels, f)
        })
        .collect();
    let mut out = table(&WORKER_FAMILIES, &workers);
    out.extend(table(&DROP_FAMILIES, &by("reason", &r.drops)));
    out.extend(table(&EVENT_FAMILIES, &by("event", &r.events)));
    out.extend(table(&FRONTEND_FAMILIES, &frontends));
    out.extend(table(&BACKEND_FAMILIES, &backend_rows(&r.backends)));
    out.extend(table(&REPORT_FAMILIES, &[(Vec::new(), r)]));
    out
}

/// Writes families in the text exposition format.
pub fn write_families(fams: &[Family]) -> String {
    let mut out = String::new();
    for f in fams {
        let _ = writeln!(out, "# HELP {} {}", f.name, escape_help(f.help));
        let _ = writeln!(out, "# TYPE {} {}", f.name, f.kind.name());
        for (labels, v) in &f.samples {
            let _ = writeln!(out, "{}{} {}", f.name, label_text(labels), v);
        }
    }
    out
}

/// Renders one statistics report in the text exposition format.
pub fn render(r: &StatsReport) -> String {
    write_families(&families(r))
}

/// Keeps counters from going backwards between scrapes: each counter series
/// reports at least the last value it reported, and a series that disappears
/// (after a reload, say) keeps being reported with its last value.
#[derive(Default)]
pub struct Monotonic {
    /// (family, label text) -> (labels, last value).
    last: HashMap<(&'static str, String), (Labels, Value)>,
}

impl Monotonic {
    pub fn apply(&mut self, fams: &mut [Family]) {
        for f in fams.iter_mut().filter(|f| f.kind == Kind::Counter) {
            let mut seen = std::collections::HashSet::new();
            for (labels, v) in f.samples.iter_mut() {
                let key = (f.name, label_text(labels));
                match self.last.get(&key) {
                    Some((_, prev)) if prev.as_f64() > v.as_f64() => *v = *prev,
                    _ => {}
                }
                self.last.insert(key.clone(), (labels.clone(), *v));
                seen.insert(key.1);
            }
            let mut gone: Vec<_> = self
                .last
                .iter()
                .filter(|((name, text), _)| *name == f.name && !seen.contains(text))
                .map(|(k, (labels, v))| (k.1.clone(), labels.clone(), *v))
                .collect();
            gone.sort_by(|a, b| a.0.cmp(&b.0));
            for (_, labels, v) in gone {
                f.samples.push((labels, v));
            }
        }
    }
}

/// A running metrics listener. Stops (and joins its thread) when dropped.
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Listens on `addr` and serves `/metrics` from the answers of `asker`.
    pub fn start(addr: SocketAddr, asker: Asker) -> Result<MetricsServer, MetricsError> {
        let listener = TcpListener::bind(addr).map_err(|e| MetricsError::Listen(addr, e))?;
        let addr = listener.local_addr().map_err(MetricsError::LocalAddr)?;
        let stop = Arc::new(AtomicBool::new(false));
        let state = Arc::new(Shared {
            asker,
            monotonic: Mutex::new(Monotonic::default()),
            busy: AtomicUsize::new(0),
        });
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("natrix-metrics".into())
                .spawn(move || accept_loop(listener, &stop, state))
                .map_err(MetricsError::Thread)?
        };
        if !addr.ip().is_loopback() {
            log::warn!("metrics listen on {addr}, not only on loopback");
        }
        Ok(MetricsServer {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// The address actually bound (port 0 resolved).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop.
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
            });
        }
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Shared {
    asker: Asker,
    monotonic: Mutex<Monotonic>,
    busy: AtomicUsize,
}

fn accept_loop(listener: TcpListener, stop: &AtomicBool, state: Arc<Shared>) {
    for stream in listener.incoming() {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let Ok(mut stream) = stream else {
            // Out of descriptors, say: do not spin.
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        if state.busy.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
            state.busy.fetch_sub(1, Ordering::AcqRel);
            let _ = respond(
                &mut stream,
                503,
                "text/plain",
                b"too many connections\n",
                false,
            );
            continue;
        }
        let st = state.clone();
        let spawned = std::thread::Builder::new()
            .name("natrix-metrics-conn".into())
            .spawn(move || {
                serve(stream, &st);
                st.busy.fetch_sub(1, Ordering::AcqRel);
            });
        if spawned.is_err() {
            state.busy.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Reads the request head (up to the blank line). None: the client closed
/// or timed out before sending a whole head, or sent too much.
fn read_head(stream: &mut TcpStream) -> Result<Vec<u8>, u16> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = find(&buf, b"\r\n\r\n").or_else(|| find(&buf, b"\n\n")) {
            buf.truncate(end);
            return Ok(buf);
        }
        if buf.len() > MAX_HEAD {
            return Err(431);
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => {
                // A request line alone, then EOF: still answer it.
                return if buf.is_empty() { Err(0) } else { Ok(buf) };
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// What a request asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    Metrics { head_only: bool },
    NotFound,
    MethodNotAllowed,
    BadRequest,
}

/// Routes a request head (request line and headers).
pub fn route(head: &[u8]) -> Route {
    let Ok(text) = std::str::from_utf8(head) else {
        return Route::BadRequest;
    };
    let line = text.lines().next().unwrap_or("").trim_end_matches('\r');
    let parts: Vec<&str> = line.split(' ').collect();
    let [method, target, version] = parts[..] else {
        return Route::BadRequest;
    };
    let valid_method = !method.is_empty() && method.bytes().all(|b| b.is_ascii_uppercase());
    if !valid_method
        || !target.starts_with('/')
        || target.bytes().any(|b| b <= b' ' || b == 0x7f)
        || !matches!(version, "HTTP/1.0" | "HTTP/1.1")
    {
        return Route::BadRequest;
    }
    // Header lines must look like "Name: value".
    for h in text.lines().skip(1) {
        let h = h.trim_end_matches('\r');
        if !h.is_empty() && !h.contains(':') {
            return Route::BadRequest;
        }
    }
    let path = target.split('?').next().unwrap_or(target);
    if path != "/metrics" {
        return Route::NotFound;
    }
    match method {
        "GET" => Route::Metrics { head_only: false },
        "HEAD" => Route::Metrics { head_only: true },
        _ => Route::MethodNotAllowed,
    }
}

fn serve(mut stream: TcpStream, st: &Shared) {
    let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
    let _ = stream.set_write_timeout(Some(READ_TIMEOUT));
    let head = match read_head(&mut stream) {
        Ok(h) => h,
        Err(0) => return,
        Err(code) => {
            let _ = respond(
                &mut stream,
                code,
                "text/plain",
                b"request too large\n",
                false,
            );
            return;
        }
    };
    let _ = match route(&head) {
        Route::Metrics { head_only } => match scrape(st) {
            Ok(text) => respond(&mut stream, 200, CONTENT_TYPE, text.as_bytes(), head_only),
            Err(e) => respond(
                &mut stream,
                503,
                "text/plain",
                format!("{e}\n").as_bytes(),
                head_only,
            ),
        },
        Route::NotFound => respond(
            &mut stream,
            404,
            "text/plain",
            b"not found: natrix serves /metrics\n",
            false,
        ),
        Route::MethodNotAllowed => respond(
            &mut stream,
            405,
            "text/plain",
            b"method not allowed: use GET\n",
            false,
        ),
        Route::BadRequest => respond(&mut stream, 400, "text/plain", b"bad request\n", false),
    };
    let _ = stream.flush();
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

fn scrape(st: &Shared) -> Result<String, String> {
    let report = match st
        .asker
        .ask(Request::new(Command::Stats), ASK_TIMEOUT)
        .result
    {
        Ok(Outcome::Stats(r)) => r,
        Ok(_) => return Err("no statistics".into()),
        Err(e) => return Err(e),
    };
    let mut fams = families(&report);
    match st.monotonic.lock() {
        Ok(mut m) => m.apply(&mut fams),
        Err(poisoned) => poisoned.into_inner().apply(&mut fams),
    }
    Ok(write_families(&fams))
}

fn respond(
    stream: &mut TcpStream,
    code: u16,
    content_type: &str,
    body: &[u8],
    head_only: bool,
) -> std::io::Result<()> {
    let reason = match code {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Service Unavailable",
    };
    let mut head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if code == 405 {
        head.push_str("Allow: GET, HEAD\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    if !head_only {
        stream.write_all(body)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::protocol::PROTOCOL_VERSION;

    fn report() -> StatsReport {
        let w = WorkerStats {
            rx: 100,
            tx: 90,
            dropped: 10,
            rx_pps: 1.5,
            tx_pps: 1.0,
            drop_pps: 0.5,
            active_connections: 3,
            table_capacity: 1024,
            occupancy: 3.0 / 1024.0,
            new_connections_per_sec: 2.0,
        };
        StatsReport {
            version: PROTOCOL_VERSION,
            uptime_seconds: 12.5,
            workers: vec![w.clone(), WorkerStats::default()],
            total: w,
            drops: [
                ("no-service".to_string(), 7),
                ("ttl-expired".to_string(), 0),
            ]
            .into_iter()
            .collect(),
            events: [("connection-created".to_string(), 4)]
                .into_iter()
                .collect(),
            frontends: vec![FrontendStats {
                name: "we\"b\\\n".into(),
                address: "198.18.1.10:80".into(),
                protocol: "tcp".into(),
                kind: "balance".into(),
                connections: 4,
                new_connections_per_sec: 0.0,
                packets: 80,
                pps: 0.0,
            }],
            backends: vec![
                BackendStats {
                    pool: "web".into(),
                    frontend: "web".into(),
                    address: "198.19.1.11:8080".into(),
                    weight: 2,
                    state: BackendStatus::Active,
                    healthy: None,
                    connections: 3,
                    packets: 60,
                    pps: 0.0,
                },
                BackendStats {
                    pool: "web".into(),
                    frontend: "web".into(),
                    address: "198.19.1.12:8080".into(),
                    weight: 1,
                    state: BackendStatus::Active,
                    healthy: Some(false),
                    connections: 1,
                    packets: 20,
                    pps: 0.0,
                },
                BackendStats {
                    pool: "web".into(),
                    frontend: "web".into(),
                    address: "198.19.1.13:8080".into(),
                    weight: 0,
                    state: BackendStatus::Removed,
                    healthy: None,
                    connections: 5,
                    packets: 9,
                    pps: 0.0,
                },
            ],
        }
    }

    #[test]
    fn renders_exposition_format() {
        let text = render(&report());
        let has = |l: &str| text.lines().any(|x| x == l);
        assert!(has("# TYPE natrix_packets_received_total counter"));
        assert!(has("natrix_packets_received_total{worker=\"0\"} 100"));
        assert!(has("natrix_packets_received_total{worker=\"1\"} 0"));
        assert!(has("natrix_packets_sent_total{worker=\"0\"} 90"));
        assert!(has("natrix_packets_dropped_total{worker=\"0\"} 10"));
        assert!(has("# TYPE natrix_active_connections gauge"));
        assert!(has("natrix_active_connections{worker=\"0\"} 3"));
        assert!(has("natrix_drops_total{reason=\"no-service\"} 7"));
        assert!(has("natrix_drops_total{reason=\"ttl-expired\"} 0"));
        assert!(has("natrix_events_total{event=\"connection-created\"} 4"));
        assert!(has("natrix_receive_packets_per_second{worker=\"0\"} 1.5"));
        assert!(has("natrix_uptime_seconds 12.5"));
        // Label escaping: backslash, double quote, newline.
        assert!(has(
            r#"natrix_frontend_connections_total{frontend="we\"b\\\n",address="198.18.1.10:80",protocol="tcp"} 4"#
        ));
        assert!(has(
            r#"natrix_backend_connections_total{pool="web",frontend="web",backend="198.19.1.11:8080"} 3"#
        ));
        assert!(has(
            r#"natrix_backend_up{pool="web",frontend="web",backend="198.19.1.11:8080"} 1"#
        ));
        // Unhealthy and removed backends are down.
        assert!(has(
            r#"natrix_backend_up{pool="web",frontend="web",backend="198.19.1.12:8080"} 0"#
        ));
        assert!(has(
            r#"natrix_backend_up{pool="web",frontend="web",backend="198.19.1.13:8080"} 0"#
        ));
        assert!(has(
            r#"natrix_backend_weight{pool="web",frontend="web",backend="198.19.1.11:8080"} 2"#
        ));
        // Every sample's family has HELP and TYPE lines before it.
        let mut typed = std::collections::HashSet::new();
        for l in text.lines() {
            if let Some(rest) = l.strip_prefix("# TYPE ") {
                typed.insert(rest.split(' ').next().unwrap().to_string());
            } else if !l.starts_with('#') {
                let name = l.split(['{', ' ']).next().unwrap();
                assert!(typed.contains(name), "{l}");
            }
        }
    }

    #[test]
    fn escaping() {
        assert_eq!(escape_label("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
        assert_eq!(escape_label("plain"), "plain");
        assert_eq!(Value::Float(f64::NAN).to_string(), "NaN");
        assert_eq!(Value::Float(f64::INFINITY).to_string(), "+Inf");
    }

    #[test]
    fn counters_never_go_backwards() {
        let mut m = Monotonic::default();
        let mut a = families(&report());
        m.apply(&mut a);
        let mut r = report();
        r.workers[0].rx = 50;
        r.backends.pop();
        let mut b = families(&r);
        m.apply(&mut b);
        let text = write_families(&b);
        assert!(text.contains("natrix_packets_received_total{worker=\"0\"} 100\n"));
        assert!(text.contains(
            r#"natrix_backend_connections_total{pool="web",frontend="web",backend="198.19.1.13:8080"} 5"#
        ));
    }

    #[test]
    fn listen_addresses() {
        assert_eq!(parse_listen("9100").unwrap(), default_listen());
        assert_eq!(parse_listen(":9100").unwrap(), default_listen());
        assert_eq!(
            parse_listen("0.0.0.0:9200").unwrap(),
            "0.0.0.0:9200".parse().unwrap()
        );
        assert!(parse_listen("not an address").is_err());
    }

    #[test]
    fn routes() {
        assert_eq!(
            route(b"GET /metrics HTTP/1.1\r\nHost: x"),
            Route::Metrics { head_only: false }
        );
        assert_eq!(
            route(b"GET /metrics?x=1 HTTP/1.0"),
            Route::Metrics { head_only: false }
        );
        assert_eq!(route(b"GET / HTTP/1.1"), Route::NotFound);
        assert_eq!(route(b"POST /metrics HTTP/1.1"), Route::MethodNotAllowed);
        assert_eq!(route(b"\x00\xff garbage"), Route::BadRequest);
        assert_eq!(route(b"GET /metrics"), Route::BadRequest);
        assert_eq!(
            route(b"GET /metrics HTTP/1.1\r\nno colon"),
            Route::BadRequest
        );
    }
}
