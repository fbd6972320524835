//! The control socket: a Unix socket carrying line-delimited JSON requests
//! and replies (see [`protocol`](crate::control::protocol)), its server and
//! its client.
//!
//! Connections are read on their own threads; each request is handed to the
//! management loop through a channel and answered there, so that every change
//! is applied by the one thread that owns the control plane.

use crate::control::mgmt::Management;
use crate::control::protocol::{Command, Outcome, Request, RequestError, Response, StatsReport};
use crossbeam::channel::{self, Receiver, Sender};
use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where `natrix run` listens unless `--control` names another path.
pub const DEFAULT_SOCKET: &str = "/run/natrix/natrix.sock";

/// Longest request line accepted.
const MAX_LINE: usize = 64 * 1024;

type Pending = (Request, Sender<Response>);

/// Why the control socket could not be opened.
#[derive(Debug)]
pub enum SocketError {
    /// A live natrix answers on the path.
    Busy(PathBuf),
    /// A dead natrix's socket file could not be removed.
    Stale(PathBuf, io::Error),
    /// The socket's directory could not be created.
    Directory(PathBuf, io::Error),
    Listen(PathBuf, io::Error),
    Permissions(PathBuf, io::Error),
    /// The thread that accepts connections could not start.
    Thread(io::Error),
}

impl fmt::Display for SocketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SocketError::Busy(p) => write!(
                f,
                "{}: another natrix is listening there (stop it, or give --control another path)",
                p.display()
            ),
            SocketError::Stale(p, e) => {
                write!(f, "{}: cannot remove the stale socket: {e}", p.display())
            }
            SocketError::Directory(p, e) | SocketError::Permissions(p, e) => {
                write!(f, "{}: {e}", p.display())
            }
            SocketError::Listen(p, e) => write!(f, "{}: cannot listen: {e}", p.display()),
            SocketError::Thread(e) => write!(f, "control thread: {e}"),
        }
    }
}

impl std::error::Error for SocketError {}

/// Why a client got no answer it could use.
#[derive(Debug)]
pub enum ClientError {
    /// Nothing listens on the path.
    Connect(PathBuf, io::Error),
    /// The request could not be sent.
    Send(io::Error),
    /// No reply could be read.
    Receive(PathBuf, io::Error),
    /// A reply that is not of this protocol: why, and the line.
    BadReply(String, String),
    /// natrix refused the request: its words.
    Refused(String),
    /// natrix answered with something else than the request asks for.
    Unexpected(Command),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Connect(p, e) => write!(
                f,
                "{}: cannot connect ({e}): is natrix running? (--control names another socket)",
                p.display()
            ),
            ClientError::Send(e) => e.fmt(f),
            ClientError::Receive(p, e) => write!(f, "{}: {e}", p.display()),
            ClientError::BadReply(e, line) => write!(f, "bad reply from natrix: {e}: {line:?}"),
            ClientError::Refused(e) => f.write_str(e),
            ClientError::Unexpected(c) => write!(f, "natrix answered {c:?} with something else"),
        }
    }
}

impl std::error::Error for ClientError {}

/// A listening control socket. Removes its path when dropped.
pub struct ControlServer {
    path: PathBuf,
    requests: Receiver<Pending>,
    submit: Sender<Pending>,
}

/// A handle for in-process servers (metrics, telemetry) to ask the management
/// loop, as the socket's clients do.
#[derive(Clone)]
pub struct Asker {
    submit: Sender<Pending>,
}

impl Asker {
    /// Hands one request to the management loop and waits for the reply (at
    /// most `wait`).
    pub fn ask(&self, request: Request, wait: Duration) -> Response {
        let (tx, rx) = channel::bounded(1);
        if self.submit.send((request, tx)).is_err() {
            return Response::err(RequestError::Stopping);
        }
        rx.recv_timeout(wait)
            .unwrap_or_else(|_| Response::err(RequestError::Timeout))
    }
}

