//! Backend health probes, run from the management side.
//!
//! A [`HealthChecker`] probes every backend of every pool that has a
//! `[pool.health]` table, each on a small thread of its own, through the
//! host's network stack (plain `std::net` sockets; never from a worker). The
//! management loop drains the verdicts with [`HealthChecker::poll_changes`]
//! (it never blocks) and applies them with
//! [`ControlPlane::set_health`](crate::control::plane::ControlPlane::set_health).
//!
//! The semantics follow the cloud load balancers:
//! * a probe succeeds when a TCP connection opens within the timeout (`tcp`),
//!   or when `GET path` is answered with status 200 within the timeout (`http`);
//! * a healthy backend goes down after `unhealthy_threshold` consecutive
//!   failures, a down backend comes back after `healthy_threshold` consecutive
//!   successes;
//! * probes of one backend start every `interval`, the first one at once;
//! * a backend starts healthy, so that traffic flows before the first probe
//!   has answered (and a fresh natrix does not refuse every connection for
//!   `unhealthy_threshold x interval`).
//!
//! Every transition is logged (`warn` when a backend goes down, `info` when it
//! comes back).

use crate::config::{Config, HealthCheck, HealthProtocol};
use crossbeam::channel::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

/// A backend that went down or came back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthChange {
    pub pool: String,
    /// The backend (its own address and port, not the probed port).
    pub address: SocketAddr,
    pub healthy: bool,
    /// Why: the last probe's result, like "connect: Connection refused".
    pub reason: String,
}

/// One backend's probe state, as [`HealthChecker::status`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendHealth {
    pub pool: String,
    pub address: SocketAddr,
    /// `None`: not probed (the pool has no health check, or no probe has
    /// finished yet; such a backend counts as healthy).
    pub healthy: Option<bool>,
    pub consecutive_failures: u32,
    pub consecutive_successes: u32,
    /// The last failed probe's error, if any probe has failed.
    pub last_error: Option<String>,
    /// When the last probe finished.
    pub last_probe: Option<SystemTime>,
}

/// Probe state shared between a probe thread and the checker.
#[derive(Clone, Debug, Default)]
struct State {
    /// False until the first probe finishes.
    probed: bool,
    healthy: bool,
    failures: u32,
    successes: u32,
    last_error: Option<String>,
    last_probe: Option<SystemTime>,
}

/// A running probe of one backend.
struct Probe {
    /// Distinguishes this probe's messages from those of a stopped predecessor.
    id: u64,
    check: HealthCheck,
    state: Arc<Mutex<State>>,
    /// Dropping it stops the thread (at its next wake-up).
    _stop: Sender<()>,
}

type Key = (String, SocketAddr);

/// Probes backends on threads of its own; see the module documentation.
pub struct HealthChecker {
    probes: HashMap<Key, Probe>,
    /// Backends of pools without a health check, for `status`.
    unprobed: Vec<Key>,
    tx: Sender<(u64, HealthChange)>,
    rx: Receiver<(u64, HealthChange)>,
    /// Changes produced by `update` itself (a probe stopped while down).
    pending: Vec<HealthChange>,
    next_id: u64,
}

impl HealthChecker {
    /// Starts probing every backend of every pool that has `[pool.health]`.
    pub fn new(config: &Config) -> HealthChecker {
        let (tx, rx) = channel::unbounded();
        let mut hc = HealthChecker {
            probes: HashMap::new(),
            unprobed: Vec::new(),
            tx,
            rx,
            pending: Vec::new(),
            next_id: 0,
        };
        hc.update(config);
        hc
    }

    /// Transitions since the last call, oldest first. Never blocks.
    pub fn poll_changes(&mut self) -> Vec<HealthChange> {
        let mut out = std::mem::take(&mut self.pending);
        while let Ok((id, change)) = self.rx.try_recv() {
            let key = (change.pool.clone(), change.address);
            if self.probes.get(&key).is_some_and(|p| p.id == id) {
                out.push(change);
            }
        }
        out
    }

    /// Every backend of every pool of the last configuration given, with its
    /// probe state, sorted by pool name and address. Never blocks on a probe.
    pub fn status(&self) -> Vec<BackendHealth> {
        let mut out: Vec<BackendHealth> = self
            .unprobed
            .iter()
            .map(|(pool, address)| BackendHealth {
                pool: pool.clone(),
                address: *address,
                healthy: None,
                consecutive_failures: 0,
                consecutive_successes: 0,
                last_error: None,
                last_probe: None,
            })
            .collect();
        for ((pool, address), p) in &self.probes {
            let s = p
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            out.push(BackendHealth {
                pool: pool.clone(),
                address: *address,
                healthy: s.probed.then_some(s.healthy),
                consecutive_failures: s.failures,
                consecutive_successes: s.successes,
                last_error: s.last_error,
                last_probe: s.last_probe,
            });
        }
        out.sort_by(|a, b| (&a.pool, a.address).cmp(&(&b.pool, b.address)));
        out
    }

