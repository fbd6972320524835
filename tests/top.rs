//! `natrix top` in a real terminal: a detached tmux session of fixed size
//! runs it against `natrix run` on net_null, and the tests read the screen
//! with `tmux capture-pane`. tmux must be installed (scripts/test.sh installs
//! the Debian package `tmux`).
#![cfg(feature = "dpdk")]

use natrix::app::top::{render, View};
use natrix::control::protocol::{BackendStats, FrontendStats, StatsReport, WorkerStats};
use natrix::dataplane::snapshot::BackendStatus;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

mod support;

use support::appliance::{Appliance, NATRIX};
use support::fixtures::web_toml;

fn dir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/test-top")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A tmux server of its own (`tmux -L NAME`, no configuration file) holding
/// one detached session; the whole server is killed when dropped.
struct Tmux {
    server: String,
    session: String,
}

impl Tmux {
    /// Runs `command` (a shell command line) in a detached 160x50 session.
    fn start(command: &str) -> Tmux {
        static N: AtomicU32 = AtomicU32::new(0);
        let version = Command::new("tmux").arg("-V").output();
        assert!(
            version.as_ref().is_ok_and(|o| o.status.success()),
            "tmux is missing: these tests need it (the Debian package `tmux`; scripts/test.sh installs it): {version:?}"
        );
        let n = N.fetch_add(1, Ordering::Relaxed);
        let t = Tmux {
            server: format!("natrix-top-test-{}-{n}", std::process::id()),
            session: format!("top{n}"),
        };
        let o = t.tmux(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            &t.session,
            "-x",
            "160",
            "-y",
            "50",
            command,
            ";",
            "set-option",
            "-t",
            &t.session,
            "remain-on-exit",
            "off",
        ]);
        assert!(
            o.status.success(),
            "tmux new-session: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        t
    }

    fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.server])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn capture(&self) -> String {
        let o = self.tmux(&["capture-pane", "-p", "-t", &self.session]);
        assert!(
            o.status.success(),
            "tmux capture-pane: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Captures until the screen satisfies `ok`, for at most `wait`.
    fn wait_for(&self, wait: Duration, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let t = Instant::now();
        loop {
            let screen = self.capture();
            if ok(&screen) {
                return screen;
            }
            assert!(
                t.elapsed() < wait,
                "the screen did not show {what} within {wait:?}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn alive(&self) -> bool {
        self.tmux(&["has-session", "-t", &self.session])
            .status
            .success()
    }

    fn keys(&self, keys: &str) {
        let o = self.tmux(&["send-keys", "-t", &self.session, keys]);
        assert!(o.status.success(), "tmux send-keys {keys}");
    }

    /// Sends a key and waits (at most 3 s) for the session to end.
    fn quit_with(&self, key: &str) {
        self.keys(key);
        let t = Instant::now();
        while self.alive() {
            assert!(
                t.elapsed() < Duration::from_secs(3),
                "natrix top did not exit within 3 s of {key}:\n{}",
                self.capture()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

/// The shell command line that runs `natrix top` and records its exit status.
fn top_command(sock: &Path, status: &Path) -> String {
    format!(
        "'{NATRIX}' top --control '{}'; echo $? > '{}'",
        sock.display(),
        status.display()
    )
}

fn exit_status(path: &Path) -> String {
    let t = Instant::now();
    loop {
        if let Ok(s) = std::fs::read_to_string(path) {
            if s.ends_with('\n') {
                return s.trim().to_string();
            }
        }
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "no exit status in {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The rx rate of the header, in Mpps ("rx 3.069 Mpps").
fn header_rx_mpps(screen: &str) -> Option<f64> {
    let head = screen.lines().next()?;
    let rest = &head[head.find("rx ")? + 3..];
    rest.split_whitespace().next()?.parse().ok()
}

fn total_row(screen: &str) -> Option<String> {
    screen
        .lines()
        .find(|l| l.trim_start_matches('│').starts_with("total"))
        .map(str::to_string)
}

#[test]
fn top_shows_live_statistics_refreshes_and_quits_on_q() {
    let d = dir("live");
    let sock = d.join("natrix.sock");
    let status = d.join("status");
    let _app = Appliance::start(&web_toml(), &sock);
    let tmux = Tmux::start(&top_command(&sock, &status));
    std::thread::sleep(Duration::from_millis(2500));
    // Rates need two samples of natrix's counters: allow a little longer.
    let first = tmux.wait_for(Duration::from_secs(10), "a non-zero rx rate", |s| {
        header_rx_mpps(s).is_some_and(|r| r > 0.0)
    });
    let head = first.lines().next().unwrap();
    assert!(head.starts_with("natrix"), "header: {head:?}\n{first}");
    for want in [
        "up ",
        "1 worker",
        "Mpps",
        "drops",
        "new conns",
        "active",
        "table",
    ] {
        assert!(head.contains(want), "header lacks {want:?}: {head:?}");
    }
    // The worker row and the total.
    assert!(
        first.lines().any(|l| l.starts_with("│0 ")),
        "no worker row:\n{first}"
    );
    let total1 = total_row(&first).unwrap_or_else(|| panic!("no total row:\n{first}"));
    // The frontends and backends of examples/web.toml.
    for want in [
        "frontends (4)",
        "web ",
        "web-tls",
        "198.18.1.10:80 ",
        "198.18.1.10:443",
        "198.18.1.53:53",
        "admin-ssh",
        "balance",
        "nat ",
        "backends (9)",
        "198.19.1.11:8080",
        "198.19.1.12:8080",
        "198.19.1.13:8080",
        "198.19.2.11:8443",
        "198.19.3.12:53",
        "active",
    ] {
        assert!(first.contains(want), "the screen lacks {want:?}:\n{first}");
    }
    // net_null's frames are zeros: natrix drops them all, and says why.
    assert!(first.contains("drops since start"), "{first}");
    assert!(first.contains("unsupported-ethertype"), "{first}");

    // It refreshes: the counters move.
    std::thread::sleep(Duration::from_millis(1500));
    let second = tmux.capture();
    assert_ne!(first, second, "the screen did not change in 1.5 s");
    let total2 = total_row(&second).unwrap_or_else(|| panic!("no total row:\n{second}"));
    assert_ne!(total1, total2, "the counters did not move in 1.5 s");

    tmux.quit_with("q");
    assert_eq!(exit_status(&status), "0", "natrix top's exit status");
}

#[test]
fn top_without_natrix_shows_the_error_and_keeps_retrying() {
    let d = dir("unreachable");
    let sock = d.join("natrix.sock");
    let status = d.join("status");
    let tmux = Tmux::start(&top_command(&sock, &status));
    let screen = tmux.wait_for(Duration::from_secs(5), "the connection error", |s| {
        s.contains("cannot reach natrix") && s.contains("cannot connect")
    });
    assert!(screen.starts_with("natrix"), "{screen}");
    assert!(screen.contains("not connected"), "{screen}");
    assert!(screen.contains("retrying every 1 s"), "{screen}");
    assert!(screen.contains(&sock.display().to_string()), "{screen}");
    // It does not give up.
    std::thread::sleep(Duration::from_millis(2500));
    assert!(tmux.alive(), "natrix top exited without natrix");
    assert!(tmux.capture().contains("cannot reach natrix"));

    // Once natrix is there, top shows it (as after an appliance restart)...
    let app = Appliance::start(&web_toml(), &sock);
    let screen = tmux.wait_for(Duration::from_secs(5), "the statistics", |s| {
        s.contains("198.18.1.10:80 ") && s.contains("198.19.1.11:8080")
    });
    assert!(!screen.contains("not connected"), "{screen}");

    // ...and when natrix goes away again, says so over the last figures.
    drop(app);
    let screen = tmux.wait_for(Duration::from_secs(5), "the error again", |s| {
        s.contains("error: ") && s.contains("cannot connect")
    });
    assert!(screen.contains("198.19.1.11:8080"), "{screen}");
    assert!(tmux.alive());

    tmux.quit_with("Escape");
    assert_eq!(exit_status(&status), "0");
}

#[test]
fn top_quits_on_ctrl_c() {
    let d = dir("ctrl-c");
    let sock = d.join("natrix.sock");
    let status = d.join("status");
    let tmux = Tmux::start(&top_command(&sock, &status));
    tmux.wait_for(Duration::from_secs(5), "the view", |s| {
        s.contains("cannot reach natrix")
    });
    tmux.quit_with("C-c");
    assert_eq!(exit_status(&status), "0");
}

#[test]
fn top_refuses_to_run_without_a_terminal() {
    let d = dir("no-tty");
    let o = Command::new(NATRIX)
        .args(["top", "--control"])
        .arg(d.join("natrix.sock"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("needs a terminal"), "{err}");
    assert!(
        o.stdout.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&o.stdout)
    );

    let o = Command::new(NATRIX)
        .args(["top", "--interval", "0"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--interval"));
}

// The rendering alone, on ratatui's test backend.

fn report(workers: usize, backends: usize) -> StatsReport {
    let w = WorkerStats {
        rx: 123_456_789,
        tx: 120_000_000,
        dropped: 3_456_789,
        rx_pps: 2_500_000.0,
        tx_pps: 2_400_000.0,
        drop_pps: 100_000.0,
        active_connections: 4242,
        table_capacity: 1 << 20,
        occupancy: 4242.0 / (1 << 20) as f64,
        new_connections_per_sec: 1234.0,
    };
    StatsReport {
        version: 1,
        uptime_seconds: 93_784.0,
        workers: vec![w.clone(); workers],
        total: w,
        drops: [
            ("no-backend".to_string(), 5),
            ("unsupported-ethertype".to_string(), 900),
            ("ttl-exceeded".to_string(), 0),
            ("bad-checksum".to_string(), 70),
        ]
        .into_iter()
        .collect(),
        events: Default::default(),
        frontends: vec![FrontendStats {
            name: "web".into(),
            address: "198.18.1.10:80".into(),
            family: "ipv4".into(),
            protocol: "tcp".into(),
            kind: "balance".into(),
            connections: 77,
            new_connections_per_sec: 12.0,
            packets: 9999,
            pps: 1500.0,
        }],
        backends: (0..backends)
            .map(|i| BackendStats {
                pool: "web".into(),
                frontend: "web".into(),
                address: format!("198.19.1.{}:8080", 11 + i),
                family: "ipv4".into(),
                weight: 1,
                state: [
                    BackendStatus::Active,
                    BackendStatus::Draining,
                    BackendStatus::Removed,
                ][i % 3],
                healthy: [Some(true), Some(false), None][i % 3],
                connections: 10,
                packets: 100,
                pps: 10.0,
            })
            .collect(),
        neighbours: Vec::new(),
    }
}

fn draw(view: &View, w: u16, h: u16) -> String {
    let mut term =
        ratatui::Terminal::new(ratatui::backend::TestBackend::new(w, h)).expect("test terminal");
    term.draw(|f| render(f, view, Instant::now())).unwrap();
    let buf = term.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..h {
        for x in 0..w {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

#[test]
fn rendering_fits_small_and_large_terminals() {
    let mut view = View::new(Path::new("/run/natrix/natrix.sock"), Duration::from_secs(1));
    view.update(Ok(report(2, 6)), Instant::now());
    let big = draw(&view, 160, 50);
    for want in [
        "natrix",
        "up 1d 02:03:04",
        "2 workers",
        "rx 2.500 Mpps",
        "tx 2.400 Mpps",
        "drops 100.0k/s",
        "new conns 1.2k/s",
        "active 4242",
        "198.18.1.10:80",
        "198.19.1.16:8080",
        "draining",
        "unhealthy",
        "removed",
        "received",
    ] {
        assert!(big.contains(want), "lacks {want:?}:\n{big}");
    }
    // Drops: the non-zero ones, the largest first.
    let pos = |s: &str| big.find(s).unwrap_or_else(|| panic!("lacks {s}:\n{big}"));
    assert!(pos("unsupported-ethertype") < pos("bad-checksum"));
    assert!(pos("bad-checksum") < pos("no-backend"));
    assert!(!big.contains("ttl-exceeded"), "{big}");

    // Narrow and short terminals: no panic, the header wraps, addresses stay whole.
    let small = draw(&view, 80, 24);
    assert!(small.starts_with("natrix"), "{small}");
    assert!(small.contains("198.18.1.10:80"), "{small}");
    for (w, h) in [(20, 5), (1, 1), (0, 0), (300, 3)] {
        let _ = draw(&view, w, h);
    }

    // An error after statistics: the error over the last figures.
    view.update(Err("natrix went away".into()), Instant::now());
    let s = draw(&view, 160, 50);
    assert!(s.contains("error: natrix went away"), "{s}");
    assert!(s.contains("198.18.1.10:80"), "{s}");

    // An error before any: said in the body.
    let mut view = View::new(Path::new("/nowhere.sock"), Duration::from_secs(2));
    view.update(Err("/nowhere.sock: cannot connect".into()), Instant::now());
    let s = draw(&view, 80, 24);
    assert!(s.contains("cannot reach natrix"), "{s}");
    assert!(s.contains("/nowhere.sock: cannot connect"), "{s}");
    assert!(s.contains("retrying every 2 s"), "{s}");
}

#[test]
fn quit_keys() {
    use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
    use natrix::app::top::quits;
    let key = |c, m| KeyEvent::new(c, m);
    assert!(quits(&key(KeyCode::Char('q'), KeyModifiers::NONE)));
    assert!(quits(&key(KeyCode::Esc, KeyModifiers::NONE)));
    assert!(quits(&key(KeyCode::Char('c'), KeyModifiers::CONTROL)));
    assert!(!quits(&key(KeyCode::Char('c'), KeyModifiers::NONE)));
    assert!(!quits(&key(KeyCode::Char('x'), KeyModifiers::NONE)));
    let mut release = key(KeyCode::Char('q'), KeyModifiers::NONE);
    release.kind = KeyEventKind::Release;
    assert!(!quits(&release));
}

/// SIGTERM (and SIGHUP, as when an ssh session closes) ends top the normal
/// way: the shell that ran it gets its terminal back in cooked mode, off the
/// alternate screen, and top's exit status is 0.
#[test]
fn top_restores_the_terminal_on_sigterm() {
    for sig in ["TERM", "HUP"] {
        let d = dir(&format!("sig{sig}"));
        let sock = d.join("natrix.sock");
        let status = d.join("status");
        let stty = d.join("stty");
        let command = format!(
            "{}; stty -a > '{}'",
            top_command(&sock, &status),
            stty.display()
        );
        let tmux = Tmux::start(&command);
        tmux.wait_for(Duration::from_secs(5), "the view", |s| {
            s.contains("cannot reach natrix")
        });
        let pattern = format!("top --control {}", sock.display());
        let o = Command::new("pkill")
            .args([&format!("-{sig}"), "-f", &pattern])
            .output()
            .unwrap();
        assert!(o.status.success(), "pkill -{sig} found no natrix top");
        assert_eq!(exit_status(&status), "0", "natrix top's status on SIG{sig}");
        let t = Instant::now();
        let modes = loop {
            match std::fs::read_to_string(&stty) {
                Ok(s) if s.contains("icanon") => break s,
                _ => {}
            }
            assert!(
                t.elapsed() < Duration::from_secs(3),
                "no stty report after SIG{sig}"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let words: Vec<&str> = modes.split_whitespace().collect();
        for mode in ["icanon", "echo", "isig"] {
            assert!(
                words.contains(&mode),
                "the terminal is left with -{mode} after SIG{sig}:\n{modes}"
            );
        }
    }
}
