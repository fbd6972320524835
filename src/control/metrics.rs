//! Prometheus metrics: an HTTP/1.1 listener (`--metrics ADDR`) that answers
//! `GET /metrics` with natrix's statistics, in the Prometheus text format
//! 0.0.4, or in OpenMetrics 1.0.0 when the scraper's `Accept` header asks
//! for it (`exposition`).
//!
//! The listener never touches the data path or the control plane: it asks
//! the management loop for a `stats` report through an [`Asker`], exactly as
//! a control-socket client does, and renders that report.
//!
//! HTTP is hyper's, on a single-threaded tokio runtime in the listener's own
//! thread. A slow client cannot hold the listener: each connection serves one
//! request, must send its whole request head within [`HEADER_TIMEOUT`] (not
//! per read: a byte every second does not extend it) and is closed
//! [`REQUEST_TIMEOUT`] after it was accepted, whatever it is doing. At most
//! [`MAX_CONNECTIONS`] are served at once; further clients wait in the
//! kernel's accept queue, in order, until a connection ends.

pub mod exposition;

use crate::control::protocol::{Command, Outcome, Request};
use crate::control::socket::Asker;
use exposition::{Format, Monotonic};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, ACCEPT, ALLOW, CONTENT_TYPE};
use hyper::{Method, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::{oneshot, Semaphore};

/// The port used when `--metrics` is given without one.
pub const DEFAULT_PORT: u16 = 9100;

/// Longest request head (request line and headers); longer ones get a 431.
pub const MAX_HEAD: usize = 8 * 1024;
/// Connections served at once; more wait to be accepted.
pub const MAX_CONNECTIONS: usize = 16;
/// How long a client may take to send its whole request head.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a connection may last from its accept to its close: the
/// request, the answer and its sending.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for the management loop's answer.
const ASK_TIMEOUT: Duration = Duration::from_secs(2);
/// Threads that wait for the management loop's answers at once.
const ASK_THREADS: usize = 4;

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
    /// The listener's tokio runtime could not start.
    Runtime(io::Error),
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
            MetricsError::Runtime(e) => write!(f, "metrics runtime: {e}"),
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

/// A running metrics listener. Stops (and joins its thread) when dropped.
pub struct MetricsServer {
    addr: SocketAddr,
    /// Dropped (or sent) to stop the listener.
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Listens on `addr` and serves `/metrics` from the answers of `asker`.
    pub fn start(addr: SocketAddr, asker: Asker) -> Result<MetricsServer, MetricsError> {
        let listener = TcpListener::bind(addr).map_err(|e| MetricsError::Listen(addr, e))?;
        let addr = listener.local_addr().map_err(MetricsError::LocalAddr)?;
        listener
            .set_nonblocking(true)
            .map_err(|e| MetricsError::Listen(addr, e))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .max_blocking_threads(ASK_THREADS)
            .thread_name("natrix-metrics-ask")
            .build()
            .map_err(MetricsError::Runtime)?;
        let state = Arc::new(Shared {
            asker,
            monotonic: Mutex::new(Monotonic::default()),
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("natrix-metrics".into())
            .spawn(move || {
                runtime.block_on(async move {
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => {
                            tokio::spawn(accept_loop(listener, state));
                        }
                        Err(e) => log::error!("metrics listener: {e}"),
                    }
                    // Sent or dropped: stop.
                    let _ = stopped.await;
                });
                // A scrape still waiting for the management loop ends
                // within ASK_TIMEOUT; do not wait for it longer.
                runtime.shutdown_timeout(ASK_TIMEOUT);
            })
            .map_err(MetricsError::Thread)?;
        if !addr.ip().is_loopback() {
            log::warn!("metrics listen on {addr}, not only on loopback");
        }
        Ok(MetricsServer {
            addr,
            stop: Some(stop),
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
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Shared {
    asker: Asker,
    monotonic: Mutex<Monotonic>,
}

/// Accepts a connection whenever fewer than [`MAX_CONNECTIONS`] are open, and
/// serves it in a task of its own.
async fn accept_loop(listener: tokio::net::TcpListener, state: Arc<Shared>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors, say: do not spin.
                log::debug!("metrics accept: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| answer(req, state.clone()));
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_header_size(MAX_HEAD)
                .keep_alive(false)
                // A client may shut down its sending side and wait for the
                // answer.
                .half_close(true)
                .serve_connection(TokioIo::new(stream), service);
            // Whatever the client does, the connection ends by then.
            let _ = tokio::time::timeout(REQUEST_TIMEOUT, connection).await;
            drop(slot);
        });
    }
}

type Answer = hyper::Response<Full<Bytes>>;

fn plain(status: StatusCode, text: &'static str) -> Answer {
    let mut a = hyper::Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *a.status_mut() = status;
    a.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    a
}

/// Answers one request: `/metrics` to GET and HEAD (hyper sends no body to
/// HEAD), 404 to any other path, 405 to other methods.
async fn answer(
    req: hyper::Request<Incoming>,
    state: Arc<Shared>,
) -> Result<Answer, std::convert::Infallible> {
    if req.uri().path() != "/metrics" {
        return Ok(plain(
            StatusCode::NOT_FOUND,
            "not found: natrix serves /metrics\n",
        ));
    }
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        let mut a = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed: use GET\n",
        );
        a.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return Ok(a);
    }
    let format = Format::negotiate(req.headers().get(ACCEPT).and_then(|v| v.to_str().ok()));
    // The management loop answers through a blocking channel: wait for it
    // on a thread of the runtime's blocking pool.
    let scraped = tokio::task::spawn_blocking(move || scrape(&state, format))
        .await
        .unwrap_or(Err(ScrapeError::Stopped));
    Ok(match scraped {
        Ok(text) => {
            let mut a = hyper::Response::new(Full::new(Bytes::from(text)));
            a.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            );
            a
        }
        Err(e) => {
            let mut a = hyper::Response::new(Full::new(Bytes::from(format!("{e}\n"))));
            *a.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            a.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            a
        }
    })
}

/// Why a scrape has no metrics (answered 503).
#[derive(Debug)]
enum ScrapeError {
    /// The management loop's words: it is stopping, or did not answer in time.
    Management(String),
    /// The management loop answered something else than statistics.
    NoStatistics,
    /// The listener is stopping.
    Stopped,
}

impl std::fmt::Display for ScrapeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScrapeError::Management(e) => f.write_str(e),
            ScrapeError::NoStatistics => f.write_str("no statistics"),
            ScrapeError::Stopped => f.write_str("stopping"),
        }
    }
}

