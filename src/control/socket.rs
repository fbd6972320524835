//! The control socket: a Unix socket carrying line-delimited JSON requests
//! and replies (see `mgmt::Request` and `mgmt::Reply`).
//!
//! Connections are read on their own threads; each request is handed to the
//! management loop through a channel and answered there, so that every change
//! is applied by the one thread that owns the control plane.

use crate::control::mgmt::{Management, Reply, PROTOCOL_VERSION};
use crossbeam::channel::{self, Receiver, Sender};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where `natrix run` listens unless `--control` names another path.
pub const DEFAULT_SOCKET: &str = "/run/natrix/natrix.sock";

/// Longest request line accepted.
const MAX_LINE: usize = 64 * 1024;

type Pending = (String, Sender<Reply>);

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
    /// Sends one request line and waits for the reply (at most `wait`).
    pub fn ask(&self, line: &str, wait: Duration) -> Reply {
        let (tx, rx) = channel::bounded(1);
        if self.submit.send((line.to_string(), tx)).is_err() {
            return Reply::err("natrix is stopping");
        }
        rx.recv_timeout(wait)
            .unwrap_or_else(|_| Reply::err("natrix did not answer in time"))
    }
}

impl ControlServer {
    /// Listens on `path` (mode 0660). Refuses when a live natrix already
    /// answers there; replaces a stale socket file left by a dead one.
    pub fn bind(path: &Path) -> Result<ControlServer, String> {
        if path.exists() {
            if UnixStream::connect(path).is_ok() {
                return Err(format!(
                    "{}: another natrix is listening there (stop it, or give --control another path)",
                    path.display()
                ));
            }
            std::fs::remove_file(path)
                .map_err(|e| format!("{}: cannot remove the stale socket: {e}", path.display()))?;
        }
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            }
        }
        let listener = UnixListener::bind(path)
            .map_err(|e| format!("{}: cannot listen: {e}", path.display()))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
            .map_err(|e| format!("{}: {e}", path.display()))?;
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
            .map_err(|e| format!("control thread: {e}"))?;
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
        if let Ok((line, reply)) = self.requests.recv_timeout(wait) {
            let _ = reply.send(mgmt.handle_line(&line));
            while let Ok((line, reply)) = self.requests.try_recv() {
                let _ = reply.send(mgmt.handle_line(&line));
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
            Reply::err(format!("request longer than {MAX_LINE} bytes"))
        } else if line.trim().is_empty() {
            continue;
        } else {
            let (rtx, rrx) = channel::bounded(1);
            if tx.send((line.trim().to_string(), rtx)).is_err() {
                return;
            }
            match rrx.recv_timeout(Duration::from_secs(10)) {
                Ok(r) => r,
                Err(_) => Reply::err("natrix did not answer in time"),
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
pub fn request(path: &Path, command: serde_json::Value) -> Result<Reply, String> {
    let mut req = command;
    req["version"] = PROTOCOL_VERSION.into();
    let mut s = UnixStream::connect(path).map_err(|e| {
        format!(
            "{}: cannot connect ({e}): is natrix running? (--control names another socket)",
            path.display()
        )
    })?;
    s.set_read_timeout(Some(Duration::from_secs(15)))
        .map_err(|e| e.to_string())?;
    let mut text = req.to_string();
    text.push('\n');
    s.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
    let mut line = String::new();
    BufReader::new(s)
        .read_line(&mut line)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&line).map_err(|e| format!("bad reply from natrix: {e}: {line:?}"))
}