impl ControlServer {
    /// Listens on `path` (mode 0660). Refuses when a live natrix already
    /// answers there; replaces a stale socket file left by a dead one.
    pub fn bind(path: &Path) -> Result<ControlServer, SocketError> {
        let at = || path.to_path_buf();
        if path.exists() {
            if UnixStream::connect(path).is_ok() {
                return Err(SocketError::Busy(at()));
            }
            std::fs::remove_file(path).map_err(|e| SocketError::Stale(at(), e))?;
        }
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| SocketError::Directory(dir.to_path_buf(), e))?;
            }
        }
        let listener = UnixListener::bind(path).map_err(|e| SocketError::Listen(at(), e))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
            .map_err(|e| SocketError::Permissions(at(), e))?;
        let (tx, rx) = channel::unbounded::<Pending>();
        let submit = tx.clone();
        std::thread::Builder::new()
            .name("natrix-control".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    let Ok(stream) = stream else { continue };
                    let tx = tx.clone();
                    let _ = std::thread::Builder::new()
                        .name("natrix-control-conn".into())
                        .spawn(move || serve(stream, tx));
                }
            })
            .map_err(SocketError::Thread)?;
        Ok(ControlServer {
            path: path.to_path_buf(),
            requests: rx,
            submit,
        })
    }

    /// A server without a socket: only in-process askers (the metrics
    /// listener) submit requests to it.
    pub fn in_process() -> ControlServer {
        let (tx, rx) = channel::unbounded::<Pending>();
        ControlServer {
            path: PathBuf::new(),
            requests: rx,
            submit: tx,
        }
    }

    /// A handle that submits requests in-process.
    pub fn asker(&self) -> Asker {
        Asker {
            submit: self.submit.clone(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Answers requests for up to `wait` (returns early after the first).
    pub fn poll(&self, mgmt: &mut Management, wait: Duration) {
        if let Ok((request, reply)) = self.requests.recv_timeout(wait) {
            let _ = reply.send(mgmt.handle(&request.command));
            while let Ok((request, reply)) = self.requests.try_recv() {
                let _ = reply.send(mgmt.handle(&request.command));
            }
        }
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn serve(stream: UnixStream, tx: Sender<Pending>) {
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    let mut rd = BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        match rd.by_ref().take(MAX_LINE as u64 + 1).read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let reply = if line.len() > MAX_LINE {
            // Skip the rest of the overlong line, then answer.
            let mut rest = Vec::new();
            let _ = rd.read_until(b'\n', &mut rest);
            Response::err(RequestError::TooLong(MAX_LINE))
        } else if line.trim().is_empty() {
            continue;
        } else {
            match Request::parse(line.trim()) {
                Err(e) => Response::err(e),
                Ok(request) => {
                    let (rtx, rrx) = channel::bounded(1);
                    if tx.send((request, rtx)).is_err() {
                        return;
                    }
                    rrx.recv_timeout(Duration::from_secs(10))
                        .unwrap_or_else(|_| Response::err(RequestError::Timeout))
                }
            }
        };
        let mut text = serde_json::to_string(&reply).unwrap_or_default();
        text.push('\n');
        if out.write_all(text.as_bytes()).is_err() {
            return;
        }
    }
}

/// Sends one request and returns the reply (the client side of `natrix stats`,
/// `natrix backend`, `natrix reload` and `natrix top`).
pub fn request(path: &Path, request: &Request) -> Result<Response, ClientError> {
    let mut s = UnixStream::connect(path).map_err(|e| ClientError::Connect(path.into(), e))?;
    s.set_read_timeout(Some(Duration::from_secs(15)))
        .map_err(ClientError::Send)?;
    let mut text = serde_json::to_string(request).unwrap_or_default();
    text.push('\n');
    s.write_all(text.as_bytes()).map_err(ClientError::Send)?;
    let mut line = String::new();
    BufReader::new(s)
        .read_line(&mut line)
        .map_err(|e| ClientError::Receive(path.into(), e))?;
    serde_json::from_str(&line).map_err(|e| ClientError::BadReply(e.to_string(), line))
}

/// Sends one command and returns what natrix did; a refusal is an error.
pub fn ask(path: &Path, command: Command) -> Result<Outcome, ClientError> {
    request(path, &Request::new(command))?
        .result
        .map_err(ClientError::Refused)
}

/// Asks natrix for one statistics snapshot.
pub fn stats(path: &Path) -> Result<StatsReport, ClientError> {
    match ask(path, Command::Stats)? {
        Outcome::Stats(s) => Ok(*s),
        _ => Err(ClientError::Unexpected(Command::Stats)),
    }
}