    /// Follows a changed configuration: starts probes of new backends (and of
    /// pools that gained a health check), stops those of removed ones. A
    /// backend whose check changed is probed the new way from its current
    /// state. A backend that was down and is no longer probed (its pool lost
    /// its health check) is reported healthy again by the next `poll_changes`.
    pub fn update(&mut self, config: &Config) {
        let mut wanted: HashMap<Key, HealthCheck> = HashMap::new();
        self.unprobed.clear();
        for pool in &config.pools {
            for b in &pool.backends {
                let key = (pool.name.clone(), SocketAddr::new(b.address, b.port));
                match &pool.health {
                    Some(h) => {
                        wanted.insert(key, h.clone());
                    }
                    None => self.unprobed.push(key),
                }
            }
        }
        let stale: Vec<Key> = self
            .probes
            .iter()
            .filter(|(k, p)| wanted.get(*k) != Some(&p.check))
            .map(|(k, _)| k.clone())
            .collect();
        let mut carried: HashMap<Key, State> = HashMap::new();
        for key in stale {
            let p = self.probes.remove(&key).expect("listed");
            let state = p
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            if wanted.contains_key(&key) {
                carried.insert(key, state);
            } else if !state.healthy {
                let in_config = self.unprobed.contains(&key);
                if in_config {
                    log::info!(
                        "health: pool {:?} backend {} is no longer probed: healthy",
                        key.0,
                        key.1
                    );
                    self.pending.push(HealthChange {
                        pool: key.0.clone(),
                        address: key.1,
                        healthy: true,
                        reason: "health check removed".into(),
                    });
                }
            }
        }
        for (key, check) in wanted {
            if self.probes.contains_key(&key) {
                continue;
            }
            let mut state = carried.remove(&key).unwrap_or(State {
                healthy: true,
                ..State::default()
            });
            state.failures = 0;
            state.successes = 0;
            self.start(key, check, state);
        }
    }

    fn start(&mut self, key: Key, check: HealthCheck, state: State) {
        self.next_id += 1;
        let id = self.next_id;
        let state = Arc::new(Mutex::new(state));
        let (stop_tx, stop_rx) = channel::bounded::<()>(0);
        let runner = Runner {
            id,
            pool: key.0.clone(),
            backend: key.1,
            target: SocketAddr::new(key.1.ip(), check.port_for(key.1.port())),
            check: check.clone(),
            state: state.clone(),
            tx: self.tx.clone(),
            stop: stop_rx,
        };
        let spawned = thread::Builder::new()
            .name(format!("health {}", key.1))
            .spawn(move || runner.run());
        if let Err(e) = spawned {
            log::error!("health: cannot start the probe of {}: {e}", key.1);
            return;
        }
        self.probes.insert(
            key,
            Probe {
                id,
                check,
                state,
                _stop: stop_tx,
            },
        );
    }
}

/// One probe thread.
struct Runner {
    id: u64,
    pool: String,
    backend: SocketAddr,
    target: SocketAddr,
    check: HealthCheck,
    state: Arc<Mutex<State>>,
    tx: Sender<(u64, HealthChange)>,
    stop: Receiver<()>,
}

impl Runner {
    fn run(self) {
        let start = Instant::now();
        let mut round: u32 = 0;
        loop {
            let result = probe(&self.check, self.target);
            if self.stopped() {
                return;
            }
            self.record(result);
            // The next probe starts on the interval grid, whatever this one took.
            round = round.saturating_add(1);
            let now = Instant::now();
            let mut next = start + self.check.interval.saturating_mul(round);
            while next <= now {
                round = round.saturating_add(1);
                next = start + self.check.interval.saturating_mul(round);
            }
            match self.stop.recv_timeout(next - now) {
                Err(RecvTimeoutError::Timeout) => {}
                _ => return,
            }
        }
    }

    fn stopped(&self) -> bool {
        !matches!(self.stop.try_recv(), Err(TryRecvError::Empty))
    }

    fn record(&self, result: Result<(), ProbeError>) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.probed = true;
        s.last_probe = Some(SystemTime::now());
        let change = match result {
            Ok(()) => {
                s.successes = s.successes.saturating_add(1);
                s.failures = 0;
                if !s.healthy && s.successes >= self.check.healthy_threshold {
                    s.healthy = true;
                    let reason = format!(
                        "{} consecutive successful {} probes",
                        s.successes,
                        self.check.protocol.name()
                    );
                    log::info!(
                        "health: pool {:?} backend {} is up: {reason}",
                        self.pool,
                        self.backend
                    );
                    Some((true, reason))
                } else {
                    None
                }
            }
            Err(e) => {
                s.failures = s.failures.saturating_add(1);
                s.successes = 0;
                let change = if s.healthy && s.failures >= self.check.unhealthy_threshold {
                    s.healthy = false;
                    let reason = format!(
                        "{} consecutive failed {} probes of {}, the last: {e}",
                        s.failures,
                        self.check.protocol.name(),
                        self.target
                    );
                    log::warn!(
                        "health: pool {:?} backend {} is down: {reason}",
                        self.pool,
                        self.backend
                    );
                    Some((false, reason))
                } else {
                    None
                };
                s.last_error = Some(e.to_string());
                change
            }
        };
        drop(s);
        if let Some((healthy, reason)) = change {
            let _ = self.tx.send((
                self.id,
                HealthChange {
                    pool: self.pool.clone(),
                    address: self.backend,
                    healthy,
                    reason,
                },
            ));
        }
    }
}

