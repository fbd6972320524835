//! The control socket: a Unix socket carrying line-delimited JSON requests
//! and replies (see [`protocol`](crate::control::protocol)), its server and
//! its client.
//!
//! Connections are read on their own threads; each request is handed to the
//! management loop through a channel and answered there, so that every change
//! is applied by the one thread that owns the control plane.
//!
//! A client cannot make the server hold more than it allows: a request line is
//! read to at most [`MAX_LINE`] bytes (one more and the client is answered and
//! closed), at most [`MAX_CONNECTIONS`] connections are open at once (a new one
//! closes the connection that has waited longest for a request, or is refused
//! when every connection is being answered), and each request line must arrive
//! whole within [`REQUEST_TIMEOUT`] of connecting or of the previous reply.

use crate::control::mgmt::Management;
use crate::control::protocol::{Command, Outcome, Request, RequestError, Response, StatsReport};
use crossbeam::channel::{self, Receiver, Sender};
use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::Shutdown;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Where `natrix run` listens unless `--control` names another path.
pub const DEFAULT_SOCKET: &str = "/run/natrix/natrix.sock";

/// Longest request line accepted, in bytes (without its newline).
pub const MAX_LINE: usize = 64 * 1024;
/// Most control connections open at once. natrix's own clients (the CLI,
/// `natrix top`) open one per request and close it at once.
pub const MAX_CONNECTIONS: usize = 32;
/// Time a connection has to send one whole request line, counted from
/// connecting or from the previous reply; then it is closed.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a reply may take to be written (a client that does not read).
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

type Pending = (Request, Sender<Response>);

/// Why the control socket could not be opened.
#[derive(Debug)]
pub enum SocketError {
    /// A live natrix answers on the path.
    Busy(PathBuf),
    /// A dead natrix's socket file could not be removed.
    Stale(PathBuf, io::Error),
    /// Something that is not a socket is at the path; natrix never removes it.
    NotSocket(PathBuf),
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
            SocketError::NotSocket(p) => write!(
                f,
                "{}: exists and is not a socket (natrix only replaces a stale socket): move it away, or give --control another path",
                p.display()
            ),
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
    /// answers there, and when something other than a socket is there;
    /// replaces a stale socket left by a dead natrix.
    pub fn bind(path: &Path) -> Result<ControlServer, SocketError> {
        let at = || path.to_path_buf();
        // The path itself, not what a symbolic link there points to.
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if !meta.file_type().is_socket() {
                return Err(SocketError::NotSocket(at()));
            }
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
        // Bound under a private name and given its mode there, then linked
        // into place: a client never finds the socket with the umask's mode,
        // and link(2) refuses, as bind(2) would, when another natrix got the
        // path first.
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let private = path.with_file_name(format!(".{name}.{}", std::process::id()));
        let _ = std::fs::remove_file(&private);
        let listener = UnixListener::bind(&private).map_err(|e| SocketError::Listen(at(), e))?;
        let placed = std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o660))
            .map_err(|e| SocketError::Permissions(at(), e))
            .and_then(|()| {
                std::fs::hard_link(&private, path).map_err(|e| match e.kind() {
                    io::ErrorKind::AlreadyExists => SocketError::Busy(at()),
                    _ => SocketError::Listen(at(), e),
                })
            });
        let _ = std::fs::remove_file(&private);
        placed?;
        let (tx, rx) = channel::unbounded::<Pending>();
        let submit = tx.clone();
        std::thread::Builder::new()
            .name("natrix-control".into())
            .spawn(move || accept(listener, tx))
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

/// Why the server closes a connection: the last reply it writes there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closing {
    /// Every open connection is being answered: a new one is refused.
    Full,
    /// A new connection took the place of this one, which had waited
    /// longest for a request.
    Displaced,
    /// No whole request line within [`REQUEST_TIMEOUT`].
    Timeout,
}

impl fmt::Display for Closing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Closing::Full => write!(
                f,
                "too many control connections ({MAX_CONNECTIONS} are being answered): try again"
            ),
            Closing::Displaced => write!(
                f,
                "closed: {MAX_CONNECTIONS} control connections are open and this one waited longest for a request"
            ),
            Closing::Timeout => write!(
                f,
                "closed: no complete request line within {} s",
                REQUEST_TIMEOUT.as_secs()
            ),
        }
    }
}

/// One open connection: a handle to close it by, and since when it has
/// waited for a request (None while one is being answered).
struct Slot {
    id: u64,
    stream: UnixStream,
    waiting_since: Option<Instant>,
}

/// The open connections, at most [`MAX_CONNECTIONS`].
#[derive(Default)]
struct Connections {
    slots: Vec<Slot>,
    next_id: u64,
}

type SharedConnections = Arc<Mutex<Connections>>;

fn lock(c: &Mutex<Connections>) -> MutexGuard<'_, Connections> {
    c.lock().unwrap_or_else(|e| e.into_inner())
}