/// Asks the management loop for statistics and renders them in `format`.
fn scrape(state: &Shared, format: Format) -> Result<String, ScrapeError> {
    let report = match state
        .asker
        .ask(Request::new(Command::Stats), ASK_TIMEOUT)
        .result
    {
        Ok(Outcome::Stats(r)) => r,
        Ok(_) => return Err(ScrapeError::NoStatistics),
        Err(e) => return Err(ScrapeError::Management(e)),
    };
    let mut fams = exposition::families(&report);
    match state.monotonic.lock() {
        Ok(mut m) => m.apply(&mut fams),
        Err(poisoned) => poisoned.into_inner().apply(&mut fams),
    }
    Ok(exposition::encode(fams, format))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::protocol::RequestError;
    use crate::control::socket::ControlServer;
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Instant;

    /// Without a management loop to answer, a scrape gets a 503 after the
    /// ask's wait; the listener stops at once when dropped, even with
    /// connections open, and its port closes.
    #[test]
    fn unanswered_scrape_and_prompt_stop() {
        let control = ControlServer::in_process();
        let server = MetricsServer::start("127.0.0.1:0".parse().unwrap(), control.asker()).unwrap();
        let addr = server.local_addr();
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
        assert!(
            answer.ends_with(&format!("\r\n\r\n{}\n", RequestError::Timeout)),
            "{answer}"
        );
        let _idle = TcpStream::connect(addr).unwrap();
        let mut slow = TcpStream::connect(addr).unwrap();
        slow.write_all(b"GET /met").unwrap();
        let t = Instant::now();
        drop(server);
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
        assert!(TcpStream::connect(addr).is_err());
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
}