/// Why a probe failed.
#[derive(Debug)]
pub enum ProbeError {
    Connect(io::Error),
    /// Setting a socket timeout failed.
    Socket(io::Error),
    Send(io::Error),
    Receive(io::Error),
    /// The probe's time ran out between steps.
    TimedOut,
    /// Closed before any byte of a response.
    Closed,
    /// Closed before the status line's end.
    ClosedInStatus,
    StatusTooLong,
    /// A status other than 200.
    Status(u16),
    /// Not an HTTP/1.x status line.
    MalformedStatus(String),
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Timeouts read the same however the socket reports them.
        let describe = |f: &mut fmt::Formatter<'_>, e: &io::Error| match e.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => f.write_str("timed out"),
            _ => e.fmt(f),
        };
        match self {
            ProbeError::Connect(e) => {
                f.write_str("connect: ")?;
                describe(f, e)
            }
            ProbeError::Socket(e) => write!(f, "socket: {e}"),
            ProbeError::Send(e) => {
                f.write_str("send: ")?;
                describe(f, e)
            }
            ProbeError::Receive(e) => {
                f.write_str("receive: ")?;
                describe(f, e)
            }
            ProbeError::TimedOut => f.write_str("timed out"),
            ProbeError::Closed => f.write_str("connection closed without a response"),
            ProbeError::ClosedInStatus => f.write_str("connection closed in the status line"),
            ProbeError::StatusTooLong => f.write_str("status line too long"),
            ProbeError::Status(code) => write!(f, "status {code}"),
            ProbeError::MalformedStatus(line) => write!(f, "malformed status line {line:?}"),
        }
    }
}

impl std::error::Error for ProbeError {}

/// Runs one probe of `target`; `Err` says why it failed.
/// (IPv4 or IPv6; an IPv6 `Host` header is written `[address]:port`).
pub fn probe(check: &HealthCheck, target: impl Into<SocketAddr>) -> Result<(), ProbeError> {
    let target = target.into();
    let deadline = Instant::now() + check.timeout;
    let stream = TcpStream::connect_timeout(&target, check.timeout).map_err(ProbeError::Connect)?;
    match check.protocol {
        HealthProtocol::Tcp => Ok(()),
        HealthProtocol::Http => http_probe(stream, &check.path, target, deadline),
    }
}

/// Time left until `deadline`, or a timeout error.
fn left(deadline: Instant) -> Result<Duration, ProbeError> {
    let d = deadline.saturating_duration_since(Instant::now());
    if d.is_zero() {
        Err(ProbeError::TimedOut)
    } else {
        Ok(d)
    }
}

/// Longest status line read, bytes.
const MAX_STATUS_LINE: usize = 1024;

fn http_probe(
    mut stream: TcpStream,
    path: &str,
    target: SocketAddr,
    deadline: Instant,
) -> Result<(), ProbeError> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n");
    stream
        .set_write_timeout(Some(left(deadline)?))
        .map_err(ProbeError::Socket)?;
    stream
        .write_all(request.as_bytes())
        .map_err(ProbeError::Send)?;
    let mut line = Vec::with_capacity(128);
    let mut buf = [0u8; 256];
    loop {
        stream
            .set_read_timeout(Some(left(deadline)?))
            .map_err(ProbeError::Socket)?;
        let n = match stream.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ProbeError::Receive(e)),
        };
        if n == 0 {
            return Err(if line.is_empty() {
                ProbeError::Closed
            } else {
                ProbeError::ClosedInStatus
            });
        }
        line.extend_from_slice(&buf[..n]);
        if let Some(end) = line.windows(2).position(|w| w == b"\r\n") {
            line.truncate(end);
            break;
        }
        if line.len() > MAX_STATUS_LINE {
            return Err(ProbeError::StatusTooLong);
        }
    }
    let text = String::from_utf8_lossy(&line);
    match parse_status(&text) {
        Some(200) => Ok(()),
        Some(code) => Err(ProbeError::Status(code)),
        None => Err(ProbeError::MalformedStatus(text.into_owned())),
    }
}

/// The status code of an HTTP/1.x status line.
fn parse_status(line: &str) -> Option<u16> {
    let mut parts = line.splitn(3, ' ');
    let version = parts.next()?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    let code = parts.next()?;
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    code.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(parse_status("HTTP/1.1 200 OK"), Some(200));
        assert_eq!(parse_status("HTTP/1.0 503 Service Unavailable"), Some(503));
        assert_eq!(parse_status("HTTP/1.1 204"), Some(204));
        assert_eq!(parse_status("HTTP/2 200"), None);
        assert_eq!(parse_status("SSH-2.0-OpenSSH"), None);
        assert_eq!(parse_status("HTTP/1.1 20 OK"), None);
        assert_eq!(parse_status(""), None);
    }
}
