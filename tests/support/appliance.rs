//! `natrix run` on DPDK's net_null device with a control socket of its own,
//! for the tests that talk to a running appliance (the control protocol,
//! `natrix top`, metrics, DPDK telemetry).

use super::eal;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const NATRIX: &str = env!("CARGO_BIN_EXE_natrix");

/// `natrix run --json` on net_null, listening on `sock`; killed when dropped.
pub struct Appliance {
    pub child: Child,
    pub sock: PathBuf,
    /// DPDK's runtime directory, removed when dropped.
    runtime: Option<PathBuf>,
}

/// How to start an [`Appliance`]: natrix's options and EAL's arguments.
pub struct Launch {
    config: PathBuf,
    sock: PathBuf,
    options: Vec<String>,
    eal: Vec<String>,
    runtime: Option<PathBuf>,
}

impl Launch {
    /// One more option of `natrix run` (before `--`).
    pub fn option(mut self, arg: &str) -> Launch {
        self.options.push(arg.to_string());
        self
    }

    /// EAL's arguments instead of [`eal::null`].
    pub fn eal(mut self, args: Vec<String>) -> Launch {
        self.eal = args;
        self
    }

    /// DPDK's runtime directory of this appliance, removed when it is dropped.
    pub fn runtime_dir(mut self, dir: &Path) -> Launch {
        self.runtime = Some(dir.to_path_buf());
        self
    }

    /// Starts natrix; returns once its control socket accepts connections.
    pub fn start(self) -> Appliance {
        let child = Command::new(NATRIX)
            .args(["run", "--json", "--config"])
            .arg(&self.config)
            .arg("--control")
            .arg(&self.sock)
            .args(&self.options)
            .arg("--")
            .args(&self.eal)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let app = Appliance {
            child,
            sock: self.sock,
            runtime: self.runtime,
        };
        let t = Instant::now();
        while UnixStream::connect(&app.sock).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "natrix did not open {}",
                app.sock.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        app
    }
}

impl Appliance {
    /// natrix on `config`, listening on `sock`, with the usual EAL arguments.
    pub fn start(config: &Path, sock: &Path) -> Appliance {
        Appliance::launch(config, sock).start()
    }

    /// An appliance to start after more settings.
    pub fn launch(config: &Path, sock: &Path) -> Launch {
        Launch {
            config: config.to_path_buf(),
            sock: sock.to_path_buf(),
            options: Vec::new(),
            eal: eal::null(),
            runtime: None,
        }
    }

    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(NATRIX)
            .args(args)
            .arg("--control")
            .arg(&self.sock)
            .output()
            .unwrap()
    }

    pub fn raw(&self, lines: &[&[u8]]) -> Vec<serde_json::Value> {
        let mut s = UnixStream::connect(&self.sock).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut rd = BufReader::new(s.try_clone().unwrap());
        let mut out = Vec::new();
        for l in lines {
            s.write_all(l).unwrap();
            s.write_all(b"\n").unwrap();
            let mut reply = String::new();
            rd.read_line(&mut reply).unwrap();
            out.push(serde_json::from_str(&reply).unwrap_or_else(|e| panic!("{e}: {reply:?}")));
        }
        out
    }

    pub fn stats(&self) -> serde_json::Value {
        let o = self.cli(&["stats", "--json"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    }

    pub fn stop(mut self) -> serde_json::Value {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let t = Instant::now();
        while self.child.try_wait().unwrap().is_none() {
            assert!(t.elapsed() < Duration::from_secs(20), "natrix did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut out = String::new();
        std::io::Read::read_to_string(self.child.stdout.as_mut().unwrap(), &mut out).unwrap();
        let line = out
            .lines()
            .rev()
            .find(|l| l.starts_with('{'))
            .expect("final JSON");
        serde_json::from_str(line).unwrap()
    }
}

impl Drop for Appliance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self.runtime {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