impl Connections {
    /// Records a new connection, first closing the one that has waited
    /// longest for a request when all places are taken. None (refused) when
    /// every open connection is being answered.
    fn admit(&mut self, stream: &UnixStream) -> Option<u64> {
        if self.slots.len() >= MAX_CONNECTIONS {
            let (_, oldest) = self
                .slots
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.waiting_since.map(|t| (t, i)))
                .min()?;
            let slot = self.slots.swap_remove(oldest);
            close(&slot.stream, Closing::Displaced);
        }
        let handle = stream.try_clone().ok()?;
        self.next_id += 1;
        self.slots.push(Slot {
            id: self.next_id,
            stream: handle,
            waiting_since: Some(Instant::now()),
        });
        Some(self.next_id)
    }

    fn slot(&mut self, id: u64) -> Option<&mut Slot> {
        self.slots.iter_mut().find(|s| s.id == id)
    }

    /// Marks a connection as being answered; false when it was closed to
    /// make room.
    fn answering(&mut self, id: u64) -> bool {
        self.slot(id).map(|s| s.waiting_since = None).is_some()
    }

    /// Marks a connection as waiting for its next request.
    fn waiting(&mut self, id: u64) {
        if let Some(s) = self.slot(id) {
            s.waiting_since = Some(Instant::now());
        }
    }

    fn leave(&mut self, id: u64) {
        self.slots.retain(|s| s.id != id);
    }
}

/// Writes `why` as an error reply (without waiting on a client that does not
/// read) and closes the connection both ways.
fn close(stream: &UnixStream, why: impl fmt::Display) {
    let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
    let _ = write_reply(stream, &Response::err(why));
    let _ = stream.shutdown(Shutdown::Both);
}

fn write_reply(mut out: &UnixStream, reply: &Response) -> io::Result<()> {
    let mut text = serde_json::to_string(reply).unwrap_or_default();
    text.push('\n');
    out.write_all(text.as_bytes())
}

/// The accepting thread: one thread per admitted connection.
fn accept(listener: UnixListener, tx: Sender<Pending>) {
    let conns = SharedConnections::default();
    for stream in listener.incoming() {
        let Ok(stream) = stream else {
            // Out of descriptors, most likely: let connections close.
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        let Some(id) = lock(&conns).admit(&stream) else {
            close(&stream, Closing::Full);
            continue;
        };
        let (tx, mine) = (tx.clone(), conns.clone());
        let spawned = std::thread::Builder::new()
            .name("natrix-control-conn".into())
            .spawn(move || serve(stream, tx, mine, id));
        if spawned.is_err() {
            lock(&conns).leave(id);
        }
    }
}

/// What [`next_line`] found.
enum Line {
    /// A request line, without its newline.
    Request(Vec<u8>),
    /// More than [`MAX_LINE`] bytes without a newline.
    TooLong,
    TimedOut,
    /// The client closed, or the connection failed.
    Closed,
}

/// Reads the next line by `deadline`, never holding more than
/// [`MAX_LINE`] + 1 bytes; `pending` keeps what was read past the line.
fn next_line(mut stream: &UnixStream, pending: &mut Vec<u8>, deadline: Instant) -> Line {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = pending.iter().position(|&b| b == b'\n') {
            if end > MAX_LINE {
                return Line::TooLong;
            }
            let mut line: Vec<u8> = pending.drain(..=end).collect();
            line.pop();
            return Line::Request(line);
        }
        if pending.len() > MAX_LINE {
            return Line::TooLong;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Line::TimedOut;
        }
        if stream.set_read_timeout(Some(left)).is_err() {
            return Line::Closed;
        }
        let room = (MAX_LINE + 1 - pending.len()).min(chunk.len());
        match stream.read(&mut chunk[..room]) {
            Ok(0) if pending.is_empty() => return Line::Closed,
            // The last line, without a newline.
            Ok(0) => return Line::Request(std::mem::take(pending)),
            Ok(n) => pending.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Line::TimedOut
            }
            Err(_) => return Line::Closed,
        }
    }
}

/// Answers one connection's requests until it closes, sends a line too long,
/// is silent too long, or is displaced by a newer connection.
fn serve(stream: UnixStream, tx: Sender<Pending>, conns: SharedConnections, id: u64) {
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let mut pending = Vec::new();
    let mut deadline = Instant::now() + REQUEST_TIMEOUT;
    loop {
        let line = match next_line(&stream, &mut pending, deadline) {
            Line::Request(line) => line,
            Line::TooLong => {
                close(&stream, RequestError::TooLong(MAX_LINE));
                break;
            }
            Line::TimedOut => {
                close(&stream, Closing::Timeout);
                break;
            }
            Line::Closed => break,
        };
        let Ok(text) = std::str::from_utf8(&line) else {
            break;
        };
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        if !lock(&conns).answering(id) {
            return;
        }
        let reply = match Request::parse(text) {
            Err(e) => Response::err(e),
            Ok(request) => {
                let (rtx, rrx) = channel::bounded(1);
                if tx.send((request, rtx)).is_err() {
                    break;
                }
                rrx.recv_timeout(Duration::from_secs(10))
                    .unwrap_or_else(|_| Response::err(RequestError::Timeout))
            }
        };
        if write_reply(&stream, &reply).is_err() {
            break;
        }
        lock(&conns).waiting(id);
        deadline = Instant::now() + REQUEST_TIMEOUT;
    }
    lock(&conns).leave(id);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("natrix-socket-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn the_socket_appears_with_its_mode_and_nothing_else() {
        let d = scratch("mode");
        let path = d.join("natrix.sock");
        let server = ControlServer::bind(&path).unwrap();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.permissions().mode() & 0o777, 0o660);
        // The private name it was bound under is gone.
        let names: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("natrix.sock")]);
        // Clients reach it through the public name.
        assert!(UnixStream::connect(&path).is_ok());
        // A second server on the same path is refused.
        assert!(matches!(
            ControlServer::bind(&path),
            Err(SocketError::Busy(_))
        ));
        drop(server);
        let _ = std::fs::remove_dir_all(&d);
    }
}
